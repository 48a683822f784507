"""ProbGAN (He, Wang, Lee & Tian, ICLR 2019) beside the Bayesian GAN's Algorithm 1.

The copies, samplers (SGHMC by default), posterior bank, seeding, DDP handling and checkpoints are
``BayesGAN``'s; two things differ (the potentials, next to the Bayesian GAN's: docs/posterior.md, "ProbGAN"):

- **The discriminator is trained against the model-averaged generator distribution.** The fakes of all C_g
  generator copies are pooled into one batch from the mixture (1/C_g)·Σ_g p_{G_g}, and every discriminator
  copy sees it as one batch, so its batch norm normalises over the mixture (the released code,
  hehaodele/ProbGAN ``train.py``, concatenates its generators' outputs the same way). The generator step
  evaluates the discriminators on the same pooled batch; each generator copy's loss is the mean over its own
  part of it.
- **The generator's prior is its previous iterate** (the "inherited" prior):
  q_g^(t+1)(θ) ∝ exp(−U_lik,g(θ; D^(t))) · q_g^(t)(θ). −log q_g^(t) has no closed form; ``prior`` chooses an
  approximation, counted like λ·N_g observations (λ = ``prior_weight``), so W_g = (1 + λ)·N_g:
  - ``psa``, partial summation: unrolled, −log q_g^(t)(θ) = Σ_{τ<t} U_lik,g(θ; D^(τ)) + const; the sum over
    past discriminators is replaced by λ·N_g times the mean generator loss under the ``history_size`` most
    recent discriminator snapshots, taken every ``history_every`` iterations (the first at iteration 0). The
    released code's rule is this with λ = 1 and, instead of snapshots, a running average of its
    discriminators' output-layer weights over all history, refreshed every 10 iterations (its shared trunk
    makes that an average of logits; with independent copies here, whole snapshots are kept instead).
  - ``gma``, Gaussian mixture: q_g^(t) ≈ an equal-weight mixture of isotropic Gaussians of std ``gma_std``
    centred at the generator copies' parameters at the last refresh (every ``history_every`` iterations),
    raised to the power λ·N_g: −log q ≈ λ·N_g·(−log Σ_k exp(−|θ − μ_k|²/(2s²))), constants dropped. (The
    paper's GMA is recalled, not checked; the N_g scaling and the refresh interval are this project's.)
  - ``none``: no inherited prior. With it the update equals BayesGAN's whenever pooling changes nothing:
    one generator copy, or a discriminator without batch norm (tested).
The sampler's Gaussian prior |θ|²/(2σ²) stays in every case: it is q_g^(0), the root of the recursion.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from bayesgan import losses
from bayesgan.models import Architecture
from bayesgan.models.layers import frozen_running_stats
from bayesgan.module import BayesGAN
from bayesgan.posterior import PosteriorSpec

PRIORS = ("psa", "gma", "none")


def _number(key: str, value: Any, kind: type = float) -> Any:
    """``value`` as a ``kind``, or a one-line error naming ``method.<key>``."""
    try:
        if isinstance(value, bool) or (kind is int and float(value) != int(value)):
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"method.{key} must be {'an integer' if kind is int else 'a number'}, got {value!r}"
        ) from None


class StateHistory(nn.Module):
    """The ``size`` most recent snapshots of a stacked ensemble state, held as buffers: they move with the
    module, are saved in its state dict (exact resume) and are identical on every DDP rank."""

    def __init__(self, template: Mapping[str, Tensor], size: int) -> None:
        super().__init__()
        self.size, self.names = size, list(template)
        for name, value in template.items():
            self.register_buffer(self._slot(name), value.detach().unsqueeze(0).repeat_interleave(size, 0))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))
        self.register_buffer("next_slot", torch.zeros((), dtype=torch.long))

    @staticmethod
    def _slot(name: str) -> str:
        return "h__" + name.replace(".", "__")  # buffer names may not contain dots

    @torch.no_grad()
    def push(self, state: Mapping[str, Tensor]) -> None:
        """Store ``state`` in place of the oldest snapshot once ``size`` are held."""
        slot = int(self.next_slot)
        for name in self.names:
            getattr(self, self._slot(name))[slot].copy_(state[name])
        self.next_slot.fill_((slot + 1) % self.size)
        self.filled.fill_(min(self.size, int(self.filled) + 1))

    @torch.no_grad()
    def reset(self, state: Mapping[str, Tensor]) -> None:
        """Hold ``state`` only (every slot set to it, as at construction, so no buffer keeps old values)."""
        for name in self.names:
            held = getattr(self, self._slot(name))
            held.copy_(state[name].unsqueeze(0).expand_as(held))
        self.filled.fill_(0)
        self.next_slot.fill_(0)
        self.push(state)

    def states(self) -> list[dict[str, Tensor]]:
        """The held snapshots (views), in slot order: only their mean is used, which ignores the order."""
        return [
            {name: getattr(self, self._slot(name))[i] for name in self.names} for i in range(int(self.filled))
        ]


class ProbGAN(BayesGAN):
    """ProbGAN's inference on BayesGAN's machinery; the keyword arguments beyond ``BayesGAN``'s are the
    ``method`` config's (conf/method/probgan.yaml): the inherited prior's approximation and its settings."""

    def __init__(
        self,
        architecture: Architecture,
        posterior: PosteriorSpec,
        *,
        prior: str = "psa",
        prior_weight: float = 1.0,
        history_size: int = 4,
        history_every: int = 50,
        gma_std: float = 1.0,
        **common: Any,
    ) -> None:
        if prior not in PRIORS:
            raise ValueError(f"method.prior must be one of {', '.join(PRIORS)}, got {prior!r}")
        prior_weight, gma_std = _number("prior_weight", prior_weight), _number("gma_std", gma_std)
        history_size, history_every = (
            _number("history_size", history_size, int),
            _number("history_every", history_every, int),
        )
        if not (0 < prior_weight < math.inf):
            raise ValueError(
                f"method.prior_weight must be > 0 and finite (method.prior=none drops the inherited prior), "
                f"got {prior_weight}"
            )
        for key, value in (("history_size", history_size), ("history_every", history_every)):
            if value < 1:
                raise ValueError(f"method.{key} must be >= 1, got {value}")
        if not (0 < gma_std < math.inf):
            raise ValueError(f"method.gma_std must be > 0 and finite, got {gma_std}")
        super().__init__(architecture, posterior, **common)
        self.prior, self.prior_weight, self.gma_std = prior, prior_weight, gma_std
        self.history_every = history_every
        self.history: StateHistory | None = None
        if prior == "none":
            return
        # The inherited prior counts like λ·N_g observations: the G sampler's W (and so η) includes them.
        generator = (1 + self.prior_weight) * self.observations.generator
        self.observations = dataclasses.replace(self.observations, generator=generator)
        size = history_size if prior == "psa" else 1
        self.history = StateHistory(self._inherited_source(), size)
        self.history.push(self._inherited_source())  # iteration 0's networks

    def _inherited_source(self) -> dict[str, Tensor]:
        """What the inherited prior remembers: the discriminators (psa) or the generators' weights (gma)."""
        if self.prior == "psa":
            return self.discriminator.current_state(detach=True)
        state = self.generator.current_state(detach=True)
        return {name: state[name] for name in self.generator.param_names}

    def on_fit_start(self) -> None:
        super().on_fit_start()  # fills virtual batch norm's reference batches, if any
        if self.history is not None and self.iteration == 0:
            # Iteration 0's snapshot was taken before they were filled (NaN): take it again (a fresh run's
            # weights have not moved yet, so without virtual batch norm this changes nothing).
            self.history.reset(self._inherited_source())

    # -- the potentials -------------------------------------------------------------------------------------
    def fake_logits(
        self, fakes: Tensor, *, detach: bool = False, state: Mapping[str, Tensor] | None = None
    ) -> Tensor:
        """Every discriminator copy (or those of ``state``, a snapshot) on the pooled fakes of all generator
        copies, as ONE batch from the mixture: logits [Cd, Cg, n, L], unpooled for per-copy means."""
        with frozen_running_stats():  # running statistics come from real data only, as in BayesGAN
            logits = self.discriminator(fakes.flatten(0, 1), shared_input=True, detach=detach, state=state)
        return logits.unflatten(1, fakes.shape[:2])

    def generator_loss(self, fakes: Tensor) -> Tensor:
        """Per generator copy, L_g = U_lik,g / W_g with W_g = (1 + λ)·N_g: the current discriminators' term
        and the inherited prior's, (L_now + λ·L_inherited) / (1 + λ). Returns [Cg]."""
        now = super().generator_loss(fakes)
        if self.history is None:
            return now
        return (now + self.prior_weight * self.inherited_nll(fakes)) / (1 + self.prior_weight)

    def inherited_nll(self, fakes: Tensor) -> Tensor:
        """−log q_g^(t) per generator copy and per λ·N_g observations [Cg], up to a constant."""
        assert self.history is not None
        if self.prior == "psa":
            per_snapshot = [
                losses.generator_nll(
                    self.fake_logits(fakes, state=s),
                    semi_supervised=self.semi_supervised,
                    objective=self.objective,
                )
                for s in self.history.states()
            ]
            return torch.stack(per_snapshot).mean(0)
        return self.gaussian_mixture_nll(self.history.states()[0])

    def gaussian_mixture_nll(self, centres: Mapping[str, Tensor]) -> Tensor:
        """−log Σ_k exp(−|θ_j − μ_k|²/(2s²)) for each generator copy j [Cg]: the GMA's inherited prior, its
        normalising constant dropped. Its gradient is Σ_k w_jk·(θ_j − μ_k)/s², w_j = softmax_k of the
        exponents: mostly a pull back toward the copy's own previous iterate."""
        params = self.generator.current_state()
        squared = []
        for k in range(self.generator.num_copies):  # one centre at a time: memory C_g·P, not C_g²·P
            distance = [
                ((params[n] - centres[n][k]) ** 2).flatten(1).sum(1) for n in self.generator.param_names
            ]
            squared.append(torch.stack(distance).sum(0))
        return -torch.logsumexp(-torch.stack(squared, dim=1) / (2 * self.gma_std**2), dim=1)

    # -- the inherited prior's refresh ----------------------------------------------------------------------
    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        super().training_step(batch, batch_idx)
        if self.history is not None and self.diverged_at is None and self.iteration % self.history_every == 0:
            self.history.push(self._inherited_source())
