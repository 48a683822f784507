"""bayesgan-report never pools runs whose configs differ in more than the seed; --group-by any config key;
--baseline differences with paired/unpaired bootstrap intervals; figures; a self-contained HTML page."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

from bayesgan import report
from bayesgan.report import figures

SGHMC = {"_target_": "bayesgan.posterior.PosteriorSettings", "optimizer": {"lr_per_datum": 0.003}}
ML = {"_target_": "bayesgan.posterior.MLSettings", "optimizer": {"lr": 0.0002}}


def write_run(
    root: Path,
    name: str,
    *,
    sampler: str = "sghmc",
    seed: int = 0,
    iterations: int = 100,
    J_g: int = 4,
    method: str = "bayesgan",
    metrics: dict[str, float] | None = None,
    history: list[dict[str, Any]] | None = None,
    samples: bool = False,
) -> Path:
    """A run directory as bayesgan-train leaves it: results.json, .hydra/{config,hydra}.yaml, history."""
    run_dir = root / name
    (run_dir / ".hydra").mkdir(parents=True)
    config = {
        "experiment_name": "${dataset_tag:${oc.select:dataset.n_labels,null}}",
        "seed": seed,
        "iterations": iterations,
        "posterior": {"J_g": J_g, "M": 2},
        "sampler": SGHMC if sampler != "ml" else ML,
        "method": {"_target_": f"bayesgan.methods.{method}"},
        # Differ from run to run, yet never make two runs different experiments:
        "logger": {"name": f"{sampler} s{seed}", "save_dir": str(run_dir)},
        "dataset": {"root": str(root / f"data{seed}"), "num_samples": 256},
        "callbacks": {"coverage": {"every_n_iterations": 10 * (seed + 1)}},
    }
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    choices = {"dataset": "ring", "model": "mlp", "sampler": sampler, "method": method, "trainer": "cpu",
               "logger": "wandb", "hydra/launcher": "basic", "experiment": None}  # fmt: skip
    (run_dir / ".hydra" / "hydra.yaml").write_text(
        yaml.safe_dump({"hydra": {"runtime": {"choices": choices}}})
    )
    results = {
        "experiment": "ring",
        "choices": {k: choices[k] for k in ("dataset", "model", "sampler", "trainer")},
        "seed": seed,
        "planned_iterations": iterations,
        "iterations": iterations,
        "metrics": metrics or {},
    }
    (run_dir / "results.json").write_text(json.dumps(results))
    if history:
        (run_dir / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    if samples:
        (run_dir / "samples").mkdir()
        for k, shade in ((10, 40), (20, 200)):  # the later one is the one to show
            Image.fromarray(np.full((8, 8, 3), shade, np.uint8)).save(
                run_dir / "samples" / f"iter_{k:07d}.png"
            )
    return run_dir


def groups(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [row["group"] for row in rows]


def test_runs_of_different_lengths_are_separate_rows_and_only_seeds_are_pooled(tmp_path: Path) -> None:
    for seed, (short, long) in enumerate([(0.2, 0.8), (0.4, 0.9)]):
        write_run(tmp_path, f"short{seed}", seed=seed, iterations=40, metrics={"test/bma_accuracy": short})
        write_run(tmp_path, f"long{seed}", seed=seed, iterations=1500, metrics={"test/bma_accuracy": long})
    rows = report.summarize(report.collect([tmp_path]))
    # logger.name, dataset.root and the evaluation interval differ too, but do not split the runs.
    assert groups(rows) == [
        {"experiment": "ring", "dataset": "ring", "sampler": "sghmc", "iterations": "40"},
        {"experiment": "ring", "dataset": "ring", "sampler": "sghmc", "iterations": "1500"},
    ]
    assert [row["n"] for row in rows] == [2, 2]
    assert rows[0]["metrics"]["test/bma_accuracy"]["mean"] == pytest.approx(0.3)
    assert rows[1]["metrics"]["test/bma_accuracy"]["mean"] == pytest.approx(0.85)


def test_a_choice_explains_its_own_leaves_and_method_is_a_column_when_it_differs(tmp_path: Path) -> None:
    write_run(tmp_path, "a", sampler="sghmc", metrics={"m": 1.0})
    write_run(tmp_path, "b", sampler="ml", metrics={"m": 2.0})
    write_run(tmp_path, "c", sampler="ml", method="probgan", metrics={"m": 3.0})
    rows = report.summarize(report.collect([tmp_path]))
    # sampler.* leaves differ with the sampler: no sampler.optimizer.lr column, only `sampler` (and method).
    assert list(rows[0]["group"]) == ["experiment", "dataset", "sampler", "method"]
    assert {(g["sampler"], g["method"]) for g in groups(rows)} == {
        ("sghmc", "bayesgan"), ("ml", "bayesgan"), ("ml", "probgan"),
    }  # fmt: skip


def test_group_by_any_config_key_and_pool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for seed in (0, 1):
        for J_g, iterations in ((2, 40), (8, 40), (8, 80)):
            write_run(tmp_path, f"j{J_g}_{iterations}_s{seed}", seed=seed, J_g=J_g, iterations=iterations,
                      metrics={"m": J_g + seed})  # fmt: skip
    args = [str(tmp_path), "--group-by", "posterior.J_g", "--format", "csv", "--no-figures"]
    assert report.main(args) == 0
    out, err = capsys.readouterr()
    table = list(csv.DictReader(io.StringIO(out)))
    assert list(table[0])[:3] == ["posterior.J_g", "iterations", "n"]  # the user's key first, then the rest
    assert [(r["posterior.J_g"], r["iterations"], r["n"]) for r in table] == [
        ("2", "40", "2"), ("8", "40", "2"), ("8", "80", "2"),
    ]  # fmt: skip
    assert "also grouped by iterations" in err
    assert report.main([*args, "--pool", "iterations"]) == 0  # deliberately pooled over, like the seed
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["posterior.J_g"], r["n"], r["m_mean"]) for r in table] == [
        ("2", "2", "2.5"),
        ("8", "4", "8.5"),
    ]

    assert report.main([str(tmp_path), "--group-by", "posterior.Jg", "--no-figures"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown --group-by field(s) posterior.Jg" in err[0]
    assert "did you mean posterior.J_g?" in err[0]


def test_paired_sign_flip_p_hand_computed() -> None:
    # Differences (1, -1, 2): of the 8 sign patterns, sums 4, 0, 2, -2, 2, -2, 0, -4; |sum| >= 2 in 6 of 8.
    assert report.paired_sign_flip_p([1.0, -1.0, 2.0], [0.0, 0.0, 0.0]) == pytest.approx(0.75)
    # Five pairs all the same way: only the two all-equal patterns are as extreme, 2/32.
    assert report.paired_sign_flip_p([0.9, 0.8, 0.7, 0.95, 0.85], [0.5] * 5) == pytest.approx(0.0625)
    assert report.paired_sign_flip_p([0.5, 0.5], [0.5, 0.5]) == 1.0
    assert math.isnan(report.paired_sign_flip_p([1.0, math.nan], [0.0, 0.0]))
    with pytest.raises(ValueError, match="equally long"):
        report.paired_sign_flip_p([1.0], [1.0, 2.0])


def test_unpaired_bootstrap_hand_computed() -> None:
    # a resampled: mean 1, 2, 3 with P 1/4, 1/2, 1/4; b fixed at 0 -> interval [1, 3] around 2.
    assert report.unpaired_bootstrap([1.0, 3.0], [0.0]) == (2.0, 1.0, 3.0)
    # b = [0, 2] as well: the difference is -1 with P 1/16 (> 2.5 %) and 3 with P 1/16 -> [-1, 3].
    assert report.unpaired_bootstrap([1.0, 3.0], [0.0, 2.0]) == (1.0, -1.0, 3.0)
    assert all(math.isnan(v) for v in report.unpaired_bootstrap([1.0, math.nan], [0.0]))
    with pytest.raises(ValueError, match="non-empty"):
        report.unpaired_bootstrap([], [1.0])


def test_baseline_differences_paired_by_seed_else_unpaired(tmp_path: Path, capsys) -> None:
    for seed, value in ((0, 0.6), (1, 0.8)):
        write_run(tmp_path, f"sghmc{seed}", sampler="sghmc", seed=seed, metrics={"acc": value})
        write_run(tmp_path, f"ml{seed}", sampler="ml", seed=seed, metrics={"acc": 0.5})
    for seed, value in ((7, 1.0), (8, 3.0)):  # seeds the baseline never ran: no pairs
        write_run(tmp_path, f"sgld{seed}", sampler="sgld", seed=seed, metrics={"acc": value})
    assert report.main([str(tmp_path), "--baseline", "sampler=ml", "--no-figures"]) == 0
    out = capsys.readouterr().out
    diff_table = out.split("Difference to the baseline sampler=ml")[1]
    lines = {line.split("|")[3].strip(): [c.strip() for c in line.split("|")[4:6]] for line in
             diff_table.splitlines() if line.startswith("| ring")}  # fmt: skip
    # Paired differences 0.1 and 0.3: resampled means 0.1, 0.2, 0.3 (P 1/4, 1/2, 1/4) -> [0.1, 0.3];
    # their sign flips give means ±0.2, ±0.1, so p = P(|mean| >= 0.2) = 2/4.
    assert lines["sghmc"] == ["paired, 2 seeds", "+0.2 [+0.1, +0.3] p 0.5"]
    # Unpaired: sgld mean 2 (resampled 1, 2, 3) minus a constant 0.5 -> 1.5 [0.5, 2.5].
    assert lines["sgld"] == ["unpaired, 2 vs 2", "+1.5 [+0.5, +2.5]"]
    assert "ml" not in lines  # the baseline is not compared with itself

    assert report.main([str(tmp_path), "--baseline", "sampler=ml", "--format", "csv", "--no-figures"]) == 0
    table = {r["sampler"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert float(table["sghmc"]["acc_diff"]) == pytest.approx(0.2) and table["ml"]["acc_diff"] == ""
    assert (float(table["sgld"]["acc_lo"]), float(table["sgld"]["acc_hi"])) == (0.5, 2.5)
    assert float(table["sghmc"]["acc_p"]) == pytest.approx(0.5) and math.isnan(float(table["sgld"]["acc_p"]))

    assert report.main([str(tmp_path), "--baseline", "sampler=adam", "--no-figures"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "matches no group (sampler: ml, sghmc, sgld)" in err[0]


def test_curve_is_the_mean_and_std_over_seeds_at_each_iteration(tmp_path: Path) -> None:
    runs = [
        report.collect([write_run(tmp_path, f"s{seed}", seed=seed, history=hist)])[0]
        for seed, hist in enumerate([
            [{"step": 10, "acc": 1.0}, {"step": 20, "acc": 3.0}, {"step": 20, "loss/d": 0.7}],
            [{"step": 10, "acc": 3.0}, {"step": 20, "acc": 5.0}, {"step": 30, "acc": None}],
        ])
    ]  # fmt: skip
    steps, means, stds = figures.curve(runs, "acc")
    assert steps == [10, 20] and means == [2.0, 4.0]  # a null (non-finite) value is no point
    assert stds == pytest.approx([math.sqrt(2), math.sqrt(2)])


def test_figures_are_written_and_their_paths_printed(tmp_path: Path, capsys) -> None:
    for seed in (0, 1):
        for sampler in ("sghmc", "ml"):
            hist = [{"step": s, "acc": s / 100 + seed} for s in (10, 20, 30)]
            write_run(tmp_path / "runs", f"{sampler}{seed}", sampler=sampler, seed=seed, history=hist,
                      metrics={"acc": 0.3 + seed, "flat": 1.0})  # fmt: skip
    out_dir = tmp_path / "figs"
    assert report.main([str(tmp_path / "runs"), "--out", str(out_dir)]) == 0
    printed = [
        line.split(maxsplit=1)[1]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("Figure:")
    ]
    names = sorted(Path(p).name for p in printed)
    # "flat" has no history: a bar, no curve.
    assert names == ["curve_acc.png", "curve_acc.svg", "final_metrics.png", "final_metrics.svg"]
    for path in map(Path, printed):
        assert path.parent == out_dir and path.stat().st_size > 1000
    assert Image.open(out_dir / "curve_acc.png").size[0] > 300
    assert "<svg" in (out_dir / "final_metrics.svg").read_text()


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [value or "" for name, value in attrs if name in ("src", "href")]


def test_html_page_is_self_contained_and_shows_every_group(tmp_path: Path, capsys) -> None:
    for seed in (0, 1):
        for sampler, iterations in (("sghmc", 40), ("sghmc", 80), ("ml", 40)):
            hist = [{"step": s, "acc": s / 100} for s in (10, 20)]
            metrics, name = {"acc": 0.1 * seed}, f"{sampler}{iterations}_{seed}"
            run_dir = write_run(tmp_path, name, sampler=sampler, seed=seed, iterations=iterations,
                                metrics=metrics, history=hist, samples=True)  # fmt: skip
            if sampler == "ml":  # logger=csv: the callbacks write under the logger's directory
                (run_dir / "csv" / "version_0").mkdir(parents=True)
                (run_dir / "samples").rename(run_dir / "csv" / "version_0" / "samples")
    assert report.main([str(tmp_path), "--format", "html", "--baseline", "sampler=ml"]) == 0
    out = capsys.readouterr().out
    page_path = Path(out.splitlines()[0].split(maxsplit=1)[1])
    assert page_path == tmp_path / "report" / "report.html"
    page = page_path.read_text()
    parser = _Refs()
    parser.feed(page)
    assert parser.refs and all(ref.startswith("data:image/png;base64,") for ref in parser.refs)
    assert "http://" not in "".join(parser.refs) and "https://" not in "".join(parser.refs)
    for label in ("sghmc, iterations=40", "sghmc, iterations=80", "ml, iterations=40"):
        assert f"{label}: " in page  # each group's sample grid, captioned
    # two figures (curve, bars) and three groups' latest grids, each embedded once
    assert len(parser.refs) == 5
    latest = (tmp_path / "ml40_0" / "csv" / "version_0" / "samples" / "iter_0000020.png").read_bytes()
    assert base64.b64encode(latest).decode() in page
    assert "Difference to the baseline sampler=ml" in page


def test_a_damaged_hydra_dir_is_one_warning_and_the_run_still_counts(tmp_path: Path, capsys) -> None:
    write_run(tmp_path, "good", seed=0, metrics={"m": 1.0})
    bad = write_run(tmp_path, "bad", seed=1, metrics={"m": 3.0})
    (bad / ".hydra" / "config.yaml").write_text("seed: [unclosed")
    runs = report.collect([tmp_path])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad/.hydra: config not read" in err[0]
    assert len(runs) == 2 and {r["seed"] for r in runs} == {0, 1}


def test_an_unwritable_out_dir_keeps_the_tables_and_refuses_the_page(tmp_path: Path, capsys) -> None:
    write_run(tmp_path / "runs", "a", metrics={"m": 1.0}, history=[{"step": 1, "m": 0}, {"step": 2, "m": 1}])
    blocked = tmp_path / "a_file"
    blocked.write_text("not a directory")
    assert report.main([str(tmp_path / "runs"), "--out", str(blocked / "report")]) == 0
    out, err = capsys.readouterr()
    assert "| ring " in out and "Figure:" not in out
    assert len(err.strip().splitlines()) == 1 and "figures not written to" in err
    assert report.main([str(tmp_path / "runs"), "--out", str(blocked / "report"), "--format", "html"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1].startswith("bayesgan-report: error: cannot write") and "choose another --out DIR" in err[-1]
    )


def test_an_extra_view_registers_its_own_flag(tmp_path: Path, capsys, monkeypatch) -> None:
    # The place a paper's table (bayesgan.table1, "--table1") plugs into the same command and runs.
    def view(runs: list[dict[str, Any]], args: Any) -> str:
        return f"{len(runs)} runs, seeds {sorted(r['seed'] for r in runs)}\n"

    monkeypatch.setattr(report.cli, "EXTRA_VIEWS", [("--seeds-view", "list the seeds", view)])
    for seed in (0, 1):
        write_run(tmp_path, f"r{seed}", seed=seed, metrics={"m": 1.0})
    assert report.main([str(tmp_path), "--seeds-view"]) == 0
    assert capsys.readouterr().out == "2 runs, seeds [0, 1]\n"
    assert report.main([str(tmp_path), "--no-figures"]) == 0
    assert "| ring " in capsys.readouterr().out  # without the flag: the tables
