"""MCMC diagnostics: split-R̂ on hand-made chains, generator diversity, and the callback on a real module."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from bayesgan.callbacks.diagnostics import MCMCDiagnostics
from bayesgan.metrics.diagnostics import generator_diversity, split_rhat
from bayesgan.train import build


def test_split_rhat_hand_computed() -> None:
    # Halves [1,2] [3,4] [2,3] [4,5]: n = 2, W = 0.5, half means 1.5 3.5 2.5 4.5 -> B/n = 5/3,
    # var+ = (1/2)(0.5) + 5/3 = 23/12, R̂ = sqrt((23/12) / 0.5) = sqrt(23/6).
    assert split_rhat(torch.tensor([[1.0, 2, 3, 4], [2.0, 3, 4, 5]])) == pytest.approx(math.sqrt(23 / 6))
    # Odd length: the middle draw is dropped, so a spike there changes nothing.
    assert split_rhat(torch.tensor([[1.0, 2, 99, 3, 4], [2.0, 3, -7, 4, 5]])) == pytest.approx(
        math.sqrt(23 / 6)
    )


def test_split_rhat_near_one_for_identically_distributed_chains() -> None:
    chains = torch.randn(4, 2000, generator=torch.Generator().manual_seed(0))
    assert split_rhat(chains) == pytest.approx(1.0, abs=0.01)


def test_split_rhat_large_for_shifted_chains_and_for_a_drift_within_chains() -> None:
    g = torch.Generator().manual_seed(1)
    shifted = torch.randn(4, 1000, generator=g) + torch.tensor([0.0, 0.0, 3.0, 3.0])[:, None]
    assert split_rhat(shifted) > 1.5
    # Every chain drifts the same way: their means agree, only the split halves reveal it.
    drift = torch.randn(4, 1000, generator=g) + torch.linspace(0, 4, 1000)
    assert split_rhat(drift) > 1.3


def test_split_rhat_edge_cases() -> None:
    assert split_rhat(torch.ones(3, 10)) == 1.0
    assert split_rhat(torch.tensor([[1.0] * 4, [2.0] * 4])) == math.inf
    assert math.isnan(split_rhat(torch.tensor([[1.0, 2, math.nan, 4], [1.0, 2, 3, 4]])))
    with pytest.raises(ValueError, match="T >= 4"):
        split_rhat(torch.ones(2, 3))


def test_generator_diversity_hand_computed() -> None:
    # Copies at (0,0), (3,4), (0,4) for both latents: distances 5, 4, 3 -> mean 4.
    points = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0]])
    assert generator_diversity(points[:, None].expand(3, 2, 2)) == pytest.approx(4.0)
    assert generator_diversity(torch.ones(5, 7, 1, 2, 2)) == 0.0  # collapsed posterior (image-shaped)
    with pytest.raises(ValueError, match="C >= 2"):
        generator_diversity(torch.ones(1, 3, 2))


def fit_with_diagnostics(cfg: DictConfig, out: Path, every: int = 4) -> tuple[MCMCDiagnostics | None, dict]:
    trainer, module, datamodule = build(cfg, out)
    callback = MCMCDiagnostics(every_n_iterations=every, num_inputs=32) if every else None
    trainer.callbacks.extend([callback] if callback else [])
    trainer.fit(module, datamodule=datamodule)
    return callback, {k: v.clone() for k, v in module.generator.current_state().items()}


def test_callback_logs_rhat_across_copies_and_leaves_training_unchanged(
    make_config: Callable[..., DictConfig], tmp_path: Path
) -> None:
    cfg = make_config("iterations=32", "posterior.J_g=3", "posterior.M=2")
    callback, weights = fit_with_diagnostics(cfg, tmp_path / "with")
    _, reference = fit_with_diagnostics(cfg, tmp_path / "without", every=0)
    for name, value in reference.items():  # evaluation touched neither weights nor running statistics
        assert torch.equal(weights[name], value), name

    assert callback is not None and callback.iterations == list(range(4, 33, 4))
    assert [len(row) for row in callback.traces["g_weight_norm"]] == [6] * 8  # J_g x M = 6 chains
    assert [len(row) for row in callback.traces["d_weight_norm"]] == [2] * 8  # J_d x M = 2 chains
    # R̂ over the second half of the record (4 of 8 draws), recomputed from the written traces.
    written = json.loads(next((tmp_path / "with").rglob("diagnostics.json")).read_text())
    for name in ("g_weight_norm", "d_output"):
        window = torch.tensor(written["traces"][name][4:]).T
        assert callback.latest[f"diag/rhat/{name}"] == pytest.approx(split_rhat(window))
    assert callback.latest["diag/rhat_max"] == max(v for k, v in callback.latest.items() if "rhat/" in k)
    assert callback.latest["diag/generator_diversity"] > 0


def test_callback_single_copy_logs_no_rhat(
    make_config: Callable[..., DictConfig], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # "Not applicable" notices are debug-level (a quiet console), on Lightning's rank-zero logger.
    with caplog.at_level(logging.DEBUG, logger="pytorch_lightning.utilities.rank_zero"):
        callback, _ = fit_with_diagnostics(make_config("sampler=ml", "iterations=16"), tmp_path)
    assert callback is not None
    assert not any("rhat" in k or "diversity" in k for k in callback.latest)
    assert "diag/g_weight_norm_mean" in callback.latest
    assert "one generator copy: split-R̂ needs >= 2 chains" in caplog.text  # said once, not silently absent


def test_callback_state_round_trip_keeps_the_traces() -> None:
    # A resumed run must compute R̂ over the whole record, not only what it recorded after the restart.
    callback = MCMCDiagnostics()
    callback.iterations, callback.traces["g_weight_norm"] = [100, 200], [[1.0, 2.0], [1.5, 2.5]]
    restored = MCMCDiagnostics()
    restored.load_state_dict(json.loads(json.dumps(callback.state_dict())))  # checkpoint-safe types
    assert restored.iterations == [100, 200] and restored.traces == callback.traces
