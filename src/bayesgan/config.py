"""Config schemas (OmegaConf structured configs) and one-line errors for bad configs.

The schemas type-check the composed config before anything is built: a wrong type or an unknown key fails
at composition; values are then checked by the objects themselves (samplers, data modules, models).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.errors import InstantiationException
from omegaconf import MISSING, OmegaConf

from bayesgan.bank import PRECISIONS, STORAGES


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
    bank_precision: str = "float32"
    bank_storage: str = "memory"


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
    bank_precision: str = "float32"
    bank_storage: str = "memory"
    optimizer: Any = MISSING
    step_schedule: Any = None  # conf/schedule (package sampler.step_schedule); None: a constant step


@dataclass
class TrainSchema:
    experiment_name: str = "default"
    seed: int = 0
    iterations: int = 1000
    z_prior: ZPrior = ZPrior.uniform
    checkpoint_every: int = 500
    checkpoint_keep: int = 3
    divergence_loss: float | None = 1000.0
    cpu_memory_cache: bool = True
    ckpt_path: str | None = None
    method: Any = MISSING  # conf/method: which LightningModule trains (bayesgan.protocol)
    dataset: Any = MISSING
    model: Any = MISSING
    posterior: PosteriorSchema = field(default_factory=PosteriorSchema)
    sampler: SamplerSchema = field(default_factory=SamplerSchema)
    objective: Any = None  # conf/objective: the GAN objective (bayesgan.objectives)
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
    # SamplerSchema types cfg.sampler through TrainSchema; it is not stored in the sampler group, where it
    # would be listed (and selectable) as a sampler.
    if not OmegaConf.has_resolver("optimizer_steps"):
        OmegaConf.register_new_resolver("optimizer_steps", lambda iterations: 2 * int(iterations))
    if not OmegaConf.has_resolver("semi_supervised_only"):
        OmegaConf.register_new_resolver("semi_supervised_only", _semi_only)


def _semi_only(n_labels: int | None, value: Any) -> Any:
    return None if n_labels is None else value


SEED_MAX = 2**32 - 1  # numpy's and Lightning's seeding accept [0, 2**32 - 1]

# Lower bounds of the posterior section's counts, checked under the keys the user types: the objects that
# receive them (PosteriorSpec, PosteriorBank) name their own parameters instead.
_OBSERVATIONS = ("fake_observations", "generator_observations", "labelled_observations")  # null = default
POSTERIOR_MINIMUM = {"J_g": 1, "J_d": 1, "M": 1, "burn_in": 0, "thin": 1, "bank_size": 0}
POSTERIOR_MINIMUM |= dict.fromkeys(_OBSERVATIONS, 1)
_HINTS = {"bank_size": " (0 disables the bank)"} | dict.fromkeys(_OBSERVATIONS, " or null")


def check_values(cfg: Any) -> None:
    """Checks of values no constructed object sees under the key the user typed (top level, posterior);
    warns when burn-in has no effect."""
    for key in ("iterations", "checkpoint_every"):
        if cfg[key] < 1:
            raise ConfigError(f"{key} must be >= 1, got {cfg[key]}")
    if not 0 <= cfg.seed <= SEED_MAX:
        raise ConfigError(f"seed must be in [0, {SEED_MAX}] (0 to 2**32 - 1), got {cfg.seed}")
    posterior = cfg.get("posterior") or {}
    for key, minimum in POSTERIOR_MINIMUM.items():
        value = posterior.get(key)
        if value is not None and value < minimum:
            raise ConfigError(f"posterior.{key} must be >= {minimum}{_HINTS.get(key, '')}, got {value}")
    precision = posterior.get("bank_precision")
    if precision is not None and precision not in PRECISIONS:
        raise ConfigError(
            f"posterior.bank_precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
        )
    storage = posterior.get("bank_storage")
    if storage is not None and storage not in STORAGES:
        raise ConfigError(f"posterior.bank_storage must be one of {', '.join(STORAGES)}, got {storage!r}")
    if cfg.checkpoint_keep < -1:
        raise ConfigError(f"checkpoint_keep must be >= 0, or -1 to keep all, got {cfg.checkpoint_keep}")
    if cfg.divergence_loss is not None and not cfg.divergence_loss > 0:  # NaN fails too
        raise ConfigError(f"divergence_loss must be > 0, or null for no limit, got {cfg.divergence_loss}")
    message = bank_warning(cfg.iterations, cfg.sampler.burn_in, cfg.sampler.thin, cfg.sampler.bank_size)
    if message:
        warnings.warn(message, UserWarning, stacklevel=2)


def qualify(prefix: str, message: str) -> str:
    """``message`` from an object built from config node ``prefix``, in the user's key names: a message that
    starts with a parameter name ("batch_size must be ...") gets the full key ("dataset.batch_size must be
    ..."); any other gets ``prefix: `` in front."""
    if re.match(rf"({re.escape(prefix)}[.:]|[A-Za-z_]\w*\.[\w.]+(=\S+)? must\b)", message):
        return message  # already a full key, e.g. "posterior.J_g must be ..." from an object given it
    if re.match(r"[A-Za-z_]\w*(=\S+)? (must|is|has|should|exceeds|needs|requires)\b", message):
        return f"{prefix}.{message}"
    return f"{prefix}: {message}"


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
    return qualify(key, message) if key else message
