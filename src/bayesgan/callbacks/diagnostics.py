"""MCMC diagnostics while training: per-copy traces of scalar summaries, split-R̂ across copies, and the
diversity of the generator posterior."""

from __future__ import annotations

import json
import math
from typing import Any

import torch
from pytorch_lightning import LightningModule, Trainer
from torch import Tensor

from bayesgan.callbacks.base import (
    PeriodicCallback,
    draw_z,
    log_metrics,
    output_dir,
    seeded_generator,
)
from bayesgan.ensemble import Ensemble
from bayesgan.metrics.diagnostics import generator_diversity, split_rhat
from bayesgan.models.layers import frozen_running_stats

SUMMARIES = ("g_weight_norm", "g_output_norm", "d_weight_norm", "d_output")


def weight_norms(ensemble: Ensemble) -> Tensor:
    """‖θ_c‖ over all parameters of each copy c: ``[C]``."""
    state = ensemble.current_state(detach=True)
    squares = [state[n].flatten(1).pow(2).sum(1) for n in ensemble.param_names]
    return torch.stack(squares).sum(0).sqrt()


class MCMCDiagnostics(PeriodicCallback):
    """Every ``every_n_iterations``: records, for every copy (= chain) of each network, four scalars:

    - ``g_weight_norm`` / ``d_weight_norm``: the norm of all the copy's weights;
    - ``g_output_norm``: mean ‖G(z)‖ over ``num_inputs`` fixed latents;
    - ``d_output``: the mean real-vs-fake logit on ``num_inputs`` fixed training examples (semi-supervised:
      logsumexp of the K class logits, the fake logit being 0).
    Logged: each copy's value as ``diag/trace/<summary>/copy<c>`` (loggers only), and, once the second half of
    the record (the first half is warm-up, as in BDA3) has ≥ 4 draws, ``diag/rhat/<summary>`` across the
    copies and their maximum ``diag/rhat_max``; ``diag/generator_diversity`` (mean distance between two
    copies' outputs on the same z). R̂ needs ≥ 2 copies of the network and diversity ≥ 2 generators; with a
    single copy (the ML-GAN, or J x M = 1) the callback says so once instead of logging them. The
    final values reach ``results.json``; the full traces are written to ``<log_dir>/diagnostics.json``.
    Evaluation uses batch statistics with running statistics frozen, so training is unaffected.
    """

    def __init__(self, every_n_iterations: int = 100, num_inputs: int = 256, seed: int = 0) -> None:
        super().__init__(every_n_iterations)
        self.num_inputs, self.seed = num_inputs, seed
        self.iterations: list[int] = []
        self.traces: dict[str, list[list[float]]] = {name: [] for name in SUMMARIES}

    def _summaries(self, trainer: Trainer, pl_module: Any) -> dict[str, Tensor]:
        z = draw_z(pl_module, self.num_inputs, seeded_generator(pl_module, self.seed))
        with frozen_running_stats():
            fakes = pl_module.generator(z, shared_input=True)  # [Cg, n, ...]
            out = {
                "g_weight_norm": weight_norms(pl_module.generator),
                "g_output_norm": fakes.flatten(2).norm(dim=-1).mean(1),
                "d_weight_norm": weight_norms(pl_module.discriminator),
            }
            datamodule = getattr(trainer, "datamodule", None)
            if datamodule is not None and getattr(datamodule, "splits", None) is not None:
                count = min(self.num_inputs, datamodule.num_train)
                real = datamodule.train_images(torch.arange(count)).to(pl_module.device)
                logits = pl_module.discriminator(real, shared_input=True)  # [Cd, n, L]
                score = logits.logsumexp(-1) if logits.shape[-1] > 1 else logits[..., 0]
                out["d_output"] = score.mean(1)
        return {k: v.detach().cpu() for k, v in out.items()} | {"_fakes": fakes.detach().cpu()}

    def evaluate(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
        if not all(isinstance(getattr(pl_module, n, None), Ensemble) for n in ("generator", "discriminator")):
            self.info_once("module", "module has no generator/discriminator ensembles; diagnostics skipped.")
            return {}
        values = self._summaries(trainer, pl_module)
        fakes = values.pop("_fakes")
        self.iterations.append(int(pl_module.iteration))
        traces: dict[str, float] = {}
        for name, per_copy in values.items():
            self.traces[name].append(per_copy.tolist())
            traces |= {f"diag/trace/{name}/copy{c}": float(v) for c, v in enumerate(per_copy)}
        log_metrics(trainer, traces, step=int(pl_module.iteration))

        metrics: dict[str, float] = {f"diag/{name}_mean": float(v.mean()) for name, v in values.items()}
        rhats = {}
        for name, record in self.traces.items():
            if not record:
                continue
            window = torch.tensor(record[len(record) // 2 :]).T  # [copies, draws], warm-up half dropped
            if window.shape[0] < 2:
                network = "generator" if name.startswith("g_") else "discriminator"
                self.info_once(network, f"one {network} copy: split-R̂ needs >= 2 chains (J x M >= 2).")
            elif window.shape[1] >= 4:
                rhats[f"diag/rhat/{name}"] = split_rhat(window)
        if rhats:
            worst = max(rhats.values(), key=lambda v: math.inf if math.isnan(v) else v)  # NaN is the worst
            metrics |= rhats | {"diag/rhat_max": worst}
        if fakes.shape[0] >= 2:
            metrics["diag/generator_diversity"] = generator_diversity(fakes)
        else:
            self.info_once("diversity", "one generator copy: no posterior diversity to measure.")
        return metrics

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        path = output_dir(trainer) / "diagnostics.json"  # collective: every rank
        if trainer.is_global_zero and self.iterations:
            path.parent.mkdir(parents=True, exist_ok=True)
            # JSON has no NaN: a diverged copy's values are written as null.
            clean = {
                name: [[v if math.isfinite(v) else None for v in row] for row in rows]
                for name, rows in self.traces.items()
            }
            path.write_text(json.dumps({"iterations": self.iterations, "traces": clean}))

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"iterations": list(self.iterations), "traces": self.traces}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.iterations = list(state_dict.get("iterations", []))
        self.traces = {name: list(state_dict.get("traces", {}).get(name, [])) for name in SUMMARIES}
