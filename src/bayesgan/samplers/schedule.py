"""Step-size schedules for the samplers: torch learning-rate schedulers over ``group["lr"]``.

Every sampler reads its step size η from ``group["lr"]`` at each step (SGHMC's and SGLD's injected noise
scale with it too, as their discretisations require), so a standard ``torch.optim.lr_scheduler`` schedule
changes η consistently, and Lightning saves and restores its state with the checkpoint.
"""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class PolynomialDecay(LambdaLR):
    """η_t = η_0·(1 + t/offset)^(−gamma) at step t = 0, 1, ... (the step's index, one step per iteration).

    Welling & Teh (2011)'s SGLD schedule ε_t = a(b + t)^(−γ) with b = ``offset`` and a = η_0·b^γ: the
    step sizes sum to infinity and their squares do not for γ in (0.5, 1], the condition under which SGLD
    converges to the posterior without a Metropolis correction; γ = 0 is the constant step. η_0 is the
    sampler's own ``lr`` (from ``lr_per_datum``), so the schedule only shapes it over time.
    """

    def __init__(self, optimizer: Optimizer, gamma: float = 0.55, offset: float = 1000.0) -> None:
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"sampler.step_schedule.gamma must be in [0, 1] (0: constant), got {gamma}")
        if not offset > 0:
            raise ValueError(f"sampler.step_schedule.offset must be > 0 (in steps), got {offset}")
        self.gamma, self.offset = float(gamma), float(offset)
        super().__init__(optimizer, self.factor)

    def factor(self, step: int) -> float:
        """η_t / η_0 at step ``step``."""
        return (1.0 + step / self.offset) ** -self.gamma
