"""Randomness keyed by integers (seed, rank, iteration, ...): reproducible streams with no state to save.

Batches and latent draws are pure functions of such keys, so a resumed run reproduces an uninterrupted one
exactly and DDP ranks get independent streams.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

_MASK64 = (1 << 64) - 1


def mix_seed(*values: int) -> int:
    """Deterministic 63-bit seed from integers (splitmix64 chain), stable across runs and platforms."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (int(v) & _MASK64)) & _MASK64
        h = (h + 0x9E3779B97F4A7C15) & _MASK64
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK64
        h ^= h >> 31
    return h & ((1 << 63) - 1)


def derived_generator(*values: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded from ``values``."""
    return torch.Generator(device=device).manual_seed(mix_seed(*values))


def latents(
    prior: str, shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str
) -> Tensor:
    """Latents of ``shape`` from the z prior: ``normal`` N(0, I), or ``uniform`` on (-1, 1) (the authors')."""
    if prior == "normal":
        return torch.randn(shape, generator=generator, device=device)
    # One kernel; on the CPU the same numbers as rand·2 − 1 (u·2 is exact), without two temporaries.
    return torch.empty(shape, device=device).uniform_(-1.0, 1.0, generator=generator)


def sample_distinct(n: int, k: int, g: torch.Generator) -> Tensor:
    """``k`` distinct indices of ``range(n)``, uniformly at random and in random order.

    Large sparse draws use rejection of repeats (keeping first occurrences, i.e. sequential sampling
    without replacement): ``randperm`` costs O(n), about 8 ms per call at n = 60,000 on CPU.
    """
    if n <= max(4 * k, 16_384):
        return torch.randperm(n, generator=g)[:k]
    out = torch.randint(n, (k,), generator=g)
    while True:
        uniq, inv = torch.unique(out, return_inverse=True)
        if uniq.numel() == out.numel():
            return out
        first = torch.full_like(uniq, out.numel()).scatter_reduce_(0, inv, torch.arange(out.numel()), "amin")
        out = out[first.sort().values]  # drop repeats, keep draw order
        out = torch.cat([out, torch.randint(n, (k - out.numel(),), generator=g)])


def global_rng_state() -> dict[str, Any]:
    """torch, numpy, Python and CUDA global RNG states, as a checkpoint stores them (tensors, no pickled
    arrays, so ``torch.load(weights_only=True)`` reads them)."""
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": (numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]),
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
    }


def set_global_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`global_rng_state` returned (exact resume of anything drawing from them)."""
    torch.set_rng_state(state["torch"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    random.setstate(state["python"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
