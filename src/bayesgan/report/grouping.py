"""Which runs are replicates of one another, and their mean ± std.

Runs are pooled only when their configs differ in nothing but the seed (and settings that cannot change a
result: where files go, logging, checkpointing, evaluation intervals). :func:`group_keys` finds the keys
that tell runs apart; :func:`summarize` makes one row per group.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence
from typing import Any

# Shown even when every run shares them: what a reader needs to know the table's context.
CONTEXT = ("experiment", "dataset", "sampler")
# Hydra group choices read better than the leaves they set, so they are tried first, in this order.
PREFERRED_CHOICES = ("method", "model", "trainer", "debug", "callbacks")
# Keys that never make two runs different experiments. The seed is the replicate axis; the rest is where
# files go, logging, checkpointing, progress display and how often (not how) the callbacks evaluate.
NOT_A_DIFFERENCE = (
    "seed",
    "ckpt_path",
    "experiment_name",  # the `experiment` column (results.json's resolved name) says it
    "logger",
    "logger.*",
    "hydra/*",
    "hparams_search",
    "checkpoint_*",
    "divergence_loss",
    "trainer.enable_progress_bar",
    "trainer.log_every_n_steps",
    "trainer.enable_model_summary",
    "callbacks.progress*",
    "callbacks.checkpoint*",
    "callbacks.*.every_n_iterations",
    "callbacks.quality.cache_dir",
    "dataset.root",
    "dataset.download",
    "dataset.verify",
    "dataset.test_batch_size",
)
# Final-minibatch losses are noise, not results; null/* becomes rows of its own (with_null_rows), and the
# per-copy diagnostic traces are per-run details.
EXCLUDED_PREFIXES = ("loss/", "null/", "diag/trace/")
NULL_ROW = "null (structureless)"
MISSING = "-"


def field(run: dict[str, Any], name: str) -> Any:
    """A group-by value: a config key (``posterior.J_g``), a top-level results key (experiment, seed) or a
    Hydra choice (sampler, method, ...). ``iterations`` is the planned length (a diverged run stopped
    early is still a run of that length)."""
    config = run.get("config") or {}
    if name in config:
        return config[name]
    if name == "iterations" and run.get("planned_iterations") is not None:
        return run["planned_iterations"]
    if name in run and name not in ("metrics", "choices", "config"):
        return run[name]
    return (run.get("choices") or {}).get(name, MISSING)


def _text(value: Any) -> str:
    return MISSING if value is None else str(value)


def available_fields(runs: Sequence[dict[str, Any]]) -> set[str]:
    internal = ("metrics", "choices", "config", "path", "reference")
    names = {k for run in runs for k in run if k not in internal and not k.startswith("_")}
    names |= {k for run in runs for k in (run.get("config") or {})}
    return names | {k for run in runs for k in (run.get("choices") or {})}


def _ignored(name: str, pooled: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in (*NOT_A_DIFFERENCE, *pooled))


def _candidates(runs: Sequence[dict[str, Any]]) -> list[str]:
    choices = sorted({k for run in runs for k in (run.get("choices") or {})})
    ordered = [*CONTEXT, *PREFERRED_CHOICES, *choices]
    if not any(run.get("config") for run in runs):
        ordered.append("iterations")  # results without their .hydra/ still say how long they ran
    leaves = sorted({k for run in runs for k in (run.get("config") or {})})
    return list(dict.fromkeys([*ordered, *leaves]))


def _splits(runs: Sequence[dict[str, Any]], keys: Sequence[str], name: str) -> bool:
    seen: dict[tuple[str, ...], str] = {}
    for run in runs:
        block, value = tuple(_text(field(run, k)) for k in keys), _text(field(run, name))
        if seen.setdefault(block, value) != value:
            return True
    return False


def group_keys(
    runs: Sequence[dict[str, Any]], first: Sequence[str] = CONTEXT, pooled: Sequence[str] = ()
) -> list[str]:
    """``first``, then every other key whose value differs between runs not yet told apart.

    Keys are tried in order: the context columns, Hydra's group choices, then the config's leaves. A key is
    added only where it splits runs the keys before it group together, so a leaf that a choice already
    explains (``sampler.optimizer.lr`` under ``sampler``) adds no column. ``pooled``: fnmatch patterns of
    keys whose differences are deliberately pooled over, like the seed's.
    """
    keys = list(first)
    for name in _candidates(runs):
        if name not in keys and not _ignored(name, pooled) and _splits(runs, keys, name):
            keys.append(name)
    return keys


def with_null_rows(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``runs`` plus one pseudo-run per (experiment, seed) holding the structureless reference's scores
    (``null/*`` recorded by the coverage callback) as ``coverage/*``, with sampler ``"null (structureless)"``,
    so tables show what chance scores beside the models. Its config is empty (its other columns read "-"):
    the reference depends on the data and the seed only."""
    nulls: dict[tuple[Any, Any], dict[str, Any]] = {}
    for run in runs:
        null = {
            k.replace("null/", "coverage/", 1): v for k, v in run["metrics"].items() if k.startswith("null/")
        }
        key = (run.get("experiment"), run.get("seed"))
        if null and key not in nulls:
            choices = {"dataset": (run.get("choices") or {}).get("dataset", MISSING), "sampler": NULL_ROW}
            nulls[key] = {**run, "choices": choices, "config": {}, "metrics": null, "reference": True}
            nulls[key] |= {"iterations": None, "planned_iterations": None}  # one row whatever the lengths
    return [*runs, *nulls.values()]


