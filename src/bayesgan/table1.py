"""The paper's Table 1 view: test error of every column (Supervised, DCGAN, W-DCGAN, DCGAN-10, BayesGAN, ...)
at every labelled-set size n_s, mean ± std over seeds, one block per dataset, in the paper's layout.

    python -m bayesgan.table1 outputs/table1_digits [--format text|markdown]

``view`` is the same table as a ``bayesgan-report`` view (``bayesgan.report.cli.EXTRA_VIEWS``: runs already
collected, the report's ``--format``).

MNIST entries are the number of misclassified test images out of the 10,000 (as the paper); every other
dataset reports % test error. Runs come from the ``results.json`` files under the given paths
(``bayesgan.report.collect``: interrupted and unfinished runs are skipped with a warning). A diverged run
counts in its cell's "diverged" tally, and its accuracy (if any) is left out of the mean.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bayesgan.report import collect

# Table 1's columns, in the paper's order; other rows follow, sorted.
COLUMNS = {
    "supervised": "Supervised",
    "dcgan": "DCGAN",
    "w_dcgan": "W-DCGAN",
    "dcgan_10": "DCGAN-10",
    "bayesgan": "BayesGAN",
    "authors_recipe": "BayesGAN (authors' recipe)",
}
# (sampler, objective) of each column, for runs made without row=... (e.g. sampler=ml objective=wasserstein).
_BY_CHOICES = {
    ("supervised", "non_saturating"): "supervised",
    ("ml", "non_saturating"): "dcgan",
    ("ml", "wasserstein"): "w_dcgan",
    ("dcgan10", "non_saturating"): "dcgan_10",
    ("sghmc", "non_saturating"): "bayesgan",
    ("authors_recipe", "non_saturating"): "authors_recipe",
}
# Datasets whose entries are error counts out of this many test images (the paper: MNIST).
ERROR_COUNTS = {"mnist": 10_000}
ACCURACY = "test/bma_accuracy"


def column_of(run: dict[str, Any]) -> str:
    """The Table 1 column of a run: its ``row`` choice, else what its sampler and objective amount to."""
    choices = run.get("choices") or {}
    if choices.get("row"):
        return str(choices["row"])
    sampler, objective = choices.get("sampler", "?"), choices.get("objective", "non_saturating")
    other = sampler if objective == "non_saturating" else f"{sampler} ({objective})"
    return _BY_CHOICES.get((sampler, objective), other)


def error_of(run: dict[str, Any]) -> float | None:
    """Test error in the block's unit (a count out of the test set for MNIST, else %); None if unknown."""
    accuracy = (run.get("metrics") or {}).get(ACCURACY)
    if accuracy is None or not math.isfinite(accuracy):
        return None
    dataset = (run.get("choices") or {}).get("dataset", run.get("experiment", "?"))
    return (1 - accuracy) * ERROR_COUNTS.get(dataset, 100)


def _cell(errors: list[float], diverged: int, digits: int) -> str:
    if not errors:
        text = "-"
    elif len(errors) == 1:
        text = f"{errors[0]:.{digits}f}"
    else:
        text = f"{statistics.mean(errors):.{digits}f} ± {statistics.stdev(errors):.{digits}f}"
    if errors:
        text += f" (n={len(errors)})"
    return text + (f" [{diverged} diverged]" if diverged else "")


def table1(runs: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per dataset: {"unit", "columns", "sizes", "cells": {(n_s, column): (errors, diverged)}}."""
    blocks: dict[str, dict[str, Any]] = {}
    for run in runs:
        if run.get("n_labels") is None:
            continue  # unsupervised: not a Table 1 entry
        dataset = (run.get("choices") or {}).get("dataset", run.get("experiment", "?"))
        block = blocks.setdefault(dataset, {"cells": defaultdict(lambda: ([], [0]))})
        errors, diverged = block["cells"][(int(run["n_labels"]), column_of(run))]
        if run.get("diverged_at") is not None:
            diverged[0] += 1
        error = error_of(run)
        if error is not None and run.get("diverged_at") is None:
            errors.append(error)
    for dataset, block in blocks.items():
        columns = {column for _, column in block["cells"]}
        block["columns"] = [c for c in COLUMNS if c in columns] + sorted(columns - set(COLUMNS))
        block["sizes"] = sorted({size for size, _ in block["cells"]})
        block["unit"] = (
            f"test errors out of {ERROR_COUNTS[dataset]:,}" if dataset in ERROR_COUNTS else "% test error"
        )
    return blocks


def render_table1(paths: Sequence[str | Path], *, fmt: str = "text") -> str:
    """The Table 1 view of the runs under ``paths``: one block per dataset, rows n_s, columns the methods,
    entries mean ± std over seeds (n = number of seeds). ``fmt``: "text" (aligned) or "markdown"."""
    if fmt not in ("text", "markdown"):
        raise ValueError(f"fmt must be 'text' or 'markdown', got {fmt!r}")
    text = render_runs(collect(paths), fmt=fmt)
    return text or "No semi-supervised results.json (with n_labels) under " + ", ".join(map(str, paths))


def view(runs: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """``bayesgan-report --table1``: the table of already collected runs (markdown for --format markdown)."""
    fmt = "markdown" if getattr(args, "format", None) == "markdown" else "text"
    return (render_runs(runs, fmt=fmt) or "No semi-supervised runs (with n_labels) among these") + "\n"


def render_runs(runs: Iterable[dict[str, Any]], *, fmt: str = "text") -> str:
    """The Table 1 text of ``runs`` (results.json contents); "" when none is a semi-supervised run."""
    blocks = table1(runs)
    out = []
    for dataset in sorted(blocks):
        block = blocks[dataset]
        digits = 0 if dataset in ERROR_COUNTS else 1
        header = ["n_s", *(COLUMNS.get(c, c) for c in block["columns"])]
        rows = [
            [str(size), *(_cell(*_unpack(block["cells"].get((size, c))), digits) for c in block["columns"])]
            for size in block["sizes"]
        ]
        title = f"{dataset}: {block['unit']}, mean ± std over seeds (n = seeds)"
        if fmt == "markdown":
            out.append(f"{title}\n\n{_markdown(header, rows)}")
        else:
            out.append(f"{title}\n{_text(header, rows)}")
    return ("\n\n\n" if fmt == "markdown" else "\n\n").join(out)


def _unpack(cell: tuple[list[float], list[int]] | None) -> tuple[list[float], int]:
    return ([], 0) if cell is None else (cell[0], cell[1][0])


def _text(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m bayesgan.table1 DIR ...``: print the Table 1 view of the runs under DIR."""
    parser = argparse.ArgumentParser(prog="bayesgan-table1", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="run or multirun directories, or results.json files")
    parser.add_argument("--format", choices=("text", "markdown"), default="text")
    args = parser.parse_args(argv)
    print(render_table1(args.paths, fmt=args.format))


if __name__ == "__main__":
    main()
