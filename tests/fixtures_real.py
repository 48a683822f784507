"""Tiny dataset files in every real distribution format, written by the tests themselves."""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from bayesgan.data.celeba import PAPER_ATTRIBUTES
from bayesgan.data.files import md5sum

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
CELEBA_HEADER = [f"Attr_{i}" for i in range(35)] + list(PAPER_ATTRIBUTES)  # 40 columns, like the real file


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def idx_bytes(a: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, a.ndim]) + np.asarray(a.shape, ">u4").tobytes()
    return header + a.astype(np.uint8).tobytes()


def balanced_labels(n: int, k: int, seed: int = 0) -> np.ndarray:
    return rng(seed).permutation(np.arange(n) % k).astype(np.uint8)


def write_idx_dataset(
    root: Path, n_train: int = 60, n_test: int = 20, size: int = 28, gz: bool = True
) -> dict[str, np.ndarray]:
    """MNIST-format files (10 balanced classes); returns the arrays written, keyed like ``IDX_NAMES``."""
    root.mkdir(parents=True, exist_ok=True)
    g = rng(1)
    arrays = {
        "train_images": g.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train_labels": balanced_labels(n_train, 10, 2),
        "test_images": g.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "test_labels": balanced_labels(n_test, 10, 3),
    }
    arrays["train_images"][0] = 0  # exact extremes, to check the mapping to [-1, 1]
    arrays["train_images"][1] = 255
    for key, a in arrays.items():
        data = idx_bytes(a)
        name = IDX_NAMES[key]
        if gz:
            (root / name).write_bytes(gzip.compress(data, mtime=0))
        else:
            (root / name.removesuffix(".gz")).write_bytes(data)
    return arrays


def idx_md5s(root: Path) -> dict[str, str]:
    return {key: md5sum(root / name) for key, name in IDX_NAMES.items()}


def cifar_batch(n: int, seed: int, labels: list[int] | None = None) -> bytes:
    """A batch pickled like the official Python-2 files: bytes keys, uint8 (N, 3072) data, list labels."""
    g = rng(seed)
    data = g.integers(0, 256, (n, 3072), dtype=np.uint8)
    d = {b"batch_label": b"fixture", b"data": data, b"labels": labels or [int(v) for v in np.arange(n) % 10]}
    return pickle.dumps(d, protocol=2)


def write_cifar(root: Path, per_batch: int = 20, archive: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    blobs = {f"data_batch_{i}": cifar_batch(per_batch, i) for i in range(1, 6)}
    blobs["test_batch"] = cifar_batch(per_batch, 9)
    blobs["batches.meta"] = pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}, protocol=2)
    if not archive:
        folder = root / "cifar-10-batches-py"
        folder.mkdir(exist_ok=True)
        for name, blob in blobs.items():
            (folder / name).write_bytes(blob)
        return folder
    path = root / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in blobs.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def write_svhn_mat(path: Path, n: int, seed: int = 0, labels: np.ndarray | None = None) -> np.ndarray:
    """An SVHN-format .mat (X: 32x32x3xN uint8, y: Nx1 in 1..10); returns the labels as written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    x = rng(seed).integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    y = labels if labels is not None else (np.arange(n) % 10 + 1).astype(np.uint8)
    scipy.io.savemat(path, {"X": x, "y": y.reshape(-1, 1)})
    return y


def write_celeba(root: Path, n: int = 24, partition: bool = True, anno_dirs: bool = False) -> np.ndarray:
    """``img_align_celeba/`` JPEGs (178x218 like the real ones), the attribute file and optionally the
    partition file (first 60 % train, next 20 % val, rest test). Returns the [N, 40] attribute values."""
    folder = root / "img_align_celeba"
    folder.mkdir(parents=True, exist_ok=True)
    g = rng(5)
    values = np.where(g.random((n, len(CELEBA_HEADER))) < 0.5, -1, 1)
    lines = [str(n), " ".join(CELEBA_HEADER)]
    part_lines = []
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        color = tuple(int(c) for c in g.integers(0, 256, 3))
        Image.new("RGB", (178, 218), color).save(folder / name, quality=95)
        lines.append(f"{name} " + " ".join(f"{v:2d}" for v in values[i]))
        part_lines.append(f"{name} {0 if i < 0.6 * n else 1 if i < 0.8 * n else 2}")
    anno = root / "Anno" if anno_dirs else root
    anno.mkdir(exist_ok=True)
    (anno / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    if partition:
        ev = root / "Eval" if anno_dirs else root
        ev.mkdir(exist_ok=True)
        (ev / "list_eval_partition.txt").write_text("\n".join(part_lines) + "\n")
    return values


def write_image(path: Path, size: tuple[int, int], mode: str, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    a = rng(seed).integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(a.squeeze(-1) if channels == 1 else a, mode).save(path)


def write_image_folder(root: Path, classes: list[str] | None, per_class: int = 6) -> None:
    """Mixed formats, modes and sizes: PNG with alpha, grayscale PNG, RGB JPEG."""
    groups = classes if classes is not None else [""]
    for c, name in enumerate(groups):
        for i in range(per_class):
            mode, ext = [("RGBA", "png"), ("L", "png"), ("RGB", "jpg")][i % 3]
            write_image(root / name / f"img{i}.{ext}", (20 + i, 30 - i), mode, 100 * c + i)
