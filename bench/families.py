"""The other model families beside the GANs: VAE and α-GAN on the PacGAN ring and on unsupervised digits.

Cases (each run is ``bayesgan-train <case overrides> <method overrides> seed=<k>``):
  - ``ring_pacgan``: ``experiment=ring_pacgan`` (the PacGAN/VEEGAN ring protocol and its networks) with
    ``model=vae_mlp`` and ``model=alpha_gan_mlp`` (α-GAN with the protocol GAN's Adam: lr 1e-4, beta1 0.8),
    and ProbGAN with the ring's tuned psgld beside the Bayesian GAN with the same sampler at 5k iterations;
    the table adds the ML-GAN / Bayesian GAN / ProbGAN rows that ``bench/compare.py`` committed.
  - ``grid_pacgan``: the same on the PacGAN grid (25 modes), at the same budgets;
  - ``digits_unsup``: 8x8 digits without labels, 1,500 iterations, the image metrics (FID/KID/PRDC/classifier
    score in the digits domain classifier's features) at the end: VAE, α-GAN, ML-GAN and Bayesian GAN (SGHMC)
    at the same budget (bench/compare.py has no unsupervised image case).

Summaries go to ``bench/results/families/<case>/<method>/seed<k>.json`` (committed); a rerun skips finished
runs and continues an interrupted one from its newest checkpoint (``bench/compare.py``'s machinery).

    python bench/families.py                                   # everything still missing, then the tables
    python bench/families.py --only ring_pacgan --methods vae  # one part
    python bench/families.py --report                          # only reprint the tables
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import compare
from bayesgan import report

RESULTS = Path("bench/results/families")
RUNS = Path("outputs/families")
KEEP = ("coverage/", "null/", "quality/", "loss/", "diag/")
RING_METRICS = ["coverage/modes", "coverage/high_quality", "coverage/reverse_kl"]
IMAGE_METRICS = [f"quality/{k}" for k in ("fid", "kid", "precision", "recall", "classifier_score")]
# A third of the ring preset's budget, its bank over the second half (as bench/search.py's ring searches).
RING_THIRD = ["iterations=5000", "posterior.burn_in=2500", "posterior.thin=250"]
DIGITS_PSGLD = ["sampler.optimizer.temperature=0.01", "sampler.optimizer.lr_per_datum=3e-3"]
# The toy methods, on the ring and the grid alike.
TOY_METHODS = {
    "vae_std0.05": ["model=vae_mlp", "model.std=0.05", "iterations=5000"],  # model=vae_mlp's default
    # About 2.5x a VAE iteration: a third of the preset's 15k iterations on this shared machine.
    "alpha_gan": ["model=alpha_gan_mlp", "method.lr=1e-4", "method.betas=[0.8,0.999]", "iterations=5000"],
    # ProbGAN's inference with the toys' tuned sampler (conf/tuning/ring_pacgan-psgld.yaml; the grid's is the
    # same), and the Bayesian GAN with the same sampler, budget and seeds: the pair differs only in inference.
    "probgan_psgld": ["method=probgan", "sampler=psgld", *RING_THIRD],
    "psgld_5k": ["sampler=psgld", *RING_THIRD],
}
# case -> (case overrides, {method: its overrides}, metrics)
CASES: dict[str, tuple[list[str], dict[str, list[str]], list[str]]] = {
    "ring_pacgan": (
        ["experiment=ring_pacgan", "checkpoint_every=2500"],
        # The learned-variance VAE collapses to the centre; it is not run on the grid.
        {"vae": ["model=vae_mlp", "model.std=null"], **TOY_METHODS},
        RING_METRICS,
    ),
    "grid_pacgan": (["experiment=grid_pacgan", "checkpoint_every=2500"], TOY_METHODS, RING_METRICS),
    "digits_unsup": (
        [
            "dataset=digits",
            "dataset.n_labels=null",
            "iterations=1500",
            "callbacks.quality.every_n_iterations=0",
        ],
        {
            "vae": ["model=vae", "z_prior=normal"],
            "alpha_gan": ["model=alpha_gan"],
            "ml": ["sampler=ml"],
            "sghmc": ["sampler=sghmc"],
            # Session 9: psgld with its digits tuning (conf/tuning/digits_semi-psgld.yaml: chosen for
            # semi-supervised accuracy, not image quality), and ProbGAN with the same sampler.
            "psgld": ["sampler=psgld", *DIGITS_PSGLD],
            "probgan_psgld": ["method=probgan", "sampler=psgld", *DIGITS_PSGLD],
        },
        IMAGE_METRICS,
    ),
}


def run_missing(cases: Sequence[str], methods: Sequence[str] | None, seeds: Sequence[int]) -> None:
    commit = compare._commit()
    for seed in seeds:
        for case in cases:
            base, variants, _ = CASES[case]
            for method, extra in variants.items():
                path = RESULTS / case / method / f"seed{seed}.json"
                if (methods and method not in methods) or path.exists():
                    continue
                overrides = [*base, *extra, f"seed={seed}"]
                run_dir = RUNS / case / method / f"seed{seed}"
                saved = list((run_dir / "checkpoints").glob("*.ckpt"))
                if saved:  # continue where it stopped (last.ckpt or interrupted.ckpt, the newest)
                    overrides.append(f"ckpt_path={max(saved, key=lambda p: p.stat().st_mtime).resolve()}")
                print(f"{case} {method} seed={seed}: {' '.join(overrides)}", flush=True)
                start = time.perf_counter()
                results = compare.train_gan(overrides, run_dir)
                wall = time.perf_counter() - start
                entry = compare.summary(case, method, seed, overrides, results, wall, commit)
                entry["metrics"] = {k: v for k, v in results["metrics"].items() if k.startswith(KEEP)}
                path.parent.mkdir(parents=True, exist_ok=True)
                path.with_suffix(".tmp").write_text(json.dumps(entry, indent=2) + "\n")
                path.with_suffix(".tmp").replace(path)
                headline = compare.headline(results["metrics"])
                print(f"  {results['iterations']} iterations in {wall:.0f}s: {headline}", flush=True)


def load(case: str) -> list[dict[str, Any]]:
    """This script's runs of ``case`` and, for the ring, the committed GAN runs of bench/compare.py and of
    bench/probgan.py (ProbGAN and its SGHMC pair, in ``RESULTS/probgan``)."""
    paths = sorted((RESULTS / case).glob("*/seed*.json")) + sorted(
        (RESULTS / "probgan" / case).glob("*/seed*.json")
    )
    if case in compare.CASES:
        paths += sorted(Path("bench/results/compare", case).glob("*/seed*.json"))
    return [json.loads(p.read_text()) for p in paths]


def tables(cases: Sequence[str]) -> str:
    out = []
    for case in cases:
        runs = load(case)
        if not runs:
            continue
        metrics = CASES[case][2]
        rows = report.summarize(report.with_null_rows(runs), ["sampler", "iterations"], metrics)
        seeds = sorted({r["seed"] for r in runs})
        out.append(f"\n## {case}: mean ± std over seeds {', '.join(map(str, seeds))} (sampler = method)\n")
        out.append(report.render(rows))
    return "".join(out)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--methods", nargs="+", default=None, help="default: every method of the case")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--report", action="store_true", help="only print the tables of existing results")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ("pytorch_lightning", "lightning_fabric"):  # per-run banners would bury the progress lines
        logging.getLogger(name).setLevel(logging.WARNING)
    if not args.report:
        run_missing(args.only, args.methods, args.seeds)
    print(tables(args.only), end="")


if __name__ == "__main__":
    main()
