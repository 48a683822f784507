"""Datamodules: datasets, labelled subset, resumable rank-aware training stream, sharded test loader."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from torch import Tensor

from bayesgan.data import (
    DataSplits,
    DigitsDataModule,
    GANDataModule,
    GridDataModule,
    RingDataModule,
    SyntheticDataModule,
)


class IndexDataModule(GANDataModule):
    """x = example index (so batches reveal which examples were drawn); labels = index % k, or none."""

    def __init__(self, n: int = 100, k: int | None = 4, n_test: int = 37, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n, self.k, self.n_test = n, k, n_test

    def load(self) -> DataSplits:
        x, xt = torch.arange(self.n).float()[:, None], -torch.arange(self.n_test).float()[:, None]
        if self.k is None:
            return DataSplits(x, None, xt, None)
        return DataSplits(x, torch.arange(self.n) % self.k, xt, torch.arange(self.n_test) % self.k, self.k)


def ready(dm: GANDataModule) -> GANDataModule:
    dm.setup("fit")
    return dm


def ids(x: Tensor) -> list[int]:
    return x.flatten().long().tolist()


# ------------------------------------------------------------------ datasets
def test_ring_modes_and_samples() -> None:
    dm = ready(RingDataModule())
    modes = dm.modes
    assert dm.data_shape == (2,) and dm.num_train == 10_000 and dm.num_classes == 8 and dm.mode_std == 0.01
    assert torch.allclose(modes.norm(dim=1), torch.ones(8), atol=1e-6)
    angles = torch.atan2(modes[:, 1], modes[:, 0]) % (2 * math.pi)
    assert torch.allclose(angles.sort().values, torch.arange(8) * 2 * math.pi / 8, atol=1e-5)
    assert dm.splits.test_x.shape == (2500, 2)
    dist = (dm.splits.train_x - modes[dm.splits.train_y]).norm(dim=1)
    assert dist.max() < 6 * 0.01 and torch.bincount(dm.splits.train_y).min() > 1000


def test_grid_modes() -> None:
    dm = ready(GridDataModule(num_samples=500))
    assert dm.modes.shape == (25, 2) and dm.num_classes == 25 and dm.mode_std == 0.05
    assert set(dm.modes.flatten().tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    assert len({tuple(m) for m in dm.modes.tolist()}) == 25


def test_synthetic_standardised_and_deterministic() -> None:
    dm = ready(SyntheticDataModule())
    x = dm.splits.train_x
    assert x.shape == (10_000, 100) and dm.splits.test_x.shape == (2000, 100) and dm.data_shape == (100,)
    assert x.mean(0).abs().max() < 1e-4 and (x.std(0, unbiased=False) - 1).abs().max() < 1e-4
    assert torch.bincount(dm.splits.train_y).tolist() == [1000] * 10 and dm.modes.shape == (10, 100)
    assert dm.splits.test_x.mean(0).abs().mean() < 0.2  # train statistics still roughly centre the test set
    assert torch.equal(x, ready(SyntheticDataModule(seed=5)).splits.train_x)  # data_seed, not seed
    assert not torch.equal(x, ready(SyntheticDataModule(data_seed=1)).splits.train_x)


def test_digits_range_and_fixed_split() -> None:
    dm = ready(DigitsDataModule())
    s = dm.splits
    assert s.train_x.shape == (1437, 1, 8, 8) and s.test_x.shape == (360, 1, 8, 8) and dm.num_classes == 10
    assert s.train_x.min() == -1 and s.train_x.max() == 1 and s.train_x.dtype == torch.float32
    assert torch.bincount(s.test_y).min() >= 35  # stratified
    assert torch.equal(s.test_x, ready(DigitsDataModule(seed=3)).splits.test_x)


def test_digits_validation_split_never_sees_the_test_images() -> None:
    """Tuning (validation=True) never touches a test image: training + validation = the usual training set."""
    usual = ready(DigitsDataModule()).splits
    s = ready(DigitsDataModule(validation=True, n_labels=50)).splits
    assert s.train_x.shape[0] == 1437 - 360 and s.test_x.shape[0] == 360
    assert torch.bincount(s.test_y).min() >= 35  # stratified too

    def rows(x: Tensor) -> list[tuple[float, ...]]:
        return sorted(map(tuple, x.flatten(1).tolist()))

    assert rows(torch.cat([s.train_x, s.test_x])) == rows(usual.train_x)
    assert rows(s.test_x) != rows(usual.test_x)


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: RingDataModule(num_samples=0), "num_samples"),
        (lambda: RingDataModule(std=0.0), "std"),
        (lambda: GridDataModule(std=-1.0), "std"),
        (lambda: SyntheticDataModule(num_clusters=0), "num_clusters"),
        (lambda: DigitsDataModule(num_test=5), "num_test"),
        (lambda: DigitsDataModule(validation=True, num_test=900), "num_test"),
        (lambda: DigitsDataModule(validation="yes"), "validation"),
        (lambda: RingDataModule(batch_size=0), "batch_size"),
        (lambda: RingDataModule(n_labels=0), "n_labels"),
    ],
)
def test_constructor_validation(factory, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        factory()


# ------------------------------------------------------------------ labelled subset
def test_labelled_subset_balanced_and_deterministic() -> None:
    dm = ready(RingDataModule(n_labels=100, seed=1))
    y = dm.splits.train_y[dm.labelled_indices]
    assert dm.semi_supervised and dm.labelled_indices.numel() == 100
    assert torch.bincount(y, minlength=8).tolist() == [13] * 4 + [12] * 4  # remainder to the first classes
    assert torch.equal(dm.labelled_indices, ready(RingDataModule(n_labels=100, seed=1)).labelled_indices)
    assert not torch.equal(dm.labelled_indices, ready(RingDataModule(n_labels=100, seed=2)).labelled_indices)
    b = dm.train_batch(0)
    assert b["x_lab"].shape == (64, 2) and b["y_lab"].shape == (64,)
    unsup = ready(RingDataModule())
    assert not unsup.semi_supervised and "x_lab" not in unsup.train_batch(0)


def test_labelled_batch_is_distinct_subset_members() -> None:
    dm = ready(IndexDataModule(n=100, k=4, n_labels=40, labelled_batch_size=16, batch_size=8))
    lab = set(dm.labelled_indices.tolist())
    for t in range(5):
        b = dm.train_batch(t)
        got = ids(b["x_lab"])
        assert len(got) == 16 == len(set(got)) and set(got) <= lab
        assert torch.equal(b["y_lab"], torch.tensor(got) % 4)
    small = ready(IndexDataModule(n=100, k=4, n_labels=10, batch_size=32))  # n_labels < batch: use all
    assert sorted(ids(small.train_batch(3)["x_lab"])) == small.labelled_indices.tolist()


def test_labelled_subset_errors() -> None:
    with pytest.raises(ValueError, match="class 0 has only 25"):
        ready(IndexDataModule(n=100, k=4, n_labels=104))
    with pytest.raises(ValueError, match="requires a labelled dataset"):
        ready(IndexDataModule(k=None, n_labels=10))
    # Fewer labels than classes would leave some class without any (issue #8: n_labels=7 with 10 classes).
    with pytest.raises(ValueError, match=r"^n_labels=3 must be at least the number of classes, 4"):
        ready(IndexDataModule(n=100, k=4, n_labels=3))
    # Labels that skip classes (max label 9 of k=10 declared, classes 4..8 absent) are named, not reported
    # as "class 4 has only 0 training examples".
    gappy = IndexDataModule(n=8, k=10, n_labels=20, batch_size=4)
    y = torch.tensor([0, 1, 2, 3, 9, 9, 0, 1])
    gappy.load = lambda: DataSplits(torch.zeros(8, 1), y, torch.zeros(2, 1), None, 10)
    with pytest.raises(ValueError, match=r"5 of the 10 classes \(4-8\) have no training examples"):
        ready(gappy)


def test_uneven_labelled_split_is_stated(caplog: pytest.LogCaptureFixture) -> None:
    """n_labels not a multiple of K: the first n_labels % K classes get one more, and the log says so."""
    with caplog.at_level("WARNING", logger="bayesgan.data.labelled"):
        dm = ready(IndexDataModule(n=100, k=4, n_labels=10))
    counts = torch.bincount(dm.splits.train_y[dm.labelled_indices], minlength=4).tolist()
    assert counts == [3, 3, 2, 2]
    (record,) = caplog.records
    assert record.getMessage() == (
        "n_labels=10 is not a multiple of the 4 classes: classes 0-1 get 3 labelled examples each, "
        "classes 2-3 get 2"
    )
    caplog.clear()
    with caplog.at_level("WARNING", logger="bayesgan.data.labelled"):
        ready(IndexDataModule(n=100, k=4, n_labels=12))
    assert not caplog.records  # an even split says nothing


# ------------------------------------------------------------------ training stream
def test_stream_keys_shapes_len_and_distinct_indices() -> None:
    dm = ready(IndexDataModule(n=100, batch_size=16))
    loader = dm.train_dataloader()
    batches = list(loader)
    assert len(loader) == len(batches) == math.ceil(100 / 16)
    for t, b in enumerate(batches):
        assert set(b) == {"x"} and b["x"].shape == (16, 1) and len(set(ids(b["x"]))) == 16
        assert torch.equal(b["x"], dm.train_batch(t)["x"])
    assert len(ready(IndexDataModule(iterations_per_epoch=3)).train_dataloader()) == 3
    # Without a trainer the internal counter continues the stream on the next epoch.
    assert torch.equal(next(iter(loader))["x"], dm.train_batch(len(batches))["x"])


def test_large_dataset_batches_distinct_and_uniform() -> None:
    dm = ready(IndexDataModule(n=100_000, batch_size=512))  # rejection path of the sampler
    hits = torch.zeros(100_000)
    for t in range(200):
        got = dm.train_batch(t)["x"].flatten().long()
        assert got.unique().numel() == 512
        hits[got] += 1
    assert abs(hits[:50_000].sum() / hits.sum() - 0.5) < 0.01


def test_position_requires_module_iteration() -> None:
    dm = ready(RingDataModule())
    dm.trainer = SimpleNamespace(lightning_module=torch.nn.Linear(1, 1), global_rank=0, world_size=1)
    with pytest.raises(AttributeError, match="int `iteration` attribute"):
        dm.position()
    dm.trainer.lightning_module.iteration = 42
    assert dm.position() == 42


def test_stream_deterministic_for_seed() -> None:
    a, b, c = (ready(RingDataModule(n_labels=16, seed=s)) for s in (0, 0, 1))
    assert all(torch.equal(a.train_batch(5)[k], b.train_batch(5)[k]) for k in ("x", "x_lab", "y_lab"))
    assert not torch.equal(a.train_batch(5)["x"], c.train_batch(5)["x"])
    assert not torch.equal(a.train_batch(5)["x"], a.train_batch(6)["x"])


def test_stream_resumes_at_position() -> None:
    first = list(ready(RingDataModule(n_labels=16, iterations_per_epoch=10)).train_dataloader())
    second = ready(RingDataModule(n_labels=16, iterations_per_epoch=10))
    second.position = lambda: 7  # as if the training module had completed 7 iterations
    resumed = next(iter(second.train_dataloader()))
    assert all(torch.equal(resumed[k], first[7][k]) for k in ("x", "x_lab", "y_lab"))


def test_ranks_see_disjoint_slices_of_the_global_batch() -> None:
    full = ready(IndexDataModule(n=100, batch_size=12, n_labels=20, labelled_batch_size=8))
    parts = []
    for r in range(2):
        dm = ready(IndexDataModule(n=100, batch_size=12, n_labels=20, labelled_batch_size=8))
        dm.simulate_distributed(r, 2)
        parts.append(next(iter(dm.train_dataloader())))
        assert parts[-1]["x"].shape == (6, 1) and parts[-1]["x_lab"].shape == (4, 1)
    assert not set(ids(parts[0]["x"])) & set(ids(parts[1]["x"]))
    for k in ("x", "x_lab"):
        assert torch.equal(torch.cat([p[k] for p in parts]), full.train_batch(0)[k])
    bad = ready(IndexDataModule(batch_size=10))
    bad.simulate_distributed(0, 3)
    with pytest.raises(ValueError, match="divisible by the number of processes, 3"):
        bad.train_dataloader()


# ------------------------------------------------------------------ test loader
@pytest.mark.parametrize("world", [1, 2, 3, 4])
@pytest.mark.parametrize("labelled", [True, False])
def test_test_loader_covers_each_example_once(world: int, labelled: bool) -> None:
    xs, ys, counts = [], [], []
    for r in range(world):
        dm = ready(IndexDataModule(k=4 if labelled else None, n_test=37, test_batch_size=5))
        dm.simulate_distributed(r, world)
        batches = list(dm.test_dataloader())
        counts.append(len(batches))
        assert len(batches) == len(dm.test_dataloader())
        assert all(b["x"].shape[0] <= 5 and (set(b) == ({"x", "y"} if labelled else {"x"})) for b in batches)
        xs += [b["x"] for b in batches]
        ys += [b["y"] for b in batches] if labelled else []
    assert len(set(counts)) == 1  # same number of batches on every rank: no collective can hang
    assert torch.equal(torch.cat(xs), dm.splits.test_x)
    if labelled:
        assert torch.equal(torch.cat(ys), dm.splits.test_y)


# ------------------------------------------------------------------ Lightning integration
class _Recorder(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(2, 1)
        self.iteration = 0
        self.seen: list[tuple[int, Tensor]] = []

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        self.seen.append((self.iteration, batch["x"].clone()))
        return self.net(batch["x"]).pow(2).mean()

    def on_train_batch_end(self, *args) -> None:
        self.iteration += 1

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["iteration"] = self.iteration

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.iteration = checkpoint["iteration"]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _fit(model: _Recorder, max_steps: int, ckpt: str | None = None, root: str = ".") -> pl.Trainer:
    trainer = pl.Trainer(
        max_steps=max_steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
    )  # fmt: skip
    trainer.fit(model, datamodule=RingDataModule(num_samples=200, batch_size=32), ckpt_path=ckpt)
    return trainer


def test_lightning_stream_and_exact_resume(tmp_path) -> None:
    full = _Recorder()
    _fit(full, 17)  # 7 iterations per epoch: crosses two epoch boundaries
    dm = ready(RingDataModule(num_samples=200, batch_size=32))
    assert [t for t, _ in full.seen] == list(range(17))
    assert all(torch.equal(x, dm.train_batch(t)["x"]) for t, x in full.seen)

    part = _Recorder()
    trainer = _fit(part, 10)  # stop mid-epoch, then resume from the checkpoint
    trainer.save_checkpoint(tmp_path / "mid.ckpt")
    resumed = _Recorder()
    _fit(resumed, 17, ckpt=str(tmp_path / "mid.ckpt"))
    assert [t for t, _ in resumed.seen] == list(range(10, 17))
    assert all(torch.equal(x, full.seen[t][1]) for t, x in resumed.seen)
