"""Virtual batch normalisation (Salimans et al. 2016, "Improved techniques for training GANs", §3.4).

Batch norm makes an example's output depend on the other examples of its minibatch. VBN normalises each
example x with the statistics of a *reference batch* r_1..r_R, chosen once at the start of training and fixed
(training data for a discriminator, latents from the z prior for a generator), combined with x itself. For a
unit (or channel) of a layer's pre-activations h, with means over the spatial positions s (none for a fully
connected layer):

    reference moments   μ_r = mean_{i,s} h(r_i)_s,          ν_r = mean_{i,s} h(r_i)_s²
    an example's own    μ_x = mean_s h(x)_s,                ν_x = mean_s h(x)_s²
    combined            μ = μ_x/(R+1) + R·μ_r/(R+1),        ν = ν_x/(R+1) + R·ν_r/(R+1)
    output              y = γ·(h(x) − μ) / sqrt(ν − μ² + ε) + β

and the reference batch itself is normalised with its own moments (μ_r, ν_r), as the paper and the authors'
code (openai/improved-gan, ``VBN``) do. γ, β are learnable when the layer is ``affine`` (as batch norm's).
The reference moments are recomputed on every call with the current weights (gradients flow through them),
so the reference batch is run through the network with every minibatch: the network is built as

    ReferenceBatch (prepends the R reference inputs) → ... VirtualBatchNorm ... → DropReference → ...

and every layer in between works per example. An example's output therefore depends only on itself and the
fixed reference, never on the rest of its batch: there is no train/eval difference (no running statistics),
the test batch does not matter, and stacked batches (``batch_groups``: a discriminator scoring several
generators' fakes at once) need no special handling.

The reference inputs are a buffer of ``ReferenceBatch`` (checkpointed, in every posterior-bank snapshot,
identical on every DDP replica), NaN until :func:`bayesgan.reference_batches.fill_references` fills it at the
start of training.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

CHOICES = ("none", "discriminator", "generator", "both")


def check_choice(family: str, value: object, reference_size: object) -> None:
    """One-line errors for ``model.virtual_batch_norm`` and ``model.vbn_reference_size``."""
    if not isinstance(value, str) or value not in CHOICES:
        raise ValueError(
            f"{family} virtual_batch_norm must be one of {', '.join(CHOICES)} (the networks that use virtual "
            f"batch norm), got {value!r}"
        )
    if isinstance(reference_size, bool) or not isinstance(reference_size, int) or reference_size < 1:
        raise ValueError(f"{family} vbn_reference_size must be an integer >= 1, got {reference_size!r}")


def applies(value: str, network: str) -> bool:
    """Whether the ``virtual_batch_norm`` choice ``value`` covers ``network`` (discriminator/generator)."""
    return value in (network, "both")


def normalise(x: Tensor, reference_size: int, eps: float, batch_dim: int = 0) -> Tensor:
    """The VBN formula (module docstring) without γ, β on ``x`` = [..., R + B, F, *spatial], batch at
    ``batch_dim``: the first R examples are the reference batch."""
    spatial = list(range(batch_dim + 2, x.dim()))
    reference, live = x.split([reference_size, x.shape[batch_dim] - reference_size], dim=batch_dim)
    ref_dims = [batch_dim, *spatial]
    ref_mean = reference.mean(ref_dims, keepdim=True)
    ref_mean_sq = reference.square().mean(ref_dims, keepdim=True)
    weight = 1.0 / (reference_size + 1)
    if spatial:
        own_mean, own_mean_sq = live.mean(spatial, keepdim=True), live.square().mean(spatial, keepdim=True)
    else:
        own_mean, own_mean_sq = live, live.square()
    mean = weight * own_mean + (1.0 - weight) * ref_mean
    mean_sq = weight * own_mean_sq + (1.0 - weight) * ref_mean_sq
    # E[h²] − E[h]² can round below 0 for a (near-)constant unit: clamp before adding ε.
    ref_out = (reference - ref_mean) * torch.rsqrt((ref_mean_sq - ref_mean.square()).clamp_min(0) + eps)
    live_out = (live - mean) * torch.rsqrt((mean_sq - mean.square()).clamp_min(0) + eps)
    return torch.cat([ref_out, live_out], dim=batch_dim)


class ReferenceBatch(nn.Module):
    """Prepends the R reference inputs (buffer ``reference`` [R, *shape]): [B, ...] → [R + B, ...].

    ``source`` says what fills it: "data" (training examples) or "latent" (draws from the z prior).
    """

    def __init__(self, size: int, shape: Sequence[int], source: str) -> None:
        super().__init__()
        if source not in ("data", "latent"):
            raise ValueError(f"reference source must be 'data' or 'latent', got {source!r}")
        self.size, self.source = int(size), source
        self.register_buffer("reference", torch.full((self.size, *shape), float("nan")))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.reference.to(x.dtype), x])

    def extra_repr(self) -> str:
        return f"size={self.size}, shape={tuple(self.reference.shape[1:])}, source={self.source}"


class VirtualBatchNorm(nn.Module):
    """VBN over dimension 1 of a 2-D or 4-D input whose first ``reference_size`` examples are the reference
    batch (``ReferenceBatch`` put them there)."""

    def __init__(self, num_features: int, reference_size: int, *, affine: bool, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features, self.reference_size, self.eps = num_features, int(reference_size), eps
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine else None

    def forward(self, x: Tensor) -> Tensor:
        y = normalise(x, self.reference_size, self.eps)
        if self.weight is None:
            return y
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return y * self.weight.view(shape) + self.bias.view(shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, reference={self.reference_size}, affine={self.weight is not None}"


class DropReference(nn.Module):
    """Removes the reference examples again: [R + B, ...] → [B, ...]."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = int(size)

    def forward(self, x: Tensor) -> Tensor:
        return x[self.size :]

    def extra_repr(self) -> str:
        return f"size={self.size}"


def with_reference(
    layers: OrderedDict[str, nn.Module], reference: ReferenceBatch, what: str
) -> OrderedDict[str, nn.Module]:
    """``layers`` (whose normalisation layers are ``VirtualBatchNorm``) run with the reference batch: a
    ``ReferenceBatch`` first and a ``DropReference`` right after the last VBN layer, so the layers after it
    (minibatch discrimination, the logits) see the real batch only. ``what`` names the network for errors."""
    names = [name for name, layer in layers.items() if isinstance(layer, VirtualBatchNorm)]
    if not names:
        raise ValueError(
            f"virtual batch norm was asked for the {what}, which has no normalised layer (e.g. DCGAN "
            "num_layers=1 or MLP depth=0): set model.virtual_batch_norm accordingly"
        )
    out: OrderedDict[str, nn.Module] = OrderedDict(reference=reference)
    for name, layer in layers.items():
        out[name] = layer
        if name == names[-1]:
            out["drop_reference"] = DropReference(reference.size)
    return out
