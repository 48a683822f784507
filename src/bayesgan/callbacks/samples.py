"""Periodic sample grids (images) or scatter plots (2-D toys) of the posterior generator samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.loggers import WandbLogger
from torch import Tensor

from bayesgan.callbacks.base import PeriodicCallback, datamodule_attr, draw_z, output_dir, seeded_generator
from bayesgan.images import labelled_grid, save_png, scatter_plot


def posterior_labels(pl_module: LightningModule, num: int) -> tuple[list[str], list[int]]:
    """Names and generator-copy indices of the ``num`` samples ``generate`` returns (snapshot-major,
    copy-minor): ``gen k, it t`` for bank snapshots, ``gen k`` for the current copies (empty bank)."""
    copies = int(getattr(getattr(pl_module, "generator", None), "num_copies", 0) or 0)
    bank = getattr(pl_module, "bank", None)
    iterations = list(getattr(bank, "iterations", []) or [])
    if copies < 1 or num % copies:
        return [f"sample {i}" for i in range(num)], list(range(num))
    snapshots = num // copies
    copy_of = [i % copies for i in range(num)]
    if len(iterations) != snapshots:  # the current copies (bank empty or not used)
        return [f"gen {k}" for k in copy_of], copy_of
    return [f"gen {k}, it {iterations[i // copies]}" for i, k in enumerate(copy_of)], copy_of


def even_rows(num: int, max_rows: int) -> Tensor:
    """``min(num, max_rows)`` evenly spaced, distinct indices into ``range(num)`` (first and last kept)."""
    if num <= max_rows:
        return torch.arange(num)
    return torch.linspace(0, num - 1, max_rows).round().long()


class SampleGrid(PeriodicCallback):
    """Writes ``<log_dir>/samples/iter_{iteration:07d}.png`` and logs it to W&B as ``samples``.

    Image data (``data_shape == (ch, h, w)``, ch in {1, 3}): one row per posterior generator sample
    (evenly subsampled to ``max_rows``), labelled with its generator copy and bank snapshot, one column
    per fixed latent z; tiles upscaled to a readable size. 2-D data: ``n_scatter`` samples of every
    posterior generator sample, one colour per generator copy, over ``trainer.datamodule.modes``, in a
    window fixed around the data. Other data: skipped.
    The latents are drawn once from a generator seeded with ``seed``, so grids are comparable over time.
    """

    needs_generator = True

    def __init__(
        self,
        every_n_iterations: int = 500,
        num_columns: int = 8,
        max_rows: int = 20,
        seed: int = 0,
        n_scatter: int = 500,
        scatter_size: int = 400,
    ) -> None:
        super().__init__(every_n_iterations)
        self.num_columns = num_columns
        self.max_rows = max_rows
        self.seed = seed
        self.n_scatter = n_scatter
        self.scatter_size = scatter_size
        self.last_path: Path | None = None
        self._z: Tensor | None = None

    def fixed_z(self, pl_module: LightningModule, n: int) -> Tensor:
        """The callback's fixed latents ``[n, z_dim]``, drawn once from its own seeded generator."""
        if self._z is None or self._z.shape[0] != n:
            self._z = draw_z(pl_module, n, seeded_generator(pl_module, self.seed))
        return self._z.to(pl_module.device)

    def evaluate(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
        shape = tuple(pl_module.data_shape)
        is_image = len(shape) == 3 and shape[0] in (1, 3)
        if not is_image and shape != (2,):
            self.info_once("shape", f"data_shape {shape} is neither an image nor 2-D; no sample plots.")
            return {}
        iteration = int(pl_module.iteration)
        path = output_dir(trainer) / "samples" / f"iter_{iteration:07d}.png"  # collective: all ranks
        n = self.num_columns if is_image else self.n_scatter
        z = self.fixed_z(pl_module, n)
        samples = pl_module.generate(z, use_bank=True)  # [S, n, *data_shape]; collective: all ranks
        if not trainer.is_global_zero:
            return {}
        labels, copy_of = posterior_labels(pl_module, samples.shape[0])
        if is_image:
            rows = even_rows(samples.shape[0], self.max_rows)
            array = labelled_grid(samples[rows.to(samples.device)], [labels[i] for i in rows.tolist()])
        else:
            copies = max(copy_of) + 1
            groups = torch.tensor(copy_of).repeat_interleave(samples.shape[1])  # colour = generator copy
            array = scatter_plot(
                samples.reshape(-1, 2),
                datamodule_attr(trainer, "modes"),
                self.scatter_size,
                groups=groups,
                labels=[f"gen {k}" for k in range(copies)],
                title=f"iteration {iteration}",
            )
        self.last_path = save_png(array, path)
        self._log_wandb(trainer, array, iteration, num_posterior=samples.shape[0])
        return {}

    @staticmethod
    def _log_wandb(trainer: Trainer, array: np.ndarray, iteration: int, num_posterior: int) -> None:
        caption = f"iteration {iteration}, {num_posterior} posterior generator samples"
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key="samples", images=[array], step=iteration, caption=[caption])
