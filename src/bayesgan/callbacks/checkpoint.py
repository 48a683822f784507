"""Nothing lost, nothing half-saved: Ctrl-C stops at an iteration boundary, and each checkpoint carries what
``bayesgan-train ckpt_path=...`` needs to continue the same run."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.strategies.launchers import _MultiProcessingLauncher
from pytorch_lightning.utilities import rank_zero_info


class SaveOnInterrupt(pl.Callback):
    """Ctrl-C (SIGINT) finishes the current iteration, writes ``<dirpath>/interrupted.ckpt`` and stops.

    The checkpoint is therefore always a whole-iteration state, and resuming from it equals the
    uninterrupted run bit for bit (on the CPU). A second Ctrl-C aborts at once (the last periodic checkpoint
    remains). Under DDP every rank gets the signal; the ranks agree (one all-reduce per
    iteration) to stop at the same iteration. Any other exception that ends fit after an iteration completed
    also writes ``interrupted.ckpt``; one raised mid-iteration does not (that state would be half updated).
    """

    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)
        self.interrupted_at: int | None = None
        self.path: Path | None = None
        self._requested = False
        self._previous: Any = None
        self._start_iteration: int | None = None

    # -- the signal --------------------------------------------------------------------------------------
    def request_stop(self, signum: int = signal.SIGINT, frame: FrameType | None = None) -> None:
        if self._requested:  # the second Ctrl-C: the user wants out now
            self._restore_handler()
            raise KeyboardInterrupt
        self._requested = True
        rank_zero_info("\nInterrupt: stopping after this iteration and saving (Ctrl-C again to abort).")

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._requested, self.interrupted_at, self.path = False, None, None
        if stage == "fit" and threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self.request_stop)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._restore_handler()
        if self._requested and self.interrupted_at is None:
            rank_zero_info("Interrupt came after the last iteration: the run finished and nothing was lost.")

    def _restore_handler(self) -> None:
        if self._previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    # -- the iteration boundary --------------------------------------------------------------------------
    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        self._start_iteration = int(getattr(pl_module, "iteration", 0))

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        requested = self._requested
        if trainer.world_size > 1:  # a collective on every rank, every iteration: all stop together
            requested = trainer.strategy.reduce_boolean_decision(requested, all=False)
        if requested and self.interrupted_at is None:
            self.interrupted_at = int(pl_module.iteration)
            self._save(trainer, pl_module, "Interrupted")
            trainer.should_stop = True

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        iteration = int(getattr(pl_module, "iteration", 0))
        if iteration == 0 or self.interrupted_at is not None:
            return  # nothing trained yet, or already saved
        name = type(exception).__name__
        if self._start_iteration is None:
            return  # training never started here (e.g. restoring a checkpoint failed): nothing new to save
        if iteration == self._start_iteration:
            rank_zero_info(f"{name} in the middle of iteration {iteration + 1}: no interrupted.ckpt written")
            return
        # Only rank 0 writes; under DDP the other ranks may already be gone, so no collective here.
        if trainer.is_global_zero:
            try:
                self._save(trainer, pl_module, name, collective=False)
            except OSError as error:  # e.g. the disk is full: report it, but never mask the first error
                rank_zero_info(f"could not write {self.dirpath / 'interrupted.ckpt'}: {error}")

    def _save(self, trainer: pl.Trainer, pl_module: pl.LightningModule, why: str, collective: bool = True):
        path = self.dirpath / "interrupted.ckpt"
        if collective:
            trainer.save_checkpoint(path)  # rank 0 writes, every rank waits
        else:
            trainer.strategy.checkpoint_io.save_checkpoint(
                trainer._checkpoint_connector.dump_checkpoint(), path
            )
        self.path = path if path.exists() else None
        rank_zero_info(f"{why} at iteration {pl_module.iteration}: saved {path}")


class RunRecord(pl.Callback):
    """Always installed by ``bayesgan-train``: the run's resolved config, its command-line overrides, its
    directory, its W&B run id and its resume history go into every checkpoint (plain data, so
    ``weights_only`` loads it), and at the end of fit ``finish(trainer, module)`` runs in the training
    process itself (a spawned DDP rank 0 included), where the final state and the callbacks' metrics are."""

    def __init__(
        self,
        config: dict[str, Any],
        overrides: list[str],
        run_dir: str | Path,
        history: list[dict[str, Any]] | None = None,
        finish: Callable[[pl.Trainer, pl.LightningModule], None] | None = None,
    ) -> None:
        self.info = {
            "config": config,
            "overrides": list(overrides),
            "run_dir": str(run_dir),
            "history": list(history or []),
        }
        self.finish = finish
        self.started = False  # set once fit is past restoring a checkpoint

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.started = True

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint["run"] = self.info | {"wandb_id": wandb_id(trainer)}

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.finish is not None:
            self.finish(trainer, pl_module)


def wandb_id(trainer: pl.Trainer) -> str | None:
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            return str(logger.version) if logger.version is not None else None
    return None


@contextlib.contextmanager
def parent_ignores_sigint(trainer: pl.Trainer) -> Iterator[None]:
    """Around ``trainer.fit``: under ``ddp_spawn`` the waiting parent ignores SIGINT (the ranks stop at an
    iteration boundary themselves)."""
    # Under ddp_spawn the ranks stop themselves at an iteration boundary on Ctrl-C; the waiting parent must
    # not turn the signal into a KeyboardInterrupt, on which Lightning kills them mid-iteration.
    if not isinstance(trainer.strategy.launcher, _MultiProcessingLauncher):
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
