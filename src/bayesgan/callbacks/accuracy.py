"""Semi-supervised test accuracy of the Bayesian-model-averaged posterior discriminator samples."""

from __future__ import annotations

from typing import Any

import torch
from pytorch_lightning import LightningModule, Trainer
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset, Subset

from bayesgan.callbacks.base import PeriodicCallback
from bayesgan.metrics.classification import EnsembleClassification


def shard_loader(loader: DataLoader, rank: int, world_size: int) -> DataLoader:
    """This rank's disjoint share of a map-style ``loader`` (indices ``rank::world_size``, no padding).

    ``datamodule.test_dataloader()`` called by hand is not sharded by Lightning; without this every rank
    would evaluate the whole test set. Loaders that are already distributed, iterable or use a custom
    batch sampler are returned unchanged (then the synced metric counts duplicates, leaving ratios intact).
    """
    dataset = loader.dataset
    if (
        world_size <= 1
        or isinstance(loader.sampler, DistributedSampler)
        or isinstance(dataset, IterableDataset)
        or loader.batch_size is None
    ):
        return loader
    return DataLoader(
        Subset(dataset, range(rank, len(dataset), world_size)),
        batch_size=loader.batch_size,
        shuffle=False,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
    )


class SemiSupervisedAccuracy(PeriodicCallback):
    """BMA metrics over all posterior discriminator samples on the full test set, logged as ``test/*``.

    Keys: ``test/bma_accuracy``, ``test/member_accuracy``, ``test/bma_nll``, ``test/bma_brier``,
    ``test/bma_ece`` (see :class:`~bayesgan.metrics.EnsembleClassification`). Skipped unless
    ``pl_module.semi_supervised``. Test batches are dicts with ``"x"`` and ``"y"``.
    """

    def __init__(self, every_n_iterations: int = 500, n_bins: int = 15) -> None:
        super().__init__(every_n_iterations)
        self.n_bins = n_bins

    def evaluate(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
        if not getattr(pl_module, "semi_supervised", False):
            self.info_once("unsup", "module is not semi-supervised; test accuracy skipped.")
            return {}
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is None or not hasattr(datamodule, "test_dataloader"):
            self.info_once("nodata", "no datamodule with test_dataloader(); test accuracy skipped.")
            return {}
        device = pl_module.device
        loader = shard_loader(datamodule.test_dataloader(), trainer.global_rank, trainer.world_size)
        num_calls = self._num_calls(trainer, loader, device)

        metric: EnsembleClassification | None = None
        last_x: torch.Tensor | None = None
        batches, calls = iter(loader), 0
        while num_calls is None or calls < num_calls:
            calls += 1
            batch: Any = next(batches, None)
            if batch is None and num_calls is None:
                break
            if batch is None:
                # This rank ran out of batches: repeat a call and discard it, because class_probabilities
                # may be a collective and every rank must make the same number of calls.
                x = last_x if last_x is not None else torch.zeros(0, *pl_module.data_shape, device=device)
                pl_module.class_probabilities(x, use_bank=True)
                continue
            x, y = batch["x"].to(device), batch["y"].to(device)
            probs = pl_module.class_probabilities(x, use_bank=True)  # [S, B, K]
            if metric is None:
                metric = EnsembleClassification(probs.shape[-1], n_bins=self.n_bins).to(device)
            metric.update(probs, y)
            last_x = x
        if metric is None:  # empty test set on this rank; the class count is still needed for the sync
            metric = EnsembleClassification(self._num_classes(pl_module, trainer), n_bins=self.n_bins)
            metric = metric.to(device)
        return {f"test/{k}": float(v) for k, v in metric.compute().items()}  # compute() syncs ranks

    @staticmethod
    def _num_calls(trainer: Trainer, loader: DataLoader, device: torch.device) -> int | None:
        """Max batch count over ranks (None: unknown length, single process only)."""
        try:
            n = len(loader)
        except TypeError:
            return None
        if trainer.world_size <= 1:
            return n
        return int(trainer.strategy.reduce(torch.tensor(n, device=device), reduce_op="max"))

    @staticmethod
    def _num_classes(pl_module: LightningModule, trainer: Trainer) -> int:
        for owner in (pl_module, getattr(trainer, "datamodule", None)):
            if getattr(owner, "num_classes", None) is not None:
                return int(owner.num_classes)
        raise ValueError("empty test shard and neither the module nor the datamodule defines num_classes")
