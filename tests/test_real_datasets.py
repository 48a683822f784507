"""Real dataset formats end to end: tiny fixture files in every format, corrupt variants, downloads from a
local HTTP server, the labelled-subset protocol, and (when present) the real MNIST / Fashion-MNIST files."""

from __future__ import annotations

import http.server
import os
import pickle
import socket
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from bayesgan.data import folders
from bayesgan.data.arrays import ArraysDataModule
from bayesgan.data.celeba import PAPER_ATTRIBUTES, CelebADataModule
from bayesgan.data.cifar import Cifar10DataModule
from bayesgan.data.files import DatasetError, RemoteFile, data_root, download_file, md5sum
from bayesgan.data.folders import ImageFolderDataModule
from bayesgan.data.idx import FashionMnistDataModule, MnistDataModule
from bayesgan.data.letters import OHLettersDataModule
from bayesgan.data.svhn import SvhnDataModule
from bayesgan.models import DCGAN
from fixtures_real import (
    CELEBA_HEADER,
    IDX_NAMES,
    cifar_batch,
    idx_bytes,
    idx_md5s,
    write_celeba,
    write_cifar,
    write_idx_dataset,
    write_image_folder,
    write_svhn_mat,
)


def ready(dm):
    dm.setup("fit")
    return dm


def raises_one_line(match: str):
    """``pytest.raises(DatasetError)`` that also checks the message is a single line."""

    class _Ctx:
        def __enter__(self):
            self.ctx = pytest.raises(DatasetError, match=match)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            assert "\n" not in str(self.info.value)
            return handled

    return _Ctx()


def check_images(x: torch.Tensor, shape: tuple[int, ...]) -> None:
    assert x.dtype == torch.float32 and tuple(x.shape[1:]) == shape
    assert x.min() >= -1 and x.max() <= 1


# ------------------------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    arrays = write_idx_dataset(tmp_path, gz=gz)
    dm = ready(MnistDataModule(root=tmp_path, verify="none", n_labels=20, batch_size=16, seed=1))
    s = dm.splits
    check_images(s.train_x, (1, 28, 28))
    assert s.train_x.shape[0] == 60 and s.test_x.shape[0] == 20 and dm.num_classes == 10
    expected = torch.from_numpy(arrays["train_images"]).float()[:, None] / 127.5 - 1
    assert torch.equal(s.train_x, expected)
    assert s.train_x[0].eq(-1).all() and s.train_x[1].eq(1).all()
    assert torch.equal(s.test_y, torch.from_numpy(arrays["test_labels"]).long())
    assert torch.bincount(s.train_y[dm.labelled_indices], minlength=10).tolist() == [2] * 10
    batch = dm.train_batch(0)
    assert batch["x"].shape == (16, 1, 28, 28) and batch["y_lab"].shape == (16,)


def test_fashion_mnist_uses_its_folder_and_env_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_idx_dataset(tmp_path / "fashion-mnist")
    monkeypatch.setenv("BAYESGAN_DATA_ROOT", str(tmp_path))
    dm = ready(FashionMnistDataModule(verify="none", batch_size=8))
    assert dm.root == tmp_path / "fashion-mnist" and dm.class_names[9] == "Ankle boot"
    assert data_root("elsewhere", "x") == Path("elsewhere")


