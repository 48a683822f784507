"""A short fit of every sampler x model, unsupervised and semi-supervised, through the real configs."""

from __future__ import annotations

import json
import math

import pytest

from bayesgan.train import run

SAMPLERS = ["sghmc", "sgld", "ml", "authors_recipe"]
SETTINGS = {
    "mlp-ring-unsupervised": ["model=mlp", "dataset=ring"],
    "mlp-digits-semi": ["model=mlp", "dataset=digits", "dataset.n_labels=20"],
    "dcgan-digits-semi": ["model=dcgan_small", "model.width=8", "dataset=digits", "dataset.n_labels=20"],
    "dcgan-digits-unsupervised": [
        "model=dcgan_small",
        "model.width=8",
        "dataset=digits",
        "dataset.n_labels=null",
    ],
}


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_short_fit(make_config, tmp_path, sampler: str, setting: str) -> None:
    copies = ["sampler.J_g=2", "sampler.M=1", "sampler.burn_in=1", "sampler.thin=1", "sampler.bank_size=2"]
    if sampler == "ml":
        copies = []
    cfg = make_config(f"sampler={sampler}", *SETTINGS[setting], *copies, "dataset.batch_size=16")
    results = run(cfg, output_dir=tmp_path)

    assert results["iterations"] == 4
    assert all(math.isfinite(results["metrics"][k]) for k in ("loss/d", "loss/g"))
    assert results["bank_size"] == (0 if sampler == "ml" else 2)
    assert json.loads((tmp_path / "results.json").read_text()) == results
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
