"""``bayesgan-train``: the only module that knows Hydra's runtime; builds typed objects for Lightning.

A run is: compose the config (Hydra), refuse what cannot run in one line (:mod:`bayesgan.preflight`),
build the data, the method and the trainer (:func:`build`), fit, and report (``results.json``, written by
the training process itself: :mod:`bayesgan.run_record`, :mod:`bayesgan.results`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning import Callback, LightningModule, Trainer, seed_everything
from pytorch_lightning.callbacks import ProgressBar
from pytorch_lightning.loggers import WandbLogger

from bayesgan import cli_errors, config, console, loggers, naming, preflight, results_file, resume, run_record
from bayesgan.allocator import keep_freed_memory
from bayesgan.callbacks import RunRecord, SaveOnInterrupt
from bayesgan.callbacks.checkpoint import parent_ignores_sigint
from bayesgan.checkpointing import CheckpointError, SafeCheckpointIO
from bayesgan.config import ConfigError
from bayesgan.history import MetricHistory
from bayesgan.protocol import RunSpec

config.register()
naming.register()
console.quiet()


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


def build(
    cfg: DictConfig, output_dir: Path, record: RunRecord | None = None
) -> tuple[Trainer, LightningModule, Any]:
    """Instantiate data, model, sampler, loggers, callbacks and trainer; raises on any bad value.

    Always installed: atomic, finite-only checkpoint writes and safe loads (``SafeCheckpointIO``), Ctrl-C at
    an iteration boundary (``SaveOnInterrupt``) and the run record (a default one unless ``record``)."""
    world_size = preflight.check_config(cfg, _multirun_launcher())
    _restore_master_port()
    seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = preflight.prepare_data(instantiate(cfg.dataset, seed=cfg.seed), world_size)
    preflight.check_objective(cfg)
    method = instantiate(cfg.method)
    preflight.check_sampler(method, _typed_overrides())  # a sampler the method would ignore is refused
    preflight.check_schedule(method, cfg)
    run_spec = RunSpec(
        data_shape=datamodule.data_shape,
        num_data=datamodule.num_train,
        batch_size=datamodule.batch_size,
        num_classes=datamodule.num_classes if datamodule.semi_supervised else None,
        num_labelled=datamodule.n_labels,
        z_prior=cfg.z_prior.value,
        seed=cfg.seed,
        divergence_loss=cfg.divergence_loss,
    )
    module = method(architecture=instantiate(cfg.model), posterior=instantiate(cfg.sampler), run=run_spec)
    preflight.check_optimizers(module)
    return _trainer(cfg, output_dir, module, record or _record(cfg, output_dir)), module, datamodule


def _trainer(cfg: DictConfig, output_dir: Path, module: LightningModule, record: RunRecord) -> Trainer:
    loggers = [instantiate(cfg.logger)] if cfg.logger else []
    if any(isinstance(logger, WandbLogger) for logger in loggers):
        # Spawned DDP ranks attach to the run without its directory: they would write media to ./wandb.
        os.environ["WANDB_DIR"] = str(output_dir)
    # An experiment may tune a callback (e.g. its interval) that the chosen callbacks set does not have
    # (callbacks=none): such an entry has no _target_ and is not a callback of this run.
    steps = getattr(module, "optimizer_steps_per_iteration", 2)  # Lightning counts optimizer steps
    callbacks: list[Callback] = [
        _callback(c, steps * cfg.checkpoint_every if steps != 2 else None)
        for c in (cfg.callbacks or {}).values()
        if c and c.get("_target_") is not None
    ]
    callbacks += [SaveOnInterrupt(output_dir / "checkpoints"), record]
    if not cfg.trainer.get("enable_progress_bar", True):  # Lightning refuses a bar it was told not to show
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    return instantiate(
        cfg.trainer,
        max_steps=steps * cfg.iterations,  # Lightning counts optimizer steps (BayesGAN: the D and the G step)
        # Last, so that trainer.log_dir still follows the configured logger: curves for bayesgan-report.
        logger=[*loggers, MetricHistory(output_dir, run_record.resumed_at(record))],
        callbacks=callbacks,
        default_root_dir=str(output_dir),
        plugins=[SafeCheckpointIO()],
    )


def _callback(node: DictConfig, checkpoint_steps: int | None) -> Callback:
    # The checkpoint period is configured as 2 optimizer steps per iteration; a method that makes another
    # number of steps per iteration still checkpoints every `checkpoint_every` iterations.
    if checkpoint_steps is not None and node.get("every_n_train_steps") is not None:
        return instantiate(node, every_n_train_steps=checkpoint_steps)
    return instantiate(node)


def _record(cfg: DictConfig, output_dir: Path, info: resume.ResumeInfo | None = None) -> RunRecord:
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else None
    return run_record.run_record(cfg, output_dir, _typed_overrides(), choices, info)


def _typed_overrides() -> list[str]:
    """The overrides typed on the command line (none outside a Hydra job)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _multirun_launcher() -> str | None:
    """The launcher's ``_target_`` in a Hydra multirun, else None."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return str(HydraConfig.get().launcher.get("_target_", ""))


def run(cfg: DictConfig, output_dir: Path | None = None) -> dict[str, Any]:
    """Train one configuration; returns (and writes to ``results.json``) its final metrics.

    A configuration refused before training exits with status 2 and one line on stderr; in a Hydra job
    (``output_dir`` None) the run directory Hydra created for it is removed again. With ``ckpt_path`` the
    checkpoint's run continues: its configuration is checked against this one (see :mod:`bayesgan.resume`),
    its W&B run id reused and the changes printed and recorded."""
    hydra_job = output_dir is None
    output_dir = Path(output_dir or HydraConfig.get().runtime.output_dir)
    console.quiet()  # again here: a joblib worker gets the task function, not this module's import
    if cfg.get("cpu_memory_cache", True):
        keep_freed_memory()  # before the first large tensor; see bayesgan.allocator
    try:
        record = _record(cfg, output_dir, run_record.read_checkpoint(cfg) if cfg.ckpt_path else None)
        trainer, module, datamodule = build(cfg, output_dir, record)
        loggers.start_loggers(trainer, cfg)
    except (ConfigError, InstantiationException, ValueError, TypeError, OSError) as error:
        _refuse(config.describe(error), output_dir if hydra_job and not cfg.ckpt_path else None)
    except loggers.logger_errors() as error:
        _refuse(
            f"logger: W&B could not start ({cli_errors.one_line(error)}); run `wandb login` or set "
            "WANDB_API_KEY, or log offline with logger.mode=offline",
            output_dir if hydra_job and not cfg.ckpt_path else None,
        )
    results_path = output_dir / "results.json"
    results_path.unlink(missing_ok=True)  # a resumed run's old results must not pass for this run's
    try:
        with parent_ignores_sigint(trainer):
            trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    except OSError as error:  # e.g. a full disk: checkpoints are written atomically, the last good one stays
        print(f"bayesgan-train: error: {' '.join(str(error).split())}", file=sys.stderr)
        raise SystemExit(1) from None
    except (RuntimeError, KeyError) as error:
        if not cfg.ckpt_path or record.started:
            raise
        # Only a checkpoint without a saved configuration gets this far with another configuration.
        first = " ".join(str(error).split())
        first = first if len(first) < 300 else first[:300] + "..."
        print(
            f"bayesgan-train: configuration error: ckpt_path={cfg.ckpt_path} does not fit this configuration "
            f"({type(error).__name__}: {first}); it holds no saved configuration (an older bayesgan), so "
            "repeat the original run's overrides with it",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    finally:
        loggers.finish_wandb_run()
    # Written by the training process itself (rank 0, a spawned worker included): read it back here.
    outcome = results_file.decode(results_path.read_text()) if results_path.exists() else {}
    if outcome.get("interrupted_at") is not None:
        raise SystemExit(130)  # the shell's code for Ctrl-C, after a clean stop and save
    return outcome


def _refuse(message: str, run_dir: Path | None) -> NoReturn:
    loggers.finish_wandb_run()
    if run_dir is not None:
        cli_errors.remove_refused_run_dir(run_dir, f"{HydraConfig.get().job.name}.log")
        cli_errors.remove_unused_sweep_dir()
    cli_errors.refuse(message)


_USER_MASTER_PORT = os.environ.get("MASTER_PORT")


def _restore_master_port() -> None:
    # Lightning's spawn launcher sets MASTER_PORT in this process and leaves it set. The next trainer
    # built here (a multirun job, a test) would reuse a port whose store may still be closing, and gloo
    # aborts the workers. Only a port the user chose survives between jobs.
    if _USER_MASTER_PORT is None:
        os.environ.pop("MASTER_PORT", None)
    else:
        os.environ["MASTER_PORT"] = _USER_MASTER_PORT


# The configs ship inside the package (bayesgan/conf), so an installed wheel finds them. BAYESGAN_CONFIG_DIR
# replaces them; `hydra.searchpath=[file://DIR]` layers a user's own config directory on top of them.
CONFIG_DIR = os.environ.get("BAYESGAN_CONFIG_DIR", str(Path(__file__).resolve().parent / "conf"))


_task_started = False  # whether Hydra got as far as calling the task (errors after that are not Hydra's)


def _check_resume_before_hydra(argv: list[str]) -> None:
    # A refused resume must fail before Hydra rewrites the run's .hydra/ files with the refused config.
    value = next((a.split("=", 1)[1] for a in reversed(argv) if a.startswith("ckpt_path=")), None)
    if value is None or {"-m", "--multirun"} & set(argv):
        return
    info = resume.read(value.strip("'\""))
    overrides = [a for a in argv if "=" in a and not a.startswith(("-", "hydra."))]
    if info.config is None or info.run_dir is None:
        return
    try:
        cfg = compose_config(overrides, info.run_dir)
    except Exception:  # a bad override: Hydra reports it in its own words next
        return
    finally:
        GlobalHydra.instance().clear()
    resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    resume.check(info, resolved, typed=[o for o in overrides if o not in info.overrides])


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    global _task_started
    _task_started = True
    results = run(cfg)
    return results.get("metrics", {}).get("test/bma_accuracy")  # the value sweepers optimise (rank 0)


def main() -> None:
    """``bayesgan-train``: Hydra's entry point, with its composition and run-directory errors as one line.
    ``ckpt_path=...`` alone continues that run: its saved overrides come first.

    HYDRA_FULL_ERROR makes Hydra raise instead of printing its multi-line report; a user who sets it
    themselves gets Hydra's full traceback, untouched."""
    global _task_started
    _task_started, cli_errors.sweep_dir = False, None
    try:
        sys.argv[1:] = resume.expand_argv(sys.argv[1:])
        _check_resume_before_hydra(sys.argv[1:])
    except (CheckpointError, ConfigError) as error:
        cli_errors.refuse(str(error))
    try:
        _run_hydra()
    except KeyboardInterrupt:  # Ctrl-C before training started (during training it stops at an iteration)
        print("bayesgan-train: interrupted before training started; nothing to save", file=sys.stderr)
        raise SystemExit(130) from None


def _run_hydra() -> None:
    if os.environ.get("HYDRA_FULL_ERROR"):
        _hydra_main()
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        _hydra_main()
    except Exception as error:
        message = None if _task_started else cli_errors.describe_hydra(error)
        if message is None and isinstance(error, OSError) and not _task_started:
            cli_errors.refuse(cli_errors.describe_os_error(error), kind="error")
        if message is None:
            raise
        cli_errors.remove_unused_sweep_dir()
        cli_errors.refuse(message)
    finally:
        os.environ.pop("HYDRA_FULL_ERROR", None)


if __name__ == "__main__":
    main()
