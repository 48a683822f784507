"""ProbGAN (bayesgan.methods.probgan) against known answers: the discriminator of a fixed generator mixture
converges to D* = N·p_data / (N·p_data + N_f·p_mix); the inherited priors' values and gradients equal
hand-derived ones; with no inherited prior the update is the Bayesian GAN's where pooling changes nothing.
Then the framework around it: configs, a short fit, one-line errors, exact resume, bayesgan-sample, DDP."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from bayesgan.methods.probgan import ProbGAN
from bayesgan.module import BayesGAN
from bayesgan.posterior import PosteriorSpec
from bayesgan.samplers import SGHMC
from bayesgan.train import build, run

P_DATA = [0.1, 0.2, 0.3, 0.4]  # data on K = 4 points (one-hot vectors)
P_GEN = [[0.5, 0.5, 0.0, 0.0], [0.0, 0.2, 0.3, 0.5]]  # two fixed generator copies
N, N_F = 100, 200  # real and fake observations (N_f ≠ N moves the optimum)


class Categorical(nn.Module):
    """A fixed generator: z ∈ (−1, 1) → the one-hot of category k where u = (z + 1)/2 falls in
    [cum_{k−1}, cum_k). ``cum`` is a buffer, so each ensemble copy holds its own distribution."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.register_buffer("cum", torch.linspace(1 / k, 1, k))
        self.unused = nn.Parameter(torch.zeros(1))  # an ensemble needs a parameter; no gradient reaches it

    def forward(self, z: Tensor) -> Tensor:
        u = (z[:, :1] + 1) / 2
        lower = torch.cat([torch.zeros_like(self.cum[:1]), self.cum[:-1]])
        return ((u >= lower) & (u < self.cum)).to(z.dtype)


@dataclass
class CategoricalToy:
    """Fixed categorical generators and a tabular discriminator: logit(e_k) = w_k, any function of k."""

    z_dim: int = 1

    def build_generator(self, data_shape: tuple[int, ...]) -> nn.Module:
        return Categorical(data_shape[0])

    def build_discriminator(self, data_shape: tuple[int, ...], num_logits: int) -> nn.Module:
        return nn.Linear(data_shape[0], num_logits, bias=False)


def _spec(copies: int, **optimizer: float | None) -> PosteriorSpec:
    return PosteriorSpec(
        optimizer=functools.partial(SGHMC, **optimizer), J_g=copies, fake_observations=N_F, bank_size=0
    )


def _toy(**method) -> ProbGAN:
    spec = _spec(2, lr_per_datum=2.0, temperature=0.0, prior_std=None, friction=0.1)
    model = ProbGAN(CategoricalToy(), spec, data_shape=(4,), num_data=N, batch_size=100, **method)
    with torch.no_grad():
        model.generator.stacked_buffers.cum.copy_(torch.tensor(P_GEN).cumsum(1))
    return model


def _exact_batch(probs: list[float], n: int = 100) -> Tensor:
    """n one-hot rows with exactly probs·n of each category."""
    return torch.eye(len(probs)).repeat_interleave(torch.tensor([round(p * n) for p in probs]), dim=0)


def _grid_fakes(model: ProbGAN, n: int = 100) -> Tensor:
    """Every generator copy at n evenly spaced z: exactly p_g·n of each category."""
    z = (torch.arange(n, dtype=torch.float32) + 0.5) / n * 2 - 1
    return model.generator(z[:, None].expand(model.generator.num_copies, n, 1).contiguous())


