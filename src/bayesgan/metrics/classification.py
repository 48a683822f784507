"""Bayesian-model-averaged classification metrics for an ensemble of posterior discriminator samples.

Convention (the authors' ``get_test_accuracy``): every posterior sample gives K-class probabilities
(already conditioned on "real"; the fake class is never part of the prediction). The BMA prediction is
``p(y|x) = mean_s p(y|x, theta_s)`` and the label its arg-max over the K classes.
- ``bma_accuracy``: accuracy of the BMA arg-max.
- ``member_accuracy``: mean over posterior samples of each sample's own accuracy.
- ``bma_nll``: mean of ``-log p_bma(y|x)`` (probabilities clamped at 1e-12).
- ``bma_brier``: mean over examples of ``sum_k (p_bma_k - onehot_k)^2`` (multi-class Brier, in [0, 2]).
- ``bma_ece``: top-label ECE with ``n_bins`` uniform bins, the same binning as torchmetrics'
  ``MulticlassCalibrationError(norm="l1")``, kept as per-bin sums so it reduces across ranks with "sum".
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric

_EPS = 1e-12


class EnsembleClassification(Metric):
    """Accumulates BMA metrics from ``member_probs`` ``[S, B, K]`` and ``target`` ``[B]``."""

    full_state_update = False
    higher_is_better = None
    is_differentiable = False

    def __init__(self, num_classes: int, n_bins: int = 15, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.n_bins = int(n_bins)
        f64 = torch.float64
        self.add_state("total", default=torch.tensor(0.0, dtype=f64), dist_reduce_fx="sum")
        self.add_state("bma_correct", default=torch.tensor(0.0, dtype=f64), dist_reduce_fx="sum")
        self.add_state("member_correct", default=torch.tensor(0.0, dtype=f64), dist_reduce_fx="sum")
        self.add_state("nll_sum", default=torch.tensor(0.0, dtype=f64), dist_reduce_fx="sum")
        self.add_state("brier_sum", default=torch.tensor(0.0, dtype=f64), dist_reduce_fx="sum")
        # torchmetrics uses n_bins + 1 slots: a confidence of exactly 1.0 lands in its own last slot.
        for name in ("bin_count", "bin_conf", "bin_acc"):
            self.add_state(name, default=torch.zeros(self.n_bins + 1, dtype=f64), dist_reduce_fx="sum")

    def update(self, member_probs: Tensor, target: Tensor) -> None:
        if member_probs.ndim == 2:  # a single posterior sample
            member_probs = member_probs.unsqueeze(0)
        if member_probs.ndim != 3 or member_probs.shape[-1] != self.num_classes:
            shape = tuple(member_probs.shape)
            raise ValueError(f"member_probs must be [S, B, {self.num_classes}], got {shape}")
        if target.shape != member_probs.shape[1:2]:
            raise ValueError(f"target must be [B={member_probs.shape[1]}], got {tuple(target.shape)}")
        probs = member_probs.detach().to(torch.float64)
        target = target.to(probs.device).long()
        bma = probs.mean(dim=0)  # [B, K]

        self.total += target.numel()
        self.bma_correct += (bma.argmax(dim=-1) == target).sum()
        # Sum over samples and examples; divided by S * total in compute -> mean per-sample accuracy.
        self.member_correct += (probs.argmax(dim=-1) == target).to(torch.float64).mean(dim=0).sum()
        p_true = bma.gather(1, target[:, None]).squeeze(1)
        self.nll_sum += -torch.log(p_true.clamp_min(_EPS)).sum()
        onehot = torch.nn.functional.one_hot(target, self.num_classes).to(torch.float64)
        self.brier_sum += ((bma - onehot) ** 2).sum()

        conf, pred = bma.max(dim=-1)
        boundaries = torch.linspace(0, 1, self.n_bins + 1, dtype=torch.float64, device=conf.device)
        idx = torch.bucketize(conf, boundaries, right=True) - 1
        self.bin_count.scatter_add_(0, idx, torch.ones_like(conf))
        self.bin_conf.scatter_add_(0, idx, conf)
        self.bin_acc.scatter_add_(0, idx, (pred == target).to(torch.float64))

    def compute(self) -> dict[str, Tensor]:
        total = self.total.clamp_min(1.0)
        nonempty = self.bin_count > 0
        gap = (self.bin_acc[nonempty] - self.bin_conf[nonempty]).abs()  # |sum acc - sum conf| per bin
        return {
            "bma_accuracy": self.bma_correct / total,
            "member_accuracy": self.member_correct / total,
            "bma_nll": self.nll_sum / total,
            "bma_brier": self.brier_sum / total,
            # sum_b (n_b / N) |acc_b - conf_b| = sum_b |sum_acc_b - sum_conf_b| / N
            "bma_ece": gap.sum() / total,
        }
