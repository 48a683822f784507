"""``results.json``: strict JSON (RFC 8259), readable by any JSON parser.

JSON has no NaN or infinity, yet a diverged run's metrics are exactly that. Such a value is written as
``null``, and ``"non_finite"`` mirrors the results' structure down to it with the value as a string
(``{"metrics": {"test/nll": "nan"}}``): a reader sees both that it is missing and why, and :func:`decode`
restores it.
"""

from __future__ import annotations

import json
import math
from typing import Any

NON_FINITE = "non_finite"


def _split(value: Any) -> tuple[Any, Any]:
    """(``value`` with non-finite floats as None, a mirror holding only those as strings, or None)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None, repr(value)  # 'nan', 'inf' or '-inf': what float() reads back
    if isinstance(value, dict):
        pairs = {k: _split(v) for k, v in value.items()}
        mirror = {k: m for k, (_, m) in pairs.items() if m is not None}
        return {k: v for k, (v, _) in pairs.items()}, mirror or None
    return value, None


def encode(results: dict[str, Any]) -> str:
    """``results`` as strict JSON: non-finite floats become ``null`` plus an entry under ``"non_finite"``."""
    clean, mirror = _split({k: v for k, v in results.items() if k != NON_FINITE})
    if mirror:
        clean[NON_FINITE] = mirror
    return json.dumps(clean, indent=2, allow_nan=False)


def _restore(node: Any, mirror: Any) -> None:
    if not isinstance(node, dict) or not isinstance(mirror, dict):
        return
    for key, value in mirror.items():
        if isinstance(value, str) and key in node and node[key] is None:
            node[key] = float(value)
        else:
            _restore(node.get(key), value)


def decode(text: str) -> Any:
    """The results written by :func:`encode`, non-finite values restored as floats. Files from older
    versions, with bare ``NaN`` tokens, are read as Python's json reads them."""
    data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get(NON_FINITE), dict):
        _restore(data, data.pop(NON_FINITE))
    return data
