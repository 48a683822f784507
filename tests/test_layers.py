"""GemmConvTranspose2d (the DCGAN generator's GEMM + col2im transposed convolution) and the dense-matrix
DenseConv2d / DenseConvTranspose2d against PyTorch's own nn.ConvTranspose2d / nn.Conv2d: the same outputs
and the same gradients for input, weight and bias."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call, vmap

from bayesgan.models import DCGAN
from bayesgan.models.convolutions import DenseConv2d, DenseConvTranspose2d, GemmConvTranspose2d


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
    assert_same_layer(native, gemm, torch.randn(3, in_ch, *size))


def test_stacked_weight_gradient_needs_no_relayout() -> None:
    # Under vmap (the ensemble's stacked copies) the weight gradient must come out contiguous like the
    # stacked weight: otherwise autograd copies the whole gradient into the parameter's layout on every
    # backward pass, the largest copy of a paper-scale iteration.
    layer = GemmConvTranspose2d(8, 4, 5, stride=2, padding=2, output_padding=1, bias=False)
    weight = torch.randn(3, 8, 4, 5, 5, requires_grad=True)  # 3 stacked copies
    y = vmap(lambda w, x: functional_call(layer, {"weight": w}, (x,)))(weight, torch.randn(3, 2, 8, 2, 2))
    (grad,) = torch.autograd.grad(y.square().sum(), weight)  # the raw gradient, before any layout fix-up
    assert grad.is_contiguous()


def assert_same_layer(native: nn.Module, candidate: nn.Module, x: torch.Tensor) -> None:
    """Same outputs and the same input, weight and bias gradients (candidate loaded with native's weights)."""
    candidate.load_state_dict(native.state_dict())
    x_native, x_candidate = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_native, y_candidate = native(x_native), candidate(x_candidate)
    assert y_candidate.shape == y_native.shape
    torch.testing.assert_close(y_candidate, y_native, atol=1e-5, rtol=1e-5)
    weights = torch.randn_like(y_native)  # a non-trivial loss, so every gradient entry is exercised
    (y_native * weights).sum().backward()
    (y_candidate * weights).sum().backward()
    torch.testing.assert_close(x_candidate.grad, x_native.grad, atol=1e-5, rtol=1e-5)
    for (name, p_native), p_candidate in zip(native.named_parameters(), candidate.parameters(), strict=True):
        torch.testing.assert_close(p_candidate.grad, p_native.grad, atol=1e-5, rtol=1e-5, msg=name)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "size", "bias"),
    [
        (5, 2, 2, (8, 8), True),
        (5, 2, 2, (4, 4), False),
        (3, 1, 1, (5, 7), True),
        (4, 2, (0, 1), (9, 6), False),
    ],
)
def test_dense_convolution_equals_torch(kernel, stride, padding, size, bias) -> None:
    torch.manual_seed(0)
    settings = {"kernel_size": kernel, "stride": stride, "padding": padding, "bias": bias}
    native, dense = nn.Conv2d(3, 4, **settings), DenseConv2d(3, 4, **settings)
    x = torch.randn(2, 3, *size)
    assert dense.dense_pays(x)  # the dense product, not the native fallback, is what is compared
    assert_same_layer(native, dense, x)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "output_padding", "size", "bias"),
    [
        (5, 2, 2, 1, (2, 2), False),
        (5, 2, 2, (0, 1), (4, 3), True),
        (3, 1, 1, 0, (3, 5), True),
        (4, 2, (1, 2), 0, (3, 3), False),
    ],
)
def test_dense_transposed_convolution_equals_torch(
    kernel, stride, padding, output_padding, size, bias
) -> None:
    torch.manual_seed(0)
    settings = {"kernel_size": kernel, "stride": stride, "padding": padding, "bias": bias}
    settings |= {"output_padding": output_padding}
    native, dense = nn.ConvTranspose2d(3, 2, **settings), DenseConvTranspose2d(3, 2, **settings)
    x = torch.randn(2, 3, *size)
    assert dense.dense_pays(x)
    assert_same_layer(native, dense, x)


def test_dense_layers_only_where_the_matrix_is_small() -> None:
    # The 8x8 digits model runs every convolution as a dense product; the paper's 28x28 model only its last
    # discriminator layer (4x4 -> 2x2: a 32 MB matrix per copy; the other layers' would be larger), and keeps
    # the GEMM form for G's first layers (many generator copies, each building its own matrix).
    def kinds(net: nn.Module) -> list[str]:
        return [type(m).__name__ for m in net if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]

    small = DCGAN(z_dim=32, width=32)
    assert kinds(small.build_discriminator((1, 8, 8), 10)) == ["DenseConv2d"] * 2
    assert kinds(small.build_generator((1, 8, 8))) == ["DenseConvTranspose2d"] * 2
    paper = DCGAN(z_dim=100, width=64)
    assert kinds(paper.build_discriminator((1, 28, 28), 1)) == ["Conv2d"] * 3 + ["DenseConv2d"]
    assert kinds(paper.build_generator((1, 28, 28))) == ["GemmConvTranspose2d"] * 2 + ["ConvTranspose2d"] * 2


def test_dense_layer_multiplies_only_over_batches_that_repay_the_matrix() -> None:
    # The paper discriminator's last layer (8.4 M matrix entries): its native kernel on the ML-GAN's batch of
    # 64, the dense product on the Bayesian GAN's cross-evaluation batch (20 generators x 64).
    layer = DCGAN(z_dim=100, width=64).build_discriminator((1, 28, 28), 1).conv3
    assert not layer.dense_pays(torch.empty(64, 256, 4, 4))
    assert layer.dense_pays(torch.empty(1280, 256, 4, 4))
    small = nn.Conv2d(256, 512, 5, stride=2, padding=2, bias=False)
    x = torch.randn(3, 256, 4, 4)
    assert_same_layer(small, layer, x)  # the fallback: the same numbers


def test_dense_layer_refuses_what_it_does_not_implement() -> None:
    layer = DenseConv2d(2, 2, 3, padding=1, groups=2)
    with pytest.raises(ValueError, match="groups=1"):
        layer(torch.randn(1, 2, 4, 4))
