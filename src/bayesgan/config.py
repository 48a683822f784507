"""Config schemas (OmegaConf structured configs) and one-line errors for bad configs.

The schemas type-check the composed config before anything is built: a wrong type or an unknown key fails
at composition; values are then checked by the objects themselves (samplers, data modules, models).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.errors import InstantiationException
from omegaconf import MISSING, OmegaConf


class ZPrior(Enum):
    uniform = "uniform"
    normal = "normal"


@dataclass
class PosteriorSchema:
    """The posterior representation of the Bayesian samplers: sample counts and the bank (burn-in, thinning,
    size). The ML-GAN baseline ignores it (one network each, no bank)."""

    J_g: int = 4
    J_d: int = 1
    M: int = 2
    burn_in: int = 500
    thin: int = 100
    bank_size: int = 10


@dataclass
class SamplerSchema:
    _target_: str = "bayesgan.module.PosteriorSpec"
    name: str = MISSING
    J_g: int = 1
    J_d: int = 1
    M: int = 1
    gen_observed: int | None = None
    burn_in: int = 0
    thin: int = 100
    bank_size: int = 0
    optimizer: Any = MISSING


@dataclass
class TrainSchema:
    experiment_name: str = "default"
    seed: int = 0
    iterations: int = 1000
    z_prior: ZPrior = ZPrior.uniform
    checkpoint_every: int = 500
    checkpoint_keep: int = 3
    divergence_loss: float | None = 1000.0
    ckpt_path: str | None = None
    dataset: Any = MISSING
    model: Any = MISSING
    posterior: PosteriorSchema = field(default_factory=PosteriorSchema)
    sampler: SamplerSchema = field(default_factory=SamplerSchema)
    trainer: Any = MISSING
    logger: Any = None
    callbacks: Any = field(default_factory=dict)


class ConfigError(ValueError):
    """A bad configuration value, reported as one line before training starts."""


def register() -> None:
    """Register the schemas and the ``optimizer_steps`` resolver (Lightning counts 2 steps per iteration)."""
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainSchema)
    store.store(group="sampler", name="base_sampler", node=SamplerSchema)
    if not OmegaConf.has_resolver("optimizer_steps"):
        OmegaConf.register_new_resolver("optimizer_steps", lambda iterations: 2 * int(iterations))


def check_values(cfg: Any) -> None:
    """Checks of top-level values that no constructed object owns."""
    for key in ("iterations", "checkpoint_every"):
        if cfg[key] < 1:
            raise ConfigError(f"{key} must be >= 1, got {cfg[key]}")
    if cfg.checkpoint_keep < -1:
        raise ConfigError(f"checkpoint_keep must be >= 0, or -1 to keep all, got {cfg.checkpoint_keep}")
    if cfg.divergence_loss is not None and not cfg.divergence_loss > 0:  # NaN fails too
        raise ConfigError(f"divergence_loss must be > 0, or null for no limit, got {cfg.divergence_loss}")


def describe(error: BaseException) -> str:
    """One line for a config error: the config key (when Hydra knows it) and the root cause."""
    key = None
    while isinstance(error, InstantiationException) or (
        error.__cause__ is not None and not isinstance(error, ConfigError | ValueError)
    ):
        text = str(error)
        if "full_key:" in text:
            key = text.rsplit("full_key:", 1)[1].strip().splitlines()[0]
        if error.__cause__ is None:
            break
        error = error.__cause__
    message = " ".join(str(error).split())
    if isinstance(error, InstantiationException):
        message = message.split(" full_key:")[0]
    return f"{key}: {message}" if key else message
