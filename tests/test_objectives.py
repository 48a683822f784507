"""The GAN objectives (objective=...): per-copy D and G terms against hand-computed numbers, their hooks
(gradient penalty, clipping, n_critic), short fits with every sampler, and the combinations refused."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bayesgan import losses
from bayesgan.ensemble import Ensemble
from bayesgan.objectives import LeastSquares, Minimax, NonSaturating, Wasserstein
from bayesgan.train import run

# One discriminator copy, two generator copies, n = 2, unsupervised (one logit = the score s).
REAL = [1.0, -2.0]
FAKE = [[0.5, 0.0], [-1.0, 3.0]]  # [C_g][n]
OBS = losses.Observations(real=3, fake=5, labelled=0, generator=7)  # W_d = 8, W_g = 7


def sp(u: float) -> float:
    return math.log(1 + math.e**u)  # softplus, written out


def terms(objective) -> tuple[float, list[float]]:
    real = torch.tensor(REAL, dtype=torch.float64).view(1, 2, 1)
    fake = torch.tensor(FAKE, dtype=torch.float64).view(1, 2, 2, 1)
    d = losses.discriminator_nll(real, fake, OBS, semi_supervised=False, objective=objective)
    g = losses.generator_nll(fake, semi_supervised=False, objective=objective)
    return float(d) * 8, g.tolist()  # U_d's likelihood part, and L_g = U_g / N_g per generator copy


def test_least_squares_by_hand() -> None:
    # real: ½(1−1)² = 0, ½(−2−1)² = 4.5 -> 2.25; fakes: g0 ½·0.25, ½·0 -> 0.0625, g1 ½·1, ½·9 -> 2.5.
    # U_d = 3·2.25 + 5·(0.0625 + 2.5)/2 = 13.15625; G: g0 ½·0.25, ½·1 -> 0.3125, g1 ½·4, ½·4 -> 2.0.
    u_d, l_g = terms(LeastSquares())
    assert u_d == pytest.approx(13.15625, rel=1e-12)
    assert l_g == pytest.approx([0.3125, 2.0], rel=1e-12)
    # One-sided smoothing 0.1: real ½(1−0.9)² = 0.005, ½(−2.9)² = 4.205 -> 2.105; U_d = 6.315 + 6.40625.
    assert terms(LeastSquares(label_smoothing=0.1))[0] == pytest.approx(12.72125, rel=1e-12)


def test_wasserstein_by_hand() -> None:
    # λ = 2: real −2·mean(1, −2) = 1; fake 2·mean(mean(0.5, 0), mean(−1, 3)) = 2·0.625 = 1.25.
    # U_d = 3·1 + 5·1.25 = 9.25; G: −2·0.25 = −0.5, −2·1 = −2.
    u_d, l_g = terms(Wasserstein(scale=2.0))
    assert u_d == pytest.approx(9.25, rel=1e-12)
    assert l_g == pytest.approx([-0.5, -2.0], rel=1e-12)


def test_non_saturating_and_minimax_by_hand() -> None:
    real = (sp(-1.0) + sp(2.0)) / 2  # −log D(x) = log(1 + e^{−s})
    fake = ((sp(0.5) + sp(0.0)) / 2 + (sp(-1.0) + sp(3.0)) / 2) / 2
    u_d, l_g = terms(NonSaturating())
    assert u_d == pytest.approx(3 * real + 5 * fake, rel=1e-12)
    assert l_g == pytest.approx([(sp(-0.5) + sp(0.0)) / 2, (sp(1.0) + sp(-3.0)) / 2], rel=1e-12)
    u_mm, l_mm = terms(Minimax())
    assert u_mm == pytest.approx(u_d, rel=1e-12)  # the same discriminator
    assert l_mm == pytest.approx([-(sp(0.5) + sp(0.0)) / 2, -(sp(-1.0) + sp(3.0)) / 2], rel=1e-12)
    # One-sided smoothing α: a real example costs (1 − α)·log(1 + e^{−s}) + α·log(1 + e^{s}).
    smooth = (0.8 * sp(-1.0) + 0.2 * sp(1.0) + 0.8 * sp(2.0) + 0.2 * sp(-2.0)) / 2
    assert terms(NonSaturating(label_smoothing=0.2))[0] == pytest.approx(3 * smooth + 5 * fake, rel=1e-12)


def test_gradient_penalty_by_hand() -> None:
    # A linear critic f(x) = w·x has ∇f = w everywhere: penalty γ·λ·(‖w‖ − 1)², whatever x̂ is.
    critic = Ensemble(lambda: nn.Linear(2, 1, bias=False), 2)
    with torch.no_grad():
        critic.stacked_params.weight.copy_(torch.tensor([[[3.0, 4.0]], [[0.6, 0.8]]]))
    objective = Wasserstein(scale=0.5, clip=None, gradient_penalty=10.0)
    real, fake = torch.randn(2, 3, 2), torch.randn(2, 3, 2)
    score = lambda x: critic(x).squeeze(-1)  # noqa: E731
    penalty = objective.penalty(score, real, fake, torch.Generator().manual_seed(0))
    assert penalty.tolist() == pytest.approx([10 * 0.5 * 16, 0.0], abs=1e-5)  # ‖(3, 4)‖ = 5, ‖(.6, .8)‖ = 1
    penalty.sum().backward()  # differentiable in the critic's weights (double backward)
    assert critic.stacked_params.weight.grad is not None


def test_clipping_keeps_every_weight_in_the_box() -> None:
    critic = Ensemble(lambda: nn.Linear(4, 1), 3)
    with torch.no_grad():
        critic.stacked_params.weight.mul_(100)
    Wasserstein(clip=0.01).constrain(critic)
    assert all(float(p.detach().abs().max()) <= 0.01 for p in critic.parameters())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"clip": None}, "exactly one Lipschitz constraint"),
        ({"gradient_penalty": 10.0}, "exactly one Lipschitz constraint"),
        ({"scale": 0.0}, "objective.scale"),
        ({"n_critic": 0}, "objective.n_critic"),
    ],
)
def test_wasserstein_settings_are_checked(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Wasserstein(**kwargs)


def test_label_smoothing_is_checked() -> None:
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        NonSaturating(label_smoothing=1.0)


OBJECTIVES = ["non_saturating", "minimax", "least_squares", "wasserstein"]


@pytest.mark.parametrize("sampler", ["sghmc", "sgld", "psgld", "ml", "authors_recipe"])
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_each_objective_trains_with_each_sampler(make_config, tmp_path, objective: str, sampler: str) -> None:
    extra = ["objective.n_critic=2"] if objective == "wasserstein" else []
    results = run(make_config(f"objective={objective}", f"sampler={sampler}", *extra), output_dir=tmp_path)
    assert results["iterations"] == 4 and results["diverged_at"] is None
    assert results["choices"]["objective"] == objective
    assert math.isfinite(results["metrics"]["loss/d"]) and math.isfinite(results["metrics"]["loss/g"])


def test_gradient_penalty_trains_a_batch_norm_dcgan(make_config, tmp_path) -> None:
    cfg = make_config(
        "dataset=digits", "dataset.n_labels=null", "dataset.batch_size=16", "model=dcgan_small",
        "model.width=4", "model.z_dim=4", "objective=wasserstein", "objective.clip=null",
        "objective.gradient_penalty=10", "objective.n_critic=1",
    )  # fmt: skip
    results = run(cfg, output_dir=tmp_path)
    assert results["iterations"] == 4 and results["diverged_at"] is None


SEMI = [
    "dataset=digits", "dataset.n_labels=20", "dataset.batch_size=16", "model=mlp", "model.hidden=8",
    "+callbacks.accuracy._target_=bayesgan.callbacks.SemiSupervisedAccuracy",
]  # fmt: skip


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_semi_supervised_works_with_each_objective(make_config, tmp_path, objective: str) -> None:
    # Wasserstein and least squares score logsumexp of the K class logits (no fake class): the W-DCGAN row.
    extra = ["objective.clip=null", "objective.gradient_penalty=10"] if objective == "wasserstein" else []
    results = run(make_config(*SEMI, f"objective={objective}", *extra), output_dir=tmp_path)
    assert results["iterations"] == 4 and results["diverged_at"] is None
    assert math.isfinite(results["metrics"]["test/bma_accuracy"])


def test_semi_supervised_wasserstein_by_hand() -> None:
    # K = 2 logits (1, 0) and (−1, 2): critic values logsumexp = log(e + 1), log(e^−1 + e^2).
    real = torch.tensor([[[1.0, 0.0]]], dtype=torch.float64)  # [Cd][n][K]
    fake = torch.tensor([[[[-1.0, 2.0]]]], dtype=torch.float64)  # [Cd][Cg][n][K]
    obs = losses.Observations(real=3, fake=5, labelled=2, generator=7)
    labelled = torch.tensor([[[0.0, 1.0]]], dtype=torch.float64)
    got = losses.discriminator_nll(
        real, fake, obs, semi_supervised=True, labelled_logits=labelled, labels=torch.tensor([1]),
        objective=Wasserstein(),
    )  # fmt: skip
    s_real, s_fake = math.log(math.e + 1), math.log(math.e**-1 + math.e**2)
    cross_entropy = math.log(1 + math.e) - 1  # −log softmax(0, 1)[1]
    assert float(got) * 10 == pytest.approx(3 * -s_real + 5 * s_fake + 2 * cross_entropy, rel=1e-12)


def test_n_critic_updates_the_generator_every_kth_iteration(make_config, tmp_path) -> None:
    from bayesgan.train import build

    _, module, datamodule = build(make_config("objective=wasserstein", "objective.n_critic=3"), tmp_path)
    d_opt, g_opt = module.configure_optimizers()

    def moved(before: list[torch.Tensor], network: nn.Module) -> bool:
        return any(not torch.equal(a, p) for a, p in zip(before, network.parameters(), strict=True))

    changed = []
    for t in range(6):
        before = [p.detach().clone() for p in module.generator.parameters()]
        d_before = [p.detach().clone() for p in module.discriminator.parameters()]
        module.update(datamodule.train_batch(t), d_opt, g_opt)
        module.iteration += 1
        changed.append(moved(before, module.generator))
        assert moved(d_before, module.discriminator)
        assert all(float(p.detach().abs().max()) <= 0.01 for p in module.discriminator.parameters())
    assert changed == [False, False, True, False, False, True]  # SGHMC: not even noise in between


# -- feature matching (Salimans et al. 2016) -------------------------------------------------------------
def test_feature_matching_by_hand() -> None:
    # Two discriminators' real feature means (1, 2) and (0, 1); generator 0's fake means (0, 0) and (0, 1),
    # generator 1's (1, 4) and (2, 1): ‖·‖² = 1 + 4 = 5 and 0 + 0 = 0 -> 2.5; 0 + 4 = 4 and 4 + 0 = 4 -> 4.
    real = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    fake = torch.tensor([[[0.0, 0.0], [1.0, 4.0]], [[0.0, 1.0], [2.0, 1.0]]])  # [Cd][Cg][F]
    assert losses.feature_matching(real, fake).tolist() == [2.5, 4.0]


def test_ensemble_features_equal_each_copy_without_its_last_layer() -> None:
    from bayesgan.models import DCGAN

    torch.manual_seed(0)
    ens = Ensemble(lambda: DCGAN(z_dim=4, width=4).build_discriminator((1, 8, 8), 1), 3)
    x, xg = torch.randn(5, 1, 8, 8), torch.randn(2, 5, 1, 8, 8)
    shared, crossed = ens.features(x, shared_input=True), ens.features(xg, cross=True)
    for c in range(3):
        body = ens.member(c)[:-1]  # every layer but the logits (batch norm: batch statistics, train mode)
        torch.testing.assert_close(shared[c], body(x))
        for g in range(2):
            torch.testing.assert_close(crossed[c, g], body(xg[g]))
    assert shared.shape == (3, 5, 8 * 2 * 2)  # the flattened last conv: the input of the logits layer


def test_features_need_a_sequential_network() -> None:
    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Linear(2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x)

    with pytest.raises(ValueError, match=r"nn\.Sequential"):
        Ensemble(Wrapped, 2).features(torch.randn(3, 2), shared_input=True)


@pytest.mark.parametrize(
    "overrides",
    [
        ["sampler=sghmc"],
        ["sampler=ml"],
        [*SEMI, "sampler=sghmc"],
        ["sampler=dcgan10", "sampler.J_g=2", "sampler.J_d=2"],
    ],
)
def test_feature_matching_trains(make_config, tmp_path, overrides: list[str]) -> None:
    results = run(make_config(*overrides, "objective.feature_matching=true"), output_dir=tmp_path)
    assert results["iterations"] == 4 and results["diverged_at"] is None
    assert (
        math.isfinite(results["metrics"]["loss/g"]) and results["metrics"]["loss/g"] >= 0
    )  # a squared distance


def test_the_generator_step_uses_feature_matching_when_chosen(make_config, tmp_path) -> None:
    from bayesgan.train import build

    _, module, dm = build(make_config("objective.feature_matching=true", "sampler=ml"), tmp_path)
    d_opt, g_opt = module.configure_optimizers()
    batch = dm.train_batch(0)
    module.update(batch, d_opt, g_opt)  # D first: the generator step sees the updated discriminators
    fakes = module.generator(module._iteration_z(batch["x"].shape[0], phase=1)).detach()
    # By hand, from each copy as an ordinary module: ‖mean f_d(x) − mean f_d(G_g(z))‖², averaged over d.
    expected = []
    for g in range(module.generator.num_copies):
        per_d = []
        for d in range(module.discriminator.num_copies):
            body = module.discriminator.member(d)[:-1]
            per_d.append(float((body(batch["x"]).mean(0) - body(fakes[g]).mean(0)).pow(2).sum()))
        expected.append(sum(per_d) / len(per_d))
    got = module.feature_matching_loss(batch, fakes)
    assert got.tolist() == pytest.approx(expected, rel=1e-5)
    # ... and update() steps on it instead of the non-saturating generator loss.
    calls, original = [], module.feature_matching_loss
    module.feature_matching_loss = lambda *args: calls.append(original(*args)) or calls[-1]
    module.generator_loss = lambda *args: pytest.fail("the generator loss was used")
    _, g_loss = module.update(dm.train_batch(1), d_opt, g_opt)
    assert len(calls) == 1 and torch.equal(g_loss, calls[0].detach())


# -- minibatch discrimination (Salimans et al. 2016), an option of the discriminator ------------------------
def test_minibatch_discrimination_by_hand() -> None:
    from bayesgan.models.layers import MinibatchDiscrimination, batch_groups

    layer = MinibatchDiscrimination(1, kernels=1, kernel_dim=1)
    with torch.no_grad():
        layer.T.fill_(2.0)
    x = torch.tensor([[0.0], [1.0], [3.0]])
    # M = 2f = 0, 2, 6; o_i = Σ_j exp(−|M_i − M_j|), j = i included.
    e = math.e
    expected = [1 + e**-2 + e**-6, e**-2 + 1 + e**-4, e**-6 + e**-4 + 1]
    out = layer(x)
    assert out[:, 0].tolist() == x[:, 0].tolist()  # the features pass through
    assert out[:, 1].tolist() == pytest.approx(expected, rel=1e-6)
    # Two stacked batches (a discriminator's view of two generators' fakes): each is its own minibatch.
    pair = torch.tensor([[0.0], [1.0], [3.0], [5.0]])
    with batch_groups(2):
        grouped = layer(pair)[:, 1].tolist()
    assert grouped == pytest.approx([1 + e**-2, e**-2 + 1, 1 + e**-4, e**-4 + 1], rel=1e-6)


def test_minibatch_discrimination_in_an_ensemble_equals_each_copy() -> None:
    from bayesgan.models import DCGAN

    torch.manual_seed(1)
    ens = Ensemble(lambda: DCGAN(z_dim=4, width=4, minibatch_kernels=3).build_discriminator((1, 8, 8), 2), 2)
    x, xg = torch.randn(5, 1, 8, 8), torch.randn(3, 5, 1, 8, 8)
    shared, crossed = ens(x, shared_input=True), ens.cross(xg)
    for c in range(2):
        member = ens.member(c)
        torch.testing.assert_close(shared[c], member(x))
        for g in range(3):
            torch.testing.assert_close(crossed[c, g], member(xg[g]))


@pytest.mark.parametrize("sampler", ["sghmc", "ml"])
def test_minibatch_discrimination_trains(make_config, tmp_path, sampler: str) -> None:
    cfg = make_config(*SEMI, f"sampler={sampler}", "model.minibatch_kernels=4")
    results = run(cfg, output_dir=tmp_path)
    assert results["iterations"] == 4 and results["diverged_at"] is None
