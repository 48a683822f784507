"""DCGAN generator and discriminator in the authors' paper-era layout (reference §3.2).

D: stride-2 convs c → width → 2·width → … (capped at max_width), LeakyReLU(0.2), batch norm on every conv
but the first, flatten, one linear layer to the logits (no hidden FC layer).
G: linear z → C0·h0·w0, reshape, batch norm per channel, ReLU, then stride-2 transposed convs (batch norm +
ReLU) that retrace the discriminator's spatial chain in reverse, a last transposed conv to the data
channels and tanh.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from bayesgan.models import virtual_batch_norm as vbn
from bayesgan.models.convolutions import (
    DenseConv2d,
    DenseConvTranspose2d,
    GemmConvTranspose2d,
    dense_conv_elements,
)
from bayesgan.models.layers import BatchNorm, MinibatchDiscrimination

MAX_AUTO_LAYERS = 4
GEMM_MAX_INPUT_PIXELS = 16
# Layers on small maps (at most 8x8 on either side, so that the dense product does at most ~3x the
# kernel's multiply-adds, and fewer where padding is cropped) whose dense matrix has at most this many
# entries run as one matrix product (DenseConv2d, DenseConvTranspose2d: a plain GEMM, but the dense matrix
# is built from the weight in every call). A discriminator copy evaluates all J_g·M·n fakes at once,
# so its build is cheap per example: up to 2^23 entries (32 MB), which takes the paper's last D layer
# (4x4 -> 2x2, 256 -> 512 channels), whose native backward is several times slower. A generator copy sees
# only its own n latents: up to 2^20 (every layer of the 8x8 digits model; none of the paper's G).
DENSE_MAX_ELEMENTS_D = 2**23
DENSE_MAX_ELEMENTS_G = 2**20
DENSE_MAX_PIXELS = 64


def _dense(in_ch: int, out_ch: int, pixels: tuple[int, int], max_elements: int) -> bool:
    """Whether a layer between maps of ``pixels`` (in, out) runs as a dense product (see above)."""
    small = max(pixels) <= DENSE_MAX_PIXELS
    return small and dense_conv_elements(in_ch, out_ch, *pixels) <= max_elements


INIT_STD = 0.02


def init_normal(module: nn.Module, std: float = INIT_STD) -> nn.Module:
    """N(0, std²) weights and zero biases on every linear / (transposed) conv layer, as the authors' code.

    Batch-norm scales (when affine) keep PyTorch's 1 / 0 init: N(0, 0.02²) scales would silence the layer.
    Uses the global torch RNG, so successive builds are independent draws.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear | nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def _ceil_half(size: int) -> int:
    return -(-size // 2)


def auto_num_layers(size: int) -> int:
    """Halve (ceil) while the size is still ≥ 4, at most 4 times: 28→14→7→4→2, 24→12→6→3, 8→4→2."""
    n = 0
    while size >= 4 and n < MAX_AUTO_LAYERS:
        size, n = _ceil_half(size), n + 1
    return max(n, 1)


def spatial_chain(size: int, num_layers: int) -> list[int]:
    """Spatial size before and after each stride-2 conv (odd kernel, padding k//2 → ceil-halving)."""
    chain = [size]
    for _ in range(num_layers):
        chain.append(_ceil_half(chain[-1]))
    return chain


def _image_shape(data_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in data_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"DCGAN needs image data of shape (C, H, W), got data_shape={shape}; "
            "use model=mlp for vector data"
        )
    return shape  # type: ignore[return-value]


@dataclass
class DCGAN:
    """Paper-era DCGAN family (all kernels ``kernel_size``, stride 2, non-affine batch norm by default).

    The spatial chains of H and W are ceil-halvings (each side its own chain, so H == W is not needed); the
    number of stride-2 layers is ``num_layers`` or, when None, ``auto_num_layers(max(H, W))``. The generator
    picks ``output_padding`` per layer so that it reproduces the discriminator's chain exactly in reverse.
    Generator batch norm always uses batch statistics (as the authors' generator); discriminator batch norm
    tracks running statistics. Conv/linear layers directly followed by (non-affine) batch norm carry no bias,
    since batch norm would cancel it. ``virtual_batch_norm`` ("discriminator", "generator", "both") replaces
    that network's batch norm by virtual batch norm (``bayesgan.models.virtual_batch_norm``; affine as
    ``bn_affine``) with a reference batch of ``vbn_reference_size`` examples.
    """

    z_dim: int = 100
    width: int = 64
    max_width: int = 512
    num_layers: int | None = None
    kernel_size: int = 5
    bn_affine: bool = False
    minibatch_kernels: int = 0  # > 0: minibatch discrimination before the logits (Salimans et al. 2016)
    minibatch_kernel_dim: int = 5
    virtual_batch_norm: str = "none"  # none | discriminator | generator | both (Salimans et al. 2016)
    vbn_reference_size: int = 64

    def __post_init__(self) -> None:
        vbn.check_choice("DCGAN", self.virtual_batch_norm, self.vbn_reference_size)
        if self.z_dim < 1 or self.width < 1 or self.max_width < 1:
            raise ValueError(f"DCGAN z_dim, width and max_width must be positive, got {self}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            # Even kernels with padding k//2 do not ceil-halve, so G could not mirror D exactly.
            raise ValueError(f"DCGAN kernel_size must be a positive odd number, got {self.kernel_size}")
        if self.minibatch_kernels < 0 or self.minibatch_kernel_dim < 1:
            raise ValueError(
                f"DCGAN minibatch_kernels must be >= 0 and minibatch_kernel_dim >= 1, got "
                f"{self.minibatch_kernels} and {self.minibatch_kernel_dim}"
            )
        if self.num_layers is not None and self.num_layers < 1:
            raise ValueError(f"DCGAN num_layers must be ≥ 1 or None (automatic), got {self.num_layers}")

    # -- layout -----------------------------------------------------------------------------------------
    def layout(self, data_shape: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
        """(H chain, W chain, D conv widths) for ``data_shape``; G uses the same lists in reverse."""
        _, h, w = _image_shape(data_shape)
        n = self.num_layers if self.num_layers is not None else auto_num_layers(max(h, w))
        widths = [min(self.width * 2**i, self.max_width) for i in range(n)]
        return spatial_chain(h, n), spatial_chain(w, n), widths

    # -- networks ---------------------------------------------------------------------------------------
    def build_discriminator(self, data_shape: tuple[int, ...], num_logits: int) -> nn.Module:
        """x ``[B, C, H, W]`` → logits ``[B, num_logits]``."""
        channels, _, _ = _image_shape(data_shape)
        if num_logits < 1:
            raise ValueError(f"num_logits must be positive, got {num_logits}")
        hs, ws, widths = self.layout(data_shape)
        k = self.kernel_size
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_ch = channels
        for i, out_ch in enumerate(widths):
            pixels = (hs[i] * ws[i], hs[i + 1] * ws[i + 1])
            conv = DenseConv2d if _dense(in_ch, out_ch, pixels, DENSE_MAX_ELEMENTS_D) else nn.Conv2d
            layers[f"conv{i}"] = conv(in_ch, out_ch, k, stride=2, padding=k // 2, bias=i == 0)
            if i > 0:
                layers[f"bn{i}"] = self._norm("discriminator", out_ch, track_running_stats=True)
            layers[f"act{i}"] = nn.LeakyReLU(0.2)
            in_ch = out_ch
        layers["flatten"] = nn.Flatten()
        features = in_ch * hs[-1] * ws[-1]
        if self.minibatch_kernels:
            layers["minibatch"] = MinibatchDiscrimination(
                features, self.minibatch_kernels, self.minibatch_kernel_dim
            )
            features += self.minibatch_kernels
        layers["logits"] = nn.Linear(features, num_logits)
        if vbn.applies(self.virtual_batch_norm, "discriminator"):
            reference = vbn.ReferenceBatch(self.vbn_reference_size, data_shape, "data")
            layers = vbn.with_reference(layers, reference, "DCGAN discriminator")
        return init_normal(nn.Sequential(layers))

    def build_generator(self, data_shape: tuple[int, ...]) -> nn.Module:
        """z ``[B, z_dim]`` → x ``[B, C, H, W]`` in [-1, 1]."""
        channels, _, _ = _image_shape(data_shape)
        hs, ws, widths = self.layout(data_shape)
        n, k = len(widths), self.kernel_size
        c0 = widths[-1]
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["project"] = nn.Linear(self.z_dim, c0 * hs[-1] * ws[-1], bias=False)
        layers["reshape"] = nn.Unflatten(1, (c0, hs[-1], ws[-1]))
        layers["bn0"] = self._norm("generator", c0, track_running_stats=False)
        layers["act0"] = nn.ReLU()
        out_channels = [*reversed(widths[:-1]), channels]
        in_ch = c0
        for i, out_ch in enumerate(out_channels, start=1):
            src, dst = n - i + 1, n - i  # chain indices: this layer maps size chain[src] → chain[dst]
            last = i == n
            # Small maps: one dense product, or a GEMM + col2im (same numbers; much faster on CPU and under
            # vmap than the native kernel).
            pixels = (hs[src] * ws[src], hs[dst] * ws[dst])
            deconv = nn.ConvTranspose2d
            if _dense(in_ch, out_ch, pixels, DENSE_MAX_ELEMENTS_G):
                deconv = DenseConvTranspose2d
            elif pixels[0] <= GEMM_MAX_INPUT_PIXELS:
                deconv = GemmConvTranspose2d
            layers[f"deconv{i}"] = deconv(
                in_ch,
                out_ch,
                k,
                stride=2,
                padding=k // 2,
                output_padding=(
                    self._output_padding(hs[src], hs[dst], hs),
                    self._output_padding(ws[src], ws[dst], ws),
                ),
                bias=last,
            )
            if not last:
                layers[f"bn{i}"] = self._norm("generator", out_ch, track_running_stats=False)
                layers[f"act{i}"] = nn.ReLU()
            in_ch = out_ch
        layers["tanh"] = nn.Tanh()
        if vbn.applies(self.virtual_batch_norm, "generator"):
            reference = vbn.ReferenceBatch(self.vbn_reference_size, (self.z_dim,), "latent")
            layers = vbn.with_reference(layers, reference, "DCGAN generator")
        return init_normal(nn.Sequential(layers))

    def _norm(self, network: str, features: int, *, track_running_stats: bool) -> nn.Module:
        """Batch norm, or virtual batch norm where ``virtual_batch_norm`` covers ``network``."""
        if vbn.applies(self.virtual_batch_norm, network):
            return vbn.VirtualBatchNorm(features, self.vbn_reference_size, affine=self.bn_affine)
        return BatchNorm(features, affine=self.bn_affine, track_running_stats=track_running_stats)

    def _output_padding(self, size_in: int, target: int, chain: list[int]) -> int:
        # Transposed conv, stride 2, odd k, padding k//2: out = 2·in − 1 + output_padding.
        k = self.kernel_size
        pad = target - (2 * size_in - 1)
        out = (size_in - 1) * 2 - 2 * (k // 2) + k + pad
        if pad not in (0, 1) or out != target:
            raise ValueError(
                f"DCGAN generator cannot map {size_in} → {target} (spatial chain {chain}, kernel {k}): "
                f"would need output_padding={pad}"
            )
        return pad
