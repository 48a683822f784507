"""Metric oracles (metrics-and-protocols.md §1.2, §4, §6) and image helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torchmetrics.classification import MulticlassAccuracy, MulticlassCalibrationError

from bayesgan.images import image_grid, save_png, scatter_plot
from bayesgan.metrics import EnsembleClassification, ModeCoverage, mode_coverage, null_coverage
from bayesgan.metrics.mode_coverage import structureless_samples

HQ_TRUE = 100 * (1 - math.exp(-4.5))  # chi^2_2 mass within 3 std: 98.89 %


def ring() -> tuple[torch.Tensor, float]:
    angles = 2 * math.pi * torch.arange(8) / 8
    return torch.stack([angles.cos(), angles.sin()], 1), 0.01


def grid() -> tuple[torch.Tensor, float]:
    v = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return torch.cartesian_prod(v, v), 0.05


def sample_mixture(modes: torch.Tensor, std: float, n: int, g: torch.Generator) -> torch.Tensor:
    idx = torch.randint(len(modes), (n,), generator=g)
    return modes[idx] + std * torch.randn(n, modes.shape[1], generator=g)


@pytest.mark.parametrize("toy", [ring, grid])
def test_true_mixture_scores_chi2_hq_and_all_modes(toy) -> None:
    modes, std = toy()
    out = mode_coverage(sample_mixture(modes, std, 40_000, torch.Generator().manual_seed(0)), modes, std)
    assert out["high_quality"] == pytest.approx(HQ_TRUE, abs=0.3)  # binomial s.e. is 0.05 %
    assert out["modes_captured"] == len(modes)
    assert 0 <= out["reverse_kl"] < 0.01


@pytest.mark.parametrize("toy", [ring, grid])
def test_uniform_coverage_kl_matches_finite_sample_oracle(toy) -> None:
    modes, std = toy()
    n, g = 2500, torch.Generator().manual_seed(1)
    kls = [mode_coverage(sample_mixture(modes, std, n, g), modes, std)["reverse_kl"] for _ in range(100)]
    # E[KL] ~ (K-1)/(2n); the mean of 100 draws is within ~5 % of it (one s.e.).
    assert np.mean(kls) == pytest.approx((len(modes) - 1) / (2 * n), rel=0.25)


@pytest.mark.parametrize(("toy", "expected"), [(ring, 2.079), (grid, 3.219)])
def test_collapse_onto_one_mode_gives_log_k(toy, expected: float) -> None:
    modes, std = toy()
    samples = modes[3] + 0.5 * std * torch.randn(500, 2, generator=torch.Generator().manual_seed(2))
    out = mode_coverage(samples, modes, std)
    assert out["reverse_kl"] == pytest.approx(expected, abs=1e-3)
    assert out["reverse_kl"] == pytest.approx(math.log(len(modes)))
    assert out["modes_captured"] == 1


@pytest.mark.parametrize("toy", [ring, grid])
def test_far_away_samples_are_not_high_quality(toy) -> None:
    modes, std = toy()
    out = mode_coverage(torch.full((100, 2), 50.0), modes, std)
    assert out["high_quality"] == 0.0 and out["modes_captured"] == 0
    assert out["reverse_kl"] == pytest.approx(math.log(len(modes)))  # defined as total collapse


def test_threshold_is_in_units_of_std() -> None:
    modes, std = ring()
    inside = modes[0] + torch.tensor([[2.9 * std, 0.0]])
    outside = modes[0] + torch.tensor([[3.1 * std, 0.0]])
    assert mode_coverage(inside, modes, std)["high_quality"] == 100.0
    assert mode_coverage(outside, modes, std)["high_quality"] == 0.0
    assert mode_coverage(outside, modes, std, threshold=4.0)["high_quality"] == 100.0


def test_streaming_and_merged_metric_equal_functional() -> None:
    modes, std = grid()
    g = torch.Generator().manual_seed(3)
    # Partial coverage plus junk, so every output is non-trivial.
    chunks = [sample_mixture(modes[:7], 2 * std, 300, g), torch.randn(100, 2, generator=g) * 5]
    chunks.append(sample_mixture(modes[5:12], std, 200, g))
    expected = mode_coverage(torch.cat(chunks), modes, std)

    metric = ModeCoverage(modes, std)
    for chunk in chunks:
        metric.update(chunk)
    got = {k: float(v) for k, v in metric.compute().items()}
    assert got == pytest.approx(expected)
    assert 0 < expected["high_quality"] < 100 and 7 < expected["modes_captured"] < 25

    # The per-rank states sum (what the DDP reduction does): merge two halves.
    a, b = ModeCoverage(modes, std), ModeCoverage(modes, std)
    a.update(torch.cat(chunks[:2]))
    b.update(chunks[2])
    a.merge_state(b)
    assert {k: float(v) for k, v in a.compute().items()} == pytest.approx(expected)
    metric.reset()
    assert metric.total == 0 and metric.counts.sum() == 0


def test_ensemble_classification_hand_computed() -> None:
    probs = torch.tensor(
        [
            [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]],
            [[0.5, 0.4, 0.1], [0.5, 0.2, 0.3], [0.1, 0.1, 0.8]],
        ]
    )  # BMA: [.6 .3 .1], [.3 .4 .3], [.2 .2 .6]
    target = torch.tensor([0, 1, 2])
    metric = EnsembleClassification(num_classes=3)
    metric.update(probs[:, :2], target[:2])  # two batches: streaming must not matter
    metric.update(probs[:, 2:], target[2:])
    out = {k: float(v) for k, v in metric.compute().items()}
    assert out["bma_accuracy"] == pytest.approx(1.0)  # member 1 misses example 2; the average does not
    assert out["member_accuracy"] == pytest.approx((3 / 3 + 2 / 3) / 2)
    assert out["bma_nll"] == pytest.approx(-(math.log(0.6) + math.log(0.4) + math.log(0.6)) / 3)
    assert out["bma_brier"] == pytest.approx((0.26 + 0.54 + 0.24) / 3)
    assert out["bma_ece"] == pytest.approx((0.4 + 0.6 + 0.4) / 3)  # all correct: mean of 1 - confidence


def test_ensemble_classification_matches_torchmetrics_on_bma_probabilities() -> None:
    g = torch.Generator().manual_seed(4)
    probs = torch.softmax(2 * torch.randn(5, 300, 4, generator=g), -1)
    target = torch.randint(4, (300,), generator=g)
    metric = EnsembleClassification(num_classes=4, n_bins=10)
    metric.update(probs[:, :120], target[:120])
    metric.update(probs[:, 120:], target[120:])
    out = metric.compute()
    bma = probs.mean(0)
    ece = MulticlassCalibrationError(num_classes=4, n_bins=10, norm="l1")(bma, target)
    acc = MulticlassAccuracy(num_classes=4, average="micro")(bma, target)
    assert float(out["bma_ece"]) == pytest.approx(float(ece), abs=1e-6)
    assert float(out["bma_accuracy"]) == pytest.approx(float(acc))
    member = torch.stack([(p.argmax(-1) == target).float().mean() for p in probs]).mean()
    assert float(out["member_accuracy"]) == pytest.approx(float(member))


def test_image_grid_layout_and_values(tmp_path) -> None:
    rows, cols, h, w = 2, 3, 4, 5
    images = torch.zeros(rows, cols, 1, h, w)
    images[0, 0] = -1.0
    images[1, 1] = 1.0
    arr = image_grid(images)
    assert arr.dtype == np.uint8 and arr.shape == (rows * h + rows + 1, cols * w + cols + 1)
    assert (arr[0] == 255).all() and (arr[:, 0] == 255).all() and (arr[h + 1] == 255).all()  # padding
    assert (arr[1 : 1 + h, 1 : 1 + w] == 0).all()  # row 0, col 0: -1 -> 0
    assert (arr[h + 2 : 2 * h + 2, w + 2 : 2 * w + 2] == 255).all()  # row 1, col 1: +1 -> 255
    assert (arr[1 : 1 + h, w + 2 : 2 * w + 2] == 128).all()  # 0 -> 128

    rgb = image_grid(torch.rand(3, 2, 3, 6, 6) * 2 - 1)
    assert rgb.shape == (3 * 6 + 4, 2 * 6 + 3, 3) and rgb.dtype == np.uint8
    path = save_png(rgb, tmp_path / "sub" / "grid.png")
    assert np.array_equal(np.asarray(Image.open(path)), rgb)


def test_scatter_plot_draws_points_and_modes() -> None:
    modes, std = ring()
    points = sample_mixture(modes, 5 * std, 200, torch.Generator().manual_seed(5))
    arr = scatter_plot(points, modes, size=200)
    assert arr.shape == (200, 200, 3) and arr.dtype == np.uint8
    colours = {tuple(c) for c in arr.reshape(-1, 3)}
    assert (31, 119, 180) in colours and (214, 39, 40) in colours
    blank = scatter_plot(torch.empty(0, 2), None, size=50)  # degenerate input still renders
    assert blank.shape == (50, 50, 3)


def ring_null_hq_oracle(radius: float, std: float, num_modes: int) -> float:
    """% HQ of the blurred ring (uniform angle, radius N(R, std²)) by quadrature, not sampling: at radius r,
    a point is within 3 std of a mode on an arc of half-angle acos((r² + R² − 9 std²) / (2 r R))."""
    r = np.linspace(radius - 8 * std, radius + 8 * std, 200_001)
    density = np.exp(-0.5 * ((r - radius) / std) ** 2)
    cos_half = np.clip((r**2 + radius**2 - 9 * std**2) / (2 * r * radius), -1, 1)
    arc_fraction = num_modes * 2 * np.arccos(cos_half) / (2 * math.pi)
    return 100 * float((arc_fraction * density).sum() / density.sum())


def test_null_reference_ring_matches_quadrature_and_captures_every_mode() -> None:
    modes, std = ring()
    expected = ring_null_hq_oracle(1.0, std, 8)  # 7.18 %
    big = null_coverage(modes, std, num_samples=200_000, seed=0)
    assert big["high_quality"] == pytest.approx(expected, abs=0.2)  # binomial s.e. 0.06 %
    # The point of the null row: a structureless ring "captures" all 8 modes at the protocol's 2,500
    # samples, with a small reverse KL.
    small = null_coverage(modes, std, num_samples=2500, seed=0)
    assert small["modes_captured"] == 8 and small["reverse_kl"] < 0.05


def test_null_reference_grid_is_a_uniform_box_around_the_modes() -> None:
    modes, std = grid()
    out = null_coverage(modes, std, num_samples=200_000, seed=0)
    # Uniform on [-5, 5]²: HQ area 25 discs of radius 3 std over an area of 100.
    assert out["high_quality"] == pytest.approx(100 * 25 * math.pi * (3 * std) ** 2 / 100, abs=0.12)
    assert out["modes_captured"] == 25
    samples = structureless_samples(modes, std, 10_000, torch.Generator().manual_seed(0))
    assert samples.min() >= -5 and samples.max() <= 5 and samples.min() < -4.9 and samples.max() > 4.9


def test_null_reference_is_seeded() -> None:
    modes, std = ring()
    assert null_coverage(modes, std, seed=3) == null_coverage(modes, std, seed=3)
    assert null_coverage(modes, std, seed=3) != null_coverage(modes, std, seed=4)
