"""Per-copy training subsets for an ensemble of independent GANs (DCGAN-10, ``sampler=dcgan10``): copy c
trains on its own random subset of the training set, with its own minibatch every iteration."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from bayesgan.seeding import sample_distinct


def choose_subsets(n: int, copies: int, size: int, generator: torch.Generator) -> Tensor:
    """``copies`` random subsets of ``size`` of the ``n`` training indices, each sorted: [copies, size]."""
    return torch.stack([torch.randperm(n, generator=generator)[:size].sort().values for _ in range(copies)])


def batch_indices(
    subsets: Tensor, batch_size: int, generators: Sequence[torch.Generator], rank: int, b: int
) -> Tensor:
    """Training indices [copies, b] of one iteration on rank ``rank``: copy c draws ``batch_size`` distinct
    examples of its subset with ``generators[c]``, and every rank takes its slice of ``b`` of them (as of
    the unlabelled batch)."""
    rows = [sample_distinct(subsets.shape[1], batch_size, generator) for generator in generators]
    return torch.stack([subsets[c][r[rank * b : (rank + 1) * b]] for c, r in enumerate(rows)])
