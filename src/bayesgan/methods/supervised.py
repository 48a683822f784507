"""``sampler=supervised``: the paper's "Supervised" row through ``bayesgan-train``.

The semi-supervised GAN's discriminator architecture (K class logits), trained by the sampler's optimizer
(Adam(β1 = 0.5), lr 2e-4, as ``bayesgan.supervised.train_supervised``) on the labelled stream only: each
iteration one minibatch of ``x_lab``, ``y_lab`` from the datamodule (min(labelled batch, N_s) distinct
labelled examples), cross-entropy. No generator and no unlabelled data. The accuracy callback reaches it
through ``class_probabilities`` (one sample: the BMA accuracy is the network's), so results.json, the
logger and the report treat it like any other run; the generation callbacks skip it (``generates``).
"""

from __future__ import annotations

import functools
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import rank_zero_info
from torch import Tensor

from bayesgan import reference_batches
from bayesgan.checkpointing import TrainingStateHooks
from bayesgan.models import Architecture
from bayesgan.posterior import PosteriorSpec
from bayesgan.protocol import RunSpec
from bayesgan.seeding import mix_seed
from bayesgan.supervised import build_classifier

_OPTIMIZER = 0x5C  # seeding key of the optimizer's (a sampler's) noise stream


class SupervisedClassifier(TrainingStateHooks, pl.LightningModule):
    """A classifier on the labelled examples; ``posterior.optimizer`` is its update rule (num_data = N_s).

    Takes the common method arguments (``bayesgan.protocol.COMMON_ARGUMENTS``); ``run.z_prior`` is unused (no
    generator) and the posterior's copy counts must be 1. Needs ``num_classes`` (``dataset.n_labels``).
    """

    generates = False
    optimizer_steps_per_iteration = 1

    def __init__(
        self, architecture: Architecture, posterior: PosteriorSpec, run: RunSpec | None = None, **fields: Any
    ) -> None:
        super().__init__()
        run = RunSpec.of(run, fields, required=("num_data", "batch_size"))
        if run.num_classes is None or not run.num_labelled:
            raise ValueError(
                "sampler=supervised trains on the labelled examples only: set dataset.n_labels (and use a "
                "labelled dataset)"
            )
        if (posterior.J_g, posterior.J_d, posterior.M) != (1, 1, 1):
            raise ValueError("sampler=supervised trains one network: sampler.J_g, J_d and M must be 1")
        self.automatic_optimization = False
        self.run, self.posterior, self.data_shape, self.seed = run, posterior, run.data_shape, run.seed
        self.num_data, self.num_labelled, self.batch_size = run.num_data, run.num_labelled, run.batch_size
        self.num_classes, self.semi_supervised, self.z_dim = run.num_classes, True, 0
        self.classifier = build_classifier(architecture, self.data_shape, run.num_classes, run.seed)
        self.bank: tuple[()] = ()  # a point estimate
        self.iteration = 0
        self.divergence_loss = run.divergence_loss
        self.diverged_at: int | None = None
        self.divergence: str | None = None

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # The loss is the mean cross-entropy per labelled example: num_data = N_s (the samplers' convention).
        return self.posterior.optimizer(
            self.classifier.parameters(),
            num_data=self.num_labelled,
            batch_size=self.batch_size,
            dataset_size=self.num_data,
            seed=mix_seed(self.seed, _OPTIMIZER),
        )

    def on_fit_start(self) -> None:
        # Virtual batch norm (model.virtual_batch_norm): the reference batch is labelled examples, the only
        # data this baseline may see. A restored checkpoint's is kept; a no-op without it.
        datamodule = self.trainer.datamodule
        data = functools.partial(reference_batches.labelled_examples, datamodule, seed=self.seed)
        reference_batches.fill_references(self.classifier, data=data)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        optimizer = self.optimizers()
        loss = F.cross_entropy(self.classifier(batch["x_lab"]), batch["y_lab"])
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        optimizer.step()
        self.iteration += 1
        value = float(loss.detach())
        if not torch.isfinite(loss) or (self.divergence_loss is not None and value > self.divergence_loss):
            self.diverged_at, self.divergence = self.iteration, f"loss {value:.3g}"
            rank_zero_info(f"DIVERGED at iteration {self.iteration}: loss {value:.3g}; training stopped.")
            self.trainer.should_stop = True
        self.log("loss/supervised", value, prog_bar=True, logger=False)
        if self.iteration % max(1, self.trainer.log_every_n_steps) == 0:
            for logger in self.trainer.loggers:
                logger.log_metrics({"loss/supervised": value}, step=self.iteration)

    # -- the protocol ----------------------------------------------------------------------------------------
    def num_posterior_samples(self, network: str, use_bank: bool = True) -> int:
        return 1 if network == "discriminator" else 0

    def generate(
        self, z: Tensor | int, *, use_bank: bool = True, generator: torch.Generator | None = None
    ) -> Tensor:
        raise RuntimeError("sampler=supervised has no generator: it trains a classifier only")

    @torch.no_grad()
    def class_probabilities(self, x: Tensor, *, use_bank: bool = True) -> Tensor:
        """K-class probabilities of the one network (eval mode: running batch-norm statistics): [1, B, K]."""
        was_training = self.classifier.training
        self.classifier.eval()
        try:
            return self.classifier(x.to(self.device)).softmax(-1).unsqueeze(0)
        finally:
            self.classifier.train(was_training)
