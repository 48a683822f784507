"""bayesgan-report: collecting results.json trees, mean ± std per group, markdown/CSV, CLI exit codes."""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from bayesgan import report


def write_run(
    root: Path, name: str, *, sampler: str, seed: int, experiment: str = "ring", **metrics: float
) -> Path:
    path = root / name / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    run = {
        "experiment": experiment,
        "choices": {"dataset": experiment, "model": "mlp", "sampler": sampler, "trainer": "cpu"},
        "seed": seed,
        "iterations": 100,
        "bank_size": 0,
        "metrics": {k.replace("__", "/"): v for k, v in metrics.items()},
    }
    path.write_text(json.dumps(run))
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for seed, (modes, hq) in enumerate([(8.0, 90.0), (6.0, 80.0), (7.0, 85.0)]):
        write_run(tmp_path, f"a/sghmc_s{seed}", sampler="sghmc", seed=seed, coverage__modes=modes,
                  coverage__high_quality=hq, loss__d=0.7)  # fmt: skip
    write_run(
        tmp_path, "b/deep/ml_s0", sampler="ml", seed=0, coverage__modes=2.0, coverage__high_quality=99.0
    )
    write_run(tmp_path, "b/deep/ml_s1", sampler="ml", seed=1, coverage__modes=float("nan"))
    return tmp_path


def by_sampler(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["group"]["sampler"]: row for row in rows}


def test_collect_finds_nested_files_and_skips_bad_ones(
    tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tree / "corrupt").mkdir()
    (tree / "corrupt" / "results.json").write_text("{not json")
    (tree / "other").mkdir()
    (tree / "other" / "results.json").write_text("[1, 2]")
    runs = report.collect([tree, tree / "missing"])
    assert len(runs) == 5
    assert all(Path(run["path"]).name == "results.json" for run in runs)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3  # corrupt, not-a-results-file, missing root: one line each
    assert all(line.startswith("bayesgan-report: warning:") for line in err)
    assert len(report.collect([tree / "a" / "sghmc_s0" / "results.json"])) == 1  # a file as root


def test_summarize_means_stds_counts(tree: Path) -> None:
    rows = report.summarize(report.collect([tree]))
    assert [row["group"] for row in rows] == [  # default grouping, sorted
        {"experiment": "ring", "dataset": "ring", "sampler": "ml"},
        {"experiment": "ring", "dataset": "ring", "sampler": "sghmc"},
    ]
    sghmc, ml = by_sampler(rows)["sghmc"], by_sampler(rows)["ml"]
    assert list(sghmc["metrics"]) == ["coverage/high_quality", "coverage/modes"]  # sorted, no loss/*
    assert sghmc["n"] == 3
    modes = sghmc["metrics"]["coverage/modes"]
    assert modes["mean"] == pytest.approx(7.0) and modes["n"] == 3
    assert modes["std"] == pytest.approx(statistics.stdev([8.0, 6.0, 7.0]))
    assert (ml["n"], ml["diverged"], sghmc["diverged"]) == (2, 1, 0)
    ml_modes = ml["metrics"]["coverage/modes"]
    assert math.isnan(ml_modes["mean"]) and ml_modes["nan"] == 1  # a diverged run is not averaged away
    hq = ml["metrics"]["coverage/high_quality"]
    assert (hq["mean"], hq["n"]) == (99.0, 1) and math.isnan(hq["std"])  # only one run has it


def test_summarize_group_by_and_metric_selection(tree: Path) -> None:
    runs = report.collect([tree])
    rows = report.summarize(runs, ["seed"], ["coverage/modes", "test/absent"])
    assert [(row["group"]["seed"], row["n"]) for row in rows] == [("0", 2), ("1", 2), ("2", 1)]
    assert rows[0]["metrics"]["coverage/modes"]["mean"] == pytest.approx(5.0)
    assert rows[0]["metrics"]["test/absent"]["n"] == 0
    assert report.summarize(runs, [], None)[0]["n"] == 5  # everything in one group


def test_nan_loss_flags_a_run_whose_metrics_look_finite(tmp_path: Path) -> None:
    # A diverged GAN still gets finite coverage numbers (NaN samples capture 0 modes): only loss/* shows it.
    write_run(tmp_path, "x", sampler="sghmc", seed=0, coverage__modes=0.0, loss__d=float("nan"))
    (row,) = report.summarize(report.collect([tmp_path]), ["sampler"], ["coverage/modes"])
    assert row["diverged"] == 1 and row["metrics"]["coverage/modes"]["mean"] == 0.0
    assert "| 1 (1 diverged) |" in report.render([row])


