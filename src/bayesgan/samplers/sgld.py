"""Stochastic-gradient Langevin dynamics (Welling & Teh 2011)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from bayesgan.samplers.base import ParamsT, SamplerBase, resolve_lr


class SGLD(SamplerBase):
    """SGLD:  θ ← θ − (lr/2)·∇U + N(0, lr·T).

    The noise std is sqrt(lr·T), not lr (a common bug, Edward #722). ∇U = num_data·p.grad + p/prior_std²
    (gradient convention in ``bayesgan.samplers.base``); T = ``temperature`` targets exp(−U/T). No
    Metropolis correction, so the stationary law carries an O(lr) discretisation bias.
    """

    def __init__(
        self,
        params: ParamsT,
        *,
        num_data: float,
        batch_size: int,
        lr: float | None = None,
        prior_std: float | None = 1.0,
        temperature: float = 1.0,
        seed: int = 0,
        lr_per_datum: float | None = None,
        dataset_size: int | None = None,
    ) -> None:
        lr = resolve_lr(lr, lr_per_datum, num_data)
        defaults = {"lr": lr, "prior_std": prior_std, "temperature": temperature}
        super().__init__(
            params, defaults, num_data=num_data, batch_size=batch_size, seed=seed, dataset_size=dataset_size
        )

    def _update_group(
        self, params: list[Tensor], grads: list[Tensor], group: dict[str, Any], noise: list[Tensor] | None
    ) -> None:
        lr, temp, std = group["lr"], group["temperature"], group["prior_std"]
        # θ ← θ·(1 − lr/(2σ²)) − (lr/2)·N·grad + sqrt(lr·T)·ε: both terms read the old θ, in place.
        if std is not None:
            torch._foreach_mul_(params, 1.0 - 0.5 * lr / std**2)
        torch._foreach_add_(params, grads, alpha=-0.5 * lr * self.num_data)
        if noise is not None:
            torch._foreach_add_(params, noise, alpha=math.sqrt(lr * temp))
