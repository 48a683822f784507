"""In-memory GAN datamodules with a resumable, rank-aware stream of ready-made batches.

Subclasses only implement :meth:`GANDataModule.load`. Everything else (labelled subset, per-iteration batch
sampling, DDP sharding, exact resumption) lives here so every dataset behaves identically.

Training stream. The batch of global iteration ``t`` is a pure function of ``(seed, t)``: a generator
seeded from them draws ``batch_size`` distinct indices (the GLOBAL batch) and rank ``r`` takes slice ``r`` of
it. Ranks therefore see disjoint data, the global batch does not depend on the number of devices, and
resuming at iteration ``t`` reproduces the stream exactly. An epoch starts at ``datamodule.position()`` -
the training module's ``iteration`` attribute (completed iterations) - never at a counter advanced by
iteration, because Lightning prefetches one batch ahead. The DataLoaders themselves are in
:mod:`bayesgan.data.streams`, the per-copy subsets of DCGAN-10 in :mod:`bayesgan.data.copies`.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass

from pytorch_lightning import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader

from bayesgan.data.copies import batch_indices, choose_subsets
from bayesgan.data.labelled import choose_labelled
from bayesgan.data.streams import shard_loader, stream_loader
from bayesgan.seeding import derived_generator, sample_distinct

_UNLABELLED, _LABELLED, _SUBSET = 0, 1, 2  # independent random streams derived from the same seed
_COPY_SUBSETS, _COPY_BATCHES = 3, 4


@dataclass
class DataSplits:
    train_x: Tensor  # float32; images channels-first in [-1, 1]; vectors as given
    train_y: Tensor | None  # int64 class ids 0..K-1, or None when unlabelled
    test_x: Tensor
    test_y: Tensor | None
    num_classes: int | None = None
    modes: Tensor | None = None  # [K, dim] true mixture means (toy data), for mode-coverage metrics
    mode_std: float | None = None


class GANDataModule(LightningDataModule):
    """Base datamodule: in-memory tensors, global batch ``batch_size`` split over ranks.

    Semi-supervised iff ``n_labels`` is set: a class-balanced labelled subset (``n_labels // K`` per class,
    the remainder to the first classes) fixed by ``seed``. The unlabelled stream is the whole training set
    (labelled examples included, as in the paper). Each batch also carries ``x_lab``/``y_lab``: the global
    labelled batch is ``min(labelled_batch_size, n_labels)`` distinct labelled examples (i.e. the whole
    subset, reshuffled, when ``n_labels`` is smaller), split over ranks; when ``n_labels`` is the smaller one
    and not divisible by the world size, the last ``n_labels % world_size`` of each step's permutation are
    unused.

    :meth:`use_copy_subsets` (an ensemble of independent GANs, DCGAN-10) adds ``x_copies`` [C, b, ...]: copy
    c's own minibatch, drawn from its own random subset of the training set.

    Test batches are dicts ``{"x", "y"}`` (``"y"`` absent for unlabelled data). Each rank gets a contiguous
    shard; every rank yields the same number of batches (so per-step collectives cannot deadlock), hence
    batch sizes are balanced and at most ``test_batch_size``. Nothing is padded or dropped: sums over ranks
    are exact.
    """

    def __init__(
        self,
        *,
        batch_size: int = 64,
        n_labels: int | None = None,
        labelled_batch_size: int | None = None,
        test_batch_size: int = 512,
        iterations_per_epoch: int | None = None,
        overfit_batches: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        for key, value in (("batch_size", batch_size), ("test_batch_size", test_batch_size),
                           ("n_labels", n_labels), ("labelled_batch_size", labelled_batch_size),
                           ("iterations_per_epoch", iterations_per_epoch),
                           ("overfit_batches", overfit_batches)):  # fmt: skip
            ok = value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1)
            self._check(ok, f"{key} must be an integer >= 1 (or null if optional), got {value!r}")
        self.batch_size = batch_size
        self.n_labels = n_labels
        self.labelled_batch_size = labelled_batch_size if labelled_batch_size is not None else batch_size
        self.test_batch_size = test_batch_size
        self._iterations_per_epoch = iterations_per_epoch
        # Debugging (debug=overfit): iteration t trains on the batch of iteration t mod overfit_batches.
        self.overfit_batches = overfit_batches
        self.seed = seed
        self.semi_supervised: bool = n_labels is not None
        self.splits: DataSplits | None = None
        self.labelled_indices: Tensor | None = None
        self.copy_subsets: Tensor | None = None  # [C, m] training indices of each copy (use_copy_subsets)
        self._position = 0
        # Test hook: (rank, world_size) used instead of the trainer's, see simulate_distributed().
        self._dist_override: tuple[int, int] | None = None

    @abstractmethod
    def load(self) -> DataSplits:
        """Build or read the data (called once by ``setup``; the result is cached)."""

    def setup(self, stage: str | None = None) -> None:
        if self.splits is not None:
            return
        splits = self.load()
        n = splits.train_x.shape[0]
        self._check(n >= self.batch_size, f"batch_size={self.batch_size} exceeds the {n} training examples")
        if splits.num_classes is None and splits.train_y is not None:
            splits.num_classes = int(splits.train_y.max()) + 1
        self.splits = splits
        if self.semi_supervised:
            self.labelled_indices = self._choose_labelled(splits)

    def _choose_labelled(self, splits: DataSplits) -> Tensor:
        n_labels = self.n_labels
        assert n_labels is not None
        if splits.train_y is None or splits.num_classes is None:
            raise ValueError(
                f"n_labels={n_labels} requires a labelled dataset; {type(self).__name__} has no labels"
            )
        generator = derived_generator(self.seed, _SUBSET)
        return choose_labelled(splits.train_y, splits.num_classes, n_labels, generator)

    def _splits(self) -> DataSplits:
        if self.splits is None:
            raise RuntimeError(f"{type(self).__name__}: call setup() before using the data")
        return self.splits

    @property
    def data_shape(self) -> tuple[int, ...]:
        return tuple(self._splits().train_x.shape[1:])

    @property
    def num_classes(self) -> int | None:
        return self._splits().num_classes

    def train_images(self, idx: Tensor) -> Tensor:
        """Training examples ``idx`` as the networks see them (a dataset stored in another form, e.g. stacked
        digits as index triples, overrides this)."""
        return self._splits().train_x[idx]

    @property
    def num_train(self) -> int:
        return self._splits().train_x.shape[0]

    @property
    def modes(self) -> Tensor | None:
        return self._splits().modes

    @property
    def mode_std(self) -> float | None:
        return self._splits().mode_std

    @property
    def iterations_per_epoch(self) -> int:
        if self._iterations_per_epoch is not None:
            return self._iterations_per_epoch
        return math.ceil(self.num_train / self.batch_size)

    def simulate_distributed(self, rank: int, world_size: int) -> None:
        """Pretend to be ``rank`` of ``world_size`` (tests; overrides the trainer's values)."""
        self._check(0 <= rank < world_size, f"rank must be in [0, world_size={world_size}), got {rank}")
        self._dist_override = (rank, world_size)

    def rank_and_world_size(self) -> tuple[int, int]:
        if self._dist_override is not None:
            return self._dist_override
        if self.trainer is not None:
            return self.trainer.global_rank, self.trainer.world_size
        return 0, 1

    def position(self) -> int:
        """Global iteration the next training epoch starts at (exact across checkpoint resumes)."""
        if self.trainer is not None and self.trainer.lightning_module is not None:
            it = getattr(self.trainer.lightning_module, "iteration", None)
            if not isinstance(it, int):
                raise AttributeError(
                    f"{type(self.trainer.lightning_module).__name__} must keep an int `iteration` attribute "
                    "(completed iterations) for the data stream to resume exactly"
                )
            return it
        return self._position

    def set_position(self, t: int) -> None:
        """Set the internal position used when no trainer is attached."""
        self._position = int(t)

    def _per_rank(self) -> tuple[int, int, int, int]:
        """(rank, world, per-rank batch, per-rank labelled batch), validating divisibility."""
        rank, world = self.rank_and_world_size()
        return rank, world, *self.per_rank_sizes(world)

    def per_rank_sizes(self, world: int) -> tuple[int, int]:
        """(per-rank batch, per-rank labelled batch) over ``world`` processes; one-line error if the global
        batches do not split evenly (the launcher calls this once, before starting the processes)."""
        if self.batch_size % world:
            raise ValueError(
                f"batch_size={self.batch_size} must be divisible by the number of processes, {world} "
                "(the global batch is split evenly over them)"
            )
        lab = 0
        if self.semi_supervised:
            assert self.n_labels is not None
            if self.n_labels >= self.labelled_batch_size:
                if self.labelled_batch_size % world:
                    raise ValueError(
                        f"labelled_batch_size={self.labelled_batch_size} must be divisible by the number of "
                        f"processes, {world}"
                    )
                lab = self.labelled_batch_size // world
            else:
                lab = self.n_labels // world
                if lab == 0:
                    raise ValueError(
                        f"n_labels={self.n_labels} must be at least the number of processes, {world}"
                    )
        return self.batch_size // world, lab

    def train_batch(self, t: int) -> dict[str, Tensor]:
        """This rank's batch for global iteration ``t`` (pure function of ``seed``, ``t`` and the rank)."""
        s = self._splits()
        rank, _, b, lab = self._per_rank()
        if self.overfit_batches is not None:
            t %= self.overfit_batches
        g = derived_generator(self.seed, t, _UNLABELLED)
        idx = sample_distinct(self.num_train, self.batch_size, g)[rank * b : (rank + 1) * b]
        batch = {"x": s.train_x[idx]}
        if self.copy_subsets is not None:
            batch["x_copies"] = self._copy_batches(t, rank, b)
        if self.semi_supervised:
            assert self.labelled_indices is not None and s.train_y is not None
            g = derived_generator(self.seed, t, _LABELLED)
            n_lab = self.labelled_indices.numel()
            perm = sample_distinct(n_lab, min(n_lab, self.labelled_batch_size), g)
            lab_idx = self.labelled_indices[perm[rank * lab : (rank + 1) * lab]]
            batch["x_lab"], batch["y_lab"] = s.train_x[lab_idx], s.train_y[lab_idx]
        return batch

    def use_copy_subsets(self, copies: int, fraction: float) -> Tensor:
        """From now on every training batch also carries ``x_copies`` [copies, b, ...]: copy c's minibatch of
        the global batch size, drawn (distinct examples, a pure function of seed, t and c, split over ranks
        like ``x``) from its own random subset of round(fraction·N) training examples. The subsets are a
        function of ``seed`` alone; returns them, [copies, m] (also ``self.copy_subsets``)."""
        n = self.num_train
        m = round(fraction * n)
        self._check(copies >= 1, f"copies must be >= 1, got {copies}")
        self._check(
            0 < fraction <= 1 and m >= self.batch_size,
            f"subset fraction must be in (0, 1] and keep at least batch_size={self.batch_size} of the {n} "
            f"training examples, got {fraction}",
        )
        generator = derived_generator(self.seed, _COPY_SUBSETS)
        self.copy_subsets = choose_subsets(n, copies, m, generator)
        return self.copy_subsets

    def _copy_batches(self, t: int, rank: int, b: int) -> Tensor:
        assert self.copy_subsets is not None
        generators = [
            derived_generator(self.seed, t, _COPY_BATCHES, c) for c in range(len(self.copy_subsets))
        ]
        idx = batch_indices(self.copy_subsets, self.batch_size, generators, rank, b)
        return self.train_images(idx.flatten()).unflatten(0, idx.shape)

    def train_dataloader(self) -> DataLoader:
        self._splits()
        self._per_rank()  # fail at construction, not mid-epoch
        return stream_loader(self)

    def test_dataloader(self) -> DataLoader:
        s = self._splits()
        return shard_loader(s.test_x, s.test_y, *self.rank_and_world_size(), self.test_batch_size)

    # For subclasses: validate a constructor key with a one-line, actionable error.
    @staticmethod
    def _check(cond: bool, message: str) -> None:
        if not cond:
            raise ValueError(message)
