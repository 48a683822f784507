"""The paper's "Supervised" baseline: the discriminator architecture trained on the labelled examples only.

Same network as the semi-supervised GAN's discriminator (K class logits), plain cross-entropy on
minibatches of ``datamodule.labelled_indices`` with Adam(beta1=0.5), no generator and no unlabelled data.
:func:`train_supervised` is the plain loop (used by bench/compare.py); ``sampler=supervised``
(``bayesgan.methods.supervised``) trains the same network through ``bayesgan-train``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bayesgan.data.base import GANDataModule
from bayesgan.models import Architecture
from bayesgan.reference_batches import fill_references, labelled_examples


def build_classifier(
    architecture: Architecture, data_shape: tuple[int, ...], num_classes: int, seed: int
) -> nn.Module:
    """The discriminator architecture with K class logits, initialised from ``seed``."""
    # Architectures initialise from the global torch RNG; seed it locally so the build is reproducible
    # without disturbing the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return architecture.build_discriminator(data_shape, num_classes)


@torch.no_grad()
def evaluate(network: nn.Module, datamodule: GANDataModule) -> dict[str, float]:
    """Accuracy and mean NLL of ``network`` on the full test set (eval mode: running batch-norm stats)."""
    was_training = network.training
    network.eval()
    correct, nll, count = 0, 0.0, 0
    try:
        # fork_rng: iterating a DataLoader draws its base seed from the global RNG.
        with torch.random.fork_rng(devices=[]):
            for batch in datamodule.test_dataloader():
                logits = network(batch["x"])
                correct += int((logits.argmax(-1) == batch["y"]).sum())
                nll += float(F.cross_entropy(logits, batch["y"], reduction="sum"))
                count += batch["y"].numel()
    finally:
        network.train(was_training)
    if count == 0:
        raise ValueError("the test set is empty or unlabelled")
    return {"test/accuracy": correct / count, "test/nll": nll / count}


def train_supervised(
    architecture: Architecture,
    datamodule: GANDataModule,
    *,
    iterations: int,
    lr: float = 2e-4,
    seed: int = 0,
    batch_size: int | None = None,
) -> dict[str, float]:
    """Train a classifier on the labelled subset for ``iterations`` Adam steps; test metrics at the end.

    ``batch_size`` defaults to the datamodule's labelled batch size, capped at the number of labels (then
    every step sees the whole labelled subset, reshuffled, as the GAN's labelled stream does). Deterministic
    for a given ``seed``: initialisation and minibatches come from private generators.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    datamodule.setup("fit")
    splits, labelled = datamodule.splits, datamodule.labelled_indices
    if splits is None or labelled is None or splits.train_y is None or datamodule.num_classes is None:
        raise ValueError("the supervised baseline needs a labelled subset (a datamodule with n_labels set)")
    n_lab = labelled.numel()
    batch = min(batch_size or datamodule.labelled_batch_size, n_lab)
    x_lab, y_lab = splits.train_x[labelled], splits.train_y[labelled]

    network = build_classifier(architecture, datamodule.data_shape, datamodule.num_classes, seed)
    # Virtual batch norm's reference batch (a no-op without it): labelled examples only, as the method's.
    fill_references(network, data=lambda size: labelled_examples(datamodule, size, seed))
    network.train()
    optimizer = torch.optim.Adam(network.parameters(), lr=lr, betas=(0.5, 0.999))
    generator = torch.Generator().manual_seed(seed)
    order, cursor = torch.randperm(n_lab, generator=generator), 0
    for _ in range(iterations):
        if cursor + batch > n_lab:  # epoch over the labelled subset: reshuffle (drop the ragged tail)
            order, cursor = torch.randperm(n_lab, generator=generator), 0
        idx = order[cursor : cursor + batch]
        cursor += batch
        loss = F.cross_entropy(network(x_lab[idx]), y_lab[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if not math.isfinite(loss.item()):
            break  # diverged: report the (NaN) test metrics instead of training on
    return evaluate(network, datamodule)
