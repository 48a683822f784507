"""``<run dir>/history.jsonl``: every metric the run logs, one JSON line per logging call, on the local disk.

W&B's offline files are binary and ``logger=csv`` is optional, yet ``bayesgan-report`` draws curves of
metrics over iterations for any run: :class:`MetricHistory` is a Lightning logger that ``bayesgan-train``
always adds beside the configured one. It sees what the evaluation callbacks log (``log_metrics(...,
step=iteration)``) and the module's loss rows. Each line is ``{"step": <iteration>, "<metric>": <value>,
...}``; a non-finite value is ``null``
(strict JSON, like ``results.json``).

Appends are single ``write`` calls of whole lines, flushed at once; a line cut short by a kill is ignored by
:func:`read`. A resumed run first drops the lines beyond its checkpoint's iteration, so the iterations it
repeats are not recorded twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers.logger import Logger
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from bayesgan.checkpointing import atomic_save_text

FILE_NAME = "history.jsonl"


def _finite_or_none(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def read(path: str | Path) -> list[dict[str, Any]]:
    """The records of a history file, in file order; malformed lines (a write cut short) are skipped."""
    records = []
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            records.append(record)
    return records


def truncate(path: str | Path, iteration: int) -> None:
    """Keep only the records of steps ``<= iteration`` (0: remove the file), rewriting it atomically."""
    path = Path(path)
    if not path.exists():
        return
    if iteration <= 0:
        path.unlink()
        return
    kept = [r for r in read(path) if r["step"] <= iteration]
    atomic_save_text("".join(json.dumps(r) + "\n" for r in kept), path)


class MetricHistory(Logger):
    """A Lightning logger appending every ``log_metrics`` call to ``<run_dir>/history.jsonl`` (rank 0).

    ``resume_iteration``: the iteration the run continues from (0 or None: a fresh run, any old file is
    removed); records beyond it are dropped when the logger is created.
    """

    def __init__(self, run_dir: str | Path, resume_iteration: int | None = None) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / FILE_NAME
        self._start(int(resume_iteration or 0))

    @rank_zero_only
    def _start(self, resume_iteration: int) -> None:
        truncate(self.path, resume_iteration)

    @property
    def name(self) -> str:
        return "history"

    @property
    def version(self) -> str:
        return ""

    @property
    def save_dir(self) -> str:
        return str(self.run_dir)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        if step is None:
            return  # every metric of this project is logged at an iteration
        record = {"step": int(step), **{k: _finite_or_none(v) for k, v in metrics.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as handle:  # one write of a whole line: appends stay whole lines
            handle.write(json.dumps(record) + "\n")
            handle.flush()

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass  # the config is in .hydra/ and in every checkpoint
