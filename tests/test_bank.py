"""The posterior bank's reduced-precision snapshots (``posterior.bank_precision``): half the storage, the
same posterior predictive within the precision's rounding, and a clean error for a bad value. Snapshots on
disk (``posterior.bank_storage=disk``): the same numbers as in memory, exact resume, and one-line errors."""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from bayesgan.bank import PosteriorBank
from bayesgan.cli.loading import load_run
from bayesgan.models import DCGAN
from bayesgan.module import BayesGAN, PosteriorSpec
from bayesgan.samplers import SGHMC
from bayesgan.train import build

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


# -- posterior.bank_storage=disk -----------------------------------------------------------------------------
DIGITS = [
    "model=dcgan_small",
    "model.width=8",
    "dataset=digits",
    "dataset.n_labels=20",
    "dataset.batch_size=16",
]
BANK = ["posterior.bank_size=3", "posterior.burn_in=2", "posterior.thin=1"]


def _fit(make_config, out: Path, iterations: int, *extra: str) -> tuple[BayesGAN, Any]:
    cfg = make_config(*DIGITS, *BANK, f"iterations={iterations}", *extra, output_dir=out)
    trainer, module, datamodule = build(cfg, out)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    return module, trainer


def _predictive(module: BayesGAN) -> tuple[Tensor, Tensor]:
    """Class probabilities of every posterior sample on fixed images, and samples from fixed latents."""
    x = torch.rand(40, *SHAPE, generator=torch.Generator().manual_seed(4)) * 2 - 1
    z = torch.rand(6, module.z_dim, generator=torch.Generator().manual_seed(5)) * 2 - 1
    return module.class_probabilities(x), module.generate(z)


def test_disk_bank_gives_the_memory_bank_numbers(make_config, tmp_path: Path) -> None:
    memory, memory_trainer = _fit(make_config, tmp_path / "memory", 5)
    disk, disk_trainer = _fit(make_config, tmp_path / "disk", 5, "posterior.bank_storage=disk")
    assert list(disk.bank.iterations) == list(memory.bank.iterations) == [3, 4, 5]
    files = sorted(p.name for p in (tmp_path / "disk" / "bank").iterdir())
    assert files == [f"snapshot_000000{i}_{n}.pt" for i in (3, 4, 5) for n in ("discriminator", "generator")]
    assert not (tmp_path / "memory" / "bank").exists()
    for network in ("generator", "discriminator"):
        for a, b in zip(disk.bank.states(network), memory.bank.states(network), strict=True):
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in b)
    for a, b in zip(_predictive(disk), _predictive(memory), strict=True):
        assert torch.equal(a, b)  # the same BMA predictive (hence accuracy), bit for bit
    # The checkpoint names the snapshots instead of holding them.
    saved = torch.load(disk_trainer.checkpoint_callback.last_model_path, weights_only=True)["bayesgan"][
        "bank"
    ]
    assert saved["files"] == ["snapshot_0000003", "snapshot_0000004", "snapshot_0000005"]
    assert "snapshots" not in saved
    sizes = [
        Path(t.checkpoint_callback.last_model_path).stat().st_size for t in (disk_trainer, memory_trainer)
    ]
    assert sizes[0] < sizes[1]


def test_disk_bank_resumes_exactly(make_config, tmp_path: Path) -> None:
    straight, _ = _fit(make_config, tmp_path / "straight", 5, "posterior.bank_storage=disk")
    _, first = _fit(make_config, tmp_path / "resumed", 4, "posterior.bank_storage=disk")
    checkpoint = first.checkpoint_callback.last_model_path
    resumed, _ = _fit(
        make_config, tmp_path / "resumed", 5, "posterior.bank_storage=disk", f"ckpt_path={checkpoint}"
    )
    # Snapshots 3 and 4 were written before the interruption and are read back from the run's bank/.
    assert list(resumed.bank.iterations) == list(straight.bank.iterations) == [3, 4, 5]
    assert resumed.bank.directory == tmp_path / "resumed" / "bank"
    for a, b in zip(_predictive(resumed), _predictive(straight), strict=True):
        assert torch.equal(a, b)


def test_disk_bank_checkpoint_without_its_files_is_one_line(make_config, tmp_path: Path) -> None:
    _, trainer = _fit(make_config, tmp_path, 3, "posterior.bank_storage=disk")
    state = torch.load(trainer.checkpoint_callback.last_model_path, weights_only=True)["bayesgan"]["bank"]
    (tmp_path / "bank" / "snapshot_0000003_generator.pt").unlink()
    bank = PosteriorBank(2, 1, 3, storage="disk")
    bank.attach(tmp_path / "bank")
    with pytest.raises(FileNotFoundError, match=r"snapshot_0000003_generator\.pt \(iteration 3\) is missing"):
        bank.load_state_dict(state)
    with pytest.raises(
        ValueError, match=r"^the checkpoint's posterior bank is stored in disk, this run's in"
    ):
        PosteriorBank(2, 1, 3).load_state_dict(state)


def test_bad_storage_is_one_line_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"^posterior\.bank_storage must be one of memory, disk, got 'ssd'$"):
        PosteriorSpec(optimizer=SGHMC, bank_storage="ssd")
    with pytest.raises(ValueError, match=r"^bank\.storage must be one of memory, disk, got 'ssd'$"):
        PosteriorBank(storage="ssd")


def test_disk_bank_is_found_after_the_run_directory_moved(make_config, tmp_path: Path) -> None:
    trained, _ = _fit(make_config, tmp_path / "before", 4, "posterior.bank_storage=disk")
    expected = _predictive(trained)
    (tmp_path / "before" / ".hydra").mkdir()  # as a bayesgan-train run directory has
    (tmp_path / "before").rename(tmp_path / "after")
    loaded = load_run(tmp_path / "after", "bayesgan-evaluate").module
    assert loaded.bank.directory == tmp_path / "after" / "bank"
    for a, b in zip(_predictive(loaded), expected, strict=True):
        assert torch.equal(a, b)
    (tmp_path / "after" / "bank" / "snapshot_0000004_discriminator.pt").unlink()
    with pytest.raises(SystemExit):
        load_run(tmp_path / "after", "bayesgan-evaluate")
