"""Fully connected generator and discriminator (reference §3.3: the authors' synthetic MLPs).

For vector data (2-D points, the 100-D synthetic experiment) and usable on small images: the discriminator
flattens its input; the generator reshapes its output to the data shape and, for images (C, H, W), ends in
tanh so samples lie in [-1, 1]. Vector outputs stay linear, as in the authors' synthetic generator.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch import nn

from bayesgan.models import virtual_batch_norm as vbn
from bayesgan.models.dcgan import init_normal
from bayesgan.models.layers import MinibatchDiscrimination

_ACTIVATIONS: dict[str, Callable[[float], nn.Module]] = {
    "leaky_relu": lambda slope: nn.LeakyReLU(slope),
    "relu": lambda _: nn.ReLU(),
    "elu": lambda _: nn.ELU(),
    "gelu": lambda _: nn.GELU(),
    "silu": lambda _: nn.SiLU(),
    "softplus": lambda _: nn.Softplus(),
    "tanh": lambda _: nn.Tanh(),
}


def _check_shape(data_shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in data_shape)
    if len(shape) == 0 or min(shape) < 1:
        raise ValueError(f"MLP needs a non-empty data_shape of positive sizes, got data_shape={shape}")
    return shape


@dataclass
class MLP:
    """MLP family: ``depth`` hidden layers of width ``hidden``, no batch norm, N(0, 0.02²) init.

    Presets: Edward's GAN (hidden=128, depth=1) and the paper's synthetic experiment (hidden=1000, depth=1,
    z_dim=10). ``depth=0`` gives linear maps. ``virtual_batch_norm`` ("discriminator", "generator", "both")
    puts virtual batch norm with a learnable scale and shift (``bayesgan.models.virtual_batch_norm``) between
    every hidden linear layer of that network and its activation, with a reference batch of
    ``vbn_reference_size`` examples.
    """

    z_dim: int = 10
    hidden: int = 128
    depth: int = 1
    activation: str = "leaky_relu"
    negative_slope: float = 0.2
    minibatch_kernels: int = 0  # > 0: minibatch discrimination before the discriminator's output layer
    minibatch_kernel_dim: int = 5
    virtual_batch_norm: str = "none"  # none | discriminator | generator | both (Salimans et al. 2016)
    vbn_reference_size: int = 64

    def __post_init__(self) -> None:
        vbn.check_choice("MLP", self.virtual_batch_norm, self.vbn_reference_size)
        if self.minibatch_kernels < 0 or self.minibatch_kernel_dim < 1:
            raise ValueError(
                f"MLP minibatch_kernels must be >= 0 and minibatch_kernel_dim >= 1, got "
                f"{self.minibatch_kernels} and {self.minibatch_kernel_dim}"
            )
        if self.z_dim < 1 or self.hidden < 1 or self.depth < 0:
            raise ValueError(f"MLP needs z_dim ≥ 1, hidden ≥ 1 and depth ≥ 0, got {self}")
        if self.activation not in _ACTIVATIONS:
            choices = sorted(_ACTIVATIONS)
            raise ValueError(f"unknown MLP activation {self.activation!r}; choose from {choices}")

    def _stack(self, in_dim: int, out_dim: int, network: str) -> OrderedDict[str, nn.Module]:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        virtual = vbn.applies(self.virtual_batch_norm, network)
        for i in range(self.depth):
            layers[f"fc{i}"] = nn.Linear(in_dim if i == 0 else self.hidden, self.hidden)
            if virtual:
                layers[f"vbn{i}"] = vbn.VirtualBatchNorm(self.hidden, self.vbn_reference_size, affine=True)
            layers[f"act{i}"] = _ACTIVATIONS[self.activation](self.negative_slope)
        layers["out"] = nn.Linear(self.hidden if self.depth else in_dim, out_dim)
        return layers

    def build_generator(self, data_shape: tuple[int, ...]) -> nn.Module:
        """z ``[B, z_dim]`` → x ``[B, *data_shape]`` (tanh for images, linear otherwise)."""
        shape = _check_shape(data_shape)
        layers = self._stack(self.z_dim, math.prod(shape), "generator")
        if len(shape) == 3:
            layers["tanh"] = nn.Tanh()
        if len(shape) > 1:
            layers["reshape"] = nn.Unflatten(1, shape)
        return self._finish(layers, "generator", (self.z_dim,))

    def build_discriminator(self, data_shape: tuple[int, ...], num_logits: int) -> nn.Module:
        """x ``[B, *data_shape]`` → logits ``[B, num_logits]``."""
        shape = _check_shape(data_shape)
        if num_logits < 1:
            raise ValueError(f"num_logits must be positive, got {num_logits}")
        layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
        layers.update(self._stack(math.prod(shape), num_logits, "discriminator"))
        if self.minibatch_kernels:
            out = layers.pop("out")
            layers["minibatch"] = MinibatchDiscrimination(
                out.in_features, self.minibatch_kernels, self.minibatch_kernel_dim
            )
            layers["out"] = nn.Linear(out.in_features + self.minibatch_kernels, num_logits)
        return self._finish(layers, "discriminator", shape)

    def _finish(
        self, layers: OrderedDict[str, nn.Module], network: str, inputs: tuple[int, ...]
    ) -> nn.Module:
        # With virtual batch norm the reference batch (data for D, latents for G) runs through the layers too.
        if vbn.applies(self.virtual_batch_norm, network):
            source = "data" if network == "discriminator" else "latent"
            reference = vbn.ReferenceBatch(self.vbn_reference_size, inputs, source)
            layers = vbn.with_reference(layers, reference, f"MLP {network}")
        return init_normal(nn.Sequential(layers))
