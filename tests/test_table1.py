"""The Table 1 view (bayesgan.table1) on results.json files written here: the paper's layout, its units
(MNIST: errors out of 10,000; otherwise % error), mean ± std over seeds, columns by row or by choices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bayesgan.table1 import main, render_table1


def write(root: Path, name: str, *, dataset: str, n_labels: int | None, accuracy: float | None, seed: int,
          row: str | None = None, sampler: str = "ml", objective: str = "non_saturating",
          diverged_at: int | None = None, iterations: int = 100) -> None:  # fmt: skip
    choices = {"dataset": dataset, "model": "dcgan", "sampler": sampler, "objective": objective}
    if row:
        choices["row"] = row
    results = {
        "experiment": "t", "choices": choices, "seed": seed, "n_labels": n_labels, "planned_iterations": 100,
        "iterations": iterations, "bank_size": 0, "diverged_at": diverged_at, "divergence": None,
        "interrupted_at": None, "metrics": {} if accuracy is None else {"test/bma_accuracy": accuracy},
    }  # fmt: skip
    (root / name).mkdir(parents=True)
    (root / name / "results.json").write_text(json.dumps(results))


def lines_of(text: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("|")
    ]


def test_mnist_block_counts_errors_out_of_the_test_set(tmp_path: Path) -> None:
    # 0.9872 and 0.9868 accuracy = 128 and 132 errors of 10,000: mean 130, sample std sqrt(8) = 2.83.
    write(tmp_path, "a", dataset="mnist", n_labels=100, accuracy=0.9872, seed=0, row="bayesgan")
    write(tmp_path, "b", dataset="mnist", n_labels=100, accuracy=0.9868, seed=1, row="bayesgan")
    # sampler=ml objective=wasserstein without row= is the W-DCGAN column.
    write(tmp_path, "c", dataset="mnist", n_labels=20, accuracy=0.8, seed=0, objective="wasserstein")
    text = render_table1([tmp_path], fmt="markdown")
    assert text.splitlines()[0] == "mnist: test errors out of 10,000, mean ± std over seeds (n = seeds)"
    header, _, row20, row100 = lines_of(text)
    assert header == ["n_s", "W-DCGAN", "BayesGAN"]  # the paper's column order
    assert row20 == ["20", "2000 (n=1)", "-"]
    assert row100 == ["100", "-", "130 ± 3 (n=2)"]


def test_other_datasets_report_percent_error_per_block_and_skip_what_is_not_a_result(tmp_path: Path) -> None:
    write(tmp_path, "a", dataset="cifar10", n_labels=1000, accuracy=0.8, seed=0, row="dcgan_10")
    write(tmp_path, "b", dataset="cifar10", n_labels=1000, accuracy=0.7, seed=1, row="dcgan_10")
    diverged = {"diverged_at": 7, "iterations": 7}
    write(tmp_path, "c", dataset="cifar10", n_labels=1000, accuracy=None, seed=2, row="dcgan_10", **diverged)
    write(
        tmp_path, "d", dataset="cifar10", n_labels=1000, accuracy=0.1, seed=3, row="dcgan_10", iterations=50
    )
    write(tmp_path, "e", dataset="ring", n_labels=None, accuracy=None, seed=0)  # unsupervised: not in Table 1
    write(tmp_path, "f", dataset="svhn", n_labels=500, accuracy=0.75, seed=0, sampler="supervised")
    text = render_table1([tmp_path])
    cifar, svhn = text.split("\n\n")
    assert cifar.splitlines()[0].startswith("cifar10: % test error")
    # 20 % and 30 %: 25.0 ± 7.1; the diverged run is tallied, the unfinished one (50 of 100) skipped.
    assert cifar.splitlines()[3].split(None, 1) == ["1000", "25.0 ± 7.1 (n=2) [1 diverged]"]
    assert svhn.splitlines()[1].split() == ["n_s", "Supervised"]
    assert svhn.splitlines()[3].split() == ["500", "25.0", "(n=1)"]  # 0.75 accuracy
    assert "ring" not in text


def test_main_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "a", dataset="digits", n_labels=50, accuracy=0.5, seed=0, row="supervised")
    main([str(tmp_path), "--format", "markdown"])
    assert "| 50 | 50.0 (n=1) |" in capsys.readouterr().out
    with pytest.raises(ValueError, match="fmt must be"):
        render_table1([tmp_path], fmt="html")


# -- the presets: every job of every Table 1 multirun composes and validates (data files not needed) ------
PAPER_SIZES = {
    "table1_mnist": "20,50,100,200",
    "table1_cifar10": "1000,2000,4000,8000",
    "table1_svhn": "500,1000,2000,4000",
    "table1_celeba": "1000,2000,4000,8000",
    "table1_digits": "20,50,100",
}
DATA_SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32), "svhn": (3, 32, 32), "celeba": (3, 50, 50)}


def sweep_of(experiment: str) -> dict[str, str]:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from bayesgan.train import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    return {str(k): str(v) for k, v in cfg.hydra.sweeper.params.items()}


def check_job(make_config, experiment: str, row: str, n_labels: str) -> None:
    from hydra.utils import instantiate

    from bayesgan import config
    from bayesgan.objectives import Objective
    from bayesgan.posterior import PosteriorSpec

    cfg = make_config(f"experiment={experiment}", f"row={row}", f"dataset.n_labels={n_labels}", tiny=False)
    config.check_values(cfg)
    assert cfg.experiment_name == experiment and cfg.dataset.n_labels == int(n_labels)
    assert isinstance(instantiate(cfg.sampler), PosteriorSpec)
    assert isinstance(instantiate(cfg.objective), Objective)
    architecture = instantiate(cfg.model)
    dataset = cfg.dataset._target_.rsplit(".", 1)[-1].lower()
    shape = next((s for name, s in DATA_SHAPES.items() if name in dataset), (1, 8, 8))
    architecture.layout(shape)  # the DCGAN fits the data's size
    assert callable(instantiate(cfg.method))


@pytest.mark.parametrize("experiment", sorted(PAPER_SIZES))
def test_a_table1_preset_sweeps_the_paper_grid_and_its_jobs_validate(make_config, experiment: str) -> None:
    sweep = sweep_of(experiment)
    assert sweep["dataset.n_labels"] == PAPER_SIZES[experiment]
    assert sweep["row"] == "supervised,dcgan,w_dcgan,dcgan_10,bayesgan,authors_recipe"
    sizes = sweep["dataset.n_labels"].split(",")
    for row, n_labels in (("dcgan_10", sizes[-1]), ("w_dcgan", sizes[0])):  # every job: the slow test below
        check_job(make_config, experiment, row, n_labels)


@pytest.mark.slow
@pytest.mark.parametrize("experiment", sorted(PAPER_SIZES))
def test_every_job_of_a_table1_preset_composes_and_validates(make_config, experiment: str) -> None:
    sweep = sweep_of(experiment)
    for row in sweep["row"].split(","):
        for n_labels in sweep["dataset.n_labels"].split(","):
            check_job(make_config, experiment, row, n_labels)


def test_the_report_view_renders_collected_runs(tmp_path: Path) -> None:
    import argparse

    from bayesgan.report import collect
    from bayesgan.table1 import view

    write(tmp_path, "a", dataset="digits", n_labels=20, accuracy=0.75, seed=0, row="bayesgan")
    text = view(collect([tmp_path]), argparse.Namespace(format="markdown"))
    assert "| 20 | 25.0 (n=1) |" in text and text.endswith("\n")
