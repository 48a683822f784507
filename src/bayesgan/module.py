"""The Bayesian GAN LightningModule: Algorithm 1 of Saatci & Wilson (2017) with manual optimization.

One iteration: draw z for every generator copy; update every discriminator copy against the real minibatch
and the fakes of *all* generator copies; draw fresh z; update every generator copy against *all*
discriminator copies. Copies are vectorized ``Ensemble``s; the update rule is the sampler (an optimizer).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info
from torch import Tensor

from bayesgan import health, losses, reference_batches
from bayesgan.bank import BANK_DIR
from bayesgan.checkpointing import TrainingStateHooks, remove_orphans
from bayesgan.ensemble import Ensemble
from bayesgan.models import Architecture
from bayesgan.models.layers import frozen_running_stats
from bayesgan.objectives import Objective
from bayesgan.posterior import PosteriorSpec, observations
from bayesgan.protocol import RunSpec
from bayesgan.seeding import derived_generator, latents, mix_seed

_D_SAMPLER, _G_SAMPLER = 0x5D, 0x56  # seeding keys of the two samplers' noise streams


class BayesGAN(TrainingStateHooks, pl.LightningModule):
    """Bayesian GAN (or, with one copy each and the ``ml`` sampler, an ML-GAN) on data of ``data_shape``.

    ``num_classes`` set means semi-supervised mode (K class logits + an implicit fake logit at 0), which
    needs ``num_labelled`` (N_s, the labelled examples); ``num_data`` is N (the unlabelled training set) and
    ``batch_size`` the global n. ``observations`` holds every term's weight, whose sums W_d, W_g are the
    samplers' num_data (docs/posterior.md). ``objective`` gives the per-example losses (default: the
    non-saturating likelihood; ``bayesgan.objectives``); with ``objective.n_critic`` = k > 1 every iteration
    updates the discriminator and only every k-th one the generator. ``vectorize=False`` runs the copies in
    a Python loop (same numbers, slower; a reference).
    Training stops cleanly, with ``diverged_at`` and ``divergence`` set, on a non-finite loss, parameter or
    batch-norm statistic, or a loss above ``divergence_loss`` per likelihood term (None: no such limit).
    """

    def __init__(
        self,
        architecture: Architecture,
        posterior: PosteriorSpec,
        run: RunSpec | None = None,
        *,
        vectorize: bool = True,
        objective: Objective = losses.NON_SATURATING,
        **fields: Any,
    ) -> None:
        """``run``, or its fields as keywords (``data_shape=..., num_data=..., batch_size=...``)."""
        super().__init__()
        run = RunSpec.of(run, fields, required=("num_data", "batch_size"))
        self.run, self.objective = run, objective
        self.automatic_optimization = False
        self.posterior, self.data_shape, self.z_dim = posterior, run.data_shape, architecture.z_dim
        self.num_data, self.batch_size, self.num_classes = run.num_data, run.batch_size, run.num_classes
        self.semi_supervised, self.z_prior, self.seed = run.semi_supervised, run.z_prior, run.seed
        self.observations = observations(posterior, run.num_data, run.num_labelled, self.semi_supervised)
        num_logits = run.num_classes if self.semi_supervised else 1
        self.generator = Ensemble(
            lambda: architecture.build_generator(self.data_shape),
            posterior.J_g * posterior.M,
            vectorize=vectorize,
        )
        self.discriminator = Ensemble(
            lambda: architecture.build_discriminator(self.data_shape, num_logits),
            posterior.J_d * posterior.M,
            vectorize=vectorize,
        )
        reference_batches.check_sizes(self.discriminator, run.num_data)  # virtual batch norm's, if any
        self.bank = posterior.make_bank()
        self.iteration = 0
        self.divergence_loss = run.divergence_loss
        self.diverged_at: int | None = None
        self.divergence: str | None = None
        # The generator loss reported in critic-only iterations (n_critic > 1): the last one computed.
        self._last_g_loss = torch.zeros(self.generator.num_copies)

    # -- optimisation --------------------------------------------------------------------------------------
    def configure_optimizers(self) -> Any:
        # num_data = W, the observations each network's likelihood sums over: with p.grad the gradient of
        # the per-observation average L = U_lik / W, the sampler's ∇U = W·p.grad + θ/σ² (docs/posterior.md).
        build = functools.partial(
            self.posterior.optimizer, batch_size=self.batch_size, dataset_size=self.num_data
        )
        # Distinct noise streams for D and G, derived from (not equal to) the run seed, and the same on
        # every DDP rank (replicas must stay identical).
        d_opt = build(
            self.discriminator.parameters(),
            num_data=self.observations.discriminator,
            seed=mix_seed(self.seed, _D_SAMPLER),
        )
        g_opt = build(
            self.generator.parameters(),
            num_data=self.observations.generator,
            seed=mix_seed(self.seed, _G_SAMPLER),
        )
        if self.posterior.step_schedule is None:
            return [d_opt, g_opt]
        # Lightning saves and restores the schedulers' state; manual optimization steps them (training_step).
        return [d_opt, g_opt], [self.posterior.step_schedule(d_opt), self.posterior.step_schedule(g_opt)]

    def sample_z(self, copies: int, n: int, generator: torch.Generator | None = None) -> Tensor:
        return latents(self.z_prior, (copies, n, self.z_dim), generator, self.device)

    def _iteration_generator(self, phase: int) -> torch.Generator:
        # A pure function of (seed, rank, iteration, phase): a resumed run draws the same numbers.
        return derived_generator(self.seed, self.global_rank, self.iteration, phase, device=self.device)

    def _iteration_z(self, n: int, phase: int) -> Tensor:
        return self.sample_z(self.generator.num_copies, n, self._iteration_generator(phase))

    def discriminator_loss(self, batch: Mapping[str, Tensor], fakes: Tensor) -> Tensor:
        """Per discriminator copy NLL [Cd] on the real batch and the fakes [Cg, n, ...] of every G copy."""
        real_logits, fake_logits = self.real_and_fake_logits(batch["x"], fakes)
        labelled_logits = None
        if self.semi_supervised:
            with frozen_running_stats():  # test-time statistics come from the unlabelled real stream only
                labelled_logits = self.discriminator(batch["x_lab"], shared_input=True)
        penalty = self._penalty(batch["x"], fakes)
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

    def _penalty(self, real: Tensor, fakes: Tensor) -> Tensor | None:
        """The objective's extra real-example loss [Cd]: each copy's real batch, each example paired with the
        fake of a random generator copy (fakes [Cg, n, ...])."""
        if not self.objective.has_penalty:
            return None
        generator = self._iteration_generator(2)
        copies, (num_gen, n) = self.discriminator.num_copies, fakes.shape[:2]
        pick = torch.randint(num_gen, (copies, n), generator=generator, device=fakes.device)
        fake = fakes[pick, torch.arange(n, device=fakes.device)]  # [Cd, n, ...]
        real = real.expand(copies, *real.shape)
        return self.objective.penalty(self._score, real, fake, generator)

    def _score(self, x: Tensor) -> Tensor:
        """Each discriminator copy's score (realness logit, or critic value) of its own inputs: [Cd, B]."""
        return losses.realness(self.discriminator(x), self.semi_supervised)

    def generator_loss(self, fakes: Tensor) -> Tensor:
        """Per generator copy NLL [Cg] of its fakes under every (constant) discriminator copy."""
        fake_logits = self.fake_logits(fakes, detach=True)
        semi = self.semi_supervised
        return losses.generator_nll(fake_logits, semi_supervised=semi, objective=self.objective)

    def feature_matching_loss(self, batch: Mapping[str, Tensor], fakes: Tensor) -> Tensor:
        """Per generator copy [Cg]: the distance of its fakes' mean penultimate features from the real
        batch's, under every (constant) discriminator copy."""
        with torch.no_grad(), frozen_running_stats():
            real = self.discriminator.features(batch["x"], shared_input=True).flatten(2).mean(1)  # [Cd, F]
        fake = self.discriminator.features(fakes, cross=True, detach=True).flatten(3).mean(2)  # [Cd, Cg, F]
        return losses.feature_matching(real, fake)

    def real_and_fake_logits(self, real: Tensor, fakes: Tensor) -> tuple[Tensor, Tensor]:
        """The discriminator step's logits: [Cd, n, L] on the real batch, ``fake_logits(fakes)``. Unless a
        subclass evaluates fakes its own way, a discriminator without batch-dependent layers sees both
        in one pass (``Ensemble.shared_and_cross``)."""
        if type(self).fake_logits is BayesGAN.fake_logits:
            return self.discriminator.shared_and_cross(real, fakes)
        return self.discriminator(real, shared_input=True), self.fake_logits(fakes)

    def fake_logits(self, fakes: Tensor, *, detach: bool = False) -> Tensor:
        """Every discriminator copy on every generator copy's fakes [Cg, n, ...]: logits [Cd, Cg, n, L].

        Each (discriminator, generator) batch is its own batch-norm batch (the paper's per-pair statistics);
        running statistics are untouched. ``detach``: the discriminators are constants (the G step). A hook:
        ProbGAN (bayesgan.methods.probgan) evaluates the pooled mixture of all copies' fakes instead.
        """
        return self.discriminator.cross(fakes, detach=detach)

    def update(
        self,
        batch: Mapping[str, Tensor],
        d_opt: torch.optim.Optimizer,
        g_opt: torch.optim.Optimizer,
        backward: Callable[[Tensor], None] = Tensor.backward,
    ) -> tuple[Tensor, Tensor]:
        """One iteration of Algorithm 1; returns the per-copy discriminator and generator NLLs."""
        n = batch["x"].shape[0]
        with torch.no_grad():
            fakes = self.generator(self._iteration_z(n, phase=0))
        d_loss = self.discriminator_loss(batch, fakes)
        d_opt.zero_grad(set_to_none=True)
        backward(d_loss.sum())
        d_opt.step()
        self.objective.constrain(self.discriminator)

        g_opt.zero_grad(set_to_none=True)
        if (self.iteration + 1) % self.objective.n_critic:
            # A critic-only iteration: a step without gradients moves no weight and draws no noise, and
            # keeps Lightning's count of two optimizer steps per iteration (max_steps, checkpoint periods).
            g_opt.step()
            return d_loss.detach(), self._last_g_loss.to(d_loss.device)
        fakes = self.generator(self._iteration_z(n, phase=1))  # each copy's output computed once
        if getattr(self.objective, "feature_matching", False):
            g_loss = self.feature_matching_loss(batch, fakes)
        else:
            g_loss = self.generator_loss(fakes)
        backward(g_loss.sum())
        g_opt.step()
        self._last_g_loss = g_loss.detach()
        return d_loss.detach(), self._last_g_loss

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        d_loss, g_loss = self.update(batch, *self.optimizers(), backward=self.manual_backward)
        self.iteration += 1
        for schedule in self.lr_schedulers() or []:  # type: ignore[union-attr]  (None: a constant step)
            schedule.step()  # the next iteration's step size
        if self.trainer.world_size > 1:
            health.average_buffers_over_ranks(self, self.trainer.world_size)
        reason = health.divergence(self, d_loss, g_loss, self.divergence_loss)
        if reason is not None:
            # Stop cleanly (outputs, metrics and the summary are still written) rather than sampling NaNs;
            # checkpoints refuse non-finite state, so the last good one is kept.
            self.diverged_at, self.divergence = self.iteration, reason
            rank_zero_info(
                f"DIVERGED at iteration {self.iteration}: {reason}; training stopped. The step size is too "
                "large for this model and data: lower sampler.optimizer.lr_per_datum (or lr)."
            )
            self.trainer.should_stop = True
        if self.bank.due(self.iteration) and self.trainer.is_global_zero:
            snapshot = {
                "generator": self.generator.snapshot(),
                "discriminator": self.discriminator.snapshot(),
            }
            self.bank.add(self.iteration, snapshot)
        losses_now = {"loss/d": d_loss.mean(), "loss/g": g_loss.mean()}
        self.log_dict(losses_now, prog_bar=True, logger=False)
        if self.iteration % max(1, self.trainer.log_every_n_steps) == 0:
            metrics = {k: float(v) for k, v in losses_now.items()} | {"bank/size": float(len(self.bank))}
            for logger in self.trainer.loggers:
                logger.log_metrics(metrics, step=self.iteration)

    # -- posterior predictive ------------------------------------------------------------------------------
    def posterior_states(self, network: str, use_bank: bool = True) -> list[dict[str, Tensor] | None]:
        """The stacked states to average over: bank snapshots, or [None] (= current copies) if none.

        Under DDP the bank lives on rank 0 and is broadcast here, so every rank must call this.
        """
        states: list[dict[str, Tensor]] = self.bank.states(network) if use_bank else []
        if use_bank and self._trainer is not None and self.trainer.world_size > 1:
            states = self.trainer.strategy.broadcast(states, src=0)
        return list(states) or [None]

    def num_posterior_samples(self, network: str, use_bank: bool = True) -> int:
        """How many samples ``posterior_states`` gives for ``network`` (copies x snapshots), without
        moving the bank: under DDP only rank 0's snapshot count is broadcast (every rank must call this)."""
        snapshots = len(self.bank) if use_bank else 0
        if use_bank and self._trainer is not None and self.trainer.world_size > 1:
            snapshots = self.trainer.strategy.broadcast(snapshots, src=0)
        ensemble = self.generator if network == "generator" else self.discriminator
        return max(1, snapshots) * ensemble.num_copies

    @torch.no_grad()
    def generate(
        self, z: Tensor | int, *, use_bank: bool = True, generator: torch.Generator | None = None
    ) -> Tensor:
        """Samples of every posterior generator sample: [S, n, *data_shape].

        ``z`` [n, z_dim] is shared by all samples (sample grids); an int draws n fresh z for each sample.
        """
        outputs = []
        for state in self.posterior_states("generator", use_bank):
            if isinstance(z, Tensor):
                outputs.append(self.generator(z.to(self.device), shared_input=True, state=state))
            else:
                fresh = self.sample_z(self.generator.num_copies, z, generator)
                outputs.append(self.generator(fresh, state=state))
        return torch.cat(outputs)

    @torch.no_grad()
    def class_probabilities(self, x: Tensor, *, use_bank: bool = True) -> Tensor:
        """K-class probabilities of every posterior discriminator sample (eval mode): [S, B, K]."""
        if not self.semi_supervised:
            raise RuntimeError("class probabilities need a semi-supervised model (set dataset.n_labels)")
        was_training = self.discriminator.training
        self.discriminator.eval()
        try:
            logits = [
                self.discriminator(x.to(self.device), shared_input=True, state=state)
                for state in self.posterior_states("discriminator", use_bank)
            ]
        finally:
            self.discriminator.train(was_training)
        return torch.cat(logits).softmax(-1)

    def setup(self, stage: str) -> None:
        # Before a checkpoint is restored: a disk bank reads and writes the run directory's bank/.
        if self.bank.storage == "disk":
            directory = Path(self.trainer.default_root_dir) / BANK_DIR
            self.bank.attach(directory)
            remove_orphans(directory)  # a killed writer's temporary file (the snapshot itself is rewritten)

    def on_fit_start(self) -> None:
        # Virtual batch norm's reference batches, once (kept from a restored checkpoint); else a no-op.
        reference_batches.fill_for_method(self, getattr(self.trainer, "datamodule", None))

    def teardown(self, stage: str) -> None:
        health.end_gloo_group(stage)
