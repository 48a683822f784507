"""``--format html``: one self-contained page (no external file or URL) with the tables, the figures and each
group's latest sample grid, all embedded as data URIs, to share with people who do not use W&B."""

from __future__ import annotations

import base64
import datetime
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bayesgan.report.tables import cell, differences_table, runs_cell, with_direction

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figcaption { font-size: 0.85em; color: #555; }
img { max-width: 100%; image-rendering: pixelated; }
"""


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _table(header: Sequence[str], body: Sequence[Sequence[str]], numeric: int) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    lines = []
    for cells in body:
        tds = "".join(
            f'<td class="num">{html.escape(c)}</td>' if i >= numeric else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(cells)
        )
        lines.append(f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _figure(path: Path, caption: str) -> str:
    return (
        f'<figure><img src="{data_uri(path)}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def page(
    rows: Sequence[dict[str, Any]],
    labels: Sequence[str],
    metrics: Sequence[str],
    *,
    roots: Sequence[str],
    diffs: Sequence[dict[str, Any]] = (),
    spec: dict[str, str] | None = None,
    figures: Sequence[Path] = (),
    samples: Sequence[tuple[str, Path]] = (),
) -> str:
    """The whole page as text. ``figures``: PNG files to embed; ``samples``: (caption, PNG) pairs."""
    group_cols = list(rows[0]["group"]) if rows else []
    header = [*group_cols, "n", *(with_direction(m) for m in metrics)]
    body = [
        [
            *map(str, row["group"].values()),
            runs_cell(row),
            *(cell(row["metrics"][m], row["n"]) for m in metrics),
        ]
        for row in rows
    ]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>bayesgan report</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>bayesgan report</h1>",
        f"<p>{len(rows)} groups from {html.escape(', '.join(roots))}, {when}. Runs are pooled only over "
        "seeds: every other setting that differs is a column. Cells are mean ± std over seeds.</p>",
        "<h2>Results</h2>",
        _table(header, body, numeric=len(group_cols)),
    ]
    if diffs and spec:
        diff_header, diff_body = differences_table(diffs, metrics)
        title = ", ".join(f"{k}={v}" for k, v in spec.items())
        parts += [
            f"<h2>Difference to the baseline {html.escape(title)}</h2>",
            "<p>Mean difference [95 % bootstrap interval]; paired over the seeds both groups ran where at "
            "least two are shared, else unpaired.</p>",
            _table(diff_header, diff_body, numeric=len(group_cols) + 1),
        ]
    pngs = [p for p in figures if p.suffix == ".png"]
    if pngs:
        parts.append("<h2>Figures</h2>")
        parts += [_figure(p, p.stem) for p in pngs]
    if samples:
        parts.append("<h2>Latest samples per group</h2>")
        parts += [_figure(p, caption) for caption, p in samples]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
