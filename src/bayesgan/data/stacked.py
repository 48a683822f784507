"""Stacked MNIST (VEEGAN / PacGAN, metrics-and-protocols.md §2) and its offline analogue, stacked digits.

Each image stacks ``channels`` (3) independently drawn digits of a base dataset as its channels, giving
10^3 = 1,000 modes (digit triples). As in PacGAN's code the base pool is train + test (70,000 MNIST
images; ``pool=train`` uses the training split only) and ``num_train`` (128,000) triples are drawn, with
``data_seed``. Labels are the mode index 100 d_0 + 10 d_1 + d_2. The images are built per batch from
the index triples, so 128,000 stacked MNIST images cost 3 MB of indices, not 1.2 GB of floats.

``stacked_digits`` (base: scikit-learn's 8x8 digits) runs offline in seconds. Its numbers are a different
benchmark and are not comparable with the published Stacked-MNIST numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset

from bayesgan.data.base import DataSplits, GANDataModule
from bayesgan.evaluation.classifier import LabelledImages
from bayesgan.metrics.stacked import mode_index
from bayesgan.seeding import derived_generator

_TRAIN, _TEST = 0, 1


class _Stacking(IterableDataset):
    """Maps the ``x`` (index triples) of another loader's batches to stacked images."""

    def __init__(self, loader: DataLoader, dm: StackedDataModule) -> None:
        self.loader, self.dm = loader, dm

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        for batch in self.loader:
            yield batch | {"x": self.dm.stack(batch["x"])}


class StackedDataModule(GANDataModule):
    """``channels`` digits of ``base`` (a labelled 1-channel image datamodule) per image."""

    def __init__(
        self,
        *,
        base: GANDataModule,
        channels: int = 3,
        num_train: int = 128_000,
        num_test: int = 10_000,
        pool: str = "train_and_test",
        data_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._check(channels >= 1, f"channels must be >= 1, got {channels}")
        self._check(num_train >= 1 and num_test >= 1, "num_train and num_test must be >= 1")
        self._check(
            pool in ("train", "train_and_test"), f"pool must be train or train_and_test, got {pool!r}"
        )
        self.base, self.channels, self.pool = base, int(channels), pool
        self.num_stacked_train, self.num_stacked_test, self.data_seed = num_train, num_test, data_seed
        self.pool_x: Tensor | None = None
        base_name = getattr(base, "name", None) or type(base).__name__.removesuffix("DataModule").lower()
        self.name = f"stacked_{base_name}"  # the classifier is the base's: same name, same cache

    def load(self) -> DataSplits:
        self.base.setup("fit")
        b = self.base.splits
        assert b is not None
        if b.train_y is None or b.test_y is None or b.train_x.ndim != 4 or b.train_x.shape[1] != 1:
            raise ValueError(f"{type(self.base).__name__}: stacking needs labelled 1-channel images")
        pool_x, pool_y = b.train_x, b.train_y
        if self.pool == "train_and_test":
            pool_x, pool_y = torch.cat([b.train_x, b.test_x]), torch.cat([b.train_y, b.test_y])
        self.pool_x, k = pool_x, b.num_classes or int(pool_y.max()) + 1
        triples = [
            torch.randint(len(pool_x), (n, self.channels), generator=derived_generator(self.data_seed, split))
            for split, n in ((_TRAIN, self.num_stacked_train), (_TEST, self.num_stacked_test))
        ]
        labels = [mode_index(pool_y[t], k) for t in triples]
        return DataSplits(triples[0], labels[0], triples[1], labels[1], num_classes=k**self.channels)

    def stack(self, triples: Tensor) -> Tensor:
        """[B, C] pool indices -> [B, C, H, W] images in [-1, 1]."""
        assert self.pool_x is not None
        return self.pool_x[triples].flatten(1, 2)

    def train_images(self, idx: Tensor) -> Tensor:
        return self.stack(self._splits().train_x[idx])

    def classifier_images(self) -> LabelledImages:
        """The base dataset's digits: one classifier labels every channel."""
        b = self.base.splits
        assert b is not None and b.train_y is not None and b.test_y is not None
        name = self.name.removeprefix("stacked_")
        k = b.num_classes or int(b.train_y.max()) + 1
        return LabelledImages(name, b.train_x, b.train_y, b.test_x, b.test_y, k)

    @property
    def data_shape(self) -> tuple[int, ...]:
        self._splits()
        assert self.pool_x is not None
        return (self.channels, *self.pool_x.shape[2:])

    def train_batch(self, t: int) -> dict[str, Tensor]:
        batch = super().train_batch(t)
        for key in ("x", "x_lab"):
            if key in batch:
                batch[key] = self.stack(batch[key])
        return batch

    def test_dataloader(self) -> DataLoader:
        return DataLoader(_Stacking(super().test_dataloader(), self), batch_size=None, num_workers=0)
