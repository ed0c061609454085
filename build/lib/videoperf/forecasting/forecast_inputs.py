"""What the observed-days forecaster reads about its videos: the training videos' series with their first rows and
channel statistics as of their publish time, and the shape features a video has by its first observation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from videoperf.features.channel_history import ChannelHistory
from videoperf.lifecycle.curve import Intervals, intervals_from_arrays

_DAY = 86400.0


@dataclass
class TrainingSeries:
    """The training videos' series, first rows and channel statistics as of their publish time."""

    iv: Intervals
    first: pd.DataFrame
    avg: np.ndarray
    count: np.ndarray


def training_series(snapshots: pd.DataFrame, history: ChannelHistory) -> TrainingSeries:
    """Series (ages > 0), first rows and as-of channel statistics of the videos of ``snapshots``."""
    age = (snapshots["observed_at"] - snapshots["published_at"]).dt.total_seconds().to_numpy(float) / _DAY
    views = pd.to_numeric(snapshots["views"], errors="coerce").to_numpy(float)
    keep = np.isfinite(age) & (age > 0) & np.isfinite(views)
    if not keep.any():
        raise ValueError("snapshots: no observation with a positive age and views")
    iv = intervals_from_arrays(snapshots["video_id"].to_numpy()[keep], age[keep], views[keep])
    ordered = snapshots[keep].sort_values("observed_at", kind="stable")
    # The first row itself (``groupby.first()`` would fill a hidden like count from a later row).
    first = ordered.drop_duplicates("video_id", keep="first").set_index("video_id").reindex(iv.video_ids)
    stats = history.stats(first["channel_id"].to_numpy(), first["published_at"].to_numpy())
    return TrainingSeries(iv, first, stats["channel_avg_views"].to_numpy(float),
                          stats["channel_video_count"].to_numpy(float))


def first_category(categories: Sequence[Any]) -> list[str]:
    """Each video's first category ("" when it has none)."""
    out = []
    for value in categories:
        if isinstance(value, (list, tuple, np.ndarray)) and len(value):
            out.append(str(value[0]))
        else:
            out.append("")
    return out


def publish_hours(published_at: Any) -> np.ndarray:
    """The UTC hour of each publish time."""
    stamps = pd.to_datetime(pd.Series(list(published_at) if not isinstance(published_at, pd.Series)
                                      else published_at), utc=True)
    return stamps.dt.hour.to_numpy(float)


def shape_features(known_categories: Sequence[str], first_likes: np.ndarray, first_views: np.ndarray,
                   categories: Sequence[Any], duration_seconds: np.ndarray, published_at: Any) -> np.ndarray:
    """Per video: log((likes + 1) / (views + 1)) at its first observation, first category (its index in
    ``known_categories``, NaN for another), log duration, publish hour."""
    known = {name: i for i, name in enumerate(known_categories)}
    code = np.array([known.get(c, np.nan) for c in first_category(categories)], dtype=float)
    with np.errstate(invalid="ignore"):
        ratio = np.log((np.asarray(first_likes, dtype=float) + 1) / (np.asarray(first_views, dtype=float) + 1))
    duration = np.asarray(duration_seconds, dtype=float)
    return np.column_stack([ratio, code, np.log1p(np.where(duration >= 0, duration, np.nan)),
                            publish_hours(published_at)])
