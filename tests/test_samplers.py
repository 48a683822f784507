"""Numerical tests of the SG-MCMC samplers and the Adam-based optimizers in ``bayesgan.samplers``."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch
from torch import nn

from bayesgan.samplers import PSGLD, SGHMC, SGLD, AuthorsRecipe, MLAdam

# -- a 2-D Bayesian linear-Gaussian model with a closed-form, correlated posterior --
N_DATA, BATCH, CHAINS = 40, 20, 1000


def _posterior_problem() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """y = Xθ + N(0, 1), θ ~ N(0, I): posterior N(A⁻¹Xᵀy, A⁻¹) with A = XᵀX + I (corr ≈ -0.55)."""
    g = torch.Generator().manual_seed(0)
    chol = torch.linalg.cholesky(torch.tensor([[1.0, 0.6], [0.6, 1.0]], dtype=torch.float64))
    x = torch.randn(N_DATA, 2, generator=g, dtype=torch.float64) @ chol.T
    y = x @ torch.tensor([0.7, -0.4], dtype=torch.float64) + torch.randn(
        N_DATA, generator=g, dtype=torch.float64
    )
    cov = torch.linalg.inv(x.T @ x + torch.eye(2, dtype=torch.float64))
    return x, y, cov @ (x.T @ y), cov


def _sample_posterior(opt_cls: type, burn: int, keep: int, thin: int, **kw: float) -> tuple:
    """CHAINS independent chains stacked as one [C, 2] parameter. Each chain gets its own random minibatch
    (without replacement) every step, and p.grad is the gradient of that minibatch's MEAN nll."""
    x, y, mean, cov = _posterior_problem()
    xx = (x.unsqueeze(2) * x.unsqueeze(1)).reshape(N_DATA, 4).float()  # per-example x xᵀ
    xy = (x * y[:, None]).float()
    g = torch.Generator().manual_seed(1)
    theta = nn.Parameter(torch.randn(CHAINS, 2, generator=g))  # start far from the posterior (sd ≈ 0.17)
    opt = opt_cls([theta], num_data=N_DATA, batch_size=BATCH, seed=2, **kw)
    snaps = []
    for t in range(burn + keep):
        idx = torch.rand(CHAINS, N_DATA, generator=g).topk(BATCH, dim=1).indices
        w = torch.zeros(CHAINS, N_DATA).scatter_(1, idx, 1.0 / BATCH)  # minibatch averaging weights
        hess = (w @ xx).view(CHAINS, 2, 2)
        theta.grad = (hess @ theta.detach().unsqueeze(-1)).squeeze(-1) - w @ xy  # ∇ mean_i (y_i − x_iᵀθ)²/2
        opt.step()
        if t >= burn and (t - burn) % thin == 0:
            snaps.append(theta.detach().double().clone())
    s = torch.stack(snaps)
    centred = (s - s.mean((0, 1))).reshape(-1, 2)
    return s.mean((0, 1)), centred.T @ centred / centred.shape[0], mean, cov


@pytest.fixture
def one_thread():
    # Tiny tensors: thread hand-offs cost more than the maths, notably on a busy 2-core machine.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# Posterior precision eigenvalues ≈ 21 and 76; minibatch noise Var[∇Ũ] = N²·Var_i/n·(N−n)/(N−1) ≈ 40 per
