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
