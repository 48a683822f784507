"""`pip install .` (not editable) works: the wheel carries the configs, no source tree needed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_an_installed_wheel_composes_and_trains_without_the_source_tree(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a clean copy: setuptools' in-tree build/ would mask a missing file
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", source / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = _run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                  "-w", str(tmp_path / "dist")], cwd=tmp_path)  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("bayesgan-*.whl"))

    # A fresh environment that borrows the dependencies (torch, Lightning, ...) of this one: a path line in a
    # .pth file adds them without running their .pth files, so this checkout's editable install stays out.
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path).returncode == 0
    python = venv / "bin" / "python"
    site = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path
    )
    (Path(site.stdout.strip()) / "borrowed_dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    installed = _run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-2000:]

    work = tmp_path / "elsewhere"  # not the repository: nothing to find configs in but the package
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BAYESGAN_CONFIG_DIR")}
    env |= {"OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    where = _run([str(python), "-c", "import bayesgan; print(bayesgan.__file__)"], cwd=work, env=env)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr

    train = str(venv / "bin" / "bayesgan-train")
    shown = _run([train, "--cfg", "job"], cwd=work, env=env)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "_target_: bayesgan.module.BayesGAN" in shown.stdout and "sampler:" in shown.stdout

    overrides = ["dataset=ring", "dataset.num_samples=256", "dataset.batch_size=32", "model=mlp",
                 "model.hidden=16", "iterations=5", "logger=none", "callbacks=none", "posterior.J_g=2",
                 "posterior.M=1", "hydra.run.dir=run"]  # fmt: skip
    trained = _run([train, *overrides], cwd=work, env=env)
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert '"iterations": 5' in (work / "run" / "results.json").read_text()
