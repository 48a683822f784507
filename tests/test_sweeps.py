"""The end of a multirun (one table of its jobs), local parallel sweeps and the Optuna search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate

from bayesgan.data import DigitsDataModule
from bayesgan.sweeps import job_dirs, summary_table
from bayesgan.train import compose_config
from conftest import TINY_DATA, TINY_MODEL

TESTS = Path(__file__).resolve().parent


def _job(sweep: Path, name: str, overrides: list[str], results: dict | None) -> Path:
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if results is not None:
        (job / "results.json").write_text(json.dumps(results))
    return job


def test_summary_table_lists_differing_overrides_and_headline_metrics(tmp_path: Path) -> None:
    ok = {
        "diverged_at": None,
        "metrics": {"coverage/modes": 8.0, "coverage/high_quality": 91.25, "loss/d": 1.0},
    }
    _job(tmp_path, "10_ml_s1", ["dataset=ring", "sampler=ml", "seed=1"], ok)
    _job(tmp_path, "0_sghmc_s0", ["dataset=ring", "sampler=sghmc", "seed=0"], ok)
    _job(
        tmp_path, "2_sgld_s0", ["dataset=ring", "sampler=sgld", "seed=0"], {"diverged_at": 17, "metrics": {}}
    )
    _job(tmp_path, "3_sgld_s1", ["dataset=ring", "sampler=sgld", "seed=1"], None)  # crashed: no results
    (tmp_path / "multirun.yaml").write_text("x: 1")  # not a job
    jobs = job_dirs(tmp_path)
    assert [j.name for j in jobs] == ["0_sghmc_s0", "2_sgld_s0", "3_sgld_s1", "10_ml_s1"]  # numeric order
    lines = summary_table(jobs).splitlines()
    assert lines[0].split() == ["job", "sampler", "seed", "coverage/modes", "coverage/high_quality"]
    assert set(lines[1]) == {"-", " "}
    assert lines[2].split() == ["0", "sghmc", "0", "8", "91.25"]
    assert lines[3].split() == ["2", "sgld", "0", "diverged", "at", "17"]
    assert lines[4].split() == ["3", "sgld", "1", "no", "results.json"]
    assert lines[5].split() == ["10", "ml", "1", "8", "91.25"]
    assert "dataset" not in lines[0] and "loss/d" not in lines[0]  # the same for all jobs / not headline


def _sweep(tmp_path: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = os.environ | {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(tmp_path)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "bayesgan.train", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done


@pytest.mark.slow
def test_joblib_sweep_runs_four_jobs_in_parallel_processes_with_one_thread_each(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep = tmp_path / "sweep"
    done = _sweep(
        tmp_path, "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "sampler=sghmc,ml", "seed=0,1",
        *TINY_DATA, *TINY_MODEL, "debug=fast", "logger=none", "callbacks.coverage.num_samples=200",
        "+callbacks.probe._target_=probes.ThreadProbe", f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    jobs = job_dirs(sweep)
    assert len(jobs) == 4 and all((j / "results.json").exists() for j in jobs)
    probes = [json.loads((j / "probe.json").read_text()) for j in jobs]
    assert {p["threads"] for p in probes} == {1}  # loky limits each of the 2 workers to cpu_count // 2 = 1
    assert os.cpu_count() != 2 or len({p["pid"] for p in probes}) == 2  # worker processes, not this one
    assert f"Multirun finished: 4 jobs in {sweep}" in done.stdout
    assert f"bayesgan-report {sweep}" in done.stdout


@pytest.mark.slow
def test_optuna_search_over_sghmc_step_size_and_friction(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep, storage = tmp_path / "search", tmp_path / "study.db"
    _sweep(
        tmp_path, "hparams_search=sghmc_digits", "hydra.sweeper.n_trials=3", "debug=fast", "logger=none",
        "trainer.enable_progress_bar=false", f"hydra.sweeper.storage=sqlite:///{storage}",
        f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    jobs = job_dirs(sweep)
    assert len(jobs) == 3 and storage.exists()  # a persistent study (SQLAlchemy < 2 with Optuna 2.10)
    trials = []
    for job in jobs:
        overrides = dict(
            o.split("=", 1) for o in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        )
        lr, friction = (
            float(overrides["sampler.optimizer.lr_per_datum"]),
            float(overrides["sampler.optimizer.friction"]),
        )
        assert 3e-4 <= lr <= 3e-2 and 0.01 <= friction <= 0.5  # the declared search space
        accuracy = json.loads((job / "results.json").read_text())["metrics"]["test/bma_accuracy"]
        trials.append((accuracy, lr, friction))
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    accuracy, lr, friction = max(trials)
    assert best["best_value"] == pytest.approx(accuracy)  # the sweeper maximised what the jobs returned
    assert best["best_params"]["sampler.optimizer.lr_per_datum"] == pytest.approx(lr)
    assert best["best_params"]["sampler.optimizer.friction"] == pytest.approx(friction)


def _rows(images) -> set[tuple[float, ...]]:
    return {tuple(image.flatten().tolist()) for image in images}


def test_optuna_search_selects_on_validation_accuracy_and_never_sees_the_test_split(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    cfg = compose_config(["hparams_search=sghmc_digits"], tmp_path)
    assert HydraConfig.get().sweeper.direction == "maximize"  # of test/bma_accuracy, bayesgan-train's value
    search = instantiate(cfg.dataset, seed=cfg.seed)
    search.setup("fit")
    # The digits split every other run evaluates on (same split_seed): its test images are the test split.
    reference = DigitsDataModule(split_seed=search.split_seed)
    reference.setup("fit")
    test_split, train_split = _rows(reference.splits.test_x), _rows(reference.splits.train_x)
    evaluated = _rows(torch.cat([batch["x"] for batch in search.test_dataloader()]))
    # test/bma_accuracy is computed on what test_dataloader yields: validation images from the training side.
    assert len(evaluated) == reference.splits.test_x.shape[0] and evaluated <= train_split
    assert not evaluated & test_split
    assert not _rows(search.splits.train_x) & test_split  # nor does training touch the test split
