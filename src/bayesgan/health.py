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
    reason = non_finite(module, d_loss, g_loss)
    if reason is not None:
        return reason
    if limit is not None:
        per_term = max(
            float(d_loss.max()) / (module.generator.num_copies + 2),
            float(g_loss.max()) / module.discriminator.num_copies,
        )
        if per_term > limit:
            return f"loss {per_term:.3g} per term exceeds divergence_loss={limit:g}"
    return None


def non_finite(module: nn.Module, *losses: Tensor) -> str | None:
    """Why the losses or the module's state are not finite, or None. For any model family: ``losses`` are
    whatever tensors its iteration produced."""
    if not all(bool(torch.isfinite(loss).all()) for loss in losses):
        return "non-finite loss"
    states = [t for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()]
    if states and not torch.stack([torch.isfinite(t).all() for t in states]).all():
        return "non-finite parameters or batch-norm statistics"
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


def end_gloo_group(stage: str) -> None:
    """End a gloo process group after fit (from a module's ``teardown``, which every rank reaches after its
    last collective). Lightning never destroys a gloo group (only NCCL's, at exit), and a worker that exits
    with one alive can abort in C++ ("terminate called without an active exception")."""
    dist = torch.distributed
    if stage == "fit" and dist.is_available() and dist.is_initialized() and dist.get_backend() == "gloo":
        dist.barrier()
        dist.destroy_process_group()
