"""Synthetic datasets that need no files: the 2-D ring and grid of Gaussians, and the paper's synthetic data.

Ring and grid follow VEEGAN/PacGAN (metrics-and-protocols.md §1.1); labels are mode ids and ``modes`` /
``mode_std`` feed the mode-coverage metrics. ``SyntheticDataModule`` is the Bayesian GAN paper's §5 data.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from bayesgan.data.base import DataSplits, GANDataModule
from bayesgan.seeding import mix_seed

_TRAIN, _TEST = 0, 1


class _GaussianMixtureDataModule(GANDataModule):
    """Isotropic Gaussian mixture with equal weights; train and test are independent i.i.d. samples."""

    def __init__(
        self,
        *,
        num_samples: int,
        num_test: int,
        std: float,
        data_seed: int | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._check(num_samples >= 1, f"num_samples must be >= 1, got {num_samples}")
        self._check(num_test >= 1, f"num_test must be >= 1, got {num_test}")
        self._check(std > 0, f"std must be > 0, got {std}")
        self.num_samples, self.num_test, self.std = num_samples, num_test, float(std)
        # None: the data follow the run seed, so repeated trials also resample the data (as PacGAN does).
        self.data_seed = self.seed if data_seed is None else data_seed

    def mixture_means(self) -> Tensor:
        raise NotImplementedError

    def _sample(self, n: int, split: int, means: Tensor) -> tuple[Tensor, Tensor]:
        # Separate seeds per split, so the test set does not change with num_samples.
        g = torch.Generator().manual_seed(mix_seed(self.data_seed, split))
        y = torch.randint(means.shape[0], (n,), generator=g)
        x = means[y] + self.std * torch.randn(n, means.shape[1], generator=g)
        return x, y

    def load(self) -> DataSplits:
        means = self.mixture_means().float()
        train_x, train_y = self._sample(self.num_samples, _TRAIN, means)
        test_x, test_y = self._sample(self.num_test, _TEST, means)
        return DataSplits(train_x, train_y, test_x, test_y, means.shape[0], means, self.std)


class RingDataModule(_GaussianMixtureDataModule):
    """``num_modes`` Gaussians at angles 2πk/num_modes on a circle (VEEGAN/PacGAN ring: radius 1, std 0.01).

    The angles exclude 2π (unlike the Unrolled-GAN notebook's ``linspace``, which yields 7 distinct modes).
    """

    def __init__(
        self,
        *,
        num_samples: int = 10_000,
        num_modes: int = 8,
        radius: float = 1.0,
        std: float = 0.01,
        num_test: int = 2_500,
        data_seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_samples=num_samples, num_test=num_test, std=std, data_seed=data_seed, **kwargs)
        self._check(num_modes >= 1, f"num_modes must be >= 1, got {num_modes}")
        self._check(radius > 0, f"radius must be > 0, got {radius}")
        self.num_modes, self.radius = num_modes, float(radius)

    def mixture_means(self) -> Tensor:
        angles = 2 * math.pi * torch.arange(self.num_modes, dtype=torch.float64) / self.num_modes
        return self.radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


class GridDataModule(_GaussianMixtureDataModule):
    """25 Gaussians at {-4, -2, 0, 2, 4}² with std 0.05 (VEEGAN/PacGAN grid)."""

    def __init__(
        self,
        *,
        num_samples: int = 10_000,
        std: float = 0.05,
        num_test: int = 2_500,
        data_seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_samples=num_samples, num_test=num_test, std=std, data_seed=data_seed, **kwargs)

    def mixture_means(self) -> Tensor:
        axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
        gx, gy = torch.meshgrid(axis, axis, indexing="ij")
        return torch.stack([gx.flatten(), gy.flatten()], dim=1)


class SyntheticDataModule(GANDataModule):
    """The paper's synthetic data (§5): ``num_clusters`` 2-D Gaussian blobs, each in its own random plane.

    Per cluster: centre μ_c ~ N(0, 25 I₂), projection A_c ~ N(0, 25) of shape [x_dim, latent_dim], points
    x = (u + μ_c) A_cᵀ with u ~ N(0, I). Data are standardised per dimension with the TRAIN mean/std (also
    applied to the test set). The numpy draw order matches ``bgan_util.SynthDataset``, so the default
    training set reproduces the original code's data (float64 draws, cast to float32). The test set
    (``num_test`` points from the same clusters) is drawn afterwards, leaving the training data untouched.
    ``modes`` are the standardised cluster centres μ_c A_cᵀ; ``mode_std`` is None (clusters are not
    isotropic).
    """

    def __init__(
        self,
        *,
        num_samples: int = 10_000,
        x_dim: int = 100,
        num_clusters: int = 10,
        latent_dim: int = 2,
        num_test: int = 2_000,
        data_seed: int = 1234,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._check(num_clusters >= 1, f"num_clusters must be >= 1, got {num_clusters}")
        self._check(
            num_samples >= max(2, num_clusters),
            f"num_samples must be >= max(2, num_clusters={num_clusters}), got {num_samples}",
        )
        self._check(num_test >= 1, f"num_test must be >= 1, got {num_test}")
        self._check(x_dim >= 1, f"x_dim must be >= 1, got {x_dim}")
        self._check(latent_dim >= 1, f"latent_dim must be >= 1, got {latent_dim}")
        self.num_samples, self.x_dim, self.num_clusters = num_samples, x_dim, num_clusters
        self.latent_dim, self.num_test, self.data_seed = latent_dim, num_test, data_seed

    @staticmethod
    def _counts(n: int, k: int) -> list[int]:
        return [n // k + (1 if c < n % k else 0) for c in range(k)]

    def load(self) -> DataSplits:
        rs = np.random.RandomState(self.data_seed)
        k, d, m = self.num_clusters, self.x_dim, self.latent_dim
        centres, projections, xs, ys = [], [], [], []
        for c, n_c in enumerate(self._counts(self.num_samples, k)):
            mu = rs.randn(m) * 5.0  # std 5 → covariance 25 I
            a = rs.randn(d, m) * 5.0
            xs.append((rs.randn(n_c, m) + mu) @ a.T)
            ys.append(np.full(n_c, c))
            centres.append(mu @ a.T)
            projections.append((mu, a))
        test_xs, test_ys = [], []
        for c, n_c in enumerate(self._counts(self.num_test, k)):
            mu, a = projections[c]
            test_xs.append((rs.randn(n_c, m) + mu) @ a.T)
            test_ys.append(np.full(n_c, c))
        train = np.concatenate(xs)
        mean, std = train.mean(0), train.std(0)

        def standardise(x: np.ndarray) -> Tensor:
            return torch.from_numpy((x - mean) / std).float()

        return DataSplits(
            train_x=standardise(train),
            train_y=torch.from_numpy(np.concatenate(ys)).long(),
            test_x=standardise(np.concatenate(test_xs)),
            test_y=torch.from_numpy(np.concatenate(test_ys)).long(),
            num_classes=k,
            modes=standardise(np.stack(centres)),
            mode_std=None,
        )
