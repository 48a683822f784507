"""Callbacks against a small stub module that implements the module contract honestly."""

from __future__ import annotations

import csv
import json
import math
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from pytorch_lightning import LightningDataModule, LightningModule, Trainer, seed_everything
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.strategies import DDPStrategy
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from bayesgan.callbacks import ModeCoverageCallback, PeriodicCallback, SampleGrid, SemiSupervisedAccuracy
from bayesgan.metrics import EnsembleClassification, null_coverage

ACC_KEYS = {f"test/{k}" for k in ("bma_accuracy", "member_accuracy", "bma_nll", "bma_brier", "bma_ece")}
COV_KEYS = {"coverage/modes", "coverage/high_quality", "coverage/reverse_kl"}
COV_KEYS |= {f"coverage/per_generator_{k}" for k in ("modes_mean", "modes_min", "high_quality_mean")}
NULL_KEYS = {"null/modes", "null/high_quality", "null/reverse_kl"}


class StubModule(LightningModule):
    """Ensemble of ``copies`` linear generators / classifiers; a bank snapshot every 2 iterations.

    Like the real module: SGLD-style noise from the GLOBAL RNG, bank kept on rank 0 and broadcast by the
    posterior-predictive methods (so those are collectives under DDP).
    """

    def __init__(self, data_shape=(2,), z_dim=3, copies=2, num_classes=8, semi_supervised=True) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.data_shape, self.z_dim, self.semi_supervised = tuple(data_shape), z_dim, semi_supervised
        d = math.prod(self.data_shape)
        self.gen_w = nn.Parameter(0.5 * torch.randn(copies, z_dim, d))
        self.gen_b = nn.Parameter(torch.zeros(copies, 1, d))
        self.disc_w = nn.Parameter(0.1 * torch.randn(copies, d, num_classes))
        self.bank: list[dict[str, Tensor]] = []
        self.iteration = 0

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05)

    def _current(self) -> dict[str, Tensor]:
        return {"gen_w": self.gen_w.detach(), "gen_b": self.gen_b.detach(), "disc_w": self.disc_w.detach()}

    def _gen(self, z: Tensor, state: dict[str, Tensor]) -> Tensor:  # z [C, n, z_dim] -> [C, n, d]
        out = torch.einsum("cnz,czd->cnd", z, state["gen_w"]) + state["gen_b"]
        return torch.tanh(out) if len(self.data_shape) == 3 else out

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        x, y = batch["x"].flatten(1), batch["y"]
        copies = self.gen_w.shape[0]
        z = torch.randn(copies, x.shape[0], self.z_dim, device=self.device)  # global RNG on purpose
        fake = self._gen(z, {"gen_w": self.gen_w, "gen_b": self.gen_b})
        logits = torch.einsum("bd,cdk->cbk", x, self.disc_w)
        sup = F.cross_entropy(logits.flatten(0, 1), y.repeat(copies))
        loss = (fake.mean(1) - x.mean(0)).pow(2).sum() + sup
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()
        with torch.no_grad():
            for p in self.parameters():
                p.add_(1e-3 * torch.randn_like(p))  # sampler noise: must be identical on every rank
        self.iteration += 1
        if self.iteration % 2 == 0 and self.trainer.is_global_zero:
            self.bank.append({k: v.clone() for k, v in self._current().items()})

    def _states(self, use_bank: bool) -> list[dict[str, Tensor]]:
        states = self.bank if use_bank else []
        if use_bank and self._trainer is not None and self.trainer.world_size > 1:
            states = self.trainer.strategy.broadcast(states, src=0)
        return list(states) or [self._current()]

    def num_posterior_samples(self, network: str, use_bank: bool = True) -> int:
        snapshots = len(self.bank) if use_bank else 0
        if use_bank and self._trainer is not None and self.trainer.world_size > 1:
            snapshots = self.trainer.strategy.broadcast(snapshots, src=0)
        return max(1, snapshots) * self.gen_w.shape[0]

    @torch.no_grad()
    def generate(self, z: Tensor | int, *, use_bank: bool = True, generator=None) -> Tensor:
        outs = []
        for state in self._states(use_bank):
            copies = state["gen_w"].shape[0]
            if isinstance(z, Tensor):
                zz = z.to(self.device).expand(copies, -1, -1)
            else:
                zz = torch.randn(copies, z, self.z_dim, generator=generator, device=self.device)
            outs.append(self._gen(zz, state))
        out = torch.cat(outs)
        return out.reshape(out.shape[0], out.shape[1], *self.data_shape)

    @torch.no_grad()
    def class_probabilities(self, x: Tensor, *, use_bank: bool = True) -> Tensor:
        logits = [torch.einsum("bd,cdk->cbk", x.flatten(1), s["disc_w"]) for s in self._states(use_bank)]
        return torch.cat(logits).softmax(-1)


