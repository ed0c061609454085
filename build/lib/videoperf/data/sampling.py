"""Which training rows a model fits on: at most a budget of them, every video weighing about the same."""

from __future__ import annotations

import numpy as np
import pandas as pd


def balanced_rows(video_ids: np.ndarray | pd.Series, budget: int, seed: int) -> np.ndarray:
    """At most ``budget`` row positions such that every video weighs about the same (sorted).

    One random observation of every video first, then a second one of every video that has one, and so
    on. A video that trended for a month has thirty rows; sampling rows uniformly would let long-lived
    (mostly very popular) videos dominate training, while evaluation and users count each video once.
    """
    video_ids = np.asarray(video_ids)
    n = len(video_ids)
    if budget >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    codes = pd.factorize(video_ids)[0]
    order = rng.permutation(n)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = pd.Series(codes[order]).groupby(codes[order]).cumcount().to_numpy()
    video_priority = rng.permutation(codes.max() + 1)[codes]
    chosen = np.lexsort((video_priority, rank))[:budget]
    return np.sort(chosen)


def training_cut(snapshots: pd.DataFrame) -> pd.Timestamp:
    """The moment training data ends: its last observation."""
    return pd.Timestamp(snapshots["observed_at"].max())


def recency_weights(published_at: pd.Series, cut: pd.Timestamp, half_life_days: float) -> np.ndarray | None:
    """``0.5 ** (days published before cut / half-life)`` per row (at most 1); ``None`` when the half-life is 0.

    Off by default (``training.recency_half_life_days`` = 0): on the rolling-origin backtest it did not help the
    ensemble at every origin.
    """
    if half_life_days <= 0:
        return None
    days = (cut - pd.to_datetime(published_at, utc=True)).dt.total_seconds().to_numpy(float) / 86400.0
    return 0.5 ** (np.clip(days, 0.0, None) / half_life_days)
