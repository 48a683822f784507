"""``bayesgan-report``: mean ± std tables, differences to a baseline, figures and a shareable HTML page over
the runs that ``bayesgan-train`` wrote.

    bayesgan-report [ROOT ...] [--group-by KEY,...] [--pool KEY,...] [--metrics NAME,...]
                    [--baseline KEY=VALUE] [--format markdown|csv|html] [--out DIR] [--no-figures]

Runs are pooled only over seeds: every other config key that differs is a group column (:mod:`.grouping`).
Modules: :mod:`.loading` (results, configs, histories, samples), :mod:`.grouping`, :mod:`.baseline`
(paired/unpaired bootstrap), :mod:`.tables`, :mod:`.figures`, :mod:`.html`, :mod:`.cli`. The pure
functions re-exported here are used by ``bench/compare.py`` and the tests.
"""

from bayesgan.report import cli
from bayesgan.report.baseline import (
    differences,
    paired_bootstrap,
    paired_sign_flip_p,
    parse_baseline,
    unpaired_bootstrap,
)
from bayesgan.report.cli import DEFAULT_ROOT, EXTRA_VIEWS, main
from bayesgan.report.grouping import (
    CONTEXT,
    EXCLUDED_PREFIXES,
    MISSING,
    NULL_ROW,
    available_fields,
    default_metrics,
    diverged,
    field,
    group_keys,
    summarize,
    with_null_rows,
)
from bayesgan.report.loading import collect
from bayesgan.report.tables import DIRECTIONS, direction, render, render_differences, render_table

DEFAULT_GROUP_BY = CONTEXT

__all__ = [
    "CONTEXT",
    "DEFAULT_GROUP_BY",
    "DEFAULT_ROOT",
    "DIRECTIONS",
    "EXCLUDED_PREFIXES",
    "EXTRA_VIEWS",
    "MISSING",
    "NULL_ROW",
    "available_fields",
    "cli",
    "collect",
    "default_metrics",
    "differences",
    "direction",
    "diverged",
    "field",
    "group_keys",
    "main",
    "paired_bootstrap",
    "paired_sign_flip_p",
    "parse_baseline",
    "render",
    "render_differences",
    "render_table",
    "summarize",
    "unpaired_bootstrap",
    "with_null_rows",
]
