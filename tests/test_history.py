"""history.jsonl: every logged metric of a run on the local disk, once per iteration, also across a resume."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from bayesgan import history
from bayesgan.train import run

RING = [
    "callbacks=default", "callbacks.samples=null", "callbacks.diagnostics=null", "callbacks.progress=null",
    "callbacks.coverage.every_n_iterations=2", "callbacks.coverage.num_samples=200",
    "trainer.log_every_n_steps=1", "checkpoint_every=2", "checkpoint_keep=-1",
]  # fmt: skip


def steps_of(records: list[dict], key: str) -> list[int]:
    return [r["step"] for r in records if key in r]


def test_history_records_losses_and_evaluations_and_a_resume_does_not_repeat_them(
    make_config, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    run(make_config(*RING, "iterations=6", output_dir=run_dir), run_dir)
    records = history.read(run_dir / history.FILE_NAME)
    assert steps_of(records, "loss/d") == [1, 2, 3, 4, 5, 6]
    assert steps_of(records, "coverage/modes") == [2, 4, 6]
    final = json.loads((run_dir / "results.json").read_text())["metrics"]
    assert records[-1]["coverage/modes"] == final["coverage/modes"]  # the last record is the final result

    # Continue from iteration 4 to 8: the records of iterations 5 and 6 are written again, so the old
    # ones must go (a plain append would hold them twice).
    checkpoint = run_dir / "checkpoints" / "step_0000008.ckpt"  # 2 optimizer steps per iteration
    run(make_config(*RING, "iterations=8", f"ckpt_path={checkpoint}", output_dir=run_dir), run_dir)
    records = history.read(run_dir / history.FILE_NAME)
    assert steps_of(records, "loss/d") == list(range(1, 9))
    assert steps_of(records, "coverage/modes") == [2, 4, 6, 8]
    assert max(Counter(r["step"] for r in records).values()) <= 2  # a loss row and an evaluation, at most


def test_a_fresh_run_in_the_same_directory_starts_a_new_history(make_config, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    for _ in range(2):
        run(make_config(*RING, "iterations=2", output_dir=run_dir), run_dir)
    assert steps_of(history.read(run_dir / history.FILE_NAME), "loss/g") == [1, 2]


def test_read_skips_a_line_cut_short_and_non_finite_values_are_null(tmp_path: Path) -> None:
    logger = history.MetricHistory(tmp_path)
    logger.log_metrics({"loss/d": float("nan"), "coverage/modes": 3}, step=5)
    with (tmp_path / history.FILE_NAME).open("a") as handle:
        handle.write('{"step": 6, "loss/d": 0.')  # a kill in the middle of a write
    assert history.read(tmp_path / history.FILE_NAME) == [{"step": 5, "loss/d": None, "coverage/modes": 3.0}]
    json.loads((tmp_path / history.FILE_NAME).read_text().splitlines()[0])  # strict JSON (no NaN token)
    history.truncate(tmp_path / history.FILE_NAME, 4)
    assert history.read(tmp_path / history.FILE_NAME) == []
