"""Read the records of an offline W&B run file (``run-*.wandb``) without W&B's own reader.

The file is W&B's LevelDB-style log: a 7-byte header, then 32 KiB blocks of chunks, each with a 4-byte
checksum, a 2-byte length and a 1-byte type (1 full, 2 first, 3 middle, 4 last); a record is a
``wandb_internal_pb2.Record`` protobuf.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

_BLOCK, _HEADER, _CHUNK = 32768, 7, 7


def records(path: Path) -> Iterator[pb.Record]:
    data = Path(path).read_bytes()
    pos, pending = _HEADER, b""
    while pos + _CHUNK <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _CHUNK:  # block trailer padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + _CHUNK])
        if kind == 0 and length == 0:
            pos += left
            continue
        chunk = data[pos + _CHUNK : pos + _CHUNK + length]
        pos += _CHUNK + length
        if kind in (1, 2):
            pending = chunk
        else:
            pending += chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            yield record


def by_type(path: Path) -> dict[str, list[pb.Record]]:
    out: dict[str, list[pb.Record]] = {}
    for record in records(path):
        out.setdefault(record.WhichOneof("record_type"), []).append(record)
    return out


def finished(path: Path, timeout: float = 60.0) -> dict[str, list[pb.Record]]:
    """``by_type`` once the run file holds its ``exit`` record. ``wandb.finish()`` returns before W&B's
    service has written an offline run file out (seen empty right after it, complete a second later), so a
    test reading the file in the same process waits for it."""
    deadline = time.monotonic() + timeout
    while True:
        found = by_type(path)
        if "exit" in found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
