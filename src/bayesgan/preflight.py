"""Checks of the composed config that need the runtime (devices, W&B credentials).

They run once, in the launching process, before a trainer prints its banner or starts processes, so a
setting that would fail inside every rank is refused with one line naming the keys to change.
"""

from __future__ import annotations

from typing import Any

from pytorch_lightning.accelerators import CPUAccelerator, CUDAAccelerator

from bayesgan import protocol
from bayesgan.config import ConfigError


def check_devices(trainer: Any) -> int | None:
    """The number of training processes, checked in the launching process before any is started: more
    than one needs a DDP strategy that tolerates the GAN's alternating updates. None if Lightning must
    decide (an accelerator or device list this check does not parse)."""
    processes = world_size(trainer)
    strategy = trainer.get("strategy") or "auto"
    multi = processes is not None and processes > 1
    if multi and isinstance(strategy, str) and "find_unused_parameters_true" not in strategy:
        raise ConfigError(
            f"trainer.devices={trainer.get('devices')} starts {processes} processes, but "
            f"trainer.strategy={strategy} cannot train this GAN (it alternates D and G updates): use "
            "trainer=ddp_spawn (CPU or GPU) or trainer=ddp (GPU)"
        )
    return processes


def check_wandb_login(logger: Any) -> None:
    """Online W&B without credentials fails only once the run starts, after the trainer's banner: ask W&B
    now whether it has a key (WANDB_API_KEY, ~/.netrc; no network, no prompt). The helper is private to
    wandb, so if it is missing or changes this check steps aside and the run start reports the problem."""
    logger = logger or {}
    if not str(logger.get("_target_", "")).endswith("WandbLogger") or logger.get("mode") != "online":
        return
    try:
        from wandb.sdk.wandb_login import _login

        logged_in, _ = _login(prompt=False, verify=False, _silent=True)
    except Exception:
        return
    if not logged_in:
        raise ConfigError(
            "logger.mode=online: W&B is not logged in (no API key in WANDB_API_KEY or ~/.netrc); run "
            "`wandb login` or set WANDB_API_KEY, or keep the default logger.mode=offline"
        )


def world_size(trainer: Any) -> int | None:
    """Processes Lightning will start for the trainer config (devices x num_nodes), as Lightning parses
    ``devices``; None for an accelerator this does not know (Lightning decides)."""
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator == "auto":
        accelerator = "gpu" if CUDAAccelerator.is_available() else "cpu"
    kind = {"cpu": CPUAccelerator, "gpu": CUDAAccelerator, "cuda": CUDAAccelerator}.get(accelerator)
    devices = trainer.get("devices", "auto")
    if kind is None:
        return None
    try:
        count = (
            kind.auto_device_count()
            if devices == "auto"
            else len(kind.get_parallel_devices(kind.parse_devices(devices)))
        )
    except Exception as error:  # Lightning's parsers raise MisconfigurationException
        if kind is CUDAAccelerator and not CUDAAccelerator.is_available():
            return None  # no GPU here: Lightning says so itself when the trainer is built
        raise ConfigError(f"trainer.devices={devices!r}: {' '.join(str(error).split())}") from None
    return count * int(trainer.get("num_nodes", 1))


def check_sampler(method: Any, overrides: list[str]) -> None:
    """Refuse a ``sampler=...`` typed on the command line (``overrides``) that ``method`` would ignore (see
    ``protocol.accepted_samplers``); a sampler chosen by a preset or the default is simply unused."""
    accepted = protocol.accepted_samplers(method)
    typed = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == "sampler"]
    if accepted is None or not typed or typed[-1] in accepted:
        return
    name = getattr(getattr(method, "func", method), "__name__", "this method")
    raise ConfigError(
        f"sampler={typed[-1]} does not apply to {name}: it trains one point estimate with its own Adam "
        f"(method.lr, method.betas) and samples no posterior; leave sampler out or use sampler={accepted[0]}"
    )
