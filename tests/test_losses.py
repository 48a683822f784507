"""The potentials U_d and U_g of docs/posterior.md, computed by hand on tiny cases, equal what the module
feeds its samplers: the loss times W (the sampler's num_data) and the gradient ∇U the sampler steps on.

Expected values are written out with plain floats from the formulas

    U_d = N·mean[−log D(x)] + (N_f/C_g)·Σ_g mean[−log(1 − D(G_g(z)))] + N_s·mean[−log p(y|x)] + |θd|²/(2σ²)
    U_g = (N_g/C_d)·Σ_d mean[−log D_d(G(z))] + |θg|²/(2σ²)

never with the code's own weighting.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from bayesgan import losses
from bayesgan.module import BayesGAN
from bayesgan.posterior import PosteriorSpec
from bayesgan.samplers import SGHMC, SGLD, AuthorsRecipe


def softplus(u: float) -> float:
    return math.log1p(math.exp(u))


def sigmoid(u: float) -> float:
    return 1 / (1 + math.exp(-u))


def lse(row: list[float]) -> float:
    return math.log(sum(math.exp(v) for v in row))


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


# -- the terms on given logits ---------------------------------------------------------------------------
# 2 discriminator copies, 3 generator copies, K = 2 classes, unlabelled batch n = 2, labelled batch n_l = 3.
REAL = [[[1.0, 0.0], [0.0, -1.0]], [[0.5, 2.0], [-1.0, -1.0]]]  # [Cd][n][K]
FAKE = [  # [Cd][Cg][n][K]
    [[[0.5, 0.5], [-2.0, 0.0]], [[3.0, 1.0], [0.0, 0.0]], [[-1.0, 1.5], [0.2, -0.7]]],
    [[[1.0, -1.0], [0.0, 3.0]], [[-0.5, 0.5], [2.0, 2.0]], [[0.0, -2.0], [1.0, 0.3]]],
]
LABELLED = [[[2.0, 0.0], [0.0, 1.0], [-1.0, 0.5]], [[0.3, 0.3], [1.0, -2.0], [0.0, 0.0]]]  # [Cd][n_l][K]
LABELS = [0, 0, 1]
OBS = losses.Observations(real=11, fake=13, labelled=5, generator=17)  # N, N_f, N_s, N_g all different


def test_discriminator_potential_by_hand_semi_supervised() -> None:
    expected = []
    for d in range(2):
        real = mean([softplus(-lse(r)) for r in REAL[d]])
        fake = sum(mean([softplus(lse(r)) for r in FAKE[d][g]]) for g in range(3))
        lab = mean([lse(r) - r[y] for r, y in zip(LABELLED[d], LABELS, strict=True)])
        expected.append(11 * real + 13 / 3 * fake + 5 * lab)
    got = losses.discriminator_nll(
        torch.tensor(REAL, dtype=torch.float64),
        torch.tensor(FAKE, dtype=torch.float64),
        OBS,
        semi_supervised=True,
        labelled_logits=torch.tensor(LABELLED, dtype=torch.float64),
        labels=torch.tensor(LABELS),
    )
    assert OBS.discriminator == 11 + 13 + 5
    assert (got * OBS.discriminator).tolist() == pytest.approx(expected, rel=1e-12)


def test_generator_potential_by_hand() -> None:
    fake = torch.tensor(FAKE, dtype=torch.float64)
    for semi in (True, False):
        logits = fake if semi else fake[..., :1]  # unsupervised: one logit, D = sigmoid(logit)
        expected = []
        for g in range(3):
            per_d = [mean([softplus(-(lse(r) if semi else r[0])) for r in FAKE[d][g]]) for d in range(2)]
            expected.append(17 / 2 * sum(per_d))
        got = losses.generator_nll(logits, semi_supervised=semi) * OBS.generator
        assert got.tolist() == pytest.approx(expected, rel=1e-12)


def test_unsupervised_discriminator_potential_by_hand() -> None:
    obs = losses.Observations(real=11, fake=13, labelled=0, generator=17)
    expected = []
    for d in range(2):
        real = mean([softplus(-r[0]) for r in REAL[d]])
        fake = sum(mean([softplus(r[0]) for r in FAKE[d][g]]) for g in range(3))
        expected.append(11 * real + 13 / 3 * fake)
    real, fake = (torch.tensor(t, dtype=torch.float64)[..., :1] for t in (REAL, FAKE))
    got = losses.discriminator_nll(real, fake, obs, semi_supervised=False)
    assert (got * 24).tolist() == pytest.approx(expected, rel=1e-12)


def test_fake_class_is_implicit_zero_logit() -> None:
    # With the fake logit pinned at 0, D(real) = sum_k e^l_k / (1 + sum_k e^l_k).
    logits = torch.tensor([[0.3, -1.2, 2.0]])
    z = logits.exp().sum()
    assert torch.isclose(torch.sigmoid(losses.realness(logits, True)), z / (1 + z)).all()


# -- what the module feeds its samplers ------------------------------------------------------------------
@dataclass
class Linear1D:
    """x ∈ R: generator G(z) = a·z, discriminator logits ℓ_k(x) = w_k·x (no biases), so U and ∇U are
    short closed forms."""

    z_dim: int = 1

    def build_generator(self, data_shape: tuple[int, ...]) -> nn.Module:
        return nn.Linear(1, 1, bias=False)

    def build_discriminator(self, data_shape: tuple[int, ...], num_logits: int) -> nn.Module:
        return nn.Linear(1, num_logits, bias=False)


A = [0.5, -1.0, 2.0]  # generator weights, C_g = 3
W_SEMI = [[0.3, -0.2], [-0.5, 0.4]]  # discriminator weights, C_d = 2, K = 2
X, X_LAB, Y_LAB = [0.8, -0.3], [0.6, -0.9, 0.2], [0, 1, 1]  # n = 2 and n_l = 3 (≠ n)
Z = [[[0.3, -0.7], [0.9, 0.1], [-0.4, 0.6]], [[-0.2, 0.5], [0.7, -0.8], [0.35, 0.05]]]  # [phase][Cg][n]
N, N_S, SIGMA, LR = 11, 5, 1.5, 1e-3


def _s(w: list[float], x: float) -> float:
    return lse([wk * x for wk in w])  # logsumexp of the logits: the realness logit (K = 1: the logit)


def _p(w: list[float], x: float) -> list[float]:
    s = _s(w, x)
    return [math.exp(wk * x - s) for wk in w]


def _hand_discriminator(w: list[float], fakes: list[list[float]], n_f: float, n_s: float) -> tuple:
    """U_d's likelihood part and ∇U_d (prior included) for one copy."""
    c_g = len(fakes)
    real = mean([softplus(-_s(w, x)) for x in X])
    fake = sum(mean([softplus(_s(w, f)) for f in batch]) for batch in fakes)
    u = N * real + n_f / c_g * fake
    grad = []
    for k in range(len(w)):
        g_real = mean([-sigmoid(-_s(w, x)) * x * _p(w, x)[k] for x in X])
        g_fake = sum(mean([sigmoid(_s(w, f)) * f * _p(w, f)[k] for f in batch]) for batch in fakes)
        grad.append(N * g_real + n_f / c_g * g_fake + w[k] / SIGMA**2)
    if n_s:
        u += n_s * mean([_s(w, x) - w[y] * x for x, y in zip(X_LAB, Y_LAB, strict=True)])
        for k in range(len(w)):
            g_lab = mean([x * _p(w, x)[k] - x * (k == y) for x, y in zip(X_LAB, Y_LAB, strict=True)])
            grad[k] += n_s * g_lab
    return u, grad


