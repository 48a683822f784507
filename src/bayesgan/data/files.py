"""Data files on disk: root resolution, checksum verification, atomic downloads and on-disk caches.

Every failure is a :class:`DatasetError` whose message is a single line naming the file and the problem,
so a broken run says exactly what to fix without a traceback hunt.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ENV_ROOT = "BAYESGAN_DATA_ROOT"  # overrides the default data root ("data" under the working directory)
ENV_CACHE = "BAYESGAN_CACHE_DIR"  # where decoded-image caches go when the data root is read-only
VERIFY_MODES = ("md5", "size", "none")


class DatasetError(ValueError):
    """A dataset file is missing, broken or inconsistent. The message is always one line."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


@dataclass(frozen=True)
class RemoteFile:
    """A canonical dataset file: its name under the root and, when known, its official MD5 and size."""

    name: str
    md5: str | None = None
    size: int | None = None


def override_specs(
    official: Mapping[str, RemoteFile],
    names: Mapping[str, str] | None,
    md5: Mapping[str, str] | None,
    dataset: str,
) -> dict[str, RemoteFile]:
    """Per-dataset file names from config: a renamed file or an explicit MD5 (a private mirror's copy)
    drops the official checksum and size, which describe the official file only."""
    names, md5 = dict(names or {}), dict(md5 or {})
    unknown = (set(names) | set(md5)) - set(official)
    if unknown:
        raise DatasetError(f"{dataset}: unknown file keys {sorted(unknown)}; expected {sorted(official)}")
    out = {}
    for key, spec in official.items():
        name = names.get(key, spec.name)
        out[key] = spec if name == spec.name and key not in md5 else RemoteFile(name, md5.get(key))
    return out


def data_root(root: str | os.PathLike[str] | None, name: str) -> Path:
    """``root`` if given, else ``$BAYESGAN_DATA_ROOT/<name>``, else ``./data/<name>`` (``~`` expanded)."""
    if root is not None and str(root) != "":
        return Path(os.path.expanduser(str(root)))
    return Path(os.path.expanduser(os.environ.get(ENV_ROOT, "data"))) / name


def md5sum(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_verify_mode(mode: str) -> str:
    if mode not in VERIFY_MODES:
        raise DatasetError(f"verify must be one of {', '.join(VERIFY_MODES)}, got {mode!r}")
    return mode


def verify_file(path: Path, spec: RemoteFile, mode: str = "md5") -> None:
    """Check ``path`` against the official size (always, when known) and MD5 (``mode == "md5"``)."""
    if check_verify_mode(mode) == "none":
        return
    if not os.access(path, os.R_OK):
        raise DatasetError(f"{path}: cannot read (permission denied); fix its permissions (chmod u+r)")
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        what = "truncated" if size < spec.size else "too large"
        raise DatasetError(
            f"{path}: {size} bytes, expected {spec.size} ({what} or corrupt); delete it and download again "
            "(or set verify=none to use a non-canonical copy)"
        )
    if mode == "md5" and spec.md5 is not None and (digest := md5sum(path)) != spec.md5:
        raise DatasetError(
            f"{path}: MD5 {digest} does not match the expected {spec.md5} (corrupt or a different release); "
            "delete it and download again (or set verify=none to use a non-canonical copy)"
        )


def download_file(urls: Sequence[str], dest: Path, spec: RemoteFile, timeout: float = 60.0) -> Path:
    """Fetch ``spec`` from the first working URL into ``dest``, atomically.

    The bytes go to a hidden temporary file next to ``dest`` and are hashed while streaming; only a
    complete, checksum-verified file is moved into place with ``os.replace`` (atomic on one filesystem),
    so an interrupted or bad download never leaves anything that looks like the real file.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    for url in urls:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            h, size = hashlib.md5(usedforsecurity=False), 0
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                while block := response.read(1 << 20):
                    out.write(block)
                    h.update(block)
                    size += len(block)
            if spec.size is not None and size != spec.size:
                raise DatasetError(f"got {size} bytes, expected {spec.size}")
            if spec.md5 is not None and h.hexdigest() != spec.md5:
                raise DatasetError(f"checksum mismatch: MD5 {h.hexdigest()}, expected {spec.md5}")
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; a dataset file should be readable like any download
            os.replace(tmp, dest)
            return dest
        except (OSError, urllib.error.URLError, DatasetError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', None) or e}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DatasetError(f"could not download {dest.name} into {dest.parent} ({'; '.join(errors)})")


def ensure_files(
    root: Path,
    specs: Sequence[RemoteFile],
    *,
    dataset: str,
    source: str,
    download: bool = False,
    mirrors: Sequence[str] = (),
    verify: str = "md5",
) -> dict[str, Path]:
    """Paths of ``specs`` under ``root``, downloading missing ones if asked, all verified before use.

    ``mirrors`` are base URLs tried in order (``<mirror>/<name>``); ``source`` is the human-readable place
    to get the files, quoted in the error when they are missing and cannot be downloaded.
    """
    check_verify_mode(verify)
    missing = [s for s in specs if not (root / s.name).is_file()]
    if missing and download and mirrors:
        for spec in missing:
            urls = [f"{m.rstrip('/')}/{spec.name}" for m in mirrors]
            download_file(urls, root / spec.name, spec)
    elif missing:
        names = ", ".join(s.name for s in missing)
        how = "set download=true or fetch them" if mirrors else "fetch them"
        raise DatasetError(f"{dataset}: missing {names} in {root}; {how} from {source}")
    for spec in specs:
        verify_file(root / spec.name, spec, verify)
    return {s.name: root / s.name for s in specs}


def require_file(path: Path, dataset: str, source: str) -> Path:
    """``path`` if it is a non-empty file, else a one-line error saying where to get it."""
    if not path.is_file():
        raise DatasetError(f"{dataset}: missing {path.name} in {path.parent}; fetch it from {source}")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: empty file")
    if not os.access(path, os.R_OK):
        raise DatasetError(f"{path}: cannot read (permission denied); fix its permissions (chmod u+r)")
    return path


# ---------------------------------------------------------------------------------------------- caches
def cache_dir(root: Path, explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """A writable directory for decoded caches: ``explicit``, else ``<root>/.cache``, else
    ``$BAYESGAN_CACHE_DIR`` or ``~/.cache/bayesgan`` (shared data roots are often read-only); None if none."""
    candidates = [Path(explicit)] if explicit else [root / ".cache"]
    candidates.append(Path(os.path.expanduser(os.environ.get(ENV_CACHE, "~/.cache/bayesgan"))))
    for c in candidates:
        try:
            c.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(c, os.W_OK):
            return c
    return None


def cache_key(**parts: object) -> str:
    """Short stable hash of everything a cached decode depends on (sizes, crop, file listing, ...)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha1(blob, usedforsecurity=False).hexdigest()[:16]


def cached_arrays(
    directory: Path | None, name: str, build: Callable[[], Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Load ``<directory>/<name>.npz`` or build it once and save it atomically (uncompressed: loads fast)."""
    path = directory / f"{name}.npz" if directory is not None else None
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError, EOFError):
            path.unlink(missing_ok=True)  # a stale or broken cache is rebuilt, never trusted
    arrays = dict(build())
    if path is not None:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except OSError:
            pass  # caching is an optimisation; a read-only or full disk must not fail the run
        finally:
            Path(tmp).unlink(missing_ok=True)
    return arrays
