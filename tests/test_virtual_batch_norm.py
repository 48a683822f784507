"""Virtual batch norm (``model.virtual_batch_norm``; Salimans et al. 2016, §3.4): the formula against a numpy
hand computation, the defining independence from the rest of the batch (which batch norm lacks), no
train/eval difference, the reference batches a run fills, short fits with two samplers, exact resume,
``bayesgan-evaluate`` / ``-sample`` from a checkpoint, and one-line refusals. The vectorized copies equal a
per-copy loop in tests/test_ensemble.py (its ``*_vbn_*`` cases)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from bayesgan.ensemble import Ensemble
from bayesgan.models import DCGAN, MLP, PacGANToy
from bayesgan.models.virtual_batch_norm import VirtualBatchNorm
from bayesgan.reference_batches import fill_references
from bayesgan.train import build, run
from test_sample_evaluate import cli  # the CLIs run in this process

VBN = ["model.virtual_batch_norm=both", "model.vbn_reference_size=8"]
SEMI = [
    "dataset=digits", "dataset.n_labels=20", "dataset.batch_size=16",
    "+callbacks.accuracy._target_=bayesgan.callbacks.SemiSupervisedAccuracy",
]  # fmt: skip
SMALL_DCGAN = ["model=dcgan_small", "model.width=8", "model.z_dim=8"]


def vbn_by_hand(h: np.ndarray, r: int, eps: float, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """The paper's VBN written out with loops: h [R + B, F, *spatial], the first R rows the reference."""
    out = np.empty_like(h)
    for f in range(h.shape[1]):
        ref = h[:r, f].ravel()
        mu_r, nu_r = ref.mean(), (ref**2).mean()
        for i in range(h.shape[0]):
            if i < r:  # the reference batch: its own statistics only
                mu, nu = mu_r, nu_r
            else:  # an example: weight 1/(R+1) for itself, R/(R+1) for the reference
                own = h[i, f].ravel()
                mu = (own.mean() + r * mu_r) / (r + 1)
                nu = ((own**2).mean() + r * nu_r) / (r + 1)
            out[i, f] = gamma[f] * (h[i, f] - mu) / math.sqrt(nu - mu**2 + eps) + beta[f]
    return out


def test_fully_connected_case_written_out() -> None:
    # Reference (1, 3): μ_r = 2, ν_r = 5 → outputs (1 − 2)/1 = −1 and +1. Example 5: μ = (5 + 2·2)/3 = 3,
    # ν = (25 + 2·5)/3 = 35/3, variance 35/3 − 9 = 8/3, so (5 − 3)/sqrt(8/3) = sqrt(3/2).
    layer = VirtualBatchNorm(1, reference_size=2, affine=False, eps=0.0)
    out = layer(torch.tensor([[1.0], [3.0], [5.0]], dtype=torch.float64))
    assert out[:, 0].tolist() == pytest.approx([-1.0, 1.0, math.sqrt(1.5)], rel=1e-12)


@pytest.mark.parametrize("shape", [(5, 3), (5, 2, 3, 2)], ids=["linear", "conv"])
def test_equals_the_formula_by_hand(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    h = rng.normal(0.5, 2.0, size=shape)
    gamma, beta = rng.normal(1.0, 0.3, shape[1]), rng.normal(0.0, 0.3, shape[1])
    layer = VirtualBatchNorm(shape[1], reference_size=3, affine=True, eps=1e-5).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(gamma))
        layer.bias.copy_(torch.from_numpy(beta))
    out = layer(torch.from_numpy(h)).detach().numpy()
    np.testing.assert_allclose(out, vbn_by_hand(h, 3, 1e-5, gamma, beta), rtol=1e-10, atol=1e-12)


def _with_references(arch, copies: int = 1) -> tuple[Ensemble, Ensemble]:
    torch.manual_seed(0)
    d = Ensemble(lambda: arch.build_discriminator((1, 8, 8), 3), copies)
    g = Ensemble(lambda: arch.build_generator((1, 8, 8)), copies)
    fill_references(d, data=lambda r: torch.rand(r, 1, 8, 8) * 2 - 1)
    fill_references(g, data=None, latent=lambda r: torch.randn(r, arch.z_dim))
    return d, g


