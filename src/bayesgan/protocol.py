"""What every trained method offers the callbacks, metrics, results file, report and CLIs.

A method (``conf/method/<name>.yaml``) is a LightningModule built by ``bayesgan.train.build`` with the
keyword arguments of :data:`COMMON_ARGUMENTS`: its networks, its posterior settings and the :class:`RunSpec`
(what the data and the run's top-level keys fix). The rest of the framework reaches it only through the
members of :class:`GenerativeMethod`, so a new family (a VAE, ProbGAN, ...) gets sample grids, image and
coverage metrics, semi-supervised accuracy, results.json and ``bayesgan-sample``/``-evaluate`` by
implementing them, without a branch anywhere else. Members a family lacks must fail with a clear message
(``class_probabilities`` of an unsupervised model) or report "not applicable" (``num_posterior_samples``
is 1 for a point estimate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sized
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor


@dataclass(frozen=True)
class RunSpec:
    """What a method is told about the run besides its networks and posterior: built once by ``train.build``
    from the data module and the top-level config keys, and shared by every family's constructor.

    A family reads the fields it needs and refuses settings it cannot honour (a VAE refuses ``num_classes``);
    the defaults serve direct construction (tests, scripts), where ``build`` always gives every field.
    """

    data_shape: tuple[int, ...]
    num_data: int | None = None  # N, the unlabelled training examples (the samplers' num_data)
    batch_size: int | None = None  # the global minibatch n
    num_classes: int | None = None  # K when semi-supervised, else None
    num_labelled: int | None = None  # N_s, the labelled examples (semi-supervised)
    z_prior: str = "uniform"
    seed: int = 0
    divergence_loss: float | None = 1e3  # per likelihood term; None: no such limit

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_shape", tuple(self.data_shape))  # a ListConfig or list from a caller
        if self.z_prior not in ("uniform", "normal"):
            raise ValueError(f"z_prior must be 'uniform' or 'normal', got {self.z_prior!r}")

    @property
    def semi_supervised(self) -> bool:
        return self.num_classes is not None

    @classmethod
    def of(
        cls,
        run: RunSpec | None,
        fields: Mapping[str, Any],
        *,
        required: tuple[str, ...] = (),
        **defaults: Any,
    ) -> RunSpec:
        """The run a constructor was given: ``run`` (what ``build`` passes), or, written out as keywords
        (``data_shape=..., num_data=...``: direct construction in tests and scripts), a RunSpec of ``fields``
        over the family's ``defaults``. Both at once is refused rather than merged, as is a ``required``
        field left None (the family cannot train without it)."""
        if run is not None and fields:
            raise TypeError(f"run= is given: unexpected keyword arguments {sorted(fields)}")
        run = run if run is not None else cls(**(defaults | dict(fields)))
        missing = [name for name in required if getattr(run, name) is None]
        if missing:
            raise TypeError(f"missing run fields (RunSpec): {', '.join(missing)}")
        return run


# The keyword arguments ``build`` passes to every method's constructor (a method ignores none silently: it
# names the ones it does not use in its docstring and refuses settings it cannot honour).
COMMON_ARGUMENTS = (
    "architecture",  # the instantiated `model` config
    "posterior",  # the instantiated `sampler` config (a PosteriorSpec or the method's own settings)
    "run",  # the RunSpec
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
