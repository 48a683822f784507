"""Lightning callbacks: rank-aware periodic evaluation (sample grids, semi-supervised accuracy, mode
coverage, MCMC diagnostics), checkpoint-on-interrupt and an iteration progress bar."""

from bayesgan.callbacks.accuracy import SemiSupervisedAccuracy
from bayesgan.callbacks.base import PeriodicCallback
from bayesgan.callbacks.checkpoint import SaveOnInterrupt
from bayesgan.callbacks.coverage import ModeCoverageCallback
from bayesgan.callbacks.diagnostics import MCMCDiagnostics
from bayesgan.callbacks.progress import IterationProgressBar
from bayesgan.callbacks.samples import SampleGrid

__all__ = [
    "IterationProgressBar",
    "MCMCDiagnostics",
    "ModeCoverageCallback",
    "PeriodicCallback",
    "SampleGrid",
    "SaveOnInterrupt",
    "SemiSupervisedAccuracy",
]
