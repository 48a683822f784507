"""Keyed randomness: latents from the z prior and the integer-keyed generators behind exact resume."""

from __future__ import annotations

import torch

from bayesgan.seeding import derived_generator, latents, mix_seed, sample_distinct


def test_uniform_latents_are_rand_scaled_to_minus_one_one() -> None:
    # The authors' prior U(-1, 1): from the same generator state, the numbers of torch.rand·2 − 1.
    expected = torch.rand((3, 50, 4), generator=torch.Generator().manual_seed(7)) * 2 - 1
    z = latents("uniform", (3, 50, 4), torch.Generator().manual_seed(7), "cpu")
    assert torch.equal(z, expected)
    assert z.min() >= -1 and z.max() < 1


def test_normal_latents_are_randn() -> None:
    expected = torch.randn((2, 30, 5), generator=torch.Generator().manual_seed(3))
    assert torch.equal(latents("normal", (2, 30, 5), torch.Generator().manual_seed(3), "cpu"), expected)


def test_derived_generators_depend_on_every_key() -> None:
    def draw(*keys: int) -> torch.Tensor:
        return torch.rand(4, generator=derived_generator(*keys))

    assert torch.equal(draw(1, 2, 3), draw(1, 2, 3))
    assert not torch.equal(draw(1, 2, 3), draw(1, 2, 4))
    assert not torch.equal(draw(1, 2, 3), draw(2, 1, 3))  # order matters: (seed, rank) ≠ (rank, seed)
    assert 0 <= mix_seed(2**70, -1) < 2**63


def test_sample_distinct_on_both_paths() -> None:
    for n, k in ((50, 20), (100_000, 5_000)):  # randperm, and rejection of repeats for sparse draws
        drawn = sample_distinct(n, k, torch.Generator().manual_seed(0))
        assert drawn.numel() == k == drawn.unique().numel()
        assert drawn.min() >= 0 and drawn.max() < n
