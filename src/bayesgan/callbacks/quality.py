"""Image quality and mode coverage of the posterior predictive (pooled) and of each generator copy.

Reaches the model only through ``generate``, ``num_posterior_samples`` and ``data_shape``, so any model
family with that protocol is evaluated the same way.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from pytorch_lightning import LightningModule, Trainer
from torch import Tensor

from bayesgan.callbacks.base import PeriodicCallback, seeded_generator
from bayesgan.evaluation import DomainFeatures, classifier_dir, domain_classifier, labelled_images
from bayesgan.metrics.quality import ImageQuality
from bayesgan.metrics.stacked import StackedModes
from bayesgan.seeding import derived_generator, mix_seed


def real_images(datamodule: Any, idx: Tensor) -> Tensor:
    """Training images ``idx`` of a datamodule (stacked datasets build theirs from index triples)."""
    return datamodule.train_images(idx)


def per_generator_means(rows: list[dict[str, float]]) -> dict[str, float]:
    """``group/name`` over the copies -> ``group/per_generator_name_mean`` (NaN if any copy is NaN)."""
    out = {}
    for key in rows[0]:
        group, name = key.split("/", 1)
        out[f"{group}/per_generator_{name}_mean"] = sum(row[key] for row in rows) / len(rows)
    return out


class ImageQualityCallback(PeriodicCallback):
    """Logs ``quality/{fid,kid,precision,recall,density,coverage,classifier_score}`` and, on stacked
    datasets, ``modes/{covered,kl}``, pooled over the posterior (``num_samples`` split evenly over the S
    posterior generator samples: copies x bank snapshots) and per current generator copy
    (``num_samples_per_copy`` each, logged as ``..._per_generator_<metric>_mean``).

    The domain classifier is loaded or trained (and cached) when fit starts, on rank 0 first. Images of
    datasets without labelled train/test splits are skipped with a notice. Under DDP every rank generates
    and classifies its share of the samples and of ``num_real`` training images; torchmetrics gathers the
    states at ``compute``. ``seconds`` accumulates the time spent here (see bench/bench_metrics.py).
    """

    needs_generator = True

    def __init__(
        self,
        every_n_iterations: int = 500,
        num_samples: int = 2000,
        num_samples_per_copy: int = 500,
        num_real: int = 10_000,
        prdc_samples: int = 2000,
        nearest_k: int = 5,
        kid_subsets: int = 10,
        kid_subset_size: int = 1000,
        score_splits: int = 10,
        batch_size: int = 1000,
        per_copy: bool = True,
        classifier_seed: int = 0,
        cache_dir: str | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(every_n_iterations)
        self.num_samples, self.num_samples_per_copy, self.num_real = (
            num_samples,
            num_samples_per_copy,
            num_real,
        )
        self.metric_kwargs = {
            "nearest_k": nearest_k,
            "prdc_samples": prdc_samples,
            "kid_subsets": kid_subsets,
            "kid_subset_size": kid_subset_size,
            "score_splits": score_splits,
        }
        self.batch_size, self.per_copy, self.seed = batch_size, per_copy, seed
        self.classifier_seed, self.cache_dir = classifier_seed, cache_dir
        self.domain: DomainFeatures | None = None
        self.manifest: dict[str, Any] = {}
        self.quality: ImageQuality | None = None
        self.modes: StackedModes | None = None
        self.seconds = 0.0  # wall seconds spent here in total (classifier set-up included)
        self.timings: list[dict[str, float]] = []  # per evaluation: iteration, wall and CPU seconds

    # -- set-up ----------------------------------------------------------------------------------------
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage != "fit" or self.domain is not None or not getattr(pl_module, "generates", True):
            return  # nothing to measure without a generator: no domain classifier either
        start = time.perf_counter()
        found = labelled_images(getattr(trainer, "datamodule", None))
        if found is None or len(tuple(pl_module.data_shape)) != 3:
            self.info_once("nolabels", "no labelled image train/test split: no domain classifier, skipped.")
            return
        data, per_channel = found
        directory = classifier_dir(trainer.datamodule, self.cache_dir)
        if directory is not None and trainer.world_size > 1 and not trainer.is_global_zero:
            trainer.strategy.barrier()  # rank 0 trains and caches it; the others then load the cache
        classifier, self.manifest = domain_classifier(data, directory, self.classifier_seed)
        if directory is not None and trainer.world_size > 1 and trainer.is_global_zero:
            trainer.strategy.barrier()
        channels = int(pl_module.data_shape[0])
        self.domain = DomainFeatures(classifier, per_channel, channels)
        self.seconds += time.perf_counter() - start

    def _build(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Metrics and the real features, once per run (identical subset on every rank, then sharded)."""
        assert self.domain is not None
        # Moved here, not in setup: Lightning moves the module to its device after the callbacks' setup.
        self.domain.to(pl_module.device)
        self.quality = ImageQuality(self.domain, **self.metric_kwargs).to(pl_module.device)
        if self.domain.per_channel:
            classes = self.domain.classifier.num_classes
            self.modes = StackedModes(classes, self.domain.channels).to(pl_module.device)
        num_train = int(trainer.datamodule.num_train)
        g = derived_generator(self.seed, 0x5EA1)
        idx = torch.randperm(num_train, generator=g)[: min(self.num_real, num_train)].sort().values
        idx = idx[trainer.global_rank :: trainer.world_size]
        for part in idx.split(self.batch_size):
            self.quality.update_real(real_images(trainer.datamodule, part).to(pl_module.device))

    # -- evaluation ------------------------------------------------------------------------------------
    def evaluate(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
        if self.domain is None:
            return {}
        start, cpu_start = time.perf_counter(), time.process_time()
        if self.quality is None:
            self._build(trainer, pl_module)
        world = trainer.world_size
        gen = seeded_generator(pl_module, mix_seed(self.seed, trainer.global_rank))
        num_posterior = pl_module.num_posterior_samples("generator")
        per_sample = math.ceil(self.num_samples / num_posterior / world)
        pooled = pl_module.generate(per_sample, use_bank=True, generator=gen)  # [S, n, C, H, W]
        metrics = self._score(trainer, pooled.flatten(0, 1))
        if self.per_copy:
            n = math.ceil(self.num_samples_per_copy / world)
            copies = pl_module.generate(n, use_bank=False, generator=gen)  # [copies, n, C, H, W]
            metrics |= per_generator_means([self._score(trainer, copy) for copy in copies])
        wall = time.perf_counter() - start
        self.seconds += wall
        self.timings.append(
            {
                "iteration": pl_module.iteration,
                "seconds": wall,
                "cpu_seconds": time.process_time() - cpu_start,
            }
        )
        return metrics

    def _score(self, trainer: Trainer, samples: Tensor) -> dict[str, float]:
        """Every metric of one sample set (NaN for all if a sample is not finite: a diverged generator)."""
        assert self.quality is not None and self.domain is not None
        keys = [f"quality/{k}" for k in ("fid", "kid", "precision", "recall", "density", "coverage")]
        keys += ["quality/classifier_score"] + (
            ["modes/covered", "modes/kl"] if self.modes is not None else []
        )
        bad = torch.tensor(float(not bool(torch.isfinite(samples).all())), device=samples.device)
        if trainer.world_size > 1:  # every rank must skip the collective compute() together
            bad = trainer.strategy.reduce(bad, reduce_op="sum")
        if float(bad) > 0:
            return dict.fromkeys(keys, math.nan)
        torch.manual_seed(self.seed)  # KID subsets and the score's split permutation (global RNG is isolated)
        self.quality.reset()
        if self.modes is not None:
            self.modes.reset()
        for part in samples.split(self.batch_size):
            if self.modes is not None:
                self.modes.update(self.domain.channel_predictions(part))
            self.quality.update_fake(part)
        out = {f"quality/{k}": v for k, v in self.quality.compute().items()}
        if self.modes is not None:
            out |= {f"modes/{k}": float(v) for k, v in self.modes.compute().items()}
        return {k: out[k] for k in keys}
