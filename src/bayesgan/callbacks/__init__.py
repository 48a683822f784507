"""Lightning callbacks: rank-aware periodic evaluation (sample grids, semi-supervised accuracy, mode
coverage, image quality, the paper's synthetic JS, MCMC diagnostics), checkpoint-on-interrupt and an
iteration progress bar."""

from bayesgan.callbacks.accuracy import SemiSupervisedAccuracy
from bayesgan.callbacks.base import PeriodicCallback
from bayesgan.callbacks.checkpoint import SaveOnInterrupt
from bayesgan.callbacks.coverage import ModeCoverageCallback
from bayesgan.callbacks.diagnostics import MCMCDiagnostics
from bayesgan.callbacks.progress import IterationProgressBar
from bayesgan.callbacks.quality import ImageQualityCallback
from bayesgan.callbacks.samples import SampleGrid
from bayesgan.callbacks.synthetic import SyntheticJSCallback

__all__ = [
    "ImageQualityCallback",
    "IterationProgressBar",
    "MCMCDiagnostics",
    "ModeCoverageCallback",
    "PeriodicCallback",
    "SampleGrid",
    "SaveOnInterrupt",
    "SemiSupervisedAccuracy",
    "SyntheticJSCallback",
]