def test_discriminator_against_the_fixed_mixture_converges_to_the_known_optimum() -> None:
    model = _toy(prior="none")
    d_opt, _ = model.configure_optimizers()  # the D sampler itself, at temperature 0 (no noise, no prior)
    batch, fakes = {"x": _exact_batch(P_DATA)}, _grid_fakes(model)
    for _ in range(1500):
        d_opt.zero_grad()
        model.discriminator_loss(batch, fakes).sum().backward()
        d_opt.step()
    got = torch.sigmoid(model.discriminator.stacked_params.weight[0, 0]).tolist()
    mixture = [(a + b) / 2 for a, b in zip(*P_GEN, strict=True)]  # [0.25, 0.35, 0.15, 0.25]
    expected = [N * p / (N * p + N_F * q) for p, q in zip(P_DATA, mixture, strict=True)]
    assert got == pytest.approx(expected, abs=1e-4)
    # not the optimum against either generator alone (what a D trained on one copy's fakes would reach)
    alone = [N * p / (N * p + N_F * q) for p, q in zip(P_DATA, P_GEN[1], strict=True)]
    assert max(abs(a - b) for a, b in zip(got, alone, strict=True)) > 0.1


def test_partial_summation_prior_by_hand() -> None:
    """L_g = (L_now + λ·mean_h L(D_h)) / (1 + λ), each L the mean of softplus(−w[k]) over a copy's fakes,
    h over the held snapshots: the discriminator at construction, then the pushed ones, a window of 3."""
    model = _toy(prior="psa", prior_weight=0.5, history_size=3)
    initial = model.discriminator.stacked_params.weight[0, 0].tolist()
    now = [0.3, -0.2, 1.0, 0.0]
    pushed = [[1.0, 2.0, -1.0, 0.5], [-0.5, 0.0, 0.7, 2.0], [0.2, 0.2, 0.2, -3.0]]
    with torch.no_grad():
        model.discriminator.stacked_params.weight.copy_(torch.tensor([[now]]))

    def nll(w: list[float], probs: list[float]) -> float:
        return sum(p * math.log1p(math.exp(-wk)) for p, wk in zip(probs, w, strict=True))

    def check(held: list[list[float]]) -> None:
        got = model.generator_loss(_grid_fakes(model))
        for g, probs in enumerate(P_GEN):
            inherited = sum(nll(w, probs) for w in held) / len(held)
            assert float(got[g]) == pytest.approx((nll(now, probs) + 0.5 * inherited) / 1.5, rel=1e-5)

    model.history.push({"weight": torch.tensor([[pushed[0]]])})
    check([initial, pushed[0]])
    for w in pushed[1:]:  # the window is full: the construction-time discriminator is dropped
        model.history.push({"weight": torch.tensor([[w]])})
    check(pushed)
    assert model.observations.generator == 1.5 * N  # W_g = (1 + λ)·N_g: the G sampler's num_data


@dataclass
class Linear1D:
    """G(z) = a·z and D's logit w·x: the generator potential is a short closed form."""

    z_dim: int = 1

    def build_generator(self, data_shape: tuple[int, ...]) -> nn.Module:
        return nn.Linear(1, 1, bias=False)

    def build_discriminator(self, data_shape: tuple[int, ...], num_logits: int) -> nn.Module:
        return nn.Linear(1, num_logits, bias=False)