def _corrupt(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif how == "trailing":
        path.write_bytes(data + b"\0")
    else:
        path.write_bytes(b"\x00\x00\x0d\x03" + data[4:])


@pytest.mark.parametrize(
    ("gz", "how", "message"),
    [
        (True, "truncate", "truncated or corrupt gzip"),
        (False, "truncate", "truncated: .* bytes for shape"),
        (False, "trailing", "has trailing bytes"),
        (False, "magic", "not an unsigned-byte IDX file"),
    ],
)
def test_idx_rejects_corrupt_files(tmp_path: Path, gz: bool, how: str, message: str) -> None:
    write_idx_dataset(tmp_path, gz=gz)
    name = IDX_NAMES["train_images"] if gz else IDX_NAMES["train_images"].removesuffix(".gz")
    _corrupt(tmp_path / name, how)
    with raises_one_line(f"train-images-idx3-ubyte.*{message}"):
        ready(MnistDataModule(root=tmp_path, verify="none"))


def test_idx_raw_official_names_are_checksummed(tmp_path: Path) -> None:
    """Gunzipped files under the official names are verified against the official files' decompressed
    size and MD5 (issue #8: a raw copy with flipped pixel bytes used to pass on its header alone)."""
    write_idx_dataset(tmp_path, gz=False)  # well-formed IDX, but not the official bytes
    with raises_one_line("train-images-idx3-ubyte: .* bytes, expected 47040016 .truncated or corrupt"):
        ready(MnistDataModule(root=tmp_path))
    images = tmp_path / "train-images-idx3-ubyte"
    original = images.read_bytes()
    images.write_bytes(original + b"\0" * (47040016 - len(original)))  # the official size, other bytes
    with raises_one_line("train-images-idx3-ubyte: MD5 .* does not match the expected 6bbc9ace898e44ae"):
        ready(MnistDataModule(root=tmp_path))
    images.write_bytes(original)
    ready(MnistDataModule(root=tmp_path, verify="none", batch_size=8))  # verify=none: header checks only


def test_idx_rejects_bad_labels(tmp_path: Path) -> None:
    write_idx_dataset(tmp_path, gz=False)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.full(60, 10, np.uint8)))
    with raises_one_line("train-labels-idx1-ubyte: labels out of range"):
        ready(MnistDataModule(root=tmp_path, verify="none"))
    labels.write_bytes(idx_bytes(np.zeros(59, np.uint8)))
    with raises_one_line(r"labels have shape \(59,\), expected \(60,\)"):
        ready(MnistDataModule(root=tmp_path, verify="none"))


def test_idx_missing_files_and_checksums(tmp_path: Path) -> None:
    with raises_one_line("mnist: missing train-images-idx3-ubyte.gz, .* in .*; set download=true .*ossci"):
        ready(MnistDataModule(root=tmp_path))
    write_idx_dataset(tmp_path)
    with raises_one_line("train-images-idx3-ubyte.gz: .* bytes, expected 9912422 .truncated"):
        ready(MnistDataModule(root=tmp_path, verify="size"))
    # Same size, different bytes: only the MD5 can tell.
    with raises_one_line("train-images-idx3-ubyte.gz: MD5 .* does not match the expected 0{32}"):
        ready(MnistDataModule(root=tmp_path, md5={"train_images": "0" * 32}))
    ready(
        MnistDataModule(root=tmp_path, md5=idx_md5s(tmp_path), batch_size=8)
    )  # a private copy with its own checksums


# ------------------------------------------------------------------------------------------- CIFAR-10
@pytest.mark.parametrize("archive", [True, False])
def test_cifar10_archive_and_folder(tmp_path: Path, archive: bool) -> None:
    write_cifar(tmp_path, archive=archive)
    dm = ready(Cifar10DataModule(root=tmp_path, verify="none", n_labels=10, batch_size=8))
    check_images(dm.splits.train_x, (3, 32, 32))
    assert dm.num_train == 100 and dm.splits.test_x.shape[0] == 20 and dm.class_names[3] == "c3"
    raw = pickle.loads(cifar_batch(20, 1), encoding="bytes")[b"data"]
    assert torch.equal(
        dm.splits.train_x[:20], torch.from_numpy(raw).float().reshape(-1, 3, 32, 32) / 127.5 - 1
    )


