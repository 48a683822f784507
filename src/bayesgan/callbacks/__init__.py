"""Lightning callbacks: rank-aware periodic evaluation (sample grids, semi-supervised accuracy, mode
coverage), Ctrl-C at an iteration boundary and the run record every checkpoint carries."""

from bayesgan.callbacks.accuracy import SemiSupervisedAccuracy
from bayesgan.callbacks.base import PeriodicCallback
from bayesgan.callbacks.checkpoint import RunRecord, SaveOnInterrupt
from bayesgan.callbacks.coverage import ModeCoverageCallback
from bayesgan.callbacks.samples import SampleGrid

__all__ = [
    "ModeCoverageCallback",
    "PeriodicCallback",
    "RunRecord",
    "SampleGrid",
    "SaveOnInterrupt",
    "SemiSupervisedAccuracy",
]
