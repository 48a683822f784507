"""Interleaved A/B timings of issue #12's three changes, each against the formulation it replaced.

  sampler   SGHMC.step (one flat noise draw, in-place foreach update) vs the previous per-tensor update
            (a fresh randn and a ∇U temporary per tensor), on the paper-scale stacked weights (J_g x M = 20
            DCGAN generators, 2 discriminators: 98.8 M numbers).
  gemm      GemmConvTranspose2d (x·W, weight gradient in the weight's layout) vs the previous Wᵀ·x form,
            forward + backward under vmap over 20 copies, batch 64, the generator's first two layers.
  stacked   the toy Bayesian GAN iteration (ring MLP, J_g = 10) with stacked kernels vs vmap.
  toy       the same iteration without vs with each of session 5's two changes: the column-major weight
            for inputs narrower than 16 (stacked._NARROW; MKL is 4-5x slower on a narrow product with a
            row-major right operand, printed first) and one discriminator pass over real and fake
            examples (Ensemble.fuses_batches).

The variants alternate round by round in one process, so load shifts hit both alike; each line gives the
median per-round speedup with its min-max.

    python bench/bench_components.py [--rounds 5] [--threads 1] [--only sampler gemm stacked toy]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.func import functional_call, vmap

from bayesgan import stacked as stacked_kernels
from bayesgan.ensemble import Ensemble
from bayesgan.models import DCGAN
from bayesgan.models.convolutions import GemmConvTranspose2d
from bayesgan.samplers import SGHMC
from step_cases import build_case, cases_for, iterate


def ab(name: str, before: Callable[[], None], after: Callable[[], None], rounds: int) -> None:
    before(), after()  # warm-up
    times: dict[str, list[float]] = {"before": [], "after": []}
    for _ in range(rounds):
        for key, fn in (("before", before), ("after", after)):
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    ratios = [b / a for b, a in zip(times["before"], times["after"], strict=True)]
    print(
        f"{name:<58} before {statistics.median(times['before']) * 1e3:>9.1f} ms  after "
        f"{statistics.median(times['after']) * 1e3:>9.1f} ms  speedup {statistics.median(ratios):.2f}x "
        f"({min(ratios):.2f}-{max(ratios):.2f})",
        flush=True,
    )


class PerTensorSGHMC(SGHMC):
    """The update SGHMC used before: a fresh N(0, 1) draw and a ∇U temporary per tensor."""

    def _update_group(self, params, grads, group, noise) -> None:  # type: ignore[no-untyped-def]
        lr, a, temp, std = group["lr"], group["friction"], group["temperature"], group["prior_std"]
        gen = self._get_generator(params[0].device)
        for p, grad in zip(params, grads, strict=True):
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p)
            v = state["momentum_buffer"]
            v.mul_(1.0 - a).add_(self.potential_grad(p, grad, std), alpha=-lr)
            v.add_(torch.randn(p.shape, generator=gen, dtype=p.dtype), alpha=math.sqrt(2.0 * a * lr * temp))
            p.add_(v)

    def _needs_noise(self, group) -> bool:  # type: ignore[no-untyped-def]
        return False  # it draws its own


def sampler(rounds: int) -> None:
    arch = DCGAN(z_dim=100, width=64)

    def make(cls: type) -> torch.optim.Optimizer:
        torch.manual_seed(0)
        g = Ensemble(lambda: arch.build_generator((1, 28, 28)), 20)
        d = Ensemble(lambda: arch.build_discriminator((1, 28, 28), 1), 2)
        params = [*g.parameters(), *d.parameters()]
        for p in params:
            p.grad = torch.randn_like(p) * 1e-3
        return cls(params, num_data=60_000, batch_size=64, lr=1e-6, seed=1)

    old, new = make(PerTensorSGHMC), make(SGHMC)
    ab("sampler: SGHMC step, 98.8 M stacked weights", old.step, new.step, rounds)


class TransposedFormGemm(GemmConvTranspose2d):
    """The form GemmConvTranspose2d used before: cols = Wᵀ·x (bias-free layers only)."""

    def forward(self, x: torch.Tensor, output_size: object = None) -> torch.Tensor:
        batch, in_ch, h, w = x.shape
        out = [(n - 1) * s - 2 * p + k + o for n, s, p, k, o in zip(
            (h, w), self.stride, self.padding, self.kernel_size, self.output_padding, strict=True
        )]  # fmt: skip
        cols = self.weight.reshape(in_ch, -1).t() @ x.transpose(0, 1).reshape(in_ch, batch * h * w)
        cols = cols.view(-1, batch, h * w).transpose(0, 1)
        return F.fold(cols, out, self.kernel_size, padding=self.padding, stride=self.stride)


def _gemm_step(cls: type, in_ch: int, out_ch: int, pad: int, x: torch.Tensor) -> Callable[[], None]:
    """Forward + backward of one transposed-convolution layer over 20 stacked copies under vmap."""
    layer = cls(in_ch, out_ch, 5, stride=2, padding=2, output_padding=pad, bias=False)
    weight = torch.randn(20, in_ch, out_ch, 5, 5).mul_(0.02).requires_grad_()

    def step() -> None:
        weight.grad = None
        y = vmap(lambda w, xx: functional_call(layer, {"weight": w}, (xx,)))(weight, x)
        y.backward(torch.ones_like(y))

    return step


def gemm(rounds: int) -> None:
    for in_ch, out_ch, size, pad in ((512, 256, 2, 1), (256, 128, 4, 0)):
        x = torch.randn(20, 64, in_ch, size, size)
        name = f"gemm: layer {in_ch}->{out_ch}, {size}x{size} maps, fwd+bwd, 20 copies"
        before = _gemm_step(TransposedFormGemm, in_ch, out_ch, pad, x)
        ab(name, before, _gemm_step(GemmConvTranspose2d, in_ch, out_ch, pad, x), rounds)


def stacked(rounds: int) -> None:
    case = next(c for c in cases_for(False, False, False) if c.name == "toy BGAN vectorized")
    with_vmap, with_stacked = build_case(case, False, "cpu"), build_case(case, False, "cpu")
    for ensemble in (with_vmap.module.generator, with_vmap.module.discriminator):
        ensemble.stacked_kernels = False

    def ten(built: object) -> Callable[[], None]:
        return lambda: [iterate(built, "cpu") for _ in range(10)]  # type: ignore[arg-type]

    ab("stacked: toy BGAN, 10 iterations, vmap vs stacked kernels", ten(with_vmap), ten(with_stacked), rounds)


def narrow_products(rounds: int) -> None:
    """grad·W with W [C, out, in] row-major vs column-major: the input gradient of a layer ``in`` wide."""
    shapes = ((1, 640, 128, 2), (10, 64, 128, 2), (1, 640, 1000, 2), (10, 64, 128, 10))
    for copies, batch, out, width in shapes:
        grad, weight = torch.randn(copies, batch, out), torch.randn(copies, out, width)

        def product(g: torch.Tensor, w: torch.Tensor) -> Callable[[], None]:
            return lambda: [torch.bmm(g, w) for _ in range(100)]  # type: ignore[func-returns-value]

        name = f"narrow: [{copies}, {batch}, {out}]·[{copies}, {out}, {width}] x100, column-major W"
        ab(name, product(grad, weight), product(grad, weight.mT.contiguous().mT), rounds)


def toy(rounds: int) -> None:
    narrow_products(rounds)
    case = next(c for c in cases_for(False, False, False) if c.name == "toy BGAN vectorized")
    narrow = stacked_kernels._NARROW

    def ten(built: object, column_major: bool, fused: bool) -> Callable[[], None]:
        def run() -> None:
            stacked_kernels._NARROW = narrow if column_major else 0
            built.module.discriminator.fuses_batches = fused  # type: ignore[attr-defined]
            for _ in range(10):
                iterate(built, "cpu")  # type: ignore[arg-type]

        return run

    built = [build_case(case, False, "cpu") for _ in range(4)]
    before = ten(built[0], False, False)
    ab("toy: 10 iterations, + column-major narrow weights", before, ten(built[1], True, False), rounds)
    ab("toy: 10 iterations, + one pass over real and fakes", before, ten(built[2], False, True), rounds)
    ab("toy: 10 iterations, + both", before, ten(built[3], True, True), rounds)
    stacked_kernels._NARROW = narrow


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="+", default=["sampler", "gemm", "stacked", "toy"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.threads} thread(s)")
    for name in args.only:
        {"sampler": sampler, "gemm": gemm, "stacked": stacked, "toy": toy}[name](args.rounds)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
