"""The report's tables as markdown or CSV: mean ± std per group, and differences to a baseline group."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from typing import Any

from bayesgan.report.grouping import MISSING

# Which way is better, shown next to the metric in markdown headers (↑ higher, ↓ lower is better).
DIRECTIONS = {
    "quality/fid": "↓",
    "quality/kid": "↓",
    "quality/precision": "↑",
    "quality/recall": "↑",
    "quality/density": "↑",
    "quality/coverage": "↑",
    "quality/classifier_score": "↑",
    "modes/covered": "↑",
    "modes/kl": "↓",
    "synthetic/js": "↓",
}


def direction(name: str) -> str:
    """ "↑" / "↓" for a metric of known direction (also its ``per_generator_<x>_mean`` form), else ""."""
    group, _, key = name.partition("/")
    key = key.removeprefix("per_generator_").removesuffix("_mean")
    return DIRECTIONS.get(name) or DIRECTIONS.get(f"{group}/{key}", "")


def with_direction(name: str) -> str:
    arrow = direction(name)
    return f"{name} {arrow}" if arrow else name


def fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4g}"


def cell(stats: dict[str, float | int], runs: int) -> str:
    """``mean ± std``, ``nan (k NaN)``, a single value, ``-``; ``(n/runs)`` when only some runs have it."""
    if stats["n"] == 0:
        return MISSING
    if stats["nan"]:
        text = f"nan ({stats['nan']} NaN)"
    elif stats["n"] < 2:
        text = fmt(stats["mean"])
    else:
        text = f"{fmt(stats['mean'])} ± {fmt(stats['std'])}"
    return text if stats["n"] == runs else f"{text} ({stats['n']}/{runs})"


def runs_cell(row: dict[str, Any]) -> str:
    return f"{row['n']} ({row['diverged']} diverged)" if row["diverged"] else str(row["n"])


def diff_cell(value: tuple[float, float, float, float] | None) -> str:
    """``+0.05 [+0.01, +0.09] p 0.06``; a single-valued interval (one pair or one run each) shows no
    interval, an unpaired difference (p NaN) no p."""
    if value is None:
        return MISSING
    mean, lo, hi, p = value
    if math.isnan(mean):
        return "nan"
    text = f"{mean:+.4g}" if lo == hi == mean else f"{mean:+.4g} [{lo:+.4g}, {hi:+.4g}]"
    return text if math.isnan(p) else f"{text} p {p:.2g}"


def _csv_number(stats: dict[str, float | int], key: str) -> str:
    # Full precision; empty = no value (or no std from a single run), "nan" = a diverged run.
    return "" if stats["n"] < (2 if key == "std" else 1) else repr(float(stats[key]))


def render(
    rows: Sequence[dict[str, Any]], fmt: str = "markdown", diffs: Sequence[dict[str, Any]] | None = None
) -> str:
    """``rows`` from :func:`summarize` as a markdown table or CSV (columns ``<metric>_mean``/``_std``).

    ``diffs`` (:func:`baseline.differences`): in CSV, each compared row gets ``<metric>_diff``/``_lo``/``_hi``
    and ``vs_baseline`` columns; in markdown use :func:`render_differences`."""
    if not rows:
        return ""
    group_cols = list(rows[0]["group"])
    names = list(rows[0]["metrics"])
    if fmt == "csv":
        by_row = {id(d["row"]): d for d in diffs or []}
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        extra = (
            ["vs_baseline", *(f"{m}_{s}" for m in names for s in ("diff", "lo", "hi", "p"))] if diffs else []
        )
        writer.writerow(
            [*group_cols, "n", "diverged", *(f"{m}_{s}" for m in names for s in ("mean", "std")), *extra]
        )
        for row in rows:
            cells = [_csv_number(row["metrics"][m], s) for m in names for s in ("mean", "std")]
            if diffs:
                found = by_row.get(id(row))
                cells.append(found["how"] if found else "")
                for m in names:
                    value = found["diff"].get(m) if found else None
                    cells += [repr(v) for v in value] if value else ["", "", "", ""]
            writer.writerow([*row["group"].values(), row["n"], row["diverged"], *cells])
        return out.getvalue()
    if fmt != "markdown":
        raise ValueError(f"unknown format {fmt!r}; use markdown or csv")
    header = [*group_cols, "n", *(with_direction(m) for m in names)]
    body = [
        [
            *map(str, row["group"].values()),
            runs_cell(row),
            *(cell(row["metrics"][m], row["n"]) for m in names),
        ]
        for row in rows
    ]
    return render_table(header, body, numeric=len(group_cols))


def differences_table(
    diffs: Sequence[dict[str, Any]], metrics: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    """(header, body) of the differences to the baseline: the group, how it was compared, each metric."""
    if not diffs:
        return [], []
    group_cols = list(diffs[0]["row"]["group"])
    header = [*group_cols, "vs baseline", *(with_direction(m) for m in metrics)]
    body = [
        [*map(str, d["row"]["group"].values()), d["how"], *(diff_cell(d["diff"].get(m)) for m in metrics)]
        for d in diffs
    ]
    return header, body


def render_differences(diffs: Sequence[dict[str, Any]], metrics: Sequence[str], spec: dict[str, str]) -> str:
    """The markdown table of :func:`differences_table` under a one-line title naming the baseline."""
    header, body = differences_table(diffs, metrics)
    if not body:
        return ""
    title = ", ".join(f"{k}={v}" for k, v in spec.items())
    return (
        f"\nDifference to the baseline {title} (mean [95 % bootstrap interval]; paired over common seeds "
        "where at least two are shared, with the exact sign-flip test's two-sided p, else unpaired):\n\n"
        + render_table(header, body, numeric=len(header) - len(metrics) - 1)
    )


def render_table(header: Sequence[str], body: Sequence[Sequence[str]], numeric: int = 1) -> str:
    """A padded markdown table; columns from index ``numeric`` on are right-aligned."""
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if i >= numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join("-" * (w + 1) + ":" if i >= numeric else "-" * (w + 2) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), rule, *map(line, body)]) + "\n"
