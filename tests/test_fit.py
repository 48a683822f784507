"""A short fit of every sampler x model, unsupervised and semi-supervised, through the real configs."""

from __future__ import annotations

import json
import math

import pytest

from bayesgan.train import run

SAMPLERS = ["sghmc", "sgld", "psgld", "ml", "authors_recipe"]
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
    copies = ["posterior.J_g=2", "posterior.M=1", "posterior.burn_in=1", "posterior.thin=1"]
    copies.append("posterior.bank_size=2")  # sampler=ml ignores posterior.*: one network each, no bank
    cfg = make_config(f"sampler={sampler}", *SETTINGS[setting], *copies, "dataset.batch_size=16")
    results = run(cfg, output_dir=tmp_path)

    assert results["iterations"] == 4
    assert all(math.isfinite(results["metrics"][k]) for k in ("loss/d", "loss/g"))
    assert results["bank_size"] == (0 if sampler == "ml" else 2)
    assert json.loads((tmp_path / "results.json").read_text()) == results
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()


def test_divergence_stops_training_and_is_reported(make_config, tmp_path) -> None:
    # A step size far too large: the run must stop at once, say why, and still write its results.
    cfg = make_config(
        "sampler=sgld", "sampler.optimizer.lr_per_datum=1e6", "iterations=50", "callbacks=default"
    )
    results = run(cfg, output_dir=tmp_path)
    assert results["diverged_at"] is not None and results["iterations"] < 50
    assert math.isnan(results["metrics"]["coverage/modes"])  # never a plausible-looking "0 modes"
    assert json.loads((tmp_path / "results.json").read_text())["diverged_at"] == results["diverged_at"]
