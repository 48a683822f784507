"""Negative log-likelihood terms of the Bayesian GAN potentials U_d and U_g (derivation: docs/posterior.md).

Per discriminator copy (C_g generator copies, N real, N_f fake and N_s labelled observations):

    U_d = N·mean[−log D(x)] + (N_f/C_g)·Σ_g mean[−log(1 − D(G_g(z)))] + N_s·mean[−log p(y|x)] + |θd|²/(2σ²)

and per generator copy (C_d discriminator copies, N_g observations, non-saturating):

    U_g = (N_g/C_d)·Σ_d mean[−log D_d(G(z))] + |θg|²/(2σ²).

Each likelihood term is a minibatch MEAN (the paper's (N/n)·Σ estimate of a sum over N observations; DDP
averages the per-rank means, which is the global mean), and the sums over the other network's copies are
Monte-Carlo AVERAGES, so every term counts once whatever J_g, J_d and M are. The functions here return the
likelihood part divided by the total observation count W (``Observations.discriminator`` or ``.generator``):
a per-observation average L = U_lik / W. The samplers get num_data = W and form ∇U = W·∇L + θ/σ² (the
prior is theirs), so a step size given per observation means the same thing for every N, N_s, J_g, J_d, M.

Unsupervised: the discriminator has one logit r(x) with D(x) = sigmoid(r). Semi-supervised (Salimans et al.
2016): K class logits and an implicit fake logit fixed at 0, so D(x is real) = sigmoid(logsumexp(logits)).

The per-example losses above are the non-saturating objective's; ``objective=`` (``bayesgan.objectives``)
swaps them for another objective's (least squares, Wasserstein, ...). The weighting by observations, the
averages over copies and the division by W stay here, the same for every objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from bayesgan.objectives import NonSaturating, Objective

NON_SATURATING = NonSaturating()


@dataclass(frozen=True)
class Observations:
    """How many observations each likelihood term stands for (the weights of U_d and U_g).

    ``real`` = N (the unlabelled training set), ``fake`` = N_f (fakes seen by a discriminator),
    ``labelled`` = N_s (0 when unsupervised), ``generator`` = N_g (the generator's observations).
    """

    real: float
    fake: float
    labelled: float
    generator: float

    def __post_init__(self) -> None:
        for key in ("real", "fake", "generator"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} observations must be > 0, got {getattr(self, key)}")
        if self.labelled < 0:
            raise ValueError(f"labelled observations must be >= 0, got {self.labelled}")

    @property
    def discriminator(self) -> float:
        """W_d = N + N_f + N_s: the observations U_d's likelihood sums over (the D sampler's num_data)."""
        return self.real + self.fake + self.labelled


def realness(logits: Tensor, semi_supervised: bool) -> Tensor:
    """The logit of D(x is real): the single logit, or logsumexp of the K class logits."""
    return torch.logsumexp(logits, dim=-1) if semi_supervised else logits.squeeze(-1)


def discriminator_nll(
    real_logits: Tensor,
    fake_logits: Tensor,
    observations: Observations,
    *,
    semi_supervised: bool,
    labelled_logits: Tensor | None = None,
    labels: Tensor | None = None,
    objective: Objective = NON_SATURATING,
    real_penalty: Tensor | None = None,
) -> Tensor:
    """Per discriminator copy, L_d = U_lik,d / W_d: the likelihood part of U_d per observation.

    Shapes: real_logits [Cd, n, L]; fake_logits [Cd, Cg, n, L]; labelled_logits [Cd, n_l, K]. Returns [Cd].
    The fake term is averaged over the Cg generator copies (a Monte-Carlo estimate of the expectation over
    the generator posterior), so the real and labelled terms and the prior each count once.
    ``real_penalty`` [Cd] is an extra mean loss per real example (the objective's gradient penalty).
    """
    real = objective.real(realness(real_logits, semi_supervised)).mean(-1)  # −log D(x)
    fake = objective.fake(realness(fake_logits, semi_supervised)).mean(-1).mean(-1)  # −log(1 − D(G(z)))
    if real_penalty is not None:
        real = real + real_penalty
    potential = observations.real * real + observations.fake * fake
    if semi_supervised:
        if labelled_logits is None or labels is None:
            raise ValueError("semi-supervised discriminator loss needs labelled logits and labels")
        potential = potential + observations.labelled * supervised_nll(labelled_logits, labels)
    return potential / observations.discriminator


def supervised_nll(labelled_logits: Tensor, labels: Tensor) -> Tensor:
    """K-class cross-entropy per copy, [C, n_l, K] -> [C] (the fake logit drops out: the example is real)."""
    copies = labelled_logits.shape[0]
    flat = F.cross_entropy(labelled_logits.flatten(0, 1), labels.repeat(copies), reduction="none")
    return flat.view(copies, -1).mean(-1)


def generator_nll(
    fake_logits: Tensor, *, semi_supervised: bool, objective: Objective = NON_SATURATING
) -> Tensor:
    """Per generator copy, L_g = U_lik,g / N_g: the non-saturating −log D(G(z)) averaged over the
    discriminator copies (the N_g weight cancels: it is the G sampler's num_data).

    fake_logits: [Cd, Cg, n, L] (every discriminator on every generator's batch). Returns [Cg].
    """
    return objective.generator(realness(fake_logits, semi_supervised)).mean(-1).mean(0)


def feature_matching(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """Per generator copy, ‖mean f(x) − mean f(G(z))‖² (Salimans et al. 2016) averaged over the discriminator
    copies: real_features [Cd, F] and fake_features [Cd, Cg, F] are minibatch means. Returns [Cg], the
    per-observation loss L_g (U_g = N_g·L_g, a Gibbs potential; docs/posterior.md)."""
    return (fake_features - real_features.unsqueeze(1)).pow(2).sum(-1).mean(0)
