"""The VAE and α-GAN families: their losses against values worked out by hand, a short fit through
``bayesgan-train``'s ``run``, one-line config errors, exact resume, and ``bayesgan-sample`` on a VAE run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from bayesgan.methods import alpha_gan, vae
from bayesgan.models import MLP
from bayesgan.protocol import GenerativeMethod
from bayesgan.train import build, run
from test_resume import _assert_same
from test_sample_evaluate import cli

DIGITS = ["dataset=digits", "dataset.batch_size=32"]
DIGITS_VAE = [*DIGITS, "model=vae", "model.backbone.width=8", "model.backbone.z_dim=4", "z_prior=normal"]
DIGITS_ALPHA = [
    *DIGITS,
    "model=alpha_gan",
    "model.backbone.width=8",
    "model.backbone.z_dim=4",
    "model.code_hidden=8",
]
RING = ["dataset=ring", "dataset.num_samples=256", "dataset.batch_size=32", "z_prior=normal"]
SMALL_TOY = ["model.backbone.g_hidden=16", "model.backbone.d_hidden=8", "model.backbone.g_depth=2"]
RING_VAE = [*RING, "model=vae_mlp", *SMALL_TOY]
RING_ALPHA = [*RING, "model=alpha_gan_mlp", *SMALL_TOY, "model.code_hidden=8"]


# -- losses by hand ----------------------------------------------------------------------------------------
def test_gaussian_kl_is_the_closed_form_by_hand() -> None:
    # KL(N(0.5, 0.25) || N(0, 1)) = ½(0.25 + 0.25 − 1 − log 0.25) = ½(−0.5 + 1.3862944) = 0.4431472,
    # and a second latent dimension N(0, 1) adds 0.
    kl = vae.gaussian_kl(torch.tensor([[0.5, 0.0]]), torch.tensor([[math.log(0.25), 0.0]]))
    assert kl.shape == (1,)
    assert kl.item() == pytest.approx(0.4431472, abs=1e-6)


def test_bernoulli_log_likelihood_by_hand() -> None:
    # p = sigmoid(0) = 0.5 with target 1: log 0.5; p = sigmoid(ln 3) = 0.75 with target 0.5:
    # 0.5 log 0.75 + 0.5 log 0.25. Sum: −0.6931472 − 0.1438410 − 0.6931472 = −1.5301354.
    ll = vae.bernoulli_log_likelihood(torch.tensor([[0.0, math.log(3.0)]]), torch.tensor([[1.0, 0.5]]))
    assert ll.item() == pytest.approx(-1.5301354, abs=1e-6)


def test_gaussian_log_likelihood_by_hand() -> None:
    # log N(1; 0.5, 2²) = −½(log 2π + log 4 + 0.25 / 4) = −½(1.8378771 + 1.3862944 + 0.0625) = −1.6433357
    ll = vae.gaussian_log_likelihood(
        torch.tensor([[0.5]]), torch.tensor([math.log(4.0)]), torch.tensor([[1.0]])
    )
    assert ll.item() == pytest.approx(-1.6433357, abs=1e-6)


class Constant(nn.Module):
    def __init__(self, value: list[float]) -> None:
        super().__init__()
        self.value = torch.tensor([value])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.value.expand(x.shape[0], -1)


def test_elbo_of_a_one_dimensional_gaussian_vae_by_hand() -> None:
    """Encoder output (μ, log σ²) = (0.3, log 0.49), decoder x̂ = 2z + 0.1, fixed std 0.5, x = 1."""
    nets = vae.VAENets(MLP(z_dim=1, hidden=4), likelihood="gaussian", std=0.5)
    model = vae.VAE(nets, data_shape=(1,), z_prior="normal")
    model.encoder = Constant([0.3, math.log(0.49)])
    model.decoder = nn.Linear(1, 1)
    with torch.no_grad():
        model.decoder.weight.fill_(2.0)
        model.decoder.bias.fill_(0.1)
    eps = torch.randn(1, generator=torch.Generator().manual_seed(7)).item()
    nelbo, kl = model.negative_elbo(torch.tensor([[1.0]]), torch.Generator().manual_seed(7))
    z = 0.3 + 0.7 * eps
    mean = 2 * z + 0.1
    expected_kl = 0.5 * (0.09 + 0.49 - 1 - math.log(0.49))  # ½(−0.42 + 0.7133499) = 0.1466749
    expected_ll = -0.5 * (math.log(2 * math.pi) + math.log(0.25) + (1.0 - mean) ** 2 / 0.25)
    assert kl.item() == pytest.approx(expected_kl, abs=1e-6)
    assert expected_kl == pytest.approx(0.1466749, abs=1e-6)
    assert nelbo.item() == pytest.approx(expected_kl - expected_ll, abs=1e-5)


class ConstantImage(nn.Module):
    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.logits = torch.tensor(logits).reshape(1, 1, 1, -1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.logits.expand(z.shape[0], -1, -1, -1)


def test_bernoulli_vae_reads_pixels_in_minus_one_one_and_generates_the_mean_in_that_range() -> None:
    """Two pixels x = (−1, 1) are Bernoulli targets (0, 1); decoder logits (−ln 3, ln 3) mean p = (¼, ¾)."""
    nets = vae.VAENets(MLP(z_dim=1, hidden=4), likelihood="bernoulli")
    model = vae.VAE(nets, data_shape=(1, 1, 2), z_prior="normal")
    model.encoder = Constant([0.0, 0.0])  # q(z|x) = N(0, 1): KL = 0
    model.decoder = ConstantImage([-math.log(3.0), math.log(3.0)])
    nelbo, kl = model.negative_elbo(torch.tensor([[[[-1.0, 1.0]]]]))
    assert kl.item() == pytest.approx(0.0, abs=1e-7)
    assert nelbo.item() == pytest.approx(0.5753641, abs=1e-6)  # −(log(1 − ¼) + log ¾) = 2 x 0.2876821
    means = model.generate(torch.zeros(3, 1))  # the decoder mean 2p − 1, in the data's [−1, 1]
    assert means.shape == (1, 3, 1, 1, 2)
    assert means[0, 0].flatten().tolist() == pytest.approx([-0.5, 0.5], abs=1e-6)


def test_alpha_gan_terms_on_given_logits_by_hand() -> None:
    d = alpha_gan.discriminator_terms(torch.tensor([2.0]), torch.tensor([-1.0]), torch.tensor([0.5]))
    assert d["loss/d_real"].item() == pytest.approx(0.1269280, abs=1e-6)  # log(1 + e^−2)
    assert d["loss/d_rec"].item() == pytest.approx(0.3132617, abs=1e-6)  # log(1 + e^−1)
    assert d["loss/d_gen"].item() == pytest.approx(0.9740770, abs=1e-6)  # log(1 + e^0.5)
    c = alpha_gan.code_discriminator_terms(torch.tensor([0.0]), torch.tensor([1.0]))
    assert c["loss/c_prior"].item() == pytest.approx(math.log(2), abs=1e-6)
    assert c["loss/c_enc"].item() == pytest.approx(1.3132617, abs=1e-6)  # log(1 + e)
    x, rec = torch.tensor([[1.0, -1.0]]), torch.tensor([[0.5, 0.0]])  # ||x − x_rec||₁ = 1.5
    args = (x, rec, torch.tensor([-1.0]), torch.tensor([0.5]), torch.tensor([1.0]))
    ns = alpha_gan.encoder_generator_terms(*args, weight=2.0, kind="non_saturating")
    assert ns["loss/recon"].item() == pytest.approx(3.0)
    assert ns["loss/g_rec"].item() == pytest.approx(1.3132617, abs=1e-6)  # −log sigmoid(−1)
    assert ns["loss/g_gen"].item() == pytest.approx(0.4740770, abs=1e-6)  # −log sigmoid(0.5)
    assert ns["loss/e_code"].item() == pytest.approx(0.3132617, abs=1e-6)  # −log sigmoid(1)
    ratio = alpha_gan.encoder_generator_terms(*args, weight=2.0, kind="ratio")  # −log D + log(1 − D) = −l
    assert [ratio[k].item() for k in ("loss/g_rec", "loss/g_gen", "loss/e_code")] == [1.0, -0.5, -1.0]
    assert sum(ns.values()).item() == pytest.approx(3.0 + 1.3132617 + 0.4740770 + 0.3132617, abs=1e-5)


# -- runs --------------------------------------------------------------------------------------------------
def _results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def test_vae_fit_writes_results_samples_and_checkpoint(make_config, tmp_path: Path) -> None:
    cfg = make_config(
        *DIGITS_VAE, "callbacks=default", "callbacks.quality=null", "callbacks.samples.every_n_iterations=2"
    )
    outcome = run(cfg, tmp_path)
    results = _results(tmp_path)
    assert outcome["iterations"] == results["iterations"] == 4
    assert results["choices"]["sampler"] == "vae" and results["bank_size"] == 0
    assert results["diverged_at"] is None and math.isfinite(results["metrics"]["loss/nelbo"])
    assert (tmp_path / "samples" / "iter_0000004.png").exists()
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
    sampled = cli("sample", tmp_path, "--num", 5, "--out", tmp_path / "s.npz", "--seed", 3)
    assert sampled.returncode == 0, sampled.stderr
    with np.load(tmp_path / "s.npz") as data:
        samples = data["samples"]
    assert samples.shape == (5, 1, 8, 8) and np.abs(samples).max() <= 1.0  # decoder means in the data range


def test_a_gaussian_vae_is_not_stopped_for_its_nelbo_scale_but_a_bernoulli_one_is(
    make_config, tmp_path: Path
) -> None:
    # The grid's coordinates reach ±4: with σ = 0.05 the first NELBO per dimension is E[x²]/(2σ²) ≈ 1.6e3,
    # above divergence_loss = 1e3, though nothing has diverged (it stopped such runs at iteration 1).
    grid = ["dataset=grid", "dataset.num_samples=256", "dataset.batch_size=32", "z_prior=normal"]
    run(make_config(*grid, "model=vae_mlp", *SMALL_TOY, "model.std=0.05"), tmp_path)
    results = _results(tmp_path)
    assert results["diverged_at"] is None and results["iterations"] == 4
    nets = vae.VAENets(MLP(z_dim=1, hidden=4), likelihood="bernoulli")
    bernoulli = vae.VAE(nets, data_shape=(1, 1, 2), z_prior="normal")  # 0.7 per pixel at first: 1e3 is not
    reason = bernoulli.check_divergence({"loss/nelbo_per_dim": torch.tensor(2e3)})
    assert reason == "loss/nelbo_per_dim 2e+03 exceeds divergence_loss=1000"


def test_alpha_gan_fit_on_the_ring_reports_coverage(make_config, tmp_path: Path) -> None:
    cfg = make_config(*RING_ALPHA, "callbacks=default", "callbacks.coverage.num_samples=200")
    run(cfg, tmp_path)
    results = _results(tmp_path)
    assert results["choices"]["sampler"] == "alpha_gan" and results["iterations"] == 4
    assert {"coverage/modes", "coverage/high_quality", "loss/d", "loss/g"} <= results["metrics"].keys()


def test_the_families_honour_the_protocol(make_config, tmp_path: Path) -> None:
    for overrides in (RING_VAE, RING_ALPHA):
        _, module, _ = build(make_config(*overrides), tmp_path)
        assert isinstance(module, GenerativeMethod)
        samples = module.generate(6, generator=torch.Generator().manual_seed(0))
        assert samples.shape == (1, 6, 2) and module.num_posterior_samples("generator") == 1
        assert len(module.bank) == 0 and not module.semi_supervised
        with pytest.raises(RuntimeError, match="semi-supervised"):
            module.class_probabilities(torch.zeros(1, 2))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ([*DIGITS, "model=vae", "z_prior=uniform"], "z_prior must be normal for model=vae"),
        ([*RING, "model=alpha_gan"], "got data_shape=(2,); use model=alpha_gan_mlp for vector data"),
        ([*RING_VAE, "sampler=sgld"], "sampler=sgld does not apply to VAE"),
        ([*RING_ALPHA, "sampler=sghmc"], "sampler=sghmc does not apply to AlphaGAN"),
        ([*RING_VAE, "sampler=probgan"], "the vae networks train only with method=vae"),  # probgan's method
        ([*DIGITS_VAE, "dataset.n_labels=50"], "dataset.n_labels must be null for model=vae"),
        ([*RING_VAE, "method.lr=-1"], "method.lr must be > 0"),
        ([*RING_ALPHA, "method.betas=[0.5,1.5]"], "method.betas must be two numbers in [0, 1)"),
        ([*RING_VAE, "model.likelihood=poisson"], "model.likelihood must be one of"),
        ([*RING_VAE, "model.likelihood=bernoulli"], "model.likelihood=bernoulli needs image data"),
        ([*RING_ALPHA, "method.adversarial_loss=hinge"], "method.adversarial_loss must be one of"),
        ([*RING_ALPHA, "method.reconstruction_weight=-1"], "method.reconstruction_weight must be >= 0"),
    ],
)
def test_bad_settings_are_one_line(make_config, tmp_path: Path, capsys, overrides, message) -> None:
    with pytest.raises(SystemExit) as exit_:
        run(make_config(*overrides), tmp_path)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_the_ml_sampler_or_a_preset_sampler_is_accepted(make_config, tmp_path: Path) -> None:
    build(make_config(*RING_VAE, "sampler=ml"), tmp_path)  # "no sampling" said explicitly
    cfg = make_config(
        "experiment=ring_pacgan", *RING_ALPHA, "dataset.num_samples=256"
    )  # preset's sghmc: unused
    assert cfg.sampler.name == "sghmc"
    build(cfg, tmp_path)


# -- exact resume ------------------------------------------------------------------------------------------
def _fit(make_config, out: Path, iterations: int, *extra: str):
    cfg = make_config(f"iterations={iterations}", "checkpoint_every=1", *extra, output_dir=out)
    trainer, module, datamodule = build(cfg, out)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    return trainer, module


@pytest.mark.parametrize("family", [DIGITS_VAE, RING_ALPHA, RING_VAE], ids=["vae", "alpha_gan", "vae_mlp"])
def test_resume_continues_exactly(make_config, tmp_path: Path, family: list[str]) -> None:
    _, straight = _fit(make_config, tmp_path / "straight", 4, *family)
    first, _ = _fit(make_config, tmp_path / "resumed", 2, *family)
    checkpoint = Path(first.checkpoint_callback.last_model_path)
    assert torch.load(checkpoint, weights_only=True)["bayesgan"]["iteration"] == 2
    torch.manual_seed(12345)  # whatever happened in between, the checkpoint's RNG state comes back
    _, resumed = _fit(make_config, tmp_path / "resumed", 4, *family, f"ckpt_path={checkpoint}")
    assert resumed.iteration == straight.iteration == 4
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for opt_a, opt_b in zip(straight.optimizers(), resumed.optimizers(), strict=True):
        _assert_same(opt_a.optimizer.state_dict(), opt_b.optimizer.state_dict())
