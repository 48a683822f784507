"""The posterior bank: thinned snapshots of every generator and discriminator copy after burn-in."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from bayesgan.checkpointing import atomic_save

Snapshot = dict[str, dict[str, Tensor]]  # {"generator": state, "discriminator": state}, CPU tensors
PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
STORAGES = ("memory", "disk")
BANK_DIR = "bank"  # the disk bank's directory inside a run directory


def check_precision(precision: str, key: str = "bank.precision") -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"{key} must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def check_storage(storage: str, key: str = "bank.storage") -> None:
    if storage not in STORAGES:
        raise ValueError(f"{key} must be one of {', '.join(STORAGES)}, got {storage!r}")


class PosteriorBank:
    """Keeps at most ``max_snapshots`` snapshots, the most recent ones, taken every ``thin`` iterations
    once ``burn_in`` iterations have passed. Snapshots live on the CPU (rank 0 fills it under DDP).

    ``precision`` "bfloat16" or "float16" stores their floating-point tensors at half the size (in memory
    and in checkpoints); they are evaluated in the network's own precision (``Ensemble`` casts them back).

    ``storage`` "disk" keeps no snapshot in memory: each is written (atomically) to ``directory`` (set with
    ``attach``; a run directory's ``bank/``) as one file per network, ``snapshot_<iteration>_<network>.pt``,
    and read back whenever ``states`` is asked for it. Checkpoints then hold only the snapshots' iterations
    and file names, and loading one checks that the files are there. A file is never rewritten with other
    numbers and never deleted during training: any checkpoint kept may still name it, and a resumed run
    writes the same snapshots again (exact resume).
    """

    def __init__(
        self,
        burn_in: int = 0,
        thin: int = 100,
        max_snapshots: int = 10,
        precision: str = "float32",
        storage: str = "memory",
        directory: str | Path | None = None,
    ) -> None:
        if burn_in < 0:
            raise ValueError(f"bank.burn_in must be >= 0, got {burn_in}")
        if thin < 1:
            raise ValueError(f"bank.thin must be >= 1, got {thin}")
        if max_snapshots < 0:
            raise ValueError(f"bank.max_snapshots must be >= 0 (0 disables the bank), got {max_snapshots}")
        check_precision(precision)
        check_storage(storage)
        self.burn_in, self.thin, self.max_snapshots = burn_in, thin, max_snapshots
        self.precision, self.storage = precision, storage
        self.directory = None if directory is None else Path(directory)
        # Memory: the snapshots themselves; disk: their file stems (snapshot_<iteration>).
        self.snapshots: deque[Snapshot | str] = deque(maxlen=max_snapshots or None)
        self.iterations: deque[int] = deque(maxlen=max_snapshots or None)

    def attach(self, directory: str | Path) -> None:
        """Where a disk bank writes and reads its snapshots (for a run: ``<run directory>/bank``)."""
        self.directory = Path(directory)

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
        if self.storage == "disk":
            stem = f"snapshot_{iteration:07d}"
            for network, state in snapshot.items():
                atomic_save(state, self._file(stem, network))
            self.snapshots.append(stem)
        else:
            self.snapshots.append(snapshot)
        self.iterations.append(iteration)

    def _file(self, stem: str, network: str) -> Path:
        if self.directory is None:
            raise RuntimeError("a disk bank needs a directory: call bank.attach(<run directory>/bank) first")
        return self.directory / f"{stem}_{network}.pt"

    def keep_newest(self, count: int, stride: int = 1) -> None:
        """Drop all but ``count`` snapshots: the newest, then every ``stride``-th one counting back from it.

        The bank never feeds back into training, so ``keep_newest(k)`` leaves exactly the bank a run with
        ``bank_size=k`` would have ended with, and a stride s the bank of ``thin`` x s when the newest
        snapshot lies on that coarser grid. Used to choose burn-in and bank size from one finished run."""
        if count < 1 or stride < 1:
            raise ValueError(f"keep_newest needs count >= 1 and stride >= 1, got {count} and {stride}")
        kept = list(range(len(self) - 1, -1, -stride))[:count][::-1]
        snapshots, iterations = [self.snapshots[i] for i in kept], [self.iterations[i] for i in kept]
        self.snapshots.clear()
        self.iterations.clear()
        self.snapshots.extend(snapshots)
        self.iterations.extend(iterations)

    def __len__(self) -> int:
        return len(self.snapshots)

    def states(self, network: str) -> list[dict[str, Tensor]]:
        if self.storage == "memory":
            return [snapshot[network] for snapshot in self.snapshots]  # type: ignore[index]
        return [
            torch.load(self._file(stem, network), map_location="cpu", weights_only=True)  # type: ignore[arg-type]
            for stem in self.snapshots
        ]

    def state_dict(self) -> dict[str, Any]:
        if self.storage == "disk":  # the files stay where they are; the checkpoint names them
            directory = None if self.directory is None else str(self.directory.resolve())
            return {
                "storage": "disk",
                "directory": directory,
                "files": list(self.snapshots),
                "iterations": list(self.iterations),
            }
        return {"snapshots": list(self.snapshots), "iterations": list(self.iterations)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        storage = state.get("storage", "memory")
        if storage != self.storage:
            raise ValueError(
                f"the checkpoint's posterior bank is stored in {storage}, this run's in {self.storage} "
                "(posterior.bank_storage): use the setting the run was trained with"
            )
        self.snapshots.clear()
        self.iterations.clear()
        if storage == "memory":
            for iteration, snapshot in zip(state["iterations"], state["snapshots"], strict=True):
                self.add(iteration, snapshot)
            return
        if self.directory is None and state.get("directory"):
            self.directory = Path(state["directory"])  # not attached to a run (e.g. bayesgan-evaluate)
        for iteration, stem in zip(state["iterations"], state["files"], strict=True):
            for network in ("generator", "discriminator"):
                if not self._file(stem, network).is_file():
                    raise FileNotFoundError(
                        f"posterior bank snapshot {self._file(stem, network)} (iteration {iteration}) is "
                        "missing: a checkpoint with posterior.bank_storage=disk needs its run's bank/ files"
                    )
            self.snapshots.append(stem)
            self.iterations.append(iteration)
