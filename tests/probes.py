"""A callback the sweep tests add to jobs (``+callbacks.probe._target_=probes.ThreadProbe``): it records the
job process's torch thread count and pid in ``<run dir>/probe.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from pytorch_lightning import Callback, LightningModule, Trainer


class ThreadProbe(Callback):
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        probe = {"threads": torch.get_num_threads(), "pid": os.getpid()}
        (Path(trainer.default_root_dir) / "probe.json").write_text(json.dumps(probe))
