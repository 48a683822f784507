"""`bayesgan-train -m sampler=sghmc,sgld,ml seed=0,1`: six jobs, six directories, six offline W&B runs."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bayesgan import report
from conftest import TINY, TINY_DATA, TINY_MODEL
from wandb_records import by_type


def test_multirun_gives_separate_runs_and_wandb_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tmp_path / "sweep"
    overrides = [o for o in [*TINY_DATA, *TINY_MODEL, *TINY] if not o.startswith(("logger=", "callbacks="))]
    command = [
        sys.executable, "-m", "bayesgan.train", "-m",
        "sampler=sghmc,sgld,ml", "seed=0,1", *overrides,
        "logger=wandb", "callbacks=default", "trainer.log_every_n_steps=1", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    env = os.environ | {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(tmp_path)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=500, env=env)
    assert done.returncode == 0, done.stderr[-3000:]

    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and (p / "results.json").exists())
    assert len(jobs) == 6
    run_ids, seen = set(), set()
    for job in jobs:
        results = json.loads((job / "results.json").read_text())
        seen.add((results["choices"]["sampler"], results["seed"]))
        assert "coverage/modes" in results["metrics"]
        runs = list((job / "wandb").glob("offline-run-*"))
        assert len(runs) == 1, job  # exactly one W&B run per job
        run = runs[0]
        run_ids.add(run.name.rsplit("-", 1)[1])
        images = list((run / "files" / "media" / "images").glob("*.png"))
        assert images, f"no logged sample image in {run}"
        log = next(run.glob("*.wandb")).read_bytes()
        for key in (b"coverage/modes", b"loss/d", results["choices"]["sampler"].encode()):
            assert key in log, (key, run)
    assert len(run_ids) == 6
    # One sweep id shared by the jobs, readable distinct run names, and the sweep's table at the end.
    runs = [by_type(next(job.glob("wandb/offline-run-*/run-*.wandb")))["run"][0].run for job in jobs]
    assert {json.loads(next(i.value_json for i in r.config.update if i.key == "sweep_id")) for r in runs} == {
        sweep.name
    }
    names = {r.display_name for r in runs}
    assert len(names) == 6 and all(
        n.split()[0] in ("sghmc", "sgld", "ml") and n[-3:] in (" s0", " s1") for n in names
    )
    assert f"Multirun finished: 6 jobs in {sweep}" in done.stdout
    table = done.stdout.split("Multirun finished")[1].splitlines()
    assert table[1].split()[:3] == ["job", "sampler", "seed"] and "coverage/modes" in table[1]
    assert len([ln for ln in table if ln[:1].isdigit()]) == 6
    assert f"bayesgan-report {sweep}" in done.stdout
    assert seen == {(s, seed) for s in ("sghmc", "sgld", "ml") for seed in (0, 1)}

    # The report the sweep points to, on the real .hydra/ files: one row per sampler with both seeds pooled
    # (the jobs' run names, directories and sweep id differ too, but say nothing about the experiment).
    capsys.readouterr()
    assert report.main([str(sweep), "--format", "csv", "--no-figures"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert list(rows[0])[:4] == ["experiment", "dataset", "sampler", "n"]
    assert {r["sampler"]: r["n"] for r in rows} == {
        "ml": "2",
        "sghmc": "2",
        "sgld": "2",
        report.NULL_ROW: "2",
    }