# component. SGLD (lr 5e-4): discretisation bias ≈ lr·λ_max/4 ≈ 1 %, minibatch-noise inflation ≈ lr·Var/4
# ≈ 0.5 %, relaxation ≈ 2/(lr·λ_min) ≈ 190 steps. SGHMC (lr 2.5e-4, a 0.1, β̂ = 0): minibatch-noise inflation
# ≈ lr·Var/(2a) ≈ 5 %, near-critically damped slow mode (relaxation ≈ 50 steps). Monte Carlo: 1000
# independent chains, so even with fully correlated snapshots the mean has SE ≤ sd/√1000 ≈ 0.03 sd and a
# normalised covariance entry SE ≤ √(1+ρ²)/√1000 ≈ 0.04 (correlation SE ≈ (1−ρ²)/√1000 ≈ 0.02).
# Tolerances: mean 0.15 sd (5 SE); covariance 0.10 of sd_i·sd_j (5 % bias + >1 SE, with 20+ snapshots per
# chain the real SE is well below the bound); correlation 0.08. Observed: ≤ 0.016, ≤ 0.046, ≤ 0.031.
# pSGLD (lr 2.5e-4, β 0.999): G ≈ 1/sqrt(V) ≈ 4 here, so the effective step ≈ 1e-3; the dropped Γ term
# inflates the variances by ≈ 3 % (β = 0.99: ≈ 12 %, which these tolerances reject). The burn-in is longer:
# V remembers the large gradients of the far-away start for ~1/(1 − β) steps. Observed: 0.010, 0.033, 0.000.
CASES = [
    pytest.param(SGLD, {"lr": 5e-4}, 1000, 1000, 50, id="sgld-T1"),
    pytest.param(SGHMC, {"lr": 2.5e-4, "friction": 0.1}, 400, 800, 40, id="sghmc-T1"),
    pytest.param(SGHMC, {"lr": 2.5e-4, "friction": 0.1, "temperature": 2.0}, 400, 800, 40, id="sghmc-T2"),
    pytest.param(SGLD, {"lr": 5e-4, "temperature": 2.0}, 1000, 1000, 50, id="sgld-T2"),
    pytest.param(PSGLD, {"lr": 2.5e-4, "beta": 0.999}, 2000, 1000, 50, id="psgld-T1"),
    pytest.param(PSGLD, {"lr": 2.5e-4, "beta": 0.999, "temperature": 2.0}, 2000, 1000, 50, id="psgld-T2"),
]


@pytest.mark.parametrize(("cls", "kw", "burn", "keep", "thin"), CASES)
def test_reproduces_gaussian_posterior_from_minibatch_gradients(
    one_thread, cls, kw, burn, keep, thin
) -> None:
    m, c, mu, cov = _sample_posterior(cls, burn, keep, thin, **kw)
    temp = kw.get("temperature", 1.0)
    target = temp * cov  # exp(-U/T) is Gaussian with covariance T·Σ
    sd = target.diagonal().sqrt()
    assert ((m - mu).abs() / sd).max() < 0.15, (m, mu)
    assert ((c - target).abs() / sd.outer(sd)).max() < 0.10, (c, target)
    # The correlation must be reproduced, and T=2 must not pass as T=1 (that would be 50 % off).
    assert abs(c[0, 1] / c.diagonal().prod().sqrt() - target[0, 1] / sd.prod()) < 0.08


# -- exact update equations and noise scales --
def test_sghmc_and_sgld_update_equations_without_noise() -> None:
    theta0, grads = torch.tensor([[1.0, -2.0]]), [torch.tensor([[0.3, 0.1]]), torch.tensor([[-0.2, 0.4]])]
    n, lr, a, sigma = 10, 0.01, 0.2, 2.0
    p, q = nn.Parameter(theta0.clone()), nn.Parameter(theta0.clone())
    hmc = SGHMC([p], num_data=n, batch_size=2, lr=lr, friction=a, prior_std=sigma, temperature=0.0)
    ld = SGLD([q], num_data=n, batch_size=2, lr=lr, prior_std=sigma, temperature=0.0)
    th_h, v, th_l = theta0.clone(), torch.zeros(1, 2), theta0.clone()
    for g in grads:
        p.grad, q.grad = g.clone(), g.clone()
        hmc.step()
        ld.step()
        v = (1 - a) * v - lr * (n * g + th_h / sigma**2)
        th_h = th_h + v
        th_l = th_l - lr / 2 * (n * g + th_l / sigma**2)
    torch.testing.assert_close(p.detach(), th_h)
    torch.testing.assert_close(q.detach(), th_l)


