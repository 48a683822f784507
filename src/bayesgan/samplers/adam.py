"""Adam-based optimizers: the ML-GAN baseline and a reproduction of the authors' released training rule."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from bayesgan.samplers.base import ParamsT, SamplerBase, check


class MLAdam(torch.optim.Adam):
    """ML-GAN baseline: exactly ``torch.optim.Adam(params, lr, betas=(0.5, 0.999))``.

    No prior, no noise: it steps on ``p.grad`` (the gradient of the per-observation average L, see
    ``bayesgan.samplers.base``) unchanged. Adam is invariant to the scale of L, so this maximises the same
    likelihood the Bayesian samplers sample (a MAP without prior). ``num_data``, ``batch_size``,
    ``dataset_size`` and ``seed`` are accepted for a uniform sampler interface and ignored.
    """

    def __init__(
        self,
        params: ParamsT,
        *,
        num_data: float | None = None,
        batch_size: int | None = None,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        eps: float = 1e-8,
        seed: int = 0,
        dataset_size: int | None = None,
    ) -> None:
        check(lr > 0, "lr", "> 0", lr)
        # Accepted only for a uniform interface, but a nonsensical value still signals a config error.
        check(num_data is None or num_data >= 1, "num_data", ">= 1", num_data)
        check(batch_size is None or batch_size >= 1, "batch_size", ">= 1", batch_size)
        super().__init__(params, lr=lr, betas=betas, eps=eps)

    @property
    def num_steps(self) -> int:
        """Completed steps (Adam's own per-parameter counter; 0 before the first step)."""
        return max((int(s["step"]) for s in self.state.values() if "step" in s), default=0)


class AuthorsRecipe(SamplerBase):
    """The authors' released optimizer rule (HEAD ``run_bgan_semi.py``/``bgan_semi.py``, reference §1.3),
    applied to THIS project's objective. It is NOT a posterior sampler, and it does NOT reproduce the
    released code's numbers: the objective it steps on is this project's per-observation average L
    (docs/posterior.md), not the released one (no logsumexp aggregation over the other network's copies, no
    ×J real-data term, no Huber feature matching, labels weighted by N_s). What it does reproduce is the
    optimizer around that objective. Each step applies Adam(β1=0.5) to

        g = p.grad + ∇(prior)/N + ∇(noise)/N,        N = ``dataset_size`` (the training set, as released)
        prior = Σ_tensors mean((W/σ)²)     (mean over ONE copy's elements, no ½),   ∇(prior)/N = 2W/(σ²·n·N)
        noise = Σ W⊙ε, ε ~ N(0, s²) fresh each step, s = sqrt(2·noise_alpha·noise_eta),  ∇(noise)/N = ε/N

    where n is the element count of one copy of the tensor (``stacked=True``: ``p[0].numel()``; else
    ``p.numel()``). ``noise_eta`` is NOT the learning rate (the code hard-codes α = 0.01, η = 2e-4, so
    s = 0.002). Learning rate: lr_t = lr·exp(−lr_decay·min(1, t·batch_size/N)), t = 0, 1, ... the step index,
    so it decays by e^{-3} over the first epoch and then stays. From step ``momentum_after`` on the update is
    momentum SGD v ← momentum·v − lr_t·g, θ ← θ + v, with v starting at 0; ``None`` = Adam throughout. HEAD
    switches at 5000 in semi-supervised runs only (its unsupervised script stays on Adam), and
    ``conf/sampler/authors_recipe.yaml`` does the same. Because L averages over the copies, neither phase's
    step depends on J_g, J_d or M (nor does the released code's: its logsumexp gradient weights sum to 1).

    The noise and prior are negligible: the gradient noise std is 0.002/N (about 4e-8 for CIFAR-10,
    N = 50 000), i.e. ~1e-12 per step in velocity after the lr decay, many orders of magnitude below a
    correct SGHMC noise, and the mean-per-tensor prior is ~numel/2 times weaker than a Gaussian prior. The
    ensemble's diversity comes from independent initialisation, different z per copy and the multi-D/G
    coupling, not from this rule.

    Adam applies ε as PyTorch does (after bias-correcting sqrt(v)); TF adds it before, which only matters
    for gradients near 1e-8.
    """

    def __init__(
        self,
        params: ParamsT,
        *,
        num_data: float,
        batch_size: int,
        lr: float,
        prior_std: float | None = 1.0,
        noise_alpha: float = 0.01,
        noise_eta: float = 2e-4,
        lr_decay: float = 3.0,
        betas: tuple[float, float] = (0.5, 0.999),
        eps: float = 1e-8,
        momentum: float = 0.5,
        momentum_after: int | None = 5000,
        stacked: bool = True,
        seed: int = 0,
        dataset_size: int | None = None,
    ) -> None:
        defaults = {
            "lr": lr, "prior_std": prior_std, "noise_alpha": noise_alpha, "noise_eta": noise_eta,
            "lr_decay": lr_decay, "betas": tuple(betas), "eps": eps, "momentum": momentum,
            "momentum_after": momentum_after, "stacked": stacked,
        }  # fmt: skip
        super().__init__(
            params, defaults, num_data=num_data, batch_size=batch_size, seed=seed, dataset_size=dataset_size
        )

    def _validate_group(self, group: dict[str, Any]) -> None:
        super()._validate_group(group)
        for key in ("noise_alpha", "noise_eta", "lr_decay", "eps"):
            check(group[key] >= 0, key, ">= 0", group[key])
        b1, b2 = group["betas"]
        check(0 <= b1 < 1 and 0 <= b2 < 1, "betas", "in [0, 1) x [0, 1)", group["betas"])
        check(0 <= group["momentum"] < 1, "momentum", "in [0, 1)", group["momentum"])
        after = group["momentum_after"]
        check(after is None or after >= 0, "momentum_after", ">= 0 or None", after)

    def lr_at(self, t: int, group_index: int = 0) -> float:
        """Learning rate the step with index ``t`` uses: lr·exp(−lr_decay·min(1, t·batch_size/N))."""
        group = self.param_groups[group_index]
        return self._lr_at(t, group)

    def _lr_at(self, t: int, group: dict[str, Any]) -> float:
        epochs = min(1.0, t * self.batch_size / self.dataset_size)
        return group["lr"] * math.exp(-group["lr_decay"] * epochs)

    def _needs_noise(self, group: dict[str, Any]) -> bool:
        return group["noise_alpha"] * group["noise_eta"] > 0

    def _update(
        self, p: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any], noise: Tensor | None
    ) -> None:
        t = self.num_steps
        lr_t = self._lr_at(t, group)
        n = self.dataset_size
        g = grad.clone()
        if group["prior_std"] is not None:
            per_copy = p[0].numel() if group["stacked"] and p.dim() > 0 else p.numel()
            g.add_(p, alpha=2.0 / (group["prior_std"] ** 2 * per_copy * n))
        if noise is not None:
            g.add_(noise, alpha=math.sqrt(2.0 * group["noise_alpha"] * group["noise_eta"]) / n)

        after = group["momentum_after"]
        if after is not None and t >= after:
            if "exp_avg" in state:  # Adam moments are dead weight after the switch
                del state["exp_avg"], state["exp_avg_sq"]
            v = state.get("momentum_buffer")
            if v is None:
                v = state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            v.mul_(group["momentum"]).add_(g, alpha=-lr_t)
            p.add_(v)
            return

        # Adam, written as torch's single-tensor implementation.
        b1, b2 = group["betas"]
        if "exp_avg" not in state:
            state["adam_step"] = 0
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["adam_step"] += 1
        k = state["adam_step"]
        m, v2 = state["exp_avg"], state["exp_avg_sq"]
        m.lerp_(g, 1.0 - b1)
        v2.mul_(b2).addcmul_(g, g, value=1.0 - b2)
        denom = (v2.sqrt() / math.sqrt(1.0 - b2**k)).add_(group["eps"])
        p.addcdiv_(m, denom, value=-lr_t / (1.0 - b1**k))
