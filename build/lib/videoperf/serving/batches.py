"""Large prediction batches: the row chunks ``Bundle`` predicts two at a time, and Python's cycle collector paused
while a batch runs. Rows are predicted independently, so neither changes a result.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from videoperf.features.content import Columns

CHUNK_ROWS = 8192  # batches of at least twice this many rows are predicted in chunks (``Bundle.predict_frame``)

# Features of a large batch allocate millions of small lists and strings (tokens), none of them in a reference
# cycle; Python's cycle collector would walk every live object again and again meanwhile (about 40% of the
# feature time on 100,000 rows), so it is paused for such batches and resumed when the last one ends.
GC_PAUSE_ROWS = 5000
_GC_LOCK = threading.Lock()
_GC_STATE = {"pauses": 0, "paused_here": False}  # batches running with the collector paused; did we pause it


@contextlib.contextmanager
def collector_paused(pause: bool) -> Iterator[None]:
    """Within the block (when ``pause``), Python's cycle collector is off; nested and concurrent blocks share
    one pause, and the collector resumes after the last (unless it was off before the first)."""
    if not pause:
        yield
        return
    with _GC_LOCK:
        if _GC_STATE["pauses"] == 0:
            _GC_STATE["paused_here"] = gc.isenabled()
            gc.disable()
        _GC_STATE["pauses"] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_STATE["pauses"] -= 1
            if _GC_STATE["pauses"] == 0 and _GC_STATE["paused_here"]:
                gc.enable()


def chunk_bounds(n: int, size: int | None = None) -> np.ndarray:
    """Row bounds of the chunks of a batch of ``n`` rows (one chunk below ``2 * size``, default ``CHUNK_ROWS``):
    about ``size`` rows each, but the first two and the last two a quarter and a half of that. With two chunks
    at a time the other core waits while the first chunk's checks and features run and while the last chunk's
    learners finish; smaller end chunks shorten both waits. Rows are predicted independently, so the bounds
    change no result."""
    size = CHUNK_ROWS if size is None else size
    if n < 2 * size or size < 4:
        return np.array([0, n])
    ramp = [size // 4, size // 2]
    middle = n - 2 * sum(ramp)
    inner = np.linspace(0, middle, max(1, round(middle / size)) + 1).astype(int)
    return np.cumsum([0, *ramp, *np.diff(inner), *ramp[::-1]])


def concat_checked(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Checked chunks as one frame numbered from 0, with the first chunk's ``attrs`` (the same for every chunk)."""
    out = pd.concat(frames, ignore_index=True)
    out.attrs = dict(frames[0].attrs)
    return out


def row_slice(requests: Columns, start: int, stop: int) -> Columns:
    """Rows ``start:stop`` of a DataFrame or of a mapping of columns."""
    if isinstance(requests, pd.DataFrame):
        return requests.iloc[start:stop]
    return {name: values[start:stop] for name, values in requests.items()}

