"""Nothing lost on interruption: a checkpoint when training stops on an exception or Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.utilities import rank_zero_info


class SaveOnInterrupt(pl.Callback):
    """Writes ``<dirpath>/interrupted.ckpt`` (resume with ``ckpt_path=...``) if fit ends in an exception."""

    def __init__(self, dirpath: str | Path) -> None:
        self.dirpath = Path(dirpath)

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if getattr(pl_module, "iteration", 0) == 0:
            return  # nothing trained yet
        path = self.dirpath / "interrupted.ckpt"
        # Only rank 0 writes; under DDP the other ranks may already be gone, so no collective here.
        if trainer.is_global_zero:
            self.dirpath.mkdir(parents=True, exist_ok=True)
            trainer.save_checkpoint(path, weights_only=False)
            rank_zero_info(f"{type(exception).__name__} at iteration {pl_module.iteration}: saved {path}")