def test_psgld_update_equations_without_noise() -> None:
    # Two steps on one weight, written out: ḡ = ∇U/W, V ← βV + (1−β)ḡ², G = 1/(λ + sqrt(V/(1−β^t))),
    # θ ← θ − (lr/2)·G·∇U.
    w, lr, beta, lam, sigma = 10, 0.01, 0.9, 0.05, 2.0
    p = nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = PSGLD([p], num_data=w, batch_size=2, lr=lr, beta=beta, eps=lam, prior_std=sigma, temperature=0.0)
    theta, v = 1.0, 0.0
    for t, g in enumerate([0.3, -0.2], start=1):
        p.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
        grad_u = w * g + theta / sigma**2
        v = beta * v + (1 - beta) * (grad_u / w) ** 2
        precond = 1 / (lam + math.sqrt(v / (1 - beta**t)))
        theta -= lr / 2 * precond * grad_u
        assert p.item() == pytest.approx(theta, rel=1e-12)


@pytest.mark.parametrize(
    ("cls", "kw", "std"),
    [
        (SGHMC, {"lr": 0.01, "friction": 0.3, "temperature": 1.5}, math.sqrt(2 * 0.3 * 0.01 * 1.5)),
        (SGLD, {"lr": 0.01, "temperature": 1.5}, math.sqrt(0.01 * 1.5)),
        (PSGLD, {"lr": 0.01, "temperature": 1.5, "eps": 4.0}, math.sqrt(0.01 * 1.5 / 4.0)),  # ∇U = 0: G = 1/λ
    ],
)
def test_injected_noise_scale(cls, kw, std) -> None:
    p = nn.Parameter(torch.zeros(100, 2000))  # 2e5 draws: SE of the std estimate ≈ 0.16 %
    opt = cls([p], num_data=50, batch_size=5, prior_std=None, **kw)
    p.grad = torch.zeros_like(p)
    opt.step()
    assert abs(p.detach().mean()) < 5 * std / math.sqrt(p.numel())
    assert p.detach().std().item() == pytest.approx(std, rel=0.01)


@pytest.mark.parametrize("cls", [SGHMC, SGLD, PSGLD])
def test_noise_is_fresh_per_tensor_and_per_step(cls) -> None:
    # The noise of all tensors comes from one flat draw per step: each tensor must get its own part of it
    # (overlapping views would make two tensors' noise equal) and every step a new one (a buffer reused
    # without redrawing would repeat it, giving variance 4·s² after two steps instead of 2·s²).
    kw = {"lr": 0.01, "temperature": 1.5}
    if cls is SGHMC:
        kw["friction"] = 1.0  # v = noise each step: θ after two steps is the sum of two draws
    if cls is PSGLD:
        kw["eps"] = 4.0
    per_step = {SGHMC: math.sqrt(0.03), SGLD: math.sqrt(0.015), PSGLD: math.sqrt(0.015 / 4)}  # s per step
    ps = [nn.Parameter(torch.zeros(300, 400)), nn.Parameter(torch.zeros(200, 600))]
    opt = cls(ps, num_data=50, batch_size=5, prior_std=None, **kw)
    for _ in range(2):
        for p in ps:
            p.grad = torch.zeros_like(p)
        opt.step()
    a, b = (p.detach().flatten() for p in ps)
    for t in (a, b):
        assert t.std().item() == pytest.approx(math.sqrt(2) * per_step[cls], rel=0.01)
    corr = torch.corrcoef(torch.stack([a[: b.numel()], b]))[0, 1]
    assert abs(corr) < 0.02  # independent: SE ≈ 1/sqrt(1.2e5) ≈ 0.003


def test_noise_follows_a_change_of_parameter_dtype() -> None:
    # The flat noise buffer and its views are kept between steps; parameters recast in place (module.double()
    # keeps the Parameter objects) must get noise in their new precision, not from a stale float32 buffer.
    p = nn.Parameter(torch.zeros(50))
    opt = SGLD([p], num_data=10, batch_size=2, lr=1e-2, prior_std=None)
    p.grad = torch.zeros_like(p)
    opt.step()
    p.data = p.data.double()
    p.grad = torch.zeros_like(p)
    opt.step()
    assert [eps.dtype for eps in opt._draw_noise([p])] == [torch.float64]


