"""Checkpoint files that never lie: atomic writes, safe loads, one-line errors.

* **Writes** go to a temporary file in the checkpoint's own directory, are fsync'ed, then ``os.replace``d
  over the target, so a kill or a full disk leaves either the old file or the new one, never a truncated
  one (Lightning's default writes in ``$TMPDIR`` and moves, which across filesystems is a copy into place).
  Temporary files left by a killed writer are removed on the next write into that directory.
* **A state with non-finite values is never written** (a diverged run): the previous file stays.
* **Loads** use ``torch.load(weights_only=True)`` explicitly, so a checkpoint cannot execute code whatever
  torch's default or ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` say; every way a file can be unreadable is one
  :class:`CheckpointError` line.
* **Every method's training state** beyond its weights and optimizers is the same ``"bayesgan"`` entry
  (:class:`TrainingStateHooks`), so resume, ``bayesgan-sample`` and ``-evaluate`` treat every family alike.
"""

from __future__ import annotations

import os
import pickle
import secrets
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.utilities import rank_zero_info

from bayesgan.seeding import global_rng_state, set_global_rng_state

_TMP_SUFFIX = ".tmp"
# Only the training state must be finite (a callback may hold e.g. an infinite kth_value).
_TRAINING_STATE = ("state_dict", "optimizer_states", "bayesgan")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, described in one line."""


class TrainingStateHooks:
    """Mixin (listed before ``pl.LightningModule``) for every method: its checkpoints carry what exact resume
    needs besides weights and optimizers, in the same ``"bayesgan"`` entry - the completed iterations (which
    address the data stream and the per-iteration noise), the posterior bank (where the method keeps one
    with a ``state_dict``) and the global RNG state."""

    iteration: int
    diverged_at: int | None
    bank: Any

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state: dict[str, Any] = {"iteration": self.iteration, "diverged_at": self.diverged_at}
        if hasattr(self.bank, "state_dict"):
            state["bank"] = self.bank.state_dict()
        checkpoint["bayesgan"] = state | {"rng": global_rng_state()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["bayesgan"]
        self.iteration = int(state["iteration"])
        if "bank" in state and hasattr(self.bank, "load_state_dict"):
            self.bank.load_state_dict(state["bank"])
        set_global_rng_state(state["rng"])


def load_checkpoint(
    path: str | os.PathLike[str], map_location: Any = "cpu", training_state: bool = True
) -> dict[str, Any]:
    """A bayesgan checkpoint loaded with ``weights_only=True``; raises :class:`CheckpointError`.

    ``training_state=False`` accepts any tensors-and-numbers file (Lightning's ddp_spawn weight transfer)."""
    path = Path(path)
    where = f"ckpt_path={path}"
    if path.is_dir():
        hint = f" such as {path / 'last.ckpt'}" if (path / "last.ckpt").is_file() else ""
        raise CheckpointError(f"{where}: is a directory; give a checkpoint file{hint}")
    if not path.exists():
        raise CheckpointError(f"{where}: no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{where}: empty file (0 bytes), an interrupted write; use another checkpoint")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; its directory is at the very end
        raise CheckpointError(
            f"{where}: truncated or corrupt ({path.stat().st_size} bytes that are not a complete torch "
            "checkpoint archive); use another checkpoint"
        )
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        detail = str(error).split("\n", 1)[0] if "Weights only load failed" not in str(error) else ""
        raise CheckpointError(
            f"{where}: refused: it holds Python objects that could run code, not only tensors and numbers "
            f"(not a bayesgan checkpoint, or tampered with){f' ({detail})' if detail else ''}"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        first = " ".join(str(error).split())[:160]
        raise CheckpointError(
            f"{where}: truncated or corrupt, not a readable torch checkpoint "
            f"({type(error).__name__}: {first})"
        ) from None
    if training_state and (
        not isinstance(checkpoint, dict) or not {"bayesgan", "state_dict"} <= checkpoint.keys()
    ):
        raise CheckpointError(f"{where}: not a bayesgan training checkpoint (no model and sampler state)")
    return checkpoint


def nonfinite_entries(obj: Any, prefix: str = "") -> Iterator[str]:
    """Paths (``a.b[0]``) of floating-point tensors in ``obj`` holding NaN or infinity."""
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() and not bool(torch.isfinite(obj).all()):
            yield prefix or "<tensor>"
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from nonfinite_entries(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            yield from nonfinite_entries(value, f"{prefix}[{i}]")


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], Any]) -> None:
    """``write(file)`` to ``path`` through a temporary file in the same directory, fsync and ``os.replace``.

    On any failure (a full disk, a kill) the previous ``path`` is untouched and the temporary file removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{_TMP_SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)  # the rename itself survives a power cut


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj)`` to ``path`` atomically (:func:`atomic_write`)."""
    atomic_write(path, lambda f: torch.save(obj, f))


def atomic_save_text(text: str, path: str | os.PathLike[str]) -> None:
    """``text`` (UTF-8) to ``path`` atomically (:func:`atomic_write`)."""
    atomic_write(path, lambda f: f.write(text.encode()))


def remove_orphans(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete temporary files that an interrupted :func:`atomic_save` left in ``directory``."""
    removed = []
    for tmp in Path(directory).glob(f".*{_TMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the data itself is already on disk
    finally:
        os.close(fd)


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with :func:`atomic_save`, the non-finite guard and :func:`load_checkpoint`.

    Pass as ``Trainer(plugins=[SafeCheckpointIO()])``; every save (periodic, ``last``, interrupted) goes
    through it. Orphaned temporary files are removed the first time a directory is written to.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cleaned: set[Path] = set()
        self.skipped: list[str] = []

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("SafeCheckpointIO does not take storage_options")
        path = Path(path)
        # Training checkpoints only: Lightning's ddp_spawn also moves the final weights through this IO.
        state = {key: checkpoint.get(key) for key in _TRAINING_STATE} if "bayesgan" in checkpoint else {}
        bad = next(nonfinite_entries(state), None)
        diverged = (checkpoint.get("bayesgan") or {}).get("diverged_at")
        if bad is not None or diverged is not None:
            self.skipped.append(str(path))
            why = f"non-finite values in {bad}" if bad is not None else f"the run diverged at {diverged}"
            kept = "the previous file is kept" if path.exists() else "no file written"
            rank_zero_info(f"Not saving {path} ({why}); {kept}.")
            return
        directory = path.parent.resolve()
        if directory not in self._cleaned:
            self._cleaned.add(directory)
            if directory.is_dir():
                remove_orphans(directory)
        atomic_save(checkpoint, path)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> Any:
        # weights_only is forced: a checkpoint is data, never code, whatever the caller or torch defaults say.
        return load_checkpoint(path, map_location=map_location or "cpu", training_state=False)