@pytest.mark.parametrize("family", ["dcgan", "mlp"])
def test_an_example_does_not_depend_on_the_rest_of_its_batch(family: str) -> None:
    def arch(vbn: str):
        if family == "dcgan":
            return DCGAN(z_dim=6, width=4, virtual_batch_norm=vbn, vbn_reference_size=7)
        return MLP(z_dim=6, hidden=10, depth=2, virtual_batch_norm=vbn, vbn_reference_size=7)

    torch.manual_seed(1)
    x0, others, z0 = torch.randn(1, 1, 8, 8), torch.randn(5, 1, 8, 8), torch.randn(1, 6)
    small, large = torch.cat([x0, others[:2]]), torch.cat([x0, 3 * others + 1])  # very different batches
    zs, zl = torch.cat([z0, torch.randn(2, 6)]), torch.cat([z0, 4 * torch.randn(6, 6) - 2])
    d, g = _with_references(arch("both"))
    torch.testing.assert_close(d(small, shared_input=True)[:, 0], d(large, shared_input=True)[:, 0])
    torch.testing.assert_close(g(zs, shared_input=True)[:, 0], g(zl, shared_input=True)[:, 0])
    # ... and in the cross-evaluation, whatever else is stacked with it:
    crossed = d.cross(torch.stack([large[:3], small]))
    torch.testing.assert_close(crossed[:, 0, 0], crossed[:, 1, 0])
    if family == "dcgan":  # plain batch norm fails the same test: its statistics come from the batch
        d_bn, g_bn = _with_references(arch("none"))
        assert not torch.allclose(d_bn(small, shared_input=True)[:, 0], d_bn(large, shared_input=True)[:, 0])
        assert not torch.allclose(g_bn(zs, shared_input=True)[:, 0], g_bn(zl, shared_input=True)[:, 0])


def test_no_train_eval_difference() -> None:
    d, g = _with_references(DCGAN(z_dim=6, width=4, virtual_batch_norm="both", vbn_reference_size=7), 2)
    x, z = torch.randn(4, 1, 8, 8), torch.randn(4, 6)
    train_d, train_g = d(x, shared_input=True), g(z, shared_input=True)
    d.eval(), g.eval()
    torch.testing.assert_close(d(x, shared_input=True), train_d)
    torch.testing.assert_close(g(z, shared_input=True), train_g)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"virtual_batch_norm": True},
            "virtual_batch_norm must be one of none, discriminator, generator, both",
        ),
        ({"virtual_batch_norm": "critic"}, "got 'critic'"),
        ({"vbn_reference_size": 0}, "vbn_reference_size must be an integer >= 1, got 0"),
        ({"vbn_reference_size": 2.5}, "vbn_reference_size must be an integer >= 1, got 2.5"),
    ],
)
@pytest.mark.parametrize("family", [DCGAN, MLP, PacGANToy])
def test_bad_values_are_refused_in_one_line(family, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        family(**kwargs)
    assert "\n" not in str(error.value)


def test_a_network_without_a_layer_to_normalise_is_refused() -> None:
    with pytest.raises(ValueError, match="MLP discriminator, which has no normalised layer"):
        MLP(depth=0, virtual_batch_norm="discriminator").build_discriminator((2,), 1)
    with pytest.raises(ValueError, match="DCGAN discriminator, which has no normalised layer"):
        DCGAN(num_layers=1, virtual_batch_norm="both").build_discriminator((1, 8, 8), 1)
    with pytest.raises(ValueError, match="maxout discriminator has no batch norm to make virtual"):
        PacGANToy(virtual_batch_norm="both")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.virtual_batch_norm=yes"], "DCGAN virtual_batch_norm must be one of none, discriminator"),
        (["model.virtual_batch_norm=both", "model.vbn_reference_size=5000"], "exceeds the 1437 training"),
    ],
)
def test_the_cli_refuses_in_one_line(make_config, tmp_path, capsys, overrides, message) -> None:
    with pytest.raises(SystemExit):
        run(make_config(*SEMI, *SMALL_DCGAN, *overrides), output_dir=tmp_path)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


@pytest.mark.parametrize(
    ("sampler", "model"),
    [
        ("ml", SMALL_DCGAN),
        ("sghmc", SMALL_DCGAN),
        # feature matching reads the penultimate features: the reference rows are dropped before them
        ("sghmc", ["model=mlp", "model.hidden=8", "objective.feature_matching=true"]),
    ],
)
def test_trains_with_each_sampler(make_config, tmp_path, sampler: str, model: list[str]) -> None:
    results = run(make_config(*SEMI, *model, *VBN, f"sampler={sampler}"), output_dir=tmp_path)
    assert results["iterations"] == 4 and results["diverged_at"] is None
    assert math.isfinite(results["metrics"]["test/bma_accuracy"])


def test_pacgan_generator_trains_with_it(make_config, tmp_path) -> None:
    pacgan = ["model=pacgan", "model.g_hidden=16", "model.d_hidden=8", "model.virtual_batch_norm=generator"]
    cfg = make_config(*pacgan, "model.vbn_reference_size=8", "sampler=sghmc", "z_prior=normal")
    results = run(cfg, output_dir=tmp_path)
    assert results["iterations"] == 4 and results["diverged_at"] is None


