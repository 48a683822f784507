"""Shared base for the real-image datamodules: decoded uint8 arrays in, ``DataSplits`` out.

Loaders implement :meth:`RealDataModule.read`, returning uint8 (or already-scaled float) arrays in NCHW
layout. This class owns what every real dataset shares: the data root, ``download``/``verify`` switches,
``subsample`` (the DCGAN-10 baseline's random training fractions), an optional validation hold-out, and
one vectorised conversion to float32 in [-1, 1]. The labelled subset and batching live in the base class.
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from bayesgan.data.base import DataSplits, GANDataModule
from bayesgan.data.files import DatasetError, RemoteFile, check_verify_mode, data_root, ensure_files

_SUBSAMPLE, _VALIDATION, _TEST = 11, 12, 13  # independent numpy streams derived from the seed


@dataclass
class RawSplits:
    """Decoded arrays, NCHW. uint8 means 0..255; floating point means already in [-1, 1]."""

    train_x: np.ndarray
    train_y: np.ndarray | None
    test_x: np.ndarray
    test_y: np.ndarray | None
    num_classes: int | None = None
    class_names: list[str] | None = None
    val_x: np.ndarray | None = None  # an official validation split (CelebA's partition file)
    val_y: np.ndarray | None = None


def to_unit_range(x: np.ndarray) -> Tensor:
    """uint8 [0, 255] → float32 [-1, 1] in one vectorised pass; float input is taken as already scaled."""
    x = np.ascontiguousarray(x)
    if not x.flags.writeable:  # e.g. np.frombuffer over file bytes; torch refuses to wrap read-only memory
        x = x.copy()
    t = torch.from_numpy(x)
    if t.dtype == torch.uint8:
        return t.to(torch.float32).div_(127.5).sub_(1.0)
    return t.to(torch.float32)


def nhwc_to_nchw(x: np.ndarray) -> np.ndarray:
    """(N, H, W[, C]) → (N, C, H, W), copied contiguous while still uint8 (4x cheaper than as float)."""
    if x.ndim == 3:
        return x[:, None]
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def check_labels(y: np.ndarray, n: int, num_classes: int | None, source: str | Path) -> np.ndarray:
    """Labels as int64 of length ``n``, each in ``[0, num_classes)``; one-line error otherwise."""
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise DatasetError(f"{source}: labels have shape {y.shape}, expected ({n},) to match the images")
    if not (np.issubdtype(y.dtype, np.integer) or (y.dtype.kind == "f" and np.all(y == np.round(y)))):
        raise DatasetError(f"{source}: labels must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if n and (y.min() < 0 or (num_classes is not None and y.max() >= num_classes)):
        bound = f"[0, {num_classes})" if num_classes is not None else ">= 0"
        raise DatasetError(f"{source}: labels out of range {bound}: min {y.min()}, max {y.max()}")
    return y


def split_off(
    x: np.ndarray, y: np.ndarray | None, amount: float | int, rng: np.random.Generator, what: str
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Randomly move ``amount`` examples (count, or fraction if < 1) out of (x, y): (kept..., held out...)."""
    n = x.shape[0]
    k = round(amount * n) if 0 < amount < 1 else int(amount)
    if not 0 < k < n:
        raise DatasetError(f"{what}={amount} leaves no examples on one side of the {n}-example training set")
    perm = rng.permutation(n)
    keep, held = np.sort(perm[k:]), np.sort(perm[:k])
    ys = (None, None) if y is None else (y[keep], y[held])
    return x[keep], ys[0], x[held], ys[1]


class RealDataModule(GANDataModule):
    """Base for file-backed image datasets. Subclasses set ``name``/``source`` and implement :meth:`read`.

    Keys: ``root`` (default ``$BAYESGAN_DATA_ROOT/<name>`` or ``data/<name>``), ``download`` (fetch the
    official files when missing), ``verify`` (``md5`` | ``size`` | ``none`` for the canonical files),
    ``subsample`` (keep a random fraction <= 1, or a count > 1, of the training set; seeded by ``seed``),
    ``validation`` (hold out a fraction or count of the training set as a validation split, exposed as
    ``val_x``/``val_y`` on the splits), ``mirrors`` (download base URLs replacing the official ones).
    Remaining keyword arguments go to :class:`GANDataModule`.
    """

    name: ClassVar[str] = "dataset"
    dirname: ClassVar[str | None] = None  # folder under the data root, when it differs from ``name``
    source: ClassVar[str] = "its official website"
    MIRRORS: ClassVar[tuple[str, ...]] = ()  # official download base URLs, tried in order

    def __init__(
        self,
        *,
        root: str | os.PathLike[str] | None = None,
        download: bool = False,
        verify: str = "md5",
        subsample: float | int | None = None,
        validation: float | int | None = None,
        mirrors: Sequence[str] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        for key, value in (("subsample", subsample), ("validation", validation)):
            self._check(value is None or value > 0, f"{key} must be > 0, got {value}")
        self.root = data_root(root, self.dirname or self.name)
        self.download = bool(download)
        self.verify = check_verify_mode(verify)
        self.subsample = subsample
        self.validation = validation
        self.mirrors = tuple(mirrors) if mirrors is not None else self.MIRRORS
        self.class_names: list[str] | None = None

    @abstractmethod
    def read(self) -> RawSplits:
        """Read (and verify) the files; return decoded NCHW arrays and validated labels."""

    def fetch(self, specs: Sequence[RemoteFile]) -> dict[str, Path]:
        """Paths of the canonical files, downloaded (if ``download``) and verified per this module's keys."""
        return ensure_files(
            self.root, specs, dataset=self.name, source=self.source, download=self.download,
            mirrors=self.mirrors, verify=self.verify,
        )  # fmt: skip

    def _rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([int(self.seed), stream])

    def holdout_test(
        self, x: np.ndarray, y: np.ndarray | None, fraction: float
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None]:
        """For datasets without an official test split: a fixed random test fraction (seed 0, so the test
        set does not move with the training seed)."""
        return split_off(x, y, fraction, np.random.default_rng([0, _TEST]), "test_fraction")

    def load(self) -> DataSplits:
        raw = self.read()
        self.class_names = raw.class_names
        x, y = raw.train_x, raw.train_y
        val_x, val_y = raw.val_x, raw.val_y
        if self.validation is not None:
            x, y, val_x, val_y = split_off(x, y, self.validation, self._rng(_VALIDATION), "validation")
        if self.subsample is not None:
            keep = round(self.subsample * len(x)) if self.subsample <= 1 else int(self.subsample)
            if not 0 < keep <= len(x):
                raise DatasetError(f"subsample={self.subsample} keeps {keep} of {len(x)} training examples")
            if keep < len(x):  # the DCGAN-10 baseline: each member sees its own random 80 % of the data
                idx = np.sort(self._rng(_SUBSAMPLE).permutation(len(x))[:keep])
                x, y = x[idx], None if y is None else y[idx]
        labels = None if y is None else torch.from_numpy(y)
        splits = DataSplits(
            train_x=to_unit_range(x),
            train_y=labels,
            test_x=to_unit_range(raw.test_x),
            test_y=None if raw.test_y is None else torch.from_numpy(raw.test_y),
            num_classes=raw.num_classes,
        )
        if val_x is not None:  # extra attributes until DataSplits grows val fields (see the data README)
            splits.val_x = to_unit_range(val_x)  # type: ignore[attr-defined]
            splits.val_y = None if val_y is None else torch.from_numpy(val_y)  # type: ignore[attr-defined]
        return splits
