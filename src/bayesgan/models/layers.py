"""Layers shared by the model families."""

from __future__ import annotations

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


def _grouped_batch_norm(x: torch.Tensor, groups: int, eps: float) -> torch.Tensor:
    grouped = x.unflatten(0, (groups, -1))
    dims = [1, *range(3, grouped.dim())]  # batch and spatial dimensions of each group
    var, mean = torch.var_mean(grouped, dim=dims, correction=0, keepdim=True)
    return ((grouped - mean) * torch.rsqrt(var + eps)).flatten(0, 1)


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


class GemmConvTranspose2d(nn.ConvTranspose2d):
    """A transposed convolution computed as one matrix product and a col2im (``F.fold``).

    Same parameters and outputs as ``nn.ConvTranspose2d`` (groups=1, dilation=1). For small input maps with
    many channels (a DCGAN generator's first layers) the product is a large GEMM, which is several times
    faster than the native kernel on CPU, and, unlike the native kernel, it batches efficiently under
    ``torch.func.vmap`` (whose rule for the native backward does several times the necessary work).
    """

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        batch, in_ch, h, w = x.shape
        k_h, k_w = self.kernel_size
        (s_h, s_w), (p_h, p_w), (o_h, o_w) = self.stride, self.padding, self.output_padding
        out = ((h - 1) * s_h - 2 * p_h + k_h + o_h, (w - 1) * s_w - 2 * p_w + k_w + o_w)
        # [batch*h*w, in] @ [in, out*k*k]: one GEMM for the whole batch, with the weight in its stored
        # layout, so that its gradient (x @ grad) comes out in that layout too. The transposed form
        # (Wᵀ @ x) gave a transposed weight gradient that autograd copied into the parameter's layout on
        # every backward: the largest copy of a paper-scale Bayesian GAN iteration (20 x 13 MB per step).
        rows = x.permute(0, 2, 3, 1).reshape(batch * h * w, in_ch) @ self.weight.reshape(in_ch, -1)
        cols = rows.view(batch, h * w, -1).transpose(1, 2)
        y = F.fold(cols, out, self.kernel_size, padding=self.padding, stride=self.stride)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)
