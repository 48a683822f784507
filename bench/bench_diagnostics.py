"""Overhead of the MCMC diagnostics callback on the default experiment (digits, DCGAN-small, J_g=4, M=2).

Times, in one process and interleaved, one training iteration and one diagnostics record (the per-copy
summaries on 256 fixed inputs), and prints the overhead at the default interval of 100 iterations.

    python bench/bench_diagnostics.py [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from bayesgan.callbacks.diagnostics import MCMCDiagnostics
from bayesgan.train import build, compose_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(tempfile.mkdtemp())
    _, module, datamodule = build(compose_config(["logger=none", "callbacks=none"], out), out)
    optimizers, batch = module.configure_optimizers(), datamodule.train_batch(0)
    callback, trainer = MCMCDiagnostics(), SimpleNamespace(datamodule=datamodule)
    iteration, record = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        module.update(batch, *optimizers)
        iteration.append(time.perf_counter() - start)
        start = time.perf_counter()
        with torch.no_grad():
            callback._summaries(trainer, module)
        record.append(time.perf_counter() - start)
    it, rec = statistics.median(iteration), statistics.median(record)
    every = callback.every_n_iterations
    print(f"iteration {it * 1e3:.0f} ms | diagnostics record {rec * 1e3:.0f} ms | ratio {rec / it:.2f}")
    print(f"overhead at every_n_iterations={every}: {100 * rec / (every * it):.2f} %")


if __name__ == "__main__":
    main()
