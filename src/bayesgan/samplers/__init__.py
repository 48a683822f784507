"""Samplers and optimizers for the network weights, all drop-in ``torch.optim.Optimizer``s.

=================  ==========================================================  =====================
class              update                                                      posterior sampler?
=================  ==========================================================  =====================
``SGHMC``          v ← (1−a)v − lr·∇U + N(0, 2·a·lr·T);  θ ← θ + v              yes (paper, Alg. 1)
``SGLD``           θ ← θ − (lr/2)·∇U + N(0, lr·T)                               yes
``MLAdam``         torch Adam(betas=(0.5, 0.999)) on the mean loss gradient     no (ML-GAN baseline)
``AuthorsRecipe``  Adam(β1=0.5) → momentum 0.5 on loss + prior/N + noise/N      no (released TF code)
=================  ==========================================================  =====================

Common constructor: ``Cls(params, *, num_data, batch_size, lr, ..., seed=0)``. ``p.grad`` must be the
gradient of the global-minibatch MEAN negative log-likelihood; ∇U = num_data·p.grad + p/prior_std². See
``bayesgan.samplers.base`` for the convention, the private noise generator and the state-dict layout.
"""

from bayesgan.samplers.adam import AuthorsRecipe, MLAdam
from bayesgan.samplers.base import SamplerBase
from bayesgan.samplers.sghmc import SGHMC
from bayesgan.samplers.sgld import SGLD

__all__ = ["SGHMC", "SGLD", "AuthorsRecipe", "MLAdam", "SamplerBase"]
