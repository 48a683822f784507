"""Shared fixtures: compose the real Hydra configs in-process, with tiny, fast overrides."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from bayesgan.train import compose_config

# A configuration that trains in about a second: ring data, a narrow MLP, two copies each, no logging.
TINY_DATA = ["dataset=ring", "dataset.num_samples=256", "dataset.batch_size=32"]
TINY_MODEL = ["model=mlp", "model.hidden=16"]
TINY = [
    "iterations=4",
    "logger=none",
    "callbacks=none",
    "trainer.enable_progress_bar=false",
    "posterior.J_g=2",
    "posterior.M=1",
    "posterior.burn_in=1",
    "posterior.thin=1",
]


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., DictConfig]:
    def make(*overrides: str, tiny: bool = True, output_dir: Path | None = None) -> DictConfig:
        base: list[str] = []
        if tiny:  # tiny defaults for whatever the test does not choose itself
            chosen = {o.split("=")[0] for o in overrides}
            base = [
                *([] if "dataset" in chosen else TINY_DATA),
                *([] if "model" in chosen else TINY_MODEL),
                *TINY,
            ]
        return compose_config([*base, *overrides], output_dir or tmp_path)

    yield make
    GlobalHydra.instance().clear()


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache directory per test session (domain classifiers are trained at most once per session)."""
    return tmp_path_factory.mktemp("bayesgan-cache")


@pytest.fixture(scope="session")
def digits_classifier(cache_root: Path):
    """The digits domain classifier with its default settings, trained into ``cache_root`` once."""
    from bayesgan.data import DigitsDataModule
    from bayesgan.evaluation import domain_classifier, labelled_images

    dm = DigitsDataModule()
    dm.setup()
    classifier, manifest = domain_classifier(labelled_images(dm)[0], cache_root, seed=0)
    return dm, classifier, manifest


@pytest.fixture(autouse=True)
def _offline_cache(monkeypatch: pytest.MonkeyPatch, cache_root: Path) -> None:
    # Classifier caches of data without a root (digits) go to the session's directory, never to ~/.cache.
    monkeypatch.setenv("BAYESGAN_CACHE_DIR", str(cache_root))


@pytest.fixture(autouse=True)
def _offline_wandb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Never reach the network; keep W&B's own files inside the test's directory.
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / ".wandb-config"))
    os.environ.setdefault("WANDB_CACHE_DIR", str(tmp_path / ".wandb-cache"))
