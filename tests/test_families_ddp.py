"""The VAE and α-GAN under DDP: two CPU processes keep every parameter identical while seeing different
data (gradients averaged by DDP, noise and latents keyed by rank, batch-norm statistics averaged)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bayesgan.train import build
from test_ddp import ReplicaCheck
from test_families import RING_ALPHA, RING_VAE


@pytest.mark.slow
@pytest.mark.parametrize("family", [RING_VAE, RING_ALPHA], ids=["vae", "alpha_gan"])
def test_ddp_replicas_stay_identical(make_config, tmp_path: Path, family: list[str]) -> None:
    cfg = make_config(
        *family,
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
    assert report["world_size"] == 2 and report["iteration"] == 6
    assert report["ranks_saw_different_data"]
    assert report["max_parameter_spread"] == 0.0
    trained = torch.cat([p.detach().flatten() for p in module.parameters()])
    assert not torch.equal(trained, initial)
