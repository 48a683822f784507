"""``model=alpha_gan``: α-GAN (Rosca, Lakshminarayanan, Warde-Farley & Mohamed 2017, "Variational
Approaches for Auto-Encoding Generative Adversarial Networks"), a point estimate trained with Adam.

Networks: encoder E (x -> z, deterministic), generator G (z -> x), image discriminator D (real vs
reconstructed or generated x) and code discriminator C (prior z vs encoded z). Per iteration, on a minibatch
x with x_rec = G(E(x)) and x_gen = G(z), z from the prior:

- D and C (one Adam): L_DC = -log D(x) - log(1 - D(x_rec)) - log(1 - D(x_gen)) - log C(z) - log(1 - C(E(x)))
- E and G (one Adam), with fresh z:
  L_EG = λ ||x - x_rec||_1 + a(D(x_rec)) + a(D(x_gen)) + a(C(E(x))),
  the L1 norm summed over the data dimensions and averaged over the batch; a(·) the adversarial loss:
  ``non_saturating`` a = -log D (the default), or ``ratio`` a = -log D + log(1 - D) = -logit, the form of
  the paper's Algorithm 1 as we RECALL it (unverified here).
- λ = ``method.reconstruction_weight``, default 1. RECALLED, not checked against the paper: we do not have its
  text here and do not trust our memory of a per-dataset value; the unofficial PyTorch implementation
  (victor-shepardson/alpha-GAN) defaults to 1, with a per-pixel MEAN L1 where we use the norm.
- The paper updates the four networks separately; we pair D with C and E with G (two Adam optimisers), as
  the unofficial implementation does. Image-discriminator batch norm sees fakes with frozen running
  statistics (as BayesGAN's), so test-time statistics come from real data. C has no batch norm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bayesgan.methods.point_estimate import FamilyNets, PointEstimate
from bayesgan.models import MLP, Architecture
from bayesgan.models.layers import frozen_running_stats
from bayesgan.protocol import RunSpec

ADVERSARIAL_LOSSES = ("non_saturating", "ratio")


def discriminator_terms(real: Tensor, reconstructed: Tensor, generated: Tensor) -> dict[str, Tensor]:
    """Mean binary cross-entropies of the image discriminator's logits: real -> 1, the others -> 0."""
    return {
        "loss/d_real": F.softplus(-real).mean(),  # -log sigmoid(l)
        "loss/d_rec": F.softplus(reconstructed).mean(),  # -log(1 - sigmoid(l))
        "loss/d_gen": F.softplus(generated).mean(),
    }


def code_discriminator_terms(prior: Tensor, encoded: Tensor) -> dict[str, Tensor]:
    """Mean binary cross-entropies of the code discriminator's logits: prior z -> 1, encoded z -> 0."""
    return {"loss/c_prior": F.softplus(-prior).mean(), "loss/c_enc": F.softplus(encoded).mean()}


def adversarial(logits: Tensor, kind: str) -> Tensor:
    """The encoder/generator's loss for logits the discriminator should call real (mean over the batch)."""
    return (F.softplus(-logits) if kind == "non_saturating" else -logits).mean()


def encoder_generator_terms(
    x: Tensor,
    reconstructed: Tensor,
    d_reconstructed: Tensor,
    d_generated: Tensor,
    c_encoded: Tensor,
    *,
    weight: float,
    kind: str,
) -> dict[str, Tensor]:
    """The terms of L_EG (module docstring); their sum is what E and G minimise."""
    return {
        "loss/recon": weight * (x - reconstructed).abs().flatten(1).sum(1).mean(),
        "loss/g_rec": adversarial(d_reconstructed, kind),
        "loss/g_gen": adversarial(d_generated, kind),
        "loss/e_code": adversarial(c_encoded, kind),
    }


@dataclass
class AlphaGANNets(FamilyNets):
    """α-GAN's networks from a GAN ``backbone``: G its generator, D its discriminator, E its discriminator
    with z_dim outputs; C an MLP on codes (``code_hidden`` x ``code_depth``, LeakyReLU 0.2, no batch norm)."""

    family: ClassVar[str] = "alpha_gan"
    backbone: Architecture
    code_hidden: int = 256
    code_depth: int = 2

    @property
    def z_dim(self) -> int:
        return int(self.backbone.z_dim)

    def build_code_discriminator(self) -> nn.Module:
        return MLP(z_dim=self.z_dim, hidden=self.code_hidden, depth=self.code_depth).build_discriminator(
            (self.z_dim,), 1
        )


