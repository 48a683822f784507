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
    3x maxout(200, 5) discriminator, 2-D latent)."""

    z_dim: int = 2
    g_hidden: int = 400
    g_depth: int = 4
    d_hidden: int = 200
    d_depth: int = 3
    pieces: int = 5
    bn_momentum: float = 0.05

    def __post_init__(self) -> None:
        sizes = (self.z_dim, self.g_hidden, self.d_hidden, self.pieces)
        if min(sizes) < 1 or self.g_depth < 1 or self.d_depth < 1:
            raise ValueError(f"PacGANToy sizes, depths and pieces must be >= 1, got {self}")
        if not 0.0 < self.bn_momentum <= 1.0:
            raise ValueError(f"PacGANToy bn_momentum must be in (0, 1], got {self.bn_momentum}")

    def build_generator(self, data_shape: tuple[int, ...]) -> nn.Module:
        """z ``[B, z_dim]`` → x ``[B, *data_shape]`` (linear output, as the protocol)."""
        shape = _check_shape(data_shape)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        width = self.z_dim
        for i in range(self.g_depth):
            layers[f"fc{i}"] = nn.Linear(width, self.g_hidden, bias=False)
            layers[f"bn{i}"] = BatchNorm(self.g_hidden, affine=True, momentum=self.bn_momentum)
            layers[f"act{i}"] = nn.ReLU()
            width = self.g_hidden
        layers["out"] = nn.Linear(width, math.prod(shape))
        if len(shape) > 1:
            layers["reshape"] = nn.Unflatten(1, shape)
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
