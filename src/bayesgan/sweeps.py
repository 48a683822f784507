"""The end of a multirun: one table of its jobs (key overrides -> headline metrics) and the report command.

``MultirunSummary`` is a Hydra callback (``hydra.callbacks`` in ``conf/train.yaml``); it reads what the jobs
wrote (``.hydra/overrides.yaml`` and ``results.json`` in each job directory), so it works the same for the
basic, joblib, SLURM and Optuna launchers/sweepers. :func:`summary_table` is usable without Hydra.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

# The metrics a reader compares first, in this order; a column appears when some job has it.
HEADLINE = (
    "test/bma_accuracy",
    "test/member_accuracy",
    "coverage/modes",
    "coverage/high_quality",
    "coverage/reverse_kl",
)


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Job directories of a sweep (those with a ``.hydra`` folder), in job-number order."""

    def number(path: Path) -> tuple[int, str]:
        match = re.match(r"(\d+)", path.name)
        return (int(match.group(1)) if match else 1 << 30, path.name)

    return sorted((p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()), key=number)


def _overrides(job: Path) -> list[str]:
    path = job / ".hydra" / "overrides.yaml"
    return [str(o) for o in OmegaConf.load(path)] if path.exists() else []


def _results(job: Path) -> dict[str, Any] | None:
    try:
        return json.loads((job / "results.json").read_text())
    except (OSError, ValueError):
        return None


def _cell(value: Any) -> str:
    if isinstance(value, str):  # an override's value: shorten long floats (Optuna's suggestions)
        try:
            number = float(value)
        except ValueError:
            return value
        return value if len(value) <= 8 else _cell(number)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return "-" if value is None else str(value)


def summary_table(jobs: Sequence[Path], metrics: Sequence[str] = HEADLINE) -> str:
    """An aligned text table: one row per job, the overrides that differ between jobs, then the metrics."""
    overrides = [dict(o.lstrip("+~").partition("=")[::2] for o in _overrides(job)) for job in jobs]
    keys = list(dict.fromkeys(k for o in overrides for k in o))
    if len(jobs) > 1:  # overrides shared by every job say nothing about the difference between rows
        keys = [k for k in keys if len({o.get(k) for o in overrides}) > 1]
    results = [_results(job) for job in jobs]
    present = [m for m in metrics if any(r and m in r.get("metrics", {}) for r in results)]
    header = ["job", *keys, *present]
    rows = []
    for job, over, res in zip(jobs, overrides, results, strict=True):
        if res is None:
            cells = ["no results.json"] + [""] * (len(present) - 1) if present else []
        elif res.get("diverged_at") is not None:
            cells = [f"diverged at {res['diverged_at']}"] + [""] * (len(present) - 1) if present else []
        else:
            cells = [_cell(res["metrics"].get(m)) for m in present]
        rows.append([job.name.split("_", 1)[0], *(_cell(over.get(k)) for k in keys), *cells])
    table = [header, *rows]
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class MultirunSummary(Callback):
    """Prints the sweep's job table and ``bayesgan-report <sweep dir>`` when a multirun ends."""

    def __init__(self, metrics: Sequence[str] = HEADLINE) -> None:
        self.metrics = tuple(metrics)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            return
        jobs = job_dirs(sweep_dir)
        if not jobs:
            return
        print(f"\nMultirun finished: {len(jobs)} jobs in {sweep_dir}\n{summary_table(jobs, self.metrics)}")
        print(f"Report (mean ± std over seeds): bayesgan-report {sweep_dir}")
