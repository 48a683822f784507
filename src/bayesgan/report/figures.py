"""The report's figures (PNG and SVG, matplotlib's Agg canvas, no pyplot state): metric-vs-iteration curves
with mean ± std bands per group, from each run's ``history.jsonl``, and bar charts of the final metrics with
± std error bars."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bayesgan.report.loading import run_history
from bayesgan.report.tables import with_direction

FORMATS = ("png", "svg")
_NULL_STYLE = {"color": "0.6", "hatch": "//"}


def slug(metric: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", metric)


def _save(figure: Figure, stem: Path) -> list[Path]:
    FigureCanvasAgg(figure)
    figure.tight_layout()  # once for both files (a layout engine or bbox_inches="tight" redo it per file)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in FORMATS:
        path = stem.with_suffix(f".{ext}")
        # No creation date in the SVG: the same report gives the same file.
        figure.savefig(path, dpi=110, metadata={"Date": None} if ext == "svg" else None)
        paths.append(path)
    return paths


def curve(runs: Sequence[dict[str, Any]], metric: str) -> tuple[list[int], list[float], list[float]]:
    """(iterations, mean, std) of ``metric`` over the runs' histories; at each iteration, over the runs that
    recorded it there (std 0 where only one did)."""
    by_step: dict[int, list[float]] = {}
    for run in runs:
        for record in run_history(run):
            value = record.get(metric)
            if isinstance(value, int | float) and math.isfinite(value):
                by_step.setdefault(record["step"], []).append(float(value))
    steps = sorted(by_step)
    means = [math.fsum(by_step[s]) / len(by_step[s]) for s in steps]
    stds = []
    for step, mean in zip(steps, means, strict=True):
        values = by_step[step]
        spread = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
        stds.append(math.sqrt(spread))
    return steps, means, stds


def curves(
    rows: Sequence[dict[str, Any]], labels: Sequence[str], metrics: Sequence[str], out_dir: Path
) -> list[Path]:
    """One figure per metric recorded at two or more iterations: a line per group, mean ± std band."""
    written: list[Path] = []
    for metric in metrics:
        # A group keeps its colour (its row's index) in every figure, the bar chart included.
        lines = [
            (f"C{i % 10}", label, *curve(row["runs"], metric))
            for i, (row, label) in enumerate(zip(rows, labels, strict=True))
        ]
        lines = [line for line in lines if len(line[2]) >= 2]
        if not lines:
            continue
        figure = Figure(figsize=(6.4, 4.0))
        axes = figure.add_subplot()
        for colour, label, steps, means, stds in lines:
            axes.plot(steps, means, label=label, linewidth=1.5, color=colour)
            low = [m - s for m, s in zip(means, stds, strict=True)]
            high = [m + s for m, s in zip(means, stds, strict=True)]
            axes.fill_between(steps, low, high, color=colour, alpha=0.2, linewidth=0)
        axes.set_xlabel("iteration")
        axes.set_ylabel(with_direction(metric))
        axes.set_title(f"{metric}: mean ± std over seeds")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small", loc="best")
        written += _save(figure, out_dir / f"curve_{slug(metric)}")
    return written


def bars(
    rows: Sequence[dict[str, Any]], labels: Sequence[str], metrics: Sequence[str], out_dir: Path
) -> list[Path]:
    """One figure of the final metrics: a panel per metric, a bar per group (mean), ± std error bars."""
    shown = [m for m in metrics if any(row["metrics"][m]["n"] for row in rows)]
    if not shown:
        return []
    columns = min(3, len(shown))
    panels = math.ceil(len(shown) / columns)
    width = max(3.2, 0.45 * len(rows) + 1.2)
    figure = Figure(figsize=(width * columns, 3.4 * panels))
    for index, metric in enumerate(shown):
        axes = figure.add_subplot(panels, columns, index + 1)
        for x, (row, label) in enumerate(zip(rows, labels, strict=True)):
            stats = row["metrics"][metric]
            if not stats["n"] or math.isnan(stats["mean"]):
                continue
            error = stats["std"] if stats["n"] >= 2 and not math.isnan(stats["std"]) else None
            style = _NULL_STYLE if label.startswith("null") else {"color": f"C{x % 10}"}
            axes.bar(x, stats["mean"], yerr=error, capsize=4, label=label, **style)
        axes.set_xticks(range(len(rows)), labels, rotation=30, ha="right", fontsize="small")
        axes.set_title(with_direction(metric), fontsize="small")
        axes.grid(axis="y", alpha=0.3)
    figure.suptitle("final metrics: mean ± std over seeds")
    return _save(figure, out_dir / "final_metrics")
