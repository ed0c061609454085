"""Observation series (``curve.Intervals``) cut into forecasting tasks: each video's first K observations, every
(first K, later observation) pair, a subset of the videos, and the age bins the forecasters learn per cell."""

from __future__ import annotations

import numpy as np
import pandas as pd

from videoperf.lifecycle.curve import Intervals

# Age bins (days) of the last observation and of the target: Szabo-Huberman's growth and the curve's bias
# correction are learnt per (bin, bin) cell.
AGE_EDGES = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 14.0, 21.0, 30.0, 45.0, 60.0, 90.0,
                      180.0])


def first_k(iv: Intervals, k: int) -> Intervals:
    """The first ``k`` observations of every video of ``iv`` (videos keep their codes and ids)."""
    pos = positions(iv.video)
    keep = pos < k
    return Intervals(iv.video[keep], iv.start[keep], iv.end[keep], iv.log_rate[keep], iv.end_views[keep],
                     iv.video_ids)


def positions(video: np.ndarray) -> np.ndarray:
    """0-based position of each row within its (contiguous) video."""
    if not len(video):
        return np.zeros(0, np.int64)
    first = np.r_[True, video[1:] != video[:-1]]
    starts = np.flatnonzero(first)
    return np.arange(len(video)) - np.repeat(starts, np.diff(np.r_[starts, len(video)]))


def forecast_pairs(iv: Intervals, k: int) -> pd.DataFrame:
    """Every (video with more than ``k`` observations, later observation) pair: the task of forecasting that
    observation from the first ``k``. Columns: ``video`` (code), ``target_age``, ``target_views``,
    ``last_age``, ``last_views`` (of the k-th observation; 0 and 0 for ``k`` = 0)."""
    pos = positions(iv.video)
    target = pos >= k
    counts = np.bincount(iv.video, minlength=len(iv.video_ids))
    if k > 0:
        kth = pos == k - 1
        last_age = np.full(len(iv.video_ids), np.nan)
        last_views = np.full(len(iv.video_ids), np.nan)
        last_age[iv.video[kth]] = iv.end[kth]
        last_views[iv.video[kth]] = iv.end_views[kth]
    else:
        last_age = np.zeros(len(iv.video_ids))
        last_views = np.zeros(len(iv.video_ids))
    target &= counts[iv.video] > k
    v = iv.video[target]
    return pd.DataFrame({"video": v, "target_age": iv.end[target], "target_views": iv.end_views[target],
                         "last_age": last_age[v], "last_views": last_views[v]})


def subset(iv: Intervals, videos: np.ndarray) -> Intervals:
    """The intervals of the chosen video codes, recoded 0..len(videos)-1."""
    remap = np.full(len(iv.video_ids), -1)
    remap[videos] = np.arange(len(videos))
    keep = remap[iv.video] >= 0
    return Intervals(remap[iv.video[keep]], iv.start[keep], iv.end[keep], iv.log_rate[keep], iv.end_views[keep],
                     iv.video_ids[videos])
