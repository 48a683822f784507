"""How long an ``experiment=table1_*`` sweep takes, extrapolated from short runs of each column.

Each column (``row=``) of the preset runs twice as one ``bayesgan-train`` job, for ``--short`` and
``--long`` iterations, one job at a time, with ``OMP_NUM_THREADS=1`` (as the sweep's joblib workers run).
A job costs a fixed part (start-up, data, the final test evaluation, checkpoints) plus a part per iteration;
the two runs give both (a straight line through two points). The bank's burn-in and thinning are scaled to
the short runs so that the final evaluation averages as many snapshots as the real run's. The estimate for
the whole sweep (rows x label counts x seeds at the preset's iterations) on ``--jobs`` cores packs the jobs
longest first onto the cores (the jobs are independent, single-threaded processes).

Times are CPU seconds of each job (user + sys), which a busy machine inflates much less than wall-clock
seconds; both are printed. On a machine under load, say so beside the numbers.

    python bench/table1_budget.py --experiment table1_digits --jobs 2 [--verify dcgan_10 bayesgan] [overrides]
"""

from __future__ import annotations

import argparse
import heapq
import os
import resource
import subprocess
import sys
import tempfile
import time

from hydra import compose, initialize_config_dir

from bayesgan.train import CONFIG_DIR


def sweep_of(experiment: str, overrides: list[str]) -> tuple[dict[str, list[str]], int]:
    """The preset's sweeper parameters (name -> values) and its iterations."""
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", [f"experiment={experiment}", *overrides], return_hydra_config=True)
    params = {k: [v.strip() for v in str(s).split(",")] for k, s in cfg.hydra.sweeper.params.items()}
    return params, int(cfg.iterations)


def job(
    experiment: str, row: str, labels: str, iterations: int, extra: list[str], scale_bank: bool = True
) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one job of ``iterations`` (the bank scaled to it, or the preset's)."""
    with tempfile.TemporaryDirectory() as out:
        argv = [
            sys.executable, "-m", "bayesgan.train", f"experiment={experiment}", f"row={row}",
            f"dataset.n_labels={labels}", "seed=0", f"iterations={iterations}",
            f"checkpoint_every={iterations}", "logger=none", "hydra.mode=RUN", f"hydra.run.dir={out}", *extra,
        ]  # fmt: skip
        if scale_bank:
            argv += [f"posterior.burn_in={iterations // 2}", f"posterior.thin={max(1, iterations // 10)}"]
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, env=os.environ | {"OMP_NUM_THREADS": "1"})
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{row}: bayesgan-train failed:\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def pack(durations: list[float], cores: int) -> float:
    """Makespan of the jobs packed longest first onto ``cores`` (what a joblib pool of that size does,
    up to the order it takes them in)."""
    loads = [0.0] * cores
    for d in sorted(durations, reverse=True):
        heapq.heapreplace(loads, loads[0] + d)
    return max(loads)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--experiment", default="table1_digits")
    parser.add_argument("--jobs", type=int, default=2, help="jobs in parallel (cores)")
    parser.add_argument("--short", type=int, default=20)
    parser.add_argument("--long", type=int, default=80)
    parser.add_argument("--label-count", help="dataset.n_labels of the timed jobs (default: the largest)")
    parser.add_argument("--verify", nargs="*", default=[], help="columns also run at full length, to compare")
    parser.add_argument("overrides", nargs="*", help="extra overrides for the preset (as on the CLI)")
    args = parser.parse_args()
    params, iterations = sweep_of(args.experiment, args.overrides)
    rows, labels = params.pop("row"), params.pop("dataset.n_labels")
    label = args.label_count or max(labels, key=int)
    others = 1
    for values in params.values():
        others *= len(values)  # seeds and any other swept key
    per_row = len(labels) * others
    print(f"{args.experiment}: {len(rows)} columns x {len(labels)} label counts x {others} = "
          f"{len(rows) * per_row} jobs of {iterations} iterations; timed at n_labels={label}")  # fmt: skip
    print(f"{'column':<16}{'fixed s':>9}{'s/iter':>9}{'job s':>9}{'x jobs':>8}{'total s':>9}{'wall/cpu':>10}")
    durations: list[float] = []
    predicted: dict[str, float] = {}
    for row in rows:
        (cpu_a, wall_a), (cpu_b, wall_b) = (
            job(args.experiment, row, label, n, args.overrides) for n in (args.short, args.long)
        )
        per_iter = max(0.0, (cpu_b - cpu_a) / (args.long - args.short))
        fixed = max(0.0, cpu_a - per_iter * args.short)
        one = predicted[row] = fixed + per_iter * iterations
        durations += [one] * per_row
        ratio = (wall_a + wall_b) / max(cpu_a + cpu_b, 1e-9)
        cells = f"{fixed:>9.1f}{per_iter:>9.3f}{one:>9.1f}{per_row:>8}{one * per_row:>9.0f}{ratio:>10.2f}"
        print(f"{row:<16}{cells}")
    total = sum(durations)
    print(f"sum of jobs: {total / 60:.1f} CPU min; on {args.jobs} cores (longest first): "
          f"{pack(durations, args.jobs) / 60:.1f} min")  # fmt: skip
    for row in args.verify:  # the extrapolation against one real job of the preset's length
        cpu, wall = job(args.experiment, row, label, iterations, args.overrides, scale_bank=False)
        print(f"check {row}: predicted {predicted[row]:.1f} CPU s, measured {cpu:.1f} CPU s "
              f"({cpu / predicted[row]:.2f}x; wall {wall:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
