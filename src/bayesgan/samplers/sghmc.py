"""Stochastic-gradient Hamiltonian Monte Carlo (Chen, Fox & Guestrin 2014), momentum form."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from bayesgan.samplers.base import ParamsT, SamplerBase, resolve_lr


class SGHMC(SamplerBase):
    """SGHMC in the momentum ("v") parameterisation of Chen et al. (2014), eq. 15, with β̂ = 0:

        v ← (1 − a)·v − lr·∇U + N(0, 2·a·lr·T)
        θ ← θ + v

    ``lr`` is η = ε²/M, ``friction`` is a = ε·C/M, ``temperature`` T scales the noise so the chain targets
    exp(−U/T). ∇U = num_data·p.grad + p/prior_std² (gradient convention in ``bayesgan.samplers.base``).
    v starts at 0. The minibatch gradient noise (variance ≈ lr²·Var[∇Ũ] per step) is assumed small next to
    the injected 2·a·lr·T; keep lr small or friction large when the minibatch gradient is very noisy.
    The paper's Algorithm 1 uses this form. Its friction value is not reliably known here (the authors'
    code uses α = 0.01 only inside its negligible noise term and steps with momentum 0.5, i.e. a = 0.5; see
    ``AuthorsRecipe``); the default a = 0.1 is this project's choice: a larger friction damps the unmodelled
    minibatch-gradient noise, whose excess heat is ≈ lr·Var[∇Ũ]/(2a).
    """

    def __init__(
        self,
        params: ParamsT,
        *,
        num_data: float,
        batch_size: int,
        lr: float | None = None,
        friction: float = 0.1,
        prior_std: float | None = 1.0,
        temperature: float = 1.0,
        seed: int = 0,
        lr_per_datum: float | None = None,
        dataset_size: int | None = None,
    ) -> None:
        lr = resolve_lr(lr, lr_per_datum, num_data)
        defaults = {"lr": lr, "friction": friction, "prior_std": prior_std, "temperature": temperature}
        super().__init__(
            params, defaults, num_data=num_data, batch_size=batch_size, seed=seed, dataset_size=dataset_size
        )

    def _update_group(
        self, params: list[Tensor], grads: list[Tensor], group: dict[str, Any], noise: list[Tensor] | None
    ) -> None:
        lr, a, temp, std = group["lr"], group["friction"], group["temperature"], group["prior_std"]
        velocities = []
        for p in params:
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            velocities.append(state["momentum_buffer"])
        # v ← (1 − a)·v − lr·(N·grad + θ/σ²) + sqrt(2·a·lr·T)·ε, term by term in place: no temporaries.
        torch._foreach_mul_(velocities, 1.0 - a)
        torch._foreach_add_(velocities, grads, alpha=-lr * self.num_data)
        if std is not None:
            torch._foreach_add_(velocities, params, alpha=-lr / std**2)
        if noise is not None:
            torch._foreach_add_(velocities, noise, alpha=math.sqrt(2.0 * a * lr * temp))
        torch._foreach_add_(params, velocities)
