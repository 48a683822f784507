"""Model families. Each is a small dataclass ("architecture") that Hydra instantiates and that builds
freshly initialised generators and discriminators for a given data shape (the Ensemble calls the builders
once per copy, so every build draws new weights from the global torch RNG)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import nn

from bayesgan.models.dcgan import DCGAN
from bayesgan.models.mlp import MLP
from bayesgan.models.pacgan import PacGANToy


@runtime_checkable
class Architecture(Protocol):
    """What the GAN modules need from a model family."""

    z_dim: int

    def build_generator(self, data_shape: tuple[int, ...]) -> nn.Module:
        """z ``[B, z_dim]`` → x ``[B, *data_shape]`` (in [-1, 1] for images)."""
        ...

    def build_discriminator(self, data_shape: tuple[int, ...], num_logits: int) -> nn.Module:
        """x ``[B, *data_shape]`` → logits ``[B, num_logits]``."""
        ...


__all__ = ["DCGAN", "MLP", "Architecture", "PacGANToy"]
