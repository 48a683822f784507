"""CelebA aligned faces with classes built from binary attributes (the paper: 5 attributes → 32 classes)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bayesgan.data.files import DatasetError, RemoteFile, cache_dir, require_file, verify_file
from bayesgan.data.folders import as_size, decode_cached
from bayesgan.data.real import RawSplits, RealDataModule

ATTRIBUTES = RemoteFile("list_attr_celeba.txt", "75e246fa4810816ffd6ee81facbd244c")
PARTITION = RemoteFile("list_eval_partition.txt", "d32c9cbf5e040fd4025c592c306e6668")
# The authors' code (bgan_util.CelebDataset): attribute columns 9, 15, 20, 26, 39.
PAPER_ATTRIBUTES = ("Blond_Hair", "Eyeglasses", "Male", "Pale_Skin", "Young")
_TRAIN, _VAL, _TEST = 0, 1, 2  # partition-file split ids


def parse_attributes(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(image names, attribute names, values in {-1, 1} as int8 [N, A]) from ``list_attr_celeba.txt``."""
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise DatasetError(
            f"{path}: expected an image count, an attribute-name line, then one line per image"
        )
    count, header = int(lines[0]), lines[1].split()
    rows = lines[2:]
    if len(rows) != count:
        raise DatasetError(f"{path}: declares {count} images but lists {len(rows)} (truncated?)")
    widths = np.fromiter((len(r.split()) for r in rows), np.int64, len(rows))
    if (bad := np.flatnonzero(widths != len(header) + 1)).size:
        i = int(bad[0])
        raise DatasetError(f"{path}: line {i + 3} has {widths[i] - 1} values, expected {len(header)}")
    try:  # numpy's C parser: ~10x faster than Python ints for the 8M values of the real file
        values = np.loadtxt(rows, dtype=np.int8, usecols=range(1, len(header) + 1), ndmin=2)
    except ValueError as e:
        raise DatasetError(f"{path}: non-integer attribute value ({e})") from None
    if not np.isin(values, (-1, 1)).all():
        raise DatasetError(f"{path}: attribute values must be -1 or 1, found {np.unique(values).tolist()}")
    return [r.split(None, 1)[0] for r in rows], header, values


def parse_partition(path: Path) -> dict[str, int]:
    """Image name → split id (0 train, 1 validation, 2 test) from ``list_eval_partition.txt``."""
    out = {}
    for i, line in enumerate(path.read_text(errors="replace").splitlines()):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise DatasetError(f"{path}: line {i + 1} is {line!r}, expected '<image> <0|1|2>'")
        out[parts[0]] = int(parts[1])
    return out


def attribute_classes(
    values: np.ndarray, header: Sequence[str], chosen: Sequence[str], source: Path
) -> np.ndarray:
    """Class id = sum over chosen attributes i of 2**i when attribute i is present (the authors' encoding)."""
    missing = [a for a in chosen if a not in header]
    if missing:
        raise DatasetError(f"{source}: unknown attributes {missing}; available: {', '.join(header)}")
    bits = values[:, [header.index(a) for a in chosen]] == 1
    return (bits.astype(np.int64) << np.arange(len(chosen), dtype=np.int64)).sum(axis=1)


