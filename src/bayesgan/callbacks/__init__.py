"""Lightning callbacks: rank-aware periodic evaluation (sample grids, semi-supervised accuracy, mode
coverage, MCMC diagnostics) and checkpoint-on-interrupt."""

from bayesgan.callbacks.accuracy import SemiSupervisedAccuracy
from bayesgan.callbacks.base import PeriodicCallback
from bayesgan.callbacks.checkpoint import SaveOnInterrupt
from bayesgan.callbacks.coverage import ModeCoverageCallback
from bayesgan.callbacks.diagnostics import MCMCDiagnostics
from bayesgan.callbacks.samples import SampleGrid

__all__ = [
    "MCMCDiagnostics",
    "ModeCoverageCallback",
    "PeriodicCallback",
    "SampleGrid",
    "SaveOnInterrupt",
    "SemiSupervisedAccuracy",
]
