"""GemmConvTranspose2d (the DCGAN generator's GEMM + col2im transposed convolution) against PyTorch's own
nn.ConvTranspose2d: the same outputs and the same gradients for input, weight and bias."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call, vmap

from bayesgan.models.layers import GemmConvTranspose2d


@pytest.mark.parametrize(
    ("in_ch", "out_ch", "size", "output_padding", "bias"),
    [(6, 4, (2, 2), 1, False), (5, 3, (4, 3), (0, 1), True), (3, 1, (7, 7), 1, True)],
)
def test_gemm_transposed_convolution_equals_torch(in_ch, out_ch, size, output_padding, bias) -> None:
    torch.manual_seed(0)
    native = nn.ConvTranspose2d(
        in_ch, out_ch, 5, stride=2, padding=2, output_padding=output_padding, bias=bias
    )
    gemm = GemmConvTranspose2d(
        in_ch, out_ch, 5, stride=2, padding=2, output_padding=output_padding, bias=bias
    )
    gemm.load_state_dict(native.state_dict())
    x = torch.randn(3, in_ch, *size)
    x_native, x_gemm = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_native, y_gemm = native(x_native), gemm(x_gemm)
    torch.testing.assert_close(y_gemm, y_native, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(y_native)  # a non-trivial loss, so every gradient entry is exercised
    (y_native * weights).sum().backward()
    (y_gemm * weights).sum().backward()
    torch.testing.assert_close(x_gemm.grad, x_native.grad, atol=1e-5, rtol=1e-5)
    for (name, p_native), p_gemm in zip(native.named_parameters(), gemm.parameters(), strict=True):
        torch.testing.assert_close(p_gemm.grad, p_native.grad, atol=1e-5, rtol=1e-5, msg=name)


def test_stacked_weight_gradient_needs_no_relayout() -> None:
    # Under vmap (the ensemble's stacked copies) the weight gradient must come out contiguous like the
    # stacked weight: otherwise autograd copies the whole gradient into the parameter's layout on every
    # backward pass, the largest copy of a paper-scale iteration.
    layer = GemmConvTranspose2d(8, 4, 5, stride=2, padding=2, output_padding=1, bias=False)
    weight = torch.randn(3, 8, 4, 5, 5, requires_grad=True)  # 3 stacked copies
    y = vmap(lambda w, x: functional_call(layer, {"weight": w}, (x,)))(weight, torch.randn(3, 2, 8, 2, 2))
    (grad,) = torch.autograd.grad(y.square().sum(), weight)  # the raw gradient, before any layout fix-up
    assert grad.is_contiguous()
