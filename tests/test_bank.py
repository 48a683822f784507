"""The posterior bank's reduced-precision snapshots (``posterior.bank_precision``): half the storage, the
same posterior predictive within the precision's rounding, and a clean error for a bad value."""

from __future__ import annotations

import functools
import io

import pytest
import torch

from bayesgan.bank import PosteriorBank
from bayesgan.models import DCGAN
from bayesgan.module import BayesGAN, PosteriorSpec
from bayesgan.samplers import SGHMC

SHAPE = (1, 8, 8)


@functools.cache
def _trained_module(precision: str) -> BayesGAN:
    torch.manual_seed(0)
    spec = PosteriorSpec(
        optimizer=functools.partial(SGHMC, lr=1e-4), J_g=2, J_d=2, M=1, bank_size=2, bank_precision=precision
    )
    module = BayesGAN(
        DCGAN(z_dim=8, width=8), spec, data_shape=SHAPE, num_data=500, batch_size=8, num_classes=3,
        num_labelled=6,
    )  # fmt: skip
    gen = torch.Generator().manual_seed(1)
    batch = {
        "x": torch.rand(8, *SHAPE, generator=gen) * 2 - 1,
        "x_lab": torch.rand(6, *SHAPE, generator=gen) * 2 - 1,
        "y_lab": torch.tensor([0, 1, 2, 0, 1, 2]),
    }
    optimizers = module.configure_optimizers()
    for iteration in (1, 2):  # two snapshots of moving weights and running statistics
        module.update(batch, *optimizers)
        snapshot = {
            "generator": module.generator.snapshot(),
            "discriminator": module.discriminator.snapshot(),
        }
        module.bank.add(iteration, snapshot)
    return module


def _saved_bytes(bank: PosteriorBank) -> int:
    buffer = io.BytesIO()
    torch.save(bank.state_dict(), buffer)
    return buffer.tell()


@pytest.mark.parametrize(("precision", "tolerance"), [("bfloat16", 2e-2), ("float16", 2e-3)])
def test_reduced_precision_halves_the_bank_and_keeps_the_predictive(precision: str, tolerance: float) -> None:
    full, half = _trained_module("float32"), _trained_module(precision)
    # Same seed, same updates: the live weights are equal, only the stored snapshots differ.
    for state in half.bank.states("generator") + half.bank.states("discriminator"):
        assert all(t.dtype == getattr(torch, precision) for t in state.values())
    assert 0.45 < _saved_bytes(half.bank) / _saved_bytes(full.bank) < 0.55

    x = torch.rand(32, *SHAPE, generator=torch.Generator().manual_seed(2)) * 2 - 1
    p_full, p_half = full.class_probabilities(x), half.class_probabilities(x)
    assert p_half.dtype == torch.float32 and p_half.shape == p_full.shape == (4, 32, 3)
    # bf16 keeps 8 significant bits (relative rounding 2^-9), fp16 11 bits (2^-12): the probabilities of
    # every posterior sample move by about that much, far below the gap between a right and a wrong class.
    torch.testing.assert_close(p_half, p_full, atol=tolerance, rtol=0)
    z = torch.rand(5, 8, generator=torch.Generator().manual_seed(3)) * 2 - 1
    torch.testing.assert_close(half.generate(z), full.generate(z), atol=tolerance, rtol=0)


def test_reduced_precision_bank_survives_a_checkpoint() -> None:
    module = _trained_module("bfloat16")
    buffer = io.BytesIO()
    torch.save(module.bank.state_dict(), buffer)
    buffer.seek(0)
    restored = PosteriorBank(0, 1, 2, "bfloat16")
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.iterations == module.bank.iterations
    for a, b in zip(restored.states("discriminator"), module.bank.states("discriminator"), strict=True):
        assert all(a[k].dtype == torch.bfloat16 and torch.equal(a[k], b[k]) for k in b)


def test_bad_precision_is_one_line_naming_the_key() -> None:
    with pytest.raises(
        ValueError, match=r"^bank\.precision must be one of float32, bfloat16, float16, got 'fp8'$"
    ):
        PosteriorBank(precision="fp8")
    with pytest.raises(ValueError, match=r"^posterior\.bank_precision must be one of .*got 'half'$"):
        PosteriorSpec(optimizer=SGHMC, bank_precision="half")
