"""What virtual batch norm costs per training iteration, against batch norm, on one configuration.

Each variant (``model.virtual_batch_norm`` = none, discriminator, generator, both) is built from the
project's configs with the given overrides and runs Algorithm 1's iteration (``BayesGAN.update``) on the
datamodule's batches. The variants are timed INTERLEAVED, round by round, so a load change on a shared
machine hits them alike; printed: the median milliseconds per iteration and its ratio to batch norm's, with
the min-max of the per-round ratios.

    OMP_NUM_THREADS=1 python bench/vbn_cost.py [--rounds 5] [--iterations 10] [overrides ...]
    (default overrides: the table1_digits BayesGAN column, n_labels=100)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bayesgan import reference_batches
from bayesgan.train import build, compose_config

VARIANTS = ("none", "discriminator", "generator", "both")
DEFAULT = [
    "experiment=table1_digits",
    "row=bayesgan",
    "dataset.n_labels=100",
    "logger=none",
    "hydra.mode=RUN",
]


def prepare(overrides: list[str], variant: str, out: Path):
    cfg = compose_config([*overrides, f"model.virtual_batch_norm={variant}"], out)
    _, module, datamodule = build(cfg, out)
    datamodule.setup("fit")
    reference_batches.fill_for_method(module, datamodule)
    d_opt, g_opt = module.configure_optimizers()
    return module, datamodule, d_opt, g_opt


def seconds_per_iteration(case, iterations: int) -> float:
    module, datamodule, d_opt, g_opt = case
    start = time.perf_counter()
    for _ in range(iterations):
        module.update(datamodule.train_batch(module.iteration), d_opt, g_opt)
        module.iteration += 1
    return (time.perf_counter() - start) / iterations


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=10, help="iterations per variant and round")
    parser.add_argument("overrides", nargs="*", default=DEFAULT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        cases = {v: prepare(args.overrides, v, Path(out) / v) for v in VARIANTS}
        for case in cases.values():
            seconds_per_iteration(case, 2)  # warm-up
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for _ in range(args.rounds):
            for variant, case in cases.items():
                times[variant].append(seconds_per_iteration(case, args.iterations))
    print(f"{' '.join(args.overrides)}; threads {torch.get_num_threads()}, {args.rounds} rounds")
    print(f"{'virtual_batch_norm':<20}{'ms/iter':>10}{'x none':>9}{'(min-max)':>14}")
    for variant in VARIANTS:
        ratios = [t / b for t, b in zip(times[variant], times["none"], strict=True)]
        median = statistics.median(times[variant]) * 1e3
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
        print(f"{variant:<20}{median:>10.1f}{statistics.median(ratios):>9.2f}{spread:>14}")


if __name__ == "__main__":
    main()
