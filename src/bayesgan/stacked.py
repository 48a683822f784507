"""Stacked evaluation: all copies of a network run as batched kernels directly on the stacked parameters.

``torch.func.vmap`` with ``functional_call`` runs any network, but costs a fixed Python overhead per call
(re-binding every parameter, batching every op) that dominates small networks: the ring MLP's iteration
took about half as long vectorized as looped, not the several times its kernels allow. For the layers the
fully connected families are made of (Sequential, Linear, Maxout, this project's BatchNorm, virtual batch
norm's three layers, Flatten, Unflatten, elementwise activations), and the small-map dense convolutions
of ``models.layers`` (so the whole 8x8 digits DCGAN), this module evaluates the copies with one batched
kernel per layer (``baddbmm`` for a linear layer, ``bmm`` for a dense convolution) and no re-binding.
Any other layer (native convolutions) makes ``supports`` False and the ensemble keeps using vmap. The
numbers equal a per-copy loop (tests/test_ensemble.py).

Shapes: activations are ``[C, B, ...]`` (C copies); a shared input ``[B, ...]`` is seen by every copy.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from bayesgan.models import virtual_batch_norm as vbn
from bayesgan.models.convolutions import DenseConv
from bayesgan.models.layers import _BATCH_GROUPS, _FREEZE_RUNNING_STATS, BatchNorm, normalise
from bayesgan.models.pacgan import Maxout
from bayesgan.models.virtual_batch_norm import DropReference, ReferenceBatch, VirtualBatchNorm

# Inputs narrower than this (2-D points, small latents) take the column-major path in _linear.
_NARROW = 16
_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.ELU, nn.GELU, nn.SiLU, nn.Softplus, nn.Sigmoid)
_VIRTUAL = (ReferenceBatch, VirtualBatchNorm, DropReference)
_STACKED = (
    nn.Linear,
    Maxout,
    BatchNorm,
    *_VIRTUAL,
    DenseConv,
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
    *_ELEMENTWISE,
)


def supports(module: nn.Module) -> bool:
    """Whether every layer of ``module`` has a stacked implementation here."""
    if isinstance(module, nn.Sequential):
        return all(supports(child) for child in module)
    return isinstance(module, _STACKED)


def batch_independent(module: nn.Module) -> bool:
    """Whether ``module`` has a stacked implementation and treats every example on its own (no batch norm,
    no reference batch), so that how examples are grouped into batches cannot change any output."""
    if isinstance(module, nn.Sequential):
        return all(batch_independent(child) for child in module)
    return isinstance(module, _STACKED) and not isinstance(module, (BatchNorm, *_VIRTUAL))


def run(module: nn.Module, state: Mapping[str, Tensor], x: Tensor, copies: int, shared: bool) -> Tensor:
    """``module``'s copies (parameters and buffers stacked in ``state``, keyed by ``module``'s own names)
    applied to ``x``: ``[C, B, ...]``, or ``[B, ...]`` seen by every copy when ``shared``."""
    return _run(module, "", state, x, copies, shared)[0]


def _run(
    module: nn.Module, prefix: str, state: Mapping[str, Tensor], x: Tensor, copies: int, shared: bool
) -> tuple[Tensor, bool]:
    # Returns the output and whether it is still shared (un-stacked): elementwise layers and reshapes keep
    # a shared input shared, so the copies are only materialised by the first layer with weights.
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            x, shared = _run(child, f"{prefix}{name}.", state, x, copies, shared)
        return x, shared
    if isinstance(module, (*_ELEMENTWISE, nn.Identity)):
        return module(x), shared
    lead = 0 if shared else 1  # leading dimensions before the batch's own: none, or the copy dimension
    if isinstance(module, nn.Flatten):
        start = module.start_dim + lead if module.start_dim >= 0 else module.start_dim
        end = module.end_dim + lead if module.end_dim >= 0 else module.end_dim
        return x.flatten(start, end), shared
    if isinstance(module, nn.Unflatten):
        dim = module.dim + lead if module.dim >= 0 else module.dim
        return x.unflatten(dim, module.unflattened_size), shared
    if isinstance(module, nn.Linear):
        return _linear(x, state[f"{prefix}weight"], state.get(f"{prefix}bias"), shared), False
    if isinstance(module, Maxout):
        linear = _linear(x, state[f"{prefix}linear.weight"], state.get(f"{prefix}linear.bias"), shared)
        return linear.unflatten(-1, (module.units, module.pieces)).amax(-1), False
    if isinstance(module, DenseConv):
        return _dense_conv(module, state[f"{prefix}weight"], state.get(f"{prefix}bias"), x), False
    if isinstance(module, BatchNorm):
        if shared:
            x = x.expand(copies, *x.shape)
        return _batch_norm(module, prefix, state, x), False
    if isinstance(module, _VIRTUAL):
        return _virtual(module, prefix, state, x, copies, shared), False
    raise TypeError(f"no stacked implementation of {type(module).__name__}")


def _linear(x: Tensor, weight: Tensor, bias: Tensor | None, shared: bool) -> Tensor:
    """y = x·Wᵀ + b per copy: ``weight`` [C, out, in], ``x`` [C, B, ..., in] or shared [B, ..., in]."""
    copies, weight_t = weight.shape[0], weight.transpose(1, 2)
    if x.requires_grad and 1 < weight.shape[2] < _NARROW:
        # The input gradient is grad·W with an output `in` columns wide. CPU BLAS (MKL) is 4-5x slower on
        # such a narrow product when W is row-major than when it is column-major (bench_components.py toy):
        # hand the forward W's transpose as a contiguous copy (in x out numbers) so that autograd's W is.
        weight_t = weight_t.contiguous()
    if shared:
        flat = x.reshape(-1, x.shape[-1]).expand(copies, -1, -1)
    else:
        flat = x if x.dim() == 3 else x.reshape(copies, -1, x.shape[-1])  # the usual [C, B, in]: as is
    y = torch.bmm(flat, weight_t) if bias is None else torch.baddbmm(bias.unsqueeze(1), flat, weight_t)
    if x.dim() == 3 and not shared:
        return y
    return y.view(copies, *(x.shape[:-1] if shared else x.shape[1:-1]), weight.shape[1])


def _dense_conv(module: DenseConv, weight: Tensor, bias: Tensor | None, x: Tensor) -> Tensor:
    """A dense (transposed) convolution per copy: ``weight`` [C, ...], ``x`` [C, B, ch, H, W] or shared
    [B, ch, H, W]; one ``bmm`` with each copy's dense matrix (``DenseConv2d``)."""
    copies = weight.shape[0]
    index, (h, w) = module.dense_index((x.shape[-2], x.shape[-1]), x.device)
    flat = torch.cat([weight.flatten(1), weight.new_zeros(copies, 1)], dim=1)
    dense = flat.index_select(1, index.flatten()).view(copies, *index.shape)  # [C, in·H·W, out·H'·W']
    y = torch.matmul(x.flatten(-3), dense)  # [C, B, out·H'·W'] (a shared [B, in·H·W] is broadcast)
    y = y.view(copies, -1, module.out_channels, h, w)
    return y if bias is None else y + bias.view(copies, 1, -1, 1, 1)


