"""What every trained method offers the callbacks, metrics, results file, report and CLIs.

A method (``conf/method/<name>.yaml``) is a LightningModule built by ``bayesgan.train.build`` with the
keyword arguments of :data:`COMMON_ARGUMENTS`. The rest of the framework reaches it only through the
members of :class:`GenerativeMethod`, so a new family (a VAE, ProbGAN, ...) gets sample grids, image and
coverage metrics, semi-supervised accuracy, results.json and ``bayesgan-sample``/``-evaluate`` by
implementing them, without a branch anywhere else. Members a family lacks must fail with a clear message
(``class_probabilities`` of an unsupervised model) or report "not applicable" (``num_posterior_samples``
is 1 for a point estimate).
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

# The keyword arguments ``build`` passes to every method's constructor (a method ignores none silently: it
# names the ones it does not use in its signature and refuses settings it cannot honour).
COMMON_ARGUMENTS = (
    "architecture",  # the instantiated `model` config
    "posterior",  # the instantiated `sampler` config (a PosteriorSpec or the method's own settings)
    "data_shape",
    "num_data",
    "batch_size",
    "num_classes",  # K when semi-supervised, else None
    "num_labelled",
    "z_prior",
    "seed",
    "divergence_loss",
)

# Optional members, read with these defaults when a method does not define them (BayesGAN does not):
#   generates: bool = True  -- False for a method without a generator (the supervised baseline): the
#       callbacks that draw samples (grids, coverage, image quality, the synthetic JS) skip themselves.
#   optimizer_steps_per_iteration: int = 2  -- the optimizer.step() calls one iteration makes (Lightning
#       counts those): train.build sets max_steps and the checkpoint period from it.
OPTIONAL_DEFAULTS = {"generates": True, "optimizer_steps_per_iteration": 2}


@runtime_checkable
class GenerativeMethod(Protocol):
    """The contract; ``bayesgan.module.BayesGAN`` is the reference implementation."""

    data_shape: tuple[int, ...]
    z_dim: int
    semi_supervised: bool
    iteration: int  # completed training iterations (what checkpoints, logs and the progress bar count)
    diverged_at: int | None  # the iteration at which a divergence check fired, else None
    divergence: str | None  # why
    bank: Sized  # stored posterior snapshots (empty for a point estimate)

    def generate(
        self, z: Tensor | int, *, use_bank: bool = True, generator: torch.Generator | None = None
    ) -> Tensor:
        """Samples [S, n, *data_shape] of every posterior generator sample; ``z`` [n, z_dim] shared, or n."""
        ...

    def num_posterior_samples(self, network: str, use_bank: bool = True) -> int:
        """How many samples ``generate`` (network="generator") or ``class_probabilities`` averages over."""
        ...

    def class_probabilities(self, x: Tensor, *, use_bank: bool = True) -> Tensor:
        """K-class probabilities [S, B, K] of every posterior classifier sample (semi-supervised only)."""
        ...


def accepted_samplers(method: Any) -> tuple[str, ...] | None:
    """The ``sampler`` choices a method honours: its class attribute ``accepted_samplers``, or None (any).

    Optional, so BayesGAN (which samples with every sampler) declares nothing. A family that trains one point
    estimate with its own optimiser (``model=vae``, ``model=alpha_gan``) names the choices that mean "no
    posterior sampling" (``("ml",)``); ``bayesgan-train`` refuses another sampler typed on the command line
    rather than ignore it. ``method`` is the class or the ``functools.partial`` the method config builds.
    """
    return getattr(getattr(method, "func", method), "accepted_samplers", None)
