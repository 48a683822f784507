"""Layers shared by the model families."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn

_FREEZE_RUNNING_STATS: ContextVar[bool] = ContextVar("bayesgan_freeze_running_stats", default=False)


@contextmanager
def frozen_running_stats() -> Iterator[None]:
    """Batch norm inside this block normalises with batch statistics but leaves running statistics alone.

    Fake batches are pushed through the discriminator inside it, so the statistics a discriminator uses at
    test time come from real data only (and a nested ``vmap`` never writes to an unbatched buffer).
    """
    token = _FREEZE_RUNNING_STATS.set(True)
    try:
        yield
    finally:
        _FREEZE_RUNNING_STATS.reset(token)


class BatchNorm(nn.Module):
    """Batch norm over dimension 1 of a 2-D or 4-D input (per unit or per channel).

    Non-affine by default, as in the authors' DCGAN. ``track_running_stats=False`` gives a layer that always
    normalises with batch statistics (the authors' generator, which samples in training mode).
    """

    def __init__(
        self,
        num_features: int,
        *,
        affine: bool = False,
        track_running_stats: bool = True,
        momentum: float = 0.1,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.track_running_stats = track_running_stats
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
        else:
            self.running_mean = self.running_var = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        use_batch_stats = self.training or not self.track_running_stats
        if use_batch_stats:
            update = self.track_running_stats and not _FREEZE_RUNNING_STATS.get()
            mean, var = (self.running_mean, self.running_var) if update else (None, None)
            return F.batch_norm(x, mean, var, self.weight, self.bias, True, self.momentum, self.eps)
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, affine={self.weight is not None}, running={self.track_running_stats}"
