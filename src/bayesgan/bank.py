"""The posterior bank: thinned snapshots of every generator and discriminator copy after burn-in."""

from __future__ import annotations

from collections import deque
from typing import Any

import torch
from torch import Tensor

Snapshot = dict[str, dict[str, Tensor]]  # {"generator": state, "discriminator": state}, CPU tensors
PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def check_precision(precision: str, key: str = "bank.precision") -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"{key} must be one of {', '.join(PRECISIONS)}, got {precision!r}")


class PosteriorBank:
    """Keeps at most ``max_snapshots`` snapshots, the most recent ones, taken every ``thin`` iterations
    once ``burn_in`` iterations have passed. Snapshots live on the CPU (rank 0 fills it under DDP).

    ``precision`` "bfloat16" or "float16" stores their floating-point tensors at half the size (in memory
    and in checkpoints); they are evaluated in the network's own precision (``Ensemble`` casts them back).
    """

    def __init__(
        self, burn_in: int = 0, thin: int = 100, max_snapshots: int = 10, precision: str = "float32"
    ) -> None:
        if burn_in < 0:
            raise ValueError(f"bank.burn_in must be >= 0, got {burn_in}")
        if thin < 1:
            raise ValueError(f"bank.thin must be >= 1, got {thin}")
        if max_snapshots < 0:
            raise ValueError(f"bank.max_snapshots must be >= 0 (0 disables the bank), got {max_snapshots}")
        check_precision(precision)
        self.burn_in, self.thin, self.max_snapshots = burn_in, thin, max_snapshots
        self.precision = precision
        self.snapshots: deque[Snapshot] = deque(maxlen=max_snapshots or None)
        self.iterations: deque[int] = deque(maxlen=max_snapshots or None)

    def due(self, iteration: int) -> bool:
        """Whether the state after ``iteration`` completed iterations belongs in the bank."""
        past_burn_in = iteration - self.burn_in
        return self.max_snapshots > 0 and past_burn_in > 0 and past_burn_in % self.thin == 0

    def add(self, iteration: int, snapshot: Snapshot) -> None:
        dtype = PRECISIONS[self.precision]
        if dtype != torch.float32:
            snapshot = {
                network: {k: t.to(dtype) if t.is_floating_point() else t for k, t in state.items()}
                for network, state in snapshot.items()
            }
        self.snapshots.append(snapshot)
        self.iterations.append(iteration)

    def __len__(self) -> int:
        return len(self.snapshots)

    def states(self, network: str) -> list[dict[str, Tensor]]:
        return [snapshot[network] for snapshot in self.snapshots]

    def state_dict(self) -> dict[str, Any]:
        return {"snapshots": list(self.snapshots), "iterations": list(self.iterations)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.snapshots.clear()
        self.iterations.clear()
        for iteration, snapshot in zip(state["iterations"], state["snapshots"], strict=True):
            self.add(iteration, snapshot)
