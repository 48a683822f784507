"""Which posterior snapshots to pool: one finished run's metrics for each "newest K at stride S" subset.

The bank never feeds back into training, so the newest K snapshots at stride S of a run trained with
``posterior.thin=t`` are the bank a run with ``bank_size=K, thin=t*S`` would have ended with (when the newest
snapshot lies on the coarser grid): one run with a dense bank answers how many snapshots to pool and from
when, without retraining. Each subset goes through ``bayesgan-evaluate``'s code (the run's own callbacks,
seeded latents), so a row equals ``bayesgan-evaluate RUN --bank-newest K --bank-stride S``.

    python bench/bank_subsets.py outputs/search/ring_psgld_decay_bank/seed100 --newest 1 2 4 --stride 1 3 \\
        --out bench/results/search/ring_psgld_decay_bank/bank_subsets.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from bayesgan.cli.evaluate import PROG, evaluate, select_snapshots
from bayesgan.cli.loading import load_run

# Columns by the evaluated callback (any other prints every metric it returns).
COLUMNS = {
    "coverage": ("coverage/modes", "coverage/high_quality", "coverage/reverse_kl"),
    "accuracy": ("test/bma_accuracy", "test/bma_nll", "test/member_accuracy"),
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run directory (its checkpoints/last.ckpt) or a checkpoint")
    parser.add_argument("--newest", type=int, nargs="+", default=[1, 2, 3, 4, 6, 10])
    parser.add_argument("--stride", type=int, nargs="+", default=[1])
    parser.add_argument("--metric", default="coverage", help="the run's callback to evaluate")
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON")
    args = parser.parse_args(argv)
    run = load_run(args.run, PROG)
    columns: Sequence[str] = COLUMNS.get(args.metric, ())
    bank = run.module.bank
    whole = bank.state_dict()  # restored before each subset (keep_newest drops the others)
    rows = []
    for stride in args.stride:
        for newest in args.newest:
            bank.load_state_dict(whole)
            if (newest - 1) * stride + 1 > len(bank):
                print(f"skip: newest {newest} at stride {stride} needs more than {len(bank)} snapshots")
                continue
            kept = select_snapshots(run, newest, stride)
            metrics = evaluate(run, [args.metric])
            columns = columns or sorted(metrics)
            rows.append({"newest": newest, "stride": stride, "iterations": kept, "metrics": metrics})
            cells = " ".join(f"{metrics.get(c, float('nan')):8.4g}" for c in columns)
            print(f"stride {stride} newest {newest:3d} ({kept[0]}-{kept[-1]}): {cells}", flush=True)
    print("\n| stride | newest K | iterations | " + " | ".join(columns) + " |")
    print("|---|---|---|" + "---|" * len(columns))
    for row in rows:
        m = row["metrics"]
        cells = " | ".join(f"{m.get(c, float('nan')):.4g}" for c in columns)
        span = f"{row['iterations'][0]}-{row['iterations'][-1]}"
        print(f"| {row['stride']} | {row['newest']} | {span} | {cells} |")
    if args.out is not None:
        record = {"run": str(args.run), "checkpoint": str(run.checkpoint), "rows": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