def test_gaussian_mixture_prior_gradient_by_hand() -> None:
    """∇_a U_g = N_g·mean_z[−σ(−w·a·z)·w·z] + λ·N_g·Σ_k ω_k·(a − μ_k)/s², ω = softmax_k(−(a − μ_k)²/(2s²))
    (prior excluded): what the G sampler receives as num_data · p.grad."""
    lam, s, n_g, w = 0.5, 0.5, 40, 0.8
    a, mu, z = [0.3, 1.5], [0.0, 1.0], [[0.5, -1.0, 0.25], [1.0, 0.2, -0.6]]
    model = ProbGAN(
        Linear1D(), _spec(2, lr_per_datum=1e-3), data_shape=(1,), num_data=n_g, batch_size=3,
        prior="gma", prior_weight=lam, gma_std=s,
    )  # fmt: skip
    with torch.no_grad():
        model.discriminator.stacked_params.weight.fill_(w)
        model.generator.stacked_params.weight.copy_(torch.tensor(a).view(2, 1, 1))
    model.history.push({"weight": torch.tensor(mu).view(2, 1, 1)})
    _, g_opt = model.configure_optimizers()
    fakes = model.generator(torch.tensor(z)[..., None])
    model.generator_loss(fakes).sum().backward()
    grad = model.generator.stacked_params.weight.grad.flatten() * g_opt.num_data

    def sigmoid(u: float) -> float:
        return 1 / (1 + math.exp(-u))

    for j in range(2):
        likelihood = n_g * sum(-sigmoid(-w * a[j] * zz) * w * zz for zz in z[j]) / 3
        exponents = [-((a[j] - m) ** 2) / (2 * s * s) for m in mu]
        omega = [math.exp(e) / sum(math.exp(f) for f in exponents) for e in exponents]
        pull = lam * n_g * sum(o * (a[j] - m) / s**2 for o, m in zip(omega, mu, strict=True))
        assert float(grad[j]) == pytest.approx(likelihood + pull, rel=1e-5)
        value = -math.log(sum(math.exp(e) for e in exponents))
        centres = {"weight": torch.tensor(mu).view(2, 1, 1)}
        assert float(model.gaussian_mixture_nll(centres)[j]) == pytest.approx(value, rel=1e-6)
    assert g_opt.num_data == (1 + lam) * n_g


TINY_PROBGAN = ["sampler=probgan", "method.history_every=2", "method.history_size=2"]
DCGAN_DIGITS = ["model=dcgan_small", "model.width=8", "dataset=digits", "dataset.batch_size=16"]


@pytest.mark.parametrize(
    "setting",
    [
        ["posterior.J_g=2"],  # the MLP has no batch norm: pooling the copies' fakes changes nothing
        ["posterior.J_g=1", *DCGAN_DIGITS],
    ],
    ids=["mlp-2-copies", "dcgan-1-copy"],
)
def test_without_inherited_prior_the_update_is_the_bayesian_gans(make_config, tmp_path, setting) -> None:
    models = []
    for method in (["sampler=probgan", "method.prior=none"], ["sampler=sghmc"]):
        cfg = make_config(*method, *setting, output_dir=tmp_path / method[0])
        trainer, module, datamodule = build(cfg, tmp_path / method[0])
        trainer.fit(module, datamodule=datamodule)
        models.append(module)
    assert isinstance(models[0], ProbGAN) and type(models[1]) is BayesGAN
    for (name, a), b in zip(models[0].state_dict().items(), models[1].state_dict().values(), strict=True):
        assert torch.allclose(a.float(), b.float(), atol=1e-5), name


def test_pooling_differs_from_per_copy_batches_under_batch_norm(make_config, tmp_path) -> None:
    # The negative control of the test above: with batch norm and two copies the mixture batch matters.
    setting = ["posterior.J_g=2", *DCGAN_DIGITS]
    params = []
    for method in (["sampler=probgan", "method.prior=none"], ["sampler=sghmc"]):
        trainer, module, datamodule = build(make_config(*method, *setting), tmp_path / method[0])
        trainer.fit(module, datamodule=datamodule)
        params.append(torch.cat([p.detach().flatten() for p in module.discriminator.parameters()]))
    assert not torch.allclose(params[0], params[1], atol=1e-4)


def test_configs_select_the_method_and_presets_compose(make_config) -> None:
    cfg = make_config("sampler=probgan")
    assert cfg.method._target_ == "bayesgan.methods.probgan.ProbGAN" and cfg.sampler.name == "probgan"
    preset = make_config("experiment=ring_pacgan", "sampler=probgan", tiny=False)
    assert preset.method._target_.endswith("ProbGAN") and preset.sampler.optimizer._target_.endswith("SGHMC")
    assert make_config("method=probgan", "sampler=sgld").sampler.optimizer._target_.endswith("SGLD")
    assert make_config().method._target_ == "bayesgan.module.BayesGAN"


