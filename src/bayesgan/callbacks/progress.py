"""A progress bar that counts Bayesian GAN iterations, not epochs of the data stream."""

from __future__ import annotations

import os
import sys
from typing import Any

from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.callbacks.progress.tqdm_progress import Tqdm


class IterationProgressBar(TQDMProgressBar):
    """One bar for the whole fit: ``total = iterations``, it/s, ETA and the current losses.

    Lightning's own bar restarts every epoch of the (endless) data stream, counts optimizer steps (two per
    iteration, so it ends at 50 %) and shows the logger's ``v_num``. This one reads the module's
    ``iteration`` counter, starts where a resumed run left off and shows only what the module puts on the
    progress bar (``loss/d``, ``loss/g``).

    ``iterations`` is the run's length; ``None`` derives it from ``trainer.max_steps`` (two optimizer
    steps, D and G, per iteration, as ``bayesgan-train`` sets it).
    """

    BAR_FORMAT = (
        "{desc} {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
    )

    def __init__(
        self, iterations: int | None = None, refresh_rate: int = 1, mininterval: float = 0.5
    ) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self.iterations = iterations
        # tqdm redraws at most every `mininterval` seconds, which also bounds what a log file captures.
        self.mininterval = mininterval

    def total_iterations(self, trainer: Trainer) -> int | None:
        if self.iterations is not None:
            return int(self.iterations)
        return trainer.max_steps // 2 if trainer.max_steps and trainer.max_steps > 0 else None

    def init_train_tqdm(self, total: int | None = None, initial: int = 0) -> Tqdm:
        return Tqdm(
            total=total,
            initial=initial,  # a resumed run: rate and ETA count this session's iterations only
            desc="Training",
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            **_sizeless_terminal_fallback(),
            file=sys.stdout,
            smoothing=0.1,  # it/s and ETA follow the recent speed (evaluation pauses do not stick)
            mininterval=self.mininterval,
            unit="it",
            bar_format=self.BAR_FORMAT,
        )

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        start = int(getattr(pl_module, "iteration", 0))
        self.train_progress_bar = self.init_train_tqdm(self.total_iterations(trainer), start)

    def on_train_epoch_start(self, trainer: Trainer, *_: Any) -> None:
        pass  # an epoch of the data stream means nothing here: the bar spans the whole fit

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        pass

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        bar = self.train_progress_bar
        if bar.disable:
            return
        n = int(getattr(pl_module, "iteration", bar.n + 1))
        if n % self.refresh_rate == 0 or n == bar.total:
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
            bar.update(n - bar.n)  # update() honours mininterval; a direct refresh() would not

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        bar = self.train_progress_bar
        if not bar.disable:
            bar.n = int(getattr(pl_module, "iteration", bar.n))
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
        bar.close()  # draws the final state (e.g. 100 %) whatever mininterval says

    def get_metrics(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)  # the logger's version id says nothing about training
        return metrics


def _sizeless_terminal_fallback() -> dict[str, Any]:
    """tqdm's size options. A terminal that reports 0 x 0 (a pty without a size: ``script``, some containers)
    makes tqdm draw nothing at all (every bar is "below" row 0), so it gets a fixed 100 x 24; everywhere
    else the bar follows the terminal's width."""
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # not a terminal (a file, a pipe, pytest's capture)
        return {"dynamic_ncols": True}
    if size.columns > 0 and size.lines > 0:
        return {"dynamic_ncols": True}
    return {"ncols": size.columns or 100, "nrows": size.lines or 24}
