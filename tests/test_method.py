"""The `method` group chooses the LightningModule; user code written against pytorch_lightning plugs in."""

from __future__ import annotations

import ast
from pathlib import Path

import pytorch_lightning as pl

from bayesgan.module import BayesGAN
from bayesgan.protocol import COMMON_ARGUMENTS, GenerativeMethod
from bayesgan.train import build, run
from user_extensions import CountingCallback, RecordingBayesGAN

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "bayesgan"


def test_default_method_is_the_bayesian_gan_and_honours_the_protocol(make_config, tmp_path) -> None:
    _, module, _ = build(make_config(), tmp_path)
    assert type(module) is BayesGAN
    assert isinstance(module, GenerativeMethod)


def test_method_target_is_the_module_built_with_the_common_arguments(make_config, tmp_path) -> None:
    cfg = make_config("method._target_=user_extensions.RecordingBayesGAN")
    _, module, _ = build(cfg, tmp_path)
    assert isinstance(module, RecordingBayesGAN)
    # ... plus what the method's own config adds: conf/method/bayesgan.yaml passes the `objective` group.
    assert module.build_kwargs == sorted([*COMMON_ARGUMENTS, "objective"])


def test_a_user_callback_written_against_pytorch_lightning_runs_in_the_trainer(make_config, tmp_path) -> None:
    CountingCallback.calls = 0
    cfg = make_config("+callbacks.counting._target_=user_extensions.CountingCallback")
    results = run(cfg, output_dir=tmp_path)
    assert results["iterations"] == 4
    assert CountingCallback.calls == 4  # one training batch per iteration


def test_the_package_imports_pytorch_lightning_not_the_lightning_namespace() -> None:
    # Mixing `lightning.pytorch` objects with a user's `pytorch_lightning` ones fails Lightning's type checks.
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "lightning"]
    assert not offenders
    assert pl.Trainer.__module__.startswith("pytorch_lightning")
