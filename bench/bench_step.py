"""Cost of one training iteration: ML-GAN vs Bayesian GAN, vectorized vs a per-copy Python loop.

Cases (one full iteration each: discriminator update + generator update):
  - paper: DCGAN on 28x28x1, batch 64: ML-GAN (1 G, 1 D, Adam) vs Bayesian GAN (J_g=10, J_d=1, M=2, SGHMC),
    the latter vectorized and looped;
  - toy: ring data, Edward's MLP, batch 64: Bayesian GAN (J_g=10) vectorized vs looped;
  - digits: the default experiment's iteration (8x8, dcgan_small, J_g=4, M=2, semi-supervised), vectorized
    vs looped (printed, no target).
The cases are timed INTERLEAVED (ML, BGAN, loop, toy, ..., ML, BGAN, ...), so a load change on a shared
machine hits every case alike; each ratio is also taken round by round. Printed: medians with their spread
(min-max over rounds), FLOPs (torch.utils.flop_counter), peak memory per case (each case built in a fresh
subprocess: peak RSS over the process's RSS before building), checkpoint sizes, the load average before
and after, and the targets of issue #12 with PASS/FAIL and the measured ratio:
  - paper BGAN/ML time ratio <= the algorithm's FLOP ratio (per FLOP at least as efficient as the ML-GAN);
  - paper vectorized >= 1.2x faster than the loop;   - toy vectorized >= 3x faster than the loop.
Opt-in variants of the vectorized cases: --compile (torch.compile of the ensembles' calls) and --autocast
(bf16 CPU autocast), each with its deviation from the plain vectorized iteration.

    python bench/bench_step.py [--repeats 5] [--threads 2] [--quick] [--compile] [--autocast] [--json f]
                               [--only paper toy digits]   (some groups of cases: their targets only)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from bayesgan.allocator import keep_freed_memory
from step_cases import Case, build_case, cases_for, checkpoint_sizes, iterate, peak_memory_mb

PAPER_SPEEDUP, TOY_SPEEDUP = 1.2, 3.0
GROUPS = ("paper", "toy", "digits")  # a case's first word


def measure_memory(case: Case, args: argparse.Namespace) -> float | None:
    """Peak memory of one case, measured in a fresh process (this one holds every case at once)."""
    command = [sys.executable, __file__, "--memory-of", case.name, "--threads", str(args.threads)]
    command += ["--quick"] * args.quick + ["--device", args.device] + ["--semi"] * args.semi
    command += ["--glibc-defaults"] * args.glibc_defaults
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=1800).stdout
        return float(out.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None


def deviation(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Largest difference between two states, relative to each tensor's scale."""
    return max(((a[k] - b[k]).abs().max() / b[k].abs().max().clamp_min(1e-12)).item() for k in b)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (each times every case)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="small networks: a smoke test, not the targets")
    parser.add_argument("--semi", action="store_true", help="semi-supervised (K+1) discriminator")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd vectorized cases")
    parser.add_argument("--autocast", action="store_true", help="also time bf16-autocast vectorized cases")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-case memory subprocesses")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--only", nargs="+", choices=GROUPS, default=list(GROUPS), help="groups of cases")
    parser.add_argument(
        "--glibc-defaults", action="store_true", help="keep glibc's malloc thresholds (bench_malloc.py)"
    )
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.glibc_defaults:  # what bayesgan-train does (cpu_memory_cache=true)
        keep_freed_memory()
    cases = [c for c in cases_for(args.quick, args.compile, args.autocast) if c.name.split()[0] in args.only]

    if args.memory_of:  # child mode: one case's peak memory, printed as the last line
        case = next(c for c in cases if c.name == args.memory_of)
        print(peak_memory_mb(case, args.semi, args.device))
        return

    load_before = os.getloadavg()
    loads = " ".join(f"{x:.2f}" for x in load_before)
    print(f"load average before: {loads} on {os.cpu_count()} CPUs; torch {torch.__version__}, "
          f"{args.threads} threads, {args.device}")  # fmt: skip
    memory = {} if args.no_memory else {c.name: measure_memory(c, args) for c in cases}

    built = {c.name: build_case(c, args.semi, args.device) for c in cases}
    compile_seconds, batch = {}, {}
    failed_variants = []
    for case in list(cases):  # warm-up: allocator, kernels, and for --compile the compilation itself
        start = time.perf_counter()
        try:
            for _ in range(2):
                iterate(built[case.name], args.device)
        except RuntimeError as error:  # an opt-in variant that cannot run here is reported, not fatal
            if not case.variant:
                raise
            failed_variants.append(f"[variant] {case.name}: fails here ({str(error).splitlines()[0]})")
            cases.remove(case)
            continue
        compile_seconds[case.name] = time.perf_counter() - start
        start = time.perf_counter()
        iterate(built[case.name], args.device)
        # Millisecond iterations (toy) are timed in runs of >= 0.1 s: one alone is mostly timer noise.
        batch[case.name] = max(1, math.ceil(0.1 / (time.perf_counter() - start)))
    for case in cases:  # a variant runs as many iterations as its plain case: their states stay comparable
        if case.variant:
            batch[case.name] = batch[case.name.removesuffix(f" +{case.variant}")]
    times: dict[str, list[float]] = {c.name: [] for c in cases}
    for _ in range(args.repeats):
        for case in cases:
            start = time.perf_counter()
            for _ in range(batch[case.name]):
                iterate(built[case.name], args.device)
            times[case.name].append((time.perf_counter() - start) / batch[case.name])
    flops = {}
    for case in cases:
        with FlopCounterMode(display=False) as counter:
            iterate(built[case.name], args.device)
        flops[case.name] = counter.get_total_flops() / 1e9
    load_after = os.getloadavg()

    print(f"\n{'case':<34}{'median ms':>11}{'min-max ms':>20}{'GFLOP':>9}{'GFLOP/s':>9}{'peak MB':>9}")
    for case in cases:
        t = times[case.name]
        med, mem = statistics.median(t), memory.get(case.name)
        print(
            f"{case.name:<34}{med * 1e3:>11.1f}{f'{min(t) * 1e3:.1f}-{max(t) * 1e3:.1f}':>20}"
            f"{flops[case.name]:>9.2f}{flops[case.name] / med:>9.1f}{'' if mem is None else f'{mem:.0f}':>9}"
        )

    def ratio(num: str, den: str) -> tuple[float, float, float]:
        per_round = [a / b for a, b in zip(times[num], times[den], strict=True)]
        return statistics.median(per_round), min(per_round), max(per_round)

    ml, vec, loop = "paper ML-GAN", "paper BGAN vectorized", "paper BGAN loop"
    span = "(per-round median; min-max {:.2f}-{:.2f})"
    checks, notes = [], []
    if "paper" in args.only:
        # The algorithm's FLOPs are the loop's count: vmap's batching rules can add work the algorithm does
        # not need, which the vectorized count includes.
        flop_ratio = flops[loop] / flops[ml]
        time_ratio, speedup = ratio(vec, ml), ratio(loop, vec)
        checks += [
            (f"paper BGAN/ML time ratio {time_ratio[0]:.2f} {span.format(*time_ratio[1:])} <= algorithmic "
             f"FLOP ratio {flop_ratio:.2f} (vectorized kernels' FLOP ratio {flops[vec] / flops[ml]:.2f})",
             time_ratio[0] <= flop_ratio),
            (f"paper BGAN vectorized vs loop: {speedup[0]:.2f}x faster {span.format(*speedup[1:])}, "
             f"target >= {PAPER_SPEEDUP}", speedup[0] >= PAPER_SPEEDUP),
        ]  # fmt: skip
    if "toy" in args.only:
        toy = ratio("toy BGAN loop", "toy BGAN vectorized")
        checks.append(
            (f"toy BGAN vectorized vs loop: {toy[0]:.2f}x faster {span.format(*toy[1:])}, "
             f"target >= {TOY_SPEEDUP}", toy[0] >= TOY_SPEEDUP)
        )  # fmt: skip
    if "digits" in args.only:
        digits = ratio("digits BGAN loop", "digits BGAN vectorized")
        digits_ms = statistics.median(times["digits BGAN vectorized"]) * 1e3
        notes.append(
            f"digits BGAN (the default experiment's iteration) vectorized vs loop: {digits[0]:.2f}x faster "
            f"{span.format(*digits[1:])}; vectorized {digits_ms:.1f} ms per iteration"
        )
    variants = {}
    for case in cases:
        if case.variant:
            plain = case.name.removesuffix(f" +{case.variant}")
            gap = deviation(built[case.name].module.state_dict(), built[plain].module.state_dict())
            r = ratio(plain, case.name)
            variants[case.name] = {"speedup": r[0], "deviation": gap, "warmup_s": compile_seconds[case.name]}
            print(f"[variant] {case.name}: {r[0]:.2f}x the plain vectorized speed {span.format(*r[1:])}, "
                  f"state deviation after {4 + args.repeats * batch[plain]} iterations {gap:.1e} (relative), "
                  f"warm-up {compile_seconds[case.name]:.0f} s")  # fmt: skip
    for text in failed_variants:
        print(text)
    sizes = checkpoint_sizes(built[vec], built[ml]) if "paper" in args.only else {}
    if sizes:
        print("\ncheckpoint sizes (MB): " + ", ".join(f"{k} {v:.1f}" for k, v in sizes.items()))
    print()
    for text, ok in checks:
        print(f"[{'PASS' if ok else 'FAIL'}] {text}")
    for text in notes:
        print(f"[info] {text}")
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    if args.quick:
        print("(--quick: small networks; the targets apply to the full-size run)")
    if args.json:
        summary = {
            "times_s": times, "gflops": flops, "peak_memory_mb": memory, "checkpoint_mb": sizes,
            "checks": {text: ok for text, ok in checks}, "variants": variants, "threads": args.threads,
            "load_before": load_before, "load_after": load_after, "quick": args.quick,
        }  # fmt: skip
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
