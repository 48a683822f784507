"""Two CPU processes under DDP keep every parameter identical, with sampler noise and callbacks drawing z."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from bayesgan.train import build
from test_families import RING_ALPHA, RING_VAE


class ReplicaCheck(pl.Callback):
    """Gathers every rank's parameters (a collective on all ranks) and records the spread on rank 0."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        flat = torch.cat([p.detach().flatten() for p in pl_module.parameters()])
        gathered = pl_module.all_gather(flat)
        batch = trainer.datamodule.train_batch(0)["x"]
        batches = pl_module.all_gather(batch)
        if trainer.is_global_zero:
            report = {
                "world_size": trainer.world_size,
                "max_parameter_spread": float((gathered - gathered[0]).abs().max()),
                "ranks_saw_different_data": not torch.equal(batches[0], batches[1]),
                "iteration": pl_module.iteration,
                "moved": float((flat - gathered[0]).abs().max()),
            }
            Path(self.path).write_text(json.dumps(report))


# The other families (VAE, α-GAN) keep the same guarantee; slow because their networks are larger.
FAMILIES = [
    pytest.param(f, marks=pytest.mark.slow, id=i) for f, i in ((RING_VAE, "vae"), (RING_ALPHA, "alpha_gan"))
]


@pytest.mark.parametrize(
    "choice", [pytest.param([f"sampler={s}"], id=s) for s in ("sghmc", "sgld")] + FAMILIES
)
def test_ddp_replicas_stay_identical(make_config, tmp_path: Path, choice: list[str]) -> None:
    cfg = make_config(
        *choice,
        "trainer=ddp_spawn",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.enable_progress_bar=false",
        "iterations=6",
        "callbacks=default",  # the sample and coverage callbacks draw random numbers on every rank
        "callbacks.samples.every_n_iterations=2",
        "callbacks.coverage.every_n_iterations=3",
        "callbacks.coverage.num_samples=200",
    )
    trainer, module, datamodule = build(cfg, tmp_path)
    report_path = tmp_path / "replicas.json"
    trainer.callbacks.append(ReplicaCheck(str(report_path)))
    initial = torch.cat([p.detach().flatten() for p in module.parameters()])

    trainer.fit(module, datamodule=datamodule)

    report = json.loads(report_path.read_text())
    assert report["world_size"] == 2
    assert report["iteration"] == 6
    assert report["ranks_saw_different_data"]
    assert report["max_parameter_spread"] == 0.0
    trained = torch.cat([p.detach().flatten() for p in module.parameters()])
    assert not torch.equal(trained, initial)  # spawn copies rank 0's trained weights back
