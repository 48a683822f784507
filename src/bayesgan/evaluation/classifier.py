"""Domain classifiers: the offline feature space for FID / KID / PRDC / classifier score and mode counting.

Inception weights cannot be downloaded here (and 28x28 digits upsampled to 299 px are a poor fit anyway),
so every labelled image dataset gets its own small CNN, trained on its training split and frozen. Its
penultimate layer (``num_features`` wide) is the feature space; its logits give the classifier score and,
per channel, the Stacked-MNIST modes. Inputs are the project's images in [-1, 1], exactly as the datamodules
and the generators' tanh produce them, so no rescaling happens anywhere.

Training is deterministic for a given seed (private RNG streams, global RNG restored afterwards). The
weights are cached as ``classifier-<name>-<key>.pt`` plus a JSON manifest (dataset checksum, seed,
architecture, test accuracy, package versions, weight checksum). A stale cache (other data or settings)
or a corrupt one (unreadable manifest, weight checksum mismatch) is rebuilt; weights are only ever read
with ``torch.load(weights_only=True)``, and a file that this refuses raises a one-line error.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor, nn

ARCHITECTURE_VERSION = 1  # bump when DomainClassifier changes: old caches become stale and are rebuilt


class ClassifierCacheError(RuntimeError):
    """A cached classifier file that must not be loaded; the message is one line naming the file."""


@dataclass
class LabelledImages:
    """What a domain classifier is trained on: images [N, C, H, W] in [-1, 1] and int64 labels."""

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int

    def checksum(self) -> str:
        """SHA-256 of every tensor's bytes: a cache built from other data is recognised as stale."""
        h = hashlib.sha256()
        for t in (self.train_x, self.train_y, self.test_x, self.test_y):
            t = t.detach().cpu().contiguous()
            h.update(str((tuple(t.shape), str(t.dtype))).encode())
            h.update(t.numpy().tobytes())
        return h.hexdigest()


class DomainClassifier(nn.Module):
    """conv3x3(32)-BN-ReLU-pool, conv3x3(64)-BN-ReLU-pool, linear(``num_features``)-ReLU, linear(K).

    Pooling halves the map only while it is at least 4 wide, so 8x8 digits and 64x64 faces share it.
    ``features`` is the penultimate activation; ``forward`` gives logits. Always used in eval mode.
    """

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, num_features: int = 128) -> None:
        super().__init__()
        channels, height, width = in_shape
        layers: list[nn.Module] = []
        for c_in, c_out in ((channels, 32), (32, 64)):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
            if min(height, width) >= 4:
                layers.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
        self.body = nn.Sequential(
            *layers, nn.Flatten(), nn.Linear(64 * height * width, num_features), nn.ReLU()
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(num_features, num_classes)
        self.in_shape, self.num_classes, self.num_features = tuple(in_shape), num_classes, num_features

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.body(x)))


@torch.no_grad()
def accuracy(model: DomainClassifier, x: Tensor, y: Tensor, batch_size: int = 1000) -> float:
    model.eval()
    correct = sum(
        int((model(xb).argmax(-1) == yb).sum())
        for xb, yb in zip(x.split(batch_size), y.split(batch_size), strict=True)
    )
    return correct / max(1, len(y))


