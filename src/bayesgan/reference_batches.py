"""Filling virtual batch norm's reference batches once, at the start of training.

Every ``ReferenceBatch`` of a network (``bayesgan.models.virtual_batch_norm``) starts as NaN. A method fills
the unfilled ones in ``on_fit_start`` (after a checkpoint is restored, so a resumed run keeps the saved
reference): a discriminator's from the training data, a generator's from the z prior, both drawn from private
generators keyed by the run seed, so the global random stream is untouched and every DDP rank fills the
same values. In an ``Ensemble`` every copy gets the same reference unless the source gives one per copy
(``[C, R, ...]``, e.g. DCGAN-10's copies, each from its own data subset). A loop that calls a method's
networks outside ``trainer.fit`` (a benchmark, a test) calls ``fill_for_method(module, datamodule)`` first:
an unfilled reference makes every output NaN (and the divergence check stop a fit on the first iteration).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from bayesgan.data.base import GANDataModule
from bayesgan.ensemble import Ensemble
from bayesgan.models.virtual_batch_norm import ReferenceBatch
from bayesgan.seeding import derived_generator, sample_distinct

REFERENCE_KEY = 0x7B  # seeding key of the reference batches' draws
Source = Callable[[int], Tensor]  # reference size R -> [R, ...] (all copies) or [C, R, ...] (one per copy)


def _references(module: nn.Module) -> Iterator[tuple[Tensor, ReferenceBatch]]:
    """(buffer, layer) of every ReferenceBatch in ``module`` (in an Ensemble: the stacked [C, R, ...])."""
    for child in module.modules():
        if isinstance(child, Ensemble):
            state = child.current_state()
            for name in child.buffer_names:
                owner, _, leaf = name.rpartition(".")
                layer = child.layer(owner)
                if leaf == "reference" and isinstance(layer, ReferenceBatch):
                    yield state[name], layer
        elif isinstance(child, ReferenceBatch):
            yield child.reference, child


def check_sizes(module: nn.Module, num_data: int) -> None:
    """Refuse (before training) a data reference batch larger than the ``num_data`` examples it comes from."""
    for _, layer in _references(module):
        if layer.source == "data" and layer.size > num_data:
            raise ValueError(
                f"model.vbn_reference_size={layer.size} exceeds the {num_data} training examples its "
                "reference batch is drawn from; lower it"
            )


@torch.no_grad()
def fill_references(module: nn.Module, *, data: Source, latent: Source | None = None) -> int:
    """Fill every still-unfilled (NaN) reference batch of ``module`` from ``data`` or ``latent`` (by the
    layer's ``source``); returns how many were filled. Filled ones (a restored checkpoint's) are kept."""
    filled = 0
    for buffer, layer in _references(module):
        if not torch.isnan(buffer).all():
            continue
        source = data if layer.source == "data" else latent
        if source is None:
            raise ValueError(f"no source given for a {layer.source} reference batch")
        values = source(layer.size)
        expected = tuple(buffer.shape[-values.dim() :]) if values.dim() <= buffer.dim() else None
        if expected != tuple(values.shape):
            raise ValueError(
                f"the {layer.source} reference batch has shape {tuple(values.shape)}, expected "
                f"{tuple(buffer.shape)} (copies, model.vbn_reference_size, ...)"
            )
        buffer.copy_(values.to(buffer.device, buffer.dtype).expand_as(buffer))
        filled += 1
    return filled


def training_examples(
    datamodule: GANDataModule, size: int, seed: int, indices: Tensor | None = None
) -> Tensor:
    """``size`` distinct training examples (of ``indices``, default all), chosen by ``seed`` alone."""
    pool = datamodule.num_train if indices is None else indices.numel()
    if size > pool:
        raise ValueError(
            f"model.vbn_reference_size={size} exceeds the {pool} training examples it is drawn from; lower it"
        )
    pick = sample_distinct(pool, size, derived_generator(seed, REFERENCE_KEY))
    return datamodule.train_images(pick if indices is None else indices[pick])


def labelled_examples(datamodule: GANDataModule, size: int, seed: int) -> Tensor:
    """``size`` labelled examples (the supervised baseline sees no other data): each of the N_s examples
    ⌊size/N_s⌋ or ⌈size/N_s⌉ times when there are fewer than ``size``, in an order chosen by ``seed``."""
    labelled = datamodule.labelled_indices
    if labelled is None:
        raise ValueError("a labelled reference batch needs dataset.n_labels")
    order = labelled[torch.randperm(labelled.numel(), generator=derived_generator(seed, REFERENCE_KEY))]
    return datamodule.train_images(order.repeat(-(-size // order.numel()))[:size])


def fill_for_method(method: nn.Module, datamodule: GANDataModule | None, data: Source | None = None) -> int:
    """``fill_references`` for a training method (``on_fit_start``): the discriminators' reference from
    ``data`` (default: training examples chosen by ``method.seed``), the generators' from the method's z
    prior (``method.sample_z``). A no-op without virtual batch norm."""

    def training_data(size: int) -> Tensor:
        if datamodule is None:
            raise ValueError("virtual batch norm draws its reference batch from a datamodule's training data")
        return training_examples(datamodule, size, method.seed)

    def latent(size: int) -> Tensor:
        generator = derived_generator(method.seed, REFERENCE_KEY, 1, device=method.device)
        return method.sample_z(1, size, generator)[0]

    return fill_references(method, data=data or training_data, latent=latent)
