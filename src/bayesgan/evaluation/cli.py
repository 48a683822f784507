"""``bayesgan-classifier``: train (or check) a dataset's domain classifier ahead of training runs.

    bayesgan-classifier dataset=mnist [dataset.root=...] [--seed 0] [--cache-dir DIR]

The dataset is composed from the same Hydra configs as ``bayesgan-train``, so the cached classifier is the
one a training run will find. Prints the manifest (test accuracy, training time, cache files).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hydra.errors import HydraException, InstantiationException
from hydra.utils import instantiate

from bayesgan.config import describe
from bayesgan.evaluation.classifier import ClassifierCache, ClassifierCacheError, domain_classifier
from bayesgan.evaluation.features import classifier_dir, labelled_images


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bayesgan-classifier", description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. dataset=mnist dataset.root=DIR")
    parser.add_argument(
        "--seed", type=int, default=0, help="classifier seed (callbacks.quality.classifier_seed)"
    )
    parser.add_argument("--cache-dir", default=None, help="cache directory (callbacks.quality.cache_dir)")
    args = parser.parse_args(argv)
    from bayesgan.train import compose_config  # Hydra stays in the entry points

    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = compose_config(args.overrides, Path(tmp))
        datamodule = instantiate(cfg.dataset, seed=0)
        datamodule.setup("fit")
        found = labelled_images(datamodule)
        if found is None:
            raise ValueError(f"{cfg.dataset._target_}: no labelled image train/test split to train on")
        data = found[0]
        directory = classifier_dir(datamodule, args.cache_dir)
        _, manifest = domain_classifier(data, directory, args.seed)
    except (HydraException, InstantiationException, ValueError, OSError, ClassifierCacheError) as error:
        print(f"bayesgan-classifier: error: {describe(error)}", file=sys.stderr)
        return 2
    where = ClassifierCache(directory, data, args.seed).weights if directory is not None else "(not cached)"
    print(
        f"{data.name}: test accuracy {manifest['test_accuracy']:.4f}, trained in "
        f"{manifest['train_seconds']:.1f} s ({manifest.get('train_cpu_seconds', float('nan')):.1f} CPU s); "
        f"{where}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