# -- determinism, resume, generator isolation --
def _params(seed: int = 0) -> list[nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    shapes = [(4, 3, 2), (4, 3), (4, 5)]  # stacked ensemble of 4 copies; the last never gets a gradient
    return [nn.Parameter(torch.randn(*s, generator=g)) for s in shapes]


FACTORIES = {
    "sghmc": lambda ps, seed=0: SGHMC(ps, num_data=64, batch_size=8, lr=1e-2, seed=seed),
    "sgld": lambda ps, seed=0: SGLD(ps, num_data=64, batch_size=8, lr=1e-3, seed=seed),
    "psgld": lambda ps, seed=0: PSGLD(ps, num_data=64, batch_size=8, lr=1e-3, seed=seed),
    "authors": lambda ps, seed=0: AuthorsRecipe(
        ps, num_data=64, batch_size=8, lr=1e-2, noise_alpha=50.0, momentum_after=3, seed=seed
    ),
    "mladam": lambda ps, seed=0: MLAdam(ps, num_data=64, batch_size=8, seed=seed),
}


def _run(opt: torch.optim.Optimizer, params: list[nn.Parameter], steps: range, disturb: bool = False) -> None:
    for t in steps:
        for p in params[:2]:
            p.grad = 0.1 * torch.sin(3 * p.detach() + t)  # a deterministic "loss gradient"
        if disturb:  # what a sample-grid callback does to the global RNG
            torch.manual_seed(1234 + t)
            torch.randn(100)
        opt.step()


@pytest.mark.parametrize("name", list(FACTORIES))
@pytest.mark.parametrize("k", [2, 5])
def test_exact_resume_through_torch_save(name: str, k: int) -> None:
    ref = _params()
    opt = FACTORIES[name](ref)
    _run(opt, ref, range(k + 4))

    ps = _params()
    opt = FACTORIES[name](ps)
    _run(opt, ps, range(k))
    buf = io.BytesIO()
    torch.save({"params": [p.detach() for p in ps], "opt": opt.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    resumed = [nn.Parameter(t.clone()) for t in ckpt["params"]]
    opt2 = FACTORIES[name](resumed, seed=999)  # the stored generator state must win over the seed
    opt2.load_state_dict(ckpt["opt"])
    _run(opt2, resumed, range(k, k + 4))
    for a, b in zip(ref, resumed, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(ref[2], _params()[2])  # grad None: untouched
    if name != "mladam":
        assert opt2.num_steps == k + 4
        assert ckpt["opt"]["sampler"]["generator_state"].dtype == torch.uint8


@pytest.mark.parametrize("name", ["sghmc", "sgld", "psgld", "authors"])
def test_exact_resume_when_the_tensors_with_gradients_change(name: str) -> None:
    # The flat noise draw covers only the tensors that have a gradient this step, so its size changes
    # from step to step here; a resumed run must still continue bit for bit.
    def run(opt: torch.optim.Optimizer, params: list[nn.Parameter], steps: range) -> None:
        for t in steps:
            for i, p in enumerate(params):
                p.grad = 0.1 * torch.cos(2 * p.detach() + t) if (i + t) % 3 else None
            opt.step()

    ref = _params()
    run(FACTORIES[name](ref), ref, range(7))
    ps = _params()
    opt = FACTORIES[name](ps)
    run(opt, ps, range(3))
    buf = io.BytesIO()
    torch.save({"params": [p.detach() for p in ps], "opt": opt.state_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    resumed = [nn.Parameter(t.clone()) for t in ckpt["params"]]
    opt2 = FACTORIES[name](resumed, seed=5)
    opt2.load_state_dict(ckpt["opt"])
    run(opt2, resumed, range(3, 7))
    for a, b in zip(ref, resumed, strict=True):
        assert torch.equal(a, b)


def test_generator_state_from_another_device_type_warns_and_reseeds() -> None:
    ps = _params()
    opt = FACTORIES["sghmc"](ps)
    sd = opt.state_dict()
    cuda_sized = torch.zeros(16, dtype=torch.uint8)  # a Philox state cannot feed a CPU generator
    sd["sampler"] = {"num_steps": 7, "seed": 0, "generator_state": cuda_sized}
    opt.load_state_dict(sd)
    with pytest.warns(UserWarning, match="another device type"):
        _run(opt, ps, range(1))
    assert opt.num_steps == 8


@pytest.mark.parametrize("name", ["sghmc", "sgld", "psgld", "authors"])
def test_seeding_and_global_rng_isolation(name: str) -> None:
    def trajectory(seed: int, disturb: bool = False, deepcopy: bool = False) -> list[torch.Tensor]:
        ps = _params()
        opt = FACTORIES[name](ps, seed=seed)
        _run(opt, ps, range(3), disturb)
        if deepcopy:  # pickling (deepcopy, ddp_spawn) must carry the chain's noise stream
            opt = copy.deepcopy(opt)
            ps = opt.param_groups[0]["params"]
        _run(opt, ps, range(3, 6), disturb)
        return [p.detach() for p in ps]

    base = trajectory(0)
    for other in (trajectory(0), trajectory(0, disturb=True), trajectory(0, deepcopy=True)):
        assert all(torch.equal(a, b) for a, b in zip(base, other, strict=True))
    assert not torch.equal(base[0], trajectory(1)[0])


def test_closure_is_evaluated_with_grad() -> None:
    p = nn.Parameter(torch.ones(3, 2))
    opt = SGLD([p], num_data=10, batch_size=2, lr=0.1, temperature=0.0, prior_std=None)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (p**2).sum() / 2
        loss.backward()
        return loss

    assert opt.step(closure).item() == pytest.approx(3.0)
    torch.testing.assert_close(p.detach(), torch.full((3, 2), 1 - 0.05 * 10))


# -- Adam-based --
def test_mladam_equals_torch_adam() -> None:
    ps, qs = _params(), _params()
    ml = MLAdam(ps, num_data=64, batch_size=8)
    ref = torch.optim.Adam(qs, lr=2e-4, betas=(0.5, 0.999))
    for t in range(5):
        _run(ml, ps, range(t, t + 1))
        _run(ref, qs, range(t, t + 1))
        assert all(torch.equal(a, b) for a, b in zip(ps, qs, strict=True))


@pytest.mark.parametrize("stacked", [True, False])
def test_authors_recipe_is_adam_on_grad_plus_prior_over_n(stacked: bool) -> None:
    n, sigma = 20, 0.5
    ps, qs = _params(), _params()
    opt = AuthorsRecipe(
        ps, num_data=n, batch_size=4, lr=1e-2, prior_std=sigma, noise_alpha=0.0, stacked=stacked
    )
    ref = torch.optim.Adam(qs, lr=1e-2, betas=(0.5, 0.999))
    for t in range(4):
        _run(opt, ps, range(t, t + 1))
        for q in qs[:2]:
            per_copy = q[0].numel() if stacked else q.numel()
            q.grad = 0.1 * torch.sin(3 * q.detach() + t) + 2 * q.detach() / (sigma**2 * per_copy * n)
        ref.param_groups[0]["lr"] = opt.lr_at(t)
        ref.step()
        for a, b in zip(ps, qs, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_authors_recipe_noise_has_std_s_over_n() -> None:
    n, lr = 100, 1e-3
    p = nn.Parameter(torch.zeros(200, 1000))
    opt = AuthorsRecipe([p], num_data=n, batch_size=1, lr=lr, prior_std=None, momentum_after=0)
    p.grad = torch.zeros_like(p)
    opt.step()  # momentum from v = 0, lr_0 = lr: Δθ = −lr·ε/N
    s = math.sqrt(2 * 0.01 * 2e-4)
    assert (p.detach() / -lr).std().item() == pytest.approx(s / n, rel=0.01)  # SE ≈ 0.16 %


def test_authors_recipe_schedule_and_momentum_switch() -> None:
    n, b, lr = 100, 25, 0.1  # one epoch = 4 steps of the training set, whatever W (num_data) is
    p, q = nn.Parameter(torch.ones(2, 3)), nn.Parameter(torch.ones(2, 3))
    opt = AuthorsRecipe(
        [p], num_data=2 * n + 7, dataset_size=n, batch_size=b, lr=lr, prior_std=None, noise_alpha=0.0,
        momentum_after=2,
    )  # fmt: skip
    adam = torch.optim.Adam([q], lr=lr, betas=(0.5, 0.999))
    assert [opt.lr_at(t) for t in (0, 2, 4, 40)] == pytest.approx(
        [lr, lr * math.exp(-1.5), lr * math.exp(-3), lr * math.exp(-3)]
    )
    v = torch.zeros(2, 3)
    expected = q.detach().clone()
    for t in range(6):
        grad = torch.full((2, 3), 0.5 + t)
        p.grad = grad.clone()
        opt.step()
        if t < 2:  # Adam phase
            q.grad = grad.clone()
            adam.param_groups[0]["lr"] = opt.lr_at(t)
            adam.step()
            expected = q.detach().clone()
        else:  # v ← 0.5·v − lr_t·g, θ ← θ + v, v starting at 0
            v = 0.5 * v - opt.lr_at(t) * grad
            expected = expected + v
        torch.testing.assert_close(p.detach(), expected)
    assert "exp_avg" not in opt.state[p]


def test_authors_recipe_without_switch_stays_adam() -> None:
    # momentum_after=None (what the config gives unsupervised runs, as the released unsupervised script):
    # Adam at every step, also past the step at which semi-supervised runs switch.
    p, q = nn.Parameter(torch.ones(2, 3)), nn.Parameter(torch.ones(2, 3))
    kw = {"lr_decay": 0.0, "prior_std": None, "noise_alpha": 0.0, "momentum_after": None}
    opt = AuthorsRecipe([p], num_data=10, batch_size=10, lr=0.1, **kw)
    adam = torch.optim.Adam([q], lr=0.1, betas=(0.5, 0.999))
    for t in range(8):
        p.grad, q.grad = torch.full((2, 3), 0.5 + t), torch.full((2, 3), 0.5 + t)
        opt.step()
        adam.step()
        torch.testing.assert_close(p.detach(), q.detach())


# -- validation --
@pytest.mark.parametrize(
    ("cls", "kw", "key"),
    [
        (SGHMC, {"lr": 0.0}, "lr"),
        (SGHMC, {"lr": 1e-3, "friction": 0.0}, "friction"),
        (SGHMC, {"lr": 1e-3, "friction": 1.5}, "friction"),
        (SGHMC, {"lr": 1e-3, "prior_std": 0.0}, "prior_std"),
        (SGLD, {"lr": 1e-3, "temperature": -1.0}, "temperature"),
        (SGLD, {"lr": 1e-3, "num_data": 0}, "num_data"),
        (MLAdam, {"lr": -1.0}, "lr"),
        (AuthorsRecipe, {"lr": 1e-3, "noise_alpha": -1.0}, "noise_alpha"),
        (AuthorsRecipe, {"lr": 1e-3, "momentum_after": -1}, "momentum_after"),
        (PSGLD, {"lr": 1e-3, "beta": 1.0}, "beta"),
        (PSGLD, {"lr": 1e-3, "eps": 0.0}, "eps"),
        (SGLD, {"lr": 1e-3, "dataset_size": 0}, "dataset_size"),
    ],
)
def test_bad_hyperparameters_raise_naming_the_key(cls, kw, key) -> None:
    kw = {"num_data": 10, "batch_size": 2, **kw}
    with pytest.raises(ValueError, match=rf"^{key} must be"):
        cls([nn.Parameter(torch.zeros(2))], **kw)


def test_param_group_overrides_are_validated() -> None:
    p, q = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match=r"^friction must be"):
        SGHMC([{"params": [p]}, {"params": [q], "friction": 2.0}], num_data=10, batch_size=2, lr=1e-3)
