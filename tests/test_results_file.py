"""results.json is strict JSON (no bare NaN/Infinity); bayesgan-report still sees a diverged run's NaNs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bayesgan import report, results_file
from bayesgan.train import run


def strict_loads(text: str) -> object:
    """RFC 8259 JSON only: Python's reader calls ``parse_constant`` for the NaN/Infinity tokens it accepts."""

    def refuse(token: str) -> None:
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_values_become_null_and_are_named() -> None:
    results = {
        "seed": 3,
        "diverged_at": None,
        "metrics": {"a": math.nan, "b": math.inf, "c": -math.inf, "d": 1.5},
    }
    text = results_file.encode(results)
    assert strict_loads(text) == {
        "seed": 3,
        "diverged_at": None,
        "metrics": {"a": None, "b": None, "c": None, "d": 1.5},
        "non_finite": {"metrics": {"a": "nan", "b": "inf", "c": "-inf"}},
    }
    back = results_file.decode(text)
    assert math.isnan(back["metrics"]["a"]) and back["metrics"]["b"] == math.inf
    assert back["metrics"]["c"] == -math.inf and back["metrics"]["d"] == 1.5
    assert back["diverged_at"] is None and "non_finite" not in back  # a null that was null stays None
    assert results_file.decode('{"metrics": {"x": NaN}}')["metrics"]["x"] != 0  # old files still read


def test_a_diverged_run_writes_strict_json_that_the_report_reads(make_config, tmp_path: Path) -> None:
    cfg = make_config("callbacks=default", "iterations=6", "sampler.optimizer.lr_per_datum=1e12")
    results = run(cfg, output_dir=tmp_path)
    assert results["diverged_at"] is not None
    non_finite = {k for k, v in results["metrics"].items() if not math.isfinite(v)}
    assert non_finite  # the premise: this run has NaN metrics to write

    written = strict_loads((tmp_path / "results.json").read_text())
    assert {k for k, v in written["metrics"].items() if v is None} == non_finite
    assert set(written["non_finite"]["metrics"]) == non_finite

    (row,) = report.summarize(report.collect([tmp_path]))
    assert row["diverged"] == 1
    assert non_finite & set(row["metrics"])  # the report leaves losses out; evaluation metrics remain
    for name in non_finite & set(row["metrics"]):
        assert not math.isfinite(row["metrics"][name]["mean"])  # restored: NaN or ±inf, not a number
    assert "nan" in report.render([row])


@pytest.mark.parametrize(
    "bad", ["{not json", '{"metrics": {"x": null}, "non_finite": {"metrics": {"x": "oops"}}}']
)
def test_report_skips_unreadable_results_with_one_line(bad: str, tmp_path: Path, capsys) -> None:
    (tmp_path / "results.json").write_text(bad)
    assert report.collect([tmp_path]) == []
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bayesgan-report: warning: skipping")
