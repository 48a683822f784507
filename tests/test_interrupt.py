"""Ctrl-C and kill -9: a saved state is always a whole iteration, and resuming it with ``ckpt_path`` alone
ends bit for bit where the uninterrupted run ends (CPU)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from bayesgan.checkpointing import load_checkpoint
from bayesgan.train import build
from conftest import TINY_DATA, TINY_MODEL

# The tiny ring MLP: a few ms per iteration, so the CLI's start-up dominates.
CLI = [
    *TINY_DATA,
    *TINY_MODEL,
    "posterior.J_g=2",
    "posterior.M=1",
    "posterior.burn_in=10",
    "posterior.thin=25",
    "posterior.bank_size=3",
    "logger=none",
    "callbacks=default",
    "callbacks.samples.every_n_iterations=0",  # evaluation at the end only
    "callbacks.coverage.every_n_iterations=0",
    "callbacks.coverage.num_samples=100",
    "trainer.enable_progress_bar=false",
]


def assert_same_state(a: dict, b: dict) -> None:
    """Two checkpoints hold the same training state: weights and batch-norm statistics, sampler states (with
    their noise generators), the posterior bank and the iteration. (Not the global RNG: training never draws
    from it, but a DataLoader iterator takes a seed from it when it is created, also after a resume.)"""
    for key in ("state_dict", "optimizer_states"):
        _same(a[key], b[key], key)
    _same(a["bayesgan"]["bank"], b["bayesgan"]["bank"], "bank")
    assert a["bayesgan"]["iteration"] == b["bayesgan"]["iteration"]


def _same(a, b, path: str) -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


class _SigintDuringDiscriminatorStep(pl.Callback):
    """Sends SIGINT to this process between the D and the G update of iteration ``at`` (1-based); under DDP
    to the process of rank ``rank`` only (None: every rank)."""

    def __init__(self, at: int, rank: int | None = None) -> None:
        self.at, self.rank = at, rank

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        d_opt = trainer.optimizers[0]
        if self.rank is not None and trainer.global_rank != self.rank:
            return
        if optimizer is d_opt and pl_module.iteration == self.at - 1:
            os.kill(os.getpid(), signal.SIGINT)


def _fit(make_config, out: Path, iterations: int, *extra: str, callbacks=()):
    cfg = make_config(f"iterations={iterations}", "checkpoint_every=1000", *extra, output_dir=out)
    trainer, module, datamodule = build(cfg, out)
    trainer.callbacks.extend(callbacks)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    return trainer, module


def test_sigint_mid_iteration_finishes_it_saves_and_resumes_exactly(make_config, tmp_path: Path) -> None:
    _fit(make_config, tmp_path / "straight", 8)

    before = signal.getsignal(signal.SIGINT)  # (SIG_IGN in a background job, else Python's default)
    _, module = _fit(make_config, tmp_path / "run", 8, callbacks=[_SigintDuringDiscriminatorStep(4)])
    saved = tmp_path / "run" / "checkpoints" / "interrupted.ckpt"
    assert module.iteration == 4  # the iteration in progress was finished, then training stopped
    assert load_checkpoint(saved)["bayesgan"]["iteration"] == 4
    assert signal.getsignal(signal.SIGINT) is before  # the handler is restored after fit

    _fit(make_config, tmp_path / "run", 8, f"ckpt_path={saved}")
    assert_same_state(
        load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.ckpt"),
        load_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt"),
    )


# One torch thread: on a shared 2-core machine two threads spin against each other (10x slower here).
ENV = os.environ | {"OMP_NUM_THREADS": "1"}


def test_sigint_on_one_ddp_rank_stops_every_rank_at_the_same_iteration(make_config, tmp_path: Path) -> None:
    ddp = ["trainer=ddp_spawn", "trainer.accelerator=cpu", "trainer.devices=2"]
    _fit(make_config, tmp_path, 8, *ddp, callbacks=[_SigintDuringDiscriminatorStep(3, rank=0)])
    results = json.loads((tmp_path / "results.json").read_text())  # written by rank 0
    assert results["interrupted_at"] == results["iterations"] == 3  # rank 1 agreed, or fit would hang
    assert load_checkpoint(tmp_path / "checkpoints" / "interrupted.ckpt")["bayesgan"]["iteration"] == 3


def _cli(run_dir: Path | None, *overrides: str) -> list[str]:
    where = [f"hydra.run.dir={run_dir}"] if run_dir is not None else []
    return [sys.executable, "-m", "bayesgan.train", *overrides, *where]


def _start_and_stop(run_dir: Path, how: signal.Signals, delay: float, iterations: int) -> int:
    """Start a CLI run, wait until it trains (its first checkpoint), wait ``delay`` more, send ``how``."""
    every = max(1, iterations // 20)
    args = _cli(run_dir, *CLI, f"iterations={iterations}", f"checkpoint_every={every}")
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 300
    while not any((run_dir / "checkpoints").glob("step_*.ckpt")) and process.poll() is None:
        assert time.monotonic() < deadline, "the run never started training"
        time.sleep(0.02)
    time.sleep(delay)
    if process.poll() is None:
        process.send_signal(how)
    _, stderr = process.communicate(timeout=300)
    assert "Traceback" not in stderr, stderr[-3000:]
    return process.returncode


def _resume(checkpoint: Path) -> None:
    args = _cli(None, f"ckpt_path={checkpoint}")
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Resuming" in done.stderr


def _straight(tmp_path: Path, iterations: int) -> dict:
    run_dir = tmp_path / "straight"
    every = max(1, iterations // 20)
    args = _cli(run_dir, *CLI, f"iterations={iterations}", f"checkpoint_every={every}")
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    return load_checkpoint(run_dir / "checkpoints" / "last.ckpt")


@pytest.mark.slow  # three CLI processes: the in-process test above covers the mechanism in `make test`
def test_ctrl_c_on_the_cli_then_ckpt_path_alone_continues_the_run(tmp_path: Path) -> None:
    expected = _straight(tmp_path, 300)
    run_dir = tmp_path / "run"
    code = _start_and_stop(run_dir, signal.SIGINT, 0.2, 300)
    results = json.loads((run_dir / "results.json").read_text())
    if code == 130:  # stopped by the signal (else training had already finished)
        saved = run_dir / "checkpoints" / "interrupted.ckpt"
        assert results["interrupted_at"] == load_checkpoint(saved)["bayesgan"]["iteration"] < 300
        _resume(saved)
    assert code in (0, 130)
    final = json.loads((run_dir / "results.json").read_text())
    assert final["iterations"] == 300 and final["interrupted_at"] is None
    assert_same_state(expected, load_checkpoint(run_dir / "checkpoints" / "last.ckpt"))


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "kill-9"])
def test_stop_at_20_random_moments_and_resume_bit_identical(tmp_path: Path, how: signal.Signals) -> None:
    iterations = 400
    expected = _straight(tmp_path, iterations)
    rng = random.Random(20261130)
    stopped = 0
    for trial in range(20):
        run_dir = tmp_path / f"trial{trial}"
        code = _start_and_stop(run_dir, how, rng.uniform(0.0, 2.0), iterations)
        if how == signal.SIGINT and code == 130:
            checkpoint = run_dir / "checkpoints" / "interrupted.ckpt"
        elif how == signal.SIGKILL and code == -signal.SIGKILL:
            # Never truncated (written atomically); a kill between the periodic file and last.ckpt leaves the
            # periodic one newest.
            saved = sorted((run_dir / "checkpoints").glob("*.ckpt"), key=lambda p: p.stat().st_mtime_ns)
            checkpoint = saved[-1]
        else:
            assert code == 0, code
            checkpoint = None
        if checkpoint is not None:
            stopped += 1
            assert load_checkpoint(checkpoint)["bayesgan"]["iteration"] < iterations
            _resume(checkpoint)
            assert not list((run_dir / "checkpoints").glob(".*.tmp"))  # orphans cleaned by the resume
        assert_same_state(expected, load_checkpoint(run_dir / "checkpoints" / "last.ckpt"))
    assert stopped >= 10, f"only {stopped} of 20 trials were stopped mid-training"
