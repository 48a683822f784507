"""SVHN (cropped digits) from the official ``train_32x32.mat`` / ``test_32x32.mat`` (MATLAB v5 files)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np

from bayesgan.data.files import DatasetError, RemoteFile, override_specs
from bayesgan.data.real import RawSplits, RealDataModule, check_labels

FILES: Mapping[str, RemoteFile] = {
    "train": RemoteFile("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373", 182040794),
    "test": RemoteFile("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3", 64275384),
    "extra": RemoteFile("extra_32x32.mat", "a93ce644f1a588dc4d68dda5feec44a7"),
}


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 32, 32) uint8 images and labels 0..9 from a ``*_32x32.mat`` (X: 32x32x3xN, y: Nx1 in 1..10)."""
    import scipy.io  # lazily: only this loader needs it, and it is slow to import

    try:
        mat = scipy.io.loadmat(path, variable_names=["X", "y"])
    except Exception as e:  # scipy raises ValueError/TypeError/MatReadError/... on damaged files
        raise DatasetError(f"{path}: truncated or corrupt .mat file ({type(e).__name__}: {e})") from None
    if "X" not in mat or "y" not in mat:
        raise DatasetError(
            f"{path}: missing variable 'X' or 'y' (found {sorted(k for k in mat if k[0] != '_')})"
        )
    x, y = mat["X"], np.asarray(mat["y"])
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise DatasetError(f"{path}: X is {x.dtype} {x.shape}, expected uint8 (32, 32, 3, N)")
    y = check_labels(y.reshape(-1) if y.ndim == 2 and 1 in y.shape else y, x.shape[3], 11, path)
    if y.size and y.min() < 1:
        raise DatasetError(f"{path}: labels out of range 1..10: min {y.min()}")
    # Label 10 is the digit 0 in the official files.
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), y % 10


class SvhnDataModule(RealDataModule):
    """SVHN: 73,257 train / 26,032 test, 32x32 RGB digits, 10 classes.

    ``files`` overrides the file names (keys ``train``, ``test``, ``extra``); ``extra: true`` appends the
    531,131 ``extra_32x32.mat`` digits to the training set (not used by the paper).
    """

    name = "svhn"
    source = "http://ufldl.stanford.edu/housenumbers/ (Format 2: cropped digits)"
    MIRRORS: ClassVar[tuple[str, ...]] = ("http://ufldl.stanford.edu/housenumbers",)

    def __init__(
        self,
        *,
        files: Mapping[str, str] | None = None,
        extra: bool = False,
        md5: Mapping[str, str] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.specs = override_specs(FILES, files, md5, self.name)
        self.extra = extra

    def read(self) -> RawSplits:
        keys = ["train", "test", *(["extra"] if self.extra else [])]
        paths = self.fetch([self.specs[k] for k in keys])
        (train_x, train_y), (test_x, test_y), *extra = (
            read_svhn_mat(paths[self.specs[k].name]) for k in keys
        )
        if extra:
            train_x, train_y = np.concatenate([train_x, extra[0][0]]), np.concatenate([train_y, extra[0][1]])
        return RawSplits(
            train_x, train_y, test_x, test_y, num_classes=10, class_names=[str(d) for d in range(10)]
        )
