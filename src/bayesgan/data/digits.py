"""scikit-learn's bundled 8x8 handwritten digits: a tiny real image dataset that needs no download."""

from __future__ import annotations

from typing import Any

import torch

from bayesgan.data.base import DataSplits, GANDataModule


class DigitsDataModule(GANDataModule):
    """1x8x8 images in [-1, 1], 10 classes, a FIXED stratified split (default 1437 train / 360 test).

    The split uses ``split_seed`` (not the run ``seed``), so every run evaluates on the same test images.

    ``validation=True`` is for tuning: the test images are set aside unseen, the training images are split
    again (stratified, same ``split_seed``) into ``num_test`` validation images, which then stand in for the
    test set (``test/*`` metrics are validation metrics), and the remaining training images.
    """

    def __init__(
        self, *, num_test: int = 360, split_seed: int = 0, validation: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        # 1797 images in total; every side of a stratified split needs at least one image per class.
        self._check(isinstance(validation, bool), f"validation must be true or false, got {validation!r}")
        limit = 1777 // 2 if validation else 1787
        self._check(10 <= num_test <= limit, f"num_test must be in [10, {limit}], got {num_test}")
        self.num_test, self.split_seed, self.validation = num_test, split_seed, validation

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
        if self.validation:  # the test images stay unseen; validation images come out of the training side
            train_idx, test_idx = train_test_split(
                train_idx,
                test_size=self.num_test,
                stratify=bunch.target[train_idx],
                random_state=self.split_seed,
            )
        train_idx, test_idx = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
        return DataSplits(x[train_idx], y[train_idx], x[test_idx], y[test_idx], num_classes=10)
