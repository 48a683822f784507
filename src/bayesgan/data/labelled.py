"""The labelled subset of semi-supervised training: ``n_labels`` examples, balanced over the K classes."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch
from torch import Tensor

log = logging.getLogger(__name__)  # in a Hydra job: the console and the run's train.log


def choose_labelled(train_y: Tensor, num_classes: int, n_labels: int, generator: torch.Generator) -> Tensor:
    """Sorted indices of ``n_labels`` training examples: ``n_labels // K`` of every class, one more for each
    of the first ``n_labels % K`` classes (logged as a warning, so an uneven split is never silent).

    Refused with a one-line ``ValueError``: a class with no training example at all (labels that are not
    0..K-1), fewer labels than classes (some class would have none), a class too small for its share.
    """
    k = num_classes
    empty = torch.nonzero(torch.bincount(train_y, minlength=k)[:k] == 0).flatten().tolist()
    if empty:  # usually labels that are not 0..K-1 (K is max label + 1 unless num_classes is set)
        raise ValueError(
            f"n_labels={n_labels}: {len(empty)} of the {k} classes ({ranges(empty)}) have no training "
            f"examples; labels must be 0..{k - 1} with every class present (relabel, or set num_classes)"
        )
    if n_labels < k:
        raise ValueError(f"n_labels={n_labels} must be at least the number of classes, {k} (one label each)")
    extra = n_labels % k
    if extra:
        log.warning(
            f"n_labels={n_labels} is not a multiple of the {k} classes: classes {ranges(range(extra))} get "
            f"{n_labels // k + 1} labelled examples each, classes {ranges(range(extra, k))} get "
            f"{n_labels // k}"
        )
    chosen = []
    for c in range(k):
        need = n_labels // k + (1 if c < extra else 0)
        pool = torch.nonzero(train_y == c).flatten()
        if pool.numel() < need:
            raise ValueError(
                f"n_labels={n_labels}: class {c} has only {pool.numel()} training examples, needs {need}"
            )
        chosen.append(pool[torch.randperm(pool.numel(), generator=generator)[:need]])
    return torch.sort(torch.cat(chosen)).values


def ranges(values: Iterable[int]) -> str:
    """Sorted integers as runs: ``0-2, 5, 7-9``."""
    runs: list[list[int]] = []
    for v in sorted(values):
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)
