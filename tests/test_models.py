"""Model families: shapes, layouts, parameter counts, validation and independent initialisation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bayesgan.models import DCGAN, MLP, Architecture, PacGANToy
from bayesgan.models.layers import BatchNorm
from bayesgan.models.pacgan import Maxout


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# (data_shape, width, expected spatial chain of H): ceil-halving while ≥ 4, at most 4 layers.
IMAGE_CASES = [
    ((1, 28, 28), 16, [28, 14, 7, 4, 2]),
    ((3, 32, 32), 16, [32, 16, 8, 4, 2]),
    ((1, 8, 8), 16, [8, 4, 2]),
    ((1, 24, 24), 16, [24, 12, 6, 3]),
    ((3, 50, 50), 8, [50, 25, 13, 7, 4]),
    ((3, 64, 64), 8, [64, 32, 16, 8, 4]),
]


@pytest.mark.parametrize(("shape", "width", "chain"), IMAGE_CASES)
def test_dcgan_shapes(shape: tuple[int, int, int], width: int, chain: list[int]) -> None:
    torch.manual_seed(0)
    arch = DCGAN(z_dim=12, width=width)
    hs, ws, widths = arch.layout(shape)
    assert hs == ws == chain
    assert widths == [width * 2**i for i in range(len(chain) - 1)]
    gen, disc = arch.build_generator(shape), arch.build_discriminator(shape, 7)
    x = gen(torch.rand(4, 12) * 2 - 1)
    assert x.shape == (4, *shape)
    assert x.abs().max() <= 1.0
    assert disc(x).shape == (4, 7)
    # Every intermediate generator activation retraces the discriminator chain in reverse.
    sizes = []
    h = torch.randn(4, 12)
    for layer in gen:
        h = layer(h)
        if isinstance(layer, nn.ConvTranspose2d | nn.Unflatten):
            sizes.append(h.shape[-1])
    assert sizes == chain[::-1]


def test_dcgan_non_square_and_explicit_layers() -> None:
    arch = DCGAN(z_dim=4, width=4, num_layers=2)
    shape = (2, 28, 20)
    hs, ws, _ = arch.layout(shape)
    assert (hs, ws) == ([28, 14, 7], [20, 10, 5])
    x = arch.build_generator(shape)(torch.randn(3, 4))
    assert x.shape == (3, *shape)
    assert arch.build_discriminator(shape, 1)(x).shape == (3, 1)


def test_dcgan_paper_layout_and_param_counts() -> None:
    arch = DCGAN()  # z 100, widths 64/128/256/512, 5x5 kernels
    shape, k2 = (1, 28, 28), 25
    disc = arch.build_discriminator(shape, 2)
    convs = [m for m in disc if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 64), (64, 128), (128, 256), (256, 512)]
    assert sum(isinstance(m, BatchNorm) for m in disc) == 3  # every conv but the first
    assert [m.bias is not None for m in convs] == [True, False, False, False]  # BN cancels a bias
    expected_d = (1 * 64 * k2 + 64) + (64 * 128 + 128 * 256 + 256 * 512) * k2 + (512 * 2 * 2 * 2 + 2)
    assert n_params(disc) == expected_d
    gen = arch.build_generator(shape)
    expected_g = 100 * 512 * 4 + (512 * 256 + 256 * 128 + 128 * 64) * k2 + (64 * 1 * k2 + 1)
    assert n_params(gen) == expected_g
    # Generator BN always uses batch statistics: no buffers, and eval mode equals train mode.
    assert not list(gen.buffers())
    z = torch.randn(8, 100)
    assert torch.allclose(gen.train()(z), gen.eval()(z))
    assert len(list(disc.buffers())) == 6
    # Affine batch norm adds a scale and a shift per channel.
    affine = DCGAN(bn_affine=True)
    assert n_params(affine.build_discriminator(shape, 2)) == expected_d + 2 * (128 + 256 + 512)
    assert n_params(affine.build_generator(shape)) == expected_g + 2 * (512 + 256 + 128 + 64)


def test_dcgan_max_width_and_init() -> None:
    torch.manual_seed(0)
    arch = DCGAN(width=32, max_width=64)
    disc = arch.build_discriminator((3, 32, 32), 10)
    assert [m.out_channels for m in disc if isinstance(m, nn.Conv2d)] == [32, 64, 64, 64]
    big = DCGAN().build_generator((3, 32, 32))
    weights = torch.cat([m.weight.flatten() for m in big if isinstance(m, nn.ConvTranspose2d | nn.Linear)])
    assert abs(weights.std().item() - 0.02) < 1e-3
    assert abs(weights.mean().item()) < 1e-3
    assert all(m.bias.abs().max() == 0 for m in disc if getattr(m, "bias", None) is not None)


@pytest.mark.parametrize("shape", [(2,), (100,), (28, 28), (1, 1, 28, 28), (0, 8, 8), ()])
def test_dcgan_rejects_non_images(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="model=mlp"):
        DCGAN().build_generator(shape)
    with pytest.raises(ValueError, match="model=mlp"):
        DCGAN().build_discriminator(shape, 2)


def test_dcgan_rejects_bad_hyperparameters() -> None:
    with pytest.raises(ValueError, match="odd"):
        DCGAN(kernel_size=4)
    with pytest.raises(ValueError, match="num_layers"):
        DCGAN(num_layers=0)
    with pytest.raises(ValueError, match="num_logits"):
        DCGAN().build_discriminator((1, 8, 8), 0)


@pytest.mark.parametrize("shape", [(2,), (100,), (1, 8, 8)])
def test_mlp_shapes(shape: tuple[int, ...]) -> None:
    arch = MLP(z_dim=10, hidden=32, depth=2)
    gen, disc = arch.build_generator(shape), arch.build_discriminator(shape, 3)
    x = gen(torch.randn(5, 10))
    assert x.shape == (5, *shape)
    # tanh (samples in [-1, 1]) for images only; vector outputs stay linear.
    assert any(isinstance(m, nn.Tanh) for m in gen) == (len(shape) == 3)
    assert disc(x).shape == (5, 3)
    d = math.prod(shape)
    assert n_params(gen) == (10 * 32 + 32) + (32 * 32 + 32) + (32 * d + d)
    assert n_params(disc) == (d * 32 + 32) + (32 * 32 + 32) + (32 * 3 + 3)
    assert not list(gen.buffers()) and not list(disc.buffers())  # no batch norm


def test_mlp_presets_and_options() -> None:
    # The paper's synthetic experiment: 10 → 1000 → 100 and 100 → 1000 → 2.
    synth = MLP(z_dim=10, hidden=1000, depth=1)
    assert n_params(synth.build_generator((100,))) == 10 * 1000 + 1000 + 1000 * 100 + 100
    assert n_params(synth.build_discriminator((100,), 2)) == 100 * 1000 + 1000 + 1000 * 2 + 2
    linear = MLP(z_dim=3, depth=0).build_generator((2,))
    assert [type(m) for m in linear] == [nn.Linear]
    relu = MLP(activation="relu").build_discriminator((2,), 1)
    assert any(isinstance(m, nn.ReLU) for m in relu)
    with pytest.raises(ValueError, match="activation"):
        MLP(activation="swish!")
    with pytest.raises(ValueError, match="data_shape"):
        MLP().build_generator(())
    with pytest.raises(ValueError, match="data_shape"):
        MLP().build_discriminator((0,), 2)


def test_pacgan_protocol_layout_and_param_counts() -> None:
    """Reference §1.1: G = 2 → [400 no bias, BN, ReLU] x 4 → 2; D = 2 → maxout(200, 5) x 3 → 1."""
    arch = PacGANToy()
    gen, disc = arch.build_generator((2,)), arch.build_discriminator((2,), 1)
    linears = [m for m in gen if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features, m.bias is not None) for m in linears] == [
        (2, 400, False), (400, 400, False), (400, 400, False), (400, 400, False), (400, 2, True)
    ]  # fmt: skip
    norms = [m for m in gen if isinstance(m, BatchNorm)]
    assert len(norms) == 4 and all(m.momentum == 0.05 and m.weight is not None for m in norms)
    # weights + batch-norm scale and shift + output layer
    assert n_params(gen) == 2 * 400 + 3 * 400 * 400 + 4 * 2 * 400 + 400 * 2 + 2
    assert [(m.units, m.pieces) for m in disc if isinstance(m, Maxout)] == [(200, 5)] * 3
    assert n_params(disc) == (2 * 1000 + 1000) + 2 * (200 * 1000 + 1000) + (200 + 1)
    x = gen(torch.randn(64, 2))
    assert x.shape == (64, 2) and disc(x).shape == (64, 1)
    weights = torch.cat([m.weight.flatten() for m in linears])
    assert weights.std().item() == pytest.approx(0.02, rel=0.05)  # N(0, 0.02²) init
    with pytest.raises(ValueError, match="bn_momentum"):
        PacGANToy(bn_momentum=0.0)
    with pytest.raises(ValueError, match="PacGANToy"):
        PacGANToy(pieces=0)


def test_maxout_takes_the_max_over_pieces() -> None:
    layer = Maxout(1, units=2, pieces=3)
    with torch.no_grad():  # unit 0: pieces x, -x, 0.5 (= max(|x|, 0.5)); unit 1: pieces 2x, x + 1, -3
        layer.linear.weight.copy_(torch.tensor([[1.0], [-1.0], [0.0], [2.0], [1.0], [0.0]]))
        layer.linear.bias.copy_(torch.tensor([0.0, 0.0, 0.5, 0.0, 1.0, -3.0]))
    x = torch.tensor([[-2.0], [0.2], [3.0]])
    assert torch.equal(layer(x), torch.tensor([[2.0, -1.0], [0.5, 1.2], [3.0, 6.0]]))


def test_pacgan_generator_running_statistics_use_momentum_005() -> None:
    torch.manual_seed(0)
    gen = PacGANToy(g_hidden=8, g_depth=1).build_generator((2,))
    z = torch.randn(32, 2)
    pre = gen.fc0(z)  # what the first batch norm sees
    gen(z)
    bn = gen.bn0
    assert torch.allclose(bn.running_mean, 0.05 * pre.mean(0), atol=1e-6)
    assert torch.allclose(bn.running_var, 0.95 + 0.05 * pre.var(0, correction=1), atol=1e-6)


@pytest.mark.parametrize(
    ("arch", "shape"), [(DCGAN(width=8), (1, 28, 28)), (MLP(), (2,)), (MLP(), (1, 8, 8)), (PacGANToy(), (2,))]
)
def test_builds_are_independent(arch: Architecture, shape: tuple[int, ...]) -> None:
    assert isinstance(arch, Architecture)
    torch.manual_seed(0)
    g1, g2 = arch.build_generator(shape), arch.build_generator(shape)
    d1, d2 = arch.build_discriminator(shape, 2), arch.build_discriminator(shape, 2)
    for a, b in [(g1, g2), (d1, d2)]:
        for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
            if "bias" not in name and not name.startswith("bn"):  # biases 0, batch-norm scales 1
                assert not torch.equal(p, q), name
    # Builds use the global RNG, so a seed reproduces them.
    torch.manual_seed(0)
    g3 = arch.build_generator(shape)
    assert all(torch.equal(p, q) for p, q in zip(g1.parameters(), g3.parameters(), strict=True))
