"""``results.json`` and the console summary, written at the end of fit by the training process itself
(under ``ddp_spawn`` a worker: the parent never sees the final module, bank or callback metrics)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.utilities import rank_zero_info

from bayesgan import results_file
from bayesgan.callbacks import SaveOnInterrupt
from bayesgan.checkpointing import atomic_save_text


def finish(header: dict[str, Any], output_dir: Path, trainer: Trainer, module: LightningModule) -> None:
    """End of fit, in the training process: ``results.json`` and the console summary (rank 0)."""
    results = collect(header, trainer, module)
    if trainer.is_global_zero:
        atomic_save_text(results_file.encode(results), output_dir / "results.json")
        print_summary(output_dir, trainer, results)


def collect(header: dict[str, Any], trainer: Trainer, module: LightningModule) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    for callback in trainer.callbacks:
        metrics.update(getattr(callback, "latest", {}) or {})
    metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("loss/")})
    interrupted = next((c for c in trainer.callbacks if isinstance(c, SaveOnInterrupt)), None)
    return header | {
        "iterations": module.iteration,
        "bank_size": len(module.bank),
        "diverged_at": module.diverged_at,
        "divergence": module.divergence,
        "interrupted_at": interrupted.interrupted_at if interrupted else None,
        "metrics": metrics,
    }


def print_summary(output_dir: Path, trainer: Trainer, results: dict[str, Any]) -> None:
    lines = [f"Run directory: {output_dir}"]
    checkpoint = trainer.checkpoint_callback
    if checkpoint is not None and checkpoint.last_model_path:
        lines.append(f"Checkpoint:    {checkpoint.last_model_path}")
    for callback in trainer.callbacks:
        if getattr(callback, "last_path", None):
            lines.append(f"Samples:       {callback.last_path}")
    lines.append(f"Metrics:       {output_dir / 'results.json'}")
    lines += [f"Profile:       {path}" for path in sorted(output_dir.glob("*profile*.txt"))]
    metrics = results["metrics"]
    if results["diverged_at"] is not None:
        lines.append(f"DIVERGED at iteration {results['diverged_at']} ({results['divergence']}).")
    if results["interrupted_at"] is not None:
        path = output_dir / "checkpoints" / "interrupted.ckpt"
        lines.append(f"INTERRUPTED at iteration {results['interrupted_at']}: resume with ckpt_path={path}")
    if "test/bma_accuracy" in metrics:
        lines.append(
            f"Final test accuracy (Bayesian model average): {metrics['test/bma_accuracy']:.4f}"
            f"   (mean per posterior sample: {metrics.get('test/member_accuracy', float('nan')):.4f})"
        )
    if "coverage/modes" in metrics:
        lines.append(
            f"Modes captured: {metrics['coverage/modes']:.0f}   "
            f"high quality: {metrics['coverage/high_quality']:.1f}%"
        )
        if "null/modes" in metrics:  # what a structureless reference scores, so the line reads honestly
            null_modes, null_hq = metrics["null/modes"], metrics["null/high_quality"]
            lines.append(f"Null (structureless): {null_modes:.0f} modes, {null_hq:.1f}%")
    rank_zero_info("\n".join(lines))
