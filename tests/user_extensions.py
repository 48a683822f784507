"""Code a user writes against ``pytorch_lightning`` and plugs in through the configs (used by test_method)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from bayesgan.module import BayesGAN


class CountingCallback(pl.Callback):
    """A user's own callback, written against the ``pytorch_lightning`` namespace."""

    calls = 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        type(self).calls += 1


class RecordingBayesGAN(BayesGAN):
    """A user's method: the Bayesian GAN that remembers the keyword arguments ``build`` gave it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.build_kwargs = sorted(kwargs)
