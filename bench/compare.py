"""Baseline comparison through the real configs: Bayesian GAN vs ML-GAN (ring), plus supervised-only (digits).

  - ring: ``experiment=ring`` with ``sampler=sghmc`` (J_g from the experiment file) and ``sampler=ml``
    (one G, one D: the ML sampler ignores ``posterior.*``), same iterations: modes captured and % high
    quality;
  - digits (``experiment=digits_semi``, 50 labels): ``sampler=sghmc`` and ``sampler=ml``, and the same
    discriminator trained on the labelled examples only (:func:`bayesgan.supervised.train_supervised`):
    test accuracy (BMA for the Bayesian GAN).

Every run writes ``<out>/<experiment>/<sampler>/s<seed>/results.json``, so ``bayesgan-report <out>`` reprints
the tables later. Iterations default to the experiment configs' values.

    python bench/compare.py [--seeds 0 1 2] [--ring-iterations N] [--digits-iterations N]
                            [--out outputs/compare] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate

from bayesgan import report
from bayesgan.supervised import train_supervised
from bayesgan.train import compose_config, run

RING_METRICS = [
    "coverage/modes",
    "coverage/high_quality",
    "coverage/reverse_kl",
    "coverage/per_generator_modes_mean",
    "coverage/per_generator_high_quality_mean",
]
DIGITS_METRICS = ["test/bma_accuracy", "test/member_accuracy", "test/bma_nll"]
COMMON = ["logger=none", "trainer.enable_progress_bar=false"]
QUICK_ITERATIONS = 30


def train_gan(overrides: list[str], run_dir: Path) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    return run(compose_config([*overrides, *COMMON], run_dir), run_dir)


def train_baseline(overrides: list[str], run_dir: Path) -> dict[str, Any]:
    """Supervised-only on the same data, labelled subset and model config; a results.json like the GANs'."""
    cfg = compose_config([*overrides, *COMMON], run_dir)
    datamodule = instantiate(cfg.dataset, seed=cfg.seed)  # same seed -> same labelled subset as the GAN run
    datamodule.prepare_data()
    datamodule.setup("fit")
    metrics = train_supervised(instantiate(cfg.model), datamodule, iterations=cfg.iterations, seed=cfg.seed)
    choices = {g: str(c) for g, c in HydraConfig.get().runtime.choices.items() if g in ("dataset", "model")}
    results = {
        "experiment": cfg.experiment_name,
        "choices": {**choices, "sampler": "supervised", "trainer": "plain_torch"},
        "seed": cfg.seed,
        "iterations": cfg.iterations,
        "bank_size": 0,
        # One network is its own Bayesian model average: the same keys as the ML-GAN's single-copy file.
        "metrics": {
            "test/bma_accuracy": metrics["test/accuracy"],
            "test/member_accuracy": metrics["test/accuracy"],
            "test/bma_nll": metrics["test/nll"],
        },
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    return results


def plan(args: argparse.Namespace) -> list[tuple[str, str, int, list[str]]]:
    """(experiment, sampler, seed, overrides) for every run, in order."""
    ring_it = [f"iterations={args.ring_iterations}"] if args.ring_iterations else []
    digits_it = [f"iterations={args.digits_iterations}"] if args.digits_iterations else []
    jobs = []
    for seed in args.seeds:
        for experiment, samplers, iterations in (
            ("ring", ("sghmc", "ml"), ring_it),
            ("digits_semi", ("sghmc", "ml", "supervised"), digits_it),
        ):
            for sampler in samplers:
                # The supervised baseline only reads the dataset and model groups; any sampler composes.
                gan = [f"sampler={sampler}"]
                overrides = [f"experiment={experiment}", f"seed={seed}", *iterations]
                jobs.append(
                    (experiment, sampler, seed, [*overrides, *([] if sampler == "supervised" else gan)])
                )
    return jobs


def headline(results: dict[str, Any]) -> str:
    m = results["metrics"]
    parts = []
    if "coverage/modes" in m:
        parts.append(
            f"modes captured {m['coverage/modes']:.0f}, high quality {m['coverage/high_quality']:.1f}%"
        )
    if "test/bma_accuracy" in m:
        parts.append(f"test accuracy (BMA) {m['test/bma_accuracy']:.4f}")
    if any(isinstance(v, float) and not math.isfinite(v) for v in m.values()):
        parts.append("NON-FINITE METRICS: " + ", ".join(k for k, v in m.items() if not math.isfinite(v)))
    return "; ".join(parts) or "no metrics"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--ring-iterations", type=int, default=None, help="default: conf/experiment/ring.yaml"
    )
    parser.add_argument("--digits-iterations", type=int, default=None, help="default: conf/train.yaml")
    parser.add_argument("--out", type=Path, default=None, help="default: outputs/compare (or _quick)")
    # These models are tiny: a second intra-op thread measured ~3x SLOWER on the 2-core machines (OpenMP
    # sync overhead, worse when the other core is busy). 0 = torch's default.
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (default 1; 0: torch's)"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke test: 1 seed, {QUICK_ITERATIONS} iterations"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds = args.seeds[:1]
        args.ring_iterations = args.ring_iterations or QUICK_ITERATIONS
        args.digits_iterations = args.digits_iterations or QUICK_ITERATIONS
    # A separate default folder for smoke runs, so `bayesgan-report outputs/compare` never mixes them in.
    args.out = args.out or Path("outputs/compare_quick" if args.quick else "outputs/compare")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ("lightning.pytorch", "lightning.fabric"):  # per-run banners would bury the progress lines
        logging.getLogger(name).setLevel(logging.WARNING)
    # A rerun overwrites its own run directories by design.
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    jobs = plan(args)
    start, runs = time.perf_counter(), []
    for i, (experiment, sampler, seed, overrides) in enumerate(jobs, 1):
        run_dir = args.out / experiment / sampler / f"s{seed}"
        print(f"[{i}/{len(jobs)}] {experiment} {sampler} seed={seed} ...", end=" ", flush=True)
        t0 = time.perf_counter()
        results = (train_baseline if sampler == "supervised" else train_gan)(overrides, run_dir)
        print(
            f"{results['iterations']} iterations in {time.perf_counter() - t0:.0f}s: {headline(results)}",
            flush=True,
        )
        runs.append(results)
    wall = time.perf_counter() - start

    group_by = ["experiment", "sampler", "iterations"]
    for title, experiment, metrics in (
        ("Ring (8 Gaussians): mode coverage", "ring", RING_METRICS),
        ("Digits, 50 labels: test accuracy", "digits_semi", DIGITS_METRICS),
    ):
        selected = [r for r in runs if r["experiment"] == experiment]
        print(f"\n## {title} — mean ± std over seeds {', '.join(map(str, args.seeds))}\n")
        print(report.render(report.summarize(selected, group_by, metrics)), end="")
        print(
            f"\nPer seed:\n\n{report.render(report.summarize(selected, ['sampler', 'seed'], metrics))}",
            end="",
        )
    print(
        f"\nTotal wall time: {wall / 60:.1f} min ({len(jobs)} runs, torch threads {torch.get_num_threads()})"
    )
    print(f"Results: {args.out}/ (reprint with: bayesgan-report {args.out} --group-by experiment,sampler)")


if __name__ == "__main__":
    main()
