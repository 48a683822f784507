"""Mode coverage of a Gaussian-mixture toy (VEEGAN / PacGAN protocol).

A sample is *high quality* (HQ) when its Euclidean distance to the nearest mode is below
``threshold * std`` (isotropic modes of equal std, so this equals PacGAN's Mahalanobis rule).
- ``modes_captured``: number of modes that are the nearest mode of at least one HQ sample.
- ``high_quality``: 100 * #HQ / #samples.
- ``reverse_kl``: KL(q || uniform) in nats, q = histogram of the HQ samples over their nearest modes.
  With no HQ sample at all q is undefined; we report log K, the value of total collapse, so the
  metric stays finite and "worst" rather than NaN.
Non-finite samples (a diverged generator) make every metric NaN, so divergence is never reported as a
plausible-looking "0 modes".

What chance scores (``null_coverage``): a structureless reference with the data's spread but no modes, scored
the same way. For a ring, uniform angle with the data's radial blur; otherwise a uniform box covering the
modes. A model is only credible where it beats this row (a blurred ring captures all 8 ring modes).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchmetrics import Metric


def _validate(samples: Tensor, modes: Tensor) -> Tensor:
    if modes.ndim != 2:
        raise ValueError(f"modes must be [K, d], got shape {tuple(modes.shape)}")
    samples = samples.reshape(samples.shape[0], -1) if samples.ndim != 2 else samples
    if samples.shape[1] != modes.shape[1]:
        raise ValueError(f"samples have dim {samples.shape[1]} but modes have dim {modes.shape[1]}")
    return samples


def hq_mode_counts(samples: Tensor, modes: Tensor, std: float, threshold: float = 3.0) -> Tensor:
    """Per-mode count of HQ samples (``[K]``, int64); samples that are not HQ are not counted."""
    samples = _validate(samples, modes)
    modes = modes.to(device=samples.device, dtype=torch.float64)
    # float64 + no-matmul distance: the HQ radius (e.g. 0.03) is tiny next to |x|^2, where the
    # matmul form of cdist loses precision.
    dist = torch.cdist(samples.to(torch.float64), modes, compute_mode="donot_use_mm_for_euclid_dist")
    nearest_dist, nearest = dist.min(dim=1)
    hq = nearest_dist < threshold * std
    return torch.bincount(nearest[hq], minlength=modes.shape[0])


def _summarize(counts: Tensor, total: Tensor | int, nonfinite: Tensor | int = 0) -> dict[str, Tensor]:
    if int(nonfinite) > 0:
        nan = torch.tensor(float("nan"), dtype=torch.float64, device=counts.device)
        return {"modes_captured": nan, "high_quality": nan, "reverse_kl": nan}
    counts = counts.to(torch.float64)
    num_modes = counts.numel()
    num_hq = counts.sum()
    total_t = torch.as_tensor(total, dtype=torch.float64, device=counts.device)
    if num_hq > 0:
        q = counts / num_hq
        nz = q > 0
        reverse_kl = (q[nz] * torch.log(q[nz] * num_modes)).sum()
    else:
        reverse_kl = torch.tensor(math.log(num_modes), dtype=torch.float64, device=counts.device)
    high_quality = 100.0 * num_hq / total_t if total_t > 0 else torch.zeros_like(num_hq)
    return {
        "modes_captured": (counts > 0).sum().to(torch.float64),
        "high_quality": high_quality,
        "reverse_kl": reverse_kl,
    }


def mode_coverage(samples: Tensor, modes: Tensor, std: float, threshold: float = 3.0) -> dict[str, float]:
    """Functional mode coverage of ``samples`` ``[n, d]`` against ``modes`` ``[K, d]``."""
    counts = hq_mode_counts(samples, modes, std, threshold)
    nonfinite = int((~torch.isfinite(samples)).any(dim=-1).sum()) if samples.numel() else 0
    return {k: float(v) for k, v in _summarize(counts, samples.shape[0], nonfinite).items()}


def structureless_samples(modes: Tensor, std: float, n: int, generator: torch.Generator) -> Tensor:
    """``n`` samples of the structureless reference for ``modes`` ``[K, d]`` (float32, CPU).

    2-D modes on a circle (K ≥ 3, equidistant from their centroid): uniform angle, radius = the circle's
    radius + N(0, std²) (the data's radial blur). Anything else: uniform on the modes' bounding box, padded
    on every side by half the smallest distance between two modes (the grid {−4..4}² → [−5, 5]²).
    """
    modes = torch.as_tensor(modes, dtype=torch.float64).cpu()
    centre = modes.mean(0)
    radii = (modes - centre).norm(dim=1)
    if modes.shape[1] == 2 and modes.shape[0] >= 3 and torch.allclose(radii, radii.mean(), rtol=1e-6):
        angle = 2 * math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
        radius = radii.mean() + std * torch.randn(n, generator=generator, dtype=torch.float64)
        x = centre + radius[:, None] * torch.stack([angle.cos(), angle.sin()], dim=1)
        return x.float()
    pairwise = torch.cdist(modes, modes) + torch.diag(
        torch.full((modes.shape[0],), math.inf, dtype=torch.float64)
    )
    pad = 0.5 * float(pairwise.min()) if modes.shape[0] > 1 else 3 * std
    low, high = modes.min(0).values - pad, modes.max(0).values + pad
    u = torch.rand(n, modes.shape[1], generator=generator, dtype=torch.float64)
    return (low + (high - low) * u).float()


def null_coverage(
    modes: Tensor, std: float, num_samples: int = 2500, seed: int = 0, threshold: float = 3.0
) -> dict[str, float]:
    """``mode_coverage`` of ``num_samples`` structureless samples (seeded): what chance scores."""
    samples = structureless_samples(modes, std, num_samples, torch.Generator().manual_seed(seed))
    return mode_coverage(samples, modes, std, threshold)


class ModeCoverage(Metric):
    """Streaming mode coverage; per-mode HQ counts and the sample total are summed across DDP ranks."""

    full_state_update = False
    higher_is_better = None
    is_differentiable = False

    def __init__(self, modes: Tensor, std: float, threshold: float = 3.0, **kwargs) -> None:
        super().__init__(**kwargs)
        modes = torch.as_tensor(modes, dtype=torch.float32)
        if modes.ndim != 2:
            raise ValueError(f"modes must be [K, d], got shape {tuple(modes.shape)}")
        self.std = float(std)
        self.threshold = float(threshold)
        # A buffer (not a metric state) so it follows .to(device) but is never reset or reduced.
        self.register_buffer("modes", modes.clone())
        self.add_state("counts", default=torch.zeros(modes.shape[0], dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("nonfinite", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, samples: Tensor) -> None:
        self.counts += hq_mode_counts(samples, self.modes, self.std, self.threshold).to(self.counts.device)
        self.total += samples.shape[0]
        self.nonfinite += (~torch.isfinite(samples.reshape(samples.shape[0], -1))).any(dim=-1).sum()

    def compute(self) -> dict[str, Tensor]:
        return _summarize(self.counts, self.total, self.nonfinite)
