"""What the families that train ONE set of weights with Adam share (``model=vae``, ``model=alpha_gan``).

A subclass builds its networks, names its optimisers (``optimizer_groups``) and defines one iteration
(``update``: the losses of one minibatch, every optimiser stepped once) and its samples (``decode``). This
base supplies the rest of the :class:`bayesgan.protocol.GenerativeMethod` contract: the iteration counter,
the divergence checks, an always-empty bank (a point estimate has one "posterior sample"), per-iteration
latent and noise streams keyed by (seed, rank, iteration) as BayesGAN's, and checkpoints that carry the
iteration and the global RNG state (the same ``"bayesgan"`` entry as BayesGAN's, so resume,
``bayesgan-sample`` and ``-evaluate`` treat every family alike).

Lightning counts optimizer steps and ``bayesgan-train`` runs ``2 x iterations`` of them (the GAN's D and G
steps), so every family steps exactly two Adam optimisers per iteration (the VAE: encoder and decoder, which
equals one Adam over both, since Adam is per parameter).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info
from torch import Tensor, nn

from bayesgan import health
from bayesgan.bank import PosteriorBank
from bayesgan.checkpointing import TrainingStateHooks
from bayesgan.protocol import RunSpec
from bayesgan.seeding import derived_generator, latents


class FamilyNets:
    """Base of a family's network config (``VAENets``, ...): a GAN method given one (``model=vae_mlp
    sampler=probgan``: the sampler's method wins) refuses it in one line, not with an AttributeError."""

    family: ClassVar[str] = "point_estimate"

    def build_generator(self, *args: Any) -> nn.Module:
        raise ValueError(
            f"model: the {self.family} networks train only with method={self.family} (model={self.family} "
            f"and model={self.family}_mlp select it); another method (e.g. sampler=probgan's) cannot"
        )

    build_discriminator = build_generator


