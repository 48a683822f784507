"""bench/compare.py: the plan (seeds paired, parts), resumability, and the tables (null row, paired diffs)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import sys
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("compare", Path(__file__).parents[1] / "bench" / "compare.py")
compare = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(compare)
tables = sys.modules["compare_tables"]  # bench/compare_tables.py, imported by compare.py


def summary(case: str, sampler: str, seed: int, **metrics: float) -> dict:
    return {
        "experiment": case,
        "choices": {"sampler": sampler},
        "seed": seed,
        "iterations": 15000,
        "metrics": {k.replace("__", "/"): v for k, v in metrics.items()},
    }


def test_plan_pairs_seeds_and_runs_in_parts() -> None:
    args = compare.parse_args(["--only", "ring_pacgan", "digits_20", "--samplers", "ml", "supervised"])
    jobs = [(case, sampler, seed) for case, sampler, seed, _ in compare.plan(args)]
    assert jobs[:3] == [("ring_pacgan", "ml", 0), ("digits_20", "ml", 0), ("digits_20", "supervised", 0)]
    assert len(jobs) == 3 * 5 and args.results == Path("bench/results/compare")
    overrides = compare.plan(args)[1][3]
    assert "dataset.n_labels=20" in overrides and "sampler=ml" in overrides and "seed=0" in overrides
    assert not any(o.startswith("sampler=") for o in compare.plan(args)[2][3])  # supervised: no GAN sampler
    quick = compare.parse_args(["--quick"])
    assert quick.seeds == [0] and quick.results != args.results  # smoke runs never mix with real results


def test_variant_rows_run_only_when_named_and_pair_with_their_own_baseline() -> None:
    default = [(case, sampler) for case, sampler, _, _ in compare.plan(compare.parse_args(["--seeds", "0"]))]
    assert not any(sampler.endswith("_decay") for _, sampler in default)
    named = ["--samplers", "psgld_decay", "ml_decay"]
    args = compare.parse_args(["--only", "ring_pacgan", *named, "--seeds", "0"])
    jobs = {sampler: overrides for _, sampler, _, overrides in compare.plan(args)}
    assert set(jobs) == {"psgld_decay", "ml_decay"}
    assert {"sampler=psgld", "schedule=polynomial"} <= set(jobs["psgld_decay"])
    assert {"sampler=ml", "schedule=polynomial"} <= set(jobs["ml_decay"])
    runs = [
        summary("ring_pacgan", name, seed, coverage__high_quality=hq)
        for name, seed, hq in [("ml", 0, 10.0), ("ml_decay", 0, 40.0), ("psgld_decay", 0, 70.0),
                               ("ml", 1, 20.0), ("ml_decay", 1, 60.0), ("psgld_decay", 1, 80.0)]
    ]  # fmt: skip
    (row,) = tables.paired_rows(runs, ["coverage/high_quality"])
    assert row[:3] == ["psgld_decay − ml_decay", "2", "+25 [+20, +30] p 0.5"]  # (30 + 20) / 2, not against ml


def test_existing_summaries_are_skipped(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = compare.parse_args(
        ["--only", "ring_pacgan", "--samplers", "ml", "--seeds", "3", "--results", str(tmp_path)]
    )
    path = compare.result_path(tmp_path, "ring_pacgan", "ml", 3)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(summary("ring_pacgan", "ml", 3, coverage__modes=8.0)))
    compare.run_missing(args)  # would train for minutes if it did not skip
    assert "1 already done, 0 to run" in capsys.readouterr().out


def test_side_by_side_runs_each_missing_job_once_in_its_own_process(tmp_path: Path, monkeypatch) -> None:
    args = compare.parse_args(
        ["--only", "ring_pacgan", "--samplers", "ml", "psgld", "--seeds", "0", "1", "--jobs", "3",
         "--trainer", "gpu", "--results", str(tmp_path / "res"), "--runs", str(tmp_path / "runs")]
    )  # fmt: skip
    done = compare.result_path(args.results, "ring_pacgan", "ml", 1)
    done.parent.mkdir(parents=True)
    done.write_text("{}")
    commands = []
    monkeypatch.setattr(compare.subprocess, "run", lambda c, **_: commands.append(c) or _Done())
    compare.run_missing(args)
    commands = [c for c in commands if "--samplers" in c]  # (not the git call that names the commit)
    jobs = sorted((c[c.index("--samplers") + 1], c[c.index("--seeds") + 1]) for c in commands)
    assert jobs == [("ml", "0"), ("psgld", "0"), ("psgld", "1")]  # the finished run is not rerun
    assert all(c[c.index("--trainer") + 1] == "gpu" and "--no-tables" in c for c in commands)
    assert "trainer=gpu" in compare.plan(args)[0][3] and "sampler=psgld" in compare.plan(args)[1][3]


class _Done:
    returncode, stdout = 0, "abc1234"


def test_tables_show_null_row_and_paired_differences_over_shared_seeds() -> None:
    runs = [
        summary(
            "ring_pacgan",
            "ml",
            s,
            coverage__modes=m,
            coverage__high_quality=90.0,
            coverage__reverse_kl=0.3,
            null__modes=8.0,
            null__high_quality=7.2,
            null__reverse_kl=0.01,
        )
        for s, m in enumerate([6.0, 7.0, 5.0])
    ]
    runs += [summary("ring_pacgan", "sghmc", s, coverage__modes=m, coverage__high_quality=80.0,
                     coverage__reverse_kl=0.1) for s, m in enumerate([8.0, 8.0])]  # fmt: skip
    text = tables.tables(runs, ["ring_pacgan"])
    # sghmc ran seeds 0-1 of ml's 0-2: the header says that the rows' n differ.
    assert "## ring_pacgan: mean ± std over seeds 0, 1, 2 (rows with fewer seeds: n)" in text
    assert "(rows with fewer seeds" not in tables.tables(runs[:2] + runs[3:], ["ring_pacgan"])
    null_line = next(line for line in text.splitlines() if line.startswith(f"| {tables.report.NULL_ROW}"))
    assert "| 3 |" in null_line and "8 ± 0" in null_line and "7.2 ± 0" in null_line
    # Seeds 0 and 1 are paired: modes 8-6 = 2 and 8-7 = 1 -> mean 1.5, interval [1, 2]; HQ -10 exactly.
    diff_line = next(line for line in text.splitlines() if line.startswith("| sghmc − ml"))
    cells = [c.strip() for c in diff_line.strip("|").split("|")]
    # Sign flips of (2, 1): means ±1.5, ±0.5, so p = P(|mean| >= 1.5) = 2/4; of (-10, -10) likewise (a
    # difference without spread shows no interval, as in bayesgan-report).
    assert cells[1:4] == ["2", "+1.5 [+1, +2] p 0.5", "-10 p 0.5"]
    assert not math.isnan(float(cells[4].split()[0]))


METRICS = {"coverage/modes": 8.0, "coverage/high_quality": 90.0, "coverage/reverse_kl": 0.1}


def test_an_interrupted_run_resumes_from_its_newest_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = compare.parse_args(["--only", "ring_pacgan", "--samplers", "sghmc", "--seeds", "1"])
    args.results, args.runs = tmp_path / "results", tmp_path / "runs"
    checkpoints = args.runs / "ring_pacgan" / "sghmc" / "seed1" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "last.ckpt").write_text("older")
    (checkpoints / "interrupted.ckpt").write_text("newer")
    os.utime(checkpoints / "last.ckpt", (1, 1))
    seen = []

    def fake_train(overrides: list[str], run_dir: Path) -> dict:
        seen.append(overrides)
        return {"iterations": 15000, "metrics": METRICS}

    monkeypatch.setattr(compare, "train_gan", fake_train)
    compare.run_missing(args)
    assert seen[0][-1] == f"ckpt_path={(checkpoints / 'interrupted.ckpt').resolve()}"
    saved = json.loads(compare.result_path(args.results, "ring_pacgan", "sghmc", 1).read_text())
    assert saved["metrics"] == METRICS and saved["seed"] == 1


def test_settings_are_recorded_and_printed_beside_the_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader of the tables sees which step size, temperature, copies and bank each sampler's rows used."""
    args = compare.parse_args(
        ["--only", "digits_50", "--samplers", "sghmc", "--seeds", "0", "--results", str(tmp_path)]
    )
    args.runs = tmp_path / "runs"
    used = {
        "iterations": 1500,
        "z_prior": "uniform",
        "sampler": {"name": "sghmc", "J_g": 4, "J_d": 1, "M": 2, "burn_in": 500, "thin": 100, "bank_size": 10,
                    "labelled_observations": None,
                    "step_schedule": {"_target_": "bayesgan.samplers.PolynomialDecay", "_partial_": True,
                                      "gamma": 0.55, "offset": 1000}},
        "optimizer": {"lr": None, "lr_per_datum": 0.1, "friction": 0.1, "temperature": 0.01, "prior_std": 1},
    }  # fmt: skip
    seen = []

    def fake_train(overrides: list[str], run_dir: Path) -> dict:
        seen.append(overrides)
        return {"iterations": 1500, "metrics": {"test/bma_accuracy": 0.9}, "settings": used}

    monkeypatch.setattr(compare, "train_gan", fake_train)
    compare.run_missing(args)
    assert "callbacks.quality=null" in seen[0]  # digits rows skip the image metrics they do not report
    saved = json.loads(compare.result_path(tmp_path, "digits_50", "sghmc", 0).read_text())
    assert saved["settings"] == used
    text = tables.tables(tables.load(tmp_path), ["digits_50"])
    line = next(line for line in text.splitlines() if line.startswith("- sghmc"))
    for part in (
        "1500 it.",
        "lr_per_datum=0.1",
        "temperature=0.01",
        "J_g×J_d×M=4×1×2",
        "burn_in/thin/bank=500/100/10",
        "step PolynomialDecay(gamma=0.55, offset=1000)",
    ):
        assert part in line


