"""The supervised-only baseline: learns from 50 labels, deterministic for a seed, leaves the global RNG."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from bayesgan.data import DigitsDataModule
from bayesgan.models import DCGAN
from bayesgan.supervised import train_supervised


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # A width-8 net on 8x8 images gains nothing from intra-op threads, and they thrash on a busy machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits() -> DigitsDataModule:
    datamodule = DigitsDataModule(n_labels=50)
    datamodule.setup("fit")
    return datamodule


def test_learns_well_above_chance_and_is_deterministic(digits: DigitsDataModule) -> None:
    rng_before = torch.get_rng_state()
    first = train_supervised(DCGAN(z_dim=8, width=8), digits, iterations=200, seed=0)
    assert torch.equal(torch.get_rng_state(), rng_before)  # private generators only
    assert set(first) == {"test/accuracy", "test/nll"}
    assert first["test/accuracy"] > 0.5  # chance is 0.1 on 10 classes
    assert 0.0 < first["test/nll"] < 2.0
    assert train_supervised(DCGAN(z_dim=8, width=8), digits, iterations=200, seed=0) == first


def test_seed_and_batch_size_change_the_run(digits: DigitsDataModule) -> None:
    base = train_supervised(DCGAN(z_dim=8, width=8), digits, iterations=20, seed=0)
    assert train_supervised(DCGAN(z_dim=8, width=8), digits, iterations=20, seed=1) != base
    assert train_supervised(DCGAN(z_dim=8, width=8), digits, iterations=20, seed=0, batch_size=16) != base


def test_needs_labels() -> None:
    unlabelled = DigitsDataModule(n_labels=None)
    with pytest.raises(ValueError, match="labelled subset"):
        train_supervised(DCGAN(z_dim=8, width=8), unlabelled, iterations=1)
    with pytest.raises(ValueError, match="iterations"):
        train_supervised(DCGAN(z_dim=8, width=8), unlabelled, iterations=0)


# -- sampler=supervised: the same baseline through bayesgan-train ------------------------------------------
SUPERVISED = ["sampler=supervised", "model.width=8", "model.z_dim=8", "checkpoint_every=10"]


def test_supervised_through_the_cli_writes_results_with_test_accuracy(make_config, tmp_path, capsys) -> None:
    from bayesgan.results_file import decode
    from bayesgan.train import run

    cfg = make_config(
        "dataset=digits", "dataset.n_labels=50", "model=dcgan_small", *SUPERVISED, "iterations=60",
        "callbacks=default", "callbacks.accuracy.every_n_iterations=0",
    )  # fmt: skip
    results = run(cfg, output_dir=tmp_path)
    on_disk = decode((tmp_path / "results.json").read_text())
    assert on_disk["choices"]["sampler"] == "supervised" and on_disk["iterations"] == 60
    accuracy = on_disk["metrics"]["test/bma_accuracy"]
    assert accuracy == results["metrics"]["test/bma_accuracy"] and accuracy > 0.3  # chance is 0.1
    assert not (tmp_path / "samples").exists()  # no generator: the sample grids skipped themselves
    # One optimizer step per iteration, and still a checkpoint every checkpoint_every iterations.
    assert (tmp_path / "checkpoints" / "step_0000060.ckpt").exists()
    # bayesgan-sample on it: one line, no traceback.
    from bayesgan.cli import sample

    capsys.readouterr()
    with pytest.raises(SystemExit):
        sample.main([str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "has no generator to sample" in err


def test_supervised_resumes_exactly(make_config, tmp_path) -> None:
    from bayesgan.train import run

    common = ["dataset=digits", "dataset.n_labels=20", "model=dcgan_small", *SUPERVISED, "callbacks=default"]
    whole = run(make_config(*common, "iterations=20", output_dir=tmp_path / "a"), output_dir=tmp_path / "a")
    run(make_config(*common, "iterations=10", output_dir=tmp_path / "b"), output_dir=tmp_path / "b")
    ckpt = tmp_path / "b" / "checkpoints" / "last.ckpt"
    cfg = make_config(*common, "iterations=20", f"ckpt_path={ckpt}", output_dir=tmp_path / "b")
    resumed = run(cfg, output_dir=tmp_path / "b")
    assert resumed["iterations"] == 20
    assert resumed["metrics"]["test/bma_nll"] == whole["metrics"]["test/bma_nll"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["dataset.n_labels=null"], "sampler=supervised trains on the labelled examples only"),
        (["objective=wasserstein"], "has no GAN objective to set"),
    ],
)
def test_supervised_refuses_in_one_line(make_config, tmp_path, capsys, overrides, message) -> None:
    from bayesgan.train import run

    cfg = make_config("dataset=digits", "dataset.n_labels=20", "model=dcgan_small", *SUPERVISED, *overrides)
    with pytest.raises(SystemExit):
        run(cfg, output_dir=tmp_path)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
