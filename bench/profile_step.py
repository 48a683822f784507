"""Where one training iteration's time goes: torch.profiler over a few iterations of a bench_step case.

Prints the top operators by self CPU time with their share of the profiled total, and the same time
grouped into a few families (convolution forward/backward, GEMMs, col2im/im2col, copies and layout changes,
elementwise, batch norm, sampler update, random draws). Warm-up iterations run first, unprofiled.

    python bench/profile_step.py [--case "paper BGAN vectorized"] [--iterations 3] [--threads 1] [--top 25]
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile

from bayesgan.allocator import keep_freed_memory
from step_cases import build_case, cases_for, iterate

FAMILIES = (  # first match wins: (family, substrings of the operator name)
    ("convolution backward", ("convolution_backward",)),
    ("convolution forward", ("mkldnn_convolution", "slow_conv", "thnn_conv", "_convolution")),
    ("col2im / im2col (fold, unfold)", ("col2im", "im2col")),
    ("GEMM (mm, bmm, addmm, baddbmm)", ("aten::mm", "aten::bmm", "addmm", "baddbmm", "aten::matmul")),
    ("copies and layout changes", ("copy_", "clone", "contiguous", "to_copy", "cat", "stack", "index")),
    ("random draws", ("normal_", "uniform_", "randn", "rand")),
    ("sampler update (foreach)", ("_foreach",)),
    ("batch norm statistics", ("var_mean", "batch_norm", "rsqrt")),
    ("reductions", ("sum", "mean", "amax", "logsumexp")),
    (
        "elementwise",
        ("add", "mul", "sub", "div", "relu", "leaky", "tanh", "sigmoid", "threshold", "exp", "log", "where"),
    ),
    ("allocation", ("empty", "zeros", "ones", "fill_", "zero_")),
)


def family(name: str) -> str:
    for label, needles in FAMILIES:
        if any(n in name for n in needles):
            return label
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", default="paper BGAN vectorized")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--quick", action="store_true", help="bench_step's small networks")
    parser.add_argument("--semi", action="store_true", help="semi-supervised (K+1) discriminator")
    parser.add_argument("--shapes", action="store_true", help="top operators split by input shapes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as bayesgan-train (cpu_memory_cache=true)
    case = next((c for c in cases_for(args.quick, False, False) if c.name == args.case), None)
    if case is None:
        names = ", ".join(c.name for c in cases_for(args.quick, False, False))
        raise SystemExit(f"profile_step.py: --case must be one of: {names}; got {args.case!r}")
    built = build_case(case, args.semi, "cpu")
    for _ in range(args.warmup):
        iterate(built, "cpu")
    with profile(activities=[ProfilerActivity.CPU], record_shapes=args.shapes) as prof:
        for _ in range(args.iterations):
            iterate(built, "cpu")
    events = [e for e in prof.key_averages(group_by_input_shape=args.shapes) if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    loads = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{case.name}: {args.iterations} iterations, {total / 1e6 / args.iterations:.2f} s self CPU time "
          f"per iteration, {args.threads} thread(s), torch {torch.__version__}, load {loads}")  # fmt: skip
    print(f"\n{'operator':<48}{'calls/it':>10}{'ms/it':>10}{'share':>8}")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.top]:
        print(
            f"{e.key[:47]:<48}{e.count / args.iterations:>10.0f}"
            f"{e.self_cpu_time_total / 1e3 / args.iterations:>10.1f}{e.self_cpu_time_total / total:>8.1%}"
        )
        if args.shapes:
            print(f"    {str(e.input_shapes)[:150]}")
    grouped: dict[str, float] = defaultdict(float)
    for e in events:
        grouped[family(e.key)] += e.self_cpu_time_total
    print(f"\n{'family':<48}{'ms/it':>10}{'share':>8}")
    for label, t in sorted(grouped.items(), key=lambda kv: -kv[1]):
        print(f"{label:<48}{t / 1e3 / args.iterations:>10.1f}{t / total:>8.1%}")


if __name__ == "__main__":
    main()
