"""Plain Python values from what pandas and NumPy hand back: JSON-safe results, manifests and reports,
comma-separated lists, and lists of lists cut from one flat list. One converter for every writer (predictions,
the REST service, the bundle manifest, benchmark reports), so NaN is ``null`` everywhere and a NumPy number is
a Python number everywhere."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import accumulate
from typing import Any


def plain(value: Any) -> Any:
    """One scalar as a plain Python value: NumPy scalars unwrapped, NaN / infinity as ``None`` (strict JSON
    has neither)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, TypeError):  # an array of several values: left as it is
            return value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of nested dicts / lists / tuples: scalars through ``plain``, keys as strings,
    timestamps and dates as ISO text."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    value = plain(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def split_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: the comma-separated lists of command lines and CSV cells."""
    return [item.strip() for item in text.split(",") if item.strip()]


def cut(flat: Sequence[Any], lengths: Sequence[int]) -> list[list[Any]]:
    """``flat`` cut back into consecutive lists of ``lengths`` (what ``chain.from_iterable`` joined): a whole
    column of short lists is then transformed by one ``map`` over its items rather than one per list."""
    ends = list(accumulate(lengths))
    return [list(flat[start:end]) for start, end in zip([0, *ends[:-1]], ends)]
