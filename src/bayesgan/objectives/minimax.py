"""The original, saturating minimax objective (Goodfellow et al. 2014, eq. 1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor

from bayesgan.objectives.non_saturating import NonSaturating


@dataclass(frozen=True)
class Minimax(NonSaturating):
    """D as the non-saturating objective; G minimises log(1 − D(G(z))) = −softplus(s).

    The discriminator's potential is the same likelihood. The generator's is not a likelihood: U_g =
    N_g·mean[log(1 − D(G(z)))] is a Gibbs potential exp(−U_g) = Π 1/(1 − D(G(z))) at temperature 1, which
    is unbounded as D(G(z)) → 1 (the Gaussian prior on θg does not bound it). Its gradient vanishes where D
    confidently rejects the fakes: the reason the non-saturating form exists.
    """

    name: ClassVar[str] = "minimax"

    def generator(self, score: Tensor) -> Tensor:
        return -F.softplus(score)
