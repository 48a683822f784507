"""cpu_memory_cache: a freed large tensor's memory is reused without page faults (bayesgan.allocator)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bayesgan import allocator

# A fresh process per setting (mallopt changes the whole process, for good). Like a training iteration, each
# round allocates activations and gradients of 32-64 MB (above glibc's largest dynamic mmap threshold)
# and frees them; the probe reports the minor page faults of rounds 2-6.
PROBE = """
import json, resource, sys, torch
from bayesgan.allocator import keep_freed_memory
torch.set_num_threads(1)
applied = keep_freed_memory() if sys.argv[1] == "cache" else False
x, w = torch.randn(2048, 256), torch.randn(256, 8192, requires_grad=True)
faults = []
for _ in range(6):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    (x @ w).relu().square().sum().backward()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"applied": applied, "faults": sum(faults[1:])}))
"""


def _probe(setting: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, setting], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_freed_blocks_are_reused_without_page_faults():
    cache, glibc = _probe("cache"), _probe("glibc")
    if not cache["applied"]:
        pytest.skip("this C library has no mallopt (not glibc)")
    touched = 5 * 3 * 64 * 2**20 // 4096  # rounds 2-6 each touch at least three 64 MB tensors' pages
    if glibc["faults"] < touched // 2:
        pytest.skip(f"glibc's defaults fault only {glibc['faults']} times here (huge pages?): nothing to fix")
    # With glibc's defaults every round maps fresh memory and faults on each 4 KB page it touches; with the
    # cache most later rounds reuse earlier rounds' pages (a block glibc aligns at the heap's top may still
    # be mapped afresh, hence a bound rather than zero).
    assert cache["faults"] < glibc["faults"] / 3


def test_is_a_no_op_without_glibc(monkeypatch):
    monkeypatch.setattr(allocator, "_applied", None)
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False
