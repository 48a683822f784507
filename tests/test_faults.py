"""The fault suite: bad input given to the real ``bayesgan-train``, from an empty working directory.

Each case is a command line (plus, for data faults, a damaged copy of the data) and what a user must get:
the exit status, exactly ONE line on stderr that says what to change, and no run directory left behind
when the configuration is refused. The rows follow ``shared/reference/fault-catalogue.md`` (ids A.., B..,
R..) plus the faults of issue #8 that the catalogue only describes (D.. for directories and devices).

The default suite runs every case in-process through ``bayesgan.train.main`` (the console script's own
function, with its ``sys.argv``) and a few through a real subprocess; ``-m slow`` runs the whole table
as subprocesses.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import MissingConfigException

from bayesgan import train

SRC = Path(__file__).resolve().parents[1] / "src"
IDX = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _permissions_ignored() -> bool:
    """Whether this process reads a mode-000 file anyway (root, with CAP_DAC_OVERRIDE)."""
    with tempfile.TemporaryDirectory() as d:
        probe = Path(d) / "probe"
        probe.write_text("x")
        probe.chmod(0)
        try:
            probe.read_text()
        except PermissionError:
            return False
        return True


ROOT = _permissions_ignored()


@dataclass(frozen=True)
class Fault:
    id: str
    args: tuple[str, ...]
    pattern: str  # matched against the single stderr line after "bayesgan-train: <kind>: "
    setup: Callable[[Path, Path], dict[str, str]] | None = None  # (data dir, cwd) -> placeholders in args
    rc: int = 2
    kind: str = "configuration error"
    needs_mnist: bool = False
    skip_as_root: bool = False
    env: dict[str, str] = field(default_factory=dict)
    slow: bool = False  # also in-process (MNIST copies: seconds each), keeping `make test` short


# ----------------------------------------------------------------------------------------- data setups
def real_mnist() -> Path | None:
    for base in (
        os.environ.get("BAYESGAN_DATA_ROOT"),
        str(Path(__file__).resolve().parents[2] / "shared/data"),
    ):
        if base and all((Path(base) / "mnist" / f"{name}.gz").is_file() for name in IDX):
            return Path(base) / "mnist"
    return None


def mnist_copy(damage: str, raw: bool = False) -> Callable[[Path, Path], dict[str, str]]:
    """A copy of the official MNIST files (gzipped, or ``raw`` = gunzipped) with one file damaged."""

    def setup(data: Path, cwd: Path) -> dict[str, str]:
        source, root = real_mnist(), data / "mnist"
        assert source is not None
        if damage == "nonexistent":
            return {"root": str(root)}
        root.mkdir()
        if damage == "empty":
            return {"root": str(root)}
        for name in IDX:
            target = root / (name if raw else f"{name}.gz")
            if raw:
                target.write_bytes(gzip.decompress((source / f"{name}.gz").read_bytes()))
            else:
                target.symlink_to(source / f"{name}.gz")
        victim = root / (IDX[3 if damage == "lab9999" else 0] + ("" if raw else ".gz"))
        data_bytes = victim.read_bytes()
        victim.unlink()
        plain = data_bytes if raw else gzip.decompress(data_bytes)
        if damage == "trunc":
            data_bytes = data_bytes[: len(data_bytes) // 2] if not raw else data_bytes[:-1000]
        elif damage == "flip":  # same size, one byte changed in the middle: only a checksum can tell
            i = len(data_bytes) // 2
            data_bytes = data_bytes[:i] + bytes([data_bytes[i] ^ 0xFF]) + data_bytes[i + 1 :]
        elif damage == "magic":
            plain = b"\x00\x00\x0d\x03" + plain[4:]
            data_bytes = plain if raw else gzip.compress(plain, compresslevel=1, mtime=0)
        elif damage == "lab9999":  # a labels file one entry short, with a consistent header
            plain = plain[:4] + (9999).to_bytes(4, "big") + plain[8:-1]
            data_bytes = plain if raw else gzip.compress(plain, compresslevel=1, mtime=0)
        victim.write_bytes(data_bytes)
        if damage == "unreadable":
            victim.chmod(0)
        return {"root": str(root)}

    return setup


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images * 15).astype(np.uint8), digits.target.astype(np.int64)


def arrays(defect: str) -> Callable[[Path, Path], dict[str, str]]:
    """``X.npy``/``y.npy`` from scikit-learn's digits, with the defect its name says."""

    def setup(data: Path, cwd: Path) -> dict[str, str]:
        root = data / "arrays"
        if defect == "nonexistent":
            return {"root": str(root)}
        root.mkdir()
        x, y = digits_arrays()
        xf = x.astype(np.float32) / 255
        first = np.arange(len(y)) == 0
        changed_x = {
            "dtype_str": x.astype(str), "dtype_complex": x.astype(np.complex64), "dtype_bool": x > 100,
            "shape_2d": x.reshape(len(x), -1), "shape_2ch": np.stack([x, x], -1),
            "shape_5d": x[:, None, None],
            "nan": np.where(np.arange(xf.size).reshape(xf.shape) == 7, np.nan, xf),
            "inf": np.where(np.arange(xf.size).reshape(xf.shape) == 7, np.inf, xf),
            "range300": x.astype(np.float32) * 2, "empty": x[:0, None],
            "pickle_x": np.array([None] * 3, dtype=object),
        }  # fmt: skip
        y_changed = {
            "y_oor500": np.where(first, 500, y), "y_neg": np.where(first, -1, y),
            "y_float": y + 0.5, "y_len": y[:-1], "pickle_y": np.array([None] * 3, dtype=object),
        }  # fmt: skip
        np.save(root / "X.npy", changed_x.get(defect, x), allow_pickle=True)
        np.save(root / "y.npy", y_changed.get(defect, y), allow_pickle=True)
        if defect == "trunc":
            (root / "X.npy").write_bytes((root / "X.npy").read_bytes()[:5000])
        if defect == "garbage":
            (root / "X.npy").write_bytes(b"this is not an array\n" * 50)
        if defect == "unreadable":
            (root / "X.npy").chmod(0)
        return {"root": str(root)}

    return setup


