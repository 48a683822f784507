"""Sample quality in a domain classifier's feature space: FID, KID, PRDC and the classifier score.

torchmetrics' FID and KID are imported from their submodules and given the classifier's penultimate layer
as ``feature`` (an ``nn.Module`` with ``num_features``), so neither torch-fidelity nor Inception weights
are needed; images go in unchanged (floats in [-1, 1]; ``normalize`` only matters for Inception). The
classifier score is torchmetrics' Inception score with the classifier's logits: exp(E_x KL(p(y|x) ‖ p(y))),
at most the number of classes. These are "FID-<classifier>" numbers, not comparable with Inception FID, and
FID is biased by the sample count: compare runs only at equal ``num_fake``.

Real features are added once (``reset_real_features=False``) and reused by every later evaluation.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.inception import InceptionScore
from torchmetrics.image.kid import KernelInceptionDistance

from bayesgan.evaluation.features import DomainFeatures, FeatureView
from bayesgan.metrics.prdc import PRDC

# Direction of each logged key, for reports (True: higher is better).
HIGHER_IS_BETTER = {
    "fid": False,
    "kid": False,
    "precision": True,
    "recall": True,
    "density": True,
    "coverage": True,
    "classifier_score": True,
}


class ImageQuality(nn.Module):
    """FID, KID, PRDC and classifier score of fake images against real ones, sharing one classifier pass.

    ``update_real`` once, then any number of rounds of ``update_fake`` ... ``compute`` ... ``reset``.
    ``kid_subset_size`` is lowered to the smaller set's size when needed; PRDC uses at most
    ``prdc_samples`` of each set (its cost is quadratic); the classifier score uses ``score_splits`` splits.
    """

    def __init__(
        self,
        domain: DomainFeatures,
        *,
        nearest_k: int = 5,
        prdc_samples: int = 5000,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        score_splits: int = 10,
        **metric_kwargs,
    ) -> None:
        super().__init__()
        self.domain = domain
        features, logits = FeatureView(domain, "features"), FeatureView(domain, "logits")
        common = {"reset_real_features": False, **metric_kwargs}
        self.fid = FrechetInceptionDistance(feature=features, **common)
        self.kid = KernelInceptionDistance(
            feature=features, subsets=kid_subsets, subset_size=kid_subset_size, **common
        )
        self.prdc = PRDC(features, nearest_k=nearest_k, max_samples=prdc_samples, **common)
        self.score = InceptionScore(feature=logits, splits=score_splits, **metric_kwargs)
        self.kid_subset_size, self.score_splits = kid_subset_size, score_splits

    @torch.no_grad()
    def update_real(self, images: Tensor) -> None:
        for metric in (self.fid, self.kid, self.prdc):
            metric.update(images, real=True)
        self.domain.forget()

    @torch.no_grad()
    def update_fake(self, images: Tensor) -> None:
        for metric in (self.fid, self.kid, self.prdc):
            metric.update(images, real=False)
        self.score.update(images)
        self.domain.forget()

    @property
    def num_real(self) -> int:
        return int(self.fid.real_features_num_samples)

    @torch.no_grad()
    def compute(self) -> dict[str, float]:
        num_fake = int(self.fid.fake_features_num_samples)
        self.kid.subset_size = max(2, min(self.kid_subset_size, num_fake, self.num_real))
        self.score.splits = max(1, min(self.score_splits, num_fake // 2))
        kid_mean, _ = self.kid.compute()
        score_mean, _ = self.score.compute()
        out = {"fid": self.fid.compute(), "kid": kid_mean, "classifier_score": score_mean}
        out |= self.prdc.compute()
        return {k: float(v) for k, v in out.items()}

    def reset(self) -> None:
        """Forget the fake images (the real features stay)."""
        for metric in (self.fid, self.kid, self.prdc, self.score):
            metric.reset()
