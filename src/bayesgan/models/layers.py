"""Layers shared by the model families."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch import nn

_FREEZE_RUNNING_STATS: ContextVar[bool] = ContextVar("bayesgan_freeze_running_stats", default=False)
_BATCH_GROUPS: ContextVar[int] = ContextVar("bayesgan_batch_groups", default=1)


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


@contextmanager
def batch_groups(groups: int) -> Iterator[None]:
    """The batch is ``groups`` equal batches stacked along dimension 0; batch norm normalises each with its
    own statistics (running statistics stay frozen). Lets one network call evaluate many batches at once."""
    token = _BATCH_GROUPS.set(groups)
    try:
        with frozen_running_stats():
            yield
    finally:
        _BATCH_GROUPS.reset(token)


def normalise(x: torch.Tensor, batch_dim: int, eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch norm of ``x`` [..., B, F, *spatial] (B at ``batch_dim``): statistics over B and the spatial
    dimensions per feature. Returns the normalised x, the mean and the biased variance (kept dimensions).

    Two passes (mean, then the mean square of x − mean: as exact as ``var_mean``), each reducing one
    dimension at a time: the batch dimension first (contiguous rows added up), then the few spatial
    positions. ``var_mean`` over non-adjacent dimensions is several times slower on CPU, and was a tenth of
    the default experiment's iteration.
    """

    count = x.shape[batch_dim] * math.prod(x.shape[batch_dim + 2 :])

    def mean_over(t: torch.Tensor) -> torch.Tensor:
        t = t.sum(batch_dim, keepdim=True)
        for dim in range(batch_dim + 2, t.dim()):
            t = t.sum(dim, keepdim=True)
        return t / count

    mean = mean_over(x)
    centred = x - mean
    var = mean_over(centred.square())
    return centred * torch.rsqrt(var + eps), mean, var


def _grouped_batch_norm(x: torch.Tensor, groups: int, eps: float) -> torch.Tensor:
    return normalise(x.unflatten(0, (groups, -1)), 1, eps)[0].flatten(0, 1)


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
        groups = _BATCH_GROUPS.get()
        if use_batch_stats and groups > 1:
            y = _grouped_batch_norm(x, groups, self.eps)
            if self.weight is None:
                return y
            shape = (1, -1) + (1,) * (x.dim() - 2)
            return y * self.weight.view(shape) + self.bias.view(shape)
        if use_batch_stats:
            update = self.track_running_stats and not _FREEZE_RUNNING_STATS.get()
            mean, var = (self.running_mean, self.running_var) if update else (None, None)
            return F.batch_norm(x, mean, var, self.weight, self.bias, True, self.momentum, self.eps)
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, affine={self.weight is not None}, running={self.track_running_stats}"


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al. 2016, §3.2): features f [B, A] → [f, o] of size A + kernels.

    M_i = f_i·T ∈ R^{kernels × kernel_dim}, c_k(i, j) = exp(−‖M_i,k − M_j,k‖₁) and o_k(i) = Σ_j c_k(i, j)
    over the examples j of i's own batch (j = i included, as in the reference code). Inside
    ``batch_groups`` each of the stacked batches is its own minibatch, so a discriminator sees every
    generator's fakes as a separate batch (as batch norm does).
    """

    def __init__(self, in_features: int, kernels: int, kernel_dim: int = 5, init_std: float = 0.05) -> None:
        super().__init__()
        if min(in_features, kernels, kernel_dim) < 1:
            raise ValueError(
                f"minibatch discrimination needs in_features, kernels and kernel_dim >= 1, got "
                f"{in_features}, {kernels}, {kernel_dim}"
            )
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * init_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = (x @ self.T).unflatten(-1, (self.kernels, self.kernel_dim))  # [B, kernels, kernel_dim]
        groups = m.unflatten(0, (_BATCH_GROUPS.get(), -1))  # [G, B/G, kernels, kernel_dim]
        l1 = (groups.unsqueeze(2) - groups.unsqueeze(1)).abs().sum(-1)  # [G, B/G, B/G, kernels]
        o = torch.exp(-l1).sum(2).flatten(0, 1)  # [B, kernels]
        return torch.cat([x, o], dim=-1)