def file_in_the_way(data: Path, cwd: Path) -> dict[str, str]:
    (cwd / "outputs").write_text("not a directory\n")
    return {}


def read_only_outputs(data: Path, cwd: Path) -> dict[str, str]:
    (cwd / "outputs").mkdir()
    (cwd / "outputs").chmod(0o555)
    return {}


# ----------------------------------------------------------------------------------------------- table
QUICK = ("iterations=20", "checkpoint_every=10")
MNIST = ("dataset=mnist", "iterations=2", "checkpoint_every=1", "logger=none", "dataset.root={root}")
ARRAYS = ("dataset=arrays", "iterations=2", "checkpoint_every=1", "logger=none", "dataset.root={root}")
LR = "sampler.optimizer"
ALL_GROUPS = "choose one of: .*digits"
QUICK_MNIST = {"B01_trunc_gz", "B01_trunc_raw", "B02_flip_raw", "B03_magic_raw"}  # the rest: -m slow


def a(fault_id: str, args: str, pattern: str, **kw) -> Fault:
    return Fault(fault_id, (*QUICK, *args.split()), pattern, **kw)


def b(fault_id: str, damage: str, pattern: str, raw: bool = False, vnone: bool = False, **kw) -> Fault:
    args = (*MNIST, "dataset.verify=none") if vnone else MNIST
    slow = fault_id not in QUICK_MNIST
    return Fault(fault_id, args, pattern, setup=mnist_copy(damage, raw), needs_mnist=True, slow=slow, **kw)


def r(fault_id: str, defect: str, pattern: str, extra: str = "", **kw) -> Fault:
    return Fault(fault_id, (*ARRAYS, *extra.split()), pattern, setup=arrays(defect), **kw)


