"""``bayesgan-sample`` and ``bayesgan-evaluate`` on tiny runs trained in-process: the shapes a user gets,
reproducibility by seed, the final metrics of ``results.json`` recomputed from the checkpoint alone, and
one-line errors for bad input."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from bayesgan.train import compose_config, run

ROOT = Path(__file__).resolve().parents[1]
RING = [
    "dataset=ring",
    "dataset.num_samples=256",
    "dataset.batch_size=32",
    "model=mlp",
    "model.hidden=16",
    "callbacks.coverage.num_samples=300",
    "callbacks.quality=null",
    "callbacks.synthetic_js=null",
]
DIGITS = ["dataset=digits", "dataset.batch_size=32", "model=mlp", "model.hidden=32", "callbacks.quality=null"]
COMMON = [
    "iterations=4",
    "logger=none",
    "trainer.enable_progress_bar=false",
    "posterior.J_g=3",
    "posterior.J_d=1",
    "posterior.M=1",
    "posterior.burn_in=1",
    "posterior.thin=1",
    "posterior.bank_size=2",
    "callbacks.samples.every_n_iterations=0",
]


def _train(
    tmp_path_factory: pytest.TempPathFactory, name: str, overrides: list[str], common: list[str] = COMMON
) -> Path:
    out = tmp_path_factory.mktemp(name)
    try:
        run(compose_config([*overrides, *common], out), out)
    finally:
        GlobalHydra.instance().clear()
    return out


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory, "ring", RING)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory, "digits", DIGITS)


def cli(command: str, *args: object) -> subprocess.CompletedProcess[str]:
    """The command run in this process (its ``main``), as a completed process: exit code, stdout, stderr."""
    main = importlib.import_module(f"bayesgan.cli.{command}").main
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return subprocess.CompletedProcess(command, code, out.getvalue(), err.getvalue())


def test_commands_run_as_modules(ring_run: Path, tmp_path: Path) -> None:
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    argv = [sys.executable, "-m", "bayesgan.cli.sample", ring_run, "--num", 3, "--out", tmp_path / "s.npz"]
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert npz(tmp_path / "s.npz")["samples"].shape == (3, 2)
    bad = [sys.executable, "-m", "bayesgan.cli.evaluate", str(tmp_path / "nope")]
    done = subprocess.run(bad, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2 and done.stderr.startswith("bayesgan-evaluate: error:"), done.stderr


def npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def test_sample_pooled_and_per_generator_npz(ring_run: Path, tmp_path: Path) -> None:
    done = cli("sample", ring_run, "--num", 7, "--out", tmp_path / "pooled.npz", "--seed", 1)
    assert done.returncode == 0, done.stderr
    assert npz(tmp_path / "pooled.npz")["samples"].shape == (7, 2)

    done = cli("sample", ring_run / "checkpoints" / "last.ckpt", "--num", 5, "--per-generator", "--out",
               tmp_path / "rows.npz")  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = npz(tmp_path / "rows.npz")
    # 3 generator copies (J_g=3, M=1) x 2 bank snapshots (bank_size=2 over 4 iterations)
    assert rows["samples"].shape == (6, 5, 2)
    assert list(rows["labels"]) == [f"gen {k}, it {t}" for t in (3, 4) for k in range(3)]
    # distinct posterior samples give distinct rows
    assert len({rows["samples"][i].tobytes() for i in range(6)}) == 6


def test_sample_same_seed_same_output_other_seed_differs(ring_run: Path, tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert (
            cli("sample", ring_run, "--num", 9, "--out", tmp_path / f"{name}.npz", "--seed", seed).returncode
            == 0
        )
        per = ("--per-generator", "--out", tmp_path / f"{name}_rows.npz")
        assert cli("sample", ring_run, "--num", 9, *per, "--seed", seed).returncode == 0
    for suffix in ("", "_rows"):  # pooled, and every posterior sample's own draws
        a, b, c = (npz(tmp_path / f"{n}{suffix}.npz")["samples"] for n in "abc")
        np.testing.assert_array_equal(a, b)
        assert not np.isclose(a, c).any(axis=-1).all()


def test_sample_png_for_images_has_one_row_per_posterior_sample(digits_run: Path, tmp_path: Path) -> None:
    one = cli("sample", digits_run, "--num", 4, "--per-generator", "--out", tmp_path / "rows.png")
    assert one.returncode == 0, one.stderr
    six = cli("sample", digits_run, "--num", 4, "--per-generator", "--out", tmp_path / "rows.npz")
    assert npz(tmp_path / "rows.npz")["samples"].shape == (6, 4, 1, 8, 8)
    assert six.returncode == 0
    pooled = cli("sample", digits_run, "--num", 4, "--out", tmp_path / "pooled.png")
    assert pooled.returncode == 0, pooled.stderr
    rows_h = Image.open(tmp_path / "rows.png").size[1]
    pooled_h = Image.open(tmp_path / "pooled.png").size[1]
    assert 5 * pooled_h < rows_h < 7 * pooled_h  # six rows of tiles against one


def _close(recomputed: dict[str, float], trained: dict[str, float], prefixes: tuple[str, ...]) -> None:
    keys = [k for k in trained if k.startswith(prefixes)]
    assert keys
    for key in keys:
        assert math.isclose(recomputed[key], trained[key], rel_tol=1e-5, abs_tol=1e-6), key


def test_evaluate_recomputes_final_coverage(ring_run: Path) -> None:
    done = cli("evaluate", ring_run, "coverage", "diagnostics")
    assert done.returncode == 0, done.stderr
    trained = json.loads((ring_run / "results.json").read_text())["metrics"]
    written = json.loads((ring_run / "evaluation.json").read_text())
    assert written["iterations"] == 4
    _close(written["metrics"], trained, ("coverage/", "null/", "diag/g_weight_norm", "diag/d_weight_norm"))
    assert "coverage/modes" in done.stdout
    assert json.loads((ring_run / "results.json").read_text())["metrics"] == trained  # untouched


def test_evaluate_recomputes_final_accuracy(digits_run: Path) -> None:
    done = cli("evaluate", digits_run, "accuracy")
    assert done.returncode == 0, done.stderr
    trained = json.loads((digits_run / "results.json").read_text())["metrics"]
    recomputed = json.loads((digits_run / "evaluation.json").read_text())["metrics"]
    _close(recomputed, trained, ("test/",))
    assert set(recomputed) == {k for k in trained if k.startswith("test/")}  # only what was asked


@pytest.mark.parametrize(
    ("command", "args", "expected"),
    [
        ("sample", ["{missing}"], "no such run directory or checkpoint file"),
        ("sample", ["{readme}"], "not a complete torch checkpoint"),
        ("evaluate", ["{missing}"], "no such run directory or checkpoint file"),
        ("evaluate", ["{run}", "fid_of_nothing"], "available for this run: accuracy, coverage, diagnostics"),
        ("sample", ["{run}", "--out", "x.jpg"], "expected a .png or .npz"),
        ("sample", ["{empty_run}"], "checkpoints/last.ckpt in this run directory"),
        ("evaluate", ["{run}", "--out", "{run}/results.json"], "results.json is the training run's own"),
    ],
)
def test_bad_input_is_one_line_exit_2(ring_run: Path, tmp_path: Path, command, args, expected) -> None:
    readme = Path(__file__).resolve().parents[1] / "README.md"
    (tmp_path / "empty_run" / "checkpoints").mkdir(parents=True)
    values = {
        "missing": tmp_path / "nope",
        "readme": readme,
        "run": ring_run,
        "empty_run": tmp_path / "empty_run",
    }
    done = cli(command, *[a.format(**values) for a in args])
    assert done.returncode == 2
    assert expected in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"bayesgan-{command}: error:")


def test_a_gpu_ddp_run_is_evaluated_on_this_cpu(ring_run: Path, tmp_path: Path) -> None:
    # The saved config of a run trained on 2 GPUs with DDP: rebuilding must not ask for those devices.
    state = torch.load(ring_run / "checkpoints" / "last.ckpt", weights_only=True)
    state["run"]["config"]["trainer"] |= {"accelerator": "gpu", "devices": 2, "strategy": "ddp"}
    torch.save(state, tmp_path / "gpu.ckpt")
    done = cli("sample", tmp_path / "gpu.ckpt", "--num", 4, "--out", tmp_path / "s.npz")
    assert done.returncode == 0, done.stderr
    assert npz(tmp_path / "s.npz")["samples"].shape == (4, 2)


def test_evaluate_says_when_a_metric_does_not_apply(ring_run: Path, tmp_path: Path) -> None:
    done = cli("evaluate", ring_run, "accuracy", "--out", tmp_path / "eval.json")
    assert done.returncode == 0, done.stderr
    assert "accuracy: does not apply to this run" in done.stderr  # unlabelled ring data: no test/* metrics
    assert json.loads((tmp_path / "eval.json").read_text())["metrics"] == {}


def _variant(tmp_path_factory: pytest.TempPathFactory, name: str, **posterior: int) -> Path:
    """The ring run with other bank settings (same seed, so the same training). Coverage is scored with a
    mode std of 0.4 so that 4 iterations' samples land in modes and the metrics tell banks apart."""
    common = [o for o in COMMON if o.split("=")[0].removeprefix("posterior.") not in posterior]
    banks = [f"posterior.{k}={v}" for k, v in posterior.items()]
    return _train(tmp_path_factory, name, [*RING, *banks, "+callbacks.coverage.std=0.4"], common)