def _batch_norm(module: BatchNorm, prefix: str, state: Mapping[str, Tensor], x: Tensor) -> Tensor:
    """``BatchNorm.forward`` per copy on ``x`` [C, B, F, *spatial] (statistics per copy and feature)."""
    copies, features = x.shape[0], x.shape[2]
    shape = (copies, 1, features) + (1,) * (x.dim() - 3)  # broadcasts a [C, F] statistic over x
    use_batch_stats = module.training or not module.track_running_stats
    if use_batch_stats:
        groups = _BATCH_GROUPS.get()
        grouped = x.unflatten(1, (groups, -1))  # [C, G, B/G, F, ...]: each group its own statistics
        y, mean, var = normalise(grouped, 2, module.eps)
        y = y.flatten(1, 2)
        if module.track_running_stats and groups == 1 and not _FREEZE_RUNNING_STATS.get():
            _update_running_stats(module, prefix, state, mean, var, x.numel() // (copies * features))
    else:
        mean = state[f"{prefix}running_mean"].view(shape)
        y = (x - mean) * torch.rsqrt(state[f"{prefix}running_var"].view(shape) + module.eps)
    if module.weight is not None:
        y = y * state[f"{prefix}weight"].view(shape) + state[f"{prefix}bias"].view(shape)
    return y


def _virtual(
    module: nn.Module, prefix: str, state: Mapping[str, Tensor], x: Tensor, copies: int, shared: bool
) -> Tensor:
    """Virtual batch norm's layers per copy (``models.virtual_batch_norm``); activations [C, R + B, ...].
    Each example is normalised with its copy's reference batch only, so ``batch_groups`` does not apply."""
    if isinstance(module, ReferenceBatch):
        reference = state[f"{prefix}reference"].to(x.dtype)  # [C, R, ...]: each copy's own buffer
        if shared:
            x = x.expand(copies, *x.shape)
        return torch.cat([reference, x], dim=1)
    if isinstance(module, DropReference):
        return x[:, module.size :]
    assert isinstance(module, VirtualBatchNorm)
    y = vbn.normalise(x, module.reference_size, module.eps, batch_dim=1)
    if module.weight is None:
        return y
    shape = (copies, 1, x.shape[2]) + (1,) * (x.dim() - 3)
    return y * state[f"{prefix}weight"].view(shape) + state[f"{prefix}bias"].view(shape)


@torch.no_grad()
def _update_running_stats(
    module: BatchNorm, prefix: str, state: Mapping[str, Tensor], mean: Tensor, var: Tensor, count: int
) -> None:
    # As F.batch_norm in training: exponential averages with the UNBIASED batch variance.
    copies = mean.shape[0]
    unbiased = var.reshape(copies, -1) * (count / max(count - 1, 1))
    state[f"{prefix}running_mean"].lerp_(mean.reshape(copies, -1), module.momentum)
    state[f"{prefix}running_var"].lerp_(unbiased, module.momentum)