def _fit(make_config, out: Path, iterations: int, *extra: str):
    settings = ["posterior.bank_size=3", "posterior.burn_in=2", "posterior.thin=1", "dataset.num_samples=256"]
    cfg = make_config(f"iterations={iterations}", *settings, *VBN, *extra, output_dir=out)
    trainer, module, datamodule = build(cfg, out)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    return trainer, module, datamodule


def test_a_run_fills_the_reference_batches_and_resumes_exactly(make_config, tmp_path) -> None:
    _, straight, datamodule = _fit(make_config, tmp_path / "straight", 7)
    first, _, _ = _fit(make_config, tmp_path / "resumed", 3)
    checkpoint = Path(first.checkpoint_callback.last_model_path)
    torch.manual_seed(12345)
    _, resumed, _ = _fit(make_config, tmp_path / "resumed", 7, f"ckpt_path={checkpoint}")
    assert resumed.iteration == straight.iteration == 7
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for a, b in zip(straight.bank.states("generator"), resumed.bank.states("generator"), strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    # The discriminators' reference rows are training examples, the same in every copy; the generators'
    # are latents of the z prior (uniform on (-1, 1) by default).
    d_ref = straight.discriminator.current_state()["reference.reference"]
    train_x = datamodule.splits.train_x
    assert d_ref.shape == (straight.discriminator.num_copies, 8, *train_x.shape[1:])
    assert all(torch.equal(d_ref[0], d_ref[c]) for c in range(d_ref.shape[0]))
    assert all(bool((train_x == row).all(-1).any()) for row in d_ref[0])
    g_ref = straight.generator.current_state()["reference.reference"]
    assert g_ref.shape[1:] == (8, straight.z_dim) and g_ref.abs().max() < 1 and g_ref.std() > 0.3
    # Posterior-bank snapshots carry their reference: generate() equals each snapshot copy run by hand.
    z = torch.rand(5, straight.z_dim) * 2 - 1
    pooled = straight.generate(z)
    by_hand = [
        straight.generator.member(c, state)(z)
        for state in straight.bank.states("generator")
        for c in range(straight.generator.num_copies)
    ]
    torch.testing.assert_close(pooled, torch.stack(by_hand))


def test_dcgan10_copies_get_references_from_their_own_subsets(make_config, tmp_path) -> None:
    cfg = make_config("sampler=dcgan10", "sampler.J_g=3", "sampler.J_d=3", *VBN, "iterations=1")
    trainer, module, datamodule = build(cfg, tmp_path)
    trainer.fit(module, datamodule=datamodule)
    refs = module.discriminator.current_state()["reference.reference"]
    for c, subset in enumerate(datamodule.copy_subsets):
        pool = datamodule.splits.train_x[subset]
        assert all(bool((pool == row).all(-1).any()) for row in refs[c]), c
    assert not torch.equal(refs[0], refs[1])


def test_evaluate_and_sample_use_the_checkpointed_reference(make_config, tmp_path) -> None:
    run(make_config(*SEMI, *SMALL_DCGAN, *VBN, "posterior.bank_size=2"), output_dir=tmp_path)
    done = cli("evaluate", tmp_path, "accuracy")
    assert done.returncode == 0, done.stderr
    a = json.loads((tmp_path / "results.json").read_text())["metrics"]
    b = json.loads((tmp_path / "evaluation.json").read_text())["metrics"]
    assert b["test/bma_accuracy"] == pytest.approx(a["test/bma_accuracy"], abs=1e-6)
    done = cli("sample", tmp_path, "--out", tmp_path / "s.npz", "--num", 4)
    assert done.returncode == 0, done.stderr
    assert np.isfinite(np.load(tmp_path / "s.npz")["samples"]).all()


@pytest.mark.parametrize("sampler", ["supervised", "probgan"])
def test_other_methods_train_with_it(make_config, tmp_path, sampler: str) -> None:
    cfg = make_config(*SEMI, "model=mlp", "model.hidden=8", *VBN, f"sampler={sampler}", "iterations=2")
    trainer, module, datamodule = build(cfg, tmp_path)
    trainer.fit(module, datamodule=datamodule)
    assert module.iteration == 2 and module.diverged_at is None
    if sampler == "supervised":  # the reference batch is labelled examples (20 labels: some twice)
        refs = module.classifier.reference.reference
        labelled = datamodule.splits.train_x[datamodule.labelled_indices]
        assert all(bool((labelled == row).all(-1).any()) for row in refs)
    assert torch.isfinite(module.class_probabilities(datamodule.splits.train_x[:4])).all()