class DictDataset(Dataset):
    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"x": self.x[i], "y": self.y[i]}


class StubData(LightningDataModule):
    """8-mode ring (labels = mode ids) or random 1x4x4 images; the test loader is NOT sharded per rank."""

    def __init__(self, kind: str = "ring", n_train: int = 64, n_test: int = 33, batch_size: int = 8) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        n = n_train + n_test
        y = torch.randint(8, (n,), generator=g)
        if kind == "ring":
            angles = 2 * math.pi * torch.arange(8) / 8
            self.modes, self.mode_std = torch.stack([angles.cos(), angles.sin()], 1), 0.05
            x = self.modes[y] + self.mode_std * torch.randn(n, 2, generator=g)
        else:
            self.modes, self.mode_std = None, None
            x = torch.rand(n, 1, 4, 4, generator=g) * 2 - 1
        self.train_set = DictDataset(x[:n_train], y[:n_train])
        self.test_set = DictDataset(x[n_train:], y[n_train:])
        self.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.batch_size)


def make_trainer(tmp_path: Path, callbacks: list, max_steps: int = 7, **kwargs) -> Trainer:
    kwargs.setdefault("logger", CSVLogger(tmp_path, name="csv"))
    return Trainer(
        max_steps=max_steps,
        accelerator="cpu",
        devices=kwargs.pop("devices", 1),
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        log_every_n_steps=1,
        default_root_dir=tmp_path,
        **kwargs,
    )


def logged_steps(csv_path: Path) -> dict[str, set[int]]:
    """key -> steps at which it has a value."""
    steps: dict[str, set[int]] = {}
    if not csv_path.exists():  # nothing was logged at all
        return steps
    with open(csv_path) as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                if key != "step" and value not in ("", None):
                    steps.setdefault(key, set()).add(int(row["step"]))
    return steps


def test_fit_on_ring_logs_every_callback(tmp_path: Path) -> None:
    seed_everything(0)
    module, data = StubModule(), StubData("ring")
    grid, acc = SampleGrid(every_n_iterations=3), SemiSupervisedAccuracy(every_n_iterations=3)
    cov = ModeCoverageCallback(every_n_iterations=3, num_samples=400)
    trainer = make_trainer(tmp_path, [grid, acc, cov])
    trainer.fit(module, datamodule=data)

    log_dir = Path(trainer.log_dir)
    steps = logged_steps(log_dir / "metrics.csv")
    for key in ACC_KEYS | COV_KEYS:
        assert steps.get(key) == {3, 6, 7}, key  # periodic runs + the end of training, no duplicate
    pngs = sorted(p.name for p in (log_dir / "samples").glob("*.png"))
    assert pngs == ["iter_0000003.png", "iter_0000006.png", "iter_0000007.png"]
    assert grid.last_path == log_dir / "samples" / "iter_0000007.png"
    assert Image.open(grid.last_path).size[1] == 400  # 2-D data: a 400x400 scatter plot plus its legend

    assert set(acc.latest) == ACC_KEYS and set(cov.latest) >= COV_KEYS | NULL_KEYS
    # The callback's BMA over the bank equals a direct computation on the full test set.
    expected = EnsembleClassification(8)
    expected.update(module.class_probabilities(data.test_set.x), data.test_set.y)
    for key, value in expected.compute().items():
        assert acc.latest[f"test/{key}"] == pytest.approx(float(value), abs=1e-6)


