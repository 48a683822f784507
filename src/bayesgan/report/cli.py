"""The ``bayesgan-report`` command line."""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bayesgan.report import figures, html, tables
from bayesgan.report.baseline import check_spec, differences, parse_baseline
from bayesgan.report.grouping import (
    CONTEXT,
    MISSING,
    NULL_ROW,
    available_fields,
    default_metrics,
    group_keys,
    summarize,
    with_null_rows,
)
from bayesgan.report.loading import collect, latest_samples, warn

DEFAULT_ROOT = "outputs"
USAGE = """bayesgan-report [ROOT ...] [--group-by KEY,...] [--pool KEY,...] [--metrics NAME,...]
                       [--baseline KEY=VALUE] [--format markdown|csv|html] [--out DIR] [--no-figures]"""
DESCRIPTION = """Mean ± std over seeds of the results.json files that bayesgan-train writes, with figures.

Runs are pooled only when their configs differ in nothing but the seed: every other key that differs
(read from each run's .hydra/) becomes a column, so 40- and 1,500-iteration runs are separate rows."""
EPILOG = """examples:
  bayesgan-report outputs/                                  every run, grouped automatically
  bayesgan-report outputs/ring --group-by sampler,posterior.J_g --baseline sampler=ml
  bayesgan-report outputs/ --format html                    one shareable page (tables, figures, samples)
"""

# Extra views print something else than the tables from the same runs: (option, help, function(runs, args)
# -> text). A view module registers itself here (e.g. a paper's table: "--table1").
View = Callable[[list[dict[str, Any]], argparse.Namespace], str]
EXTRA_VIEWS: list[tuple[str, str, View]] = []


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _error(message: str) -> int:
    print(f"bayesgan-report: error: {message}", file=sys.stderr)
    return 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bayesgan-report",
        usage=USAGE,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("roots", nargs="*", default=[DEFAULT_ROOT], metavar="ROOT",
                   help=f"directories searched for results.json (default: {DEFAULT_ROOT}/)")  # fmt: skip
    p.add_argument("--group-by", type=_split, default=None, metavar="KEY,...",
                   help="columns first, comma-separated: any config key (posterior.J_g, "
                        "sampler.optimizer.lr_per_datum), group choice (sampler, method) or results key "
                        "(experiment); other keys that differ are still added (default: experiment, "
                        "dataset, sampler + every differing key)")  # fmt: skip
    p.add_argument("--pool", type=_split, default=[], metavar="KEY,...",
                   help="keys (patterns) pooled over like the seed, e.g. dataset.n_labels")  # fmt: skip
    p.add_argument("--metrics", type=_split, default=None, metavar="NAME,...",
                   help="comma-separated metric keys (default: all found, except loss/*)")  # fmt: skip
    p.add_argument("--baseline", default=None, metavar="KEY=VALUE[,...]",
                   help="a group to compare every other group with, e.g. sampler=ml: differences with 95 %% "
                        "bootstrap intervals, paired by seed where seeds match (then with a "
                        "sign-flip test's p)")  # fmt: skip
    p.add_argument("--format", choices=("markdown", "csv", "html"), default="markdown")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where figures and report.html go (default: <first ROOT>/report)")  # fmt: skip
    p.add_argument("--no-figures", action="store_true", help="tables only")
    for option, help_text, _ in EXTRA_VIEWS:
        p.add_argument(option, action="store_true", help=help_text)
    return p


def _unknown_fields(wanted: Sequence[str], runs: list[dict[str, Any]]) -> str | None:
    known = available_fields(runs)
    unknown = [g for g in wanted if g not in known]
    if not unknown:
        return None
    hints = {u: difflib.get_close_matches(u, known, n=1) for u in unknown}
    near = "; ".join(f"{u}: did you mean {m[0]}?" for u, m in hints.items() if m)
    short = ", ".join(sorted(k for k in known if "." not in k))
    return (
        f"unknown --group-by field(s) {', '.join(unknown)} ({near + '; ' if near else ''}known: {short}, "
        "or any key of the runs' config, e.g. posterior.J_g)"
    )


