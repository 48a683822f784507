"""glibc's malloc defaults vs ``cpu_memory_cache`` (bayesgan.allocator), whole iterations, side by side.

The setting is per process, so each round times every case in two fresh processes, one per setting, in
alternating order (cache first in odd rounds). Prints each case's median seconds per iteration (min-max
over rounds), the speedup, the paper-scale BGAN/ML ratio under each setting and the peak RSS of each
process, with the load average before and after.

    python bench/bench_malloc.py [--rounds 3] [--iterations 3] [--cases "paper ML-GAN" ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

from bayesgan.allocator import keep_freed_memory
from step_cases import build_case, cases_for, iterate

DEFAULT_CASES = ["paper ML-GAN", "paper BGAN vectorized", "toy BGAN vectorized", "digits BGAN vectorized"]
SETTINGS = ("cache", "glibc")


def worker(cases: list[str], iterations: int, setting: str) -> dict[str, float | bool]:
    applied = keep_freed_memory() if setting == "cache" else False
    out: dict[str, float | bool] = {"applied": applied}
    for case in (c for c in cases_for(False, False, False) if c.name in cases):
        built = build_case(case, case.semi or False, "cpu")
        for _ in range(2):  # warm-up
            iterate(built, "cpu")
        times = []
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(iterations):
            start = time.perf_counter()
            iterate(built, "cpu")
            times.append(time.perf_counter() - start)
        out[case.name] = statistics.median(times)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        out[f"{case.name} faults"] = faults / iterations
        del built
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.4g} ({min(values):.4g}-{max(values):.4g})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations per case and process")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES)
    parser.add_argument("--worker", choices=SETTINGS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(worker(args.cases, args.iterations, args.worker)))
        return
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; torch {torch.__version__}, "
          f"{args.threads} thread(s)")  # fmt: skip
    results: dict[str, list[dict]] = {s: [] for s in SETTINGS}
    for round_ in range(args.rounds):
        for setting in SETTINGS if round_ % 2 == 0 else reversed(SETTINGS):
            command = [sys.executable, __file__, "--worker", setting, "--iterations", str(args.iterations)]
            command += ["--threads", str(args.threads), "--cases", *args.cases]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            results[setting].append(json.loads(out.strip().splitlines()[-1]))
            print(f"round {round_ + 1} {setting}: done", flush=True)
    if not all(r["applied"] for r in results["cache"]):
        print("note: mallopt is not available here (not Linux/glibc): both settings are glibc's defaults")
    print(f"\n{'case':<26}{'cache s/it':>30}{'glibc s/it':>30}{'speedup':>26}")
    for case in args.cases:
        cache = [r[case] for r in results["cache"]]
        glibc = [r[case] for r in results["glibc"]]
        speed = [g / c for g, c in zip(glibc, cache, strict=True)]
        print(f"{case:<26}{spread(cache):>30}{spread(glibc):>30}{spread(speed):>26}")
        faults = [statistics.median(r[f"{case} faults"] for r in results[s]) for s in SETTINGS]
        print(f"{'  page faults/iteration':<26}{faults[0]:>30.0f}{faults[1]:>30.0f}")
    if {"paper ML-GAN", "paper BGAN vectorized"} <= set(args.cases):
        for setting in SETTINGS:
            ratios = [r["paper BGAN vectorized"] / r["paper ML-GAN"] for r in results[setting]]
            print(f"paper BGAN/ML time ratio, {setting}: {spread(ratios)}x")
    for setting in SETTINGS:
        print(f"peak RSS of a {setting} process: {spread([r['peak_rss_mb'] for r in results[setting]])} MB")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