@pytest.mark.parametrize(
    "setting",
    [
        ["dataset=ring", "method.prior=psa"],
        ["dataset=digits", "dataset.n_labels=20", "method.prior=gma", "model.hidden=32"],
    ],
    ids=["ring-psa", "digits-semi-gma"],
)
def test_short_fit(make_config, tmp_path, setting) -> None:
    results = run(make_config(*TINY_PROBGAN, *setting, "posterior.bank_size=2"), output_dir=tmp_path)
    assert results["iterations"] == 4 and results["bank_size"] == 2
    assert all(math.isfinite(results["metrics"][k]) for k in ("loss/d", "loss/g"))
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("method.prior=gmm", "method.prior must be one of psa, gma, none, got 'gmm'"),
        ("method.prior_weight=0", "method.prior_weight must be > 0"),
        ("method.history_size=0", "method.history_size must be >= 1"),
        ("method.history_every=-1", "method.history_every must be >= 1"),
        ("method.gma_std=0", "method.gma_std must be > 0"),
        ("method.prior_weight=abc", "method.prior_weight must be a number, got 'abc'"),
        ("method.history_size=2.5", "method.history_size must be an integer, got 2.5"),
    ],
)
def test_bad_settings_are_one_line(make_config, tmp_path, capsys, override, expected) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(make_config("sampler=probgan", override), output_dir=tmp_path)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2 and len(err.splitlines()) == 1 and expected in err, err


@pytest.mark.parametrize("prior", ["psa", "gma"])
def test_resume_continues_exactly(make_config, tmp_path, prior) -> None:
    from test_resume import _assert_same, _fit

    extra = [*TINY_PROBGAN, f"method.prior={prior}", "method.history_every=3"]
    _, straight = _fit(make_config, tmp_path / "straight", 7, *extra)
    first, _ = _fit(make_config, tmp_path / "resumed", 4, *extra)
    checkpoint = Path(first.checkpoint_callback.last_model_path)
    torch.manual_seed(12345)
    _, resumed = _fit(make_config, tmp_path / "resumed", 7, *extra, f"ckpt_path={checkpoint}")

    assert int(straight.history.filled) == (2 if prior == "psa" else 1)  # pushed at 0, 3, 6; a window of 2
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # the inherited prior's snapshots included
    for opt_a, opt_b in zip(straight.optimizers(), resumed.optimizers(), strict=True):
        _assert_same(opt_a.optimizer.state_dict(), opt_b.optimizer.state_dict())
    _assert_same(straight.bank.state_dict(), resumed.bank.state_dict())


def test_bayesgan_sample_on_a_probgan_run(make_config, tmp_path) -> None:
    import numpy as np

    from test_sample_evaluate import cli

    cfg = make_config(*TINY_PROBGAN, "posterior.bank_size=2", "posterior.J_g=3", output_dir=tmp_path / "run")
    run(cfg, output_dir=tmp_path / "run")
    done = cli("sample", tmp_path / "run", "--num", 5, "--per-generator", "--out", tmp_path / "rows.npz")
    assert done.returncode == 0, done.stderr
    with np.load(tmp_path / "rows.npz") as rows:
        assert rows["samples"].shape == (6, 5, 2)  # 3 generator copies x 2 bank snapshots, 5 points each


@pytest.mark.slow
def test_ddp_replicas_stay_identical(make_config, tmp_path) -> None:
    import json

    from test_ddp import ReplicaCheck

    cfg = make_config(
        *TINY_PROBGAN, "trainer=ddp_spawn", "trainer.accelerator=cpu", "trainer.devices=2", "iterations=6"
    )
    trainer, module, datamodule = build(cfg, tmp_path)
    trainer.callbacks.append(ReplicaCheck(str(tmp_path / "replicas.json")))
    trainer.fit(module, datamodule=datamodule)
    report = json.loads((tmp_path / "replicas.json").read_text())
    assert report["world_size"] == 2 and report["iteration"] == 6 and report["ranks_saw_different_data"]
    assert report["max_parameter_spread"] == 0.0
    assert int(module.history.filled) == 2  # spawn copies rank 0's state back, the history included
