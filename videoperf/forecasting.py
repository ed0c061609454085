"""Forecasts from a published video's observed days, as the bundle artifact ``observed_forecaster.pkl``.

``ObservedForecaster`` is fitted at training time on the training videos' own series (``pipeline.train_models``)
and wraps ``videoperf.observed``:

* the lifecycle curve conditioned on the observations (``CurveForecaster``), with
  - a level prior (ln peak daily views) from what every request carries: ``a + b * log1p(channel_avg_views)``
    for a channel with history, the training mean without, each with its residual sd, fitted on the training
    videos' hindsight curves against their channel history as of their publish time;
  - the shape features ``benchmarks/observed_forecast.py`` measured: like ratio at the first observation (NaN
    when the caller gives no likes), first category, log duration, publish hour;
* Szabo-Huberman (``SzaboHuberman``), the baseline ``model_update.py evaluate --observed K`` reports beside it.

Both are fitted on training videos only; the forecast is never below the last observed views and non-decreasing in
age (``videoperf.observed``). Inference reads this file lazily (``Bundle.observed_forecaster``), only when a
request carries observations or asks for a trajectory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from videoperf.channel_history import ChannelHistory
from videoperf.curve import DEFAULT_SHAPE, Curves, Intervals, fit_with_empirical_prior, intervals_from_arrays
from videoperf.observed import CurveForecaster, SzaboHuberman

OBSERVED_FILE = "observed_forecaster.pkl"
MIN_VIDEOS = 50  # training videos with two or more observations needed to fit a forecaster
_DAY = 86400.0


@dataclass(frozen=True)
class Forecast:
    """Forecasts at target ages: ``point``, ``lo``, ``hi`` per target; per video the conditioned ``curves``,
    observations used, last observed age and views."""

    point: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    curves: Curves
    used: np.ndarray
    last_age: np.ndarray
    last_views: np.ndarray


def _first_category(categories: Sequence[Any]) -> list[str]:
    out = []
    for value in categories:
        if isinstance(value, (list, tuple, np.ndarray)) and len(value):
            out.append(str(value[0]))
        else:
            out.append("")
    return out


def _hours(published_at: Any) -> np.ndarray:
    stamps = pd.to_datetime(pd.Series(list(published_at) if not isinstance(published_at, pd.Series)
                                      else published_at), utc=True)
    return stamps.dt.hour.to_numpy(float)


class ObservedForecaster:
    """The observation-conditioned lifecycle curve and Szabo-Huberman, fitted on training snapshots."""

    def __init__(self, shape: str = DEFAULT_SHAPE, coverage: float = 0.8, max_calibration_videos: int = 20000,
                 seed: int = 0) -> None:
        self.shape = shape
        self.coverage = coverage
        self.max_calibration_videos = max_calibration_videos
        self.seed = seed

    # --------------------------------------------------------------------------------------------------- fit
    def fit(self, snapshots: pd.DataFrame, history: ChannelHistory) -> ObservedForecaster:
        """Fit on canonical training snapshots; ``history``: their channel history (as of each publish time)."""
        age = (snapshots["observed_at"] - snapshots["published_at"]).dt.total_seconds().to_numpy(float) / _DAY
        views = pd.to_numeric(snapshots["views"], errors="coerce").to_numpy(float)
        keep = np.isfinite(age) & (age > 0) & np.isfinite(views)
        iv = intervals_from_arrays(snapshots["video_id"].to_numpy()[keep], age[keep], views[keep])
        counts = np.bincount(iv.video, minlength=len(iv.video_ids))
        if (counts >= 2).sum() < MIN_VIDEOS:
            raise ValueError(f"snapshots: {(counts >= 2).sum()} videos observed twice or more; the observed-days "
                             f"forecaster needs at least {MIN_VIDEOS}")
        ordered = snapshots[keep].sort_values("observed_at", kind="stable")
        # The first row itself (``groupby.first()`` would fill a hidden like count from a later row).
        first = ordered.drop_duplicates("video_id", keep="first").set_index("video_id").reindex(iv.video_ids)
        hindsight, _ = fit_with_empirical_prior(iv, self.shape)
        stats = history.stats(first["channel_id"].to_numpy(), first["published_at"].to_numpy())
        self.level_ = _fit_level(stats["channel_avg_views"].to_numpy(float),
                                 stats["channel_video_count"].to_numpy(float), hindsight["log_level"].to_numpy(float))
        mean, sd = self.level_prior(stats["channel_avg_views"].to_numpy(float),
                                    stats["channel_video_count"].to_numpy(float))
        self.categories_ = sorted(set(_first_category(first["categories"].tolist())) - {""})
        features = self.shape_features(first["likes"].to_numpy(float), first["views"].to_numpy(float),
                                       first["categories"].tolist(), first["duration_seconds"].to_numpy(float),
                                       first["published_at"])
        # One OpenMP thread for the shape model's boosting: its trees are small, and on a busy machine threads
        # made the fit several times slower (51 s against 9 s on 3,000 simulated videos, load ~10).
        with threadpool_limits(limits=1, user_api="openmp"):
            self.curve_ = CurveForecaster(self.shape, self.coverage, max_calibration_videos=self.max_calibration_videos,
                                          seed=self.seed).fit(iv, mean, sd, hindsight=hindsight, features=features)
        self.baseline_ = SzaboHuberman(self.coverage).fit(iv)
        self.n_videos_ = int(len(iv.video_ids))
        return self

    def describe(self) -> dict[str, Any]:
        """What the manifest records about the forecaster."""
        prior = self.curve_.prior_
        return {"shape": self.shape, "coverage": self.coverage, "training_videos": self.n_videos_,
                "level_prior": dict(self.level_),
                "shape_prior": {"time_to_peak_days": math.exp(prior.log_tp_mean),
                                "decay": math.exp(prior.log_decay_mean)},
                "shape_model": self.curve_.shape_models_ is not None}

    # ------------------------------------------------------------------------------------------------ inputs
    def level_prior(self, channel_avg_views: np.ndarray, channel_video_count: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sd of the level prior from the channel statistics a request carries."""
        avg = np.asarray(channel_avg_views, dtype=float)
        has = (np.asarray(channel_video_count, dtype=float) > 0) & np.isfinite(avg) & (avg >= 0)
        p = self.level_
        mean = np.where(has, p["a"] + p["b"] * np.log1p(np.where(has, avg, 0.0)), p["mean_without"])
        return mean, np.where(has, p["sd_with_history"], p["sd_without"])

    def shape_features(self, first_likes: np.ndarray, first_views: np.ndarray, categories: Sequence[Any],
                       duration_seconds: np.ndarray, published_at: Any) -> np.ndarray:
        """Per video: log((likes + 1) / (views + 1)) at its first observation, first category (code), log
        duration, publish hour (``benchmarks/observed_forecast.shape_features``)."""
        known = {name: i for i, name in enumerate(self.categories_)}
        code = np.array([known.get(c, np.nan) for c in _first_category(categories)], dtype=float)
        with np.errstate(invalid="ignore"):
            ratio = np.log((np.asarray(first_likes, dtype=float) + 1) / (np.asarray(first_views, dtype=float) + 1))
        duration = np.asarray(duration_seconds, dtype=float)
        return np.column_stack([ratio, code, np.log1p(np.where(duration >= 0, duration, np.nan)),
                                _hours(published_at)])

    # ----------------------------------------------------------------------------------------------- predict
    def forecast(self, observed: Intervals, first_likes: np.ndarray, videos: dict[str, Any], video: np.ndarray,
                 target_age: np.ndarray) -> Forecast:
        """Views of video code ``video`` at ``target_age`` given ``observed`` (codes index ``videos``' rows).

        ``videos``: per video ``channel_avg_views``, ``channel_video_count``, ``categories``, ``duration_seconds``,
        ``published_at`` (validated request columns); ``first_likes``: likes at each video's first observation
        (NaN unknown)."""
        n = len(observed.video_ids)
        mean, sd = self.level_prior(videos["channel_avg_views"], videos["channel_video_count"])
        first_views = np.full(n, np.nan)
        if len(observed.video):
            starts = np.r_[True, observed.video[1:] != observed.video[:-1]]
            first_views[observed.video[starts]] = observed.end_views[starts]
        features = self.shape_features(first_likes, first_views, videos["categories"], videos["duration_seconds"],
                                       videos["published_at"])
        with threadpool_limits(limits=1, user_api="openmp"):  # one row: threads only cost (shape model)
            curves = self.curve_.condition(observed, mean, sd, features)
            point, lo, hi = self.curve_.predict(observed, mean, sd, video, target_age, features=features,
                                                curves=curves)
        used = np.bincount(observed.video, minlength=n)
        last_age, last_views = np.zeros(n), np.zeros(n)
        if len(observed.video):
            is_last = np.r_[observed.video[1:] != observed.video[:-1], True]
            last_age[observed.video[is_last]] = observed.end[is_last]
            last_views[observed.video[is_last]] = observed.end_views[is_last]
        return Forecast(point, lo, hi, curves, used, last_age, last_views)

    def baseline(self, last_age: np.ndarray, last_views: np.ndarray, target_age: np.ndarray,
                 used: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Szabo-Huberman's point and interval from the last observation."""
        return self.baseline_.predict(last_age, last_views, target_age, used)


def _fit_level(avg: np.ndarray, count: np.ndarray, level: np.ndarray) -> dict[str, float]:
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