def test_cifar10_rejects_corrupt_files(tmp_path: Path) -> None:
    folder = write_cifar(tmp_path / "f", archive=False)
    blob = (folder / "data_batch_2").read_bytes()
    (folder / "data_batch_2").write_bytes(blob[: len(blob) // 2])
    with raises_one_line("data_batch_2: not a readable CIFAR batch pickle"):
        ready(Cifar10DataModule(root=tmp_path / "f", verify="none"))
    (folder / "data_batch_2").write_bytes(
        pickle.dumps({b"data": np.zeros((5, 100), np.uint8), b"labels": [0] * 5})
    )
    with raises_one_line(r"data_batch_2: data is uint8 \(5, 100\), expected uint8 \(N, 3072\)"):
        ready(Cifar10DataModule(root=tmp_path / "f", verify="none"))
    (folder / "data_batch_2").write_bytes(pickle.dumps(os.system))  # a pickle that would run code
    with raises_one_line("forbidden global"):
        ready(Cifar10DataModule(root=tmp_path / "f", verify="none"))
    with raises_one_line("data_batch_1: .*MD5 .* does not match"):
        ready(Cifar10DataModule(root=tmp_path / "f"))
    path = write_cifar(tmp_path / "a")
    path.write_bytes(path.read_bytes()[:2000])
    with raises_one_line("cifar-10-python.tar.gz: truncated or corrupt archive"):
        ready(Cifar10DataModule(root=tmp_path / "a", verify="none"))


# ------------------------------------------------------------------------------------------- SVHN
def test_svhn_mat_files(tmp_path: Path) -> None:
    y = write_svhn_mat(tmp_path / "train_32x32.mat", 30)
    write_svhn_mat(tmp_path / "test_32x32.mat", 10, seed=1)
    dm = ready(SvhnDataModule(root=tmp_path, verify="none", n_labels=10, batch_size=8))
    check_images(dm.splits.train_x, (3, 32, 32))
    assert dm.num_train == 30 and dm.splits.test_x.shape[0] == 10
    assert torch.equal(dm.splits.train_y, torch.from_numpy(y % 10).long())  # label 10 is the digit 0
    assert (dm.splits.train_y == 0).sum() == 3


@pytest.mark.parametrize("problem", ["truncated", "shape", "label0"])
def test_svhn_rejects_broken_files(tmp_path: Path, problem: str) -> None:
    train = tmp_path / "train_32x32.mat"
    write_svhn_mat(train, 30, labels=np.arange(30) % 10 if problem == "label0" else None)
    write_svhn_mat(tmp_path / "test_32x32.mat", 10)
    if problem == "truncated":
        train.write_bytes(train.read_bytes()[:5000])
    elif problem == "shape":
        import scipy.io

        scipy.io.savemat(train, {"X": np.zeros((28, 28, 1, 4), np.uint8), "y": np.ones((4, 1))})
    message = {
        "truncated": "truncated or corrupt .mat",
        "shape": "X is uint8 .28, 28, 1, 4.",
        "label0": "1..10",
    }
    with raises_one_line(f"train_32x32.mat: .*{message[problem]}"):
        ready(SvhnDataModule(root=tmp_path, verify="none"))
    with raises_one_line("train_32x32.mat: .* expected 182040794"):
        ready(SvhnDataModule(root=tmp_path))


# ------------------------------------------------------------------------------------------- CelebA
def test_celeba_attribute_classes_partition_and_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = write_celeba(tmp_path, n=20, anno_dirs=True)
    kw = dict(root=tmp_path, verify="none", size=16, crop=108, batch_size=4)
    dm = ready(CelebADataModule(**kw))
    check_images(dm.splits.train_x, (3, 16, 16))
    assert dm.num_classes == 32 and dm.num_train == 12 and dm.splits.test_x.shape[0] == 4
    assert dm.splits.val_x.shape == (4, 3, 16, 16)
    cols = [CELEBA_HEADER.index(a) for a in PAPER_ATTRIBUTES]
    expected = ((values[:, cols] == 1) * (1 << np.arange(5))).sum(1)
    assert dm.splits.train_y.tolist() == expected[:12].tolist()
    assert dm.class_names[5] == "Blond_Hair+Male"
    # Second run: decoded from the cache, never from the JPEGs.
    monkeypatch.setattr(folders, "decode_images", lambda *a, **k: pytest.fail("cache not used"))
    again = ready(CelebADataModule(**kw))
    assert torch.equal(again.splits.train_x, dm.splits.train_x)
    monkeypatch.undo()
    two = ready(CelebADataModule(**kw, attributes=["Male", "Young"], partition_file=None))
    assert two.num_classes == 4 and two.num_train == 18  # 10 % of 20 held out as the test set


def test_celeba_errors(tmp_path: Path) -> None:
    write_celeba(tmp_path, n=6)
    kw = dict(root=tmp_path, verify="none", size=8, cache_dir=str(tmp_path / "cache"))
    with raises_one_line("unknown attributes .'Smiling'."):
        ready(CelebADataModule(**kw, attributes=["Smiling"]))
    (tmp_path / "img_align_celeba" / "000003.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 50)
    with raises_one_line("000003.jpg: unreadable or truncated image"):
        ready(CelebADataModule(**kw))
    (tmp_path / "img_align_celeba" / "000003.jpg").unlink()
    with raises_one_line("celeba: 1 listed images missing .* .first: 000003.jpg."):
        ready(CelebADataModule(**kw))
    attr = tmp_path / "list_attr_celeba.txt"
    attr.write_text("\n".join(attr.read_text().splitlines()[:-2]))
    with raises_one_line("list_attr_celeba.txt: declares 6 images but lists 4"):
        ready(CelebADataModule(**kw))
    attr.unlink()
    with raises_one_line("celeba: missing list_attr_celeba.txt in .*mmlab"):
        ready(CelebADataModule(**kw))


# ------------------------------------------------------------------------------------------- image folder
@pytest.mark.parametrize("channels", [1, 3])
def test_image_folder_classes(tmp_path: Path, channels: int) -> None:
    write_image_folder(tmp_path, ["hammer", "saw", "wrench"], per_class=10)
    dm = ready(ImageFolderDataModule(root=tmp_path, size=12, channels=channels, n_labels=6, batch_size=4))
    check_images(dm.splits.train_x, (channels, 12, 12))
    assert dm.num_classes == 3 and dm.num_train == 27 and dm.class_names == ["hammer", "saw", "wrench"]
    assert len(list((tmp_path / ".cache").glob("*.npz"))) == 1


def test_image_folder_flat_and_split_layout(tmp_path: Path) -> None:
    write_image_folder(tmp_path / "flat", None, per_class=10)
    dm = ready(ImageFolderDataModule(root=tmp_path / "flat", size=[8, 10], crop=0, batch_size=4))
    assert dm.splits.train_y is None and dm.data_shape == (3, 8, 10) and dm.num_train == 9
    with pytest.raises(ValueError, match="requires a labelled dataset"):
        ready(ImageFolderDataModule(root=tmp_path / "flat", n_labels=4, batch_size=4))
    write_image_folder(tmp_path / "split" / "train", ["a", "b"], per_class=4)
    write_image_folder(tmp_path / "split" / "test", ["b"], per_class=3)
    dm = ready(ImageFolderDataModule(root=tmp_path / "split", size=8, batch_size=4))
    assert dm.num_train == 8 and dm.splits.test_y.tolist() == [1, 1, 1]


def test_image_folder_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with raises_one_line("empty folder"):
        ready(ImageFolderDataModule(root=tmp_path / "empty"))
    write_image_folder(tmp_path / "c", ["a"], per_class=3)
    (tmp_path / "c" / "b").mkdir()
    with raises_one_line("b: empty class folder"):
        ready(ImageFolderDataModule(root=tmp_path / "c"))
    with raises_one_line("is not a directory"):
        ready(ImageFolderDataModule(root=tmp_path / "nope"))


# ------------------------------------------------------------------------------------------- arrays
@pytest.mark.parametrize(
    ("shape", "dtype", "lo", "hi"),
    [((40, 9, 9, 3), np.uint8, 0, 255), ((40, 1, 9, 9), np.float32, 0, 1), ((40, 9, 9), np.float64, -1, 1)],
)
def test_arrays_layouts_and_ranges(tmp_path: Path, shape, dtype, lo, hi) -> None:
    g = np.random.default_rng(0)
    x = (g.random(shape) * (hi - lo) + lo).astype(dtype)
    x.flat[0], x.flat[1] = lo, hi
    np.save(tmp_path / "X.npy", x)
    np.save(tmp_path / "y.npy", np.arange(40) % 4)
    dm = ready(ArraysDataModule(root=tmp_path, n_labels=8, batch_size=8))
    c = 3 if shape[-1] == 3 else 1
    check_images(torch.cat([dm.splits.train_x, dm.splits.test_x]), (c, 9, 9))
    assert dm.num_classes == 4 and dm.num_train == 36
    all_x = torch.cat([dm.splits.train_x, dm.splits.test_x])
    assert all_x.min() == -1 and all_x.max() == 1


def test_arrays_with_test_files_and_unlabelled(tmp_path: Path) -> None:
    np.save(tmp_path / "X.npy", np.zeros((10, 3, 8, 8), np.uint8))
    np.save(tmp_path / "X_test.npy", np.zeros((4, 3, 8, 8), np.uint8))
    dm = ready(ArraysDataModule(root=tmp_path, batch_size=4))
    assert dm.num_train == 10 and dm.splits.test_x.shape[0] == 4 and dm.splits.train_y is None


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.full((8, 1, 4, 4), np.nan, np.float32), None, "NaN"),
        (np.full((8, 1, 4, 4), 300.0), None, "fit none of"),
        (np.zeros((8, 5, 4, 4), np.uint8), None, "cannot tell NHWC from NCHW"),
        (np.zeros((8, 4), np.uint8), None, r"shape \(8, 4\)"),
        (np.zeros((8, 1, 4, 4), np.uint8), np.full(8, -1), "labels out of range"),
        (np.zeros((8, 1, 4, 4), np.uint8), np.zeros(7, int), r"labels have shape \(7,\)"),
        (np.array([None] * 8, dtype=object), None, "not a readable .npy"),
    ],
)
def test_arrays_rejects_bad_data(tmp_path: Path, x, y, message: str) -> None:
    np.save(tmp_path / "X.npy", x, allow_pickle=True)
    if y is not None:
        np.save(tmp_path / "y.npy", y)
    with raises_one_line(message):
        ready(ArraysDataModule(root=tmp_path, batch_size=2))


