"""Mode coverage of the posterior predictive (pooled) and of each current generator copy."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from pytorch_lightning import LightningModule, Trainer

from bayesgan.callbacks.base import PeriodicCallback, datamodule_attr, seeded_generator
from bayesgan.metrics.mode_coverage import mode_coverage, null_coverage


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values)


class ModeCoverageCallback(PeriodicCallback):
    """Logs ``coverage/*`` when ``trainer.datamodule.modes`` is not None.

    - pooled: ``num_samples`` samples split evenly over the S posterior generator samples (bank snapshots x
      copies) -> ``coverage/modes``, ``coverage/high_quality``, ``coverage/reverse_kl``;
    - per generator: each current generator copy on ``num_samples`` samples of its own ->
      ``coverage/per_generator_{modes_mean, modes_min, high_quality_mean, reverse_kl_mean}`` (a collapsed
      copy hides inside a well-covering mixture, so both views are logged);
    - the null reference: the same scores of ``num_samples`` structureless samples (no modes, the data's
      spread; :func:`~bayesgan.metrics.mode_coverage.null_coverage`) -> ``null/{modes, high_quality,
      reverse_kl}``, so every report shows what chance scores beside the model.
    The mode std comes from ``std`` or ``datamodule.mode_std`` (skipped if neither); the HQ threshold (in
    stds) from ``threshold``, the datamodule's ``hq_threshold``, or 3 (VEEGAN's 2-D value; 10 for 1200-D).
    Every rank computes the same values (same seeded latents); rank 0 logs them.
    """

    needs_generator = True

    def __init__(
        self,
        every_n_iterations: int = 500,
        num_samples: int = 2500,
        seed: int = 0,
        std: float | None = None,
        threshold: float | None = None,
    ) -> None:
        super().__init__(every_n_iterations)
        self.num_samples = num_samples
        self.seed = seed
        self.std = std
        self.threshold = threshold

    def _std(self, trainer: Trainer) -> float | None:
        std = self.std if self.std is not None else datamodule_attr(trainer, "mode_std")
        return None if std is None else float(std)

    def evaluate(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
        modes = datamodule_attr(trainer, "modes")
        if modes is None:
            self.info_once("modes", "datamodule has no `modes`; mode coverage skipped.")
            return {}
        modes = torch.as_tensor(modes, dtype=torch.float32)
        std = self._std(trainer)
        if std is None:  # e.g. the paper's synthetic data: modes but no isotropic std
            self.info_once("std", "no mode std (pass std= or set datamodule.mode_std); coverage skipped.")
            return {}
        threshold = self.threshold or datamodule_attr(trainer, "hq_threshold") or 3.0
        # Same seeded latents every evaluation (comparable curves) and on every rank (identical values).
        gen = seeded_generator(pl_module, self.seed)

        # Pooled posterior predictive: num_samples split evenly over the S posterior generator samples.
        num_posterior = pl_module.num_posterior_samples("generator")
        per_sample = max(1, self.num_samples // num_posterior)
        pooled = pl_module.generate(per_sample, use_bank=True, generator=gen)
        pooled = pooled.reshape(num_posterior * per_sample, -1).cpu()
        out = mode_coverage(pooled, modes, std, threshold)
        metrics = {
            "coverage/modes": out["modes_captured"],
            "coverage/high_quality": out["high_quality"],
            "coverage/reverse_kl": out["reverse_kl"],
        }

        copies = pl_module.generate(self.num_samples, use_bank=False, generator=gen)
        copies = copies.reshape(copies.shape[0], self.num_samples, -1).cpu()
        per_copy = [mode_coverage(x, modes, std, threshold) for x in copies]
        captured = torch.tensor([c["modes_captured"] for c in per_copy])
        metrics |= {
            "coverage/per_generator_modes_mean": float(captured.mean()),
            "coverage/per_generator_modes_min": float(captured.min()),
            "coverage/per_generator_high_quality_mean": _mean(c["high_quality"] for c in per_copy),
            "coverage/per_generator_reverse_kl_mean": _mean(c["reverse_kl"] for c in per_copy),
        }
        null = null_coverage(modes, std, self.num_samples, self.seed, threshold)
        metrics |= {f"null/{k.replace('_captured', '')}": v for k, v in null.items()}
        return metrics