FAULTS = [
    a("A01_lr_neg", f"{LR}.lr=-1 {LR}.lr_per_datum=null", r"sampler\.optimizer\.lr must be > 0 .*got -1"),
    a("A01b_lr_neg_alone", f"{LR}.lr=-1", r"sampler\.optimizer\.lr must be > 0 .*got -1"),
    a("A02_lr_zero", f"{LR}.lr=0 {LR}.lr_per_datum=null", r"sampler\.optimizer\.lr must be > 0"),
    a("A03_lrpd_neg", f"{LR}.lr_per_datum=-0.003", r"sampler\.optimizer\.lr_per_datum must be > 0"),
    a("A04_lr_both", f"{LR}.lr=0.001", r"sampler\.optimizer: give exactly one of lr and lr_per_datum"),
    a("A05_friction0", f"{LR}.friction=0", r"sampler\.optimizer\.friction must be in \(0, 1\], got 0"),
    a("A06_friction1.5", f"{LR}.friction=1.5", r"sampler\.optimizer\.friction must be in \(0, 1\]"),
    a("A07_temp_neg", f"{LR}.temperature=-1", r"sampler\.optimizer\.temperature must be >= 0, got -1"),
    a("A08_Jg0", "posterior.J_g=0", r"^posterior\.J_g must be >= 1, got 0$"),
    a("A09_Jgm1", "posterior.J_g=-1", r"^posterior\.J_g must be >= 1, got -1$"),
    a("A10_M0", "posterior.M=0", r"^posterior\.M must be >= 1, got 0$"),
    a("A11_bank_m1", "posterior.bank_size=-1", r"^posterior\.bank_size must be >= 0 .*got -1$"),
    a("A12_thin0", "posterior.thin=0", r"^posterior\.thin must be >= 1, got 0$"),
    a(
        "A12b_bank_precision",
        "posterior.bank_precision=fp8",
        r"^posterior\.bank_precision must be one of float32, bfloat16, float16, got 'fp8'$",
    ),
    a(
        "A12c_bank_storage",
        "posterior.bank_storage=ssd",
        r"^posterior\.bank_storage must be one of memory, disk, got 'ssd'$",
    ),
    a("A13_iter0", "iterations=0", r"^iterations must be >= 1, got 0$"),
    a("A14_bs0", "dataset.batch_size=0", r"^dataset\.batch_size must be an integer >= 1.*got 0$"),
    a("A15_bs_huge", "dataset.batch_size=5000", r"^dataset\.batch_size=5000 exceeds the 1437 training"),
    a("A16_nlab0", "dataset.n_labels=0", r"^dataset\.n_labels must be an integer >= 1.*got 0$"),
    a("A17_nlab_huge", "dataset.n_labels=100000", r"n_labels=100000: class 0 has only \d+ training examples"),
    a("A18_nlab_7", "dataset.n_labels=7", r"^dataset\.n_labels=7 must be at least the number of classes, 10"),
    a("A19_unk_dataset", "dataset=foo", rf"^dataset=foo: no such dataset config; {ALL_GROUPS}"),
    a("A19b_near_dataset", "dataset=digts", r"^dataset=digts: .*did you mean dataset=digits\?"),
    a("A20_unk_model", "model=foo", r"^model=foo: no such model config; choose one of: .*dcgan"),
    a("A21_unk_sampler", "sampler=foo", r"^sampler=foo: no such sampler config; choose one of: .*sghmc"),
    a("A21b_unk_experiment", "experiment=foo", r"^experiment=foo: no such experiment config; choose"),
    a(
        "A22_typo_key",
        "dataset.n_label=5",
        r"^dataset\.n_label: no such key \(did you mean dataset\.n_labels\?\)",
    ),
    a("A22b_typo_nested", f"{LR}.lr_per_datm=1", r"^sampler\.optimizer\.lr_per_datm: .*lr_per_datum\?"),
    a("A23_str_int", "iterations=abc", r"^iterations: Value 'abc' .* could not be converted to Integer"),
    a("A24_zprior_foo", "z_prior=foo", r"^z_prior: Invalid value 'foo', expected one of \[uniform, normal\]"),
    a("A25_devices3", "trainer.devices=3", r"^trainer\.devices=3 starts 3 processes.*use trainer=ddp_spawn"),
    a("A25b_devices2", "trainer.devices=2", r"^trainer\.devices=2 starts 2 processes.*use trainer=ddp_spawn"),
    a(
        "A26_ddpspawn3",
        "trainer=ddp_spawn trainer.accelerator=cpu trainer.devices=3",
        r"^dataset\.batch_size=64 must be divisible by the number of processes, 3",
    ),
    a("A27_seed_m1", "seed=-1", r"^seed must be in \[0, 4294967295\] .*got -1$"),
    a("A28_ckevery0", "checkpoint_every=0", r"^checkpoint_every must be >= 1, got 0$"),
    a("A29_burnin_neg", "posterior.burn_in=-5", r"^posterior\.burn_in must be >= 0, got -5$"),
    a("A30_prior_std0", f"{LR}.prior_std=0", r"^sampler\.optimizer\.prior_std must be > 0"),
    a("A31_Jd0", "posterior.J_d=0", r"^posterior\.J_d must be >= 1, got 0$"),
    a("A32_iter_float", "iterations=1.5", r"^iterations: Value '1\.5' .* could not be converted to Integer"),
    a("A33_bs_str", "dataset.batch_size=big", r"^dataset\.batch_size must be an integer >= 1.*got 'big'$"),
    a("A34_nlab_neg", "dataset.n_labels=-3", r"^dataset\.n_labels must be an integer >= 1.*got -3$"),
    a(
        "A35_unknown_top",
        "foo=1",
        r"^foo: no such key \(keys there: .*iterations.*\); to add a new key write \+foo",
    ),
    a("A36_seed_2p32", "seed=4294967296", r"^seed must be in \[0, 4294967295\] .*got 4294967296$"),
    a("A37_devices0", "trainer.devices=0", r"^trainer\.devices=0: .*should be an int > 0"),
    a("A38_ml_Jg0", "sampler=ml posterior.J_g=0", r"^posterior\.J_g must be >= 1, got 0$"),
    a("A39_test_bs0", "+dataset.test_batch_size=0", r"^dataset\.test_batch_size must be an integer >= 1"),
    a("A40_gen_obs0", "sampler.gen_observed=0", r"^sampler\.gen_observed"),
    a(
        "A41_lrpd_nan",
        f"{LR}.lr_per_datum=nan",
        r"^sampler\.optimizer\.lr_per_datum must be > 0 and finite, got nan",
    ),
    a(
        "A42_lrpd_inf",
        f"{LR}.lr_per_datum=inf",
        r"^sampler\.optimizer\.lr_per_datum must be > 0 and finite, got inf",
    ),
    a("A43_temp_nan", f"{LR}.temperature=nan", r"^sampler\.optimizer\.temperature must be >= 0, got nan"),
    a(
        "A44_verify_foo",
        "dataset=mnist dataset.verify=sha1",
        r"^dataset\.verify must be one of md5, size, none",
    ),
    a("A45_override_syntax", "iterations==3", r"Error parsing override 'iterations==3'"),
    a(
        "A46_wandb_online_no_login",
        "logger.mode=online",
        r"^logger\.mode=online: W&B is not logged in .*wandb login.*logger\.mode=offline",
        env={"WANDB_API_KEY": "", "NETRC": "/nonexistent/netrc"},
    ),
    Fault(
        "A47_multirun_unknown_option",
        ("-m", *QUICK, "dataset=foo,ring"),
        rf"^dataset=foo: no such dataset config; {ALL_GROUPS}",
    ),
    Fault(
        "A48_multirun_refused_job",
        ("-m", *QUICK, "seed=-1,0"),
        r"^seed must be in \[0, 4294967295\] .*got -1$",
    ),
    b("B01_trunc_gz", "trunc", r"train-images-idx3-ubyte\.gz: 4956211 bytes, expected 9912422"),
    b("B01_trunc_gz_vnone", "trunc", r"train-images-idx3-ubyte\.gz: truncated or corrupt gzip", vnone=True),
    b("B01_trunc_raw", "trunc", r"train-images-idx3-ubyte: 47039016 bytes, expected 47040016", raw=True),
    b(
        "B01_trunc_raw_vnone",
        "trunc",
        r"train-images-idx3-ubyte: truncated: 47039016 bytes",
        raw=True,
        vnone=True,
    ),
    b("B02_flip_gz", "flip", r"train-images-idx3-ubyte\.gz: MD5 \w+ does not match the expected f68b3c2d"),
    b(
        "B02_flip_gz_vnone",
        "flip",
        r"train-images-idx3-ubyte\.gz: truncated or corrupt gzip data",
        vnone=True,
    ),
    b(
        "B02_flip_raw",
        "flip",
        r"train-images-idx3-ubyte: MD5 \w+ does not match the expected 6bbc9ace",
        raw=True,
    ),
    b("B03_magic_gz", "magic", r"train-images-idx3-ubyte\.gz: \d+ bytes, expected 9912422"),
    b(
        "B03_magic_gz_vnone",
        "magic",
        r"train-images-idx3-ubyte\.gz: not an unsigned-byte IDX file",
        vnone=True,
    ),
    b("B03_magic_raw", "magic", r"train-images-idx3-ubyte: MD5 \w+ does not match the expected", raw=True),
    b(
        "B03_magic_raw_vnone",
        "magic",
        r"train-images-idx3-ubyte: not an unsigned-byte IDX",
        raw=True,
        vnone=True,
    ),
    b("B04_empty", "empty", r"^mnist: missing train-images-idx3-ubyte\.gz, .* in .*; set download=true"),
    b("B04_nonexist", "nonexistent", r"^mnist: missing train-images-idx3-ubyte\.gz"),
    b("B05_unreadable", "unreadable", r"train-images-idx3-ubyte\.gz: cannot read", skip_as_root=True),
    b("B06_lab9999", "lab9999", r"t10k-labels-idx1-ubyte\.gz: \d+ bytes, expected 4542"),
    b("B06_lab9999_vnone", "lab9999", r"labels have shape \(9999,\), expected \(10000,\)", vnone=True),
    r("R01_dtype_str", "dtype_str", r"X\.npy: dtype <U\d+; expected uint8 or a float/integer image array"),
    r("R02_dtype_complex", "dtype_complex", r"X\.npy: dtype complex64; expected uint8"),
    r("R03_dtype_bool", "dtype_bool", r"X\.npy: dtype bool; expected uint8"),
    r("R04_shape_2d", "shape_2d", r"X\.npy: shape \(1797, 64\); expected \(N, H, W\)"),
    r(
        "R05_shape_2ch",
        "shape_2ch",
        r"X\.npy: cannot tell NHWC from NCHW for shape \(1797, 8, 8, 2\); set layout",
    ),
    r("R06_shape_5d", "shape_5d", r"X\.npy: shape \(1797, 1, 1, 8, 8\); expected"),
    r("R07_nan", "nan", r"X\.npy: contains NaN or infinite values"),
    r("R08_inf", "inf", r"X\.npy: contains NaN or infinite values"),
    r("R09_range300", "range300", r"X\.npy: values in \[0, 480\] fit none of \[0,1\], \[-1,1\], \[0,255\]"),
    r(
        "R10_y_oor500_nl50",
        "y_oor500",
        r"^dataset: n_labels=50: 490 of the 501 classes \(10-499\) have no training",
        extra="dataset.n_labels=50",
    ),
    r(
        "R10b_y_oor500_nc10",
        "y_oor500",
        r"y\.npy: labels out of range \[0, 10\): min 0, max 500",
        extra="dataset.num_classes=10",
    ),
    r("R11_y_neg", "y_neg", r"y\.npy: labels out of range >= 0: min -1, max 9"),
    r("R12_y_float", "y_float", r"y\.npy: labels must be integers, got dtype float64"),
    r("R13_y_len", "y_len", r"y\.npy: labels have shape \(1796,\), expected \(1797,\)"),
    r("R14_empty", "empty", r"X\.npy: no images \(shape \(0, 1, 8, 8\)\)"),
    r("R15_pickle_x", "pickle_x", r"X\.npy: not a readable \.npy array"),
    r("R16_pickle_y", "pickle_y", r"y\.npy: not a readable \.npy array"),
    r("R17_trunc", "trunc", r"X\.npy: not a readable \.npy array"),
    r("R18_garbage", "garbage", r"X\.npy: not a readable \.npy array"),
    r("R19_missing", "nonexistent", r"^arrays: missing X\.npy in .*; fetch it"),
    r("R20_unreadable", "unreadable", r"X\.npy: cannot read", skip_as_root=True),
    Fault(
        "D01_outputs_is_a_file",
        QUICK,
        r"^cannot write the run directory: outputs/.*: Not a directory",
        setup=file_in_the_way,
        kind="error",
    ),
    Fault(
        "D02_outputs_read_only",
        QUICK,
        r"^cannot write the run directory: .*Permission denied",
        setup=read_only_outputs,
        kind="error",
        skip_as_root=True,
    ),
    Fault(
        "D03_impossible_run_dir",
        (*QUICK, "hydra.run.dir=/proc/bayesgan/run"),
        r"^cannot write the run directory: /proc/bayesgan\S*: No such file",
        kind="error",
    ),
]
SUBPROCESS_IN_DEFAULT_SUITE = {"A19_unk_dataset", "A27_seed_m1"}  # before / after Hydra makes the run dir


