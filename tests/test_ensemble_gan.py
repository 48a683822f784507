"""sampler=dcgan10, the paper's DCGAN-10: C independent ML-GANs, each on its own random 80 % of the training
set, vectorized. The vectorized copies equal a per-copy loop written out here, each copy only ever sees its
subset, and a run writes one results.json with the discriminators' model-average accuracy."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bayesgan.data import DigitsDataModule
from bayesgan.methods.ensemble_gan import EnsembleGAN
from bayesgan.train import build, run

COPIES = ["sampler=dcgan10", "sampler.J_g=3", "sampler.J_d=3"]


def test_each_copy_draws_only_from_its_own_subset() -> None:
    dm = DigitsDataModule(batch_size=32, seed=5)
    dm.setup("fit")
    subsets = dm.use_copy_subsets(3, 0.8)
    n = dm.num_train
    assert subsets.shape == (3, round(0.8 * n))
    assert all(len(set(s.tolist())) == subsets.shape[1] for s in subsets)  # distinct examples
    assert not torch.equal(subsets[0], subsets[1])  # independent random subsets
    train = dm.splits.train_x.flatten(1)
    for t in range(5):
        batch = dm.train_batch(t)
        assert batch["x_copies"].shape == (3, 32, *dm.data_shape)
        for c in range(3):
            # Each example of copy c's minibatch is a training image of copy c's subset, and not of the rest
            # of the set (digits has no duplicate images across that boundary for this seed).
            rows = batch["x_copies"][c].flatten(1)
            match = (rows[:, None, :] == train[None, :, :]).all(-1)  # [32, N]
            inside = torch.zeros(n, dtype=torch.bool)
            inside[subsets[c]] = True
            assert match[:, inside].any(1).all()
            assert not match[:, ~inside].any()
    assert torch.equal(dm.train_batch(3)["x_copies"], dm.train_batch(3)["x_copies"])  # a function of t


def test_copy_batches_split_over_ranks_like_the_unlabelled_batch() -> None:
    whole, parts = DigitsDataModule(batch_size=8, seed=1), []
    whole.setup("fit")
    whole.use_copy_subsets(2, 0.8)
    for rank in range(2):
        dm = DigitsDataModule(batch_size=8, seed=1)
        dm.setup("fit")
        dm.use_copy_subsets(2, 0.8)
        dm.simulate_distributed(rank, 2)
        parts.append(dm.train_batch(4)["x_copies"])
    assert torch.equal(torch.cat(parts, dim=1), whole.train_batch(4)["x_copies"])


def test_vectorized_copies_equal_a_per_copy_loop(make_config, tmp_path) -> None:
    _, module, dm = build(make_config(*COPIES), tmp_path)  # ring data, MLP, 3 pairs
    assert isinstance(module, EnsembleGAN)
    dm.use_copy_subsets(3, 0.8)
    batch = dm.train_batch(0)
    n = batch["x"].shape[0]
    z = module._iteration_z(n, phase=0)
    fakes = module.generator(z).detach()
    d_loss = module.discriminator_loss(batch, fakes)
    d_loss.sum().backward()
    g_fakes = module.generator(z)
    g_loss = module.generator_loss(g_fakes)
    g_loss.sum().backward()
    for c in range(3):
        disc, gen = module.discriminator.member(c), module.generator.member(c)
        # ML-GAN c alone: −log D(x) on its own batch, −log(1 − D(G_c(z))) on its own generator's fakes, the
        # two terms weighted N : N_f = 1 : 1 (per observation: their average).
        real, fake = disc(batch["x_copies"][c]).squeeze(-1), disc(gen(z[c])).squeeze(-1)
        expected = (F.softplus(-real).mean() + F.softplus(fake).mean()) / 2
        assert d_loss[c].item() == pytest.approx(expected.item(), rel=1e-5)
        grads = torch.autograd.grad(expected, list(disc.parameters()))
        stacked = [p.grad[c] for p in module.discriminator.stacked_params.parameters()]
        for got, want in zip(stacked, grads, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
        expected_g = F.softplus(-disc(gen(z[c])).squeeze(-1)).mean()  # −log D_c(G_c(z))
        assert g_loss[c].item() == pytest.approx(expected_g.item(), rel=1e-5)
        grads_g = torch.autograd.grad(expected_g, list(gen.parameters()))
        for got, want in zip(
            [p.grad[c] for p in module.generator.stacked_params.parameters()], grads_g, strict=True
        ):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_a_run_writes_one_results_file_with_the_model_average(make_config, tmp_path) -> None:
    cfg = make_config(
        *COPIES, "dataset=digits", "dataset.n_labels=20", "dataset.batch_size=16", "model=mlp",
        "model.hidden=16", "+callbacks.accuracy._target_=bayesgan.callbacks.SemiSupervisedAccuracy",
    )  # fmt: skip
    results = run(cfg, output_dir=tmp_path)
    assert results["choices"]["sampler"] == "dcgan10" and results["iterations"] == 4
    assert math.isfinite(results["metrics"]["test/bma_accuracy"])
    assert (tmp_path / "results.json").exists()


def test_unpaired_copies_are_refused_in_one_line(make_config, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        run(make_config(*COPIES, "sampler.J_d=2"), output_dir=tmp_path)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sampler.J_g (3) must equal sampler.J_d (2)" in err


def test_a_resumed_run_equals_the_uninterrupted_one(make_config, tmp_path) -> None:
    common = [
        *COPIES, "dataset=digits", "dataset.n_labels=20", "dataset.batch_size=16", "model=mlp",
        "model.hidden=16", "+callbacks.accuracy._target_=bayesgan.callbacks.SemiSupervisedAccuracy",
    ]  # fmt: skip
    whole = run(make_config(*common, "iterations=6", output_dir=tmp_path / "a"), output_dir=tmp_path / "a")
    run(make_config(*common, "iterations=3", output_dir=tmp_path / "b"), output_dir=tmp_path / "b")
    ckpt = tmp_path / "b" / "checkpoints" / "last.ckpt"
    cfg = make_config(*common, "iterations=6", f"ckpt_path={ckpt}", output_dir=tmp_path / "b")
    resumed = run(cfg, output_dir=tmp_path / "b")  # the per-copy subsets and batches are functions of seed, t
    assert resumed["metrics"]["test/bma_nll"] == whole["metrics"]["test/bma_nll"]
