"""The paper's JS divergence (PCA-2 + KDE) for vector data such as ``dataset=synthetic``."""

from __future__ import annotations

import math

import torch
from pytorch_lightning import LightningModule, Trainer

from bayesgan.callbacks.base import PeriodicCallback, seeded_generator
from bayesgan.metrics.synthetic_js import SyntheticJS


class SyntheticJSCallback(PeriodicCallback):
    """Logs ``synthetic/js`` on vector data of dimension > ``min_dim`` (2-D toys have mode coverage).

    Pooled: ``num_samples`` split evenly over the S posterior generator samples; per generator copy:
    ``num_samples`` each, logged as ``synthetic/per_generator_js_mean``. Both are compared with the real
    data through KDEs of ``max_points`` points each (equal n). Every rank computes the same values from the
    same seeded latents; rank 0 logs them.
    """

    needs_generator = True

    def __init__(
        self,
        every_n_iterations: int = 100,
        num_samples: int = 2000,
        max_points: int = 2000,
        per_copy: bool = True,
        min_dim: int = 2,
        seed: int = 0,
    ) -> None:
        super().__init__(every_n_iterations)
        self.num_samples, self.max_points, self.per_copy = num_samples, max_points, per_copy
        self.min_dim, self.seed = min_dim, seed
        self.metric: SyntheticJS | None = None

    def _js(self, samples: torch.Tensor) -> float:
        assert self.metric is not None
        self.metric.reset()
        self.metric.update(samples.cpu())
        return float(self.metric.compute())

    def evaluate(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
        shape = tuple(pl_module.data_shape)
        splits = getattr(getattr(trainer, "datamodule", None), "splits", None)
        if len(shape) != 1 or shape[0] <= self.min_dim or splits is None:
            self.info_once(
                "shape", f"data_shape {shape} is not vector data of dim > {self.min_dim}; skipped."
            )
            return {}
        if self.metric is None:
            self.metric = SyntheticJS(
                splits.train_x, max_points=self.max_points, seed=self.seed, sync_on_compute=False
            )
        gen = seeded_generator(pl_module, self.seed)
        num_posterior = pl_module.num_posterior_samples("generator")
        pooled = pl_module.generate(math.ceil(self.num_samples / num_posterior), use_bank=True, generator=gen)
        metrics = {"synthetic/js": self._js(pooled.flatten(0, 1))}
        if self.per_copy:
            copies = pl_module.generate(self.num_samples, use_bank=False, generator=gen)
            values = [self._js(copy) for copy in copies]
            metrics["synthetic/per_generator_js_mean"] = sum(values) / len(values)
        return metrics
