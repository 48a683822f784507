"""Convolutions computed as matrix products: faster on small maps, and batched well across stacked copies.

``GemmConvTranspose2d`` (one GEMM and a col2im) and ``DenseConv2d``/``DenseConvTranspose2d`` (one product with
the convolution's dense matrix) have the parameters and outputs of the PyTorch layers they replace.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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


DENSE_ENTRIES_PER_EXAMPLE = 2**14


def dense_conv_index(
    weight_shape: tuple[int, ...],
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    transposed: bool,
) -> torch.Tensor:
    """Where each entry of a (transposed) convolution's dense matrix comes from in its flattened weight.

    The convolution maps x [in, H, W] to y [out, H', W'] linearly, so y = x.flatten() @ D with D
    [in·H·W, out·H'·W']. Entry ((i, a), (o, b)) of D is the weight entry of kernel offset (ky, kx) linking
    input pixel a to output pixel b (at most one: ky = iy − s·oy + p for a convolution, oy − s·iy + p for a
    transposed one), or 0. Returned: int64 indices into ``weight.flatten()`` with ``weight.numel()`` (an
    appended zero) where no offset links the two pixels.
    """
    a, b = (weight_shape[0], weight_shape[1]) if transposed else (weight_shape[1], weight_shape[0])
    in_ch, out_ch, k_h, k_w = a, b, weight_shape[2], weight_shape[3]
    iy = torch.arange(in_size[0]).view(-1, 1, 1, 1)
    ix = torch.arange(in_size[1]).view(1, -1, 1, 1)
    oy = torch.arange(out_size[0]).view(1, 1, -1, 1)
    ox = torch.arange(out_size[1]).view(1, 1, 1, -1)
    if transposed:  # output pixel = s·input pixel − p + k
        ky, kx = oy - stride[0] * iy + padding[0], ox - stride[1] * ix + padding[1]
    else:  # input pixel = s·output pixel − p + k
        ky, kx = iy - stride[0] * oy + padding[0], ix - stride[1] * ox + padding[1]
    valid = (ky >= 0) & (ky < k_h) & (kx >= 0) & (kx < k_w)
    offset = (ky * k_w + kx).flatten(0, 1).flatten(1)  # [in_px, out_px]
    valid = valid.flatten(0, 1).flatten(1)
    i = torch.arange(in_ch).view(-1, 1, 1, 1)
    o = torch.arange(out_ch).view(1, 1, -1, 1)
    # Flat position of weight[i, o, ky, kx] (transposed) or weight[o, i, ky, kx] (convolution).
    channel = i * out_ch + o if transposed else o * in_ch + i
    index = channel * (k_h * k_w) + offset.view(1, offset.shape[0], 1, offset.shape[1])
    index = torch.where(valid.view(1, valid.shape[0], 1, valid.shape[1]), index, in_ch * out_ch * k_h * k_w)
    return index.reshape(in_ch * offset.shape[0], out_ch * offset.shape[1])


class DenseConv:
    """A (transposed) convolution computed as one product with its dense matrix (``dense_conv_index``).

    For small maps (a few pixels each side) every output pixel sees most input pixels, so the dense matrix
    is hardly larger than the weight and the product is a single GEMM: no im2col/col2im, no layout copies,
    fewer multiply-adds than the kernel-shaped product (padding is cropped away), and under stacked copies
    a ``bmm``. Same parameters, same outputs (to float rounding) as the PyTorch layer it replaces.

    The matrix is built from the weight in every call (a gather, and a scatter in the backward pass), which
    pays only over a large enough batch: with fewer than one example per ``DENSE_ENTRIES_PER_EXAMPLE``
    matrix entries (e.g. the paper D's last layer, 8.4 M entries, on a batch of 64) the call runs PyTorch's
    own kernel instead. The stacked path (``bayesgan.stacked``, small models only) always multiplies.
    """

    weight: nn.Parameter
    bias: nn.Parameter | None
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    padding_mode: str
    out_channels: int
    _transposed_layout = False

    def dense_output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        raise NotImplementedError

    def dense_index(
        self, size: tuple[int, int], device: torch.device
    ) -> tuple[torch.Tensor, tuple[int, int]]:
        """The dense matrix's weight indices for input maps of ``size`` (cached) and the output size."""
        cache = self.__dict__.setdefault("_dense_cache", {})
        key = (size, device)
        if key not in cache:
            if self.groups != 1 or tuple(self.dilation) != (1, 1) or self.padding_mode != "zeros":
                raise ValueError(f"{type(self).__name__} needs groups=1, dilation=1 and zero padding")
            out = self.dense_output_size(size)
            index = dense_conv_index(
                tuple(self.weight.shape), size, out, self.stride, self.padding, self._transposed_layout
            )
            cache[key] = (index.to(device), out)
        return cache[key]

    def dense_pays(self, x: torch.Tensor) -> bool:
        """Whether ``x``'s batch is large enough to repay building the dense matrix (see ``_DenseConv``)."""
        index, _ = self.dense_index((x.shape[-2], x.shape[-1]), x.device)
        return x.shape[0] * DENSE_ENTRIES_PER_EXAMPLE >= index.numel()

    def _dense_forward(self, x: torch.Tensor) -> torch.Tensor:
        index, (h, w) = self.dense_index((x.shape[-2], x.shape[-1]), x.device)
        flat = torch.cat([self.weight.flatten(), self.weight.new_zeros(1)])
        dense = flat.index_select(0, index.flatten()).view(index.shape)
        y = (x.flatten(1) @ dense).view(x.shape[0], self.out_channels, h, w)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


class DenseConv2d(DenseConv, nn.Conv2d):
    """``nn.Conv2d`` (groups=1, dilation=1, zero padding) as one dense matrix product (see ``DenseConv``)."""

    def dense_output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return tuple(  # type: ignore[return-value]
            (n + 2 * p - k) // s + 1
            for n, p, k, s in zip(size, self.padding, self.kernel_size, self.stride, strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._dense_forward(x) if self.dense_pays(x) else super().forward(x)


class DenseConvTranspose2d(DenseConv, nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (groups=1, dilation=1) as one dense matrix product (see ``DenseConv``)."""

    _transposed_layout = True

    def dense_output_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return tuple(  # type: ignore[return-value]
            (n - 1) * s - 2 * p + k + o
            for n, s, p, k, o in zip(
                size, self.stride, self.padding, self.kernel_size, self.output_padding, strict=True
            )
        )

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None or not self.dense_pays(x):  # (an explicit size may pick another padding)
            return super().forward(x, output_size)
        return self._dense_forward(x)


def dense_conv_elements(in_ch: int, out_ch: int, in_pixels: int, out_pixels: int) -> int:
    """The size of a (transposed) convolution's dense matrix."""
    return in_ch * in_pixels * out_ch * out_pixels
