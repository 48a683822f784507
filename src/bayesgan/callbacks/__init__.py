"""Lightning callbacks: rank-aware periodic evaluation (sample grids, semi-supervised accuracy, mode
coverage, image quality, the paper's synthetic JS, MCMC diagnostics), Ctrl-C at an iteration boundary, the
run record every checkpoint carries and an iteration progress bar."""

from bayesgan.callbacks.accuracy import SemiSupervisedAccuracy
from bayesgan.callbacks.base import PeriodicCallback
from bayesgan.callbacks.checkpoint import RunRecord, SaveOnInterrupt
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
    "RunRecord",
    "SampleGrid",
    "SaveOnInterrupt",
    "SemiSupervisedAccuracy",
    "SyntheticJSCallback",
]
