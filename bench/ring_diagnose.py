"""Why the ML-GAN preset misses the ring's 90 % high quality: the coverage of a trained run's checkpoints,
with the generator's batch norm in each mode, and how far the non-HQ samples lie from their nearest mode.

    python bench/ring_diagnose.py outputs/compare/ring_pacgan/ml/seed0/checkpoints/*.ckpt \\
        [--overrides experiment=ring_pacgan sampler=ml]

For each checkpoint: % HQ and modes with batch statistics (the training-mode sampling the coverage callback
uses) and with the running averages (eval mode), and the share of samples within 3, 5 and 10 sigma.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from bayesgan.checkpointing import load_checkpoint
from bayesgan.metrics.mode_coverage import mode_coverage
from bayesgan.train import build, compose_config


def distances(samples: torch.Tensor, modes: torch.Tensor) -> torch.Tensor:
    return torch.cdist(samples, modes).min(1).values


def cluster_shape(samples: torch.Tensor, modes: torch.Tensor, std: float) -> str:
    """Per mode, over the samples within 10 std of it: the offset of their mean from the mode and their
    spread per dimension, both in data std units, averaged over the modes (the data: offset 0, spread 1)."""
    d = torch.cdist(samples, modes)
    nearest, dist = d.argmin(1), d.min(1).values
    offsets, spreads = [], []
    for k in range(modes.shape[0]):
        near = samples[(nearest == k) & (dist < 10 * std)]
        if len(near) > 5:
            offsets.append(float((near.mean(0) - modes[k]).norm()) / std)
            spreads.append(float(near.std(0).mean()) / std)
    if not offsets:
        return "no clusters"
    return f"cluster offset {sum(offsets) / len(offsets):.2f}σ, spread {sum(spreads) / len(spreads):.2f}σ"


def diagnose(path: Path, overrides: list[str], num_samples: int = 2500, seed: int = 0) -> str:
    # Rebuilt from the given overrides: older checkpoints carry no saved configuration.
    scratch = Path("outputs/ring_diagnose")
    _, module, dm = build(compose_config([*overrides, "logger=none"], scratch), scratch)
    state = load_checkpoint(path)
    module.load_state_dict(state["state_dict"])
    module.on_load_checkpoint(state)
    modes, std = torch.as_tensor(dm.modes, dtype=torch.float32), float(dm.mode_std)
    cells = [f"{path.parent.parent.name}/{path.name} (iteration {module.iteration})"]
    for mode in ("train", "eval"):
        module.generator.train(mode == "train")
        gen = torch.Generator().manual_seed(seed)
        x = module.generate(num_samples, use_bank=False, generator=gen).reshape(-1, modes.shape[1])
        cov = mode_coverage(x, modes, std, 3.0)
        d = distances(x, modes) / std
        shares = ", ".join(f"<{k}σ {100 * float((d < k).float().mean()):.1f}%" for k in (3, 5, 10))
        cells.append(
            f"  {mode}-mode BN: modes {cov['modes_captured']:.0f}, HQ {cov['high_quality']:.1f}%, "
            f"reverse KL {cov['reverse_kl']:.3f}; {shares}; {cluster_shape(x, modes, std)}"
        )
    return "\n".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--num-samples", type=int, default=2500)
    parser.add_argument("--overrides", nargs="*", default=["experiment=ring_pacgan", "sampler=ml"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    for path in args.checkpoints:
        print(diagnose(path, args.overrides, args.num_samples), flush=True)


if __name__ == "__main__":
    main()
