"""Stacked datasets (built as the protocol says) and the quality callback end to end on stacked digits."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from bayesgan.data import DigitsDataModule, StackedDataModule
from bayesgan.evaluation import labelled_images
from bayesgan.train import run
from fixtures_real import write_idx_dataset


def test_stacked_digits_are_three_base_digits_with_their_triple_as_label() -> None:
    base = DigitsDataModule()
    dm = StackedDataModule(base=base, num_train=500, num_test=100, batch_size=32, data_seed=3)
    dm.setup()
    assert dm.data_shape == (3, 8, 8) and dm.num_train == 500 and dm.num_classes == 1000
    pool_x = torch.cat([base.splits.train_x, base.splits.test_x])  # train + test, as PacGAN
    pool_y = torch.cat([base.splits.train_y, base.splits.test_y])
    triples = dm.splits.train_x[:4]
    images = dm.train_images(torch.arange(4))
    for c in range(3):
        assert torch.equal(images[:, c], pool_x[triples[:, c], 0])
    expected = 100 * pool_y[triples[:, 0]] + 10 * pool_y[triples[:, 1]] + pool_y[triples[:, 2]]
    assert torch.equal(dm.splits.train_y[:4], expected)
    batch = dm.train_batch(0)
    assert batch["x"].shape == (32, 3, 8, 8) and batch["x"].min() >= -1 and batch["x"].max() <= 1
    test = list(dm.test_dataloader())
    assert sum(b["x"].shape[0] for b in test) == 100 and test[0]["x"].shape[1:] == (3, 8, 8)
    # One classifier labels every channel: the base dataset's, found in the same cache as dataset=digits.
    plain = labelled_images(base)[0]
    assert dm.classifier_images().name == plain.name and dm.classifier_images().checksum() == plain.checksum()
    # The triples follow data_seed only.
    again = StackedDataModule(base=DigitsDataModule(), num_train=500, num_test=100, data_seed=3, seed=9)
    again.setup()
    assert torch.equal(again.splits.train_x, dm.splits.train_x)


def test_stacked_mnist_from_idx_files(tmp_path: Path) -> None:
    from bayesgan.data.idx import MnistDataModule

    write_idx_dataset(tmp_path, n_train=60, n_test=20)
    dm = StackedDataModule(
        base=MnistDataModule(root=tmp_path, verify="none", batch_size=16), num_train=100, num_test=10
    )
    dm.setup()
    assert dm.data_shape == (3, 28, 28)
    assert dm.classifier_images().train_x.shape == (60, 1, 28, 28)


@pytest.mark.parametrize("sampler", ["ml", "sghmc"])
def test_quality_callback_writes_every_metric(
    make_config, tmp_path: Path, digits_classifier, sampler
) -> None:
    cfg = make_config(
        "experiment=stacked_digits",
        f"sampler={sampler}",
        "dataset.num_train=256",
        "dataset.num_test=64",
        "dataset.batch_size=16",
        "model.width=8",
        "iterations=4",
        "posterior.J_g=2",
        "posterior.M=1",
        "posterior.burn_in=1",
        "posterior.thin=1",
        "logger=none",
        "trainer.enable_progress_bar=false",
        "callbacks.samples.every_n_iterations=0",
        "callbacks.quality.every_n_iterations=2",
        "callbacks.quality.num_samples=120",
        "callbacks.quality.num_samples_per_copy=60",
        "callbacks.quality.num_real=200",
        "callbacks.quality.prdc_samples=100",
        "callbacks.quality.kid_subsets=2",
        tiny=False,
    )
    results = run(cfg, output_dir=tmp_path)
    metrics = results["metrics"]
    pooled = ["fid", "kid", "precision", "recall", "density", "coverage", "classifier_score"]
    for key in [f"quality/{k}" for k in pooled] + ["modes/covered", "modes/kl"]:
        assert math.isfinite(metrics[key]), key
        group, name = key.split("/")
        assert math.isfinite(metrics[f"{group}/per_generator_{name}_mean"]), key
    assert 1 <= metrics["modes/covered"] <= 120
    assert 0 <= metrics["modes/kl"] <= math.log(1000) + 1e-9
    assert (
        json.loads((tmp_path / "results.json").read_text())["metrics"]["quality/fid"]
        == metrics["quality/fid"]
    )


@pytest.mark.slow
def test_real_stacked_mnist_classifier_and_modes(tmp_path: Path) -> None:
    # The protocol's classifier must be good (>= 99 %), and real stacked MNIST must show ~all 1,000 modes.
    from bayesgan.data.idx import MnistDataModule
    from bayesgan.evaluation import DomainFeatures, domain_classifier
    from bayesgan.metrics.stacked import StackedModes
    from test_real_datasets import real_root

    root = real_root("mnist")
    if root is None:
        pytest.skip("real MNIST files not found (set BAYESGAN_DATA_ROOT)")
    dm = StackedDataModule(base=MnistDataModule(root=root), num_train=1000, num_test=26_000)
    dm.setup()
    classifier, manifest = domain_classifier(dm.classifier_images(), tmp_path)
    assert manifest["test_accuracy"] >= 0.99
    modes = StackedModes(10, 3)
    domain = DomainFeatures(classifier, per_channel=True, channels=3)
    for batch in dm.test_dataloader():
        modes.update(domain.channel_predictions(batch["x"]))
    out = modes.compute()
    assert out["covered"] >= 995 and float(out["kl"]) < 0.05  # uniform at n = 26,000: E[KL] ≈ 0.019
