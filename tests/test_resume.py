"""Save and resume restore sampler state, RNG state, posterior bank and iteration counter exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bayesgan.train import build

SETTINGS = ["posterior.bank_size=3", "posterior.burn_in=2", "posterior.thin=1", "dataset.num_samples=256"]


def _fit(make_config, out: Path, iterations: int, *extra: str):
    cfg = make_config(f"iterations={iterations}", *SETTINGS, *extra, output_dir=out)
    trainer, module, datamodule = build(cfg, out)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    return trainer, module


@pytest.mark.parametrize("sampler", ["sghmc", "sgld", "authors_recipe"])
def test_resume_continues_exactly(make_config, tmp_path: Path, sampler: str) -> None:
    _, straight = _fit(make_config, tmp_path / "straight", 7, f"sampler={sampler}")

    first, _ = _fit(make_config, tmp_path / "resumed", 3, f"sampler={sampler}")
    checkpoint = Path(first.checkpoint_callback.last_model_path)
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["bayesgan"]["iteration"] == 3
    assert len(saved["bayesgan"]["bank"]["snapshots"]) == 1

    torch.manual_seed(12345)  # whatever happened in between, the checkpoint's RNG state comes back
    _, resumed = _fit(make_config, tmp_path / "resumed", 7, f"sampler={sampler}", f"ckpt_path={checkpoint}")

    assert resumed.iteration == straight.iteration == 7
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for opt_a, opt_b in zip(straight.optimizers(), resumed.optimizers(), strict=True):
        _assert_same(opt_a.optimizer.state_dict(), opt_b.optimizer.state_dict())
    assert list(straight.bank.iterations) == list(resumed.bank.iterations) == [5, 6, 7]
    _assert_same(straight.bank.state_dict(), resumed.bank.state_dict())


def test_checkpoint_restores_global_rng(make_config, tmp_path: Path) -> None:
    trainer, module = _fit(make_config, tmp_path, 2)
    state = torch.load(trainer.checkpoint_callback.last_model_path, weights_only=True)
    torch.manual_seed(999)
    module.on_load_checkpoint(state)
    assert torch.equal(torch.get_rng_state(), state["bayesgan"]["rng"]["torch"])
    assert module.iteration == 2


def _assert_same(a, b, path: str = "") -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _assert_same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, path
