"""Config schemas (OmegaConf structured configs) and one-line errors for bad configs.

The schemas type-check the composed config before anything is built: a wrong type or an unknown key fails
at composition; values are then checked by the objects themselves (samplers, data modules, models).
"""

from __future__ import annotations

import warnings
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
    """The posterior: sample counts, the likelihood terms' observation counts (null = N, N and N_s; see
    docs/posterior.md) and the bank (burn-in, thinning, size). The ML-GAN baseline keeps one network each
    and no bank, but maximises the same likelihood (the same observation counts)."""

    J_g: int = 4
    J_d: int = 1
    M: int = 2
    fake_observations: int | None = None
    generator_observations: int | None = None
    labelled_observations: int | None = None
    burn_in: int = 500
    thin: int = 100
    bank_size: int = 10


@dataclass
class SamplerSchema:
    _target_: str = "bayesgan.posterior.PosteriorSpec"
    name: str = MISSING
    J_g: int = 1
    J_d: int = 1
    M: int = 1
    fake_observations: int | None = None
    generator_observations: int | None = None
    labelled_observations: int | None = None
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
    """Register the schemas and the resolvers: ``optimizer_steps`` (Lightning counts 2 steps per iteration)
    and ``semi_supervised_only`` (a value in semi-supervised runs, null otherwise)."""
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainSchema)
    store.store(group="sampler", name="base_sampler", node=SamplerSchema)
    if not OmegaConf.has_resolver("optimizer_steps"):
        OmegaConf.register_new_resolver("optimizer_steps", lambda iterations: 2 * int(iterations))
    if not OmegaConf.has_resolver("semi_supervised_only"):
        OmegaConf.register_new_resolver("semi_supervised_only", _semi_only)


def _semi_only(n_labels: int | None, value: Any) -> Any:
    return None if n_labels is None else value


def check_values(cfg: Any) -> None:
    """Checks of top-level values that no constructed object owns; warns when burn-in has no effect."""
    for key in ("iterations", "checkpoint_every"):
        if cfg[key] < 1:
            raise ConfigError(f"{key} must be >= 1, got {cfg[key]}")
    message = bank_warning(cfg.iterations, cfg.sampler.burn_in, cfg.sampler.thin, cfg.sampler.bank_size)
    if message:
        warnings.warn(message, UserWarning, stacklevel=2)


def bank_warning(iterations: int, burn_in: int, thin: int, bank_size: int) -> str | None:
    """The warning for a bank that keeps only the newest ``bank_size`` of the (iterations − burn_in)/thin
    snapshots it takes, so the burn-in discards nothing the bank would have kept; None when it is fine."""
    taken = max(0, (iterations - burn_in) // thin) if thin >= 1 else 0
    if bank_size < 1 or taken <= bank_size:
        return None
    first_kept = burn_in + (taken - bank_size + 1) * thin
    return (
        f"posterior.bank_size={bank_size} keeps only the last {bank_size} of the {taken} snapshots taken "
        f"after posterior.burn_in={burn_in} every posterior.thin={thin} over iterations={iterations}, i.e. "
        f"those from iteration {first_kept} on, so posterior.burn_in has no effect; raise posterior.burn_in, "
        "posterior.thin or posterior.bank_size"
    )


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
