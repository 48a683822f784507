"""What a researcher sees: the iteration progress bar, a quiet console, and W&B run files without
captured console output, with readable names and declared summary metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bayesgan.callbacks import IterationProgressBar
from bayesgan.train import run
from conftest import TINY_DATA, TINY_MODEL
from wandb_records import by_type, finished

QUIET_BUT_REAL = [
    "iterations=30",
    "posterior.J_g=2",
    "posterior.M=1",
    "posterior.burn_in=10",
    "posterior.thin=10",
    "callbacks.coverage.num_samples=400",
    "trainer.log_every_n_steps=5",
]


def _frames(text: str) -> list[str]:
    """The progress bar's redraws (tqdm separates them with carriage returns when not on a terminal)."""
    return [f for line in text.splitlines() for f in line.split("\r") if f.startswith("Training")]


def test_cli_run_is_quiet_and_wandb_files_hold_no_console_capture(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "-m", "bayesgan.train", *TINY_DATA, *TINY_MODEL, *QUIET_BUT_REAL,
        "logger=wandb", "callbacks=default", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SILENT"}  # see what a user sees
    env |= {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_CONFIG_DIR": str(tmp_path / ".wb")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    console = done.stdout + done.stderr
    assert done.returncode == 0, console[-3000:]

    for noise in ("GPU available", "TPU available", "Tip:", "anonymous", "skipped", "Run history",
                  "Run summary", "v_num", "max_steps="):  # fmt: skip
        assert noise not in console, noise
    frames = _frames(done.stdout)
    assert frames, done.stdout[-2000:]
    last = frames[-1]
    assert "100%" in last and "30/30" in last and "it/s" in last, last  # total = iterations, not steps
    assert "loss/d=" in last and "loss/g=" in last, last
    assert all("/30" in f for f in frames)  # never an epoch-sized or unknown total
    assert "Run directory:" in console and "Modes captured:" in console

    results = json.loads((run_dir / "results.json").read_text())
    assert results["experiment"] == "ring"  # experiment_name follows the dataset
    (run_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    assert not (run_file.parent / "files" / "output.log").exists()
    records = by_type(run_file)
    assert "output" not in records and "output_raw" not in records  # no console capture at all
    run = records["run"][0].run
    # sampler, the overrides (short keys; full keys where two share a last component), seed
    assert run.display_name == (
        "sghmc dataset=ring dataset.num_samples=256 batch_size=32 model=mlp hidden=16 iterations=30 "
        "J_g=2 M=1 burn_in=10 thin=10 callbacks.coverage.num_samples=400 log_every_n_steps=5 "
        "callbacks=default s0"
    )
    assert run.run_group == "ring"
    summaries = {r.metric.name: r.metric.summary for r in records["metric"] if r.metric.summary.ListFields()}
    assert summaries["coverage/modes"].max and summaries["coverage/modes"].last
    assert summaries["coverage/reverse_kl"].min and not summaries["coverage/reverse_kl"].max
    assert summaries["test/bma_accuracy"].max


def _trainer(max_steps: int = 40) -> SimpleNamespace:
    bar_metrics = {"loss/d": 1.5, "loss/g": 0.7}
    return SimpleNamespace(max_steps=max_steps, loggers=[], progress_bar_metrics=bar_metrics)


def test_progress_bar_counts_iterations_from_a_resumed_start(capsys) -> None:
    bar = IterationProgressBar(mininterval=0)
    trainer, module = _trainer(max_steps=40), SimpleNamespace(iteration=12)  # resumed at iteration 12 of 20
    bar.on_train_start(trainer, module)
    assert bar.train_progress_bar.total == 20 and bar.train_progress_bar.n == 12  # 40 steps = 20 iterations
    for it in range(13, 21):
        module.iteration = it
        bar.on_train_batch_end(trainer, module, None, None, it)
    bar.on_train_end(trainer, module)
    last = _frames(capsys.readouterr().out)[-1]
    assert "100%" in last and "20/20" in last and "loss/d=1.5" in last and "v_num" not in last


def test_progress_bar_total_is_the_configured_iterations_and_stops_where_training_stopped(capsys) -> None:
    bar = IterationProgressBar(iterations=50, mininterval=0)
    trainer, module = _trainer(max_steps=-1), SimpleNamespace(iteration=0)
    trainer.loggers = [SimpleNamespace(version="abc123")]  # Lightning would show it as v_num
    bar.on_train_start(trainer, module)
    module.iteration = 7  # e.g. stopped on divergence
    bar.on_train_batch_end(trainer, module, None, None, 6)
    bar.on_train_end(trainer, module)
    last = _frames(capsys.readouterr().out)[-1]
    assert "7/50" in last and "14%" in last and "v_num" not in last


# Slow (9 s). It used to fail now and then: wandb.finish() returns before W&B's service has written the
# offline run file, so the file is read once it holds its exit record (wandb_records.finished).
@pytest.mark.slow
def test_log_model_uploads_checkpoints_as_wandb_artifacts(make_config, tmp_path: Path) -> None:
    cfg = make_config("logger=wandb", "logger.log_model=all", "callbacks=default", "iterations=4",
                      "checkpoint_every=2", "callbacks.coverage.num_samples=100")  # fmt: skip
    run(cfg, tmp_path)
    (run_file,) = tmp_path.glob("wandb/offline-run-*/run-*.wandb")
    artifacts = finished(run_file).get("artifact", [])
    assert artifacts and {a.artifact.type for a in artifacts} == {"model"}
    assert all([m.path for m in a.artifact.manifest.contents] == ["model.ckpt"] for a in artifacts)


def test_progress_bar_draws_on_a_terminal_that_reports_no_size(monkeypatch: pytest.MonkeyPatch) -> None:
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()  # a fresh pty reports 0 x 0, like `script` or `docker run -t`
    with os.fdopen(slave, "w", buffering=1) as terminal:
        monkeypatch.setattr(sys, "stdout", terminal)
        bar = IterationProgressBar(iterations=3, mininterval=0)
        trainer, module = _trainer(), SimpleNamespace(iteration=0)
        bar.on_train_start(trainer, module)
        for it in (1, 2, 3):
            module.iteration = it
            bar.on_train_batch_end(trainer, module, None, None, it)
        bar.on_train_end(trainer, module)
    output = b""
    while chunk := _read_available(master):
        output += chunk
    os.close(master)
    assert b"3/3" in output and b"100%" in output, output  # tqdm alone would draw nothing here


def _read_available(fd: int) -> bytes:
    import select

    try:
        return os.read(fd, 65536) if select.select([fd], [], [], 0.2)[0] else b""
    except OSError:  # Linux: EIO once the terminal side is closed and drained
        return b""
