"""The speed benchmark runs end to end and reports every issue-#12 target (no timings are asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_step.py"


@pytest.mark.slow
def test_quick_benchmark_reports_every_target(tmp_path: Path) -> None:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(BENCH), "--quick", "--repeats", "1", "--threads", "1", "--no-memory"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env, timeout=1800).stdout
    verdicts = [line for line in out.splitlines() if line.startswith(("[PASS]", "[FAIL]"))]
    assert len(verdicts) == 3, out
    for target in ("BGAN/ML time ratio", "paper BGAN vectorized vs loop", "toy BGAN vectorized vs loop"):
        assert any(target in line for line in verdicts), target
    assert "load average before" in out and "load average after" in out
    assert "checkpoint sizes (MB): ML-GAN" in out and "bfloat16" in out


def test_only_toy_times_the_toy_cases_and_reports_their_target_alone() -> None:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(BENCH), "--quick", "--repeats", "1", "--threads", "1", "--no-memory"]
    command += ["--only", "toy"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env, timeout=600).stdout
    verdicts = [line for line in out.splitlines() if line.startswith(("[PASS]", "[FAIL]"))]
    assert len(verdicts) == 1 and "toy BGAN vectorized vs loop" in verdicts[0], out
    assert "toy BGAN loop" in out and "paper" not in out and "checkpoint sizes" not in out


@pytest.mark.slow
@pytest.mark.parametrize(
    "device",
    ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))],
)
def test_device_check_passes_with_small_networks(device: str) -> None:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(BENCH.with_name("gpu_check.py")), "--device", device, "--quick"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env, timeout=600).stdout
    assert out.count("[PASS]") == 3, out
