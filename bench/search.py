"""Reproducible settings searches: each named search is ONE ``bayesgan-train -m`` multirun (Hydra's basic
launcher, one job at a time), whose per-job summaries land in bench/results/search/<name>/ (committed).

Digits searches tune on a VALIDATION split (``dataset.validation=true``: 360 of the 1,437 training images
held out, the 360 test images never loaded) with seeds 100+, outside the comparison's seeds 0-4, so no
setting is chosen on the test set. The ``test/*`` metrics a job reports are then validation metrics.

    python bench/search.py --list                 # the searches and their command lines
    python bench/search.py digits50_sghmc         # run one (then collect and print its table)
    python bench/search.py digits50_sghmc --collect   # only collect/print an existing sweep
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/compare.py's _commit
from compare import _commit

DIGITS_VAL = [
    "experiment=digits_semi",
    "dataset.n_labels=50",
    "dataset.validation=true",
    "callbacks.quality=null",  # image metrics are not what these searches select on (and cost half the run)
    "callbacks.samples=null",
]
# name -> (overrides with Hydra sweep syntax, metric to maximise)
SEARCHES: dict[str, tuple[list[str], str]] = {
    "digits50_sghmc": (
        [
            *DIGITS_VAL,
            "sampler=sghmc",
            "seed=100",
            "sampler.optimizer.temperature=1,0.1,0.01",
            "sampler.optimizer.lr_per_datum=3e-2,1e-1",
        ],
        "test/bma_accuracy",
    ),
    "digits50_sgld": (
        [
            *DIGITS_VAL,
            "sampler=sgld",
            "seed=100",
            "sampler.optimizer.temperature=1,0.1,0.01",
            "sampler.optimizer.lr_per_datum=3e-2,1e-1",
        ],
        "test/bma_accuracy",
    ),
}
COMMON = ["logger=none", "trainer.enable_progress_bar=false"]
KEEP = ("test/", "diag/rhat_max", "diag/generator_diversity", "loss/")


def command(name: str, sweep_dir: Path) -> list[str]:
    overrides, _ = SEARCHES[name]
    return [sys.executable, "-m", "bayesgan.train", "-m", *overrides, *COMMON, f"hydra.sweep.dir={sweep_dir}"]


def collect(name: str, sweep_dir: Path, out_dir: Path, commit: str) -> list[dict[str, Any]]:
    """One small JSON per finished job: its overrides, iterations, selected metrics; no checkpoints."""
    from omegaconf import OmegaConf

    rows = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for job in sorted(sweep_dir.glob("*/results.json")):
        results = json.loads(job.read_text())
        overrides = [str(o) for o in OmegaConf.load(job.parent / ".hydra" / "overrides.yaml")]
        row = {
            "search": name,
            "job": job.parent.name,
            "overrides": overrides,
            "iterations": results.get("iterations"),
            "diverged_at": results.get("diverged_at"),
            "commit": commit,
            "metrics": {k: v for k, v in results.get("metrics", {}).items() if k.startswith(KEEP)},
        }
        (out_dir / f"{job.parent.name}.json").write_text(json.dumps(row, indent=2) + "\n")
        rows.append(row)
    return rows


def table(name: str, rows: list[dict[str, Any]]) -> str:
    base, metric = SEARCHES[name]
    swept = [o.split("=")[0] for o in base if "," in o]
    header = [*swept, metric, "member acc.", "max R̂"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in sorted(rows, key=lambda r: -(r["metrics"].get(metric) or -1)):
        values = dict(o.split("=", 1) for o in row["overrides"])
        m = row["metrics"]
        cells = [values.get(k, "?") for k in swept]
        cells += [f"{m.get(metric, float('nan')):.4f}", f"{m.get('test/member_accuracy', float('nan')):.4f}"]
        cells += [f"{m.get('diag/rhat_max', float('nan')):.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", choices=list(SEARCHES))
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--collect", action="store_true", help="only collect and print an existing sweep")
    parser.add_argument("--sweeps", type=Path, default=Path("outputs/search"))
    parser.add_argument("--results", type=Path, default=Path("bench/results/search"))
    args = parser.parse_args(argv)
    if args.list or not args.name:
        for name in SEARCHES:
            print(f"{name}:\n  {' '.join(command(name, args.sweeps / name)[2:])}")
        return
    sweep_dir = args.sweeps / args.name
    if not args.collect:
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        subprocess.run(command(args.name, sweep_dir), check=True, env=env)
    rows = collect(args.name, sweep_dir, args.results / args.name, _commit())
    print(f"\n{args.name}: {len(rows)} jobs, {sweep_dir}\n{table(args.name, rows)}")


if __name__ == "__main__":
    main()
