"""Lightning callbacks: rank-aware periodic evaluation (sample grids, semi-supervised accuracy, mode
coverage) and checkpoint-on-interrupt."""

from bayesgan.callbacks.accuracy import SemiSupervisedAccuracy
from bayesgan.callbacks.base import PeriodicCallback
from bayesgan.callbacks.checkpoint import SaveOnInterrupt
from bayesgan.callbacks.coverage import ModeCoverageCallback
from bayesgan.callbacks.samples import SampleGrid

__all__ = [
    "ModeCoverageCallback",
    "PeriodicCallback",
    "SampleGrid",
    "SaveOnInterrupt",
    "SemiSupervisedAccuracy",
]
