"""The curve's level prior from a channel's statistics: the ln peak daily views of a video's curve as
``a + b * log1p(channel_avg_views)`` for a channel with history, the training mean without, each with its residual
sd, fitted on the training videos' hindsight curves against their channel history as of their publish time."""

from __future__ import annotations

import numpy as np


def fit_level(avg: np.ndarray, count: np.ndarray, level: np.ndarray) -> dict[str, float]:
    """``level ~ a + b * log1p(channel_avg_views)`` on videos with channel history, the mean without."""
    ok = np.isfinite(level)
    has = ok & (count > 0) & np.isfinite(avg) & (avg >= 0)
    none = ok & ~has
    overall_mean, overall_sd = float(np.mean(level[ok])), float(max(np.std(level[ok]), 0.1))
    if has.sum() >= 10:
        x = np.log1p(avg[has])
        b, a = np.polyfit(x, level[has], 1) if np.ptp(x) > 0 else (0.0, float(np.mean(level[has])))
        sd_has = float(max(np.std(level[has] - (a + b * x)), 0.1))
    else:
        a, b, sd_has = overall_mean, 0.0, overall_sd
    mean_none = float(np.mean(level[none])) if none.sum() >= 10 else overall_mean
    sd_none = float(max(np.std(level[none]), 0.1)) if none.sum() >= 10 else overall_sd
    return {"a": float(a), "b": float(b), "sd_with_history": sd_has, "mean_without": mean_none,
            "sd_without": sd_none, "n_with_history": int(has.sum()), "n_without": int(none.sum())}


def level_prior_for(level: dict[str, float], channel_avg_views: np.ndarray, channel_video_count: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of the level prior ``level`` (``fit_level``) for the given channel statistics."""
    avg = np.asarray(channel_avg_views, dtype=float)
    has = (np.asarray(channel_video_count, dtype=float) > 0) & np.isfinite(avg) & (avg >= 0)
    mean = np.where(has, level["a"] + level["b"] * np.log1p(np.where(has, avg, 0.0)), level["mean_without"])
    return mean, np.where(has, level["sd_with_history"], level["sd_without"])
