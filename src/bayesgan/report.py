"""``bayesgan-report``: mean ± std tables over the ``results.json`` files that ``bayesgan-train`` writes.

    bayesgan-report [ROOT ...] [--group-by experiment,sampler] [--metrics test/bma_accuracy,...]
                    [--format markdown|csv]

Runs are grouped (default: experiment, dataset, sampler); seeds are the replicate axis. The pure functions
:func:`collect`, :func:`summarize` and :func:`render` are reused by ``bench/compare.py`` and the tests.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import random
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bayesgan import results_file

DEFAULT_ROOT = "outputs"
DEFAULT_GROUP_BY = ("experiment", "dataset", "sampler")
# Final-minibatch losses are noise, not results; null/* becomes rows of its own (with_null_rows), and the
# per-copy diagnostic traces are per-run details.
EXCLUDED_PREFIXES = ("loss/", "null/", "diag/trace/")
NULL_ROW = "null (structureless)"
MISSING = "-"
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


def _warn(message: str) -> None:
    print(f"bayesgan-report: warning: {message}", file=sys.stderr)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        run = results_file.decode(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:  # json.JSONDecodeError is a ValueError
        _warn(f"skipping {path}: {type(error).__name__}: {error}")
        return None
    if not isinstance(run, dict) or not isinstance(run.get("metrics"), dict):
        _warn(f"skipping {path}: not a bayesgan results file (no 'metrics' mapping)")
        return None
    run["path"] = str(path)
    return run


def collect(roots: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Every readable ``results.json`` under ``roots`` (recursively; a root may be the file itself).

    Each run dict is the file's content plus ``"path"``. Unreadable files are skipped with a warning.
    """
    runs: list[dict[str, Any]] = []
    for root in map(Path, roots):
        if root.is_file():
            paths = [root]
        elif root.is_dir():
            paths = sorted(root.rglob("results.json"))
        else:
            _warn(f"{root} does not exist")
            continue
        runs.extend(run for run in map(_read, paths) if run is not None and not _unfinished(run))
    return runs


