"""Precision, recall, density and coverage (Kynkäänniemi et al. 2019; Naeem et al. 2020) as a Metric.

With real features X (N), fake features Y (M) and r_k(x) the distance from x to its k-th nearest neighbour
in its own set (the ``prdc`` package's definitions, strict ``<``):
- precision = fraction of Y inside some real ball B(X_i, r_k(X_i));
- recall    = fraction of X inside some fake ball B(Y_j, r_k(Y_j));
- density   = (1 / kM) sum_j #{i : Y_j in B(X_i, r_k(X_i))}   (≈ 1 for identical distributions);
- coverage  = fraction of real balls B(X_i, r_k(X_i)) that contain at least one Y_j.
Distances are computed in float64, in row chunks, so 10k x 10k never materialises a full N x M matrix.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat

_CHUNK = 2048


def _kth_neighbour_radii(x: Tensor, k: int) -> Tensor:
    """Distance from each row of ``x`` to its k-th nearest other row (self, at distance 0, excluded)."""
    if x.shape[0] <= k:
        raise ValueError(f"PRDC with nearest_k={k} needs more than {k} samples per set, got {x.shape[0]}")
    return torch.cat([torch.cdist(c, x).topk(k + 1, largest=False).values[:, k] for c in x.split(_CHUNK)])


def prdc(real: Tensor, fake: Tensor, nearest_k: int = 5) -> dict[str, Tensor]:
    """PRDC of feature sets ``real`` [N, d] and ``fake`` [M, d] (float64 tensors returned)."""
    real, fake = real.double().flatten(1), fake.double().flatten(1)
    r_real, r_fake = _kth_neighbour_radii(real, nearest_k), _kth_neighbour_radii(fake, nearest_k)
    fake_in_real = torch.zeros(fake.shape[0], dtype=torch.bool, device=fake.device)
    density_hits = torch.zeros(fake.shape[0], dtype=torch.float64, device=fake.device)
    recall_hits, coverage_hits = [], []
    for rows, radii in zip(real.split(_CHUNK), r_real.split(_CHUNK), strict=True):
        dist = torch.cdist(rows, fake)  # [chunk, M]
        inside_real = dist < radii[:, None]
        fake_in_real |= inside_real.any(0)
        density_hits += inside_real.sum(0)
        recall_hits.append((dist < r_fake[None, :]).any(1))
        coverage_hits.append(dist.min(1).values < radii)
    return {
        "precision": fake_in_real.double().mean(),
        "recall": torch.cat(recall_hits).double().mean(),
        "density": density_hits.sum() / (nearest_k * fake.shape[0]),
        "coverage": torch.cat(coverage_hits).double().mean(),
    }


class PRDC(Metric):
    """Streaming PRDC: ``update(x, real)`` stores features (``feature(x)``, or ``x`` itself if no module).

    ``max_samples`` caps each set (the first ones are used): the cost is O((N + M)^2). As in torchmetrics'
    FID, ``reset_real_features=False`` keeps the real features across ``reset()`` so they are computed once.
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(
        self,
        feature: nn.Module | None = None,
        nearest_k: int = 5,
        max_samples: int | None = None,
        reset_real_features: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if nearest_k < 1:
            raise ValueError(f"nearest_k must be >= 1, got {nearest_k}")
        self.feature, self.nearest_k, self.max_samples = feature, int(nearest_k), max_samples
        self.reset_real_features = reset_real_features
        self.add_state("real_features", default=[], dist_reduce_fx="cat")
        self.add_state("fake_features", default=[], dist_reduce_fx="cat")

    def update(self, x: Tensor, real: bool) -> None:
        features = (self.feature(x) if self.feature is not None else x).flatten(1)
        (self.real_features if real else self.fake_features).append(features.detach())

    def compute(self) -> dict[str, Tensor]:
        real, fake = dim_zero_cat(self.real_features), dim_zero_cat(self.fake_features)
        if self.max_samples is not None:
            real, fake = real[: self.max_samples], fake[: self.max_samples]
        return prdc(real, fake, self.nearest_k)

    def reset(self) -> None:
        real = list(self.real_features)
        super().reset()
        if not self.reset_real_features:
            self.real_features = real
