"""The Bayesian GAN likelihood terms equal hand-computed values."""

import math

import torch

from bayesgan import losses


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def test_semi_supervised_discriminator_nll_by_hand() -> None:
    # One discriminator copy, two generator copies, K = 2 classes, batches of 2.
    real = torch.tensor([[[1.0, 0.0], [0.0, -1.0]]])
    fake = torch.tensor([[[[0.5, 0.5], [-2.0, 0.0]], [[3.0, 1.0], [0.0, 0.0]]]])
    labelled = torch.tensor([[[2.0, 0.0], [0.0, 1.0]]])
    labels = torch.tensor([0, 0])

    def lse(row: list[float]) -> float:
        return math.log(sum(math.exp(v) for v in row))

    real_term = sum(-math.log(_sigmoid(lse(r))) for r in real[0].tolist()) / 2
    fake_terms = [sum(-math.log(1 - _sigmoid(lse(r))) for r in g) / 2 for g in fake[0].tolist()]
    sup_term = sum(-(row[y] - lse(row)) for row, y in zip(labelled[0].tolist(), [0, 0], strict=True)) / 2
    expected = 2 * (real_term + sup_term) + sum(fake_terms)

    got = losses.discriminator_nll(real, fake, semi_supervised=True, labelled_logits=labelled, labels=labels)
    assert got.shape == (1,)
    assert math.isclose(got.item(), expected, rel_tol=1e-6)


def test_semi_supervised_generator_nll_by_hand() -> None:
    # Two discriminator copies, one generator copy: non-saturating -log D(G(z)) summed over discriminators.
    fake = torch.tensor([[[[0.5, 0.5], [-2.0, 0.0]]], [[[1.0, -1.0], [0.0, 3.0]]]])
    expected = 0.0
    for d in fake.tolist():
        rows = d[0]
        expected += sum(-math.log(_sigmoid(math.log(sum(math.exp(v) for v in r)))) for r in rows) / 2
    got = losses.generator_nll(fake, semi_supervised=True)
    assert got.shape == (1,)
    assert math.isclose(got.item(), expected, rel_tol=1e-6)


def test_unsupervised_terms_are_binary_cross_entropy() -> None:
    real = torch.randn(3, 5, 1)
    fake = torch.randn(3, 4, 5, 1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = torch.stack(
        [
            4 * bce(real[d, :, 0], torch.ones(5))
            + sum(bce(fake[d, g, :, 0], torch.zeros(5)) for g in range(4))
            for d in range(3)
        ]
    )
    torch.testing.assert_close(losses.discriminator_nll(real, fake, semi_supervised=False), expected)
    g_expected = torch.stack([sum(bce(fake[d, g, :, 0], torch.ones(5)) for d in range(3)) for g in range(4)])
    torch.testing.assert_close(losses.generator_nll(fake, semi_supervised=False), g_expected)


def test_fake_class_is_implicit_zero_logit() -> None:
    # With the fake logit pinned at 0, D(real) = sum_k e^l_k / (1 + sum_k e^l_k).
    logits = torch.tensor([[0.3, -1.2, 2.0]])
    z = logits.exp().sum()
    assert torch.isclose(torch.sigmoid(losses.realness(logits, True)), z / (1 + z)).all()