def labels(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Short names of the rows for legends: the group values that differ between rows."""
    if not rows:
        return []
    keys = [k for k in rows[0]["group"] if len({row["group"][k] for row in rows}) > 1] or list(
        rows[0]["group"]
    )
    bare = {*CONTEXT, "method", "model"}
    return [
        ", ".join(
            row["group"][k] if k in bare else f"{k.rsplit('.', 1)[-1]}={row['group'][k]}"
            for k in keys
            if row["group"][k] != MISSING  # e.g. the null row has no length
        )
        for row in rows
    ]


def _out_dir(args: argparse.Namespace) -> Path:
    if args.out is not None:
        return args.out
    root = Path(args.roots[0])
    return (root.parent if root.is_file() else root) / "report"


def _register_builtin_views() -> None:
    from bayesgan import table1  # imported here: it builds on this package

    if not any(option == "--table1" for option, _, _ in EXTRA_VIEWS):
        EXTRA_VIEWS.append(
            ("--table1", "the paper's Table 1 layout: n_s x rows, mean ± std over seeds", table1.view)
        )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `bayesgan-report ... | head`: the reader left; no traceback for that
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit too
        return 141  # the shell's status for a command killed by SIGPIPE


def _main(argv: Sequence[str] | None) -> int:
    _register_builtin_views()
    args = parser().parse_args(argv)
    runs = collect(args.roots)
    if not runs:
        return _error(f"no readable results.json under {', '.join(args.roots)}")
    for option, _, view in EXTRA_VIEWS:
        if getattr(args, option.lstrip("-").replace("-", "_")):
            sys.stdout.write(view(runs, args))
            return 0
    if args.group_by is not None and (problem := _unknown_fields(args.group_by, runs)):
        return _error(problem)
    keys = group_keys(runs, CONTEXT if args.group_by is None else args.group_by, pooled=args.pool)
    if args.group_by is not None and len(keys) > len(args.group_by):
        added = keys[len(args.group_by) :]
        warn(
            f"also grouped by {', '.join(added)}: runs differ in it (--pool KEY pools over it like the seed)"
        )
    if args.metrics is not None:
        found = {k for run in runs for k in run["metrics"]}
        for name in args.metrics:
            if name not in found:
                warn(f"metric {name!r} is in no run")
    metrics = args.metrics if args.metrics is not None else default_metrics(runs)
    rows = summarize(with_null_rows(runs), keys, metrics)

    diffs: list[dict[str, Any]] = []
    spec: dict[str, str] = {}
    if args.baseline is not None:
        try:
            spec = parse_baseline(args.baseline)
        except ValueError as error:
            return _error(str(error))
        models = [row for row in rows if row["group"].get("sampler") != NULL_ROW]
        if problem := check_spec(spec, models):
            return _error(problem)
        diffs = differences(models, spec, metrics)

    names = labels(rows)
    written: list[Path] = []
    if not args.no_figures:
        out = _out_dir(args)
        try:
            written = figures.curves(rows, names, metrics, out) + figures.bars(rows, names, metrics, out)
        except OSError as error:  # the tables still come; only the pictures are lost
            warn(
                f"figures not written to {out} ({error.strerror or error}): choose --out DIR or --no-figures"
            )

    if args.format == "html":
        samples = [
            (f"{name}: {p}", p) for name, row in zip(names, rows, strict=True) if (p := _group_samples(row))
        ]
        page = html.page(rows, names, metrics, roots=args.roots, diffs=diffs, spec=spec, figures=written,
                         samples=samples)  # fmt: skip
        path = _out_dir(args) / "report.html"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(page)
        except OSError as error:
            return _error(f"cannot write {path} ({error.strerror or error}); choose another --out DIR")
        print(f"Report:  {path}", *(f"Figure:  {p}" for p in written), sep="\n")
        return 0
    sys.stdout.write(tables.render(rows, args.format, diffs))
    if args.format == "markdown" and diffs:
        sys.stdout.write(tables.render_differences(diffs, metrics, spec))
    if written:  # CSV on stdout stays pure CSV
        stream = sys.stdout if args.format == "markdown" else sys.stderr
        print(
            ("\n" if stream is sys.stdout else "") + "\n".join(f"Figure:  {p}" for p in written), file=stream
        )
    return 0


def _group_samples(row: dict[str, Any]) -> Path | None:
    """The group's latest sample grid: that of its lowest seed's run that has one."""
    for run in sorted(row["runs"], key=lambda r: str(r.get("seed"))):
        if (path := latest_samples(run)) is not None:
            return path
    return None
