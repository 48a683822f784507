"""A multi-process run reports what a single process reports; batch norm under DDP behaves as documented;
``bayesgan-report`` never pools a run that did not finish."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from bayesgan import history, report
from bayesgan.checkpointing import load_checkpoint
from bayesgan.train import build, run

DDP = ["trainer=ddp_spawn", "trainer.accelerator=cpu", "trainer.devices=2"]


def test_ddp_spawn_writes_the_results_a_single_process_writes(make_config, tmp_path, monkeypatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # nothing may land in the working directory (W&B media did)
    common = [
        "iterations=4",
        "checkpoint_every=2",
        "logger=wandb",
        "callbacks=default",
        "callbacks.samples.every_n_iterations=2",
        "callbacks.coverage.num_samples=200",
        "callbacks.coverage.every_n_iterations=2",
        "trainer.log_every_n_steps=1",
    ]
    outputs = {name: tmp_path / name for name in ("single", "ddp")}
    single = run(make_config(*common, output_dir=outputs["single"]), output_dir=outputs["single"])
    ddp = run(make_config(*common, *DDP, output_dir=outputs["ddp"]), output_dir=outputs["ddp"])

    assert ddp.keys() == single.keys()
    assert ddp["metrics"].keys() == single["metrics"].keys()
    assert "coverage/modes" in ddp["metrics"]
    for key in ("iterations", "bank_size", "planned_iterations", "diverged_at", "interrupted_at", "seed"):
        assert ddp[key] == single[key], key
    assert ddp["iterations"] == 4 and ddp["choices"]["trainer"] == "ddp_spawn"
    assert json.loads((outputs["ddp"] / "results.json").read_text()) == ddp
    for out in outputs.values():
        assert (out / "samples" / "iter_0000004.png").exists()
        assert load_checkpoint(out / "checkpoints" / "last.ckpt")["bayesgan"]["iteration"] == 4
        [wandb_run] = (out / "wandb").glob("offline-run-*")
        assert list((wandb_run / "files" / "media" / "images").glob("*.png"))
    assert list(cwd.iterdir()) == []
    # The metric history: rank 0 alone writes it (the module logs its losses on every rank), so each loss
    # row and evaluation is there once, as in one process.
    for key, expected in (("loss/d", [1, 2, 3, 4]), ("coverage/modes", [2, 4])):
        steps = {name: [r["step"] for r in history.read(out / history.FILE_NAME) if key in r]
                 for name, out in outputs.items()}  # fmt: skip
        assert steps["ddp"] == steps["single"] == expected, key


class _BufferSpread(pl.Callback):
    """At the end of training, the largest difference between rank 0's and another rank's buffers."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_end(self, trainer, pl_module) -> None:
        flat = torch.cat(
            [b.flatten() for b in pl_module.buffers() if b.is_floating_point()] + [torch.zeros(1)]
        )
        gathered = pl_module.all_gather(flat)
        if trainer.is_global_zero:
            self.path.write_text(str(float((gathered - gathered[0]).abs().max())))


@pytest.mark.slow
def test_batch_norm_uses_per_rank_statistics_and_rank_zero_running_statistics(make_config, tmp_path) -> None:
    """What the README states: each rank's batch norm normalises with its own n/W examples, so a 2-rank run
    is not the 1-process run (unlike a model without batch norm, where only the summation order differs);
    the running statistics are averaged over the ranks after every iteration, so every rank evaluates and
    continues from the same model."""
    final = {}
    for model in ("mlp", "dcgan_small"):
        data = (
            ["dataset=digits", "dataset.n_labels=null", "dataset.batch_size=32"] if "dcgan" in model else []
        )
        for name, extra in (("single", []), ("ddp", DDP)):
            out = tmp_path / f"{model}-{name}"
            cfg = make_config(f"model={model}", *data, "iterations=5", *extra, output_dir=out)
            trainer, module, datamodule = build(cfg, out)
            trainer.callbacks.append(_BufferSpread(out / "spread.txt"))
            trainer.fit(module, datamodule=datamodule)
            final[model, name] = load_checkpoint(out / "checkpoints" / "last.ckpt")["state_dict"]
    mlp = max(
        (final["mlp", "single"][k] - final["mlp", "ddp"][k]).abs().max() for k in final["mlp", "single"]
    )
    bn = max(
        (final["dcgan_small", "single"][k] - final["dcgan_small", "ddp"][k]).abs().max()
        for k in final["dcgan_small", "single"]
    )
    assert mlp < 1e-4  # the same algorithm: the mean gradient over ranks is the global mean gradient
    assert bn > 100 * max(float(mlp), 1e-7)  # per-rank batch statistics: a different (valid) algorithm
    assert float((tmp_path / "dcgan_small-ddp" / "spread.txt").read_text()) == 0.0  # one model on all ranks


def test_report_skips_unfinished_runs(tmp_path, capsys) -> None:
    runs = {
        "done": {"iterations": 10, "planned_iterations": 10},
        "interrupted": {"iterations": 4, "planned_iterations": 10, "interrupted_at": 4},
        "lost": {"iterations": 0},  # what ddp_spawn used to write
        "short": {"iterations": 7, "planned_iterations": 10},
        "diverged": {"iterations": 3, "planned_iterations": 10, "diverged_at": 3},
    }
    for name, fields in runs.items():
        (tmp_path / name).mkdir()
        results = {"experiment": "x", "seed": 0, "metrics": {"test/bma_accuracy": 0.5}} | fields
        (tmp_path / name / "results.json").write_text(json.dumps(results))
    kept = report.collect([tmp_path])
    assert sorted(Path(r["path"]).parent.name for r in kept) == ["diverged", "done"]
    assert [report.diverged(r) for r in sorted(kept, key=lambda r: r["path"])] == [True, False]
    err = capsys.readouterr().err
    assert "interrupted at iteration 4" in err and "unfinished (0 of ?" in err and "(7 of 10" in err


def test_sync_batchnorm_is_refused_rather_than_silently_ignored(make_config, tmp_path, capsys) -> None:
    # Lightning's SyncBatchNorm conversion only finds torch's BatchNorm classes, never the per-copy layers.
    cfg = make_config("model=dcgan_small", "dataset=digits", *DDP, "+trainer.sync_batchnorm=true")
    with pytest.raises(SystemExit) as exit_:
        run(cfg, output_dir=tmp_path)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bayesgan-train: configuration error: trainer.sync_batchnorm=true is not supported")
    assert "\n" not in err
    module = build(make_config("model=dcgan_small", "dataset=digits"), tmp_path / "plain")[1]
    converted = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)  # what sync_batchnorm=true does
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in converted.modules())  # a no-op
