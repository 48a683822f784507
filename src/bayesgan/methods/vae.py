"""``model=vae``: a variational auto-encoder (Kingma & Welling 2014) trained by maximising the ELBO with Adam.

    ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || N(0, I)),   q(z|x) = N(mu(x), diag sigma^2(x)),

one reparameterised z per example and iteration, KL in closed form. The networks come from a GAN model
family (``model.backbone``): the decoder is its generator, the encoder its discriminator with 2 x z_dim
outputs (mu, log sigma^2), so ``backbone: DCGAN`` sizes both from the data shape as the DCGAN does and
``backbone: PacGANToy`` (or MLP) serves the 2-D toys.

Likelihoods (``model.likelihood``):
- ``bernoulli`` (images): decoder outputs are logits of p(pixel), the targets the pixels mapped from [-1, 1]
  to [0, 1] (grey levels as soft targets, the usual practice). The decoder's tanh is removed.
- ``gaussian``: decoder output is the mean (tanh for images, linear for vectors); the variance is LEARNED, one
  log sigma^2 per data dimension (``model.std: null``), or fixed (``model.std: 0.1``).

``generate`` returns the decoder MEAN of z drawn from the prior (for ``bernoulli``: 2 p - 1, in the data's
[-1, 1]), not a sample of p(x|z): that is what the sample grids and image metrics compare.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bayesgan.methods.point_estimate import FamilyNets, PointEstimate
from bayesgan.models import Architecture
from bayesgan.protocol import RunSpec

LIKELIHOODS = ("bernoulli", "gaussian")


def gaussian_kl(mu: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) summed over the latent dimensions: [B]."""
    return 0.5 * (mu.square() + log_var.exp() - 1.0 - log_var).flatten(1).sum(1)


def bernoulli_log_likelihood(logits: Tensor, target: Tensor) -> Tensor:
    """sum_i t_i log p_i + (1 - t_i) log(1 - p_i), p = sigmoid(logits), t in [0, 1]: [B]."""
    return -F.binary_cross_entropy_with_logits(logits, target, reduction="none").flatten(1).sum(1)


def gaussian_log_likelihood(mean: Tensor, log_var: Tensor, x: Tensor) -> Tensor:
    """log N(x; mean, sigma^2) summed over the data dimensions (log_var broadcasts): [B]."""
    log_density = -0.5 * (math.log(2 * math.pi) + log_var + (x - mean).square() / log_var.exp())
    return log_density.flatten(1).sum(1)


@dataclass
class VAENets(FamilyNets):
    """The VAE's networks, built from a GAN ``backbone`` for a data shape; ``z_dim`` is the backbone's."""

    family: ClassVar[str] = "vae"
    backbone: Architecture
    likelihood: str = "bernoulli"
    std: float | None = None  # gaussian only: None = learned per data dimension, else this fixed std

    def __post_init__(self) -> None:
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"model.likelihood must be one of {list(LIKELIHOODS)}, got {self.likelihood!r}")
        if self.std is not None and not self.std > 0:
            raise ValueError(f"model.std must be > 0, or null for a learned variance, got {self.std}")

    @property
    def z_dim(self) -> int:
        return int(self.backbone.z_dim)

    def build_encoder(self, data_shape: tuple[int, ...]) -> nn.Module:
        """x ``[B, *data_shape]`` -> ``[B, 2 z_dim]`` (mu, log sigma^2)."""
        return self.backbone.build_discriminator(data_shape, 2 * self.z_dim)

    def build_decoder(self, data_shape: tuple[int, ...]) -> nn.Module:
        """z ``[B, z_dim]`` -> logits (bernoulli) or the mean (gaussian), ``[B, *data_shape]``."""
        decoder = self.backbone.build_generator(data_shape)
        if self.likelihood == "bernoulli":
            if (
                len(data_shape) != 3
                or not isinstance(decoder, nn.Sequential)
                or "tanh" not in decoder._modules
            ):
                raise ValueError(
                    f"model.likelihood=bernoulli needs image data (C, H, W) in [-1, 1] and a backbone ending "
                    f"in tanh, got data_shape={tuple(data_shape)}; use model.likelihood=gaussian"
                )
            del decoder.tanh  # logits: the Bernoulli mean is sigmoid(logits)
        return decoder


