"""MCMC diagnostics for the posterior copies: split-R̂ and the diversity of the generator posterior.

Each copy of a network is its own chain (every generator copy targets the same conditional posterior, and so
does every discriminator copy), so a scalar summary recorded per copy over time is a ``[chains, draws]``
array.

- ``split_rhat``: the potential scale reduction factor of Gelman et al., BDA3 §11.4, computed on split chains
  (each chain cut into halves, so a drifting chain is caught even when chains agree on average), as in
  Vehtari et al. 2021 (without their rank normalisation). ≈ 1 at convergence; > 1.01 (Vehtari et al.) or
  > 1.1 (BDA3) signals chains that have not mixed.
- ``generator_diversity``: the mean distance between the outputs of two different generator copies on the
  same latent z, averaged over all pairs: 0 when the posterior has collapsed to one generator.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def split_rhat(chains: Tensor) -> float:
    """Split-R̂ of ``chains`` ``[M, T]`` (M ≥ 1 chains of T ≥ 4 draws; an odd T drops the middle draw).

    With the 2M half-chains of n draws: W = mean within-half variance, B/n = variance of the half means,
    var⁺ = (n − 1)/n · W + B/n, R̂ = sqrt(var⁺ / W). Constant chains (W = 0) give 1 if they all agree and
    infinity otherwise; non-finite draws give NaN.
    """
    chains = torch.as_tensor(chains, dtype=torch.float64)
    if chains.ndim != 2 or chains.shape[1] < 4:
        raise ValueError(f"split_rhat needs chains of shape [M, T] with T >= 4, got {tuple(chains.shape)}")
    if not torch.isfinite(chains).all():
        return math.nan
    n = chains.shape[1] // 2
    halves = torch.cat([chains[:, :n], chains[:, -n:]])
    within = halves.var(dim=1, correction=1).mean()
    between_over_n = halves.mean(dim=1).var(correction=1)
    if within == 0:
        return 1.0 if between_over_n == 0 else math.inf
    var_plus = (n - 1) / n * within + between_over_n
    return float(torch.sqrt(var_plus / within))


def generator_diversity(outputs: Tensor) -> float:
    """Mean over copy pairs (i < j) and latents of ‖x_i(z) − x_j(z)‖, for ``outputs`` ``[C, n, ...]``
    (C ≥ 2 copies evaluated on the same n latents)."""
    if outputs.ndim < 2 or outputs.shape[0] < 2:
        raise ValueError(f"generator_diversity needs [C >= 2, n, ...] outputs, got {tuple(outputs.shape)}")
    flat = outputs.flatten(2).to(torch.float64)  # [C, n, d]
    c = flat.shape[0]
    i, j = torch.triu_indices(c, c, offset=1)
    return float((flat[i] - flat[j]).norm(dim=-1).mean())
