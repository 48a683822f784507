"""What a GAN objective is: three per-example losses of the discriminator's score, plus optional hooks.

The score s(x) is the realness logit of ``bayesgan.losses.realness`` (the single logit, or logsumexp of the K
class logits in semi-supervised mode); for the Wasserstein critic it is the critic value. An objective says
what one example costs:

    real(s)       a real example, for the discriminator          (non-saturating: −log D(x) = softplus(−s))
    fake(s)       a generated example, for the discriminator     (softplus(s) = −log(1 − D))
    generator(s)  a generated example, for the generator         (softplus(−s) = −log D(G(z)))

``bayesgan.losses`` averages these over the minibatch and the other network's copies and weights them by
the observation counts (docs/posterior.md), so every objective defines its potentials U_d, U_g the same
way: U = Σ_terms (observations × mean per-example loss) + prior. For a likelihood-based objective the
per-example loss is a negative log-likelihood; otherwise U is a Gibbs potential (docs/posterior.md,
"Objectives").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Objective:
    """Base class of the objectives (``conf/objective/<name>.yaml``); subclasses define the three losses.

    ``n_critic``: discriminator updates per generator update (WGAN's critic iterations; 1 elsewhere). Every
    iteration consumes one real minibatch and updates the discriminator; the generator is updated in every
    ``n_critic``-th iteration only.
    """

    name: ClassVar[str] = "objective"
    n_critic: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.n_critic, int) or self.n_critic < 1:
            raise ValueError(f"objective.n_critic must be an integer >= 1, got {self.n_critic!r}")

    def real(self, score: Tensor) -> Tensor:
        raise NotImplementedError

    def fake(self, score: Tensor) -> Tensor:
        raise NotImplementedError

    def generator(self, score: Tensor) -> Tensor:
        raise NotImplementedError

    @property
    def has_penalty(self) -> bool:
        """Whether :meth:`penalty` returns a loss (callers skip preparing its inputs otherwise)."""
        return False

    def penalty(
        self,
        critic: Callable[[Tensor], Tensor],
        real: Tensor,
        fake: Tensor,
        generator: torch.Generator,
    ) -> Tensor | None:
        """An extra loss per real example of each discriminator copy [C_d] (a gradient penalty), or None.

        ``critic`` maps inputs [C_d, B, ...] (copy d sees row d) to scores [C_d, B]; ``real`` and ``fake``
        are [C_d, n, ...]: copy d's real examples and, paired with them, fakes; ``generator`` is the only
        source of randomness (a resumed run draws the same numbers)."""
        return None

    def constrain(self, discriminator: nn.Module) -> None:
        """Called after every discriminator update (e.g. weight clipping); nothing by default."""


def check_smoothing(label_smoothing: float) -> None:
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"objective.label_smoothing must be in [0, 1), got {label_smoothing}")
