"""Images stored as NumPy arrays: ``X.npy`` (+ optional ``y.npy``), as the tutorial's Words and TGIF loaders.

NHWC or NCHW (or N, H, W grayscale); uint8 0..255 or float in [0, 1], [-1, 1] or [0, 255]. Shapes, dtypes,
value ranges and labels are validated with one-line errors that name the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bayesgan.data.files import DatasetError, require_file
from bayesgan.data.real import RawSplits, RealDataModule, check_labels, nhwc_to_nchw

LAYOUTS = ("auto", "nhwc", "nchw")
RANGES = {"0,1": (0.0, 1.0), "-1,1": (-1.0, 1.0), "0,255": (0.0, 255.0)}
_CHANNELS = (1, 3)


def load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:  # truncated data, bad header, pickled object arrays
        raise DatasetError(f"{path}: not a readable .npy array ({e})") from None


def to_nchw(x: np.ndarray, layout: str, path: Path) -> np.ndarray:
    """(N, C, H, W) view/copy of a 3-D (N, H, W) or 4-D NHWC/NCHW array; ``auto`` finds C in {1, 3}."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim != 4:
        raise DatasetError(f"{path}: shape {x.shape}; expected (N, H, W), (N, H, W, C) or (N, C, H, W)")
    if layout == "auto":
        last, first = x.shape[3] in _CHANNELS, x.shape[1] in _CHANNELS
        if last == first:
            raise DatasetError(f"{path}: cannot tell NHWC from NCHW for shape {x.shape}; set layout")
        layout = "nhwc" if last else "nchw"
    x = nhwc_to_nchw(x) if layout == "nhwc" else x
    if x.shape[1] not in _CHANNELS:
        raise DatasetError(f"{path}: {x.shape[1]} channels in {layout.upper()} layout; expected 1 or 3")
    return x


def scale_images(x: np.ndarray, value_range: str, path: Path) -> np.ndarray:
    """uint8 as is (0..255), anything else as float32 in [-1, 1], after checking the declared range."""
    if x.dtype == np.uint8 and value_range in ("auto", "0,255"):
        return np.asarray(x)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise DatasetError(f"{path}: dtype {x.dtype}; expected uint8 or a float/integer image array")
    x = np.array(x, dtype=np.float32)  # a copy: the input may be a read-only memory map
    if not np.isfinite(x).all():
        raise DatasetError(f"{path}: contains NaN or infinite values")
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    if value_range == "auto":
        # The narrowest standard range that holds the data; [0, 1] wins ties (the common float convention).
        value_range = next((r for r, (a, b) in RANGES.items() if a <= lo and hi <= b), "")
        if not value_range:
            raise DatasetError(f"{path}: values in [{lo:g}, {hi:g}] fit none of [0,1], [-1,1], [0,255]")
    a, b = RANGES[value_range]
    if lo < a or hi > b:
        raise DatasetError(f"{path}: values in [{lo:g}, {hi:g}] outside the declared range [{a:g}, {b:g}]")
    x -= a
    x *= 2.0 / (b - a)
    x -= 1.0
    return x


class ArraysDataModule(RealDataModule):
    """``<root>/<x>`` images and optional ``<root>/<y>`` labels; ``x_test``/``y_test`` when present, else
    a fixed random ``test_fraction`` of them is the test set. ``y: null`` ignores labels (unsupervised).

    ``layout``: auto | nhwc | nchw. ``value_range``: auto | "0,1" | "-1,1" | "0,255". ``num_classes``
    defaults to max label + 1 over train and test.
    """

    name = "arrays"
    source = "your own arrays (np.save)"

    def __init__(
        self,
        *,
        x: str = "X.npy",
        y: str | None = "y.npy",
        x_test: str = "X_test.npy",
        y_test: str = "y_test.npy",
        layout: str = "auto",
        value_range: str = "auto",
        num_classes: int | None = None,
        test_fraction: float = 0.1,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._check(layout in LAYOUTS, f"layout must be one of {LAYOUTS}, got {layout!r}")
        self._check(
            value_range == "auto" or value_range in RANGES,
            f"value_range must be auto or one of {list(RANGES)}",
        )
        self._check(num_classes is None or num_classes >= 1, f"num_classes must be >= 1, got {num_classes}")
        self._check(0 < test_fraction < 1, f"test_fraction must be in (0, 1), got {test_fraction}")
        self.files = {"x": x, "y": y, "x_test": x_test, "y_test": y_test}
        self.layout, self.value_range, self.num_classes_, self.test_fraction = (
            layout,
            value_range,
            num_classes,
            test_fraction,
        )

    def _images(self, path: Path) -> np.ndarray:
        x = to_nchw(load_npy(path), self.layout, path)
        if x.shape[0] == 0:
            raise DatasetError(f"{path}: no images (shape {x.shape})")
        return scale_images(x, self.value_range, path)

    def _labels(self, name: str | None, n: int) -> tuple[np.ndarray | None, Path | None]:
        if name is None or not (self.root / name).is_file():
            return None, None
        path = self.root / name
        return check_labels(np.asarray(load_npy(path)), n, self.num_classes_, path), path

    def read(self) -> RawSplits:
        x_path = require_file(self.root / self.files["x"], self.name, self.source)
        x = self._images(x_path)
        y, _ = self._labels(self.files["y"], x.shape[0])
        test_path = self.root / self.files["x_test"]
        if test_path.is_file():
            test_x = self._images(test_path)
            if test_x.shape[1:] != x.shape[1:]:
                raise DatasetError(
                    f"{test_path}: image shape {test_x.shape[1:]} differs from {x_path.name}'s {x.shape[1:]}"
                )
            test_y = self._labels(self.files["y_test"], test_x.shape[0])[0] if y is not None else None
            if y is not None and test_y is None:
                raise DatasetError(f"{self.root / self.files['y_test']}: missing labels for {test_path.name}")
        else:
            x, y, test_x, test_y = self.holdout_test(x, y, self.test_fraction)
        k = self.num_classes_
        if k is None and y is not None:
            k = int(max(y.max(), test_y.max() if test_y is not None and test_y.size else 0)) + 1
        return RawSplits(x, y, test_x, test_y, num_classes=k)
