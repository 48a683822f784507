"""Correctness on a CUDA device: the vectorized Bayesian GAN iteration equals the per-copy loop there too.

bench_step.py's full-size cases (paper DCGAN 28x28 with J_g=10 x M=2, the ring MLP with J_g=10, the default
digits experiment's semi-supervised iteration), each built twice on the device from the same weights, run
for three iterations of Algorithm 1 (noise included: both paths draw it from the same device generators),
and compared tensor by tensor (largest difference relative to the tensor's scale). The check runs in
float64: in float32 a DCGAN's generator gradient (batch-norm sums with heavy cancellation) moves by up to
~1e-3 of a step under any change of summation order (the same loop on 1 vs 2 CPU threads differs as much as
vectorized vs loop), so only float64 separates a wrong computation from rounding. The float32 and TF32
(cuDNN's default for convolutions) deviations are printed beside it for information.

    python bench/gpu_check.py [--device cuda] [--iterations 3] [--quick]
"""

from __future__ import annotations

import argparse
import sys

import torch

from bench_step import deviation
from step_cases import build_case, cases_for, iterate

PAIRS = ("paper BGAN", "toy BGAN", "digits BGAN")
TOLERANCE = 1e-9  # float64


def run(name: str, vectorize: bool, args: argparse.Namespace, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    suffix = "vectorized" if vectorize else "loop"
    case = next(c for c in cases_for(args.quick, False, False) if c.name == f"{name} {suffix}")
    torch.set_default_dtype(dtype)  # weights, data and every draw in this precision
    try:
        built = build_case(case, False, args.device)
        for _ in range(args.iterations):
            iterate(built, args.device)
    finally:
        torch.set_default_dtype(torch.float32)
    return {k: v.double() for k, v in built.module.state_dict().items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="bench_step's small networks")
    args = parser.parse_args()
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name() if args.device != 'cpu' else 'cpu'}")
    failed = False
    for name in PAIRS:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        vec, loop = (run(name, v, args, torch.float64) for v in (True, False))
        gap = deviation(vec, loop)
        single = [run(name, v, args, torch.float32) for v in (True, False)]
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        tf32 = deviation(run(name, True, args, torch.float32), single[0])
        ok = gap <= TOLERANCE
        failed |= not ok
        print(f"[{'PASS' if ok else 'FAIL'}] {name}: vectorized vs loop after {args.iterations} iterations "
              f"in float64, relative deviation {gap:.1e} (tolerance {TOLERANCE:.0e}); float32 "
              f"{deviation(*single):.1e}, TF32 vs float32 {tf32:.1e}")  # fmt: skip
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
