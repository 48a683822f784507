"""Least-squares GAN (Mao et al. 2017), with the 0-1 coding a = 0, b = 1, c = 1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from bayesgan.objectives.base import Objective, check_smoothing


@dataclass(frozen=True)
class LeastSquares(Objective):
    """D: ½(s − 1)² on real, ½s² on fake; G: ½(s − 1)², with s the discriminator's raw output (no sigmoid).

    A likelihood: ½(s − t)² is −log N(t; s, 1) up to a constant, i.e. the label t (1 real, 0 fake) observed
    with unit-variance Gaussian noise around the discriminator's output. So U_d, U_g are negative
    log-likelihoods exactly as for the non-saturating objective (the dropped constant moves nothing).
    ``label_smoothing`` = α makes the real target 1 − α. Semi-supervised, s is logsumexp of the K class
    logits and the labels add the K-class cross-entropy (no fake class; docs/posterior.md).
    """

    name: ClassVar[str] = "least_squares"
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_smoothing(self.label_smoothing)

    def real(self, score: Tensor) -> Tensor:
        return 0.5 * (score - (1.0 - self.label_smoothing)) ** 2

    def fake(self, score: Tensor) -> Tensor:
        return 0.5 * score**2

    def generator(self, score: Tensor) -> Tensor:
        return 0.5 * (score - 1.0) ** 2
