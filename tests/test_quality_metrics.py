"""Image-quality metrics with known answers: FID/KID in the digits classifier's features, PRDC against
the reference values (metrics-and-protocols.md §5.3), Stacked-MNIST mode counting, the paper's JS."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bayesgan.data import DigitsDataModule, StackedDataModule, SyntheticDataModule
from bayesgan.evaluation import DomainFeatures
from bayesgan.metrics.prdc import prdc
from bayesgan.metrics.quality import ImageQuality
from bayesgan.metrics.stacked import StackedModes, mode_index
from bayesgan.metrics.synthetic_js import SyntheticJS


@pytest.fixture
def digits(digits_classifier):
    return digits_classifier


def quality_of(classifier, real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    quality = ImageQuality(DomainFeatures(classifier), prdc_samples=2000)
    quality.update_real(real)
    quality.update_fake(fake)
    return quality.compute()


def test_digits_classifier_is_accurate(digits) -> None:
    assert digits[2]["test_accuracy"] >= 0.97


def test_fid_kid_of_a_set_with_itself_is_zero(digits) -> None:
    dm, classifier, _ = digits
    real = dm.splits.train_x
    same = quality_of(classifier, real, real.clone())
    noisy = quality_of(classifier, real, (real + 0.25 * torch.randn_like(real)).clamp(-1, 1))
    assert abs(same["fid"]) < 1e-3 * noisy["fid"]
    # KID is an unbiased MMD estimate over random subsets; for one set against itself the subsets share
    # samples, whose self-similarities k(x, x) sit in the cross term only: a small negative value.
    assert -0.25 * noisy["kid"] < same["kid"] <= 1e-6
    # PRDC of identical sets: every sample lies in its own ball (distance 0 < radius).
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0


@pytest.mark.parametrize("corruption", ["noise", "blur"])
def test_fid_and_kid_grow_monotonically_with_corruption(digits, corruption: str) -> None:
    dm, classifier, _ = digits
    real = dm.splits.train_x
    g = torch.Generator().manual_seed(0)

    def corrupt(level: int) -> torch.Tensor:
        if corruption == "noise":
            return (real + 0.2 * level * torch.randn(real.shape, generator=g)).clamp(-1, 1)
        x = real
        for _ in range(level):  # repeated 3x3 box blur: a wider kernel each time
            x = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        return x

    results = [quality_of(classifier, real, corrupt(level)) for level in (1, 2, 3, 4)]
    for key in ("fid", "kid"):
        values = [r[key] for r in results]
        assert all(a < b for a, b in itertools.pairwise(values)), (key, values)


def test_fid_kid_of_disjoint_halves_are_small_next_to_noise(digits) -> None:
    dm, classifier, _ = digits
    real = dm.splits.train_x
    perm = torch.randperm(len(real), generator=torch.Generator().manual_seed(1))
    half_a, half_b = real[perm[: len(real) // 2]], real[perm[len(real) // 2 :]]
    halves = quality_of(classifier, half_a, half_b)
    noisy = quality_of(classifier, half_a, (half_b + 0.5 * torch.randn_like(half_b)).clamp(-1, 1))
    # Measured: halves 2.9 (the FID bias of ~700 samples in 128-d), noise of std 0.5: 27.
    assert halves["fid"] < 0.25 * noisy["fid"], (halves, noisy)
    assert abs(halves["kid"]) < 0.05 * noisy["kid"], (halves, noisy)  # disjoint sets: KID unbiased, ≈ 0


def test_prdc_matches_reference_values_for_identical_distributions() -> None:
    # §5.3: 2,000 vs 2,000 i.i.d. N(0, I_32), k = 5 -> density 0.964, coverage 0.961, precision 0.765,
    # recall 0.810 (one draw, prdc 0.2). E[coverage] = 1 - prod_{i=1..5} (N - i) / (M + N - i) = 0.9690.
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(2000, 32, generator=g), torch.randn(2000, 32, generator=g)
    out = {k: float(v) for k, v in prdc(real, fake, nearest_k=5).items()}
    expected_coverage = 1 - math.prod((2000 - i) / (4000 - i) for i in range(1, 6))
    assert out["coverage"] == pytest.approx(expected_coverage, abs=0.015)
    assert out["coverage"] == pytest.approx(0.961, abs=0.02)
    assert out["density"] == pytest.approx(0.964, abs=0.06)
    assert out["precision"] == pytest.approx(0.765, abs=0.04)
    assert out["recall"] == pytest.approx(0.810, abs=0.04)


def test_prdc_recall_and_coverage_drop_for_a_collapsed_set() -> None:
    g = torch.Generator().manual_seed(0)
    real = torch.randn(1000, 16, generator=g)
    collapsed = real[0] + 0.05 * torch.randn(1000, 16, generator=g)  # mode collapse onto one real sample
    out = {k: float(v) for k, v in prdc(real, collapsed, nearest_k=5).items()}
    assert out["recall"] < 0.1 and out["coverage"] < 0.1
    healthy = {k: float(v) for k, v in prdc(real, torch.randn(1000, 16, generator=g), 5).items()}
    assert healthy["recall"] > 0.5 and healthy["coverage"] > 0.9


def test_mode_counting_on_a_known_histogram() -> None:
    assert mode_index(torch.tensor([[1, 2, 3], [0, 0, 9], [9, 9, 9]])).tolist() == [123, 9, 999]
    # Four modes with counts 1, 1, 2, 4: q = (1/8, 1/8, 1/4, 1/2), H(q) = 1.75 ln 2,
    # KL(q || u_1000) = ln 1000 - 1.75 ln 2 = 5.6947.
    triples = [[0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 0, 0], *[[7, 7, 7]] * 4]
    metric = StackedModes(10, 3)
    metric.update(torch.tensor(triples[:5]))
    metric.update(torch.tensor(triples[5:]))  # streaming: two updates
    out = metric.compute()
    assert out["covered"] == 4
    assert float(out["kl"]) == pytest.approx(math.log(1000) - 1.75 * math.log(2), abs=1e-9)
    every = torch.tensor([[a, b, c] for a in range(10) for b in range(10) for c in range(10)])
    uniform = StackedModes(10, 3)
    uniform.update(every)
    assert uniform.compute()["covered"] == 1000 and float(uniform.compute()["kl"]) == pytest.approx(
        0, abs=1e-12
    )
    single = StackedModes(10, 3)
    single.update(torch.tensor([[4, 2, 0]] * 50))
    assert float(single.compute()["kl"]) == pytest.approx(math.log(1000))


def test_real_stacked_digits_cover_all_modes(digits) -> None:
    # The whole pipeline on real data: 10,000 stacked test images hit ~all 1,000 modes, and the mode
    # histogram is near uniform (E[KL] of a uniform multinomial ≈ 999 / 20,000 = 0.05, plus errors).
    _, classifier, _ = digits
    dm = StackedDataModule(base=DigitsDataModule(), num_train=200, num_test=10_000)
    dm.setup()
    images = torch.cat([b["x"] for b in dm.test_dataloader()])
    domain = DomainFeatures(classifier, per_channel=True, channels=3)
    modes = StackedModes(10, 3)
    modes.update(domain.channel_predictions(images))
    out = modes.compute()
    assert out["covered"] >= 990 and float(out["kl"]) < 0.12
    assert domain.logits(images[:5]).shape == (5, 1000)
    assert domain.features(images[:5]).shape == (5, 3 * classifier.num_features)


@pytest.fixture(scope="module")
def synthetic():
    dm = SyntheticDataModule(num_samples=4000, num_test=2000)
    dm.setup()
    return dm.splits


def test_js_of_the_data_against_itself_is_about_zero(synthetic) -> None:
    js = SyntheticJS(synthetic.train_x)
    js.update(synthetic.test_x)  # fresh samples of the same distribution
    assert float(js.compute()) < 0.05
    js.reset()
    js.update(synthetic.train_x)
    assert float(js.compute()) == pytest.approx(0.0, abs=1e-9)


def test_js_of_one_mode_against_ten_is_large(synthetic) -> None:
    js = SyntheticJS(synthetic.train_x)
    js.update(synthetic.test_x[synthetic.test_y == 0])
    value = float(js.compute())
    assert 0.4 < value <= math.log(2) + 1e-6  # nine tenths of the mass is missing
    js.reset()
    js.update(torch.zeros(100, synthetic.train_x.shape[1]))  # total collapse onto one point still works
    assert float(js.compute()) > 0.5


def test_fft_kde_matches_scipy_gaussian_kde(synthetic) -> None:
    from scipy.stats import gaussian_kde

    js = SyntheticJS(synthetic.train_x, max_points=500)
    projected = js.pca.transform(synthetic.test_x[:500].double().numpy())
    xx, yy = np.meshgrid(*js.axes, indexing="ij")
    direct = gaussian_kde(projected.T)(np.vstack([xx.ravel(), yy.ravel()])).reshape(xx.shape) * js.cell
    fast = js._masses(projected)
    assert np.abs(fast - direct).sum() < 0.02  # total variation between the two mass grids


def test_diverged_samples_give_nan_not_plausible_numbers(digits) -> None:
    from types import SimpleNamespace

    from bayesgan.callbacks import ImageQualityCallback

    dm, classifier, _ = digits
    callback = ImageQualityCallback(prdc_samples=200, kid_subsets=2)
    callback.domain = DomainFeatures(classifier)
    trainer = SimpleNamespace(world_size=1, global_rank=0, datamodule=dm)
    callback._build(trainer, SimpleNamespace(device=torch.device("cpu")))
    good = callback._score(trainer, dm.splits.test_x[:200])
    assert all(math.isfinite(v) for v in good.values()) and good["quality/classifier_score"] > 5
    broken = dm.splits.test_x[:200].clone()
    broken[3, 0, 2, 2] = float("nan")
    assert all(math.isnan(v) for v in callback._score(trainer, broken).values())
