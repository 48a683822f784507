"""The domain classifier's cache: reuse, stale/corrupt files rebuilt, a malicious pickle never executed."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch

from bayesgan.data import DigitsDataModule
from bayesgan.evaluation import classifier as clf
from bayesgan.evaluation import labelled_images

FAST = {"min_steps": 20, "epochs": 0}  # these tests check the cache, not the accuracy


@pytest.fixture(scope="module")
def data() -> clf.LabelledImages:
    dm = DigitsDataModule()
    dm.setup()
    return labelled_images(dm)[0]


@pytest.fixture
def trains(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts calls of train_classifier (so a test can tell a cache hit from a rebuild)."""
    calls: list[int] = []
    real = clf.train_classifier

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(clf, "train_classifier", counting)
    return calls


def state(model: torch.nn.Module) -> list[torch.Tensor]:
    return [t.clone() for t in model.state_dict().values()]


def test_training_is_deterministic_in_the_seed(data) -> None:
    a, _ = clf.train_classifier(data, seed=3, **FAST)
    b, _ = clf.train_classifier(data, seed=3, **FAST)
    c, _ = clf.train_classifier(data, seed=4, **FAST)
    assert all(torch.equal(x, y) for x, y in zip(state(a), state(b), strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(state(a), state(c), strict=True))


def test_cache_is_reused_and_manifest_complete(tmp_path: Path, data, trains) -> None:
    first, manifest = clf.domain_classifier(data, tmp_path, seed=0, **FAST)
    second, again = clf.domain_classifier(data, tmp_path, seed=0, **FAST)
    assert len(trains) == 1  # the second call loaded the cache
    assert all(torch.equal(x, y) for x, y in zip(state(first), state(second), strict=True))
    assert again == manifest
    for key in ("data_sha256", "test_accuracy", "versions", "weights_sha256", "seed", "architecture"):
        assert key in manifest
    assert manifest["versions"]["torch"] == torch.__version__


def test_other_data_is_a_stale_cache(tmp_path: Path, data, trains) -> None:
    clf.domain_classifier(data, tmp_path, seed=0, **FAST)
    shifted = clf.LabelledImages(
        data.name, data.train_x[1:], data.train_y[1:], data.test_x, data.test_y, data.num_classes
    )
    clf.domain_classifier(shifted, tmp_path, seed=0, **FAST)
    clf.domain_classifier(data, tmp_path, seed=1, **FAST)  # another seed: another classifier
    assert len(trains) == 3


@pytest.mark.parametrize("damage", ["manifest_garbage", "manifest_edited", "weights_truncated"])
def test_corrupt_cache_is_rebuilt(tmp_path: Path, data, trains, damage: str) -> None:
    clf.domain_classifier(data, tmp_path, seed=0, **FAST)
    cache = clf.ClassifierCache(tmp_path, data, 0)
    if damage == "manifest_garbage":
        cache.manifest.write_text("{not json")
    elif damage == "manifest_edited":
        manifest = json.loads(cache.manifest.read_text())
        manifest["data_sha256"] = "0" * 64
        cache.manifest.write_text(json.dumps(manifest))
    else:
        cache.weights.write_bytes(cache.weights.read_bytes()[:100])
    with pytest.warns(UserWarning, match="rebuilding"):
        clf.domain_classifier(data, tmp_path, seed=0, **FAST)
    assert len(trains) == 2
    assert clf.ClassifierCache(tmp_path, data, 0).load() is not None  # the rebuilt cache is valid again


class _Payload:
    """Unpickling this would create ``marker`` (the canonical code-execution-on-load attack)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (str(self.marker),))


def _plant(cache: clf.ClassifierCache, marker: Path, fix_checksum: bool) -> None:
    with open(cache.weights, "wb") as f:
        pickle.dump({"body.0.weight": _Payload(marker)}, f)
    if fix_checksum:  # an attacker who also rewrote the manifest
        manifest = json.loads(cache.manifest.read_text())
        manifest["weights_sha256"] = clf._sha256(cache.weights)
        cache.manifest.write_text(json.dumps(manifest))


def test_malicious_pickle_with_matching_manifest_is_refused_in_one_line(tmp_path: Path, data) -> None:
    clf.domain_classifier(data, tmp_path, seed=0, **FAST)
    cache, marker = clf.ClassifierCache(tmp_path, data, 0), tmp_path / "pwned"
    _plant(cache, marker, fix_checksum=True)
    with pytest.raises(clf.ClassifierCacheError) as error:
        clf.domain_classifier(data, tmp_path, seed=0, **FAST)
    assert not marker.exists()
    message = str(error.value)
    assert "\n" not in message and str(cache.weights) in message and "delete" in message


def test_malicious_pickle_without_matching_manifest_is_never_unpickled(tmp_path: Path, data) -> None:
    clf.domain_classifier(data, tmp_path, seed=0, **FAST)
    cache, marker = clf.ClassifierCache(tmp_path, data, 0), tmp_path / "pwned"
    _plant(cache, marker, fix_checksum=False)
    with pytest.warns(UserWarning, match="checksum"):
        clf.domain_classifier(data, tmp_path, seed=0, **FAST)
    assert not marker.exists()
    assert clf.ClassifierCache(tmp_path, data, 0).load() is not None


def test_cli_pretrains_into_the_cache_a_run_uses(digits_classifier, cache_root: Path, capsys) -> None:
    from bayesgan.evaluation.cli import main

    assert main(["dataset=digits"]) == 0  # the session's digits classifier: found in the cache
    out = capsys.readouterr().out
    assert out.startswith("digits: test accuracy") and str(cache_root) in out
    assert main(["dataset=ring"]) == 2  # no labelled images: one line, no traceback
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no labelled image" in err