class AlphaGAN(PointEstimate):
    """α-GAN on data of ``data_shape``, unsupervised; ``posterior`` (the sampler group), ``run.num_data`` and
    ``batch_size`` are not used. Any z prior (C learns to tell it from the codes)."""

    family: ClassVar[str] = "alpha_gan"
    per_term: tuple[str, ...] = (
        *("loss/d_real", "loss/d_rec", "loss/d_gen", "loss/c_prior", "loss/c_enc"),
        *("loss/g_rec", "loss/g_gen", "loss/e_code"),
    )
    shown: ClassVar[tuple[str, ...]] = ("loss/d", "loss/g", "loss/recon")

    def __init__(
        self,
        architecture: AlphaGANNets,
        posterior: Any = None,
        run: RunSpec | None = None,
        *,
        lr: float = 2e-4,
        betas: Sequence[float] = (0.5, 0.999),
        reconstruction_weight: float = 1.0,
        adversarial_loss: str = "non_saturating",
        **fields: Any,
    ) -> None:
        super().__init__(
            RunSpec.of(run, fields, z_prior="normal"), z_dim=architecture.z_dim, lr=lr, betas=betas
        )
        if not reconstruction_weight >= 0:
            raise ValueError(f"method.reconstruction_weight must be >= 0, got {reconstruction_weight}")
        if adversarial_loss not in ADVERSARIAL_LOSSES:
            raise ValueError(
                f"method.adversarial_loss must be one of {list(ADVERSARIAL_LOSSES)}, got {adversarial_loss!r}"
            )
        self.reconstruction_weight, self.adversarial_loss = float(reconstruction_weight), adversarial_loss
        backbone = architecture.backbone
        self.generator = self.build_network(backbone.build_generator, self.data_shape)
        self.encoder = self.build_network(backbone.build_discriminator, self.data_shape, self.z_dim)
        self.discriminator = self.build_network(backbone.build_discriminator, self.data_shape, 1)
        self.code_discriminator = architecture.build_code_discriminator()

    def optimizer_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        critics = [*self.discriminator.parameters(), *self.code_discriminator.parameters()]
        return critics, [*self.encoder.parameters(), *self.generator.parameters()]

    def discriminator_losses(self, x: Tensor, noise: torch.Generator | None = None) -> dict[str, Tensor]:
        """The terms of L_DC on ``x`` (E and G not differentiated); ``noise`` draws the prior z."""
        with torch.no_grad():
            encoded = self.encoder(x)
            reconstructed, generated, prior = self._decode_both(encoded, x.shape[0], noise)
        real = self.discriminator(x)
        with frozen_running_stats():  # test-time statistics from real data only
            fakes = self.discriminator(torch.cat([reconstructed, generated])).chunk(2)
        prior_logits, encoded_logits = self.code_discriminator(torch.cat([prior, encoded])).chunk(2)
        return discriminator_terms(real, *fakes) | code_discriminator_terms(prior_logits, encoded_logits)

    def encoder_generator_losses(self, x: Tensor, noise: torch.Generator | None = None) -> dict[str, Tensor]:
        """The terms of L_EG on ``x`` (D and C get gradients too; their optimiser clears them)."""
        encoded = self.encoder(x)
        reconstructed, generated, _ = self._decode_both(encoded, x.shape[0], noise)
        with frozen_running_stats():
            d_rec, d_gen = self.discriminator(torch.cat([reconstructed, generated])).chunk(2)
        return encoder_generator_terms(
            x,
            reconstructed,
            d_rec,
            d_gen,
            self.code_discriminator(encoded),
            weight=self.reconstruction_weight,
            kind=self.adversarial_loss,
        )

    def _decode_both(
        self, encoded: Tensor, n: int, noise: torch.Generator | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        # One generator call for both halves, so its batch norm (if any) normalises them together.
        prior = self.sample_z(1, n, noise)[0]
        reconstructed, generated = self.generator(torch.cat([encoded, prior])).chunk(2)
        return reconstructed, generated, prior

    def update(self, batch: Mapping[str, Tensor], opts: Sequence[torch.optim.Optimizer]) -> dict[str, Tensor]:
        x = batch["x"]
        critic_opt, autoencoder_opt = opts
        critic = self.discriminator_losses(x, self.noise(0))
        critic_opt.zero_grad(set_to_none=True)
        self.backpropagate(sum(critic.values()))
        critic_opt.step()

        autoencoder = self.encoder_generator_losses(x, self.noise(1))
        autoencoder_opt.zero_grad(set_to_none=True)
        self.backpropagate(sum(autoencoder.values()))
        autoencoder_opt.step()
        losses = {k: v.detach() for k, v in (critic | autoencoder).items()}
        losses["loss/d"] = sum(losses[k] for k in critic)
        losses["loss/g"] = sum(losses[k] for k in autoencoder)
        return losses

    def decode(self, z: Tensor) -> Tensor:
        return self.generator(z)