def test_bank_newest_gives_the_metrics_of_a_run_trained_with_that_bank(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # 4 iterations, burn-in 1, thin 1: a bank of 3 holds iterations 2, 3, 4. Its newest 2 are the bank of
    # bank_size 2; its newest 2 at stride 2 (iterations 2 and 4) are the bank of burn-in 0, thin 2.
    dense = _variant(tmp_path_factory, "dense", bank_size=3)
    newest = _variant(tmp_path_factory, "newest", bank_size=2)
    coarse = _variant(tmp_path_factory, "coarse", burn_in=0, thin=2, bank_size=2)
    for args, reference, kept in (([2], newest, [3, 4]), ([2, "--bank-stride", 2], coarse, [2, 4])):
        out = dense / "subset.json"
        done = cli("evaluate", dense, "coverage", "--out", out, "--bank-newest", *args)
        assert done.returncode == 0, done.stderr
        written = json.loads(out.read_text())
        assert written["bank_iterations"] == kept
        trained = json.loads((reference / "results.json").read_text())["metrics"]
        _close(
            written["metrics"], trained, ("coverage/modes", "coverage/high_quality", "coverage/reverse_kl")
        )
        whole = json.loads((dense / "results.json").read_text())["metrics"]["coverage/reverse_kl"]
        assert not math.isclose(whole, written["metrics"]["coverage/reverse_kl"])  # the subset matters
    done = cli("evaluate", dense, "--bank-newest", 2, "--bank-stride", 3)
    assert done.returncode == 2 and "needs 4 snapshots, the bank has 3" in done.stderr, done.stderr
    # bench/bank_subsets.py tabulates the same subsets from one loaded run (restoring the bank between them).
    spec = importlib.util.spec_from_file_location("bank_subsets", ROOT / "bench" / "bank_subsets.py")
    subsets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(subsets)
    with contextlib.redirect_stdout(io.StringIO()):
        subsets.main([str(dense), "--newest", "1", "2", "--stride", "1", "2", "--out", str(dense / "t.json")])
    rows = json.loads((dense / "t.json").read_text())["rows"]
    assert [(r["stride"], r["newest"], r["iterations"]) for r in rows] == [
        (1, 1, [4]),
        (1, 2, [3, 4]),
        (2, 1, [4]),
        (2, 2, [2, 4]),
    ]
    trained = json.loads((coarse / "results.json").read_text())["metrics"]
    _close(rows[3]["metrics"], trained, ("coverage/modes", "coverage/high_quality", "coverage/reverse_kl"))
