"""Shared fixtures: compose the real Hydra configs in-process, with tiny, fast overrides."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from bayesgan import config

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

# A configuration that trains in about a second: ring data, a narrow MLP, two copies each, no logging.
TINY_DATA = ["dataset=ring", "dataset.num_samples=256", "dataset.batch_size=32"]
TINY_MODEL = ["model=mlp", "model.hidden=16"]
TINY = [
    "iterations=4",
    "logger=none",
    "callbacks=none",
    "trainer.enable_progress_bar=false",
    "sampler.J_g=2",
    "sampler.M=1",
    "sampler.burn_in=1",
    "sampler.thin=1",
]


def compose_config(overrides: Sequence[str], output_dir: Path) -> DictConfig:
    """The config a job would see, with ``hydra:`` interpolations pointing at ``output_dir``."""
    config.register()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


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


@pytest.fixture(autouse=True)
def _offline_wandb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Never reach the network; keep W&B's own files inside the test's directory.
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / ".wandb-config"))
    os.environ.setdefault("WANDB_CACHE_DIR", str(tmp_path / ".wandb-cache"))
