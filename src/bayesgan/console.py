"""A quiet console: Lightning's notices that never apply to a ``bayesgan-train`` run are dropped.

Kept: warnings, errors, the progress bar and the run summary. Dropped: accelerator availability lines (the
trainer config chooses the device), advertising tips and the ``max_steps`` stop notice (Lightning counts
two optimizer steps per iteration, so its number would only confuse).
"""

from __future__ import annotations

import logging
import warnings

NOISE = (
    "GPU available:",
    "TPU available:",
    "HPU available:",
    "💡 Tip:",
    "`Trainer.fit` stopped: `max_steps=",
)
WARNINGS = (
    # On a GPU machine every CPU run (the default trainer) would warn; choosing trainer=cpu is deliberate.
    "(GPU|TPU|HPU) available but not used",
    # Checkpoints should hold the post-update state; loss rows are logged per iteration by the module
    # itself; pytree's deprecation is internal to Lightning.
    "Using ModelCheckpoint with manual optimization",
    "The number of training batches",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    "Checkpoint directory .* exists and is not empty",  # a resumed run continues in its own directory
    # The classifier score keeps its features by design: a bounded number of samples per evaluation.
    "Metric `InceptionScore` will save all extracted features",
)
# Lightning's rank_zero_info / rank_zero_debug write to these loggers.
_LIGHTNING_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero")


class DropNoise(logging.Filter):
    """Drops log records whose message starts with one of ``NOISE``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(NOISE)


def quiet() -> None:
    """Install the filters (idempotent)."""
    for name in _LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropNoise) for f in logger.filters):
            logger.addFilter(DropNoise())
    for pattern in WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