def test_arrays_truncated_file(tmp_path: Path) -> None:
    np.save(tmp_path / "X.npy", np.zeros((50, 1, 8, 8), np.uint8))
    data = (tmp_path / "X.npy").read_bytes()
    (tmp_path / "X.npy").write_bytes(data[:-100])
    with raises_one_line("X.npy: not a readable .npy array"):
        ready(ArraysDataModule(root=tmp_path, batch_size=2))


# ------------------------------------------------------------------------------------------- OH letters
def test_oh_letters_deterministic_with_proportions(tmp_path: Path) -> None:
    kw = dict(num_samples=400, num_test=100, batch_size=8)
    a = ready(OHLettersDataModule(root=tmp_path / "a", data_seed=3, **kw, seed=0))
    b = ready(OHLettersDataModule(root=tmp_path / "b", data_seed=3, **kw, seed=5))  # run seed: no effect
    c = ready(OHLettersDataModule(root=tmp_path / "c", data_seed=4, **kw))
    assert torch.equal(a.splits.train_x, b.splits.train_x) and torch.equal(a.splits.test_y, b.splits.test_y)
    assert not torch.equal(a.splits.train_x, c.splits.train_x)
    check_images(a.splits.train_x, (1, 24, 24))
    assert a.splits.train_y.bincount().tolist() == [200, 200] and a.splits.test_y.bincount().tolist() == [
        50,
        50,
    ]
    quarter = ready(OHLettersDataModule(root=tmp_path / "a", fraction_o=0.25, **kw))
    assert quarter.splits.train_y.bincount().tolist() == [300, 100]
    # Each image is one glyph: the same ink for every image of a letter, different between H and O.
    ink = (a.splits.train_x > 0).flatten(1).sum(1)
    h, o = ink[a.splits.train_y == 0], ink[a.splits.train_y == 1]
    assert h.unique().numel() == 1 and o.unique().numel() == 1 and h[0] != o[0]
    assert len(list((tmp_path / "a" / ".cache").glob("oh_letters-*.npz"))) == 2


