"""Two CPU processes under DDP keep every parameter identical, with sampler noise and callbacks drawing z."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from bayesgan import reference_batches
from bayesgan.train import build
from test_families import RING_ALPHA, RING_VAE


class ReplicaCheck(pl.Callback):
    """Gathers every rank's parameters (a collective on all ranks) and records the spread on rank 0."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Parameters and floating buffers (batch-norm statistics, virtual batch norm's reference batches).
        state = [*pl_module.parameters(), *(b for b in pl_module.buffers() if b.is_floating_point())]
        flat = torch.cat([t.detach().flatten() for t in state])
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
# Virtual batch norm's reference batches (slow: a third pair of processes).
VBN = ["sampler=sghmc", "model.virtual_batch_norm=both", "model.vbn_reference_size=16"]
FAMILIES.append(pytest.param(VBN, marks=pytest.mark.slow, id="sghmc_vbn"))


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
    if choice == VBN:
        # DDP hands rank 0's buffers to every rank at each forward, so the replicas agree in any case; the
        # reference batches must also be the ones one process fills (the run does not depend on the world).
        _, single, single_data = build(
            make_config(*choice, output_dir=tmp_path / "single"), tmp_path / "single"
        )
        single_data.setup("fit")
        reference_batches.fill_for_method(single, single_data)
        references = [k for k in module.state_dict() if k.endswith("reference__reference")]
        assert len(references) == 2
        for key in references:
            assert torch.equal(module.state_dict()[key], single.state_dict()[key]), key