def test_a_row_pooling_fewer_snapshots_is_evaluated_from_its_source_run_and_equals_training_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 30 iterations, a snapshot every 5 from 10 on, bank of 4: iterations 15, 20, 25, 30. The derived row
    # pools the newest 2 (25, 30): what bank_size=2 keeps. It must not train, and equal the row trained.
    dense = ["posterior.burn_in=10", "posterior.thin=5", "posterior.bank_size=4", "iterations=30"]
    dense += ["+callbacks.coverage.std=0.1"]  # some of 30 iterations' samples land in modes
    monkeypatch.setitem(tables.VARIANTS, "dense", ("psgld", dense, "ml"))
    monkeypatch.setitem(tables.VARIANTS, "newest2", ("psgld", [*dense, "posterior.bank_size=2"], "ml"))
    monkeypatch.setitem(tables.DERIVED, "newest2", ("dense", ["posterior.bank_size=2"], 2, 1))
    args = compare.parse_args(["--only", "ring_pacgan", "--samplers", "psgld", "--seeds", "0"])
    args.results, args.runs, args.samplers = tmp_path / "results", tmp_path / "runs", ["dense"]
    compare.run_missing(args)  # trains the source row
    args.samplers = ["newest2"]
    monkeypatch.setattr(compare, "train_gan", lambda *_: pytest.fail("a derived row was trained"))
    compare.run_missing(args)
    derived = json.loads(compare.result_path(args.results, "ring_pacgan", "newest2", 0).read_text())
    assert derived["derived_from"]["bank_iterations"] == [25, 30]
    assert derived["settings"]["sampler"]["bank_size"] == 2
    monkeypatch.undo()
    reference = compare.train_gan(derived["overrides"], tmp_path / "trained")  # the row trained for real
    pooled = ("coverage/modes", "coverage/high_quality", "coverage/reverse_kl", "null/high_quality")
    # Per-copy metrics too: the same final copies, but their latents follow the pooled draw's in one stream.
    for key in (*pooled, "coverage/per_generator_high_quality_mean", "coverage/per_generator_modes_mean"):
        assert math.isclose(derived["metrics"][key], reference["metrics"][key], rel_tol=1e-5), key
    source = json.loads(compare.result_path(args.results, "ring_pacgan", "dense", 0).read_text())
    assert derived["metrics"]["coverage/reverse_kl"] != source["metrics"]["coverage/reverse_kl"]
