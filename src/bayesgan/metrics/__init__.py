"""Evaluation metrics: mode coverage for mixture toys, BMA classification for semi-supervised runs, PRDC and
Stacked-MNIST modes. ``metrics.quality`` (FID/KID/PRDC/classifier score in a domain classifier's features)
and ``metrics.synthetic_js`` (the paper's JS; imports scikit-learn) are imported from their modules."""

from bayesgan.metrics.classification import EnsembleClassification
from bayesgan.metrics.mode_coverage import ModeCoverage, hq_mode_counts, mode_coverage, null_coverage
from bayesgan.metrics.prdc import PRDC, prdc
from bayesgan.metrics.stacked import StackedModes, mode_index

__all__ = [
    "PRDC",
    "EnsembleClassification",
    "ModeCoverage",
    "StackedModes",
    "hq_mode_counts",
    "mode_coverage",
    "mode_index",
    "null_coverage",
    "prdc",
]
