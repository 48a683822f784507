"""Checkpoint files: atomic writes, orphans, finite-only saves, safe loads, one-line errors for bad files."""

from __future__ import annotations

import ast
import errno
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bayesgan.checkpointing import CheckpointError, SafeCheckpointIO, atomic_save, load_checkpoint
from bayesgan.config import ConfigError, check_values
from bayesgan.train import build
from conftest import TINY, TINY_DATA, TINY_MODEL

SRC = Path(__file__).resolve().parents[1] / "src"


def _checkpoint(value: float = 1.0) -> dict:
    return {
        "state_dict": {"w": torch.full((3,), value)},
        "bayesgan": {"iteration": 1},
        "optimizer_states": [],
    }


class _Payload:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path, monkeypatch) -> None:
    target = tmp_path / "last.ckpt"
    atomic_save(_checkpoint(1.0), target)
    before = target.read_bytes()

    real_save = torch.save

    def disk_full(obj, f, *args, **kwargs):  # half the bytes land, then the disk is full
        real_save(obj, f, *args, **kwargs)
        f.truncate(len(before) // 2)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):  # the primary error, not a secondary one
        atomic_save(_checkpoint(2.0), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_write_goes_through_a_temporary_file_in_the_same_directory(tmp_path, monkeypatch) -> None:
    # Lightning's default writes in $TMPDIR and moves; across filesystems that move is a copy into place.
    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (replaced.append((Path(a), Path(b))), real_replace(a, b)))
    atomic_save(_checkpoint(), tmp_path / "x.ckpt")
    [(source, target)] = replaced
    assert source.parent == target.parent == tmp_path
    assert (tmp_path / "x.ckpt").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_orphaned_temporary_files_are_removed_on_the_next_write(tmp_path) -> None:
    orphan = tmp_path / ".last.ckpt.1234-abcd.tmp"  # what a killed writer leaves
    orphan.write_bytes(b"half a checkpoint")
    keep = tmp_path / "notes.txt"
    keep.write_text("not ours")
    SafeCheckpointIO().save_checkpoint(_checkpoint(), tmp_path / "last.ckpt")
    assert not orphan.exists() and keep.exists()
    assert load_checkpoint(tmp_path / "last.ckpt")["bayesgan"]["iteration"] == 1


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_non_finite_state_is_never_saved(tmp_path, bad: float) -> None:
    io = SafeCheckpointIO()
    io.save_checkpoint(_checkpoint(1.0), tmp_path / "last.ckpt")
    state = _checkpoint(1.0)
    state["state_dict"]["running_var"] = torch.tensor([1.0, bad])  # e.g. a batch-norm statistic
    io.save_checkpoint(state, tmp_path / "last.ckpt")
    assert torch.equal(load_checkpoint(tmp_path / "last.ckpt")["state_dict"]["w"], torch.ones(3))
    assert "running_var" not in load_checkpoint(tmp_path / "last.ckpt")["state_dict"]
    assert io.skipped == [str(tmp_path / "last.ckpt")]


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = tmp_path / "good.ckpt"
    atomic_save(_checkpoint(), good)
    data = good.read_bytes()
    files = {
        "empty": (b"", "empty file"),
        "truncated": (data[: len(data) // 2], "truncated or corrupt"),
        "random": (os.urandom(4096), "truncated or corrupt"),
    }
    out = {name: (tmp_path / f"{name}.ckpt", match) for name, (_, match) in files.items()}
    for name, (content, _) in files.items():
        out[name][0].write_bytes(content)
    out["missing"] = (tmp_path / "nope.ckpt", "no such file")
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    atomic_save(_checkpoint(), tmp_path / "run" / "checkpoints" / "last.ckpt")
    out["directory"] = (tmp_path / "run" / "checkpoints", "is a directory; give a checkpoint file such as")
    torch.save({"weights": torch.ones(2)}, tmp_path / "other.ckpt")
    out["not ours"] = (tmp_path / "other.ckpt", "not a bayesgan training checkpoint")
    return out


def test_unusable_checkpoints_are_one_line_errors(tmp_path) -> None:
    for name, (path, match) in _bad_files(tmp_path).items():
        with pytest.raises(CheckpointError, match=match) as caught:
            load_checkpoint(path)
        assert "\n" not in str(caught.value) and str(path) in str(caught.value), name


def test_code_executing_pickle_is_refused_even_when_torch_is_forced_unsafe(tmp_path, monkeypatch) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "bayesgan": _Payload(marker)}, evil)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch's default forced unsafe
    torch.load(evil)  # the control: an unguarded load runs the payload
    assert marker.exists()
    marker.unlink()

    with pytest.raises(CheckpointError, match="refused: it holds Python objects that could run code"):
        load_checkpoint(evil)
    with pytest.raises(CheckpointError):
        SafeCheckpointIO().load_checkpoint(evil, weights_only=False)  # the caller cannot opt out
    assert not marker.exists()


def test_every_torch_load_in_the_package_says_weights_only_true() -> None:
    calls = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                kwargs = {k.arg: ast.unparse(k.value) for k in node.keywords}
                calls.append((path.name, kwargs.get("weights_only")))
    assert calls, "no torch.load found: the scan is broken"
    assert all(flag == "True" for _, flag in calls), calls


def test_checkpoint_keep_keeps_last_plus_the_most_recent(make_config, tmp_path) -> None:
    cfg = make_config("iterations=6", "checkpoint_every=1", "checkpoint_keep=2", "callbacks=default")
    trainer, module, datamodule = build(cfg, tmp_path)
    assert isinstance(trainer.strategy.checkpoint_io, SafeCheckpointIO)  # every save is atomic
    trainer.fit(module, datamodule=datamodule)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["last.ckpt", "step_0000010.ckpt", "step_0000012.ckpt"]  # iterations 5 and 6
    assert load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["bayesgan"]["iteration"] == 6


@pytest.mark.parametrize(("key", "value"), [("checkpoint_keep", -2), ("divergence_loss", 0.0)])
def test_checkpoint_keep_and_divergence_loss_are_validated(make_config, key, value) -> None:
    cfg = make_config(f"{key}={value}")
    with pytest.raises(ConfigError, match=key):
        check_values(cfg)


DISK = [
    "posterior.bank_size=10",
    "posterior.burn_in=0",
    "posterior.thin=1",
    "model.hidden=64",
    "checkpoint_every=1",
    "checkpoint_keep=-1",
    "callbacks=default",
    "callbacks.samples.every_n_iterations=0",
    "callbacks.coverage.every_n_iterations=0",
    "callbacks.coverage.num_samples=100",
]


def test_disk_full_keeps_the_last_good_checkpoint_and_reports_the_first_error(make_config, tmp_path) -> None:
    # Each iteration adds a bank snapshot, so checkpoints grow: size the file limit between iterations 3
    # and 4 (RLIMIT_FSIZE makes a write fail with EFBIG, as a full disk fails with ENOSPC).
    probe = tmp_path / "probe"
    trainer, module, datamodule = build(make_config("iterations=4", *DISK, output_dir=probe), probe)
    trainer.fit(module, datamodule=datamodule)
    sizes = [(probe / "checkpoints" / f"step_{2 * i:07d}.ckpt").stat().st_size for i in (3, 4)]
    limit = sum(sizes) // 2

    run_dir = tmp_path / "full"
    command = [sys.executable, "-m", "bayesgan.train", *TINY_DATA, *TINY_MODEL, *TINY, *DISK]
    command += ["iterations=8", f"hydra.run.dir={run_dir}"]

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=env, preexec_fn=limit_file_size
    )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("bayesgan-train")]
    assert errors == ["bayesgan-train: error: [Errno 27] File too large"], done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    checkpoints = run_dir / "checkpoints"
    assert load_checkpoint(checkpoints / "last.ckpt")["bayesgan"]["iteration"] == 3  # the last good one
    assert not (checkpoints / "interrupted.ckpt").exists()  # no empty or truncated file either
    assert not list(checkpoints.glob(".*.tmp"))
    for path in checkpoints.glob("*.ckpt"):
        load_checkpoint(path)  # every file there is whole
