"""ProbGAN beside the Bayesian GAN (SGHMC) on the PacGAN ring at one stated CPU budget, through
``bench/compare.py``'s resumable runner (an interrupted run continues from its newest checkpoint).

Both samplers run the ring_pacgan preset (data, networks, latent, J_g = 2, J_d = 1, M = 2, SGHMC with the same
settings), so the rows differ only in the inference method: ``sampler=probgan`` trains each discriminator
against the pooled generator mixture and gives the generators the inherited prior (method defaults: partial
summation over 4 discriminator snapshots, one every 50 iterations, weight 1). The planned budget was a third
of the preset's 15,000 iterations (5,000, burn-in 2,500, thin 250). On the loaded shared machine the run was
cut to 3,500 at resume (``iterations`` may change at resume), so the bank pools 4 snapshots (2,750-3,500).

Summaries: ``bench/results/families/probgan/<case>/<sampler>/seed<k>.json`` (compare.py's format).

    python bench/probgan.py --sampler probgan      # one run (seed 0); --sampler sghmc for its pair
    python bench/probgan.py --report               # the table of what is there
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import compare

BUDGET = ["iterations=3500", "posterior.burn_in=2500", "posterior.thin=250", "checkpoint_every=500"]
SAMPLERS = ["probgan", "sghmc"]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sampler", nargs="+", choices=SAMPLERS, default=SAMPLERS)
    args, rest = parser.parse_known_args(argv)
    compare.CASES = {"ring_pacgan": ("toy", ["experiment=ring_pacgan", *BUDGET], list(args.sampler))}
    where = ["--results", "bench/results/families/probgan", "--runs", "outputs/probgan_bench"]
    compare.main(["--only", "ring_pacgan", "--seeds", "0", *where, *rest])


if __name__ == "__main__":
    main()