class CelebADataModule(RealDataModule):
    """CelebA ``img_align_celeba/*.jpg`` centre-cropped to ``crop`` px, resized to ``size`` (RGB).

    Classes: the 2**len(attributes) combinations of the chosen binary ``attributes`` (default: the paper's
    five → 32 classes). With the official partition file, splits are its train / validation / test (the
    validation images become ``val_x``/``val_y``); without it a fixed random ``test_fraction`` is the test
    set. The text files are looked up in ``root``, ``root/Anno`` and ``root/Eval``. ``limit`` keeps the
    first N images of each split (quick runs). Decoded images are cached (``cache_dir``).
    """

    name = "celeba"
    source = (
        "http://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Align&Cropped Images: img_align_celeba.zip, "
        "extracted; Anno/list_attr_celeba.txt; Eval/list_eval_partition.txt)"
    )

    def __init__(
        self,
        *,
        images: str = "img_align_celeba",
        attributes_file: str = ATTRIBUTES.name,
        partition_file: str | None = PARTITION.name,
        attributes: Sequence[str] = PAPER_ATTRIBUTES,
        size: int | Sequence[int] = 50,
        crop: int | None = 108,
        test_fraction: float = 0.1,
        limit: int | None = None,
        cache_dir: str | None = None,
        workers: int | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._check(len(attributes) >= 1, "celeba: choose at least one attribute")
        self._check(
            len(set(attributes)) == len(attributes), f"celeba: repeated attributes in {list(attributes)}"
        )
        self._check(limit is None or limit >= 1, f"limit must be >= 1 or null, got {limit}")
        self._check(crop is None or crop >= 0, f"crop must be null, 0 or a positive size, got {crop}")
        self.images, self.attributes_file, self.partition_file = images, attributes_file, partition_file
        self.attributes, self.size, self.crop = list(attributes), as_size(size), crop
        self.test_fraction, self.limit, self.cache_dir, self.workers = (
            test_fraction,
            limit,
            cache_dir,
            workers,
        )

    def _find(self, name: str, subdir: str) -> Path | None:
        for candidate in (self.root / name, self.root / subdir / name):
            if candidate.is_file():
                return candidate
        return None

    def _verified(self, name: str, subdir: str, official: RemoteFile) -> Path | None:
        path = self._find(name, subdir)
        if path is not None and name == official.name:
            verify_file(path, official, self.verify)
        return path

    def _decode(self, names: list[str], tag: str) -> np.ndarray:
        folder = self.root / self.images
        paths = [folder / n for n in names[: self.limit]]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise DatasetError(
                f"celeba: {len(missing)} listed images missing from {folder} (first: {missing[0]}); "
                f"extract img_align_celeba.zip from {self.source.split()[0]}"
            )
        cache = cache_dir(self.root, self.cache_dir)
        return decode_cached(paths, folder, cache, f"celeba-{tag}", self.size, 3, self.crop, self.workers)

    def read(self) -> RawSplits:
        attr_path = self._verified(self.attributes_file, "Anno", ATTRIBUTES)
        attr_path = require_file(attr_path or self.root / self.attributes_file, self.name, self.source)
        if not (self.root / self.images).is_dir():
            raise DatasetError(
                f"celeba: missing image folder {self.root / self.images}; fetch it from {self.source}"
            )
        names, header, values = parse_attributes(attr_path)
        labels = attribute_classes(values, header, self.attributes, attr_path)
        k = 2 ** len(self.attributes)
        part_path = self._verified(self.partition_file, "Eval", PARTITION) if self.partition_file else None
        if part_path is None:
            x, y, test_x, test_y = self.holdout_test(
                self._decode(names, "all"), labels[: self.limit], self.test_fraction
            )
            return RawSplits(x, y, test_x, test_y, num_classes=k, class_names=self._class_names())
        partition = parse_partition(part_path)
        unlisted = [n for n in names if n not in partition]
        if unlisted:
            raise DatasetError(
                f"{part_path}: {len(unlisted)} images of {attr_path.name} unlisted (first: {unlisted[0]})"
            )
        split = np.asarray([partition[n] for n in names])
        parts: list[tuple[np.ndarray, np.ndarray] | None] = []
        for s, tag in ((_TRAIN, "train"), (_VAL, "val"), (_TEST, "test")):
            idx = np.flatnonzero(split == s)[: self.limit]
            if idx.size == 0 and s != _VAL:
                raise DatasetError(f"{part_path}: no images in the {tag} split")
            parts.append((self._decode([names[i] for i in idx], tag), labels[idx]) if idx.size else None)
        (x, y), val, (tx, ty) = parts  # type: ignore[misc]
        vx, vy = val if val is not None else (None, None)
        return RawSplits(x, y, tx, ty, num_classes=k, class_names=self._class_names(), val_x=vx, val_y=vy)

    def _class_names(self) -> list[str]:
        """E.g. ``Blond_Hair+Male`` for class 5 (bits 0 and 2); ``none`` for class 0."""
        k = 2 ** len(self.attributes)
        return ["+".join(a for i, a in enumerate(self.attributes) if c >> i & 1) or "none" for c in range(k)]
