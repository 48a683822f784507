"""scikit-learn's bundled 8x8 handwritten digits: a tiny real image dataset that needs no download."""

from __future__ import annotations

from typing import Any

import torch

from bayesgan.data.base import DataSplits, GANDataModule


class DigitsDataModule(GANDataModule):
    """1x8x8 images in [-1, 1], 10 classes, a FIXED stratified split (default 1437 train / 360 test).

    The split uses ``split_seed`` (not the run ``seed``), so every run evaluates on the same test images.
    """

    def __init__(self, *, num_test: int = 360, split_seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # 1797 images in total; both sides of a stratified split need at least one image per class.
        self._check(10 <= num_test <= 1787, f"num_test must be in [10, 1787], got {num_test}")
        self.num_test, self.split_seed = num_test, split_seed

    def load(self) -> DataSplits:
        # Imported lazily: sklearn is slow to import and only this dataset needs it.
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        bunch = load_digits()
        x = torch.from_numpy(bunch.data).float().reshape(-1, 1, 8, 8) / 8.0 - 1.0  # 0..16 → [-1, 1]
        y = torch.from_numpy(bunch.target).long()
        train_idx, test_idx = train_test_split(
            torch.arange(len(y)).numpy(),
            test_size=self.num_test,
            stratify=bunch.target,
            random_state=self.split_seed,
        )
        train_idx, test_idx = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
        return DataSplits(x[train_idx], y[train_idx], x[test_idx], y[test_idx], num_classes=10)
