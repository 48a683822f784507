"""``sampler=dcgan10``: the paper's DCGAN-10 row, an ensemble of independently trained ML-GANs.

C = ``posterior.J_g`` x ``posterior.M`` generator/discriminator pairs (10 in the paper), trained at once and
vectorized like the Bayesian GAN's posterior copies, but independent: discriminator c sees only the real
minibatch of copy c, drawn from its own random ``subset_fraction`` (80 %) of the training set
(``GANDataModule.use_copy_subsets``), and the fakes of generator c; generator c is scored by discriminator c
only. Each pair is therefore an ML-GAN on its own subset: the potentials of docs/posterior.md with C_g = C_d
= 1 and N = the subset's size. The labelled stream (semi-supervised) is shared by all copies. Classification
averages the C discriminators' class probabilities (the accuracy callback's model average over
``class_probabilities``); samples pool the C generators. One run, one results.json.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from bayesgan import losses, reference_batches
from bayesgan.models import Architecture
from bayesgan.models.layers import frozen_running_stats
from bayesgan.module import BayesGAN
from bayesgan.objectives import Objective
from bayesgan.posterior import PosteriorSpec
from bayesgan.protocol import RunSpec
from bayesgan.seeding import mix_seed


class EnsembleGAN(BayesGAN):
    """C independent GANs on their own random subsets; a ``BayesGAN`` whose copies are paired, not coupled.

    Takes the common method arguments plus ``objective`` and ``subset_fraction``
    (conf/method/ensemble_gan.yaml). ``posterior.J_g`` must equal ``posterior.J_d`` (one discriminator per
    generator).
    """

    def __init__(
        self,
        architecture: Architecture,
        posterior: PosteriorSpec,
        run: RunSpec | None = None,
        *,
        vectorize: bool = True,
        objective: Objective = losses.NON_SATURATING,
        subset_fraction: float = 0.8,
        **fields: Any,
    ) -> None:
        run = RunSpec.of(run, fields, required=("num_data", "batch_size"))
        if posterior.J_g != posterior.J_d:
            raise ValueError(
                "sampler=dcgan10 pairs each generator with one discriminator: "
                f"sampler.J_g ({posterior.J_g}) must equal sampler.J_d ({posterior.J_d})"
            )
        if not 0 < subset_fraction <= 1:
            raise ValueError(f"method.subset_fraction must be in (0, 1], got {subset_fraction}")
        self.subset_fraction = subset_fraction
        # Each GAN's training set is its subset: N (and N_f, N_g by default) count its examples.
        subset = dataclasses.replace(run, num_data=max(1, round(subset_fraction * run.num_data)))
        super().__init__(architecture, posterior, subset, vectorize=vectorize, objective=objective)

    def setup(self, stage: str) -> None:
        # The data side: every training batch carries each copy's own minibatch from its own subset.
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if stage == "fit" and datamodule is not None and getattr(datamodule, "copy_subsets", None) is None:
            datamodule.use_copy_subsets(self.generator.num_copies, self.subset_fraction)

    def on_fit_start(self) -> None:
        # Virtual batch norm: discriminator c's reference batch comes from its own subset, like its data.
        datamodule = getattr(self.trainer, "datamodule", None)
        subsets = getattr(datamodule, "copy_subsets", None)

        def per_copy(size: int) -> Tensor:
            examples = [
                reference_batches.training_examples(datamodule, size, mix_seed(self.seed, c), subset)
                for c, subset in enumerate(subsets)
            ]
            return torch.stack(examples)

        reference_batches.fill_for_method(self, datamodule, data=per_copy if subsets is not None else None)

    def discriminator_loss(self, batch: Mapping[str, Tensor], fakes: Tensor) -> Tensor:
        """Per copy c: its real minibatch ``x_copies[c]`` and the fakes of generator c only. [C]"""
        if "x_copies" not in batch:
            raise RuntimeError("sampler=dcgan10 needs per-copy batches: call datamodule.use_copy_subsets()")
        real = batch["x_copies"]
        real_logits = self.discriminator(real)  # [C, n, L]; copy c's batch norm sees only its own data
        with frozen_running_stats():  # test-time statistics come from real data only
            fake_logits = self.discriminator(fakes).unsqueeze(1)  # [C, 1, n, L]: copy c vs generator c
            labelled_logits = None
            if self.semi_supervised:
                labelled_logits = self.discriminator(batch["x_lab"], shared_input=True)
        penalty = None
        if self.objective.has_penalty:
            penalty = self.objective.penalty(self._score, real, fakes, self._iteration_generator(2))
        return losses.discriminator_nll(
            real_logits,
            fake_logits,
            self.observations,
            semi_supervised=self.semi_supervised,
            labelled_logits=labelled_logits,
            labels=batch.get("y_lab"),
            objective=self.objective,
            real_penalty=penalty,
        )

    def generator_loss(self, fakes: Tensor) -> Tensor:
        """Per copy c: its fakes scored by discriminator c only (constant weights). [C]"""
        with frozen_running_stats():
            fake_logits = self.discriminator(fakes, detach=True).unsqueeze(0)  # [1, C, n, L]
        semi = self.semi_supervised
        return losses.generator_nll(fake_logits, semi_supervised=semi, objective=self.objective)

    def feature_matching_loss(self, batch: Mapping[str, Tensor], fakes: Tensor) -> Tensor:
        """Per copy c [C]: its fakes' mean penultimate features against its own real batch's, under
        discriminator c only."""
        with torch.no_grad(), frozen_running_stats():
            real = self.discriminator.features(batch["x_copies"]).flatten(2).mean(1)  # [C, F]
        with frozen_running_stats():
            fake = self.discriminator.features(fakes, detach=True).flatten(2).mean(1)  # [C, F]
        return (fake - real).pow(2).sum(-1)
