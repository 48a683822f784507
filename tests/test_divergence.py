"""Divergence is caught beyond a non-finite loss (an exploded loss, non-finite weights or batch-norm
statistics), flagged in results.json, and never saved into a checkpoint."""

from __future__ import annotations

import json
import math

import pytest
import torch

from bayesgan.checkpointing import load_checkpoint, nonfinite_entries
from bayesgan.health import divergence
from bayesgan.train import build, run


def _module(make_config, tmp_path, *extra: str):
    cfg = make_config("model=dcgan_small", "dataset=digits", "dataset.n_labels=null", *extra)
    return build(cfg, tmp_path)[1]


def test_non_finite_batch_norm_statistics_count_as_divergence(make_config, tmp_path) -> None:
    module = _module(make_config, tmp_path)
    ok = torch.ones(module.discriminator.num_copies)
    assert divergence(module, ok, torch.ones(module.generator.num_copies), 1e3) is None
    [name] = [n for n, _ in module.named_buffers() if n.endswith("running_var")][:1]
    module.get_buffer(name)[0, 0] = math.inf  # what lr_per_datum=1e4 left in last.ckpt
    reason = divergence(module, ok, torch.ones(module.generator.num_copies), 1e3)
    assert reason == "non-finite parameters or batch-norm statistics"


def test_an_exploded_loss_counts_as_divergence_per_likelihood_term(make_config, tmp_path) -> None:
    module = _module(make_config, tmp_path, "divergence_loss=1000")
    per_d_copy_terms = module.generator.num_copies + 2  # one fake term per G copy, real, labelled
    g = torch.ones(module.generator.num_copies)
    below = torch.full((module.discriminator.num_copies,), 999.0 * per_d_copy_terms)
    assert divergence(module, below, g, module.divergence_loss) is None
    above = torch.full((module.discriminator.num_copies,), 1001.0 * per_d_copy_terms)
    assert "exceeds divergence_loss=1000" in divergence(module, above, g, module.divergence_loss)
    assert divergence(module, above, g, None) is None


@pytest.mark.parametrize("lr_per_datum", ["1000", "1e4"])
def test_a_diverging_run_is_flagged_and_no_checkpoint_holds_non_finite_state(
    make_config, tmp_path, caplog, lr_per_datum: str
) -> None:
    # The cases: lr_per_datum=1000 ran to the end with exit 0 and no flag; 1e4 stopped, but its
    # last.ckpt held infinite batch-norm running variances.
    cfg = make_config(
        "model=dcgan_small",
        "dataset=digits",
        "dataset.n_labels=null",
        f"sampler.optimizer.lr_per_datum={lr_per_datum}",
        "iterations=30",
        "checkpoint_every=1",
        "callbacks=default",
        "checkpoint_keep=-1",
    )
    results = run(cfg, output_dir=tmp_path)
    assert results["diverged_at"] is not None and results["iterations"] == results["diverged_at"] < 30
    assert results["divergence"]
    assert json.loads((tmp_path / "results.json").read_text())["diverged_at"] == results["diverged_at"]
    notices = [r.getMessage() for r in caplog.records if r.getMessage().startswith("DIVERGED at")]
    assert len(notices) == 1 and "\n" not in notices[0], notices
    saved = sorted((tmp_path / "checkpoints").glob("*.ckpt"))
    for path in saved:
        state = load_checkpoint(path)
        assert not list(nonfinite_entries({k: state[k] for k in ("state_dict", "optimizer_states")})), path
        assert state["bayesgan"]["iteration"] < results["diverged_at"], path
