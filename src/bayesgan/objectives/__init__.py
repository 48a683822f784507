"""GAN objectives (``conf/objective/<name>.yaml``): per-example losses of the discriminator's score that
``bayesgan.losses`` turns into the potentials of docs/posterior.md. One module per objective."""

from bayesgan.objectives.base import Objective
from bayesgan.objectives.least_squares import LeastSquares
from bayesgan.objectives.minimax import Minimax
from bayesgan.objectives.non_saturating import NonSaturating
from bayesgan.objectives.wasserstein import Wasserstein

__all__ = ["LeastSquares", "Minimax", "NonSaturating", "Objective", "Wasserstein"]
