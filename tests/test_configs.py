"""Every YAML in every config group composes and instantiates; bad values fail with one line."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from bayesgan import config
from bayesgan.train import build, run

CONF = Path(__file__).resolve().parents[1] / "src" / "bayesgan" / "conf"


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
def test_model_configs_build_networks(make_config, tmp_path: Path, name: str) -> None:
    cfg = make_config(f"model={name}", tiny=False)
    if cfg.method._target_ != "bayesgan.module.BayesGAN":  # a family with its own networks (model=vae, ...)
        data = ["dataset=digits", "dataset.batch_size=8"] if "mlp" not in name else []
        _, module, _ = build(make_config(f"model={name}", "z_prior=normal", *data), tmp_path)
        assert module.generate(4).shape == (1, 4, *module.data_shape)
        return
    architecture = instantiate(cfg.model)
    shape = (1, 8, 8) if "dcgan" in name else (2,)
    generator = architecture.build_generator(shape)
    discriminator = architecture.build_discriminator(shape, 3)
    fake = generator(torch.rand(4, architecture.z_dim) * 2 - 1)
    assert fake.shape == (4, *shape)
    assert discriminator(fake).shape == (4, 3)


def _first_step(name: str, opt: dict) -> float:
    """By hand: the first step of each sampler from θ = 0 on a per-observation gradient of 1 (∇U = W)."""
    if name in ("ml", "authors_recipe") or opt["_target_"].endswith("MLAdam"):  # also dcgan10, supervised
        return -opt["lr"]  # Adam's first step is −lr·g/|g| (authors: lr_0 = lr; prior 0, noise ~1e-5)
    if name in ("sghmc", "probgan"):  # probgan: SGHMC on ProbGAN's potentials
        return -opt["lr_per_datum"]  # v = −η·∇U = −(lr_per_datum/W)·W
    return -opt["lr_per_datum"] / 2  # SGLD: −(η/2)·∇U; pSGLD the same with G = 1/(λ + 1) ≈ 1 at step 1


@pytest.mark.parametrize("name", _options("sampler"))
def test_sampler_configs_build_optimizers(make_config, name: str) -> None:
    cfg = make_config(f"sampler={name}", tiny=False)
    spec = instantiate(cfg.sampler)
    assert spec.name == name
    param = torch.nn.Parameter(torch.zeros(100, 1000))
    param.grad = torch.ones(100, 1000)
    optimizer = spec.optimizer([param], num_data=100, batch_size=10)
    assert isinstance(optimizer, torch.optim.Optimizer)
    optimizer.step()
    # The mean over 1e5 weights averages the injected noise away (SE ≤ 0.6 % of the step).
    expected = _first_step(name, cfg.sampler.optimizer)
    assert param.detach().mean().item() == pytest.approx(expected, rel=0.05)


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


EXPERIMENTS = {
    "compare_samplers": {"experiment_name": "compare_samplers", "sampler.name": "sghmc"},
    "digits_semi": {
        "experiment_name": "digits_semi", "dataset._target_": "bayesgan.data.DigitsDataModule",
        "dataset.n_labels": 50, "model.width": 32, "sampler.name": "sghmc",
    },
    "grid_pacgan": {
        "experiment_name": "grid_pacgan", "dataset._target_": "bayesgan.data.GridDataModule",
        "model._target_": "bayesgan.models.PacGANToy", "iterations": 15000, "sampler.name": "sghmc",
        "sampler.J_g": 2, "sampler.J_d": 1, "sampler.M": 2, "sampler.burn_in": 7500, "sampler.thin": 750,
    },
    "mnist_semi": {
        "experiment_name": "mnist_semi", "dataset._target_": "bayesgan.data.idx.MnistDataModule",
        "dataset.n_labels": 100, "model.width": 64, "iterations": 30000, "trainer.accelerator": "gpu",
        "sampler.J_g": 10, "sampler.J_d": 1, "sampler.M": 2, "sampler.burn_in": 5000, "sampler.thin": 5000,
        "sampler.bank_size": 5,
    },
    "ring": {
        "experiment_name": "ring", "dataset._target_": "bayesgan.data.RingDataModule", "model.hidden": 128,
        "iterations": 10000, "sampler.J_g": 10, "sampler.M": 1, "sampler.burn_in": 5000, "sampler.thin": 500,
    },
    "ring_pacgan": {
        "experiment_name": "ring_pacgan", "dataset._target_": "bayesgan.data.RingDataModule",
        "model._target_": "bayesgan.models.PacGANToy", "iterations": 15000, "sampler.name": "sghmc",
        "sampler.J_g": 2, "sampler.J_d": 1, "sampler.M": 2, "sampler.burn_in": 7500, "sampler.thin": 750,
    },
    "stacked_digits": {
        "experiment_name": "stacked_digits", "dataset._target_": "bayesgan.data.StackedDataModule",
        "dataset.base._target_": "bayesgan.data.DigitsDataModule", "dataset.n_labels": None,
        "callbacks.quality.num_samples": 26000, "sampler.name": "sghmc",
    },
    "stacked_mnist": {
        "experiment_name": "stacked_mnist", "dataset._target_": "bayesgan.data.StackedDataModule",
        "dataset.base._target_": "bayesgan.data.idx.MnistDataModule", "dataset.num_train": 128000,
        "callbacks.quality.num_samples": 26000, "model.width": 64, "trainer.accelerator": "gpu",
    },
    "synthetic": {
        "experiment_name": "synthetic", "dataset._target_": "bayesgan.data.SyntheticDataModule",
        "model.hidden": 1000, "model.z_dim": 10, "iterations": 1000, "sampler.J_g": 10, "sampler.M": 1,
    },
    # Table 1 presets (multiruns over row=... x dataset.n_labels; tests/test_table1.py checks their sweeps).
    "table1_digits": {
        "experiment_name": "table1_digits", "dataset._target_": "bayesgan.data.DigitsDataModule",
        "model.width": 16, "iterations": 500, "sampler.J_g": 2, "sampler.M": 2, "callbacks.samples": None,
    },
    "table1_paper": {
        "experiment_name": "table1_paper", "model.width": 64, "iterations": 30000, "sampler.J_g": 10,
        "sampler.M": 2, "trainer.accelerator": "gpu", "callbacks.quality": None,
    },
    "table1_mnist": {
        "experiment_name": "table1_mnist", "dataset._target_": "bayesgan.data.idx.MnistDataModule",
        "model.width": 64, "iterations": 30000, "sampler.J_g": 10, "trainer.accelerator": "gpu",
    },
    "table1_cifar10": {
        "experiment_name": "table1_cifar10", "dataset._target_": "bayesgan.data.cifar.Cifar10DataModule",
        "model.width": 64, "iterations": 30000, "sampler.J_g": 10, "trainer.accelerator": "gpu",
    },
    "table1_svhn": {
        "experiment_name": "table1_svhn", "dataset._target_": "bayesgan.data.svhn.SvhnDataModule",
        "model.width": 64, "iterations": 30000, "sampler.J_g": 10, "trainer.accelerator": "gpu",
    },
    "table1_celeba": {
        "experiment_name": "table1_celeba", "dataset._target_": "bayesgan.data.celeba.CelebADataModule",
        "model.width": 64, "iterations": 30000, "sampler.J_g": 10, "trainer.accelerator": "gpu",
    },
}  # fmt: skip


def test_every_experiment_is_checked() -> None:
    assert sorted(EXPERIMENTS) == _options("experiment")


@pytest.mark.parametrize("name", _options("experiment"))
def test_experiment_configs_compose(make_config, name: str) -> None:
    cfg = make_config(f"experiment={name}", tiny=False)
    for key, value in EXPERIMENTS[name].items():
        assert OmegaConf.select(cfg, key) == value, key
    spec = instantiate(cfg.sampler)
    assert (spec.J_g, spec.M) == (cfg.posterior.J_g, cfg.posterior.M)
    instantiate(cfg.model)
    instantiate(cfg.dataset, seed=0)


def test_compare_samplers_declares_its_sweep() -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=compare_samplers"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    assert cfg.hydra.sweeper.params == {"sampler": "sghmc,sgld,ml", "seed": "0,1,2"}


@pytest.mark.parametrize(("dataset", "switch"), [("dataset=ring", None), ("dataset=digits", 5000)])
def test_authors_recipe_switches_to_momentum_only_when_semi_supervised(make_config, dataset, switch) -> None:
    # The released code: Adam then momentum from iteration 5000 in semi-supervised runs; its unsupervised
    # script stays on Adam throughout.
    optimizer = instantiate(make_config("sampler=authors_recipe", dataset, tiny=False).sampler).optimizer
    param = torch.nn.Parameter(torch.zeros(2))
    assert optimizer([param], num_data=10, batch_size=2).param_groups[0]["momentum_after"] == switch


@pytest.mark.parametrize(
    ("overrides", "warns"),
    [
        ([], False),  # the default: (1500 − 500)/100 = 10 snapshots, bank_size 10
        (["experiment=mnist_semi"], False),
        (["experiment=ring"], False),
        (["posterior.burn_in=100"], True),  # 14 snapshots, only the last 10 kept
        (["posterior.thin=50"], True),
        (["posterior.burn_in=100", "posterior.bank_size=14"], False),
        (["posterior.burn_in=100", "sampler=ml"], False),  # no bank
    ],
)
def test_bank_warns_when_burn_in_has_no_effect(make_config, overrides: list[str], warns: bool) -> None:
    cfg = make_config(*overrides, tiny=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config.check_values(cfg)
    messages = [str(w.message) for w in caught if "posterior.burn_in" in str(w.message)]
    assert len(messages) == int(warns), messages
    if warns:
        assert "posterior.bank_size" in messages[0] and "posterior.thin" in messages[0]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("sampler.optimizer.lr=-0.1", "lr"),
        ("posterior.J_g=0", "posterior.J_g"),
        ("posterior.fake_observations=0", "posterior.fake_observations"),
        ("posterior.generator_observations=-3", "posterior.generator_observations"),
        ("posterior.labelled_observations=0", "posterior.labelled_observations"),
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


@pytest.mark.parametrize(
    ("name", "toy"), [("ring_pacgan", "RingDataModule"), ("grid_pacgan", "GridDataModule")]
)
def test_pacgan_presets_follow_the_protocol_per_sampler(make_config, name: str, toy: str) -> None:
    """metrics-and-protocols.md §1.1: 100k points, batch 100, N(0, I_2) latent, PacGAN's networks;
    sampler=ml is Adam(1e-4, beta1 0.8); the Bayesian samplers run on the same data and networks."""
    ml = make_config(f"experiment={name}", "sampler=ml", tiny=False)
    assert ml.dataset._target_.endswith(toy) and ml.model._target_ == "bayesgan.models.PacGANToy"
    assert (ml.dataset.num_samples, ml.dataset.batch_size, ml.z_prior.value) == (100_000, 100, "normal")
    adam = instantiate(ml.sampler).optimizer([torch.nn.Parameter(torch.zeros(1))], num_data=1, batch_size=1)
    assert adam.defaults["lr"] == 1e-4 and tuple(adam.defaults["betas"]) == (0.8, 0.999)
    for sampler in ("sghmc", "sgld"):
        cfg = make_config(f"experiment={name}", f"sampler={sampler}", tiny=False)
        spec = instantiate(cfg.sampler)  # Adam's settings must not leak into the other samplers
        assert (spec.name, spec.J_g, spec.J_d, spec.M) == (sampler, 2, 1, 2)
        assert cfg.model == ml.model and cfg.dataset == ml.dataset and cfg.iterations == ml.iterations


def test_digits_tuning_reaches_its_samplers_under_the_experiment_and_an_override_wins(make_config) -> None:
    """conf/tuning/digits_semi-{sghmc,sgld,psgld,ml}.yaml (the searches' cold posteriors, their step sizes)
    apply to their sampler under experiment=digits_semi, at 20 labels too; not without the experiment; a
    command line wins."""
    for sampler, lr_per_datum in (("sghmc", 1e-1), ("sgld", 3e-1), ("psgld", 3e-3)):  # the tuning files
        tuned = make_config("experiment=digits_semi", f"sampler={sampler}", "dataset.n_labels=20", tiny=False)
        optimizer = tuned.sampler.optimizer
        assert (optimizer.temperature, optimizer.lr_per_datum) == (0.01, lr_per_datum)
    for overrides in (["sampler=psgld"], ["sampler=sghmc"], ["sampler=sgld"]):
        assert make_config(*overrides, tiny=False).sampler.optimizer.temperature == 1.0
    explicit = ("experiment=digits_semi", "sampler=sghmc", "sampler.optimizer.temperature=1")
    assert make_config(*explicit, tiny=False).sampler.optimizer.temperature == 1.0
    # The ML-GAN baseline got the same validation search: Adam 6e-4 under the experiment, 2e-4 elsewhere.
    assert make_config("experiment=digits_semi", "sampler=ml", tiny=False).sampler.optimizer.lr == 6e-4
    assert make_config("sampler=ml", tiny=False).sampler.optimizer.lr == 2e-4


@pytest.mark.parametrize("name", ["ring_pacgan", "grid_pacgan"])
def test_toy_tuning_applies_under_its_experiment_and_sampler_only(make_config, name: str) -> None:
    """conf/tuning/{ring,grid}_pacgan-{psgld,sghmc,sgld}.yaml: the ring searches' choices (psgld: T 0.01 and
    lr_per_datum 2e-4, the protocol Adam's 1e-4 step) on their rows of both toy presets and nowhere else."""
    tuned = make_config(f"experiment={name}", "sampler=psgld", tiny=False).sampler.optimizer
    assert (tuned.temperature, tuned.lr_per_datum) == (0.01, 2e-4)
    untuned = make_config("sampler=psgld", tiny=False).sampler.optimizer
    assert (untuned.temperature, untuned.lr_per_datum) == (1.0, 1e-3)
    sghmc = make_config(f"experiment={name}", "sampler=sghmc", tiny=False).sampler.optimizer
    assert (sghmc.temperature, sghmc.lr_per_datum) == (0.01, 1e-2)  # its own search's choice
    sgld = make_config(f"experiment={name}", "sampler=sgld", tiny=False).sampler.optimizer
    assert (sgld.temperature, sgld.lr_per_datum) == (0.01, 0.3)  # search ring_sgld's choice
    assert make_config("sampler=sgld", tiny=False).sampler.optimizer.temperature == 1.0  # elsewhere untuned


def test_experiment_tuning_callbacks_combines_with_callbacks_none(make_config, tmp_path: Path) -> None:
    """experiment=ring sets callbacks.samples/coverage intervals; with callbacks=none those entries have no
    _target_ and must not be built (they used to fail instantiation)."""
    cfg = make_config("experiment=ring", "callbacks=none", "iterations=2", "posterior.J_g=2")
    assert "_target_" not in cfg.callbacks.samples  # the premise: a partial entry from the experiment
    trainer, _, _ = build(cfg, tmp_path)
    from pytorch_lightning import Callback

    assert all(isinstance(c, Callback) for c in trainer.callbacks)  # no config left as a "callback"
    assert not any(type(c).__name__ == "SampleGrid" for c in trainer.callbacks)
