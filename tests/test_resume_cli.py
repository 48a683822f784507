"""``bayesgan-train ckpt_path=<run>/checkpoints/<file>`` alone continues that run: its saved config, its
run directory, its W&B run id. New overrides apply visibly and recorded, or are refused in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from bayesgan import resume
from bayesgan.checkpointing import load_checkpoint
from bayesgan.train import compose_config, run
from conftest import TINY_DATA, TINY_MODEL
from test_interrupt import assert_same_state

ORIGINAL = [
    *TINY_DATA,
    *TINY_MODEL,
    "posterior.J_g=2",
    "posterior.M=1",
    "posterior.burn_in=1",
    "posterior.thin=2",
    "posterior.bank_size=2",
    "callbacks=default",
    "callbacks.coverage.num_samples=100",
    "trainer.enable_progress_bar=false",
    "iterations=6",
    "checkpoint_every=3",
]
ENV = os.environ | {"OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "bayesgan.train", *args]
    env = ENV | {"WANDB_DIR": str(cwd)}
    return subprocess.run(command, capture_output=True, text=True, timeout=400, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A run of 6 iterations (checkpoints at 3 and 6), logged to an offline W&B run."""
    cwd = tmp_path_factory.mktemp("cli")
    done = _cli(*ORIGINAL, f"hydra.run.dir={cwd / 'run'}", cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    return cwd / "run"


def _wandb_ids(run_dir: Path) -> list[str]:
    return sorted(p.name.rsplit("-", 1)[1] for p in (run_dir / "wandb").glob("offline-run-*"))


def test_ckpt_path_alone_continues_the_run_in_its_directory_and_wandb_run(finished_run: Path) -> None:
    cwd = finished_run.parent
    final = load_checkpoint(finished_run / "checkpoints" / "last.ckpt")
    [wandb_id] = _wandb_ids(finished_run)
    middle = finished_run / "checkpoints" / "step_0000006.ckpt"  # iteration 3
    assert load_checkpoint(middle)["bayesgan"]["iteration"] == 3

    done = _cli(f"ckpt_path={middle}", cwd=cwd)  # no other override: the saved ones apply
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in cwd.iterdir() if p.name not in ("wandb",)) == ["run"]  # no new run dir
    assert_same_state(final, load_checkpoint(finished_run / "checkpoints" / "last.ckpt"))
    assert set(_wandb_ids(finished_run)) == {wandb_id}  # the same W&B run continues
    results = json.loads((finished_run / "results.json").read_text())
    assert results["iterations"] == 6 and results["choices"]["dataset"] == "ring"
    assert results["resumed"] == [{"iteration": 3, "checkpoint": str(middle), "changes": {}}]
    assert "coverage/modes" in results["metrics"]

    # An override that a resume can apply: printed, recorded in results.json and .hydra/config.yaml.
    done = _cli(f"ckpt_path={finished_run / 'checkpoints' / 'last.ckpt'}", "iterations=8", cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "iterations: 6 -> 8 (applied)" in done.stderr
    results = json.loads((finished_run / "results.json").read_text())
    assert results["iterations"] == 8
    changes = results["resumed"][-1]["changes"]
    assert changes["iterations"] == [6, 8]
    # Values interpolated from iterations (the progress bar's total, the W&B run name) change with it.
    assert set(changes) - {"iterations"} <= {"callbacks.progress.iterations", "logger.name"}
    assert yaml.safe_load((finished_run / ".hydra" / "config.yaml").read_text())["iterations"] == 8
    assert load_checkpoint(finished_run / "checkpoints" / "last.ckpt")["run"]["history"] == results["resumed"]


def _resume_config(checkpoint: Path, *new: str):
    """What ``bayesgan-train ckpt_path=<checkpoint> <new>`` composes (in-process, no new interpreter)."""
    argv = resume.expand_argv([f"ckpt_path={checkpoint}", *new])
    return compose_config([a for a in argv if not a.startswith("hydra.")], checkpoint.parents[1])


@pytest.mark.parametrize(
    ("override", "named"),
    [
        (
            "sampler.optimizer.lr_per_datum=0.01",
            "sampler.optimizer.lr_per_datum (checkpoint: 0.03, now: 0.01)",
        ),
        ("posterior.J_g=4", "posterior.J_g (checkpoint: 2, now: 4)"),
        ("sampler=ml", "sampler.name (checkpoint: sghmc, now: ml)"),
        ("model.hidden=32", "model.hidden (checkpoint: 16, now: 32)"),
        ("dataset=grid", "dataset."),
        ("seed=1", "seed (checkpoint: 0, now: 1)"),
    ],
)
def test_changes_a_resume_cannot_apply_are_refused_naming_the_key(
    finished_run: Path, capsys, override: str, named: str
) -> None:
    checkpoint = finished_run / "checkpoints" / "last.ckpt"
    before = checkpoint.read_bytes()
    cfg = _resume_config(checkpoint, override)
    with pytest.raises(SystemExit) as exit_:
        run(cfg, output_dir=finished_run)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("bayesgan-train: configuration error: ") and "\n" not in err
    assert named in err and "drop these overrides" in err
    assert checkpoint.read_bytes() == before  # nothing trained, nothing overwritten


def test_old_checkpoint_without_a_saved_config_gets_one_line_on_mismatch(
    finished_run: Path, make_config, tmp_path: Path, capsys
) -> None:
    state = load_checkpoint(finished_run / "checkpoints" / "last.ckpt")
    del state["run"]  # as written before checkpoints carried their configuration
    legacy = tmp_path / "legacy.ckpt"
    torch.save(state, legacy)
    cfg = make_config("posterior.J_g=3", "iterations=8", f"ckpt_path={legacy}")
    with pytest.raises(SystemExit) as exit_:
        run(cfg, output_dir=tmp_path / "out")
    assert exit_.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"bayesgan-train: configuration error: ckpt_path={legacy} does not fit")
    assert "size mismatch for generator" in last
    assert not (tmp_path / "out" / "checkpoints" / "interrupted.ckpt").exists()


def test_unreadable_checkpoint_on_the_cli_is_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "last.ckpt"
    broken.write_bytes(b"PK\x03\x04" + os.urandom(2000))
    done = _cli(f"ckpt_path={broken}", cwd=tmp_path)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [
        f"bayesgan-train: configuration error: ckpt_path={broken}: truncated or corrupt (2004 bytes that are "
        "not a complete torch checkpoint archive); use another checkpoint"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no run directory made


def test_a_refused_resume_on_the_cli_leaves_the_run_untouched(finished_run: Path) -> None:
    before = {p: p.read_bytes() for p in finished_run.rglob("*") if p.is_file() and "wandb" not in p.parts}
    checkpoint = finished_run / "checkpoints" / "last.ckpt"
    done = _cli(f"ckpt_path={checkpoint}", "posterior.J_g=4", cwd=finished_run.parent)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "posterior.J_g (checkpoint: 2, now: 4)" in lines[0], done.stderr
    after = {p: p.read_bytes() for p in finished_run.rglob("*") if p.is_file() and "wandb" not in p.parts}
    assert after == before  # .hydra/config.yaml still records the run's real configuration
