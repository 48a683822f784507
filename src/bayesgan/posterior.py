"""The posterior's settings: how many copies sample it and how many observations each likelihood term
stands for. The potentials themselves are derived in docs/posterior.md and computed in ``bayesgan.losses``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from bayesgan import losses
from bayesgan.bank import PosteriorBank, check_precision, check_storage

OptimizerFactory = Callable[..., torch.optim.Optimizer]
ScheduleFactory = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


@dataclass
class PosteriorSpec:
    """How the posterior is represented and sampled (the ``sampler`` config group, fed from ``posterior:``).

    J_g x M generator copies and J_d x M discriminator copies; ``optimizer`` builds the update rule from
    (params, num_data=, batch_size=, dataset_size=, seed=). The ``*_observations`` set how many observations
    the fake, generator and labelled likelihood terms stand for (None: N, N and N_s; docs/posterior.md).
    Burn-in, thinning and size govern the posterior bank; ``bank_precision`` (float32, bfloat16, float16)
    is the precision its snapshots are stored in, ``bank_storage`` (memory, disk) where. ``step_schedule``
    (None: a constant step) builds a learning-rate scheduler for each sampler, stepped once per iteration
    (``schedule=polynomial``: ``bayesgan.samplers.PolynomialDecay``).
    """

    optimizer: OptimizerFactory
    name: str = "sghmc"
    J_g: int = 1
    J_d: int = 1
    M: int = 1
    fake_observations: int | None = None
    generator_observations: int | None = None
    labelled_observations: int | None = None
    burn_in: int = 0
    thin: int = 100
    bank_size: int = 0
    bank_precision: str = "float32"
    bank_storage: str = "memory"
    step_schedule: ScheduleFactory | None = None

    def __post_init__(self) -> None:
        check_precision(self.bank_precision, "posterior.bank_precision")
        check_storage(self.bank_storage, "posterior.bank_storage")
        for key in ("J_g", "J_d", "M"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"posterior.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("fake_observations", "generator_observations", "labelled_observations"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"posterior.{key} must be >= 1 or null, got {value}")

    def make_bank(self) -> PosteriorBank:
        """An empty posterior bank with these burn-in, thinning, size, precision and storage settings."""
        return PosteriorBank(self.burn_in, self.thin, self.bank_size, self.bank_precision, self.bank_storage)


def observations(
    posterior: PosteriorSpec, num_data: int, num_labelled: int | None, semi_supervised: bool
) -> losses.Observations:
    """Each likelihood term's weight; None in ``posterior`` means the default (N, N and N_s)."""
    if num_data < 1:
        raise ValueError(f"num_data must be >= 1, got {num_data}")
    labelled = 0
    if semi_supervised:
        labelled = posterior.labelled_observations or num_labelled or 0
        if labelled < 1:
            raise ValueError(f"semi-supervised mode needs num_labelled (N_s) >= 1, got {num_labelled}")
    return losses.Observations(
        real=num_data,
        fake=posterior.fake_observations or num_data,
        labelled=labelled,
        generator=posterior.generator_observations or num_data,
    )
