"""The PacGAN / VEEGAN 2-D toy networks (metrics-and-protocols.md §1.1, PacGAN ``pacgan_task.py``).

G: z → [linear (no bias) → batch norm → ReLU] x ``g_depth`` (width ``g_hidden``) → linear (with bias).
D: x → maxout(``d_hidden`` units, ``pieces`` pieces) x ``d_depth`` → linear to the logits.
Weights N(0, 0.02²), biases 0; batch-norm running statistics as an exponential average with weight
``bn_momentum`` on the new batch (PacGAN: 0.05). The generator's batch norm has a learned scale and shift
(the hidden linear layers carry no bias, so the shift is the layer's only offset).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from bayesgan.models import virtual_batch_norm as vbn
from bayesgan.models.dcgan import init_normal
from bayesgan.models.layers import BatchNorm
from bayesgan.models.mlp import _check_shape


class Maxout(nn.Module):
    """``units`` maxout units, each the max over ``pieces`` affine pieces of the input."""

    def __init__(self, in_features: int, units: int, pieces: int) -> None:
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).unflatten(-1, (self.units, self.pieces)).amax(-1)

    def extra_repr(self) -> str:
        return f"units={self.units}, pieces={self.pieces}"


@dataclass
class PacGANToy:
    """PacGAN's 2-D toy generator and discriminator; defaults are the protocol's (4x400 BN-ReLU generator,
    3x maxout(200, 5) discriminator, 2-D latent). ``virtual_batch_norm="generator"`` replaces the generator's
    batch norm by virtual batch norm (learned scale and shift; ``bayesgan.models.virtual_batch_norm``) with a
    reference batch of ``vbn_reference_size`` latents; the maxout discriminator has no normalisation."""

    z_dim: int = 2
    g_hidden: int = 400
    g_depth: int = 4
    d_hidden: int = 200
    d_depth: int = 3
    pieces: int = 5
    bn_momentum: float = 0.05
    virtual_batch_norm: str = "none"  # none | generator (discriminator/both: refused, nothing to normalise)
    vbn_reference_size: int = 64

    def __post_init__(self) -> None:
        vbn.check_choice("PacGANToy", self.virtual_batch_norm, self.vbn_reference_size)
        if vbn.applies(self.virtual_batch_norm, "discriminator"):
            raise ValueError(
                "PacGANToy's maxout discriminator has no batch norm to make virtual: use "
                f"model.virtual_batch_norm=generator (got {self.virtual_batch_norm!r})"
            )
        sizes = (self.z_dim, self.g_hidden, self.d_hidden, self.pieces)
        if min(sizes) < 1 or self.g_depth < 1 or self.d_depth < 1:
            raise ValueError(f"PacGANToy sizes, depths and pieces must be >= 1, got {self}")
        if not 0.0 < self.bn_momentum <= 1.0:
            raise ValueError(f"PacGANToy bn_momentum must be in (0, 1], got {self.bn_momentum}")

    def build_generator(self, data_shape: tuple[int, ...]) -> nn.Module:
        """z ``[B, z_dim]`` → x ``[B, *data_shape]`` (linear output, as the protocol)."""
        shape = _check_shape(data_shape)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        width, virtual = self.z_dim, vbn.applies(self.virtual_batch_norm, "generator")
        for i in range(self.g_depth):
            layers[f"fc{i}"] = nn.Linear(width, self.g_hidden, bias=False)
            if virtual:
                layers[f"bn{i}"] = vbn.VirtualBatchNorm(self.g_hidden, self.vbn_reference_size, affine=True)
            else:
                layers[f"bn{i}"] = BatchNorm(self.g_hidden, affine=True, momentum=self.bn_momentum)
            layers[f"act{i}"] = nn.ReLU()
            width = self.g_hidden
        layers["out"] = nn.Linear(width, math.prod(shape))
        if len(shape) > 1:
            layers["reshape"] = nn.Unflatten(1, shape)
        if virtual:
            reference = vbn.ReferenceBatch(self.vbn_reference_size, (self.z_dim,), "latent")
            layers = vbn.with_reference(layers, reference, "PacGANToy generator")
        return init_normal(nn.Sequential(layers))

    def build_discriminator(self, data_shape: tuple[int, ...], num_logits: int) -> nn.Module:
        """x ``[B, *data_shape]`` → logits ``[B, num_logits]``."""
        shape = _check_shape(data_shape)
        if num_logits < 1:
            raise ValueError(f"num_logits must be positive, got {num_logits}")
        layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
        width = math.prod(shape)
        for i in range(self.d_depth):
            layers[f"maxout{i}"] = Maxout(width, self.d_hidden, self.pieces)
            width = self.d_hidden
        layers["logits"] = nn.Linear(width, num_logits)
        return init_normal(nn.Sequential(layers))
