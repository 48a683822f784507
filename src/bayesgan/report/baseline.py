"""Differences to a baseline group with bootstrap intervals: paired over the seeds both groups ran (a seed
fixes the data, the labelled subset and the evaluation latents, so pairing removes that variation), unpaired
otherwise."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from bayesgan.report.grouping import as_float

LEVEL = 0.95


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 10_000, level: float = LEVEL, seed: int = 0
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
    means = [math.fsum(rng.choices(diffs, k=len(diffs))) / len(diffs) for _ in range(resamples)]
    return (mean, *_percentiles(means, level))


def paired_sign_flip_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p of the paired randomization test: under "no difference" each pair's sign is a coin flip,
    so p is the share of the 2^n sign patterns whose mean |difference| is at least the observed one
    (scipy's ``permutation_test``; exact up to 16 pairs). With n pairs it cannot fall below 2 / 2^n (0.0625
    for 5 seeds), which a percentile bootstrap interval does not show. NaN in any pair gives NaN; all
    differences 0 give 1."""
    if len(a) != len(b) or not a:
        raise ValueError(
            f"paired_sign_flip_p needs two equally long, non-empty sequences, got {len(a)} and {len(b)}"
        )
    diffs = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if np.isnan(diffs).any():
        return math.nan
    if not diffs.any():
        return 1.0
    exact = len(diffs) <= 16  # 65,536 patterns; beyond, a fixed-seed sample of them
    result = stats.permutation_test(
        (diffs,),
        lambda d, axis: np.mean(d, axis=axis),
        permutation_type="samples",
        n_resamples=np.inf if exact else 100_000,
        rng=np.random.default_rng(0),
    )
    return float(result.pvalue)


def unpaired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 10_000, level: float = LEVEL, seed: int = 0
) -> tuple[float, float, float]:
    """mean(a) − mean(b) and a percentile bootstrap interval, each arm resampled on its own (runs of the
    two groups do not correspond one to one). NaN in either arm gives NaN throughout."""
    if not a or not b:
        raise ValueError(f"unpaired_bootstrap needs two non-empty sequences, got {len(a)} and {len(b)}")
    mean = math.fsum(a) / len(a) - math.fsum(b) / len(b)
    if any(math.isnan(v) for v in (*a, *b)):
        return math.nan, math.nan, math.nan
    rng = random.Random(seed)
    means = [
        math.fsum(rng.choices(a, k=len(a))) / len(a) - math.fsum(rng.choices(b, k=len(b))) / len(b)
        for _ in range(resamples)
    ]
    return (mean, *_percentiles(means, level))


def _percentiles(values: list[float], level: float) -> tuple[float, float]:
    values = sorted(values)
    tail, count = (1 - level) / 2, len(values)
    return values[min(count - 1, math.floor(tail * count))], values[
        min(count - 1, math.ceil((1 - tail) * count) - 1)
    ]


def parse_baseline(text: str) -> dict[str, str]:
    """``"sampler=ml"`` or ``"sampler=ml,posterior.J_g=4"`` -> ``{key: value}``; raises ValueError."""
    pairs = [part.strip() for part in text.split(",") if part.strip()]
    if not pairs or any("=" not in pair for pair in pairs):
        raise ValueError(f"--baseline {text!r}: expected KEY=VALUE[,KEY=VALUE], e.g. --baseline sampler=ml")
    return {key.strip(): value.strip() for key, value in (pair.split("=", 1) for pair in pairs)}


def baseline_of(row: dict[str, Any], rows: Sequence[dict[str, Any]], spec: dict[str, str]) -> dict | None:
    """The row ``row`` is compared with: the same group except the ``spec`` keys, which take its values."""
    wanted = {**row["group"], **spec}
    return next((other for other in rows if other["group"] == wanted), None)


def _by_seed(runs: Sequence[dict[str, Any]]) -> dict[Any, dict[str, Any]] | None:
    seeds = [run.get("seed") for run in runs]
    if None in seeds or len(set(seeds)) != len(seeds):
        return None  # a seed run twice in one group: no one-to-one pairing
    return dict(zip(seeds, runs, strict=True))


def difference(
    row: dict[str, Any], base: dict[str, Any], metrics: Sequence[str]
) -> tuple[str, dict[str, tuple[float, float, float, float] | None]]:
    """(how the runs were compared, ``{metric: (mean difference, lo, hi, p) or None}``) of ``row`` − ``base``.

    Paired over the common seeds when at least two seeds are common to both groups (and each seed occurs
    once per group), with the sign-flip test's p; otherwise unpaired over all runs, p NaN (no test). A
    metric that too few runs have is None."""
    mine, theirs = _by_seed(row["runs"]), _by_seed(base["runs"])
    common = sorted(set(mine) & set(theirs), key=str) if mine is not None and theirs is not None else []
    paired = len(common) >= 2
    how = f"paired, {len(common)} seeds" if paired else f"unpaired, {len(row['runs'])} vs {len(base['runs'])}"
    out: dict[str, tuple[float, float, float, float] | None] = {}
    for metric in metrics:
        if paired:
            pairs = [
                (as_float(mine[s]["metrics"].get(metric)), as_float(theirs[s]["metrics"].get(metric)))
                for s in common
            ]
            pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
            if pairs:
                a, b = zip(*pairs, strict=True)
                out[metric] = (*paired_bootstrap(a, b), paired_sign_flip_p(a, b))
            else:
                out[metric] = None
        else:
            a = [v for v in (as_float(r["metrics"].get(metric)) for r in row["runs"]) if v is not None]
            b = [v for v in (as_float(r["metrics"].get(metric)) for r in base["runs"]) if v is not None]
            out[metric] = (*unpaired_bootstrap(a, b), math.nan) if a and b else None
    return how, out


def differences(
    rows: Sequence[dict[str, Any]], spec: dict[str, str], metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """For every row that is not a baseline itself and has one: ``{"row", "baseline", "how", "diff"}``."""
    out = []
    for row in rows:
        if all(row["group"].get(k) == v for k, v in spec.items()):
            continue  # a baseline row
        base = baseline_of(row, rows, spec)
        if base is not None:
            how, diff = difference(row, base, metrics)
            out.append({"row": row, "baseline": base, "how": how, "diff": diff})
    return out


def check_spec(spec: dict[str, str], rows: Sequence[dict[str, Any]]) -> str | None:
    """Why ``spec`` selects no baseline row (a one-line error), or None."""
    for key in spec:
        if rows and key not in rows[0]["group"]:
            columns = ", ".join(rows[0]["group"])
            return f"--baseline key {key} is not a group column ({columns}); add it to --group-by"
    if not any(all(row["group"].get(k) == v for k, v in spec.items()) for row in rows):
        values = {k: sorted({row["group"][k] for row in rows}) for k in spec}
        known = "; ".join(f"{k}: {', '.join(v)}" for k, v in values.items())
        return f"--baseline {','.join(f'{k}={v}' for k, v in spec.items())} matches no group ({known})"
    return None