# -------------------------------------------------------------------------------------------- runners
@dataclass
class Outcome:
    rc: int
    stderr: str
    left: list[str]  # paths under the working directory that were not there before the run


def _prepare(fault: Fault, tmp_path: Path) -> tuple[Path, list[str]]:
    if fault.needs_mnist and real_mnist() is None:
        pytest.skip("real MNIST files not found (set BAYESGAN_DATA_ROOT)")
    if fault.skip_as_root and ROOT:
        pytest.skip("this process ignores file permissions (root)")
    data, cwd = tmp_path / "data", tmp_path / "cwd"
    data.mkdir()
    cwd.mkdir()
    values = fault.setup(data, cwd) if fault.setup else {}
    return cwd, [a.format(**values) for a in fault.args]


def _tree(cwd: Path) -> set[str]:
    return {str(p.relative_to(cwd)) for p in cwd.rglob("*")}


def run_in_process(fault: Fault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd) -> Outcome:
    cwd, args = _prepare(fault, tmp_path)
    before = _tree(cwd)
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["bayesgan-train", *args])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    for key, value in fault.env.items():
        monkeypatch.setenv(key, value)
    handlers, level = logging.root.handlers[:], logging.root.level  # Hydra reconfigures logging per job
    capfd.readouterr()
    try:
        train.main()
        rc = 0
    except SystemExit as exit_:
        rc = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        GlobalHydra.instance().clear()
        logging.root.handlers[:], logging.root.level = handlers, level
    return Outcome(rc, capfd.readouterr().err, sorted(_tree(cwd) - before))


