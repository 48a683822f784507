"""Names derived from the config: experiment names, W&B run names and the shared id of a multirun.

Registered as OmegaConf resolvers (``register``), so the YAML files say ``${dataset_tag:<n_labels>}``,
``${run_name:...}`` and ``${sweep_id:}``; each function also works on plain values without Hydra.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.types import RunMode
from omegaconf import OmegaConf

# Toy mixtures are unsupervised by nature: their tag is the dataset name alone ("ring", not "ring_unsup").
TOY_DATASETS = frozenset({"ring", "grid", "synthetic"})

# Overrides that a run name states elsewhere (sampler, seed) or that do not change the experiment: these
# keys exactly, and everything under these prefixes.
_NOT_IN_NAME = {
    "sampler",
    "seed",
    "experiment",
    "hparams_search",
    "debug",
    "trainer.enable_progress_bar",
    "ckpt_path",
}
_PREFIXES_NOT_IN_NAME = ("hydra", "logger")


def dataset_tag(dataset: str, n_labels: Any = None) -> str:
    """``digits`` with 50 labels -> ``digits_semi``, ``arrays`` without labels -> ``arrays_unsup``, ``ring``
    -> ``ring``: the default ``experiment_name``, so runs are filed by what they learn from."""
    if dataset in TOY_DATASETS:
        return dataset
    return f"{dataset}_{'unsup' if n_labels is None else 'semi'}"


def experiment_tag(n_labels: Any = None, *, _root_: Any = None) -> str:
    """Resolver ``${dataset_tag:<n_labels>}``: :func:`dataset_tag` of the chosen dataset config.

    The choice is read from the config root's ``hydra`` node when there is one (Hydra resolves
    ``hydra.sweep.dir`` from the master config before any job, when HydraConfig is not yet set), else from
    the job's HydraConfig (the ``hydra`` node is removed from a job's config)."""
    choices = OmegaConf.select(_root_, "hydra.runtime.choices") if _root_ is not None else None
    if choices is None:
        hydra_cfg = _hydra_config()
        choices = hydra_cfg.runtime.choices if hydra_cfg is not None else {}
    return dataset_tag(str(choices.get("dataset", "dataset")), n_labels)


def run_name(sampler: str, seed: Any, overrides: Sequence[str] | None = None) -> str:
    """``sghmc J_g=10 lr_per_datum=0.001 s1``: the sampler, the key overrides (last key component, unless
    two share it) and the seed. ``overrides`` default to the Hydra job's command-line overrides."""
    if overrides is None:
        overrides = _task_overrides()
    chosen: dict[str, str] = {}  # a key given twice: the later value counts, as in Hydra
    for override in overrides:
        key, sep, value = override.lstrip("+~").partition("=")
        key = key.split("@")[0]
        if sep and key not in _NOT_IN_NAME and not key.startswith(_PREFIXES_NOT_IN_NAME):
            chosen[key] = value
    pairs = list(chosen.items())
    short = [key.rsplit(".", 1)[-1] for key, _ in pairs]
    # The last key component reads best; the full key where two overrides would share a short name.
    names = [s if short.count(s) == 1 else key for s, (key, _) in zip(short, pairs, strict=True)]
    return " ".join([str(sampler), *(f"{n}={v}" for n, (_, v) in zip(names, pairs, strict=True)), f"s{seed}"])


def sweep_id() -> str | None:
    """The multirun's directory name (its start time), shared by all its jobs; ``None`` outside a multirun."""
    hydra_cfg = _hydra_config()
    if hydra_cfg is None or hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    return Path(str(hydra_cfg.sweep.dir)).name


def _hydra_config() -> Any:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def _task_overrides() -> list[str]:
    hydra_cfg = _hydra_config()
    return [] if hydra_cfg is None else list(hydra_cfg.overrides.task)


def register() -> None:
    for name, resolver in (("dataset_tag", experiment_tag), ("run_name", run_name), ("sweep_id", sweep_id)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
