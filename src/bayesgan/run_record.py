"""What a ``bayesgan-train`` run records about itself, fresh or resumed.

The :class:`~bayesgan.callbacks.RunRecord` (its resolved config, typed overrides and resume history, written
into every checkpoint) and the header of ``results.json`` (experiment, config-group choices, seed, label
count, planned iterations). Built from the composed config plus what only Hydra's runtime knows, which
``train.py`` passes in (the overrides typed on the command line, the group choices).
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Mapping
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from bayesgan import results, resume
from bayesgan.callbacks import RunRecord
from bayesgan.checkpointing import CheckpointError
from bayesgan.config import ConfigError
from bayesgan.protocol import accepted_samplers


def run_record(
    cfg: DictConfig,
    output_dir: Path,
    overrides: list[str],
    choices: Mapping[str, str | None] | None,
    info: resume.ResumeInfo | None = None,
) -> RunRecord:
    """The record of a fresh run, or (``info``) of a resumed one: its changes are checked, printed and added
    to the history. ``choices``: Hydra's config-group choices (None outside a Hydra job)."""
    resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    history = []
    if info is not None:
        changes = resume.check(info, resolved, typed=[o for o in overrides if o not in info.overrides])
        print(f"Resuming {info.checkpoint} at iteration {info.iteration} in {output_dir}", file=sys.stderr)
        for key, (old, new) in changes.items():
            print(f"  {key}: {old} -> {new} (applied)", file=sys.stderr)
        history = [
            *info.history,
            {"iteration": info.iteration, "checkpoint": str(info.checkpoint), "changes": changes},
        ]
    header = {
        "experiment": cfg.experiment_name,
        "choices": group_choices(cfg, choices) if choices is not None else {},
        "seed": cfg.seed,
        "n_labels": OmegaConf.select(cfg, "dataset.n_labels", default=None),  # the label count (Table 1)
        "planned_iterations": cfg.iterations,
        "resumed": history,
    }
    return RunRecord(
        config=resolved,
        overrides=[o for o in overrides if not o.startswith(("ckpt_path=", "hydra."))],
        run_dir=output_dir,
        history=history,
        finish=functools.partial(results.finish, header, output_dir),
    )


def resumed_at(record: RunRecord) -> int:
    """The iteration a resumed run continues from (its latest resume), 0 for a fresh run."""
    return int(record.info["history"][-1]["iteration"]) if record.info["history"] else 0


def read_checkpoint(cfg: DictConfig) -> resume.ResumeInfo:
    """What ``cfg.ckpt_path`` says about its run; its W&B run, if any, continues (``logger.id``)."""
    try:
        info = resume.read(cfg.ckpt_path)
    except CheckpointError as error:
        raise ConfigError(str(error)) from None
    if info.wandb_id and cfg.logger and str(cfg.logger.get("_target_", "")).endswith("WandbLogger"):
        with open_dict(cfg):
            cfg.logger.id = info.wandb_id  # the same W&B run continues
    return info


def group_choices(cfg: DictConfig, choices: Mapping[str, str | None]) -> dict[str, str]:
    """The config-group choices the report groups runs by."""
    found = {
        group: str(choices[group])
        for group in ("method", "dataset", "model", "sampler", "objective", "trainer", "row")
        if choices.get(group) is not None
    }
    method = choices.get("method")
    module_name, _, class_name = str(cfg.method._target_).rpartition(".")
    try:  # not hydra's get_class, which logs an ERROR of its own
        method_class = getattr(importlib.import_module(module_name), class_name)
        ignores_sampler = accepted_samplers(method_class) is not None
    except (ImportError, AttributeError, ValueError):  # an unimportable target: build says so in one line
        ignores_sampler = False
    if method and ignores_sampler:
        found["sampler"] = str(method)  # the sampler group is unused: report rows name the method (vae, ...)
    return found