def run_subprocess(fault: Fault, tmp_path: Path) -> Outcome:
    cwd, args = _prepare(fault, tmp_path)
    before = _tree(cwd)
    env = {**os.environ, "PYTHONPATH": str(SRC), "WANDB_MODE": "offline", **fault.env}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "bayesgan.train", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    return Outcome(proc.returncode, proc.stderr, sorted(_tree(cwd) - before))


def check(fault: Fault, outcome: Outcome) -> None:
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert outcome.rc == fault.rc, f"{fault.id}: exit {outcome.rc}\n{outcome.stderr[-3000:]}"
    assert len(lines) == 1, f"{fault.id}: {len(lines)} stderr lines:\n{outcome.stderr[-3000:]}"
    prefix = f"bayesgan-train: {fault.kind}: "
    assert lines[0].startswith(prefix), lines[0]
    assert re.search(fault.pattern, lines[0].removeprefix(prefix)), f"{fault.pattern!r} not in {lines[0]!r}"
    assert outcome.left == [], f"{fault.id}: a refused run left {outcome.left}"


# ---------------------------------------------------------------------------------------------- tests
def test_fault_ids_are_unique() -> None:
    assert len({f.id for f in FAULTS}) == len(FAULTS)


@pytest.mark.parametrize(
    "fault",
    [pytest.param(f, marks=pytest.mark.slow) if f.slow else f for f in FAULTS],
    ids=[f.id for f in FAULTS],
)
def test_fault_in_process(fault: Fault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd) -> None:
    check(fault, run_in_process(fault, tmp_path, monkeypatch, capfd))