class VAE(PointEstimate):
    """A VAE on data of ``data_shape``, unsupervised; ``posterior`` (the sampler group) is not used, and
    ``run.num_data``, ``run.batch_size`` neither (the ELBO is a per-example average). Needs
    ``z_prior="normal"``."""

    family: ClassVar[str] = "vae"
    per_term: tuple[str, ...] = ("loss/nelbo_per_dim",)  # Bernoulli: about 0.7 per pixel at first
    shown: ClassVar[tuple[str, ...]] = ("loss/nelbo", "loss/kl")

    def __init__(
        self,
        architecture: VAENets,
        posterior: Any = None,
        run: RunSpec | None = None,
        *,
        lr: float = 1e-3,
        betas: Sequence[float] = (0.9, 0.999),
        **fields: Any,
    ) -> None:
        run = RunSpec.of(run, fields, z_prior="normal")
        if run.z_prior != "normal":
            raise ValueError(
                f"z_prior must be normal for model=vae (the ELBO's prior is N(0, I)), got {run.z_prior}: "
                "add z_prior=normal"
            )
        super().__init__(run, z_dim=architecture.z_dim, lr=lr, betas=betas)
        self.likelihood = architecture.likelihood
        if self.likelihood != "bernoulli":
            # A continuous density's NELBO has units: a fixed σ of 0.05 on the PacGAN grid's ±4 coordinates
            # starts near 1.6e3 per dimension, so only non-finite values count as divergence there.
            self.per_term = ()
        self.encoder = self.build_network(architecture.build_encoder, self.data_shape)
        self.decoder = self.build_network(architecture.build_decoder, self.data_shape)
        if self.likelihood == "gaussian" and architecture.std is None:
            self.log_var = nn.Parameter(torch.zeros(self.data_shape))  # learned, per data dimension
        elif self.likelihood == "gaussian":
            self.register_buffer("log_var", torch.full(self.data_shape, 2 * math.log(architecture.std)))

    def optimizer_groups(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        decoder = list(self.decoder.parameters())
        if isinstance(getattr(self, "log_var", None), nn.Parameter):
            decoder.append(self.log_var)
        return list(self.encoder.parameters()), decoder

    def negative_elbo(self, x: Tensor, noise: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Per-example -ELBO and KL ``[B]`` with one reparameterised z per example (``noise`` draws eps)."""
        mu, log_var = self.encoder(x).chunk(2, dim=-1)
        eps = torch.randn(mu.shape, generator=noise, device=mu.device)
        output = self.decoder(mu + (0.5 * log_var).exp() * eps)
        if self.likelihood == "bernoulli":
            log_likelihood = bernoulli_log_likelihood(output, (x + 1) / 2)
        else:
            log_likelihood = gaussian_log_likelihood(output, self.log_var, x)
        kl = gaussian_kl(mu, log_var)
        return kl - log_likelihood, kl

    def update(self, batch: Mapping[str, Tensor], opts: Sequence[torch.optim.Optimizer]) -> dict[str, Tensor]:
        nelbo, kl = self.negative_elbo(batch["x"], self.noise(0))
        loss = nelbo.mean()
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        self.backpropagate(loss)
        for opt in opts:
            opt.step()
        loss = loss.detach()
        return {
            "loss/nelbo": loss,
            "loss/kl": kl.detach().mean(),
            "loss/nelbo_per_dim": loss / math.prod(self.data_shape),
        }

    def decode(self, z: Tensor) -> Tensor:
        output = self.decoder(z)
        return 2 * torch.sigmoid(output) - 1 if self.likelihood == "bernoulli" else output
