"""The cases bench_step.py times: building them, one iteration, peak memory and checkpoint sizes."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import resource
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from bayesgan.bank import PosteriorBank
from bayesgan.models import DCGAN, MLP, Architecture
from bayesgan.module import BayesGAN, PosteriorSpec
from bayesgan.samplers import SGHMC, MLAdam


@dataclass
class Case:
    name: str
    architecture: Architecture
    shape: tuple[int, ...]
    copies: tuple[int, int, int]  # J_g, J_d, M
    vectorize: bool = True
    variant: str | None = None  # None, "compile" or "autocast"
    semi: bool | None = None  # None: the command line's --semi


@dataclass
class Built:
    module: BayesGAN
    optimizers: list[torch.optim.Optimizer]
    batch: dict[str, torch.Tensor]
    autocast: bool


def cases_for(quick: bool, compile_: bool, autocast: bool) -> list[Case]:
    if quick:  # a smoke test: small DCGAN on 16x16, 4 x 2 generators
        dcgan, image, bgan = DCGAN(z_dim=16, width=8), (1, 16, 16), (4, 1, 2)
    else:
        dcgan, image, bgan = DCGAN(z_dim=100, width=64), (1, 28, 28), (10, 1, 2)
    mlp = MLP(z_dim=10, hidden=128)
    cases = [
        Case("paper ML-GAN", dcgan, image, (1, 1, 1)),
        Case("paper BGAN vectorized", dcgan, image, bgan),
        Case("paper BGAN loop", dcgan, image, bgan, vectorize=False),
        Case("toy BGAN vectorized", mlp, (2,), (10, 1, 1)),
        Case("toy BGAN loop", mlp, (2,), (10, 1, 1), vectorize=False),
    ]
    # The default experiment's iteration (digits 8x8, dcgan_small, J_g=4 x M=2, semi-supervised).
    small = DCGAN(z_dim=32, width=32)
    cases += [
        Case("digits BGAN vectorized", small, (1, 8, 8), (4, 1, 2), semi=True),
        Case("digits BGAN loop", small, (1, 8, 8), (4, 1, 2), vectorize=False, semi=True),
    ]
    for variant, wanted in (("compile", compile_), ("autocast", autocast)):
        if wanted:
            for base in ("paper BGAN vectorized", "toy BGAN vectorized"):
                c = next(c for c in cases if c.name == base)
                cases.append(Case(f"{base} +{variant}", c.architecture, c.shape, c.copies, True, variant))
    return cases


def build_case(case: Case, semi: bool, device: str) -> Built:
    semi = semi if case.semi is None else case.semi
    torch.manual_seed(0)  # every variant of a case starts from the same weights
    j_g, j_d, m = case.copies
    sampler = functools.partial(MLAdam) if j_g * j_d * m == 1 else functools.partial(SGHMC, lr=1e-6)
    spec = PosteriorSpec(optimizer=sampler, J_g=j_g, J_d=j_d, M=m, bank_size=1)
    module = BayesGAN(
        case.architecture,
        spec,
        data_shape=case.shape,
        num_data=60_000,
        batch_size=64,
        num_classes=10 if semi else None,
        num_labelled=100 if semi else None,
        vectorize=case.vectorize,
    ).to(device)
    if case.variant == "compile":
        for ensemble in (module.generator, module.discriminator):
            ensemble.forward = torch.compile(ensemble.forward)
            ensemble.cross = torch.compile(ensemble.cross)
    gen = torch.Generator().manual_seed(1)
    batch = {"x": (torch.rand(64, *case.shape, generator=gen) * 2 - 1).to(device)}
    if semi:
        batch |= {"x_lab": (torch.rand(64, *case.shape, generator=gen) * 2 - 1).to(device)}
        batch |= {"y_lab": torch.randint(0, 10, (64,), generator=gen).to(device)}
    return Built(module, module.configure_optimizers(), batch, case.variant == "autocast")


def iterate(built: Built, device: str) -> None:
    """One iteration of Algorithm 1 (D update, G update)."""
    autocast = torch.autocast(device, dtype=torch.bfloat16) if built.autocast else contextlib.nullcontext()
    with autocast:
        built.module.update(built.batch, *built.optimizers)
    built.module.iteration += 1
    if device != "cpu":
        torch.cuda.synchronize()


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_memory_mb(case: Case, semi: bool, device: str) -> float:
    """Peak memory of building ``case`` and running two iterations: peak RSS over the RSS before (CPU), or
    the CUDA allocator's peak."""
    if device != "cpu":
        torch.cuda.reset_peak_memory_stats()
        built = build_case(case, semi, device)
        for _ in range(2):
            iterate(built, device)
        return torch.cuda.max_memory_allocated() / 2**20
    before = _rss_mb()
    built = build_case(case, semi, device)
    for _ in range(2):
        iterate(built, device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before


def _saved_mb(built: Built) -> float:
    """Size of what a training checkpoint holds for this module: weights, buffers, optimizer state, bank."""
    checkpoint = {
        "state_dict": built.module.state_dict(),
        "optimizer_states": [o.state_dict() for o in built.optimizers],
    }
    built.module.on_save_checkpoint(checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ckpt.pt")
        torch.save(checkpoint, path)
        return os.path.getsize(path) / 2**20


def checkpoint_sizes(bgan: Built, ml: Built) -> dict[str, float]:
    """Checkpoint sizes: ML-GAN, BGAN with an empty bank, with one bank snapshot in each precision, and with
    one snapshot on disk (the checkpoint, and the snapshot's own files beside it)."""
    sizes = {"ML-GAN": _saved_mb(ml), "BGAN, empty bank": _saved_mb(bgan)}
    module, bank = bgan.module, bgan.module.bank
    snapshot = {"generator": module.generator.snapshot(), "discriminator": module.discriminator.snapshot()}
    precisions = ["float32"]
    if "precision" in inspect.signature(PosteriorBank).parameters:  # absent before issue #12
        precisions += ["bfloat16", "float16"]
    for precision in precisions:
        kwargs = {"precision": precision} if precision != "float32" else {}
        module.bank = PosteriorBank(0, 1, 1, **kwargs)
        module.bank.add(1, snapshot)
        sizes[f"BGAN + 1 snapshot ({precision})"] = _saved_mb(bgan)
    if "storage" in inspect.signature(PosteriorBank).parameters:  # posterior.bank_storage=disk
        with tempfile.TemporaryDirectory() as tmp:
            module.bank = PosteriorBank(0, 1, 1, storage="disk", directory=tmp)
            module.bank.add(1, snapshot)
            sizes["BGAN + 1 snapshot (disk): checkpoint"] = _saved_mb(bgan)
            sizes["(disk): the snapshot's files"] = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 2**20
    module.bank = bank
    return sizes
