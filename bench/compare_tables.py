"""bench/compare.py's cases and tables: what each case runs and reports, the mean ± std tables beside the null
row, the paired Bayesian-vs-baseline differences, and the settings each row used."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bayesgan import report
from bayesgan.report.tables import diff_cell

TOY_METRICS = [
    "coverage/modes",
    "coverage/high_quality",
    "coverage/reverse_kl",
    "coverage/per_generator_modes_mean",
    "coverage/per_generator_high_quality_mean",
    "coverage/per_generator_reverse_kl_mean",
    "diag/generator_diversity",
    "diag/rhat_max",
]
DIGITS_METRICS = ["test/bma_accuracy", "test/member_accuracy", "test/bma_nll"]
HEADLINE = {
    "toy": ["coverage/modes", "coverage/high_quality", "coverage/reverse_kl"],
    "digits": [
        "test/bma_accuracy",
        "test/bma_nll",
    ],  # the target, and whether the average is better calibrated
}
# Column headers of the printed tables (the summaries keep the full metric keys).
LABELS = {
    "coverage/modes": "modes",
    "coverage/high_quality": "% HQ",
    "coverage/reverse_kl": "reverse KL",
    "coverage/per_generator_modes_mean": "modes per copy",
    "coverage/per_generator_high_quality_mean": "% HQ per copy",
    "coverage/per_generator_reverse_kl_mean": "reverse KL per copy",
    "diag/generator_diversity": "G diversity",
    "diag/rhat_max": "max split-R̂",
    "test/bma_accuracy": "accuracy (BMA)",
    "test/member_accuracy": "accuracy per sample",
    "test/bma_nll": "NLL (BMA)",
}
# The digits tables report accuracy only; FID/KID/PRDC and sample grids would take half of each run's time.
NO_IMAGE_METRICS = ["callbacks.quality=null", "callbacks.samples=null"]
# case -> (kind, overrides, samplers)
CASES: dict[str, tuple[str, list[str], list[str]]] = {
    "ring_pacgan": ("toy", ["experiment=ring_pacgan"], ["ml", "sghmc", "sgld", "psgld"]),
    "grid_pacgan": ("toy", ["experiment=grid_pacgan"], ["ml", "sghmc", "sgld", "psgld"]),
    "digits_20": (
        "digits",
        ["experiment=digits_semi", "dataset.n_labels=20", *NO_IMAGE_METRICS],
        ["ml", "sghmc", "sgld", "psgld", "supervised"],
    ),
    "digits_50": (
        "digits",
        ["experiment=digits_semi", "dataset.n_labels=50", *NO_IMAGE_METRICS],
        ["ml", "sghmc", "sgld", "psgld", "supervised"],
    ),
}
# Optional rows, run only when named in --samplers: row -> (sampler, extra overrides, the row its paired
# differences are taken against). The step-schedule pair gives the ML-GAN the same decay as the sampler.
VARIANTS: dict[str, tuple[str, list[str], str]] = {
    "ml_decay": ("ml", ["schedule=polynomial"], "ml"),
    "psgld_decay": ("psgld", ["schedule=polynomial"], "ml_decay"),
    # Session 9: 4 chains instead of 2 (digits50_psgld_copies: validation BMA 0.958 vs 0.939 at M = 2; J_g = 8
    # gave 0.950), so twice the discriminators in the model average, paired with the same ML-GAN.
    "psgld_m4": ("psgld", ["posterior.M=4"], "ml"),
    # Session 10: labels weighted like the N = 1,437 unlabelled images, not the paper's N_s (a tempered
    # labelled term). Validation BMA (digits50_psgld_labels, digits50_ml_labels): psgld 0.953 at N or 300
    # against 0.939 at N_s; the ML-GAN 0.947 at N against 0.961 at N_s. So each method at its better
    # weighting: psgld_labels paired with the plain ml row.
    "psgld_labels": ("psgld", ["posterior.labelled_observations=1437"], "ml"),
    # Session 10: a slower decay, gamma 0.33 (grid_psgld_decay_last, seed 100: 90.9 % HQ from the final copies
    # against 85.9 % at gamma 0.55; colder chains and gamma 1 scored lower), and the ML-GAN with that decay.
    "ml_decay033": ("ml", ["schedule=polynomial", "sampler.step_schedule.gamma=0.33"], "ml"),
    "psgld_decay033_last": (
        "psgld",
        ["schedule=polynomial", "sampler.step_schedule.gamma=0.33", "posterior.bank_size=1"],
        "ml_decay033",
    ),
}
# Rows that pool a subset of another row's snapshots (bench/derived_rows.py): row -> (source row, its extra
# bank overrides, newest K, stride S); each is also a variant (the source's overrides plus the extra ones).
# psgld_decay_last: the predictive of the final copies alone (J_g x M = 4 generators; the paper's practice,
# which generates from the current samples). Chosen on seed 100 (bench/results/search/ring_psgld_decay_bank/
# bank_subsets.json: % HQ falls from 95.5 with the newest snapshot to 85.1 with the preset's 10, 8 modes in
# every subset), by the searches' rule: 8 modes, then the highest % HQ.
DERIVED: dict[str, tuple[str, list[str], int, int]] = {
    "psgld_decay_last": ("psgld_decay", ["posterior.bank_size=1"], 1, 1),
}
VARIANTS |= {
    row: (VARIANTS[source][0], [*VARIANTS[source][1], *extra], VARIANTS[source][2])
    for row, (source, extra, _, _) in DERIVED.items()
}
# Every other row is a Bayesian row, compared with its baseline.
BASELINES = ("ml", "supervised", "ml_decay", "ml_decay033")


def headline(metrics: dict[str, float]) -> str:
    parts = []
    if "coverage/modes" in metrics:
        parts.append(
            f"modes {metrics['coverage/modes']:.0f}, HQ {metrics['coverage/high_quality']:.1f}%, "
            f"reverse KL {metrics['coverage/reverse_kl']:.3f}"
        )
    if "test/bma_accuracy" in metrics:
        parts.append(f"test accuracy (BMA) {metrics['test/bma_accuracy']:.4f}")
    bad = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
    return "; ".join(parts + ([f"NON-FINITE: {', '.join(bad)}"] if bad else [])) or "no metrics"


# -- tables -------------------------------------------------------------------------------------------------
def load(results_dir: Path) -> list[dict[str, Any]]:
    runs = []
    for path in sorted(results_dir.glob("*/*/seed*.json")):
        runs.append(json.loads(path.read_text()))
    return runs


def seeds_by_row(runs: list[dict[str, Any]]) -> set[frozenset[int]]:
    """The distinct seed sets of the rows: one set when every row ran the same seeds."""
    by: dict[str, set[int]] = {}
    for r in runs:
        by.setdefault(report.field(r, "sampler"), set()).add(r["seed"])
    return {frozenset(v) for v in by.values()}


def tables(runs: list[dict[str, Any]], cases: Sequence[str]) -> str:
    out = []
    for case in cases:
        kind = CASES[case][0]
        selected = [r for r in runs if r["experiment"] == case]
        if not selected:
            continue
        seeds = sorted({r["seed"] for r in selected})
        metrics = TOY_METRICS if kind == "toy" else DIGITS_METRICS
        rows = report.summarize(report.with_null_rows(selected), ["sampler", "iterations"], metrics)
        for row in rows:
            row["metrics"] = {LABELS[k]: v for k, v in row["metrics"].items()}
        uneven = " (rows with fewer seeds: n)" if len(seeds_by_row(selected)) > 1 else ""
        out.append(f"\n## {case}: mean ± std over seeds {', '.join(map(str, seeds))}{uneven}\n")
        out.append(report.render(rows))
        diffs = paired_rows(selected, HEADLINE[kind])
        if diffs:
            out.append(
                "\nPaired difference (Bayesian − ML, same seeds), mean [bootstrap 95 % interval] and the"
                " two-sided p of the exact paired sign-flip test (never below 2/2^n with n pairs: 0.25 for 3,"
                " 0.0625 for 5):\n\n"
            )
            labels = [LABELS[m] for m in HEADLINE[kind]]
            out.append(report.render_table(["comparison", "pairs", *labels], diffs))
        described = settings_lines(selected)
        if described:
            out.append("\nSettings used:\n" + "".join(f"- {line}\n" for line in described))
    return "".join(out)


def settings_lines(runs: list[dict[str, Any]]) -> list[str]:
    """One line per sampler: the settings its runs recorded (all seeds' settings, deduplicated)."""
    by: dict[str, list[str]] = {}
    for run_ in runs:
        if run_.get("settings"):
            text = describe(run_["settings"])
            seen = by.setdefault(report.field(run_, "sampler"), [])
            if text not in seen:
                seen.append(text)
    return [f"{name}: {' | '.join(texts)}" for name, texts in sorted(by.items())]


def describe(settings: dict[str, Any]) -> str:
    """The knobs a reader needs to rerun a row, compactly."""
    opt, sampler = settings.get("optimizer", {}), settings.get("sampler", {})
    skip = {"name", "seed", "lr", "num_data", "batch_size", "dataset_size"}
    parts = [f"{k}={v}" for k, v in opt.items() if k not in skip and v is not None]
    if opt.get("lr") is not None:
        parts.insert(0, f"lr={opt['lr']}")
    if sampler.get("J_g", 1) * sampler.get("M", 1) > 1:
        parts.append(f"J_g×J_d×M={sampler['J_g']}×{sampler['J_d']}×{sampler['M']}")
        parts.append(f"burn_in/thin/bank={sampler['burn_in']}/{sampler['thin']}/{sampler['bank_size']}")
    for key in ("fake_observations", "generator_observations", "labelled_observations"):
        if sampler.get(key) is not None:
            parts.append(f"{key}={sampler[key]}")
    schedule = sampler.get("step_schedule")
    if schedule:  # e.g. step PolynomialDecay(gamma=0.55, offset=1000)
        knobs = ", ".join(f"{k}={v}" for k, v in schedule.items() if not k.startswith("_"))
        parts.append(f"step {str(schedule.get('_target_', '?')).rsplit('.', 1)[-1]}({knobs})")
    return f"{opt.get('name', sampler.get('name', '?'))} " + ", ".join(
        [f"{settings['iterations']} it.", *parts]
    )


def paired_rows(runs: list[dict[str, Any]], metrics: Sequence[str]) -> list[list[str]]:
    by = {(report.field(r, "sampler"), r["seed"]): r["metrics"] for r in runs}
    rows = []
    for sampler in sorted({name for name, _ in by} - set(BASELINES)):
        baseline = VARIANTS.get(sampler, ("", [], "ml"))[2]
        seeds = sorted(s for (name, s) in by if name == sampler and (baseline, s) in by)
        if not seeds:
            continue
        cells = []
        for m in metrics:
            a = [by[(sampler, s)].get(m, math.nan) for s in seeds]
            b = [by[(baseline, s)].get(m, math.nan) for s in seeds]
            cells.append(diff_cell((*report.paired_bootstrap(a, b), report.paired_sign_flip_p(a, b))))
        rows.append([f"{sampler} − {baseline}", str(len(seeds)), *cells])
    return rows
