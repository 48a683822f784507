"""Cost of the image evaluation: domain-classifier training, metrics on 10,000 MNIST samples, and the
quality callback's share of the default experiment. Prints wall AND CPU seconds with the load average:
on a shared machine the wall time measures the neighbours as much as this code.

    python bench/bench_metrics.py                       # everything that the data on this machine allows
    python bench/bench_metrics.py --only classifier metrics
    BAYESGAN_DATA_ROOT=../shared/data python bench/bench_metrics.py

Targets (issue #7): MNIST classifier >= 99 % in <= 3 min on 2 cores, digits >= 97 % in seconds; metrics of
10,000 MNIST samples <= 60 s; the quality callback's end-of-run evaluation <= 20 % of the default run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bayesgan.data import DigitsDataModule
from bayesgan.data.files import DatasetError
from bayesgan.data.idx import MnistDataModule
from bayesgan.evaluation import DomainFeatures, labelled_images, train_classifier
from bayesgan.metrics.quality import ImageQuality


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def load() -> str:
    return "load avg " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def mnist() -> MnistDataModule | None:
    root = Path(os.environ.get("BAYESGAN_DATA_ROOT", "../shared/data")) / "mnist"
    try:
        dm = MnistDataModule(root=root)
        dm.setup()
    except DatasetError as error:
        print(f"MNIST skipped: {error}")
        return None
    return dm


def bench_classifier() -> dict[str, Any]:
    print(f"\n## Domain classifier training (threads {torch.get_num_threads()}; {load()})")
    print("| dataset | test accuracy | target | wall s | CPU s | steps |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    trained = {}
    for name, dm, target in (("digits", DigitsDataModule(), 0.97), ("mnist", mnist(), 0.99)):
        if dm is None:
            continue
        dm.setup()
        data = labelled_images(dm)[0]
        steps = max(400, -(-3 * data.train_x.shape[0] // 128))
        (trained[name], stats), _, _ = timed(lambda data=data: train_classifier(data, seed=0))
        print(
            f"| {name} | {stats['test_accuracy']:.4f} | {target} | {stats['train_seconds']:.1f} | "
            f"{stats['train_cpu_seconds']:.1f} | {steps} |"
        )
    print(f"({load()})")
    return trained


def bench_metrics(classifier: Any = None, n: int = 10_000) -> None:
    dm = mnist()
    if dm is None:
        return
    print(f"\n## Metrics of {n:,} MNIST samples vs {n:,} real ({load()})")
    if classifier is None:
        classifier, _ = train_classifier(labelled_images(dm)[0], seed=0)
    real = dm.splits.train_x[:n]
    g = torch.Generator().manual_seed(0)
    fake = (dm.splits.test_x[:n] + 0.1 * torch.randn(dm.splits.test_x[:n].shape, generator=g)).clamp(-1, 1)
    quality = ImageQuality(DomainFeatures(classifier), prdc_samples=n, kid_subsets=100, kid_subset_size=1000)
    rows = []
    for label, fn in (
        ("real features (once per run)", lambda: [quality.update_real(b) for b in real.split(1000)]),
        ("fake features", lambda: [quality.update_fake(b) for b in fake.split(1000)]),
        ("FID", quality.fid.compute),
        ("KID (100 subsets x 1000)", lambda: quality.kid.compute()),
        (f"PRDC (k=5, {n:,} x {n:,})", quality.prdc.compute),
        ("classifier score", lambda: quality.score.compute()),
    ):
        _, wall, cpu = timed(fn)
        rows.append((label, wall, cpu))
    print("| step | wall s | CPU s |\n| --- | ---: | ---: |")
    for label, wall, cpu in rows:
        print(f"| {label} | {wall:.2f} | {cpu:.2f} |")
    print(f"| **total** (target <= 60 s) | {sum(r[1] for r in rows):.2f} | {sum(r[2] for r in rows):.2f} |")
    print(f"({load()})")


def bench_overhead(overrides: list[str]) -> None:
    from bayesgan.train import compose_config, run

    print(
        f"\n## Quality callback in the default experiment ({' '.join(overrides) or 'no overrides'}; {load()})"
    )
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("BAYESGAN_CACHE_DIR", str(Path(tmp) / "cache"))
        cfg = compose_config(
            ["logger=none", "trainer.enable_progress_bar=false", *overrides], Path(tmp) / "run"
        )
        holder: dict[str, Any] = {}
        import bayesgan.train as train_module

        build = train_module.build

        def keep(cfg, output_dir):  # remember the trainer to read the callback's timings afterwards
            holder["built"] = build(cfg, output_dir)
            return holder["built"]

        train_module.build = keep
        try:
            _, wall, cpu = timed(lambda: run(cfg, output_dir=Path(tmp) / "run"))
        finally:
            train_module.build = build
    trainer = holder["built"][0]
    quality = next(c for c in trainer.callbacks if type(c).__name__ == "ImageQualityCallback")
    evals = quality.timings
    setup = quality.seconds - sum(t["seconds"] for t in evals)
    print("| part | wall s | CPU s | share of the run (wall / CPU) |\n| --- | ---: | ---: | ---: |")
    print(f"| whole run | {wall:.1f} | {cpu:.1f} | |")
    print(f"| classifier load or first-use training | {setup:.1f} | | {setup / wall:.1%} |")
    for t in evals:
        print(
            f"| evaluation at iteration {t['iteration']} | {t['seconds']:.1f} | {t['cpu_seconds']:.1f} | "
            f"{t['seconds'] / wall:.1%} / {t['cpu_seconds'] / cpu:.1%} |"
        )
    rest_wall = wall - quality.seconds
    rest_cpu = cpu - sum(t["cpu_seconds"] for t in evals)
    end = evals[-1]
    print(
        f"\nEnd-of-run evaluation adds {end['seconds'] / rest_wall:.1%} (wall) / "
        f"{end['cpu_seconds'] / rest_cpu:.1%} (CPU) to the run without the callback (target <= 20 %); "
        f"all {len(evals)} evaluations add {sum(t['seconds'] for t in evals) / rest_wall:.1%} (wall)."
    )
    print(f"({load()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=("classifier", "metrics", "overhead"))
    parser.add_argument("--overrides", nargs="*", default=[], help="bayesgan-train overrides for 'overhead'")
    args = parser.parse_args()
    chosen = set(args.only or ("classifier", "metrics", "overhead"))
    trained = bench_classifier() if "classifier" in chosen else {}
    if "metrics" in chosen:
        bench_metrics(trained.get("mnist"))
    if "overhead" in chosen:
        bench_overhead(args.overrides)


if __name__ == "__main__":
    main()
