"""The honest comparison: Bayesian GAN (SGHMC, SGLD) vs ML-GAN (vs supervised-only) through the real configs.

Cases (each run is ``bayesgan-train <case overrides> sampler=<s> seed=<k>`` at the presets' budgets):
  - ``ring_pacgan``, ``grid_pacgan``: the PacGAN/VEEGAN protocol (conf/experiment/*_pacgan.yaml); mode
    coverage on 2,500 samples, pooled and per generator copy, beside the structureless null reference;
  - ``digits_20``, ``digits_50``: semi-supervised 8x8 digits with 20 / 50 labels (``experiment=digits_semi``),
    plus the discriminator trained on the labelled examples only (``bayesgan.supervised``).

Each finished run leaves a small summary ``<results>/<case>/<sampler>/seed<k>.json`` (committed under
bench/results/compare/); a rerun skips runs whose summary exists and reprints the tables. An interrupted GAN
run continues from the newer of ``last.ckpt`` (every ``checkpoint_every`` iterations) and
``interrupted.ckpt`` (written on Ctrl-C); its summary's ``wall_s`` then counts the last session only. Seeds
are paired across samplers (same data, labelled subset and evaluation latents), so each Bayesian-vs-ML
difference is reported as a paired mean with a bootstrap 95 % interval over seeds.

    python bench/compare.py                                     # everything still missing, then the tables
    python bench/compare.py --only ring_pacgan --samplers ml    # one part
    python bench/compare.py --report                            # only reprint the tables
    python bench/compare.py --quick                             # smoke test (separate results folder)
    python bench/compare.py --only ring_pacgan --jobs 12 --trainer gpu   # 12 runs side by side on one GPU
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import subprocess
import sys
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from bayesgan.supervised import train_supervised
from bayesgan.train import compose_config, run

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: compare_tables
import derived_rows
from compare_tables import CASES, DERIVED, VARIANTS, headline, load, tables

SAMPLERS = sorted({s for _, _, samplers in CASES.values() for s in samplers} | set(VARIANTS))
COMMON = ["logger=none", "trainer.enable_progress_bar=false"]
QUICK_ITERATIONS = 30


# -- running ------------------------------------------------------------------------------------------------
def train_gan(overrides: list[str], run_dir: Path) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = compose_config([*overrides, *COMMON], run_dir)
    return {**run(cfg, run_dir), "settings": settings(cfg)}


def settings(cfg: DictConfig) -> dict[str, Any]:
    """What the run actually used (preset + conf/tuning/<experiment>-<sampler>.yaml + overrides)."""
    sampler = OmegaConf.to_container(cfg.sampler, resolve=True)
    optimizer = {k: v for k, v in sampler.pop("optimizer").items() if not k.startswith("_")}
    return {
        "iterations": cfg.iterations,
        "z_prior": str(cfg.z_prior),
        "sampler": sampler,
        "optimizer": optimizer,
    }


def train_baseline(overrides: list[str], run_dir: Path) -> dict[str, Any]:
    """Supervised-only on the same data, labelled subset (same seed) and discriminator architecture."""
    cfg = compose_config([*overrides, *COMMON], run_dir)
    datamodule = instantiate(cfg.dataset, seed=cfg.seed)
    datamodule.prepare_data()
    datamodule.setup("fit")
    metrics = train_supervised(instantiate(cfg.model), datamodule, iterations=cfg.iterations, seed=cfg.seed)
    # One network is its own model average: the same keys as the ML-GAN's single-copy results.
    return {
        "iterations": cfg.iterations,
        "diverged_at": None,
        "settings": {
            "iterations": cfg.iterations,
            "optimizer": {"name": "Adam", "lr": 2e-4, "betas": [0.5, 0.999]},
        },
        "metrics": {
            "test/bma_accuracy": metrics["test/accuracy"],
            "test/member_accuracy": metrics["test/accuracy"],
            "test/bma_nll": metrics["test/nll"],
        },
    }


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def summary(
    case: str,
    sampler: str,
    seed: int,
    overrides: list[str],
    results: dict[str, Any],
    wall: float,
    commit: str,
) -> dict:
    """The committed per-run file: enough to reprint and check the tables (no checkpoints, no samples)."""
    keep = ("coverage/", "null/", "diag/", "test/", "loss/")
    return {
        "experiment": case,
        "choices": {"sampler": sampler},
        "seed": seed,
        "iterations": results["iterations"],
        "diverged_at": results.get("diverged_at"),
        "overrides": overrides,
        "wall_s": round(wall, 1),
        "torch_threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,  # of the code this process loaded
        "settings": results.get("settings"),
        "metrics": {k: v for k, v in results["metrics"].items() if k.startswith(keep)},
    } | ({"derived_from": results["derived_from"]} if "derived_from" in results else {})


def plan(args: argparse.Namespace) -> list[tuple[str, str, int, list[str]]]:
    """(case, sampler, seed, overrides) of every requested run; seeds outermost, so partial runs pair."""
    jobs = []
    for seed in args.seeds:
        for case in args.only:
            _, overrides, samplers = CASES[case]
            wanted = args.samplers or samplers  # variants only when named
            samplers = [*samplers, *(v for v, (base, _, _) in VARIANTS.items() if base in samplers)]
            for sampler in samplers:
                if sampler not in wanted:
                    continue
                extra = [f"iterations={args.iterations}"] if args.iterations else []
                if args.trainer != "cpu" and sampler != "supervised":
                    extra.append(f"trainer={args.trainer}")
                base, variant, _ = VARIANTS.get(sampler, (sampler, [], "ml"))
                gan = [] if sampler == "supervised" else [f"sampler={base}", *variant]
                jobs.append((case, sampler, seed, [*overrides, *gan, f"seed={seed}", *extra]))
    return jobs


def result_path(results_dir: Path, case: str, sampler: str, seed: int) -> Path:
    return results_dir / case / sampler / f"seed{seed}.json"


def run_side_by_side(args: argparse.Namespace, todo: list[tuple[str, str, int, list[str]]]) -> None:
    """``--jobs N``: each run in its own process (this script, one case/sampler/seed), N at a time."""

    def one(job: tuple[str, str, int, list[str]]) -> None:
        case, sampler, seed, _ = job
        log = args.runs / case / sampler / f"seed{seed}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, __file__, "--only", case, "--samplers", sampler, "--seeds", str(seed),
                   "--results", str(args.results), "--runs", str(args.runs), "--threads", str(args.threads),
                   "--trainer", args.trainer, "--no-tables"]  # fmt: skip
        command += ["--iterations", str(args.iterations)] if args.iterations else []
        with log.open("a") as out:
            code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode
        status = "done" if code == 0 else f"FAILED (exit {code}, log {log})"
        print(f"{case} {sampler} seed={seed}: {status}", flush=True)

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, todo))


def run_missing(args: argparse.Namespace) -> None:
    jobs = plan(args)
    todo = [j for j in jobs if not result_path(args.results, *j[:3]).exists()]
    commit = _commit()
    print(f"{len(jobs)} runs requested, {len(jobs) - len(todo)} already done, {len(todo)} to run", flush=True)
    if args.jobs > 1 and len(todo) > 1:
        run_side_by_side(args, todo)
        return
    for i, (case, sampler, seed, overrides) in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {case} {sampler} seed={seed} ...", end=" ", flush=True)
        t0 = time.perf_counter()
        run_dir = args.runs / case / sampler / f"seed{seed}"
        saved = [run_dir / "checkpoints" / n for n in ("last.ckpt", "interrupted.ckpt")]
        saved = [p for p in saved if p.exists()]
        if sampler != "supervised" and saved:  # an interrupted run continues where it stopped
            newest = max(saved, key=lambda p: p.stat().st_mtime)
            print(f"(resuming {newest})", end=" ", flush=True)
            overrides = [*overrides, f"ckpt_path={newest.resolve()}"]
        results = None
        if sampler in DERIVED:  # a subset of a finished run's snapshots: evaluated, not trained again
            source = result_path(args.results, case, DERIVED[sampler][0], seed)
            results = derived_rows.from_source(
                sampler, [*overrides, *COMMON], args.runs / case, source, run_dir
            )
        if results is None:
            results = (train_baseline if sampler == "supervised" else train_gan)(overrides, run_dir)
        elif "cfg" in results:
            print(f"(pooled from {results['derived_from']['checkpoint']})", end=" ", flush=True)
            results["settings"] = settings(results.pop("cfg"))
        wall = time.perf_counter() - t0
        path = result_path(args.results, case, sampler, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(summary(case, sampler, seed, overrides, results, wall, commit), indent=2) + "\n"
        )
        tmp.replace(path)  # atomic: an interrupted run never leaves a half-written summary to skip
        print(
            f"{results['iterations']} iterations in {wall:.0f}s: {headline(results['metrics'])}", flush=True
        )


# -- command line -------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(CASES), default=list(CASES), help="cases to run")
    parser.add_argument(
        "--samplers",
        nargs="+",
        choices=SAMPLERS,
        default=None,
        help="default: all",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--iterations", type=int, default=None, help="override every preset's budget")
    parser.add_argument("--results", type=Path, default=None, help="default: bench/results/compare")
    parser.add_argument("--runs", type=Path, default=None, help="run directories (default: outputs/compare)")
    parser.add_argument("--report", action="store_true", help="only print the tables of existing results")
    parser.add_argument("--no-tables", action="store_true", help="run only, print no tables")
    parser.add_argument("--jobs", type=int, default=1, help="runs side by side, each in its own process")
    parser.add_argument("--trainer", default="cpu", help="trainer config of the GAN runs (cpu, gpu)")
    # The toy models are small: a second intra-op thread is slower on the shared 2-core machines.
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke test: seed 0, {QUICK_ITERATIONS} iterations"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.iterations = args.seeds[:1], args.iterations or QUICK_ITERATIONS
    # Smoke runs and budget overrides never land among the committed preset results.
    off_preset = args.quick or args.iterations
    args.results = args.results or Path("outputs/compare_quick" if off_preset else "bench/results/compare")
    args.runs = args.runs or Path("outputs/compare_quick/runs" if off_preset else "outputs/compare")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ("pytorch_lightning", "lightning_fabric"):  # per-run banners would bury the progress lines
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
    if not args.report:
        start = time.perf_counter()
        run_missing(args)
        minutes = (time.perf_counter() - start) / 60
        print(f"Wall time: {minutes:.1f} min (torch threads {torch.get_num_threads()})")
    if args.no_tables:
        return
    print(tables(load(args.results), args.only), end="")
    where = "" if args.results == Path("bench/results/compare") else f" --results {args.results}"
    print(f"\nResults: {args.results}/ (reprint: python bench/compare.py --report{where})")


if __name__ == "__main__":
    main()
