"""Finding and reading runs: ``results.json`` files, the config each run was composed with (``.hydra/``),
its metric history (``history.jsonl``) and its latest sample grid."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from bayesgan import history, results_file
from bayesgan.report.grouping import diverged


def warn(message: str) -> None:
    print(f"bayesgan-report: warning: {message}", file=sys.stderr)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        run = results_file.decode(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:  # json.JSONDecodeError is a ValueError
        warn(f"skipping {path}: {type(error).__name__}: {error}")
        return None
    if not isinstance(run, dict) or not isinstance(run.get("metrics"), dict):
        warn(f"skipping {path}: not a bayesgan results file (no 'metrics' mapping)")
        return None
    run["path"] = str(path)
    run["config"], hydra_choices = run_config(path.parent)
    # results.json's own choices (dataset, model, sampler, trainer) win; Hydra's add method, tuning, ...
    run["choices"] = {**hydra_choices, **(run.get("choices") or {})}
    return run


def collect(roots: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Every readable ``results.json`` under ``roots`` (recursively; a root may be the file itself).

    Each run dict is the file's content plus ``"path"``, ``"config"`` (the run's composed config as dotted
    leaves, ``{}`` without a ``.hydra/config.yaml`` beside it) and Hydra's group ``"choices"``.
    Unreadable files, interrupted and unfinished runs are skipped with a warning.
    """
    runs: list[dict[str, Any]] = []
    for root in map(Path, roots):
        if root.is_file():
            paths = [root]
        elif root.is_dir():
            paths = sorted(root.rglob("results.json"))
        else:
            warn(f"{root} does not exist")
            continue
        runs.extend(run for run in map(_read, paths) if run is not None and not _unfinished(run))
    return runs


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; a list is one setting, kept as its text."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: str(node) if isinstance(node, list) else node}


# The C loader reads a run's .hydra/ files in milliseconds (OmegaConf.load takes ~0.1 s per run).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=_LOADER)  # a safe loader: plain data only


def run_config(run_dir: Path) -> tuple[dict[str, Any], dict[str, str | None]]:
    """(the composed config's leaves, Hydra's group choices) of the run in ``run_dir``.

    The config is read unresolved: an interpolation (``${seed}``, ``${hydra:...}``) is the same text in every
    run, so only what was actually set differently tells runs apart. ``({}, {})`` without ``.hydra/``."""
    hydra_dir = run_dir / ".hydra"
    leaves: dict[str, Any] = {}
    choices: dict[str, str | None] = {}
    try:
        if (hydra_dir / "config.yaml").is_file():
            leaves = {k: v for k, v in flatten(_load_yaml(hydra_dir / "config.yaml")).items() if k}
        if (hydra_dir / "hydra.yaml").is_file():
            found = ((_load_yaml(hydra_dir / "hydra.yaml") or {}).get("hydra") or {}).get("runtime") or {}
            choices = {str(k): None if v is None else str(v) for k, v in (found.get("choices") or {}).items()}
    except Exception as error:  # a damaged .hydra/ must not hide the run's results
        why = " ".join(str(error).split())  # YAML errors span lines
        warn(f"{hydra_dir}: config not read ({type(error).__name__}: {why}); grouped by results.json only")
    return leaves, choices


def _unfinished(run: dict[str, Any]) -> bool:
    """An interrupted run, or one that recorded fewer iterations than planned without diverging, is not a
    result: it is skipped with a warning (a diverged run is a result, and is counted as diverged)."""
    done, planned = run.get("iterations"), run.get("planned_iterations")
    if run.get("interrupted_at") is not None:
        why = f"interrupted at iteration {run['interrupted_at']}; resume it with ckpt_path="
    elif done == 0 or (planned is not None and done is not None and done < planned and not diverged(run)):
        why = f"unfinished ({done} of {planned if planned is not None else '?'} iterations)"
    else:
        return False
    warn(f"skipping {run['path']}: {why}")
    return True


def run_history(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's ``history.jsonl`` records (``[]`` when it has none)."""
    if "path" not in run or run.get("reference"):  # a null row has no run of its own
        return []
    if "_history" not in run:  # read once per report, not once per metric
        run["_history"] = history.read(Path(run["path"]).parent / history.FILE_NAME)
    return run["_history"]


def latest_samples(run: dict[str, Any]) -> Path | None:
    """The run's most recent sample grid or scatter plot (``samples/iter_<k>.png``), if any."""
    if "path" not in run or run.get("reference"):
        return None
    # Under the logger's directory when it has its own (logger=csv: csv/version_0/samples/).
    grids = sorted(Path(run["path"]).parent.rglob("samples/iter_*.png"), key=lambda p: p.name)
    return grids[-1] if grids else None
