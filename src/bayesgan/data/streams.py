"""The DataLoaders a :class:`~bayesgan.data.base.GANDataModule` hands Lightning: ready-made batches, no
sampler, no workers.

Training: ``len`` batches from global iteration ``dm.position()`` on, each ``dm.train_batch(t)`` (a pure
function of seed, t and the rank), so resuming at iteration t reproduces the stream. Test: this rank's
contiguous shard, in order, in as many batches on every rank (per-step collectives cannot deadlock).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset

if TYPE_CHECKING:
    from bayesgan.data.base import GANDataModule

# Our streams always use num_workers=0, so Lightning's worker-duplication caveat about an IterableDataset
# with __len__ does not apply; silence exactly that message.
warnings.filterwarnings("ignore", message="Your `IterableDataset` has `__len__` defined")


class _TrainStream(IterableDataset):
    """Yields ``len(self)`` ready batches starting at global iteration ``dm.position()``."""

    def __init__(self, dm: GANDataModule) -> None:
        self.dm = dm

    def __len__(self) -> int:
        return self.dm.iterations_per_epoch

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        dm = self.dm
        start = dm.position()  # read once per epoch: Lightning's prefetch makes later reads unreliable
        for t in range(start, start + len(self)):
            yield dm.train_batch(t)
            dm._position = t + 1  # only consulted when no trainer is attached


class _StreamLoader(DataLoader):
    """DataLoader marked resumable for Lightning: the stream is addressed by the module's ``iteration``.

    Lightning only checks for ``state_dict``/``load_state_dict`` (else it warns on mid-epoch resume); the
    position itself is restored by the training module, so the state is informational.
    """

    def state_dict(self) -> dict[str, int]:
        return {"position": self.dataset.dm.position()}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.dataset.dm._position = int(state.get("position", 0))


class _TestStream(IterableDataset):
    """This rank's contiguous shard of the test set, in order, as ``len(self)`` dict batches."""

    def __init__(self, x: Tensor, y: Tensor | None, num_batches: int) -> None:
        self.x, self.y, self.num_batches = x, y, num_batches

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        xs = torch.tensor_split(self.x, self.num_batches)
        ys = torch.tensor_split(self.y, self.num_batches) if self.y is not None else [None] * len(xs)
        for x, y in zip(xs, ys, strict=True):
            yield {"x": x} if y is None else {"x": x, "y": y}


def stream_loader(dm: GANDataModule) -> DataLoader:
    """The resumable training stream of ``dm``."""
    return _StreamLoader(_TrainStream(dm), batch_size=None, num_workers=0)


def shard_loader(x: Tensor, y: Tensor | None, rank: int, world: int, batch_size: int) -> DataLoader:
    """Rank ``rank``'s contiguous shard of ``x`` (and ``y``) over ``world`` ranks, in batches of at most
    ``batch_size``. Nothing is padded or dropped, so sums over ranks are exact."""
    m = x.shape[0]
    lo, hi = rank * m // world, (rank + 1) * m // world
    # Same batch count on every rank (from the largest shard); sizes stay <= batch_size.
    num_batches = max(1, math.ceil(math.ceil(m / world) / batch_size))
    shard_y = y[lo:hi] if y is not None else None
    return DataLoader(_TestStream(x[lo:hi], shard_y, num_batches), batch_size=None, num_workers=0)
