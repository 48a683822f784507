"""Negative log-likelihood terms of the Bayesian GAN conditionals (Saatci & Wilson 2017, eq. 1-2 and §4).

Every term is a minibatch MEAN of per-example negative log-likelihoods. The samplers multiply its gradient
by the number of observations N, so the potential they sample is U = (N/n) * sum_i nll_i + prior: the paper's
N/n rescaling, with n the global batch size (DDP averages the per-rank means, which is the global mean).

Unsupervised: the discriminator has one logit r(x) with D(x) = sigmoid(r). Semi-supervised (Salimans et al.
2016): K class logits and an implicit fake logit fixed at 0, so D(x is real) = sigmoid(logsumexp(logits)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def realness(logits: Tensor, semi_supervised: bool) -> Tensor:
    """The logit of D(x is real): the single logit, or logsumexp of the K class logits."""
    return torch.logsumexp(logits, dim=-1) if semi_supervised else logits.squeeze(-1)


def discriminator_nll(
    real_logits: Tensor,
    fake_logits: Tensor,
    *,
    semi_supervised: bool,
    labelled_logits: Tensor | None = None,
    labels: Tensor | None = None,
) -> Tensor:
    """Per discriminator copy, the sum over generator copies g of the conditional's minibatch NLL.

    Shapes: real_logits [Cd, n, L]; fake_logits [Cd, Cg, n, L]; labelled_logits [Cd, n_l, K]. Returns [Cd].
    Algorithm 1 sums the gradients of log p(theta_d | z, X, theta_g^(g)) over the generator samples, and each
    of those conditionals carries the real-data (and labelled-data) likelihood, so those terms count Cg times
    and every generator's fakes count once.
    """
    num_generators = fake_logits.shape[1]
    real = F.softplus(-realness(real_logits, semi_supervised)).mean(-1)  # -log D(x)
    fake = F.softplus(realness(fake_logits, semi_supervised)).mean(-1).sum(-1)  # -log(1 - D(G(z)))
    data = real
    if semi_supervised:
        if labelled_logits is None or labels is None:
            raise ValueError("semi-supervised discriminator loss needs labelled logits and labels")
        data = data + supervised_nll(labelled_logits, labels)
    return num_generators * data + fake


def supervised_nll(labelled_logits: Tensor, labels: Tensor) -> Tensor:
    """K-class cross-entropy per copy, [C, n_l, K] -> [C] (the fake logit drops out: the example is real)."""
    copies = labelled_logits.shape[0]
    flat = F.cross_entropy(labelled_logits.flatten(0, 1), labels.repeat(copies), reduction="none")
    return flat.view(copies, -1).mean(-1)


def generator_nll(fake_logits: Tensor, *, semi_supervised: bool) -> Tensor:
    """Per generator copy, the non-saturating -log D(G(z)) summed over discriminator copies.

    fake_logits: [Cd, Cg, n, L] (every discriminator on every generator's batch). Returns [Cg].
    """
    return F.softplus(-realness(fake_logits, semi_supervised)).mean(-1).sum(0)