def test_render_markdown(tree: Path) -> None:
    rows = report.summarize(report.collect([tree]), ["sampler"], ["coverage/modes", "coverage/high_quality"])
    lines = report.render(rows, "markdown").splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == [
        "sampler", "n", "coverage/modes", "coverage/high_quality",
    ]  # fmt: skip
    assert set(lines[1]) <= {"|", "-", ":"}
    assert lines[1].endswith(":|")  # numbers right-aligned
    cells = {
        line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")] for line in lines[2:]
    }
    assert cells["sghmc"][1:] == ["3", "7 ± 1", "85 ± 5"]
    assert cells["ml"][1:] == ["2 (1 diverged)", "nan (1 NaN)", "99 (1/2)"]
    assert len({len(line) for line in lines}) == 1  # aligned columns
    assert report.render([], "markdown") == ""


def test_render_csv(tree: Path) -> None:
    rows = report.summarize(report.collect([tree]), ["sampler"], ["coverage/modes"])
    table = list(csv.DictReader(io.StringIO(report.render(rows, "csv"))))
    assert list(table[0]) == ["sampler", "n", "diverged", "coverage/modes_mean", "coverage/modes_std"]
    sghmc = next(r for r in table if r["sampler"] == "sghmc")
    assert (float(sghmc["coverage/modes_mean"]), float(sghmc["coverage/modes_std"])) == (7.0, 1.0)
    ml = next(r for r in table if r["sampler"] == "ml")
    assert (ml["coverage/modes_mean"], ml["diverged"]) == ("nan", "1")
    with pytest.raises(ValueError, match="format"):
        report.render(rows, "html")


def test_cli(tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main([str(tree), "--group-by", "experiment,sampler", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("experiment,sampler,n,diverged,coverage/high_quality_mean")
    assert report.main([str(tree), "--metrics", "coverage/modes"]) == 0
    assert "coverage/high_quality" not in capsys.readouterr().out

    empty = tmp_path / "empty"
    empty.mkdir()
    assert report.main([str(empty)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error: no readable results.json" in err[0]
    assert report.main([str(tree), "--group-by", "colour"]) == 2
    assert "unknown --group-by field(s) colour" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # argparse's own usage errors exit 2 as well
        report.main([str(tree), "--format", "pdf"])
    assert exit_info.value.code == 2


def test_paired_bootstrap_hand_computed_intervals() -> None:
    # Differences [0, 2]: resampled means 0, 1, 2 with probabilities 1/4, 1/2, 1/4 -> 95 % interval [0, 2].
    assert report.paired_bootstrap([5.0, 7.0], [5.0, 5.0]) == (1.0, 0.0, 2.0)
    # Differences [0, 0, 3]: P(mean = 3) = 1/27 > 2.5 %, P(mean = 0) = 8/27 -> [0, 3].
    assert report.paired_bootstrap([1.0, 1.0, 4.0], [1.0, 1.0, 1.0]) == (1.0, 0.0, 3.0)
    # A constant difference has no spread, however large the spread of each arm.
    assert report.paired_bootstrap([10.0, 20.0, 30.0], [9.5, 19.5, 29.5]) == (0.5, 0.5, 0.5)


def test_paired_bootstrap_nan_and_bad_input() -> None:
    assert all(math.isnan(v) for v in report.paired_bootstrap([1.0, math.nan], [0.0, 0.0]))
    with pytest.raises(ValueError, match="equally long"):
        report.paired_bootstrap([1.0], [1.0, 2.0])


def test_report_prints_the_null_reference_as_its_own_row(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    for seed, hq in enumerate([7.0, 7.4]):
        for sampler in ("ml", "sghmc"):  # both runs of a seed record the same null scores: counted once
            write_run(tmp_path, f"{sampler}{seed}", sampler=sampler, seed=seed, coverage__modes=6.0,
                      coverage__high_quality=90.0, null__modes=8.0, null__high_quality=hq)  # fmt: skip
    assert report.main([str(tmp_path), "--group-by", "sampler"]) == 0
    out = capsys.readouterr().out
    null_line = next(line for line in out.splitlines() if line.startswith(f"| {report.NULL_ROW}"))
    assert [c.strip() for c in null_line.strip("|").split("|")] == [
        report.NULL_ROW,
        "2",
        "7.2 ± 0.2828",
        "8 ± 0",
    ]
    assert "null/" not in out


def test_markdown_marks_which_way_is_better(tmp_path: Path) -> None:
    write_run(tmp_path, "s0", sampler="ml", seed=0, quality__fid=3.0, modes__covered=10.0,
              quality__per_generator_fid_mean=4.0, coverage__modes=8.0)  # fmt: skip
    header = report.render(report.summarize(report.collect([tmp_path]))).splitlines()[0]
    assert "quality/fid ↓" in header and "modes/covered ↑" in header
    assert "quality/per_generator_fid_mean ↓" in header
    assert "coverage/modes |" in header  # no direction claimed where none is declared
