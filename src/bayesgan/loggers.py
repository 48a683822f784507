"""The W&B logger as this project uses it: quiet, no console capture, summary metrics declared up front."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pytorch_lightning import Trainer
from pytorch_lightning.loggers import WandbLogger as _LightningWandbLogger
from pytorch_lightning.loggers.logger import rank_zero_experiment

# What a run's summary keeps of each metric: "max,last" = the best value (for a metric to maximise) and the
# final one; W&B's runs table and parallel-coordinates view then compare runs without manual setup.
_SUMMARY = {"max": "max,last", "min": "min,last", "last": "last"}


class WandbLogger(_LightningWandbLogger):
    """Lightning's ``WandbLogger`` with ``summary_metrics`` ({name: "max" | "min" | "last"}) declared through
    ``define_metric`` when the run starts, and without the ``anonymous`` key Lightning always passes (W&B
    >= 0.2x warns on every run that the setting has no effect). Everything else is Lightning's, including
    ``log_model`` (checkpoints as W&B artifacts)."""

    def __init__(self, *args: Any, summary_metrics: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
        self.summary_metrics = dict(summary_metrics or {})
        for name, direction in self.summary_metrics.items():
            if direction not in _SUMMARY:
                raise ValueError(
                    f"logger.summary_metrics.{name}: expected one of {sorted(_SUMMARY)}, got {direction!r}"
                )

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        new = self._experiment is None
        run = _LightningWandbLogger.experiment.fget(self)  # type: ignore[attr-defined]
        if new and getattr(run, "define_metric", None) is not None:
            for name, direction in self.summary_metrics.items():
                run.define_metric(name, summary=_SUMMARY[direction])
        return run


def start_loggers(trainer: Trainer, cfg: DictConfig) -> None:
    """Start every logger's experiment with the resolved config (wandb.init: a W&B that cannot start fails
    here, before training)."""
    # The first call starts each logger's experiment (wandb.init): a W&B that cannot start is refused here.
    for logger in trainer.loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))


def logger_errors() -> tuple[type[BaseException], ...]:
    wandb = sys.modules.get("wandb")
    return (wandb.errors.Error,) if wandb is not None else ()


def finish_wandb_run() -> None:
    """Finish the W&B run of this process, if any."""
    # WandbLogger reuses an existing wandb.run and never finishes it, so without this every job of a
    # multirun would log into the first job's run.
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()
