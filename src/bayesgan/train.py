"""``bayesgan-train``: the only module that knows Hydra; builds typed objects and hands them to Lightning."""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch import Callback, Trainer, seed_everything
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf, open_dict

from bayesgan import config
from bayesgan.config import ConfigError
from bayesgan.module import BayesGAN

config.register()

# Lightning notices that do not apply here: checkpoints should hold the post-update state; loss rows are
# logged per iteration by the module itself; pytree's deprecation is internal to Lightning.
for _pattern in (
    "Using ModelCheckpoint with manual optimization",
    "The number of training batches",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
):
    warnings.filterwarnings("ignore", message=_pattern)


def compose_config(overrides: Sequence[str], output_dir: Path) -> DictConfig:
    """The config ``bayesgan-train <overrides>`` would run with, for use outside a Hydra job (tests, scripts):
    ``hydra:`` interpolations and results' ``choices`` resolve as in a job writing to ``output_dir``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def build(cfg: DictConfig, output_dir: Path) -> tuple[Trainer, BayesGAN, Any]:
    """Instantiate data, model, sampler, loggers, callbacks and trainer; raises on any bad value."""
    config.check_values(cfg)
    _refuse_relaunching_ddp_in_multirun(cfg)
    _restore_master_port()
    seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.dataset, seed=cfg.seed)
    datamodule.prepare_data()
    datamodule.setup("fit")
    module = BayesGAN(
        instantiate(cfg.model),
        instantiate(cfg.sampler),
        data_shape=datamodule.data_shape,
        num_data=datamodule.num_train,
        batch_size=datamodule.batch_size,
        num_classes=datamodule.num_classes if datamodule.semi_supervised else None,
        num_labelled=datamodule.n_labels,
        z_prior=cfg.z_prior.value,
        seed=cfg.seed,
    )
    module.configure_optimizers()  # sampler hyperparameters are checked now, not after the trainer starts
    loggers = [instantiate(cfg.logger)] if cfg.logger else []
    callbacks: list[Callback] = [instantiate(c) for c in (cfg.callbacks or {}).values() if c]
    trainer = instantiate(
        cfg.trainer,
        max_steps=2 * cfg.iterations,  # Lightning counts the D and the G step
        logger=loggers or False,
        callbacks=callbacks,
        default_root_dir=str(output_dir),
    )
    return trainer, module, datamodule


def run(cfg: DictConfig, output_dir: Path | None = None) -> dict[str, Any]:
    """Train one configuration; returns (and writes to ``results.json``) its final metrics."""
    output_dir = Path(output_dir or HydraConfig.get().runtime.output_dir)
    try:
        trainer, module, datamodule = build(cfg, output_dir)
    except (ConfigError, InstantiationException, ValueError, TypeError, FileNotFoundError) as error:
        print(f"bayesgan-train: configuration error: {config.describe(error)}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        for logger in trainer.loggers:
            logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
        trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    finally:
        _finish_wandb_run()
    results = _results(cfg, trainer, module)
    if trainer.is_global_zero:
        (output_dir / "results.json").write_text(json.dumps(results, indent=2))
        _print_summary(output_dir, trainer, results)
    return results


def _results(cfg: DictConfig, trainer: Trainer, module: BayesGAN) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for callback in trainer.callbacks:
        metrics.update(getattr(callback, "latest", {}) or {})
    metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("loss/")})
    return {
        "experiment": cfg.experiment_name,
        "choices": _choices(),
        "seed": cfg.seed,
        "iterations": module.iteration,
        "bank_size": len(module.bank),
        "diverged_at": module.diverged_at,
        "metrics": metrics,
    }


def _choices() -> dict[str, str]:
    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    return {
        group: str(choices[group]) for group in ("dataset", "model", "sampler", "trainer") if group in choices
    }


def _print_summary(output_dir: Path, trainer: Trainer, results: dict[str, Any]) -> None:
    lines = [f"Run directory: {output_dir}"]
    checkpoint = trainer.checkpoint_callback
    if checkpoint is not None and checkpoint.last_model_path:
        lines.append(f"Checkpoint:    {checkpoint.last_model_path}")
    for callback in trainer.callbacks:
        if getattr(callback, "last_path", None):
            lines.append(f"Samples:       {callback.last_path}")
    lines.append(f"Metrics:       {output_dir / 'results.json'}")
    metrics = results["metrics"]
    if results["diverged_at"] is not None:
        lines.append(
            f"DIVERGED at iteration {results['diverged_at']} (non-finite loss): metrics below are NaN."
        )
    if "test/bma_accuracy" in metrics:
        lines.append(
            f"Final test accuracy (Bayesian model average): {metrics['test/bma_accuracy']:.4f}"
            f"   (mean per posterior sample: {metrics.get('test/member_accuracy', float('nan')):.4f})"
        )
    if "coverage/modes" in metrics:
        lines.append(
            f"Modes captured: {metrics['coverage/modes']:.0f}   "
            f"high quality: {metrics['coverage/high_quality']:.1f}%"
        )
        if "null/modes" in metrics:  # what a structureless reference scores, so the line reads honestly
            null_modes, null_hq = metrics["null/modes"], metrics["null/high_quality"]
            lines.append(f"Null (structureless): {null_modes:.0f} modes, {null_hq:.1f}%")
    rank_zero_info("\n".join(lines))


def _refuse_relaunching_ddp_in_multirun(cfg: DictConfig) -> None:
    # Lightning's subprocess DDP launcher re-executes sys.argv; inside a local multirun that re-launches the
    # whole sweep from every rank (Lightning#11300).
    strategy = str(cfg.trainer.get("strategy", ""))
    if (
        not HydraConfig.initialized()
        or not strategy.startswith("ddp")
        or "spawn" in strategy
        or "fork" in strategy
    ):
        return
    hydra_cfg = HydraConfig.get()
    launcher = str(hydra_cfg.launcher.get("_target_", ""))
    if hydra_cfg.mode == RunMode.MULTIRUN and "submitit" not in launcher:
        raise ConfigError(
            f"trainer.strategy={strategy} re-launches the script and breaks a local multirun: "
            "use trainer=ddp_spawn, or hydra/launcher=slurm"
        )


_USER_MASTER_PORT = os.environ.get("MASTER_PORT")


def _restore_master_port() -> None:
    # Lightning's spawn launcher sets MASTER_PORT in this process and leaves it set. The next trainer
    # built here (a multirun job, a test) would reuse a port whose store may still be closing, and gloo
    # aborts the workers. Only a port the user chose survives between jobs.
    if _USER_MASTER_PORT is None:
        os.environ.pop("MASTER_PORT", None)
    else:
        os.environ["MASTER_PORT"] = _USER_MASTER_PORT


def _finish_wandb_run() -> None:
    # WandbLogger reuses an existing wandb.run and never finishes it, so without this every job of a
    # multirun would log into the first job's run.
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()


# The configs live in the repository's top-level conf/ (an editable install, as `make` does, keeps it there);
# BAYESGAN_CONFIG_DIR points elsewhere.
CONFIG_DIR = os.environ.get("BAYESGAN_CONFIG_DIR", str(Path(__file__).resolve().parents[2] / "conf"))


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    results = run(cfg)
    return results["metrics"].get("test/bma_accuracy")  # the value sweepers optimise


if __name__ == "__main__":
    main()