def _hand_generator(a: float, z: list[float], ws: list[list[float]], n_g: float) -> tuple:
    """U_g's likelihood part and ∂U_g/∂a (prior included) for one copy, against discriminators ``ws``."""
    u = n_g / len(ws) * sum(mean([softplus(-_s(w, a * zj)) for zj in z]) for w in ws)
    # ∂S_d(f)/∂f = Σ_k w_dk·p_k(f), with f = a·z
    dsdf = [[sum(wk * pk for wk, pk in zip(w, _p(w, a * zj), strict=True)) for zj in z] for w in ws]
    slope = [
        mean([-sigmoid(-_s(w, a * zj)) * ds * zj for zj, ds in zip(z, row, strict=True)])
        for w, row in zip(ws, dsdf, strict=True)
    ]
    return u, n_g / len(ws) * sum(slope) + a / SIGMA**2


def _module(semi: bool, observations: dict[str, int]) -> BayesGAN:
    sampler = functools.partial(SGLD, lr=LR, temperature=0.0, prior_std=SIGMA)
    spec = PosteriorSpec(optimizer=sampler, J_g=3, J_d=2, M=1, **observations)
    module = BayesGAN(
        Linear1D(), spec, data_shape=(1,), num_data=N, batch_size=2,
        num_classes=2 if semi else None, num_labelled=N_S if semi else None,
    )  # fmt: skip
    weights = W_SEMI if semi else [[w[0]] for w in W_SEMI]
    with torch.no_grad():
        module.generator.stacked_params.weight.copy_(torch.tensor(A).view(3, 1, 1))
        module.discriminator.stacked_params.weight.copy_(torch.tensor(weights).unsqueeze(-1))
    module.double()
    module._iteration_z = lambda n, phase: torch.tensor(Z[phase], dtype=torch.float64).unsqueeze(-1)
    return module


