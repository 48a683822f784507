"""MNIST and Fashion-MNIST from their four official IDX files (gzip-compressed, or raw after ``gunzip``)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np

from bayesgan.data.files import DatasetError, RemoteFile, override_specs
from bayesgan.data.real import RawSplits, RealDataModule, check_labels, nhwc_to_nchw

_IDX_UINT8 = 0x08
KEYS = ("train_images", "train_labels", "test_images", "test_labels")


def read_idx(path: Path) -> np.ndarray:
    """An unsigned-byte IDX array (header: 0, 0, type 0x08, ndim, then ndim big-endian uint32 sizes)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        if data[:2] == b"\x1f\x8b":  # gzip magic: decide by content, not by the file name
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: truncated or corrupt gzip data ({e})") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != _IDX_UINT8 or not 1 <= data[3] <= 4:
        raise DatasetError(f"{path}: not an unsigned-byte IDX file (bad magic {data[:4].hex() or 'empty'})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DatasetError(f"{path}: {what}: {len(data)} bytes for shape {shape}, expected {expected}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


class IdxDataModule(RealDataModule):
    """Four IDX files under ``root``: train/test images (N, H, W) and labels (N,), 10 classes.

    ``files`` overrides the file names (keys ``train_images``, ``train_labels``, ``test_images``,
    ``test_labels``) and ``md5`` their checksums (e.g. for a private mirror). A configured ``.gz`` name
    that is absent but present without ``.gz`` (already decompressed) is read raw. An official file read
    raw is verified against ``RAW_FILES``: the MD5 and size of the official ``.gz`` decompressed (a
    renamed or re-checksummed file is verified by its configured MD5 only, as with ``.gz``).
    """

    FILES: ClassVar[Mapping[str, RemoteFile]]
    RAW_FILES: ClassVar[Mapping[str, RemoteFile]]
    CLASSES: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        *,
        files: Mapping[str, str] | None = None,
        md5: Mapping[str, str] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.specs = override_specs(self.FILES, files, md5, self.name)

    def _resolve(self, key: str) -> RemoteFile:
        spec = self.specs[key]
        raw = spec.name.removesuffix(".gz")
        if raw != spec.name and not (self.root / spec.name).is_file() and (self.root / raw).is_file():
            return self.RAW_FILES[key] if spec == self.FILES[key] else RemoteFile(raw)
        return spec

    def read(self) -> RawSplits:
        specs = {k: self._resolve(k) for k in KEYS}
        found = self.fetch(list(specs.values()))
        paths = {k: found[s.name] for k, s in specs.items()}
        out: list[np.ndarray] = []
        for split in ("train", "test"):
            x, y = read_idx(paths[f"{split}_images"]), read_idx(paths[f"{split}_labels"])
            if x.ndim != 3:
                raise DatasetError(
                    f"{paths[f'{split}_images']}: images have shape {x.shape}, expected (N, H, W)"
                )
            out += [nhwc_to_nchw(x), check_labels(y, x.shape[0], len(self.CLASSES), paths[f"{split}_labels"])]
        if out[0].shape[1:] != out[2].shape[1:]:
            raise DatasetError(
                f"{self.name}: train images {out[0].shape[1:]} vs test images {out[2].shape[1:]}"
            )
        return RawSplits(*out, num_classes=len(self.CLASSES), class_names=list(self.CLASSES))


class MnistDataModule(IdxDataModule):
    """MNIST handwritten digits: 60,000 train / 10,000 test, 28x28 grayscale, classes 0..9."""

    name = "mnist"
    source = "https://ossci-datasets.s3.amazonaws.com/mnist/ (originally http://yann.lecun.com/exdb/mnist/)"
    MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist", "http://yann.lecun.com/exdb/mnist")
    CLASSES = tuple(str(d) for d in range(10))
    FILES: ClassVar[Mapping[str, RemoteFile]] = {
        "train_images": RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
        "train_labels": RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", 28881),
        "test_images": RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", 1648877),
        "test_labels": RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", 4542),
    }
    # The same files after gunzip (MD5s of the decompressed official downloads above).
    RAW_FILES: ClassVar[Mapping[str, RemoteFile]] = {
        "train_images": RemoteFile("train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb", 47040016),
        "train_labels": RemoteFile("train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624", 60008),
        "test_images": RemoteFile("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea", 7840016),
        "test_labels": RemoteFile("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637", 10008),
    }


class FashionMnistDataModule(IdxDataModule):
    """Fashion-MNIST (Zalando): same sizes and format as MNIST, 10 clothing classes."""

    name = "fashion_mnist"
    dirname = "fashion-mnist"  # the upstream repository's folder name
    source = "https://github.com/zalandoresearch/fashion-mnist (data/fashion/)"
    MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",)
    CLASSES = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )
    FILES: ClassVar[Mapping[str, RemoteFile]] = {
        "train_images": RemoteFile(
            "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880
        ),
        "train_labels": RemoteFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", 29515),
        "test_images": RemoteFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", 4422102),
        "test_labels": RemoteFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", 5148),
    }
    RAW_FILES: ClassVar[Mapping[str, RemoteFile]] = {
        "train_images": RemoteFile("train-images-idx3-ubyte", "f4a8712d7a061bf5bd6d2ca38dc4d50a", 47040016),
        "train_labels": RemoteFile("train-labels-idx1-ubyte", "9018921c3c673c538a1fc5bad174d6f9", 60008),
        "test_images": RemoteFile("t10k-images-idx3-ubyte", "8181f5470baa50b63fa0f6fddb340f0a", 7840016),
        "test_labels": RemoteFile("t10k-labels-idx1-ubyte", "15d484375f8d13e6eb1aabb0c3f46965", 10008),
    }
