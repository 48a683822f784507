"""Samplers and optimizers for the network weights, all drop-in ``torch.optim.Optimizer``s.

=================  ==========================================================  =====================
class              update                                                      posterior sampler?
=================  ==========================================================  =====================
``SGHMC``          v ← (1−a)v − lr·∇U + N(0, 2·a·lr·T);  θ ← θ + v              yes (paper, Alg. 1)
``SGLD``           θ ← θ − (lr/2)·∇U + N(0, lr·T)                               yes
``PSGLD``          V ← βV + (1−β)(∇U/W)²; G = 1/(λ+√V);                         yes (Li et al. 2016,
                   θ ← θ − (lr/2)·G⊙∇U + N(0, lr·T·G)                           Γ term dropped)
``MLAdam``         torch Adam(betas=(0.5, 0.999)) on the mean loss gradient     no (ML-GAN baseline)
``AuthorsRecipe``  Adam(β1=0.5) → momentum 0.5 on loss + prior/N + noise/N      no (released optimizer
                                                                                rule, this objective)
=================  ==========================================================  =====================

Common constructor: ``Cls(params, *, num_data, batch_size, lr, ..., seed=0, dataset_size=None)``.
``p.grad`` must be the gradient of the per-observation average L = U_lik / W with W = num_data;
∇U = num_data·p.grad + p/prior_std², and lr_per_datum gives lr = lr_per_datum / W. See
``bayesgan.samplers.base`` for the convention, the private noise generator and the state-dict layout, and
docs/posterior.md for the Bayesian GAN's U_d, U_g and W. ``schedule.PolynomialDecay`` decays any of their
step sizes over time (``schedule=polynomial``).
"""

from bayesgan.samplers.adam import AuthorsRecipe, MLAdam
from bayesgan.samplers.base import SamplerBase
from bayesgan.samplers.psgld import PSGLD
from bayesgan.samplers.schedule import PolynomialDecay
from bayesgan.samplers.sghmc import SGHMC
from bayesgan.samplers.sgld import SGLD

__all__ = ["PSGLD", "SGHMC", "SGLD", "AuthorsRecipe", "MLAdam", "PolynomialDecay", "SamplerBase"]
