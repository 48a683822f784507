"""``bayesgan-evaluate RUN_DIR_OR_CKPT [metrics...]``: recomputes a finished run's evaluation metrics on its
checkpoint, without training, through the same callbacks (configured as in the run) that computed them
during training. Writes ``evaluation.json`` beside the run's ``results.json`` (never over it) and prints
the metrics. Metric names are the run's evaluation callbacks (``accuracy``, ``coverage``, ...).

``--bank-newest K`` pools only the newest K posterior snapshots (``--bank-stride S``: every S-th counting
back from the newest). The bank never feeds back into training, so this gives the metrics a run trained
with ``posterior.bank_size=K`` (and ``posterior.thin`` x S, when the newest snapshot lies on that grid) would
have reported: one long run with a dense bank answers how many snapshots to pool, without retraining."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from bayesgan import cli_errors, results_file
from bayesgan.callbacks.base import PeriodicCallback
from bayesgan.callbacks.samples import SampleGrid
from bayesgan.checkpointing import atomic_save_text
from bayesgan.cli.loading import LoadedRun, load_run, refuse

PROG = "bayesgan-evaluate"
EVALUATION_FILE = "evaluation.json"


def evaluators(run: LoadedRun) -> dict[str, PeriodicCallback]:
    """The run's metric callbacks by their config name (``callbacks.<name>``), instantiated from the run's
    saved config (so with its settings and seeds); picture writers and non-metric callbacks excluded."""
    found: dict[str, PeriodicCallback] = {}
    for name, spec in (run.config.get("callbacks") or {}).items():
        if not spec:
            continue
        try:
            callback = instantiate(spec)
        except InstantiationException as error:
            refuse(PROG, f"callbacks.{name} of this run cannot be built: {cli_errors.one_line(error)[:200]}")
        if isinstance(callback, PeriodicCallback) and not isinstance(callback, SampleGrid):
            found[name] = callback
    return found


def evaluate(run: LoadedRun, names: list[str] | None = None) -> dict[str, float]:
    """The metrics of the named callbacks (all when ``names`` is empty), on the loaded final state."""
    available = evaluators(run)
    chosen = names or list(available)
    unknown = [n for n in chosen if n not in available]
    if unknown:
        known = ", ".join(available) or "(none: the run had no metric callbacks)"
        refuse(PROG, f"unknown metric {', '.join(unknown)}; available for this run: {known}")
    context = run.context()
    metrics: dict[str, float] = {}
    for name in chosen:
        with torch.no_grad():
            found = available[name].run(context, run.module)
        if not found:  # e.g. accuracy of an unsupervised run: the callback skips itself, as in training
            print(f"{PROG}: {name}: does not apply to this run (no metrics)", file=sys.stderr)
        metrics |= found
    return metrics


def select_snapshots(run: LoadedRun, newest: int, stride: int) -> list[int]:
    """Keep the newest ``newest`` snapshots at ``stride`` in the loaded run's bank; their iterations."""
    bank = getattr(run.module, "bank", None)
    if bank is None or len(bank) == 0:
        refuse(
            PROG, f"--bank-newest: {run.checkpoint} has no posterior snapshots (a point estimate or no bank)"
        )
    if newest < 1 or stride < 1:
        refuse(PROG, f"--bank-newest and --bank-stride must be >= 1, got {newest} and {stride}")
    needed, held = (newest - 1) * stride + 1, len(bank)
    if needed > held:
        refuse(
            PROG,
            f"--bank-newest {newest} --bank-stride {stride} needs {needed} snapshots, the bank has {held}",
        )
    bank.keep_newest(newest, stride)
    return list(bank.iterations)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run directory (uses checkpoints/last.ckpt) or a checkpoint file")
    parser.add_argument("metrics", nargs="*", help="callback names to evaluate (default: all of the run's)")
    parser.add_argument("--out", type=Path, default=None, help=f"default: <run>/{EVALUATION_FILE}")
    parser.add_argument(
        "--bank-newest", type=int, default=None, metavar="K", help="pool the newest K snapshots"
    )
    parser.add_argument(
        "--bank-stride", type=int, default=1, metavar="S", help="with --bank-newest: every S-th"
    )
    args = parser.parse_args(argv)
    if args.out is not None and args.out.name == "results.json":
        refuse(PROG, f"--out {args.out}: results.json is the training run's own record; choose another name")
    run = load_run(args.run, PROG)
    snapshots = (
        None if args.bank_newest is None else select_snapshots(run, args.bank_newest, args.bank_stride)
    )
    metrics = evaluate(run, args.metrics)
    out = args.out or (run.run_dir or run.checkpoint.parent) / EVALUATION_FILE
    record: dict[str, Any] = {
        "checkpoint": str(run.checkpoint),
        "iterations": run.module.iteration,
        "metrics": metrics,
    }
    if snapshots is not None:
        record["bank_iterations"] = snapshots
    atomic_save_text(results_file.encode(record), out)
    print(f"{run.checkpoint} (iteration {run.module.iteration}) -> {out}")
    for key, value in sorted(metrics.items()):
        print(f"  {key:<44} {value:.6g}" if math.isfinite(value) else f"  {key:<44} {value}")


if __name__ == "__main__":
    main()
