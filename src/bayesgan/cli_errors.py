"""One line for everything the command line can get wrong before training starts (used by ``train.py``).

Hydra reports a composition error over several lines plus a hint about ``HYDRA_FULL_ERROR``, and a run
directory it cannot create as a traceback. Here each becomes ``<key>: <what was expected, what was given>``
(or the path and the OS's reason), and a job refused before training leaves no empty run directory behind.
"""

from __future__ import annotations

import difflib
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

PROG = "bayesgan-train"
CONFIG_ERROR = "configuration error"
EXIT_REFUSED = 2  # argparse's convention for bad usage; Hydra itself exits 1


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def refuse(message: str, kind: str = CONFIG_ERROR) -> NoReturn:
    """Print ``bayesgan-train: <kind>: <message>`` on stderr (one line) and exit with status 2."""
    print(f"{PROG}: {kind}: {one_line(message)}", file=sys.stderr)
    raise SystemExit(EXIT_REFUSED)


def describe_hydra(error: BaseException) -> str | None:
    """One line for a Hydra or OmegaConf composition error (an unknown group option, a key that does not
    exist, a value of the wrong type, an unparsable override); None for any other exception."""
    if isinstance(error, MissingConfigException):
        return _missing_option(error)
    if isinstance(error, OverrideParseException):
        return one_line(error)
    if isinstance(error, HydraException):
        cause = error.__cause__
        if isinstance(cause, OmegaConfBaseException):
            return _omegaconf(cause)
        return one_line(error)
    if isinstance(error, OmegaConfBaseException):
        return _omegaconf(error)
    return None


def _missing_option(error: MissingConfigException) -> str:
    missing = str(error.missing_cfg_file or "")
    if "/" not in missing or error.options is None:
        return one_line(str(error).split("Config search path")[0])
    group, name = missing.rsplit("/", 1)
    close = difflib.get_close_matches(name, list(error.options), n=1)
    hint = f"did you mean {group}={close[0]}? " if close else ""
    return f"{group}={name}: no such {group} config; {hint}choose one of: {', '.join(error.options)}"


def _omegaconf(error: OmegaConfBaseException) -> str:
    key = getattr(error, "full_key", None) or getattr(error, "key", None) or ""
    message = (getattr(error, "msg", None) or str(error)).splitlines()[0]
    if isinstance(error, ConfigKeyError | ConfigAttributeError) and " not in " in message:
        return _unknown_key(error, str(key))
    return f"{key}: {one_line(message)}" if key else one_line(message)


def _unknown_key(error: OmegaConfBaseException, full_key: str) -> str:
    parent = getattr(error, "parent_node", None)
    known = [str(k) for k in parent] if isinstance(parent, DictConfig) else []
    name = full_key.rsplit(".", 1)[-1]
    prefix = full_key[: -len(name)]
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        hint = f"did you mean {prefix}{close[0]}?"
    else:
        hint = f"keys there: {', '.join(sorted(k for k in known if not k.startswith('_')))}"
    return f"{full_key}: no such key ({hint}); to add a new key write +{full_key}=<value>"


def describe_os_error(error: OSError) -> str:
    """The run directory (or a file in it) could not be created or written: which path, and why."""
    path = error.filename or "?"
    return (
        f"cannot write the run directory: {path}: {error.strerror or error}; "
        "fix the path or its permissions, or choose another with hydra.run.dir=<directory>"
    )


def remove_refused_run_dir(run_dir: Path, log_name: str) -> None:
    """Remove ``run_dir`` if it holds nothing but what Hydra wrote before the job was refused: ``.hydra/``
    (config.yaml, hydra.yaml, overrides.yaml) and an empty ``<job>.log``; then its parents below the
    working directory that are left empty. Only those named files are unlinked and directories are removed
    with ``rmdir`` (which fails unless empty), so nothing else can ever be deleted."""
    hydra_dir = run_dir / ".hydra"
    expected = {".hydra", log_name}
    try:
        if not hydra_dir.is_dir() or not set(os.listdir(run_dir)) <= expected:
            return
        if not set(os.listdir(hydra_dir)) <= {"config.yaml", "hydra.yaml", "overrides.yaml"}:
            return
        log = run_dir / log_name
        if log.exists() and log.stat().st_size > 0:
            return
        for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
            (hydra_dir / name).unlink(missing_ok=True)
        hydra_dir.rmdir()
        log.unlink(missing_ok=True)
        _remove_empty_dirs(run_dir)
    except OSError:
        return


class RecordSweepDir(Callback):
    """Hydra callback (``hydra.callbacks`` in ``train.yaml``): remembers a multirun's sweep directory, so a
    sweep whose first job fails to compose can remove the directory the launcher made for it."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global sweep_dir
        sweep_dir = Path(str(config.hydra.sweep.dir))


sweep_dir: Path | None = None  # of the running multirun, once Hydra has announced it


def remove_unused_sweep_dir(directory: Path | None = None) -> None:
    """Remove a multirun's sweep directory (default: the one ``RecordSweepDir`` recorded) that holds only
    Hydra's ``multirun.yaml`` (its first job was refused), and its parents below the working directory left
    empty."""
    directory = directory if directory is not None else sweep_dir
    if directory is None:
        return
    try:
        if set(os.listdir(directory)) != {"multirun.yaml"}:
            return
        (directory / "multirun.yaml").unlink()
        _remove_empty_dirs(directory)
    except OSError:
        return


def _remove_empty_dirs(directory: Path) -> None:
    """``rmdir`` ``directory``, then each parent strictly below the working directory, until one is not
    empty (``rmdir`` fails: the loop's normal end)."""
    cwd = Path.cwd().resolve()
    directory = directory.resolve()
    directory.rmdir()
    parent = directory.parent
    while parent != cwd and cwd in parent.parents:
        parent.rmdir()
        parent = parent.parent
