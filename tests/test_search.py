"""bench/search.py: committed summaries make a search resumable on a fresh clone and reprint its table."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_BENCH = Path(__file__).parents[1] / "bench"
sys.path.insert(0, str(_BENCH))  # search.py imports compare.py from its own folder
_SPEC = importlib.util.spec_from_file_location("search", _BENCH / "search.py")
search = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(search)


def write_summary(results: Path, name: str, swept: list[str], modes: float, hq: float) -> None:
    path = results / name / f"{search.tag(swept)}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    metrics = {"coverage/modes": modes, "coverage/high_quality": hq}
    path.write_text(json.dumps({"search": name, "overrides": swept, "metrics": metrics}))


def test_jobs_with_committed_summaries_are_not_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    name = "ring_sghmc"
    done, *missing = search.jobs(name)
    write_summary(tmp_path / "results", name, done, 8.0, 10.0)
    ran = []
    monkeypatch.setattr(search.subprocess, "run", lambda cmd, **_: ran.append(cmd))
    search.run_missing(name, tmp_path / "sweeps", tmp_path / "results")
    assert len(ran) == len(missing)  # one training process per job without a summary, none for the other
    assert not any(all(o in cmd for o in done) for cmd in ran)
    assert f"done: {tmp_path / 'results'}" in capsys.readouterr().out


def test_the_table_is_reprinted_from_committed_summaries_alone(tmp_path: Path) -> None:
    name = "ring_sgld"
    first, second = search.jobs(name)[:2]  # file names sort the second first
    write_summary(tmp_path, name, first, 8.0, 5.4)
    write_summary(tmp_path, name, second, 8.0, 3.3)
    rows = search.collect(name, tmp_path / "no-sweep-here", tmp_path / name, "abc1234")
    lines = search.table(name, rows).splitlines()
    assert len(rows) == 2 and len(lines) == 4  # header, rule, one line per summary
    assert "| 5.4 |" in lines[2] and "| 3.3 |" in lines[3]  # a tie on modes goes to the higher HQ


def test_shards_split_a_search_between_processes_without_overlap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "grid_psgld_decay_last"
    ran: dict[int, list[list[str]]] = {0: [], 1: []}
    for k in ran:
        monkeypatch.setattr(search.subprocess, "run", lambda cmd, k=k, **_: ran[k].append(cmd))
        search.run_missing(name, tmp_path / "sweeps", tmp_path / "results", shard=(k, 2))
    dirs = [{c[-1] for c in ran[k]} for k in ran]  # hydra.run.dir=... of each job
    assert len(dirs[0]) == len(dirs[1]) == 2 and not dirs[0] & dirs[1]  # 4 jobs, 2 each, none twice
    with pytest.raises(SystemExit):
        search.main(["ring_sghmc", "--shard", "2/2"])