@pytest.mark.parametrize(
    ("semi", "observations"),
    [(True, {}), (True, {"fake_observations": 7, "labelled_observations": 3, "generator_observations": 4}),
     (False, {}), (False, {"fake_observations": 7, "generator_observations": 4})],
)  # fmt: skip
def test_module_feeds_samplers_the_hand_potentials(semi: bool, observations: dict[str, int]) -> None:
    module = _module(semi, observations)
    n_f = observations.get("fake_observations", N)
    n_s = observations.get("labelled_observations", N_S) if semi else 0
    n_g = observations.get("generator_observations", N)
    batch = {"x": torch.tensor(X, dtype=torch.float64).view(2, 1)}
    if semi:
        batch |= {"x_lab": torch.tensor(X_LAB, dtype=torch.float64).view(3, 1), "y_lab": torch.tensor(Y_LAB)}
    d_opt, g_opt = module.configure_optimizers()
    assert d_opt.num_data == N + n_f + n_s  # W_d: does not depend on C_g, C_d
    assert g_opt.num_data == n_g  # W_g

    d_before = module.discriminator.stacked_params.weight.detach().clone().squeeze(-1)
    g_before = module.generator.stacked_params.weight.detach().clone().view(3)
    d_loss, g_loss = module.update(batch, d_opt, g_opt)
    d_after = module.discriminator.stacked_params.weight.detach().squeeze(-1)
    g_after = module.generator.stacked_params.weight.detach().view(3)

    fakes = [[A[g] * z for z in Z[0][g]] for g in range(3)]
    for d in range(2):
        u, grad = _hand_discriminator(d_before[d].tolist(), fakes, n_f, n_s)
        assert d_loss[d].item() * d_opt.num_data == pytest.approx(u, rel=1e-10)
        # SGLD at T = 0 steps θ ← θ − (lr/2)·∇U: the gradient the sampler used, recovered from the step.
        used = ((d_before[d] - d_after[d]) * 2 / LR).tolist()
        assert used == pytest.approx(grad, rel=1e-8)
    ws = d_after.tolist()  # the generator steps against the just-updated discriminators
    for g in range(3):
        u, grad = _hand_generator(A[g], Z[1][g], ws, n_g)
        assert g_loss[g].item() * g_opt.num_data == pytest.approx(u, rel=1e-10)
        assert ((g_before[g] - g_after[g]) * 2 / LR).item() == pytest.approx(grad, rel=1e-8)


# -- the user-facing step size does not depend on the number of copies ------------------------------------
def _first_step(j_g: int, j_d: int, m: int, opt: functools.partial) -> tuple[torch.Tensor, torch.Tensor]:
    """Copy 0 of D and G after one iteration, all copies of each network identical, the same z for all."""
    torch.manual_seed(0)
    spec = PosteriorSpec(optimizer=opt, J_g=j_g, J_d=j_d, M=m)
    module = BayesGAN(
        Linear1D(), spec, data_shape=(1,), num_data=N, batch_size=2, num_classes=2, num_labelled=N_S
    )
    with torch.no_grad():
        for ensemble, value in ((module.generator, [[0.7]]), (module.discriminator, [[0.4], [-0.6]])):
            ensemble.stacked_params.weight.copy_(
                torch.tensor(value).expand_as(ensemble.stacked_params.weight)
            )
    copies = j_g * m
    module._iteration_z = lambda n, phase: torch.tensor(Z[phase][0]).view(1, n, 1).expand(copies, n, 1)
    batch = {"x": torch.tensor(X).view(2, 1), "x_lab": torch.tensor(X_LAB).view(3, 1)}
    module.update(batch | {"y_lab": torch.tensor(Y_LAB)}, *module.configure_optimizers())
    return module.discriminator.stacked_params.weight[0].detach(), module.generator.stacked_params.weight[0]


STEPPERS = {
    "sghmc": functools.partial(SGHMC, lr_per_datum=3e-2, temperature=0.0),
    "sgld": functools.partial(SGLD, lr_per_datum=3e-2, temperature=0.0),
    # the authors' rule in its momentum phase (from the first step), noise off
    "authors_momentum": functools.partial(AuthorsRecipe, lr=1e-2, momentum_after=0, noise_alpha=0.0),
}


@pytest.mark.parametrize("name", list(STEPPERS))
def test_step_per_observation_is_independent_of_the_copy_counts(name: str) -> None:
    d_ref, g_ref = _first_step(1, 1, 1, STEPPERS[name])
    for j_g, j_d, m in ((4, 1, 1), (1, 3, 1), (2, 1, 3)):  # C_g and C_d from 1 to 6
        d, g = _first_step(j_g, j_d, m, STEPPERS[name])
        torch.testing.assert_close(d, d_ref, rtol=1e-6, atol=0)
        torch.testing.assert_close(g.detach(), g_ref.detach(), rtol=1e-6, atol=0)
    assert not torch.equal(d_ref, torch.tensor([[0.4], [-0.6]]))  # the step did move the weights
