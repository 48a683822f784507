"""Comparison rows that differ from another row only in which posterior snapshots they pool.

The bank never feeds back into training, so a row whose overrides add only bank settings (``bank_size``,
``thin``) to a finished row's pools a subset of that run's snapshots: ``bayesgan-evaluate --bank-newest K
--bank-stride S`` on its final checkpoint gives the metrics that training the row would report (tested in
tests/test_sample_evaluate.py). ``bench/compare.py`` evaluates such a row from its source run when that run's
directory is still there and trains it otherwise. The summary says which it did (``derived_from``), and the
snapshots kept are checked against the ones the row's own bank settings would have kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from bayesgan.bank import PosteriorBank
from bayesgan.cli.evaluate import evaluate, select_snapshots
from bayesgan.cli.loading import load_run
from bayesgan.train import compose_config
from compare_tables import DERIVED  # row -> (source row, extra bank overrides, newest K, stride S)

# Every evaluation metric comes from the evaluation (the pooled predictive changes; per-copy metrics come out
# equal, the final copies being the same); traces, split-R̂ and losses describe the shared training and stay
# the source run's (an evaluation of one state has no trace).
TRAINING = ("diag/", "loss/")


def from_source(
    row: str, overrides: list[str], case_runs: Path, source_summary: Path, run_dir: Path
) -> dict[str, Any] | None:
    """``row``'s results pooled from its source run, or None when that run's directory or committed summary
    is not here (then the row is trained). ``source_summary`` is the source row's summary file of the same
    seed; ``case_runs`` holds the case's run directories (``<row>/seed<k>``)."""
    source_dir = case_runs / DERIVED[row][0] / source_summary.stem
    checkpoint = source_dir / "checkpoints" / "last.ckpt"
    if not (source_summary.exists() and (source_dir / "results.json").exists() and checkpoint.exists()):
        return None
    return derive(row, overrides, checkpoint, json.loads(source_summary.read_text()), run_dir)


def expected_bank(cfg: Any) -> list[int]:
    """The iterations of the snapshots a run with ``cfg``'s bank settings ends with."""
    posterior = cfg.posterior
    bank = PosteriorBank(posterior.burn_in, posterior.thin, posterior.bank_size)
    due = [i for i in range(1, cfg.iterations + 1) if bank.due(i)]
    return due[-posterior.bank_size :] if posterior.bank_size else []


def derive(
    row: str, overrides: list[str], checkpoint: Path, source: dict[str, Any], run_dir: Path
) -> dict[str, Any]:
    """``row``'s results from its source run's final checkpoint; ``source`` is that run's summary."""
    _, _, newest, stride = DERIVED[row]
    cfg = compose_config(overrides, run_dir)
    loaded = load_run(checkpoint, "bench/compare.py")
    kept, expected = select_snapshots(loaded, newest, stride), expected_bank(cfg)
    if kept != expected:
        raise RuntimeError(
            f"{row}: newest {newest} at stride {stride} of {checkpoint} are iterations {kept}, but the row's "
            f"bank settings keep {expected}: fix DERIVED[{row!r}]"
        )
    with torch.no_grad():
        evaluated = evaluate(loaded)  # every metric callback of the run, as at the end of its training
    metrics = dict(source["metrics"]) | {k: v for k, v in evaluated.items() if not k.startswith(TRAINING)}
    return {
        "iterations": loaded.module.iteration,
        "diverged_at": source.get("diverged_at"),
        "metrics": metrics,
        "cfg": cfg,
        "derived_from": {
            "row": DERIVED[row][0],
            "checkpoint": str(checkpoint),
            "bank_newest": newest,
            "bank_stride": stride,
            "bank_iterations": kept,
            "source_commit": source.get("commit"),
        },
    }
