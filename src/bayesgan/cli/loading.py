"""A trained run back from its checkpoint: the module rebuilt from the run's saved config, its state loaded
with the safe loader, the datamodule and the configured callbacks ready for evaluation. No training."""

from __future__ import annotations

import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NoReturn

from omegaconf import OmegaConf, open_dict

from bayesgan import cli_errors, resume
from bayesgan.bank import BANK_DIR
from bayesgan.checkpointing import CheckpointError, load_checkpoint
from bayesgan.config import ConfigError, TrainSchema
from bayesgan.module import BayesGAN

EXIT_REFUSED = cli_errors.EXIT_REFUSED


@dataclass
class LoadedRun:
    checkpoint: Path
    run_dir: Path | None
    module: BayesGAN
    datamodule: Any
    config: dict[str, Any] = field(default_factory=dict)

    def context(self) -> SimpleNamespace:
        """What the evaluation callbacks read from a Trainer, for one process and no loggers."""
        return SimpleNamespace(
            datamodule=self.datamodule, world_size=1, global_rank=0, is_global_zero=True, loggers=[]
        )


def refuse(prog: str, message: str) -> NoReturn:
    print(f"{prog}: error: {cli_errors.one_line(message)}", file=sys.stderr)
    raise SystemExit(EXIT_REFUSED)


def checkpoint_path(target: str | Path) -> Path:
    """A run directory means its ``checkpoints/last.ckpt``; a file is used as given."""
    path = Path(target).expanduser()
    if path.is_dir() and (path / "checkpoints").is_dir():
        return path / "checkpoints" / "last.ckpt"
    return path


def load_run(target: str | Path, prog: str) -> LoadedRun:
    """Rebuild the run at ``target`` (a run directory or a checkpoint); bad input is one line, exit 2."""
    from bayesgan import train  # Hydra/Lightning import cost only once the argument parsed

    checkpoint = checkpoint_path(target)
    if not checkpoint.exists():
        has_dir = Path(target).expanduser().is_dir()
        refuse(
            prog,
            f"{target}: no {checkpoint} in this run directory; give one of its checkpoint files"
            if has_dir
            else f"{target}: no such run directory or checkpoint file",
        )
    try:
        info = resume.read(checkpoint)
        state = load_checkpoint(checkpoint)
    except CheckpointError as error:
        refuse(prog, str(error))
    if info.config is None:
        refuse(prog, f"{checkpoint}: holds no saved configuration (written by an older bayesgan)")
    try:  # typed as bayesgan-train types it (z_prior an enum, ...)
        cfg = OmegaConf.merge(OmegaConf.structured(TrainSchema), info.config)
    except Exception as error:  # OmegaConf's validation errors have no common public base
        refuse(
            prog, f"{checkpoint}: its saved configuration does not validate ({cli_errors.one_line(error)})"
        )
    with open_dict(cfg):
        cfg.logger = None  # evaluation logs nowhere and starts no W&B run
        cfg.ckpt_path = None
        # One process on this machine's CPU, wherever the run trained (a GPU or DDP run included).
        for key, value in {"accelerator": "cpu", "devices": 1, "num_nodes": 1, "strategy": "auto"}.items():
            cfg.trainer[key] = value
    try:
        # The Trainer is never fitted (nothing is written); config warnings were shown at training time.
        with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, module, datamodule = train.build(cfg, Path(scratch))
    except (ConfigError, ValueError, TypeError, OSError) as error:
        refuse(prog, f"{checkpoint}: cannot rebuild the run from its saved configuration ({error})")
    bank = getattr(module, "bank", None)
    if info.run_dir is not None and getattr(bank, "storage", None) == "disk":
        bank.attach(info.run_dir / BANK_DIR)  # snapshots on disk: where the run directory is now
    try:
        module.load_state_dict(state["state_dict"])
        module.on_load_checkpoint(state)
    except FileNotFoundError as error:  # a disk bank's snapshot file
        refuse(prog, f"{checkpoint}: {error}")
    except (RuntimeError, KeyError) as error:
        why = cli_errors.one_line(error)[:200]
        refuse(prog, f"{checkpoint}: its weights do not fit its saved configuration ({why})")
    # Left in training mode, as the callbacks saw it at the end of fit (batch norm normalises per batch).
    return LoadedRun(checkpoint, info.run_dir, module, datamodule, info.config)
