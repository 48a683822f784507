"""Image files on disk: parallel decode + crop + resize into one uint8 array, cached, and ``image_folder``.

``image_folder`` reads a folder of images, one subfolder per class (labelled) or flat (unlabelled), e.g.
the tutorial's hand-tool icons. With ``train/`` and ``test/`` subfolders those are the splits; otherwise a
fixed random ``test_fraction`` is held out.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from bayesgan.data.files import DatasetError, cache_dir, cache_key, cached_arrays
from bayesgan.data.real import RawSplits, RealDataModule

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)
Size = tuple[int, int]  # (height, width)


def as_size(size: int | Sequence[int]) -> Size:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h < 1 or w < 1:
        raise DatasetError(f"image size must be positive, got {size}")
    return int(h), int(w)


def decode_image(
    path: Path, size: Size, channels: int, crop: int | None, background: int = 255
) -> np.ndarray:
    """One image as (C, H, W) uint8: transparency flattened onto ``background``, centre-cropped to a
    ``crop``-pixel square (0: the largest centred square; None: no crop), then resized (antialiased)."""
    with Image.open(path) as im:
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            im = Image.new("RGBA", rgba.size, (background,) * 3 + (255,))
            im.alpha_composite(rgba)
        im = im.convert("L" if channels == 1 else "RGB")
        if crop is not None:
            side = min(im.size) if crop == 0 else min(crop, *im.size)
            left, top = (im.width - side) // 2, (im.height - side) // 2
            im = im.crop((left, top, left + side, top + side))
        if im.size != (size[1], size[0]):
            im = im.resize((size[1], size[0]), Image.Resampling.BICUBIC, reducing_gap=3.0)
        arr = np.asarray(im)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def decode_images(
    paths: Sequence[Path], size: Size, channels: int, crop: int | None, workers: int | None = None
) -> np.ndarray:
    """(N, C, H, W) uint8 from many files; Pillow releases the GIL while decoding, so threads scale."""
    out = np.empty((len(paths), channels, *size), np.uint8)

    def work(i: int) -> None:
        try:
            out[i] = decode_image(paths[i], size, channels, crop)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise DatasetError(f"{paths[i]}: unreadable or truncated image ({e})") from None

    n_workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(n_workers) as pool:
        for _ in pool.map(work, range(len(paths))):  # consuming the iterator re-raises the first error
            pass
    return out


def decode_cached(
    paths: Sequence[Path], base: Path, cache: Path | None, tag: str, size: Size, channels: int,
    crop: int | None, workers: int | None = None,
) -> np.ndarray:  # fmt: skip
    """:func:`decode_images`, cached as ``<cache>/<tag>-<key>.npz``; the key covers the decode settings and
    every file's relative path, size and mtime, so adding, removing or editing an image rebuilds it."""
    listing = [(str(p.relative_to(base)), (st := p.stat()).st_size, st.st_mtime_ns) for p in paths]
    key = cache_key(base=str(base.resolve()), size=size, channels=channels, crop=crop, files=listing)
    return cached_arrays(
        cache, f"{tag}-{key}", lambda: {"x": decode_images(paths, size, channels, crop, workers)}
    )["x"]


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def scan_folder(folder: Path) -> tuple[list[Path], list[str] | None, np.ndarray | None]:
    """(paths, class names, labels): class subfolders if any (hidden ones skipped), else a flat folder."""
    if not folder.is_dir():
        raise DatasetError(f"image_folder: {folder} is not a directory")
    class_dirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    loose = _images_in(folder)
    if class_dirs and loose:
        raise DatasetError(f"{folder}: mixes loose images with class subfolders; use one layout")
    if not class_dirs:
        if not loose:
            raise DatasetError(f"{folder}: empty folder (no {'/'.join(sorted(IMAGE_EXTENSIONS))} images)")
        return loose, None, None
    paths, labels = [], []
    for c, d in enumerate(class_dirs):
        files = _images_in(d)
        if not files:
            raise DatasetError(f"{d}: empty class folder (no images)")
        paths += files
        labels += [c] * len(files)
    return paths, [d.name for d in class_dirs], np.asarray(labels, np.int64)


class ImageFolderDataModule(RealDataModule):
    """A folder of images resized to ``size`` (int or [H, W]) with ``channels`` 1 (grayscale) or 3 (RGB).

    ``crop``: None resizes the whole image (aspect ratio not kept), 0 centre-crops the largest square
    first, N centre-crops an N-pixel square. Decoded arrays are cached under ``cache_dir`` (default
    ``<root>/.cache``), so only the first run pays for decoding.
    """

    name = "image_folder"
    source = "your own image folder"

    def __init__(
        self,
        *,
        size: int | Sequence[int] = 32,
        channels: int = 3,
        crop: int | None = None,
        test_fraction: float = 0.1,
        cache_dir: str | None = None,
        workers: int | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._check(channels in (1, 3), f"channels must be 1 or 3, got {channels}")
        self._check(crop is None or crop >= 0, f"crop must be null, 0 or a positive size, got {crop}")
        self._check(0 < test_fraction < 1, f"test_fraction must be in (0, 1), got {test_fraction}")
        self.size, self.channels, self.crop = as_size(size), channels, crop
        self.test_fraction, self.cache_dir, self.workers = test_fraction, cache_dir, workers

    def _decode(self, paths: list[Path], tag: str) -> np.ndarray:
        cache = cache_dir(self.root, self.cache_dir)
        return decode_cached(paths, self.root, cache, tag, self.size, self.channels, self.crop, self.workers)

    def read(self) -> RawSplits:
        if (self.root / "train").is_dir() and (self.root / "test").is_dir():
            paths, names, y = scan_folder(self.root / "train")
            test_paths, test_names, test_y = scan_folder(self.root / "test")
            if (names is None) != (test_names is None):
                raise DatasetError(
                    f"{self.root}: train/ and test/ must both be flat or both have class folders"
                )
            if names is not None and test_names is not None and test_y is not None:
                unknown = sorted(set(test_names) - set(names))
                if unknown:
                    raise DatasetError(f"{self.root / 'test'}: classes {unknown} do not exist in train/")
                test_y = np.asarray([names.index(test_names[c]) for c in test_y], np.int64)
            x, test_x = self._decode(paths, "train"), self._decode(test_paths, "test")
        else:
            paths, names, y = scan_folder(self.root)
            x, y, test_x, test_y = self.holdout_test(self._decode(paths, "all"), y, self.test_fraction)
        return RawSplits(
            x, y, test_x, test_y, num_classes=None if names is None else len(names), class_names=names
        )
