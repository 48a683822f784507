"""The refusals ``bayesgan-train`` makes before training: one line naming the keys to change, then stop.

They run once, in the launching process, before a trainer prints its banner or starts processes, so a
setting that would fail inside every rank (or be silently ignored) is refused up front: the config's values
and the launch (:func:`check_config`), the data (:func:`prepare_data`), the objective, sampler and
optimizer settings against the chosen method (:func:`check_objective`, :func:`check_sampler`,
:func:`check_optimizers`). ``train.py`` passes in what only Hydra's runtime knows (the multirun launcher,
the overrides typed on the command line).
"""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig
from pytorch_lightning import LightningDataModule, LightningModule
from pytorch_lightning.accelerators import CPUAccelerator, CUDAAccelerator

from bayesgan import config, protocol
from bayesgan.config import ConfigError
from bayesgan.data.files import DatasetError
from bayesgan.objectives import NonSaturating


def check_config(cfg: DictConfig, multirun_launcher: str | None) -> int | None:
    """The config's values, the launch and the logger; returns the number of training processes (see
    :func:`check_devices`). ``multirun_launcher``: the launcher's ``_target_`` in a multirun, else None."""
    config.check_values(cfg)
    check_launch(cfg.trainer, multirun_launcher)
    processes = check_devices(cfg.trainer)
    check_wandb_login(cfg.get("logger"))
    if cfg.trainer.get("sync_batchnorm"):
        raise ConfigError(
            "trainer.sync_batchnorm=true is not supported: each posterior copy's batch norm normalises with "
            "its own rank's batch (Lightning's SyncBatchNorm cannot reach the vectorized per-copy layers)"
        )
    return processes


def check_launch(trainer: Any, multirun_launcher: str | None) -> None:
    """Refuse a DDP strategy that re-launches the script inside a local multirun: Lightning's subprocess
    launcher re-executes sys.argv, which re-launches the whole sweep from every rank (Lightning#11300)."""
    strategy = str(trainer.get("strategy", ""))
    relaunches = strategy.startswith("ddp") and "spawn" not in strategy and "fork" not in strategy
    if relaunches and multirun_launcher is not None and "submitit" not in multirun_launcher:
        raise ConfigError(
            f"trainer.strategy={strategy} re-launches the script and breaks a local multirun: "
            "use trainer=ddp_spawn, or hydra/launcher=slurm"
        )


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
    name = _method_name(method)
    raise ConfigError(
        f"sampler={typed[-1]} does not apply to {name}: it trains one point estimate with its own Adam "
        f"(method.lr, method.betas) and samples no posterior; leave sampler out or use sampler={accepted[0]}"
    )


def _method_name(method: Any) -> str:
    """The class a (partial of a) method config builds, by name, for messages."""
    return getattr(getattr(method, "func", method), "__name__", "this method")


def check_schedule(method: Any, cfg: DictConfig) -> None:
    """Refuse a step schedule (``schedule=...``) for a method that trains without the sampler group."""
    if cfg.sampler.get("step_schedule") is None or protocol.accepted_samplers(method) is None:
        return
    name = _method_name(method)
    raise ConfigError(
        f"schedule: {name} trains one point estimate with its own Adam (method.lr, method.betas), not with "
        "a sampler, so sampler.step_schedule would be ignored; drop the schedule override"
    )


def prepare_data(datamodule: LightningDataModule, processes: int | None) -> LightningDataModule:
    """``datamodule`` prepared and set up for fit, here, once (not in every spawned rank); a bad value is
    refused naming its ``dataset.`` key, as is a split that does not divide over the ``processes``."""
    try:
        datamodule.prepare_data()
        datamodule.setup("fit")
    except DatasetError:
        raise  # names its file already
    except ValueError as error:
        raise ConfigError(config.qualify("dataset", str(error))) from None
    if processes is not None:
        try:
            datamodule.per_rank_sizes(processes)
        except ValueError as error:
            message = config.qualify("dataset", str(error))
            raise ConfigError(f"{message}; processes = trainer.devices x trainer.num_nodes") from None
    return datamodule


def check_objective(cfg: DictConfig) -> None:
    """Refuse an objective the method would ignore: a method takes the objective through its own config
    (``objective: ${objective}``); one without that key would silently train another objective."""
    if cfg.get("objective") is None or "objective" in cfg.method:
        return
    if instantiate(cfg.objective) != NonSaturating():  # the default, which every method implements
        target = cfg.method.get("_target_", "?")
        raise ConfigError(
            f"objective: method {target} has no GAN objective to set (its config has no `objective` key); "
            "drop the objective override"
        )


def check_optimizers(module: LightningModule) -> None:
    """The sampler's hyperparameters, checked by building the optimizers now, not after the trainer starts."""
    try:
        module.configure_optimizers()
    except ValueError as error:
        raise ConfigError(config.qualify("sampler.optimizer", str(error))) from None
