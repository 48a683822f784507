"""Keep freed CPU memory in the process for reuse, instead of handing large blocks back to the kernel.

glibc's ``malloc`` serves each block above its mmap threshold (128 KB, raised as blocks are freed, up to
32 MB) with a fresh ``mmap`` and unmaps it on ``free``. The next iteration's tensor of the same size then
faults on every 4 KB page it first touches, and the kernel zeroes each one. Most of an ML-GAN's tensors
fit under the threshold; a paper-scale Bayesian GAN iteration allocates dozens of 60–260 MB tensors (the
activations of 20 generator copies, a discriminator's pass over 1,280 fakes): 1.29 million page faults and
16.8 s per iteration with glibc's defaults, 84 thousand and 14.1 s with its memory kept
(``python bench/bench_malloc.py``). PyTorch's CPU tuning guide makes the same point when it
recommends jemalloc or tcmalloc; this needs no preloaded library.

The cost: memory freed by the training is not returned to the system before the process ends, so the
resident size stays at the run's peak. Linux with glibc only; elsewhere :func:`keep_freed_memory` does
nothing (and returns False).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt(3) parameters (malloc.h): M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# mallopt takes an int; blocks up to 1 GB come from the heap (larger ones, e.g. a whole posterior bank's
# copy, still get their own mapping), and up to 1 GB of free heap top is kept rather than trimmed.
_KEEP_BYTES = 2**30

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (idempotent); True if they were set."""
    global _applied
    if _applied is None:
        _applied = _set_thresholds()
    return _applied


def _set_thresholds() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES))
