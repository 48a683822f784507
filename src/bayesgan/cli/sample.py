"""``bayesgan-sample RUN_DIR_OR_CKPT``: draws from a trained run's posterior predictive, using the run's
saved configuration (nothing to repeat).

Pooled (default): ``--num`` samples over all posterior generator samples (generator copies x bank
snapshots, as the evaluation callbacks pool them). ``--per-generator``: one row of ``--num`` samples per
posterior generator sample. ``--out`` ``.npz`` holds the arrays (``samples``, and ``labels`` per row),
``.png`` a labelled grid (images) or scatter plot (2-D data); the same ``--seed`` gives the same output.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from bayesgan.callbacks.base import seeded_generator
from bayesgan.callbacks.samples import posterior_labels
from bayesgan.cli.loading import LoadedRun, load_run, refuse
from bayesgan.images import labelled_grid, save_png, scatter_plot

PROG = "bayesgan-sample"


def draw(run: LoadedRun, num: int, per_generator: bool, seed: int) -> tuple[Tensor, list[str]]:
    """``[num, *data_shape]`` pooled samples, or ``[S, num, *data_shape]`` and one label per row."""
    module = run.module
    gen = seeded_generator(module, seed)
    with torch.no_grad():
        if per_generator:
            samples = module.generate(num, use_bank=True, generator=gen).cpu()
            return samples, posterior_labels(module, samples.shape[0])[0]
        s = module.num_posterior_samples("generator")
        pooled = module.generate(math.ceil(num / s), use_bank=True, generator=gen)
        pooled = pooled.reshape(-1, *module.data_shape).cpu()
        keep = torch.randperm(pooled.shape[0], generator=torch.Generator().manual_seed(seed))[:num]
    return pooled[keep], []


def write(run: LoadedRun, samples: Tensor, labels: list[str], out: Path) -> None:
    if out.suffix == ".npz":
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez(out, samples=samples.numpy(), labels=np.array(labels, dtype=str))
        return
    shape = tuple(run.module.data_shape)
    if shape == (2,):
        points = samples.reshape(-1, 2)
        groups = None
        if labels:  # one colour per posterior generator sample row
            groups = torch.arange(samples.shape[0]).repeat_interleave(samples.shape[1])
        modes = getattr(run.datamodule, "modes", None)
        save_png(scatter_plot(points, modes, groups=groups, labels=labels or None), out)
    elif len(shape) == 3 and shape[0] in (1, 3):
        columns = 8 if samples.shape[0] % 8 == 0 else samples.shape[0]  # pooled: rows of 8 when they fit
        rows = samples if labels else samples.reshape(-1, columns, *shape)
        save_png(labelled_grid(rows, labels or None), out)
    else:
        refuse(PROG, f"--out {out}: data of shape {shape} has no picture; write .npz instead")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run directory (uses checkpoints/last.ckpt) or a checkpoint file")
    parser.add_argument("--num", type=int, default=64, help="samples (per row with --per-generator)")
    parser.add_argument("--per-generator", action="store_true", help="one row per posterior generator sample")
    parser.add_argument(
        "--out", type=Path, default=None, help="FILE.png or FILE.npz (default: <run>/samples.png)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.num < 1:
        refuse(PROG, f"--num {args.num}: expected a positive number of samples")
    if args.out is not None and args.out.suffix not in (".png", ".npz"):
        refuse(PROG, f"--out {args.out}: expected a .png or .npz file name")
    run = load_run(args.run, PROG)
    if not getattr(run.module, "generates", True):  # e.g. sampler=supervised (bayesgan.protocol)
        method = type(run.module).__name__
        refuse(PROG, f"{args.run}: this run's method ({method}) has no generator to sample")
    out = args.out or (run.run_dir or run.checkpoint.parent) / "samples.png"
    samples, labels = draw(run, args.num, args.per_generator, args.seed)
    write(run, samples, labels, out)
    what = f"{len(labels)} posterior generator samples x {args.num}" if labels else f"{args.num} pooled"
    print(f"{what} samples (shape {list(samples.shape)}) from {run.checkpoint} -> {out}")


if __name__ == "__main__":
    main()