class PointEstimate(TrainingStateHooks, pl.LightningModule):
    """Base of the point-estimate families (see the module docstring). Unsupervised only."""

    accepted_samplers: ClassVar[tuple[str, ...]] = ("ml",)  # the sampler group does not apply (protocol)
    family: ClassVar[str] = "point_estimate"  # the model=... name, for messages

    def __init__(self, run: RunSpec, *, z_dim: int, lr: float, betas: Sequence[float]) -> None:
        super().__init__()
        if run.num_classes is not None:
            raise ValueError(
                f"dataset.n_labels must be null for model={self.family}: it trains unsupervised (no "
                f"semi-supervised variant), got {run.num_labelled}"
            )
        if not lr > 0:
            raise ValueError(f"method.lr must be > 0, got {lr}")
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"method.betas must be two numbers in [0, 1), got {list(betas)}")
        self.automatic_optimization = False
        self.run, self.data_shape, self.z_dim = run, run.data_shape, int(z_dim)
        self.z_prior, self.seed = run.z_prior, run.seed
        self.semi_supervised = False
        self.lr, self.betas = float(lr), (float(betas[0]), float(betas[1]))
        self.bank = PosteriorBank(burn_in=0, thin=1, max_snapshots=0)  # one point estimate: never a snapshot
        self.iteration = 0
        self.divergence_loss = run.divergence_loss
        self.diverged_at: int | None = None
        self.divergence: str | None = None

    # -- what a family defines ---------------------------------------------------------------------------
    def optimizer_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """The parameters of the first and the second Adam optimiser (stepped in that order)."""
        raise NotImplementedError

    def update(self, batch: Mapping[str, Tensor], opts: Sequence[torch.optim.Optimizer]) -> dict[str, Tensor]:
        """One iteration on ``batch``: every optimiser stepped once. Returns its detached scalar losses by
        name (``loss/...``); those in ``per_term`` are the ones compared with ``divergence_loss``."""
        raise NotImplementedError

    def decode(self, z: Tensor) -> Tensor:
        """Samples ``[n, *data_shape]`` (in the data's range) for latents ``[n, z_dim]``."""
        raise NotImplementedError

    # Losses of about 1 per term, checked against divergence_loss (a family may narrow it per instance).
    per_term: tuple[str, ...] = ()
    shown: ClassVar[tuple[str, ...]] = ()  # losses on the progress bar (all of them go to the loggers)

    def build_network(self, builder: Callable[..., nn.Module], *args: Any) -> nn.Module:
        """``builder(*args)``, with a backbone's advice for vector data pointing at this family's variant."""
        try:
            return builder(*args)
        except ValueError as error:
            raise ValueError(str(error).replace("model=mlp", f"model={self.family}_mlp")) from None

    # -- optimisation --------------------------------------------------------------------------------------
    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [torch.optim.Adam(group, lr=self.lr, betas=self.betas) for group in self.optimizer_groups()]

    def backpropagate(self, loss: Tensor) -> None:
        """``manual_backward`` in a fit (DDP reduces the gradients), plain backward outside one (tests)."""
        if self._trainer is not None:
            self.manual_backward(loss)
        else:
            loss.backward()

    def sample_z(self, copies: int, n: int, generator: torch.Generator | None = None) -> Tensor:
        return latents(self.z_prior, (copies, n, self.z_dim), generator, self.device)

    def noise(self, phase: int) -> torch.Generator:
        """This iteration's random stream ``phase`` (latents, reparameterisation noise): a pure function of
        (seed, rank, iteration, phase), so a resumed run draws what the uninterrupted one drew."""
        rank = self.global_rank if self._trainer is not None else 0
        return derived_generator(self.seed, rank, self.iteration, phase, device=self.device)

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        losses = self.update(batch, self.optimizers())
        self.iteration += 1
        if self.trainer.world_size > 1:
            health.average_buffers_over_ranks(self, self.trainer.world_size)
        reason = self.check_divergence(losses)
        if reason is not None:
            # Stop cleanly (outputs and results.json are still written); checkpoints refuse non-finite state.
            self.diverged_at, self.divergence = self.iteration, reason
            rank_zero_info(
                f"DIVERGED at iteration {self.iteration}: {reason}; training stopped. Lower method.lr."
            )
            self.trainer.should_stop = True
        self.log_dict({k: losses[k] for k in self.shown}, prog_bar=True, logger=False)
        if self.iteration % max(1, self.trainer.log_every_n_steps) == 0:
            for logger in self.trainer.loggers:
                logger.log_metrics({k: float(v) for k, v in losses.items()}, step=self.iteration)

    def check_divergence(self, losses: Mapping[str, Tensor]) -> str | None:
        """Non-finite losses, weights or batch-norm statistics; or a ``per_term`` loss above the limit."""
        reason = health.non_finite(self, *losses.values())
        if reason is not None or self.divergence_loss is None:
            return reason
        for name in self.per_term:
            if float(losses[name]) > self.divergence_loss:
                return f"{name} {float(losses[name]):.3g} exceeds divergence_loss={self.divergence_loss:g}"
        return None

    # -- the protocol ----------------------------------------------------------------------------------------
    def num_posterior_samples(self, network: str, use_bank: bool = True) -> int:
        return 1  # one set of weights: nothing to average over

    @torch.no_grad()
    def generate(
        self, z: Tensor | int, *, use_bank: bool = True, generator: torch.Generator | None = None
    ) -> Tensor:
        """``decode`` of ``z`` [n, z_dim], or of n latents drawn from the z prior: ``[1, n, *data_shape]``."""
        if not isinstance(z, Tensor):
            z = self.sample_z(1, z, generator)[0]
        return self.decode(z.to(self.device)).unsqueeze(0)

    def class_probabilities(self, x: Tensor, *, use_bank: bool = True) -> Tensor:
        raise RuntimeError(f"class probabilities need a semi-supervised model; model={self.family} has none")

    def teardown(self, stage: str) -> None:
        health.end_gloo_group(stage)
