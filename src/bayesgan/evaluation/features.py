"""The domain classifier as torchmetrics ``feature`` modules, and how a datamodule provides one.

Plain datasets: the classifier sees the whole image. Stacked datasets (Stacked MNIST / digits): the base
dataset's one-channel classifier sees each channel; features are concatenated over channels, logits are
the joint log-probabilities of the digit tuple (``K^C`` classes, 1,000 for three digits), and a sample's
mode is the tuple of per-channel arg-maxes (the VEEGAN / PacGAN protocol).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bayesgan.data.files import ENV_CACHE, cache_dir
from bayesgan.evaluation.classifier import DomainClassifier, LabelledImages


class DomainFeatures(nn.Module):
    """A frozen classifier applied to whole images (``per_channel=False``) or to each channel."""

    def __init__(self, classifier: DomainClassifier, per_channel: bool = False, channels: int = 1) -> None:
        super().__init__()
        self.classifier = classifier.eval().requires_grad_(False)
        self.per_channel, self.channels = per_channel, channels if per_channel else 1
        self.num_features = classifier.num_features * self.channels
        self.num_classes = classifier.num_classes**self.channels
        self._memo: tuple[Any, Tensor, Tensor, Tensor] | None = None

    def train(self, mode: bool = True) -> DomainFeatures:
        return super().train(False)  # batch norm and dropout stay in eval mode whatever the caller does

    def _split(self, x: Tensor) -> Tensor:
        if not self.per_channel:
            return x
        b, c, h, w = x.shape
        if c != self.channels:
            raise ValueError(f"expected {self.channels}-channel stacked images, got shape {tuple(x.shape)}")
        return x.reshape(b * c, 1, h, w)

    @torch.no_grad()
    def _outputs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(penultimate features, logits) of ``self._split(x)``. FID, KID, PRDC and the classifier score
        each call their ``feature`` module on the same batch: the last result is reused (same tensor)."""
        key = (id(x), x._version, tuple(x.shape))
        if self._memo is None or self._memo[0] != key or self._memo[1] is not x:
            parts = self._split(x)
            hidden = self.classifier.features(parts)
            self._memo = (key, x, hidden, self.classifier.head(hidden))
        return self._memo[2], self._memo[3]

    def features(self, x: Tensor) -> Tensor:
        return self._outputs(x)[0].reshape(x.shape[0], self.num_features)

    def logits(self, x: Tensor) -> Tensor:
        """[B, K] logits, or for stacked images [B, K^C] joint log-probabilities of the digit tuple."""
        logits = self._outputs(x)[1]
        if not self.per_channel:
            return logits
        logp = logits.log_softmax(-1).reshape(x.shape[0], self.channels, -1)
        joint = logp[:, 0]
        for c in range(1, self.channels):  # the first channel is the most significant digit
            joint = (joint[:, :, None] + logp[:, c, None, :]).reshape(x.shape[0], -1)
        return joint

    def channel_predictions(self, x: Tensor) -> Tensor:
        """[B, C] arg-max class of each channel (stacked) or [B, 1] of the whole image."""
        return self._outputs(x)[1].argmax(-1).reshape(x.shape[0], self.channels)

    def forget(self) -> None:
        self._memo = None


class FeatureView(nn.Module):
    """``DomainFeatures.features`` (or ``.logits``) as a module with ``num_features``, for torchmetrics."""

    def __init__(self, domain: DomainFeatures, output: str = "features") -> None:
        super().__init__()
        if output not in ("features", "logits"):
            raise ValueError(f"output must be 'features' or 'logits', got {output!r}")
        self.domain, self.output = domain, output
        self.num_features = domain.num_features if output == "features" else domain.num_classes

    def forward(self, x: Tensor) -> Tensor:
        return getattr(self.domain, self.output)(x.float())


def labelled_images(datamodule: Any) -> tuple[LabelledImages, bool] | None:
    """(what the classifier trains on, per_channel) for a set-up datamodule; None if it has no labelled
    image train and test split (then there is no domain classifier)."""
    custom = getattr(datamodule, "classifier_images", None)
    if callable(custom):  # stacked datasets: the base dataset's digits, classified channel by channel
        return custom(), True
    splits = getattr(datamodule, "splits", None)
    if splits is None or splits.train_y is None or splits.test_y is None or splits.train_x.ndim != 4:
        return None
    name = str(
        getattr(datamodule, "name", "") or type(datamodule).__name__.removesuffix("DataModule").lower()
    )
    num_classes = splits.num_classes or int(splits.train_y.max()) + 1
    return LabelledImages(
        name, splits.train_x, splits.train_y, splits.test_x, splits.test_y, num_classes
    ), False


def classifier_dir(datamodule: Any, explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Where the classifier is cached: ``explicit``, else next to the data (``<root>/.cache``), else
    ``$BAYESGAN_CACHE_DIR`` or ``~/.cache/bayesgan`` (read-only data roots are common)."""
    if explicit:
        return cache_dir(Path(), os.path.expanduser(str(explicit)))
    root = getattr(datamodule, "root", None) or getattr(getattr(datamodule, "base", None), "root", None)
    if root is not None:
        return cache_dir(Path(root))
    return cache_dir(Path(), os.path.expanduser(os.environ.get(ENV_CACHE, "~/.cache/bayesgan")))