# ------------------------------------------------------------------------------------------- protocol
def test_subsample_and_validation(tmp_path: Path) -> None:
    write_idx_dataset(tmp_path, n_train=100)
    kw = dict(root=tmp_path, verify="none", batch_size=8)
    full = ready(MnistDataModule(**kw))
    sub = [ready(MnistDataModule(**kw, subsample=0.8, seed=s)).splits.train_x for s in (0, 1)]
    assert sub[0].shape[0] == sub[1].shape[0] == 80 and not torch.equal(sub[0], sub[1])
    assert ready(MnistDataModule(**kw, subsample=30)).num_train == 30
    val = ready(MnistDataModule(**kw, validation=0.1, n_labels=10))
    assert val.num_train == 90 and val.splits.val_x.shape[0] == 10 and val.splits.val_y.shape == (10,)
    rows = {tuple(r.flatten().tolist()) for r in full.splits.train_x}
    assert all(tuple(r.flatten().tolist()) in rows for r in val.splits.val_x)
    assert full.splits.test_x.shape == val.splits.test_x.shape  # evaluation stays on the full test set
    with pytest.raises(ValueError, match="class 0 has only 10 training examples, needs 11"):
        ready(MnistDataModule(**kw, n_labels=110))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 24, 24), (3, 50, 50), (3, 64, 64)])
def test_models_build_for_every_dataset_shape(shape: tuple[int, int, int]) -> None:
    arch = DCGAN(width=4, max_width=16)
    fake = arch.build_generator(shape)(torch.rand(2, arch.z_dim) * 2 - 1)
    assert fake.shape == (2, *shape)
    assert arch.build_discriminator(shape, 11)(fake).shape == (2, 11)


