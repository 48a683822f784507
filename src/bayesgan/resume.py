"""``bayesgan-train ckpt_path=<run>/checkpoints/last.ckpt`` continues that run as users expect.

The checkpoint carries the run's resolved config, its command-line overrides, its directory and its W&B
run id (see :class:`bayesgan.callbacks.RunRecord`). Resuming composes the saved overrides plus the new
ones, in the same run directory, logging to the same W&B run. A new override either applies (the keys in
:data:`CHANGEABLE`: how long to train, how to log and checkpoint, where the data lives), printed and
recorded in the run's history, or is refused with one line naming the key; it is never silently ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bayesgan.checkpointing import load_checkpoint, remove_orphans
from bayesgan.config import ConfigError

# Keys a resumed run may change: they do not alter the state the checkpoint holds or how it evolves.
CHANGEABLE = (
    "iterations",
    "checkpoint_every",
    "checkpoint_keep",
    "divergence_loss",
    "cpu_memory_cache",
    "logger",
    "callbacks",
    "trainer.enable_progress_bar",
    "trainer.log_every_n_steps",
    "trainer.enable_model_summary",
    "dataset.root",
    "dataset.download",
    "dataset.verify",
    "dataset.test_batch_size",
)
_IGNORED = ("ckpt_path", "hydra", "logger.id")  # logger.id: set by the resume itself


@dataclass
class ResumeInfo:
    """What a checkpoint says about the run it came from (``config`` is None for an old checkpoint)."""

    checkpoint: Path
    iteration: int
    config: dict[str, Any] | None = None
    overrides: list[str] = field(default_factory=list)
    run_dir: Path | None = None
    wandb_id: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


_READ: dict[tuple[Path, int, int], ResumeInfo] = {}


def read(path: str | Path) -> ResumeInfo:
    """Load (``weights_only``) and describe a checkpoint; one :class:`CheckpointError` line if unusable."""
    checkpoint = Path(path).expanduser().resolve()
    stat = checkpoint.stat() if checkpoint.is_file() else None
    key = (checkpoint, stat.st_mtime_ns, stat.st_size) if stat else None
    if key in _READ:  # the CLI reads it before Hydra starts, the run reads it again
        return _READ[key]
    state = load_checkpoint(checkpoint)
    run = state.get("run") or {}
    run_dir = None
    if checkpoint.parent.name == "checkpoints" and (checkpoint.parent.parent / ".hydra").is_dir():
        run_dir = checkpoint.parent.parent  # where the file is now, even if the run directory was moved
    elif run.get("run_dir") and Path(run["run_dir"]).is_dir():
        run_dir = Path(run["run_dir"])
    info = ResumeInfo(
        checkpoint=checkpoint,
        iteration=int(state["bayesgan"]["iteration"]),
        config=run.get("config"),
        overrides=[str(o) for o in run.get("overrides", [])],
        run_dir=run_dir,
        wandb_id=run.get("wandb_id"),
        history=list(run.get("history", [])),
    )
    if key is not None:
        _READ[key] = info
    return info


def expand_argv(argv: list[str]) -> list[str]:
    """The command line a resume really means: the saved overrides, then the new ones (which win), in the
    run's own directory. Unchanged without ``ckpt_path``, in a multirun, or for an old checkpoint."""
    value = next((a.split("=", 1)[1] for a in reversed(argv) if a.startswith("ckpt_path=")), None)
    if value is None or value.strip("'\"") in ("null", "None", "") or {"-m", "--multirun"} & set(argv):
        return argv
    info = read(value.strip("'\""))
    if info.config is None:
        return argv
    flags = [a for a in argv if "=" not in a or a.startswith("-")]
    overrides = [_quote_ckpt_path(a) for a in argv if a not in flags]
    given = {_key(o) for o in overrides}
    merged = [o for o in info.overrides if _key(o) not in given] + overrides
    if info.run_dir is not None and "hydra.run.dir" not in given:
        merged.append(f"hydra.run.dir={_quote(str(info.run_dir))}")
        remove_orphans(info.run_dir / "checkpoints")
    return [*flags, *merged]


def check(info: ResumeInfo, config: dict[str, Any], typed: Sequence[str] = ()) -> dict[str, list[Any]]:
    """The changes ``config`` (resolved) makes to the checkpoint's run, ``{key: [old, new]}``; raises a
    one-line :class:`ConfigError` naming every key that a resume cannot change, those under the keys of
    the ``typed`` overrides first."""
    if config["iterations"] < info.iteration:
        raise ConfigError(
            f"iterations={config['iterations']} is below the {info.iteration} iterations the checkpoint "
            f"{info.checkpoint} has already done"
        )
    if info.config is None:
        return {}
    old, new = _flatten(info.config), _flatten(config)
    changes = {
        key: [old.get(key), new.get(key)]
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key) and not _within(key, _IGNORED)
    }
    typed_keys = tuple(_key(o) for o in typed)
    refused = sorted(
        (key for key in changes if not _within(key, CHANGEABLE)), key=lambda k: not _within(k, typed_keys)
    )
    if refused:
        described = ", ".join(f"{k} (checkpoint: {changes[k][0]}, now: {changes[k][1]})" for k in refused[:4])
        more = f" and {len(refused) - 4} more" if len(refused) > 4 else ""
        raise ConfigError(
            f"ckpt_path={info.checkpoint} was trained with another configuration: {described}{more}. "
            "A resume keeps the run's configuration: drop these overrides, "
            "or start a new run without ckpt_path"
        )
    return changes


def _key(override: str) -> str:
    return re.sub(r"^[~+]+", "", override.split("=", 1)[0])


def _quote_ckpt_path(override: str) -> str:
    if not override.startswith("ckpt_path="):
        return override
    return "ckpt_path=" + _quote(override.split("=", 1)[1].strip("'\""))


def _within(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def _quote(value: str) -> str:
    # Hydra's override grammar needs quotes around anything beyond a plain path.
    return value if re.fullmatch(r"[\w./-]+", value) else "'" + value.replace("'", "\\'") + "'"


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat |= _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return flat
