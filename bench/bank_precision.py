"""BMA test accuracy of trained semi-supervised runs with their posterior bank stored in each precision.

The bank's precision does not touch training (snapshots are only read for evaluation), so one trained run
answers the question exactly: its float32 snapshots are re-stored as bfloat16 and float16 and the run's own
accuracy callback evaluates all three on the full test set. Differences are the rounding alone, with no
seed-to-seed noise; several runs (seeds) show it is not one lucky state.

    python bench/bank_precision.py outputs/<run-dir> [<run-dir> ...]
"""

from __future__ import annotations

import argparse
import io

import torch

from bayesgan.bank import PRECISIONS, PosteriorBank
from bayesgan.cli.evaluate import evaluators
from bayesgan.cli.loading import load_run

KEYS = ("test/bma_accuracy", "test/bma_nll", "test/member_accuracy")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="run directories (their checkpoints/last.ckpt)")
    args = parser.parse_args()
    print(f"{'run':<60}{'precision':>10}{'bank MB':>9}" + "".join(f"{k:>22}" for k in KEYS))
    for target in args.runs:
        run = load_run(target, "bank_precision")
        accuracy = evaluators(run).get("accuracy")
        original = run.module.bank
        if accuracy is None or not len(original):
            print(f"{target}: no accuracy callback or an empty bank; skipped")
            continue
        for precision in PRECISIONS:
            bank = PosteriorBank(original.burn_in, original.thin, original.max_snapshots, precision)
            for iteration, snapshot in zip(original.iterations, original.snapshots, strict=True):
                bank.add(iteration, snapshot)
            run.module.bank = bank
            buffer = io.BytesIO()
            torch.save(bank.state_dict(), buffer)
            with torch.no_grad():
                metrics = accuracy.evaluate(run.context(), run.module)  # run() would reuse its result
            row = "".join(f"{metrics.get(k, float('nan')):>22.5f}" for k in KEYS)
            print(f"{str(target)[-60:]:<60}{precision:>10}{buffer.tell() / 2**20:>9.1f}{row}", flush=True)
        run.module.bank = original


if __name__ == "__main__":
    main()
