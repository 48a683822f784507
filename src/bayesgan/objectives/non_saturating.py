"""The non-saturating GAN objective (Goodfellow et al. 2014, §3): the Bayesian GAN's likelihood."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor

from bayesgan.objectives.base import Objective, check_smoothing


@dataclass(frozen=True)
class NonSaturating(Objective):
    """D: −log D(x) on real, −log(1 − D(G(z))) on fake; G: −log D(G(z)) (docs/posterior.md, the default).

    These are negative log-likelihoods: the paper's p(θd | ...) ∝ Π D(x)·Π (1 − D(G(z))) and
    p(θg | ...) ∝ Π D(G(z)). ``label_smoothing`` = α > 0 is one-sided label smoothing (Salimans et al. 2016):
    a real example's target is 1 − α, so its loss is the cross-entropy (1 − α)·(−log D) + α·(−log(1 − D)).
    That is no longer a likelihood of the data but a Gibbs loss at temperature 1; fakes keep target 0.
    ``feature_matching`` (Salimans et al. 2016): the generator's loss is instead ‖mean f(x) − mean f(G(z))‖²
    over the discriminator's penultimate features f (every layer but the last), averaged over the
    discriminator copies: a Gibbs potential U_g = N_g·that loss (docs/posterior.md).
    """

    name: ClassVar[str] = "non_saturating"
    label_smoothing: float = 0.0
    feature_matching: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_smoothing(self.label_smoothing)

    def real(self, score: Tensor) -> Tensor:
        loss = F.softplus(-score)
        if self.label_smoothing:
            loss = (1 - self.label_smoothing) * loss + self.label_smoothing * F.softplus(score)
        return loss

    def fake(self, score: Tensor) -> Tensor:
        return F.softplus(score)

    def generator(self, score: Tensor) -> Tensor:
        return F.softplus(-score)