# ------------------------------------------------------------------------------------------- downloads
@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 serving ``<tmp>/served``."""
    served = tmp_path / "served"
    served.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", served
    server.shutdown()
    server.server_close()


def test_download_success_with_mirror_fallback(tmp_path: Path, http_server) -> None:
    url, served = http_server
    write_idx_dataset(served / "mnist")
    root = tmp_path / "data"
    dm = MnistDataModule(root=root, download=True, mirrors=[f"{url}/missing", f"{url}/mnist"],
                         md5=idx_md5s(served / "mnist"), batch_size=8)  # fmt: skip
    ready(dm)
    assert dm.num_train == 60
    assert sorted(p.name for p in root.iterdir()) == sorted(IDX_NAMES.values())  # nothing else left behind
    assert all(md5sum(root / n) == md5sum(served / "mnist" / n) for n in IDX_NAMES.values())


def test_download_checksum_mismatch_leaves_nothing(tmp_path: Path, http_server) -> None:
    url, served = http_server
    write_idx_dataset(served)
    md5 = {**idx_md5s(served), "test_images": "0" * 32}
    root = tmp_path / "data"
    with raises_one_line(r"could not download t10k-images-idx3-ubyte.gz .*checksum mismatch"):
        ready(MnistDataModule(root=root, download=True, mirrors=[url], md5=md5))
    assert not (root / IDX_NAMES["test_images"]).exists()
    assert not list(root.glob(".*.part"))
    with raises_one_line("got 5 bytes, expected 6"):
        (served / "small").write_bytes(b"12345")
        download_file([f"{url}/small"], root / "small", RemoteFile("small", size=6))
    assert not (root / "small").exists()


def test_download_server_unreachable(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with raises_one_line(f"could not download train-images-idx3-ubyte.gz .*127.0.0.1:{port}.*refused"):
        ready(MnistDataModule(root=tmp_path, download=True, mirrors=[f"http://127.0.0.1:{port}"]))
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------- real files
def real_root(name: str) -> Path | None:
    """``$BAYESGAN_DATA_ROOT/<name>`` or the project machines' ``../shared/data/<name>``, if complete."""
    candidates = [Path(__file__).resolve().parents[2] / "shared" / "data" / name]
    if os.environ.get("BAYESGAN_DATA_ROOT"):
        candidates.insert(0, Path(os.environ["BAYESGAN_DATA_ROOT"]) / name)
    return next((c for c in candidates if all((c / f).is_file() for f in IDX_NAMES.values())), None)


REAL_COUNTS = {
    "mnist": ([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
              [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
    "fashion-mnist": ([6000] * 10, [1000] * 10),
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "cls"), [("mnist", MnistDataModule), ("fashion-mnist", FashionMnistDataModule)]
)
def test_real_idx_files(name: str, cls) -> None:
    root = real_root(name)
    if root is None:
        pytest.skip(f"real {name} files not found (set BAYESGAN_DATA_ROOT)")
    dm = ready(cls(root=root, n_labels=100, seed=0))  # verify=md5: the official checksums
    s = dm.splits
    assert s.train_x.shape == (60000, 1, 28, 28) and s.test_x.shape == (10000, 1, 28, 28)
    assert s.train_x.min() == -1 and s.train_x.max() == 1 and s.test_x.min() == -1 and s.test_x.max() == 1
    assert s.train_y.bincount().tolist() == REAL_COUNTS[name][0]
    assert s.test_y.bincount().tolist() == REAL_COUNTS[name][1]
    assert s.train_y[dm.labelled_indices].bincount().tolist() == [10] * 10


def test_real_mnist_short_semi_supervised_fit(make_config, tmp_path: Path) -> None:
    root = real_root("mnist")
    if root is None:
        pytest.skip("real MNIST files not found (set BAYESGAN_DATA_ROOT)")
    from bayesgan.train import run

    data = ["dataset=mnist", f"dataset.root={root}", "dataset.n_labels=100", "dataset.batch_size=16"]
    cfg = make_config(*data, "model=dcgan_small", "model.width=8", "posterior.J_g=2", "posterior.bank_size=2")
    results = run(cfg, output_dir=tmp_path)
    assert results["iterations"] == 4
    assert all(np.isfinite(results["metrics"][k]) for k in ("loss/d", "loss/g"))