def test_coverage_pools_posterior_copies_and_scores_each_copy(tmp_path: Path) -> None:
    """Two collapsed generator copies, one exactly on mode 0 and one on mode 3: the pooled predictive covers
    2 modes evenly (reverse KL = log 8 - log 2), each copy 1 mode (KL = log 8), every sample is HQ."""
    seed_everything(0)
    module, data = StubModule(copies=2), StubData("ring")
    cov = ModeCoverageCallback(every_n_iterations=0, num_samples=400)
    trainer = make_trainer(tmp_path, [], max_steps=1)
    trainer.fit(module, datamodule=data)
    module.bank.clear()  # the posterior predictive = the two current copies
    with torch.no_grad():
        module.gen_w.zero_()
        module.gen_b.copy_(data.modes[[0, 3]].unsqueeze(1))
    out = cov.evaluate(trainer, module)
    assert out["coverage/modes"] == 2 and out["coverage/high_quality"] == 100
    assert out["coverage/reverse_kl"] == pytest.approx(math.log(4))
    assert out["coverage/per_generator_modes_mean"] == out["coverage/per_generator_modes_min"] == 1
    assert out["coverage/per_generator_reverse_kl_mean"] == pytest.approx(math.log(8))
    null = null_coverage(data.modes, data.mode_std, 400, seed=0)
    assert out["null/modes"] == null["modes_captured"] and out["null/high_quality"] == null["high_quality"]


def test_callbacks_leave_global_rng_and_training_unchanged(tmp_path: Path) -> None:
    def fit(callbacks: list, sub: str) -> tuple[Tensor, list[Tensor]]:
        seed_everything(0)
        module = StubModule()
        make_trainer(tmp_path / sub, callbacks).fit(module, datamodule=StubData("ring"))
        return torch.get_rng_state(), [p.detach().clone() for p in module.parameters()]

    callbacks = [
        SampleGrid(every_n_iterations=2),
        SemiSupervisedAccuracy(every_n_iterations=2),
        ModeCoverageCallback(every_n_iterations=2, num_samples=200),
    ]
    rng_with, params_with = fit(callbacks, "with")
    rng_without, params_without = fit([], "without")
    assert torch.equal(rng_with, rng_without)
    assert all(torch.equal(a, b) for a, b in zip(params_with, params_without, strict=True))


def test_image_grid_rows_and_skips(tmp_path: Path) -> None:
    seed_everything(0)
    module = StubModule(data_shape=(1, 4, 4), semi_supervised=False)
    grid = SampleGrid(every_n_iterations=0, num_columns=4, max_rows=3)  # end of training only
    acc, cov = SemiSupervisedAccuracy(every_n_iterations=2), ModeCoverageCallback(every_n_iterations=2)
    trainer = make_trainer(tmp_path, [grid, acc, cov])
    trainer.fit(module, datamodule=StubData("image"))
    assert len(module.bank) * 2 == 6  # 6 posterior generator samples, subsampled to 3 rows
    assert grid.last_path is not None and grid.last_path.name == "iter_0000007.png"
    width, height = Image.open(grid.last_path).size
    assert height == 3 * 64 + 4 * 2  # 4x4 tiles upscaled x16 to 64 px, 2-px padding
    assert width > 4 * 64 + 5 * 2  # plus the row-label column
    assert acc.latest == {} and cov.latest == {}  # not semi-supervised / no modes: skipped
    assert not (set(logged_steps(Path(trainer.log_dir) / "metrics.csv")) & (ACC_KEYS | COV_KEYS))


