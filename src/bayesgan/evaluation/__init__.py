"""Offline image evaluation: per-dataset domain classifiers whose features and logits feed the metrics."""

from bayesgan.evaluation.classifier import (
    ClassifierCache,
    ClassifierCacheError,
    DomainClassifier,
    LabelledImages,
    domain_classifier,
    train_classifier,
)
from bayesgan.evaluation.features import DomainFeatures, FeatureView, classifier_dir, labelled_images

__all__ = [
    "ClassifierCache",
    "ClassifierCacheError",
    "DomainClassifier",
    "DomainFeatures",
    "FeatureView",
    "LabelledImages",
    "classifier_dir",
    "domain_classifier",
    "labelled_images",
    "train_classifier",
]
