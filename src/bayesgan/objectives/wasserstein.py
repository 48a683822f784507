"""Wasserstein GAN (Arjovsky et al. 2017): a critic without sigmoid, kept Lipschitz by weight clipping, or by
a gradient penalty (WGAN-GP, Gulrajani et al. 2017)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from bayesgan.models.layers import frozen_running_stats
from bayesgan.objectives.base import Objective


@dataclass(frozen=True)
class Wasserstein(Objective):
    """Critic f (the discriminator's raw output s): D loss f(G(z)) − f(x), G loss −f(G(z)), all × ``scale``.

    Not a likelihood. For the Bayesian samplers the target is the Gibbs posterior exp(−U) with

        U_d = λ·[ N·mean(−f(x) + γ·(‖∇f(x̂)‖ − 1)²) + N_f·mean f(G(z)) ] + |θd|²/(2σ²)
        U_g = λ·N_g·mean(−f(G(z))) + |θg|²/(2σ²)

    λ = ``scale`` (the inverse temperature per observation; 1 by default) and γ = ``gradient_penalty`` (or 0).
    The ML sampler (Adam) is invariant to λ; an SG-MCMC sampler is not: λ sets how concentrated the Gibbs
    posterior is relative to the prior (docs/posterior.md, "Objectives").

    Lipschitz constraint, exactly one of:
      - ``clip`` = c: every discriminator weight is clamped to [−c, c] after each update (the WGAN paper:
        c = 0.01). With an SG-MCMC sampler this is a projected sampler, whose target is the Gibbs posterior
        restricted to the box [−c, c]^d (the prior truncated to it): projected Langevin (Bubeck et al. 2015)
        for SGLD; for SGHMC the momentum is not reflected at the walls, an approximation.
      - ``gradient_penalty`` = γ (WGAN-GP: γ = 10): the penalty on x̂ = εx + (1 − ε)G(z), ε ~ U(0, 1), one
        per real example, paired with a fake of a random generator copy. WGAN-GP asks for a critic
        without batch norm (the penalty is per example); with batch norm it is computed on the batch of x̂.
    ``n_critic``: critic updates per generator update (the WGAN paper: 5).
    Semi-supervised (the paper's W-DCGAN row): the critic value is s = logsumexp of the K class logits and
    the labels add the K-class cross-entropy, a likelihood; there is no fake class (docs/posterior.md).
    """

    name: ClassVar[str] = "wasserstein"
    scale: float = 1.0
    clip: float | None = 0.01
    gradient_penalty: float | None = None
    n_critic: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.scale > 0:
            raise ValueError(f"objective.scale must be > 0, got {self.scale}")
        for key in ("clip", "gradient_penalty"):
            value = getattr(self, key)
            if value is not None and not value > 0:
                raise ValueError(f"objective.{key} must be > 0 or null, got {value}")
        if (self.clip is None) == (self.gradient_penalty is None):
            raise ValueError(
                "objective=wasserstein needs exactly one Lipschitz constraint: objective.clip (WGAN, 0.01) "
                "or objective.gradient_penalty (WGAN-GP, 10), the other null; got "
                f"clip={self.clip}, gradient_penalty={self.gradient_penalty}"
            )

    def real(self, score: Tensor) -> Tensor:
        return -self.scale * score

    def fake(self, score: Tensor) -> Tensor:
        return self.scale * score

    def generator(self, score: Tensor) -> Tensor:
        return -self.scale * score

    @property
    def has_penalty(self) -> bool:
        return self.gradient_penalty is not None

    def penalty(
        self,
        critic: Callable[[Tensor], Tensor],
        real: Tensor,
        fake: Tensor,
        generator: torch.Generator,
    ) -> Tensor | None:
        """γ·λ·mean (‖∇_x̂ f_d(x̂)‖ − 1)² per discriminator copy d, [C_d] (one x̂ per real example)."""
        if self.gradient_penalty is None:
            return None
        shape = real.shape[:2] + (1,) * (real.dim() - 2)
        eps = torch.rand(shape, generator=generator, device=real.device)
        x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
        with frozen_running_stats():  # test-time statistics come from real data only
            scores = critic(x_hat)  # copy d sees its own x̂[d]
        (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
        norm = grad.flatten(2).norm(dim=-1)  # [C_d, n]
        return self.gradient_penalty * self.scale * ((norm - 1) ** 2).mean(-1)

    @torch.no_grad()
    def constrain(self, discriminator: nn.Module) -> None:
        if self.clip is not None:
            for p in discriminator.parameters():
                p.clamp_(-self.clip, self.clip)