@pytest.mark.parametrize(
    "fault",
    [f if f.id in SUBPROCESS_IN_DEFAULT_SUITE else pytest.param(f, marks=pytest.mark.slow) for f in FAULTS],
    ids=[f.id for f in FAULTS],
)
def test_fault_subprocess(fault: Fault, tmp_path: Path) -> None:
    check(fault, run_subprocess(fault, tmp_path))


def test_refusal_keeps_a_run_directory_that_holds_anything_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd
) -> None:
    """The cleanup of a refused run removes only Hydra's own files: a directory with a user's file stays."""
    run_dir = tmp_path / "mine"
    run_dir.mkdir()
    (run_dir / "notes.txt").write_text("keep me\n")
    fault = Fault("keep", (*QUICK, "seed=-1", f"hydra.run.dir={run_dir}"), r"^seed must be in")
    outcome = run_in_process(fault, tmp_path, monkeypatch, capfd)
    assert outcome.rc == 2 and "seed must be in" in outcome.stderr
    assert (run_dir / "notes.txt").read_text() == "keep me\n"
    assert (run_dir / ".hydra").is_dir()  # Hydra's record of the refused job stays beside the user's file


def test_translation_is_off_when_the_user_asks_for_hydra_full_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    monkeypatch.setattr(sys, "argv", ["bayesgan-train", "dataset=foo"])
    try:
        with pytest.raises(MissingConfigException):  # Hydra's own exception and traceback, untouched
            train.main()
    finally:
        GlobalHydra.instance().clear()
    assert os.environ["HYDRA_FULL_ERROR"] == "1"
