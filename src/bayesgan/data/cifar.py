"""CIFAR-10 from the official "python version": ``cifar-10-python.tar.gz`` or its extracted batches."""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bayesgan.data.files import DatasetError, RemoteFile, override_specs, verify_file
from bayesgan.data.real import RawSplits, RealDataModule, check_labels

ARCHIVE = RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", 170498071)
BATCHES = (  # official per-batch MD5s of the extracted files (as checked by torchvision)
    RemoteFile("data_batch_1", "c99cafc152244af753f735de768cd75f"),
    RemoteFile("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
    RemoteFile("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
    RemoteFile("data_batch_4", "634d18415352ddfa80567beed471001a"),
    RemoteFile("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
    RemoteFile("test_batch", "40351d587109b95175f43aff81a1287e"),
)
META = "batches.meta"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# The batches are Python-2 pickles of {data: uint8 ndarray, labels: list}. Only the globals such a pickle
# needs are allowed, so a tampered file (verify=none) cannot execute code while loading.
_ALLOWED = {
    (module, name)
    for module in (
        "numpy.core.multiarray",
        "numpy._core.multiarray",
        "numpy.core.numeric",
        "numpy._core.numeric",
    )
    for name in ("_reconstruct", "scalar", "_frombuffer")
} | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}")
        return super().find_class(module, name)


def _unpickle(data: bytes, source: str) -> dict[str, Any]:
    try:
        obj = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as e:  # any unpickling failure means a corrupt or foreign file
        raise DatasetError(f"{source}: not a readable CIFAR batch pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{source}: expected a pickled dict, got {type(obj).__name__}")
    return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _batch_arrays(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 32, 32) uint8 images and validated labels of one batch (rows are R, G, B planes already)."""
    d = _unpickle(data, source)
    if "data" not in d or "labels" not in d:
        raise DatasetError(f"{source}: missing 'data' or 'labels' entry (keys: {sorted(d)})")
    x = np.asarray(d["data"])
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32:
        raise DatasetError(f"{source}: data is {x.dtype} {x.shape}, expected uint8 (N, 3072)")
    y = check_labels(np.asarray(d["labels"]), x.shape[0], len(CLASSES), source)
    return x.reshape(-1, 3, 32, 32), y


class Cifar10DataModule(RealDataModule):
    """CIFAR-10: 50,000 train / 10,000 test, 32x32 RGB, 10 classes.

    Reads ``<root>/<folder>/{data_batch_1..5,test_batch}`` when all are present, else the members of
    ``<root>/<archive>`` directly (no extraction needed), downloading the archive if ``download``.
    """

    name = "cifar10"
    source = "https://www.cs.toronto.edu/~kriz/cifar.html (CIFAR-10 python version, or its extracted batches)"
    MIRRORS: ClassVar[tuple[str, ...]] = ("https://www.cs.toronto.edu/~kriz",)

    def __init__(
        self,
        *,
        archive: str = ARCHIVE.name,
        folder: str = "cifar-10-batches-py",
        md5: str | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.archive = override_specs(
            {"archive": ARCHIVE}, {"archive": archive}, md5 and {"archive": md5}, self.name
        )["archive"]
        self.folder = self.root / folder

    def _from_folder(self) -> tuple[dict[str, bytes], Mapping[str, str]]:
        blobs, sources = {}, {}
        for spec in BATCHES:
            path = self.folder / spec.name
            verify_file(path, spec, self.verify)
            blobs[spec.name], sources[spec.name] = path.read_bytes(), str(path)
        meta = self.folder / META
        if meta.is_file():
            blobs[META], sources[META] = meta.read_bytes(), str(meta)
        return blobs, sources

    def _from_archive(self) -> tuple[dict[str, bytes], Mapping[str, str]]:
        path = self.fetch([self.archive])[self.archive.name]
        wanted = {s.name for s in BATCHES} | {META}
        blobs: dict[str, bytes] = {}
        try:
            with tarfile.open(path, "r:*") as tar:
                for member in tar:
                    base = Path(member.name).name
                    if member.isfile() and base in wanted and (f := tar.extractfile(member)) is not None:
                        blobs[base] = f.read()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise DatasetError(f"{path}: truncated or corrupt archive ({e})") from None
        missing = [s.name for s in BATCHES if s.name not in blobs]
        if missing:
            raise DatasetError(f"{path}: archive lacks {', '.join(missing)}")
        return blobs, {k: f"{path}:{k}" for k in blobs}

    def read(self) -> RawSplits:
        have_folder = all((self.folder / s.name).is_file() for s in BATCHES)
        blobs, sources = self._from_folder() if have_folder else self._from_archive()
        parts = [_batch_arrays(blobs[s.name], sources[s.name]) for s in BATCHES]
        train_x = np.concatenate([x for x, _ in parts[:5]])
        train_y = np.concatenate([y for _, y in parts[:5]])
        names = list(CLASSES)
        if META in blobs:
            label_names = _unpickle(blobs[META], sources[META]).get("label_names")
            if isinstance(label_names, list) and len(label_names) == len(CLASSES):
                names = [n.decode() if isinstance(n, bytes) else str(n) for n in label_names]
        return RawSplits(train_x, train_y, *parts[5], num_classes=len(CLASSES), class_names=names)
