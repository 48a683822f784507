"""The command line a researcher meets: experiment names, --help, the sampler choices, the debug group and
the repository tooling (pre-commit, coverage in CI)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import torch
import yaml
from hydra.errors import ConfigCompositionException, MissingConfigException
from hydra.utils import instantiate

from bayesgan.naming import dataset_tag, run_name
from bayesgan.train import run

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "src" / "bayesgan" / "conf"


@pytest.mark.parametrize(
    ("dataset", "n_labels", "tag"),
    [("digits", 50, "digits_semi"), ("mnist", 100, "mnist_semi"), ("arrays", None, "arrays_unsup"),
     ("ring", None, "ring"), ("grid", None, "grid"), ("cifar10", None, "cifar10_unsup")],
)  # fmt: skip
def test_dataset_tag(dataset: str, n_labels: int | None, tag: str) -> None:
    assert dataset_tag(dataset, n_labels) == tag


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        (["dataset=mnist"], "mnist_unsup"),
        (["dataset=mnist", "dataset.n_labels=100"], "mnist_semi"),
        (["dataset=arrays"], "arrays_unsup"),
        (["dataset=ring"], "ring"),
        (["dataset=digits", "dataset.n_labels=null"], "digits_unsup"),
        ([], "digits_semi"),
        (["experiment=ring"], "ring"),
        (["experiment=compare_samplers", "dataset=ring"], "compare_samplers"),  # a preset's name wins
        (["dataset=ring", "experiment_name=mine"], "mine"),
    ],
)
def test_experiment_name_follows_the_dataset_unless_set(make_config, overrides: list[str], name: str) -> None:
    assert make_config(*overrides, tiny=False).experiment_name == name


def test_run_name_states_sampler_overrides_and_seed() -> None:
    overrides = ["sampler=sgld", "seed=3", "posterior.J_g=10", "sampler.optimizer.lr_per_datum=1e-3",
                 "logger.mode=online", "hydra.sweep.dir=x", "+trainer.max_time=1h"]  # fmt: skip
    assert run_name("sgld", 3, overrides) == "sgld J_g=10 lr_per_datum=1e-3 max_time=1h s3"
    assert run_name("ml", 0, []) == "ml s0"
    assert run_name("ml", 0, ["iterations=4", "model=mlp", "iterations=9"]) == "ml iterations=9 model=mlp s0"


def test_help_describes_every_group_and_option() -> None:
    done = subprocess.run([sys.executable, "-m", "bayesgan.train", "--help"], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = done.stdout
    groups = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name != "hydra")
    for group in [*groups, "hydra/launcher"]:
        line = next((ln for ln in text.splitlines() if ln.startswith(group + " ")), None)
        assert line and len(line.split()) > 2, f"--help has no description of {group}"
    for group in groups:  # every option of every group is named
        for option in (CONF / group).glob("*.yaml"):
            assert option.stem in text, (group, option.stem)
    assert "base_sampler" not in text
    assert text.count("bayesgan-train ") >= 3 and "== Examples ==" in text and "iterations=" in text
    assert all(f"bayesgan-{command} " in text for command in ("sample", "evaluate", "report"))  # what follows


def test_base_sampler_is_not_selectable_but_still_types_the_sampler_section(make_config) -> None:
    with pytest.raises(MissingConfigException, match="Could not find 'sampler/base_sampler'"):
        make_config("sampler=base_sampler")
    with pytest.raises(ConfigCompositionException, match="optimizer_lr"):  # an unknown key, as before
        make_config("sampler.optimizer_lr=1")
    with pytest.raises(ConfigCompositionException, match="J_g"):  # a wrong type, as before
        make_config("sampler.J_g=many")


def test_debug_fast_runs_every_code_path(make_config, tmp_path: Path) -> None:
    cfg = make_config(
        "debug=fast",
        "dataset=ring",
        "dataset.num_samples=256",
        "model=mlp",
        "model.hidden=16",
        "callbacks=default",
        "logger=csv",
        "callbacks.coverage.num_samples=400",
        tiny=False,
    )
    cfg.trainer.enable_progress_bar = False
    results = run(cfg, tmp_path)
    assert results["iterations"] == 6 and results["bank_size"] == 2  # burn-in 2, thin 2: snapshots at 4, 6
    assert {p.name for p in (tmp_path / "checkpoints").glob("*.ckpt")} == {
        "step_0000006.ckpt", "step_0000012.ckpt", "last.ckpt"}  # fmt: skip
    assert list(tmp_path.rglob("samples/iter_*.png"))  # under the csv logger's version directory
    assert {"coverage/modes", "loss/d"} <= set(json.loads((tmp_path / "results.json").read_text())["metrics"])
    assert (tmp_path / "csv").exists()


def test_debug_profiler_writes_a_report_into_the_run_directory(make_config, tmp_path: Path) -> None:
    cfg = make_config("debug=profiler", "iterations=5", "checkpoint_every=5")
    run(cfg, tmp_path)
    report = (tmp_path / "fit-profile.txt").read_text()
    assert "training_step" in report and "Mean duration" in report


def test_debug_overfit_cycles_through_a_few_fixed_batches(make_config) -> None:
    cfg = make_config("debug=overfit", "dataset=digits", tiny=False)
    assert cfg.dataset.overfit_batches == 4
    data = instantiate(cfg.dataset, seed=0)
    data.setup("fit")
    batches = [data.train_batch(t) for t in range(9)]
    for t in range(4, 9):
        for key in ("x", "x_lab", "y_lab"):
            assert torch.equal(batches[t][key], batches[t - 4][key])
    assert not torch.equal(batches[0]["x"], batches[1]["x"])


def test_pre_commit_pins_the_projects_ruff_and_ci_reports_coverage() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    (ruff_repo,) = [r for r in hooks["repos"] if r["repo"].endswith("astral-sh/ruff-pre-commit")]
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    (pin,) = [re.fullmatch(r"ruff==(.+)", d).group(1) for d in dev if d.startswith("ruff")]
    assert ruff_repo["rev"] == f"v{pin}"
    assert {h["id"] for h in ruff_repo["hooks"]} == {"ruff-check", "ruff-format"}
    assert any(d.startswith("pytest-cov") for d in dev)
    workflow = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert "--cov=bayesgan" in workflow and "coverage.xml" in workflow


def test_sweep_directory_is_filed_under_the_dataset_derived_experiment_name(tmp_path: Path) -> None:
    # Hydra resolves hydra.sweep.dir (which contains experiment_name) before any job exists.
    tiny = ["dataset.num_samples=256", "model=mlp", "model.hidden=16", "iterations=2", "logger=none"]
    command = [
        sys.executable,
        "-m",
        "bayesgan.train",
        "-m",
        "dataset=ring",
        *tiny,
        "callbacks=none",
        "seed=0,1",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    results = sorted(tmp_path.glob("outputs/ring/multiruns/*/*/results.json"))
    assert [p.parent.name for p in results] == ["0_sghmc_s0", "1_sghmc_s1"]
    assert {json.loads(p.read_text())["experiment"] for p in results} == {"ring"}