def train_classifier(
    data: LabelledImages, seed: int = 0, *, min_steps: int = 400, epochs: int = 3, batch_size: int = 128
) -> tuple[DomainClassifier, dict[str, float]]:
    """Adam with a one-cycle schedule for ``max(min_steps, epochs x N / batch)`` steps, deterministic in
    ``seed``; returns the eval-mode model and ``{test_accuracy, train_seconds, train_cpu_seconds}``."""
    start, cpu_start = time.perf_counter(), time.process_time()
    n = data.train_x.shape[0]
    steps = max(min_steps, math.ceil(epochs * n / batch_size))
    with torch.random.fork_rng(devices=[]):  # init and dropout draw from the global RNG: seed it, restore it
        torch.manual_seed(seed)
        model = DomainClassifier(tuple(data.train_x.shape[1:]), data.num_classes)
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps)
        order_rng = torch.Generator().manual_seed(seed)
        order, cursor = torch.randperm(n, generator=order_rng), 0
        for _ in range(steps):
            if cursor + batch_size > n:
                order, cursor = torch.randperm(n, generator=order_rng), 0
            idx = order[cursor : cursor + batch_size]
            cursor += batch_size
            loss = F.cross_entropy(model(data.train_x[idx]), data.train_y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    stats = {"test_accuracy": accuracy(model, data.test_x, data.test_y)}
    # CPU seconds too: on a shared machine the wall time says more about the neighbours than about us.
    return model, stats | {
        "train_seconds": time.perf_counter() - start,
        "train_cpu_seconds": time.process_time() - cpu_start,
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    import torchmetrics

    import bayesgan

    return {
        "torch": torch.__version__,
        "torchmetrics": torchmetrics.__version__,
        "bayesgan": bayesgan.__version__,
        "python": platform.python_version(),
    }


def _atomic_write(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


class ClassifierCache:
    """``classifier-<name>-<key>.pt`` + ``.json`` in ``directory``; ``key`` hashes data, seed and model."""

    def __init__(self, directory: Path, data: LabelledImages, seed: int = 0) -> None:
        self.data, self.seed = data, int(seed)
        self.expected = {
            "format": 1,
            "dataset": data.name,
            "data_sha256": data.checksum(),
            "seed": self.seed,
            "architecture": {
                "name": "DomainClassifier",
                "version": ARCHITECTURE_VERSION,
                "in_shape": list(data.train_x.shape[1:]),
                "num_classes": data.num_classes,
            },
        }
        key = hashlib.sha256(json.dumps(self.expected, sort_keys=True).encode()).hexdigest()[:12]
        stem = f"classifier-{data.name}-{key}"
        self.weights, self.manifest = Path(directory) / f"{stem}.pt", Path(directory) / f"{stem}.json"

    def _problem(self) -> str | None:
        """Why the cache cannot be used (None: it can); never unpickles anything."""
        if not self.manifest.is_file() or not self.weights.is_file():
            return "no cached classifier"
        try:
            manifest = json.loads(self.manifest.read_text())
            stored = {k: manifest[k] for k in self.expected}
            digest = manifest["weights_sha256"]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
            return f"unreadable manifest {self.manifest} ({type(error).__name__})"
        if stored != self.expected:
            return f"stale manifest {self.manifest} (built from other data or settings)"
        if _sha256(self.weights) != digest:
            return f"{self.weights} does not match the checksum in its manifest (corrupt or replaced)"
        return None

    def load(self) -> tuple[DomainClassifier, dict[str, Any]] | None:
        """The cached classifier and its manifest, or None if it must be (re)built."""
        problem = self._problem()
        if problem is not None:
            if problem != "no cached classifier":
                rank_zero_warn(f"domain classifier cache: {problem}; rebuilding it")
            return None
        try:
            state = torch.load(self.weights, map_location="cpu", weights_only=True)
        except Exception as error:  # UnpicklingError for a pickle that is not plain tensors, or worse
            reason = " ".join(str(error).split())[:160]
            raise ClassifierCacheError(
                f"{self.weights}: refusing to load a classifier cache that weights_only=True rejects "
                f"({type(error).__name__}: {reason}); delete it and its manifest to rebuild"
            ) from None
        model = DomainClassifier(tuple(self.data.train_x.shape[1:]), self.data.num_classes)
        try:
            model.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as error:
            rank_zero_warn(f"domain classifier cache: {self.weights} has wrong weights ({error}); rebuilding")
            return None
        return model.eval(), json.loads(self.manifest.read_text())

    def save(self, model: DomainClassifier, stats: dict[str, float]) -> dict[str, Any]:
        self.weights.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.weights, lambda f: torch.save(model.state_dict(), f))
        manifest = self.expected | stats | {"weights_sha256": _sha256(self.weights), "versions": _versions()}
        # Written last: a run killed in between leaves weights without a manifest, which is rebuilt.
        _atomic_write(self.manifest, lambda f: f.write(json.dumps(manifest, indent=2).encode()))
        return manifest


def domain_classifier(
    data: LabelledImages, directory: Path | None, seed: int = 0, **train_kwargs: Any
) -> tuple[DomainClassifier, dict[str, Any]]:
    """The cached classifier for ``data`` (trained and cached on first use); ``directory=None``: no cache."""
    cache = ClassifierCache(directory, data, seed) if directory is not None else None
    loaded = cache.load() if cache is not None else None
    if loaded is not None:
        return loaded
    rank_zero_info(f"Training the {data.name} domain classifier (seed {seed}); it is cached for later runs.")
    model, stats = train_classifier(data, seed, **train_kwargs)
    manifest = cache.save(model, stats) if cache is not None else dict(stats)
    rank_zero_info(
        f"{data.name} domain classifier: test accuracy {stats['test_accuracy']:.4f} in "
        f"{stats['train_seconds']:.1f} s" + (f" ({cache.weights})" if cache is not None else "")
    )
    return model, manifest
