"""Shared scheduling, RNG isolation and logging for the periodic evaluation callbacks.

DDP rules every subclass follows: ``evaluate`` runs on EVERY rank (the module's ``generate`` /
``class_probabilities`` may broadcast the posterior bank, and ``trainer.log_dir`` is itself a broadcast);
only rank 0 writes files or logs. ``evaluate`` runs under ``isolate_rng`` and ``no_grad``: sampler noise
comes from the global RNG on some samplers and must stay identical across ranks, so a callback must leave
it untouched (draws use the callback's own ``torch.Generator``; isolate_rng is the safety net).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.utilities.rank_zero import rank_zero_debug
from pytorch_lightning.utilities.seed import isolate_rng


class PeriodicCallback(Callback):
    """Runs ``evaluate`` every ``every_n_iterations`` completed iterations and once at the end of training.

    ``every_n_iterations <= 0`` disables the periodic runs (end of training only). The same iteration is
    never evaluated twice (e.g. when the last periodic run coincides with the end of training).
    """

    needs_generator = False  # True: skipped for a method that does not generate (protocol.OPTIONAL_DEFAULTS)

    def __init__(self, every_n_iterations: int) -> None:
        super().__init__()
        self.every_n_iterations = int(every_n_iterations)
        self.latest: dict[str, float] = {}
        self._last_iteration: int | None = None
        self._told: set[str] = set()

    # -- to implement ----------------------------------------------------------------------------------
    def evaluate(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
        """Compute (on every rank) and return the metrics to log; ``{}`` means nothing to log."""
        raise NotImplementedError

    # -- hooks -----------------------------------------------------------------------------------------
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        iteration = int(pl_module.iteration)
        if self.every_n_iterations > 0 and iteration > 0 and iteration % self.every_n_iterations == 0:
            self.run(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if any(getattr(c, "interrupted_at", None) is not None for c in getattr(trainer, "callbacks", [])):
            return  # stopped by Ctrl-C: the user wants out, and an unfinished run has no final metrics
        self.run(trainer, pl_module)

    def run(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
        """Evaluate now (all ranks), unless this iteration was already evaluated; log on rank 0."""
        iteration = int(pl_module.iteration)
        if iteration == self._last_iteration:
            return self.latest
        if self.needs_generator and not getattr(pl_module, "generates", True):
            self.info_once("generates", "the method has no generator; skipped.")
            return self.latest
        self._last_iteration = iteration
        with isolate_rng(include_cuda=pl_module.device.type == "cuda"), torch.no_grad():
            metrics = self.evaluate(trainer, pl_module)
        if metrics:
            self.latest = {k: float(v) for k, v in metrics.items()}
            log_metrics(trainer, self.latest, step=iteration)
        return self.latest

    def info_once(self, key: str, message: str) -> None:
        if key not in self._told:
            self._told.add(key)
            rank_zero_debug(f"[{type(self).__name__}] {message}")  # a callback that does not apply is no news

    # Resume: remember the last evaluated iteration so a resumed run does not repeat it.
    def state_dict(self) -> dict[str, Any]:
        return {"last_iteration": self._last_iteration, "latest": dict(self.latest)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._last_iteration = state_dict.get("last_iteration")
        self.latest = dict(state_dict.get("latest", {}))


def log_metrics(trainer: Trainer, metrics: Mapping[str, float], step: int) -> None:
    """``logger.log_metrics`` on every logger, rank 0 only (works outside ``self.log``'s allowed hooks)."""
    if not trainer.is_global_zero:
        return
    for logger in trainer.loggers:
        logger.log_metrics(dict(metrics), step=step)


def output_dir(trainer: Trainer) -> Path:
    """``trainer.log_dir`` (a broadcast: call on every rank), else ``default_root_dir``."""
    return Path(trainer.log_dir or trainer.default_root_dir)


def datamodule_attr(trainer: Trainer, name: str, default: Any = None) -> Any:
    datamodule = getattr(trainer, "datamodule", None)
    return default if datamodule is None else getattr(datamodule, name, default)


def seeded_generator(pl_module: LightningModule, seed: int) -> torch.Generator:
    """A fresh generator on the module's device (the device ``generate(n, generator=...)`` draws on)."""
    return torch.Generator(device=pl_module.device).manual_seed(int(seed))


def draw_z(pl_module: LightningModule, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` latents ``[n, z_dim]`` from the module's z prior if it exposes ``sample_z``, else N(0, I)."""
    sample_z = getattr(pl_module, "sample_z", None)
    if callable(sample_z):  # respects e.g. a uniform z prior
        return sample_z(1, n, generator)[0]
    return torch.randn(n, int(pl_module.z_dim), generator=generator, device=pl_module.device)
