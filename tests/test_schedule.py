"""Step-size schedules: the decayed step reaches every sampler's update, a run resumes exactly, bad input and
families without a sampler are refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bayesgan.config import ConfigError
from bayesgan.samplers import SGLD, PolynomialDecay
from bayesgan.train import build
from test_resume import SETTINGS, _assert_same

SCHEDULE = ["schedule=polynomial", "sampler.step_schedule.gamma=1", "sampler.step_schedule.offset=2"]


def test_sgld_moves_by_the_decayed_step_at_every_step() -> None:
    theta = torch.nn.Parameter(torch.tensor([1.0]))
    sampler = SGLD([theta], num_data=1, batch_size=1, lr=1.0, prior_std=None, temperature=0.0)
    schedule = PolynomialDecay(sampler, gamma=1.0, offset=1.0)  # η_t = 1 / (1 + t): 1, 1/2, 1/3
    for _ in range(3):
        theta.grad = torch.tensor([1.2])
        sampler.step()
        schedule.step()
    # θ ← θ − (η_t / 2)·∇U with ∇U = 1.2: 1 − 0.6·(1 + 1/2 + 1/3) = −0.1
    assert theta.item() == pytest.approx(-0.1, abs=1e-6)
    assert sampler.param_groups[0]["lr"] == pytest.approx(0.25)  # the next step's: 1 / (1 + 3)


def _fit(make_config, out: Path, iterations: int, *extra: str):
    overrides = [f"iterations={iterations}", *SETTINGS, "sampler=sgld", *SCHEDULE, *extra]
    cfg = make_config(*overrides, output_dir=out)
    trainer, module, datamodule = build(cfg, out)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    return trainer, module


def test_a_scheduled_run_decays_both_samplers_and_resumes_exactly(make_config, tmp_path: Path) -> None:
    _, straight = _fit(make_config, tmp_path / "straight", 7)
    for optimizer in straight.optimizers():  # after 7 iterations: η_0 / (1 + 7/2)
        group = optimizer.optimizer.param_groups[0]
        assert group["lr"] == pytest.approx(group["initial_lr"] / 4.5)

    first, _ = _fit(make_config, tmp_path / "resumed", 3)
    checkpoint = first.checkpoint_callback.last_model_path
    _, resumed = _fit(make_config, tmp_path / "resumed", 7, f"ckpt_path={checkpoint}")
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for opt_a, opt_b in zip(straight.optimizers(), resumed.optimizers(), strict=True):
        _assert_same(opt_a.optimizer.state_dict(), opt_b.optimizer.state_dict())


def test_bad_schedule_values_are_one_line_errors_naming_the_key(make_config, tmp_path: Path) -> None:
    cfg = make_config(*SETTINGS, *SCHEDULE, "sampler.step_schedule.gamma=2")
    with pytest.raises(ConfigError, match=r"^sampler\.step_schedule\.gamma must be in \[0, 1\]"):
        build(cfg, tmp_path)


def test_a_family_without_a_sampler_refuses_a_schedule(make_config, tmp_path: Path) -> None:
    cfg = make_config("dataset=ring", "model=vae_mlp", "iterations=2", *SCHEDULE)
    with pytest.raises(ConfigError, match=r"^schedule: VAE trains one point estimate .* drop the schedule"):
        build(cfg, tmp_path)
