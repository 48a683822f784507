"""Evaluation metrics: mode coverage for mixture toys and BMA classification for semi-supervised runs."""

from bayesgan.metrics.classification import EnsembleClassification
from bayesgan.metrics.mode_coverage import ModeCoverage, hq_mode_counts, mode_coverage, null_coverage

__all__ = ["EnsembleClassification", "ModeCoverage", "hq_mode_counts", "mode_coverage", "null_coverage"]
