"""The vectorized Bayesian GAN iteration equals the same iteration with every copy in a Python loop."""

from __future__ import annotations

import functools

import pytest
import torch

from bayesgan.models import DCGAN, MLP
from bayesgan.module import BayesGAN, PosteriorSpec
from bayesgan.samplers import SGHMC


def _module(architecture, shape, vectorize: bool, num_classes: int | None) -> BayesGAN:
    torch.manual_seed(0)
    spec = PosteriorSpec(optimizer=functools.partial(SGHMC, lr=1e-5), J_g=3, J_d=2, M=1)
    return BayesGAN(
        architecture,
        spec,
        data_shape=shape,
        num_data=500,
        batch_size=8,
        num_classes=num_classes,
        num_labelled=6 if num_classes else None,
        vectorize=vectorize,
    )


@pytest.mark.parametrize(
    ("architecture", "shape", "num_classes"),
    [
        (DCGAN(z_dim=8, width=4), (1, 8, 8), 3),
        (DCGAN(z_dim=8, width=4), (1, 8, 8), None),
        (MLP(hidden=8), (2,), None),
    ],
)
def test_vectorized_iteration_equals_loop(architecture, shape, num_classes) -> None:
    fast, slow = (_module(architecture, shape, v, num_classes) for v in (True, False))
    slow.load_state_dict(fast.state_dict())
    gen = torch.Generator().manual_seed(1)
    batch = {"x": torch.rand(8, *shape, generator=gen) * 2 - 1}
    if num_classes:
        batch |= {
            "x_lab": torch.rand(6, *shape, generator=gen) * 2 - 1,
            "y_lab": torch.tensor([0, 1, 2, 0, 1, 2]),
        }

    fast_opts, slow_opts = fast.configure_optimizers(), slow.configure_optimizers()
    for _ in range(3):  # several iterations: optimizer state, running statistics and noise all line up
        out_fast = fast.update(batch, *fast_opts)
        out_slow = slow.update(batch, *slow_opts)
        for a, b in zip(out_fast, out_slow, strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        fast.iteration += 1
        slow.iteration += 1
    for (name, a), b in zip(fast.state_dict().items(), slow.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5, msg=name)


def test_num_posterior_samples_matches_the_states_averaged_over() -> None:
    module = _module(MLP(hidden=8), (2,), True, None)
    assert module.num_posterior_samples("generator") == module.generate(1).shape[0] == 3
    for iteration in (1, 2):
        snapshot = {
            "generator": module.generator.snapshot(),
            "discriminator": module.discriminator.snapshot(),
        }
        module.bank.add(iteration, snapshot)
    assert module.num_posterior_samples("generator") == module.generate(1).shape[0] == 6
    assert module.num_posterior_samples("discriminator") == 4
    assert module.num_posterior_samples("generator", use_bank=False) == 3


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_sampler_noise_seeds_are_derived_from_the_run_seed(seed: int) -> None:
    # The D and G noise streams must differ from each other and from the run seed (which seeds the global
    # RNG and hence the initial weights): a sampler seeded with the run seed replays the init's draws.
    module = _module(MLP(hidden=8), (2,), True, None)
    module.seed = seed
    d_opt, g_opt = module.configure_optimizers()
    assert len({d_opt.seed, g_opt.seed, seed}) == 3
    module.seed = seed + 1
    assert {o.seed for o in module.configure_optimizers()}.isdisjoint({d_opt.seed, g_opt.seed})
