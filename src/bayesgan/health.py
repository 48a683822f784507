"""Per-iteration health of a training run: divergence detection, and one model on every DDP rank."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def divergence(module: nn.Module, d_loss: Tensor, g_loss: Tensor, limit: float | None) -> str | None:
    """Why this iteration counts as diverged, or None.

    ``d_loss`` [J_d*M] and ``g_loss`` [J_g*M] are the per-copy NLLs of the module's ``discriminator`` and
    ``generator`` ensembles. Each copy's loss sums one term per copy of the other network (plus the real and
    labelled terms), so it is compared with ``limit`` per term: a term is about 0.7 at the start, and above
    1e3 only when the logits have exploded. Non-finite weights or buffers (batch-norm running statistics,
    which a training-mode loss never reads) count too.
    """
    if not (torch.isfinite(d_loss).all() and torch.isfinite(g_loss).all()):
        return "non-finite loss"
    states = [t for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()]
    if not torch.stack([torch.isfinite(t).all() for t in states]).all():
        return "non-finite parameters or batch-norm statistics"
    if limit is not None:
        per_term = max(
            float(d_loss.max()) / (module.generator.num_copies + 2),
            float(g_loss.max()) / module.discriminator.num_copies,
        )
        if per_term > limit:
            return f"loss {per_term:.3g} per term exceeds divergence_loss={limit:g}"
    return None


def average_buffers_over_ranks(module: nn.Module, world_size: int) -> None:
    """Average every floating buffer over the DDP ranks (a collective: all ranks call it).

    Each rank's batch norm updates its running statistics from its own n/W examples. Averaged, every rank
    evaluates, checkpoints and continues from the same model, with statistics of all ranks' data (DDP would
    otherwise copy rank 0's at the next forward only, and never after the last one).
    """
    for buffer in module.buffers():
        if buffer.is_floating_point():
            torch.distributed.all_reduce(buffer)
            buffer /= world_size