def default_metrics(runs: Sequence[dict[str, Any]]) -> list[str]:
    names = {k for run in runs for k in run["metrics"]}
    return sorted(k for k in names if not k.startswith(EXCLUDED_PREFIXES))


def stats(values: list[float]) -> dict[str, float | int]:
    """Mean, sample std, count and NaN count of ``values``."""
    # NaN (a diverged run) propagates into the mean on purpose: it must be visible, not averaged away.
    # (statistics.stdev raises on NaN, hence the explicit formula.)
    n = len(values)
    mean = math.fsum(values) / n if n else math.nan
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n >= 2 else math.nan
    return {"mean": mean, "std": std, "n": n, "nan": sum(math.isnan(v) for v in values)}


def as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def summarize(
    runs: Sequence[dict[str, Any]],
    group_by: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One row per group: ``{"group": {field: value}, "n": runs, "diverged": runs with a non-finite value,
    "metrics": {name: {mean, std, n, nan}}, "runs": [the group's runs]}``.

    ``group_by`` None: :func:`group_keys` (the context columns and every key that differs, so configs that
    differ in more than the seed are never pooled); given, exactly those keys. ``metrics`` defaults to every
    metric key found (sorted, ``loss/*`` omitted). ``std`` is the sample standard deviation (NaN below two
    values); a metric's ``n`` counts the runs of the group that have it, ``nan`` those whose value is NaN.
    """
    real = [run for run in runs if field(run, "sampler") != NULL_ROW]
    keys = group_keys(real) if group_by is None else list(group_by)
    names = list(metrics) if metrics is not None else default_metrics(runs)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault(tuple(_text(field(run, g)) for g in keys), []).append(run)
    rows = []
    for key in sorted(groups, key=_sort_key):
        members = groups[key]
        summary = {}
        for name in names:
            values = [as_float(run["metrics"].get(name)) for run in members]
            summary[name] = stats([v for v in values if v is not None])
        row = {"group": dict(zip(keys, key, strict=True)), "n": len(members), "metrics": summary}
        rows.append(row | {"diverged": sum(map(diverged, members)), "runs": members})
    return rows


def diverged(run: dict[str, Any]) -> bool:
    """Any non-finite metric, losses included: a NaN run can still report finite evaluation metrics (e.g.
    zero modes captured), so the tables flag it from every key; and a run flagged ``diverged_at`` (an exploded
    but finite loss) is one too."""
    return run.get("diverged_at") is not None or any(
        isinstance(v, float) and not math.isfinite(v) for v in run["metrics"].values()
    )


def _sort_key(key: tuple[str, ...]) -> tuple[tuple[int, float, str], ...]:
    # Numbers (seeds, iterations, step sizes) in numeric order, before names.
    def one(text: str) -> tuple[int, float, str]:
        try:
            return (0, float(text), "")
        except ValueError:
            return (1, 0.0, text)

    return tuple(map(one, key))
