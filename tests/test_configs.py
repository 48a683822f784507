"""Every YAML in every config group composes and instantiates; bad values fail with one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import get_class, instantiate

from bayesgan.train import run

CONF = Path(__file__).resolve().parents[1] / "conf"


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_groups_are_not_empty() -> None:
    for group in ("dataset", "model", "sampler", "trainer", "logger", "callbacks", "experiment"):
        assert _options(group), group


@pytest.mark.parametrize("name", _options("dataset"))
def test_dataset_configs_instantiate(make_config, name: str) -> None:
    cfg = make_config(f"dataset={name}", tiny=False)
    datamodule = instantiate(cfg.dataset, seed=0)
    if name in ("ring", "grid", "synthetic", "digits"):  # the ones that need no files
        datamodule.setup("fit")
        assert datamodule.num_train > 0


@pytest.mark.parametrize("name", _options("model"))
def test_model_configs_build_networks(make_config, name: str) -> None:
    cfg = make_config(f"model={name}", tiny=False)
    architecture = instantiate(cfg.model)
    shape = (1, 8, 8) if "dcgan" in name else (2,)
    generator = architecture.build_generator(shape)
    discriminator = architecture.build_discriminator(shape, 3)
    fake = generator(torch.rand(4, architecture.z_dim) * 2 - 1)
    assert fake.shape == (4, *shape)
    assert discriminator(fake).shape == (4, 3)


@pytest.mark.parametrize("name", _options("sampler"))
def test_sampler_configs_build_optimizers(make_config, name: str) -> None:
    spec = instantiate(make_config(f"sampler={name}", tiny=False).sampler)
    assert spec.name == name
    param = torch.nn.Parameter(torch.zeros(3, 4))
    param.grad = torch.ones(3, 4)
    optimizer = spec.optimizer([param], num_data=100, batch_size=10)
    assert isinstance(optimizer, torch.optim.Optimizer)
    optimizer.step()
    assert param.abs().sum() > 0


@pytest.mark.parametrize("name", _options("trainer"))
def test_trainer_configs_compose(make_config, name: str) -> None:
    cfg = make_config(f"trainer={name}", tiny=False)
    assert get_class(cfg.trainer._target_)
    if cfg.trainer.accelerator != "gpu":  # GPU trainers cannot be built on a CPU-only machine
        instantiate(cfg.trainer, accelerator="cpu", logger=False)


@pytest.mark.parametrize("name", _options("logger"))
def test_logger_configs_instantiate(make_config, name: str) -> None:
    cfg = make_config(f"logger={name}", tiny=False)
    if cfg.logger:
        assert instantiate(cfg.logger).name is not None


@pytest.mark.parametrize("name", _options("callbacks"))
def test_callback_configs_instantiate(make_config, name: str) -> None:
    cfg = make_config(f"callbacks={name}", tiny=False)
    assert all(instantiate(c) is not None for c in cfg.callbacks.values())


@pytest.mark.parametrize("name", _options("experiment"))
def test_experiment_configs_compose(make_config, name: str) -> None:
    cfg = make_config(f"experiment={name}", tiny=False)
    instantiate(cfg.model)
    instantiate(cfg.sampler)
    instantiate(cfg.dataset, seed=0)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("sampler.optimizer.lr=-0.1", "lr"),
        ("posterior.J_g=0", "J_g"),
        ("iterations=0", "iterations"),
        ("dataset.num_samples=-5", "num_samples"),
        ("dataset.batch_size=0", "batch_size"),
    ],
)
def test_bad_values_fail_before_training_with_one_line(
    make_config, tmp_path, capsys, override, expected
) -> None:
    cfg = make_config(override)
    with pytest.raises(SystemExit) as exit_info:
        run(cfg, output_dir=tmp_path)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert expected in err
    assert not (tmp_path / "checkpoints").exists()