def test_schedule_runs_once_per_iteration_and_skips_non_image_data() -> None:
    class Counting(PeriodicCallback):
        def evaluate(self, trainer, pl_module) -> dict[str, float]:
            calls.append(pl_module.iteration)
            return {"x": float(pl_module.iteration)}

    calls: list[int] = []
    trainer = SimpleNamespace(loggers=[], is_global_zero=True, datamodule=None)
    module = SimpleNamespace(iteration=0, device=torch.device("cpu"))
    cb = Counting(every_n_iterations=3)
    for it in range(1, 7):
        module.iteration = it
        cb.on_train_batch_end(trainer, module, None, None, it)
    cb.on_train_end(trainer, module)  # iteration 6 was just evaluated
    assert calls == [3, 6] and cb.latest == {"x": 6.0}

    grid = SampleGrid(every_n_iterations=1)
    flat = StubModule(data_shape=(5,))
    flat.iteration = 1
    assert grid.run(trainer, flat) == {} and grid.last_path is None


def test_wandb_offline_logs_sample_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wandb = pytest.importorskip("wandb")
    from pytorch_lightning.loggers import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))  # keep wandb out of $HOME
    seed_everything(0)
    try:
        logger = WandbLogger(save_dir=str(tmp_path), offline=True, project="bayesgan-test")
        grid = SampleGrid(every_n_iterations=2, num_columns=3)
        trainer = make_trainer(tmp_path, [grid], max_steps=3, logger=logger)
        trainer.fit(StubModule(data_shape=(1, 4, 4)), datamodule=StubData("image"))
    finally:
        wandb.finish()
    images = list(tmp_path.glob("wandb/offline-run-*/files/media/images/**/*.png"))
    assert len(images) == 2  # iterations 2 and 3
    assert grid.last_path is not None and grid.last_path.exists()


class _CrossRankCheck(Callback):
    """On every rank at the end: full-test-set BMA computed locally; per-rank coverage and parameters."""

    def __init__(self, acc: SemiSupervisedAccuracy, cov: ModeCoverageCallback, out: Path) -> None:
        self.acc, self.cov, self.out = acc, cov, out

    def on_train_end(self, trainer: Trainer, pl_module: StubModule) -> None:
        test = trainer.datamodule.test_set
        local = EnsembleClassification(8, sync_on_compute=False)
        local.update(pl_module.class_probabilities(test.x), test.y)  # same call count on every rank
        checksum = float(sum(p.detach().double().sum() for p in pl_module.parameters()))
        gathered: list = [None] * trainer.world_size
        payload = (dict(self.cov.latest), checksum)
        torch.distributed.all_gather_object(gathered, payload)
        if trainer.is_global_zero:
            expected = {f"test/{k}": float(v) for k, v in local.compute().items()}
            result = {"expected": expected, "got": self.acc.latest, "ranks": gathered}
            self.out.write_text(json.dumps(result))


def test_ddp_two_ranks_shard_sync_and_stay_in_lockstep(tmp_path: Path) -> None:
    seed_everything(0)
    acc = SemiSupervisedAccuracy(every_n_iterations=3)
    cov = ModeCoverageCallback(every_n_iterations=3, num_samples=200)
    out = tmp_path / "check.json"
    callbacks = [SampleGrid(every_n_iterations=3), acc, cov, _CrossRankCheck(acc, cov, out)]
    strategy = DDPStrategy(start_method="fork", timeout=timedelta(seconds=60))  # a deadlock fails fast
    trainer = make_trainer(tmp_path, callbacks, max_steps=4, devices=2, strategy=strategy)
    # 33 test examples / 2 ranks / batch 8: 3 batches on rank 0, 2 on rank 1.
    trainer.fit(StubModule(), datamodule=StubData("ring"))

    result = json.loads(out.read_text())
    assert set(result["got"]) == ACC_KEYS
    for key, value in result["expected"].items():
        assert result["got"][key] == pytest.approx(value, abs=1e-6), key
    (cov0, sum0), (cov1, sum1) = result["ranks"]
    assert cov0 == cov1 and set(cov0) >= COV_KEYS  # every rank computed the same coverage
    assert sum0 == sum1  # callbacks did not desynchronise the sampler noise
    assert (tmp_path / "csv" / "version_0" / "samples" / "iter_0000003.png").exists()
