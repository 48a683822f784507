"""Stacked-MNIST mode coverage (VEEGAN / PacGAN protocol, metrics-and-protocols.md §2).

A sample's mode is the tuple of its channels' classified digits, (d_0, ..., d_{C-1}) -> index
sum_c d_c K^(C-1-c): 1,000 modes for three MNIST digits. Every sample counts (no confidence threshold).
- ``covered``: number of modes seen at least once (out of K^C);
- ``kl``: KL(q ‖ uniform) in nats, q the empirical mode histogram zero-padded to K^C entries; 0 for a
  perfectly uniform histogram, log K^C (6.908 for 1,000 modes) for a single mode.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric


def mode_index(predictions: Tensor, num_classes: int = 10) -> Tensor:
    """[B, C] per-channel classes -> [B] mode index (the first channel is the most significant digit)."""
    if predictions.ndim != 2:
        raise ValueError(f"predictions must be [B, C], got shape {tuple(predictions.shape)}")
    weights = num_classes ** torch.arange(predictions.shape[1] - 1, -1, -1, device=predictions.device)
    return (predictions.long() * weights).sum(1)


def histogram_summary(counts: Tensor) -> dict[str, Tensor]:
    """``covered`` and ``kl`` (to uniform) of a mode histogram [num_modes]."""
    counts = counts.to(torch.float64)
    q = counts / counts.sum().clamp_min(1)
    nz = q > 0
    kl = (q[nz] * torch.log(q[nz] * counts.numel())).sum()
    return {"covered": nz.sum().to(torch.float64), "kl": kl}


class StackedModes(Metric):
    """Histogram over ``num_classes ** channels`` modes from per-channel predictions (summed over ranks)."""

    full_state_update = False
    higher_is_better = None  # covered: higher; kl: lower
    is_differentiable = False

    def __init__(self, num_classes: int = 10, channels: int = 3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_classes, self.channels = int(num_classes), int(channels)
        num_modes = self.num_classes**self.channels
        self.add_state("counts", default=torch.zeros(num_modes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, predictions: Tensor) -> None:
        if predictions.ndim != 2 or predictions.shape[1] != self.channels:
            raise ValueError(f"predictions must be [B, {self.channels}], got {tuple(predictions.shape)}")
        idx = mode_index(predictions, self.num_classes).to(self.counts.device)
        self.counts += torch.bincount(idx, minlength=self.counts.numel())

    def compute(self) -> dict[str, Tensor]:
        return histogram_summary(self.counts)