def with_null_rows(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``runs`` plus one pseudo-run per (experiment, seed) holding the structureless reference's scores
    (``null/*`` recorded by the coverage callback) as ``coverage/*``, with sampler ``"null (structureless)"``,
    so tables show what chance scores beside the models."""
    nulls: dict[tuple[Any, Any], dict[str, Any]] = {}
    for run in runs:
        null = {
            k.replace("null/", "coverage/", 1): v for k, v in run["metrics"].items() if k.startswith("null/")
        }
        key = (run.get("experiment"), run.get("seed"))
        if null and key not in nulls:
            choices = {**(run.get("choices") or {}), "sampler": NULL_ROW}
            nulls[key] = {**run, "choices": choices, "metrics": null}
    return [*runs, *nulls.values()]


def _unfinished(run: dict[str, Any]) -> bool:
    """An interrupted run, or one that recorded fewer iterations than planned without diverging, is not a
    result: it is skipped with a warning (a diverged run is a result, and is counted as diverged)."""
    done, planned = run.get("iterations"), run.get("planned_iterations")
    if run.get("interrupted_at") is not None:
        why = f"interrupted at iteration {run['interrupted_at']}; resume it with ckpt_path="
    elif done == 0 or (planned is not None and done is not None and done < planned and not diverged(run)):
        why = f"unfinished ({done} of {planned if planned is not None else '?'} iterations)"
    else:
        return False
    _warn(f"skipping {run['path']}: {why}")
    return True


def field(run: dict[str, Any], name: str) -> Any:
    """A group-by value: a top-level key (experiment, seed, ...) or a Hydra choice (sampler, ...)."""
    if name in run and name not in ("metrics", "choices"):
        return run[name]
    return (run.get("choices") or {}).get(name, MISSING)


def available_fields(runs: Sequence[dict[str, Any]]) -> set[str]:
    names = {k for run in runs for k in run if k not in ("metrics", "choices", "path")}
    return names | {k for run in runs for k in (run.get("choices") or {})}


def default_metrics(runs: Sequence[dict[str, Any]]) -> list[str]:
    names = {k for run in runs for k in run["metrics"]}
    return sorted(k for k in names if not k.startswith(EXCLUDED_PREFIXES))


def _stats(values: list[float]) -> dict[str, float | int]:
    # NaN (a diverged run) propagates into the mean on purpose: it must be visible, not averaged away.
    # (statistics.stdev raises on NaN, hence the explicit formula.)
    n = len(values)
    mean = math.fsum(values) / n if n else math.nan
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n >= 2 else math.nan
    return {"mean": mean, "std": std, "n": n, "nan": sum(math.isnan(v) for v in values)}


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def summarize(
    runs: Sequence[dict[str, Any]],
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    metrics: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One row per group: ``{"group": {field: value}, "n": runs, "diverged": runs with a non-finite value,
    "metrics": {name: {mean, std, n, nan}}}``.

    ``metrics`` defaults to every metric key found (sorted, ``loss/*`` omitted). ``std`` is the sample
    standard deviation (NaN below two values); a metric's ``n`` counts the runs of the group that have it,
    ``nan`` those among them whose value is NaN.
    """
    names = list(metrics) if metrics is not None else default_metrics(runs)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(tuple(str(field(run, g)) for g in group_by), []).append(run)
    rows = []
    for key in sorted(groups, key=_sort_key):
        members = groups[key]
        stats = {}
        for name in names:
            values = [_as_float(run["metrics"].get(name)) for run in members]
            stats[name] = _stats([v for v in values if v is not None])
        row = {"group": dict(zip(group_by, key, strict=True)), "n": len(members), "metrics": stats}
        rows.append(row | {"diverged": sum(map(diverged, members))})
    return rows


def diverged(run: dict[str, Any]) -> bool:
    """Any non-finite metric, losses included: a NaN run can still report finite evaluation metrics (e.g.
    zero modes captured), so the tables flag it from every key; and a run flagged ``diverged_at`` (an exploded
    but finite loss) is one too."""
    return run.get("diverged_at") is not None or any(
        isinstance(v, float) and not math.isfinite(v) for v in run["metrics"].values()
    )


def _sort_key(key: tuple[str, ...]) -> tuple[tuple[int, int, str], ...]:
    # Numbers (seeds, iterations) in numeric order, before names.
    return tuple((0, int(s), "") if s.lstrip("-").isdigit() else (1, 0, s) for s in key)


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4g}"


def _cell(stats: dict[str, float | int], runs: int) -> str:
    if stats["n"] == 0:
        return MISSING
    if stats["nan"]:
        text = f"nan ({stats['nan']} NaN)"
    elif stats["n"] < 2:
        text = _fmt(stats["mean"])
    else:
        text = f"{_fmt(stats['mean'])} ± {_fmt(stats['std'])}"
    return text if stats["n"] == runs else f"{text} ({stats['n']}/{runs})"  # only some runs have it


def _csv_number(stats: dict[str, float | int], key: str) -> str:
    # Full precision; empty = no value (or no std from a single run), "nan" = a diverged run.
    return "" if stats["n"] < (2 if key == "std" else 1) else repr(float(stats[key]))


def render(rows: Sequence[dict[str, Any]], fmt: str = "markdown") -> str:
    """``rows`` from :func:`summarize` as a markdown table or CSV (columns ``<metric>_mean``/``_std``)."""
    if not rows:
        return ""
    group_cols = list(rows[0]["group"])
    names = list(rows[0]["metrics"])
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*group_cols, "n", "diverged", *(f"{m}_{s}" for m in names for s in ("mean", "std"))])
        for row in rows:
            cells = [_csv_number(row["metrics"][m], s) for m in names for s in ("mean", "std")]
            writer.writerow([*row["group"].values(), row["n"], row["diverged"], *cells])
        return out.getvalue()
    if fmt != "markdown":
        raise ValueError(f"unknown format {fmt!r}; use markdown or csv")
    header = [*group_cols, "n", *(_with_direction(m) for m in names)]
    body = [
        [
            *map(str, row["group"].values()),
            f"{row['n']} ({row['diverged']} diverged)" if row["diverged"] else str(row["n"]),
            *(_cell(row["metrics"][m], row["n"]) for m in names),
        ]
        for row in rows
    ]
    return render_table(header, body, numeric=len(group_cols))


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


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 10_000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of the paired differences a_i − b_i and a percentile bootstrap interval over the pairs.

    The pairs (seeds) are resampled with replacement, so the interval reflects seed-to-seed variation of the
    *difference*, which pairing makes smaller than that of either arm. NaN in any pair gives NaN throughout.
    """
    if len(a) != len(b) or not a:
        raise ValueError(
            f"paired_bootstrap needs two equally long, non-empty sequences, got {len(a)} and {len(b)}"
        )
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    mean = math.fsum(diffs) / len(diffs)
    if any(math.isnan(d) for d in diffs):
        return math.nan, math.nan, math.nan
    rng = random.Random(seed)
    means = sorted(math.fsum(rng.choices(diffs, k=len(diffs))) / len(diffs) for _ in range(resamples))
    tail = (1 - level) / 2
    lo = means[min(resamples - 1, math.floor(tail * resamples))]
    hi = means[min(resamples - 1, math.ceil((1 - tail) * resamples) - 1)]
    return mean, lo, hi


def direction(name: str) -> str:
    """ "↑" / "↓" for a metric of known direction (also its ``per_generator_<x>_mean`` form), else ""."""
    group, _, key = name.partition("/")
    key = key.removeprefix("per_generator_").removesuffix("_mean")
    return DIRECTIONS.get(name) or DIRECTIONS.get(f"{group}/{key}", "")


def _with_direction(name: str) -> str:
    arrow = direction(name)
    return f"{name} {arrow}" if arrow else name


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bayesgan-report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "roots",
        nargs="*",
        default=[DEFAULT_ROOT],
        metavar="ROOT",
        help=f"directories searched recursively for results.json (default: {DEFAULT_ROOT}/)",
    )
    parser.add_argument(
        "--group-by",
        type=_split,
        default=list(DEFAULT_GROUP_BY),
        help="comma-separated fields (experiment, dataset, model, sampler, trainer, seed, ...)",
    )
    parser.add_argument(
        "--metrics",
        type=_split,
        default=None,
        help="comma-separated metric keys (default: all found, except loss/*)",
    )
    parser.add_argument("--format", choices=("markdown", "csv"), default="markdown")
    args = parser.parse_args(argv)

    runs = collect(args.roots)
    if not runs:
        print(
            f"bayesgan-report: error: no readable results.json under {', '.join(args.roots)}", file=sys.stderr
        )
        return 2
    unknown = [g for g in args.group_by if g not in available_fields(runs)]
    if unknown:
        known = ", ".join(sorted(available_fields(runs)))
        print(
            f"bayesgan-report: error: unknown --group-by field(s) {', '.join(unknown)} (known: {known})",
            file=sys.stderr,
        )
        return 2
    if args.metrics is not None:
        found = {k for run in runs for k in run["metrics"]}
        for name in args.metrics:
            if name not in found:
                _warn(f"metric {name!r} is in no run")
    sys.stdout.write(render(summarize(with_null_rows(runs), args.group_by, args.metrics), args.format))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
