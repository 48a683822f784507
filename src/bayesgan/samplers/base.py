"""Shared machinery of the SG-MCMC samplers: validation, the private noise generator, state and stepping.

Gradient convention (every sampler in this package relies on it; derivation in docs/posterior.md)
-----------------------------------------------------------------------------------------------------
``p.grad`` holds the gradient of a per-observation average L = U_lik / W: the likelihood part of the
potential divided by W = ``num_data``, the number of observations that likelihood sums over (for the
Bayesian GAN W_d = N + N_f + N_s and W_g = N_g; for an ordinary model, the dataset size with L the
minibatch-mean NLL). Minibatch means are over the *global* minibatch (under DDP, the all-reduced mean over
ranks of per-rank means). The potential is

    U(θ) = W·L + |θ|²/(2σ²),      so a sampler forms   ∇U = num_data · p.grad + p / prior_std²

(prior_std=None: flat prior, no second term). ``dataset_size`` (default ``num_data``) is the training-set
size, which only the authors' recipe reads (its learning-rate schedule counts epochs).

Step size: ``lr_per_datum`` gives η = lr_per_datum / W, so the likelihood part of a step is
η·∇U_lik = lr_per_datum·∇L, the same for any W, i.e. whatever N, N_s, J_g, J_d, M (one step "per
observation").

Parameters may be STACKED ensembles (leading copy dimension ``[C, ...]``). Every update is elementwise, so
one optimizer advances C independent chains at once.

Randomness
----------
Noise is drawn only from the sampler's own ``torch.Generator``, created lazily on the parameters' device and
seeded with ``seed``: one ``normal_`` per parameter group and step, over a flat buffer that the sampler keeps
between steps and hands out as views shaped like the parameters with a gradient, in order (a per-tensor draw
costs an allocation and page faults per tensor, which at paper scale is a visible part of the step).
The global RNG is never touched, so DDP replicas built with the same seed apply the
same noise and stay identical, and callbacks that draw random numbers cannot perturb the chain.

State dict
----------
``state_dict()`` is torch's (``state``: per-parameter buffers, ``param_groups``: hyperparameters) plus one
extra key ``"sampler"`` = ``{"num_steps": int, "seed": int, "generator_state": uint8 tensor}`` (the last
only once a generator exists). Everything is a tensor or a number, so ``torch.load(weights_only=True)``
works. Loading into a freshly built sampler and continuing reproduces an uninterrupted run bit for bit.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]
STATE_KEY = "sampler"


def check(ok: bool, key: str, requirement: str, value: object) -> None:
    """Raise a one-line ``ValueError`` naming ``key`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{key} must be {requirement}, got {value!r}")


def check_common(group: dict[str, Any]) -> None:
    """Validate the hyperparameters several samplers share, whichever of them ``group`` has."""
    check(group["lr"] > 0, "lr", "> 0", group["lr"])
    if "friction" in group:
        check(0 < group["friction"] <= 1, "friction", "in (0, 1]", group["friction"])
    if "prior_std" in group:
        std = group["prior_std"]
        check(std is None or std > 0, "prior_std", "> 0 or None", std)
    if "temperature" in group:
        check(group["temperature"] >= 0, "temperature", ">= 0", group["temperature"])


def resolve_lr(lr: float | None, lr_per_datum: float | None, num_data: float) -> float:
    """The step size η from ``lr`` itself or from ``lr_per_datum`` = η·W (exactly one of the two).

    ∇U grows with W, the observation count ``num_data``, so a step size that works for one W is W-times
    too large for one W times bigger; ``lr_per_datum`` means the same for every W (η = lr_per_datum / W).
    """
    # A bad value is named before the either-or rule, which it would otherwise hide (lr=-1 alone).
    for key, value in (("lr", lr), ("lr_per_datum", lr_per_datum)):
        check(value is None or 0 < value < math.inf, key, "> 0 and finite", value)
    if (lr is None) == (lr_per_datum is None):
        raise ValueError(
            f"give exactly one of lr and lr_per_datum (set the other to null), got lr={lr}, "
            f"lr_per_datum={lr_per_datum}"
        )
    if lr_per_datum is not None:
        check(num_data >= 1, "num_data", ">= 1", num_data)
        return float(lr_per_datum) / num_data
    return float(lr)


def check_data_sizes(num_data: float, batch_size: int) -> None:
    check(num_data >= 1, "num_data", ">= 1", num_data)
    check(batch_size >= 1, "batch_size", ">= 1", batch_size)


class SamplerBase(Optimizer):
    """Base class: subclasses implement ``_validate_group`` and either ``_update`` (one parameter tensor) or
    ``_update_group`` (all tensors of a group at once)."""

    def __init__(
        self,
        params: ParamsT,
        defaults: dict[str, Any],
        *,
        num_data: float,
        batch_size: int,
        seed: int,
        dataset_size: int | None = None,
    ) -> None:
        check_data_sizes(num_data, batch_size)
        check(dataset_size is None or dataset_size >= 1, "dataset_size", ">= 1 or None", dataset_size)
        self.num_data = float(num_data)
        self.batch_size = int(batch_size)
        self.dataset_size = int(dataset_size) if dataset_size is not None else int(num_data)
        self.seed = int(seed)
        self._num_steps = 0
        self._generator: torch.Generator | None = None
        self._pending_generator_state: Tensor | None = None
        # Parameter list (by identity) -> its flat noise buffer and the views of it shaped like the
        # parameters (None for mixed dtypes or devices); scratch space, not state.
        self._noise_layouts: dict[tuple[int, ...], tuple[Tensor, list[Tensor]] | None] = {}
        super().__init__(params, defaults)

    # -- hyperparameters -----------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        # Validate after torch has filled in the defaults, so per-group overrides are checked too.
        self._validate_group(self.param_groups[-1])

    def _validate_group(self, group: dict[str, Any]) -> None:
        check_common(group)

    @property
    def num_steps(self) -> int:
        """Number of completed ``step()`` calls (one per sampler iteration, whatever Lightning counts)."""
        return self._num_steps

    # -- shared maths ---------------------------------------------------------------------------------------
    def potential_grad(self, p: Tensor, grad: Tensor, prior_std: float | None) -> Tensor:
        """∇U = N·grad + p/σ² (see the module docstring); a new tensor."""
        g = grad.mul(self.num_data)
        if prior_std is not None:
            g.add_(p, alpha=1.0 / prior_std**2)
        return g

    def _needs_noise(self, group: dict[str, Any]) -> bool:
        """Whether this group's update injects N(0, 1) noise (samplers at temperature 0 draw none)."""
        return group.get("temperature", 0.0) > 0

    def _draw_noise(self, params: list[Tensor]) -> list[Tensor]:
        """N(0, 1) noise shaped like each of ``params``: one draw from the sampler's own generator over a
        flat buffer (kept between steps), returned as views into it."""
        gen = self._get_generator(params[0].device)
        # A parameter list's buffer and views (the same every step) are made once: at toy scale slicing
        # and reshaping per step cost several times the draw itself.
        key = tuple(id(p) for p in params)
        layout = self._noise_layouts.get(key)
        if key not in self._noise_layouts or (layout is not None and layout[0].dtype != params[0].dtype):
            layout = self._noise_layouts[key] = self._noise_views(params, gen.device)  # new or recast
        if layout is None:
            # Mixed dtypes or devices (rare): one draw per tensor, still from the one generator in order.
            draws = [torch.randn(p.shape, generator=gen, device=gen.device, dtype=p.dtype) for p in params]
            return [eps.to(p.device) for eps, p in zip(draws, params, strict=True)]
        buffer, views = layout
        buffer.normal_(generator=gen)
        if buffer.device != params[0].device:  # parameters on a second device still draw from the one stream
            flat = buffer.to(params[0].device).split([p.numel() for p in params])
            return [part.view(p.shape) for part, p in zip(flat, params, strict=True)]
        return views

    @staticmethod
    def _noise_views(params: list[Tensor], device: torch.device) -> tuple[Tensor, list[Tensor]] | None:
        if len({(p.dtype, p.device) for p in params}) != 1:
            return None
        sizes = [p.numel() for p in params]
        buffer = torch.empty(sum(sizes), device=device, dtype=params[0].dtype)
        return buffer, [part.view(p.shape) for part, p in zip(buffer.split(sizes), params, strict=True)]

    # -- generator ------------------------------------------------------------------------------------------
    def _get_generator(self, device: torch.device) -> torch.Generator:
        if self._generator is None:
            gen = torch.Generator(device=device)
            gen.manual_seed(self.seed)
            if self._pending_generator_state is not None:
                self._restore_generator(gen, self._pending_generator_state)
                self._pending_generator_state = None
            self._generator = gen
        return self._generator

    def _restore_generator(self, gen: torch.Generator, state: Tensor) -> None:
        try:
            gen.set_state(state.detach().to("cpu", torch.uint8))
        except (RuntimeError, ValueError):
            # A CPU (Mersenne) state cannot feed a CUDA (Philox) generator or vice versa; continue on a
            # deterministic fresh stream rather than fail the resume.
            warnings.warn(
                f"{type(self).__name__}: saved generator state does not fit a {gen.device} generator "
                f"(checkpoint from another device type?); reseeding with seed + num_steps",
                stacklevel=3,
            )
            gen.manual_seed(self.seed + self._num_steps)

    def _generator_state(self) -> Tensor | None:
        if self._generator is not None:
            return self._generator.get_state().clone()
        return self._pending_generator_state

    # -- state ----------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        sd = super().state_dict()
        extra: dict[str, Any] = {"num_steps": self._num_steps, "seed": self.seed}
        gen_state = self._generator_state()
        if gen_state is not None:
            extra["generator_state"] = gen_state
        sd[STATE_KEY] = extra
        return sd

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        extra = state_dict.pop(STATE_KEY, None)
        super().load_state_dict(state_dict)
        if extra is None:
            warnings.warn(
                f"{type(self).__name__}: state dict has no '{STATE_KEY}' entry; step counter and noise "
                "generator start afresh",
                stacklevel=2,
            )
            return
        self._num_steps = int(extra["num_steps"])
        gen_state = extra.get("generator_state")
        if gen_state is None:
            return
        if self._generator is not None:
            self._restore_generator(self._generator, gen_state)
        else:
            self._pending_generator_state = gen_state.detach().to("cpu", torch.uint8).clone()

    def __getstate__(self) -> dict[str, Any]:
        # Optimizer's pickling keeps only defaults/state/param_groups; carry the chain's identity too
        # (torch.Generator itself is stored as its state tensor).
        state = super().__getstate__()
        state.update(
            num_data=self.num_data,
            batch_size=self.batch_size,
            dataset_size=self.dataset_size,
            seed=self.seed,
            _num_steps=self._num_steps,
            _generator=None,
            _pending_generator_state=self._generator_state(),
            _noise_layouts={},
        )
        return state

    # -- stepping -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        """One sampler iteration over all parameters that have a gradient; returns ``closure()``'s value."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            if any(p.grad.is_sparse for p in params):
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
            noise = self._draw_noise(params) if self._needs_noise(group) else None
            self._update_group(params, [p.grad for p in params], group, noise)
        self._num_steps += 1
        return loss

    def _update_group(
        self, params: list[Tensor], grads: list[Tensor], group: dict[str, Any], noise: list[Tensor] | None
    ) -> None:
        """Update every tensor of one group (``noise``: N(0, 1) per tensor, or None if not needed).

        Per tensor by default; elementwise samplers override it with ``torch._foreach_*`` kernels, which
        update all tensors in place without per-tensor Python overhead or temporaries."""
        for i, (p, grad) in enumerate(zip(params, grads, strict=True)):
            self._update(p, grad, group, self.state[p], None if noise is None else noise[i])

    def _update(
        self, p: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any], noise: Tensor | None
    ) -> None:
        raise NotImplementedError
