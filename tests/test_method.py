"""The `method` group chooses the LightningModule; user code written against pytorch_lightning plugs in."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest
import pytorch_lightning as pl

from bayesgan.models import MLP
from bayesgan.module import BayesGAN
from bayesgan.posterior import PosteriorSpec
from bayesgan.protocol import COMMON_ARGUMENTS, GenerativeMethod, RunSpec
from bayesgan.samplers import SGHMC
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


def test_build_gives_the_method_the_run_the_data_and_top_level_keys_fix(make_config, tmp_path) -> None:
    # ring: 256 points, all unlabelled training data; the values typed here must reach the method unchanged.
    cfg = make_config("seed=7", "z_prior=normal", "divergence_loss=250", "dataset.batch_size=16")
    _, module, datamodule = build(cfg, tmp_path)
    assert module.run == RunSpec(
        data_shape=(2,), num_data=256, batch_size=16, z_prior="normal", seed=7, divergence_loss=250.0
    )
    assert (module.seed, module.z_prior, module.divergence_loss) == (7, "normal", 250.0)
    assert module.observations.real == datamodule.num_train == 256  # N real terms in U_d


def test_a_method_takes_the_run_or_its_fields_as_keywords_but_not_both() -> None:
    spec = PosteriorSpec(optimizer=functools.partial(SGHMC, lr=1e-5), J_g=2, J_d=1, M=1)
    fields = {"data_shape": [2], "num_data": 100, "batch_size": 10, "seed": 3}
    assert BayesGAN(MLP(hidden=4), spec, **fields).run == BayesGAN(MLP(hidden=4), spec, RunSpec(**fields)).run
    assert RunSpec(**fields).data_shape == (2,)  # a list (or ListConfig) from a caller becomes a tuple
    with pytest.raises(TypeError, match=r"run= is given: unexpected keyword arguments \['seed'\]"):
        BayesGAN(MLP(hidden=4), spec, RunSpec(**fields), seed=4)
    with pytest.raises(TypeError, match=r"missing run fields \(RunSpec\): num_data, batch_size"):
        BayesGAN(MLP(hidden=4), spec, data_shape=(2,))  # the Bayesian GAN's W and step sizes need N and n
    with pytest.raises(ValueError, match="z_prior must be 'uniform' or 'normal', got 'cauchy'"):
        RunSpec(data_shape=(2,), z_prior="cauchy")


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
