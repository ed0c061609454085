"""Choosing the lifecycle curve's tail shape on training videos, and the forecaster that uses one shape per number
of observations.

Two choices, both made on training data only:

* ``heldout_shape_errors`` / ``default_shape``: each shape of ``curve.SHAPES`` fitted (MAP under its own empirical
  prior) to the first half (at least 3 observations) of every series of at least ``min_days`` observations, scored
  on the held-out later half (log-MAE of the views, anchored on the last fitted observation). The better one is the
  default: how the curve describes a well-observed video.
* ``choose_by_k``: for forecasts from K observations the better shape can differ (with 1 observation the tail is
  the prior's, not the video's). Given each shape's absolute log errors on the same held-out (video, observation)
  pairs (e.g. the training months' last weeks, forecast by forecasters fitted on the weeks before), K keeps the
  default unless another shape is better both ways: its per-video mean paired difference is below ``-z``
  standard errors (videos are the independent units; a one-standard-error-style rule, so that noise does not
  pick the shape) and its log-MAE over the pairs is lower.

``ShapeByK`` holds one ``CurveForecaster`` per shape used and answers each forecast with the shape chosen
for its number of observations (K above the largest chosen K uses that one's).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from videoperf.forecasting.curve_forecaster import CurveForecaster
from videoperf.lifecycle.curve import (
    SHAPES,
    WEAK_PRIOR,
    Intervals,
    curves_of,
    empirical_prior,
    fit_intervals,
    unit_cumulative,
)


def split_halves(iv: Intervals, min_days: int) -> tuple[Intervals, np.ndarray, np.ndarray]:
    """The first half (at least 3 observations) of each series of >= ``min_days`` observations as ``Intervals``,
    the mask of the later rows held out, and each row's position in its series."""
    counts = np.bincount(iv.video, minlength=len(iv.video_ids))
    first = np.r_[True, iv.video[1:] != iv.video[:-1]] if len(iv.video) else np.zeros(0, bool)
    starts = np.flatnonzero(first)
    pos = np.arange(len(iv.video)) - np.repeat(starts, np.diff(np.r_[starts, len(iv.video)]))
    n = counts[iv.video]
    long = n >= min_days
    fit_rows = long & (pos < np.maximum(3, n // 2))
    head = Intervals(iv.video[fit_rows], iv.start[fit_rows], iv.end[fit_rows], iv.log_rate[fit_rows],
                     iv.end_views[fit_rows], iv.video_ids)
    return head, long & ~fit_rows, pos


def heldout_shape_errors(iv: Intervals, min_days: int = 6, shapes: tuple[str, ...] = SHAPES
                         ) -> dict[str, dict[str, np.ndarray]]:
    """Per shape: ``video`` (code), ``ahead`` (days after the last fitted observation) and ``error`` (absolute log1p
    error of the views) at every held-out later observation of the series of >= ``min_days`` observations."""
    head, held, _ = split_halves(iv, min_days)
    if not held.any():
        raise ValueError(f"iv: no series has >= {min_days} observations (min_days) to hold out a later half")
    is_last = np.r_[head.video[1:] != head.video[:-1], True]
    last_age = np.full(len(iv.video_ids), np.nan)
    last_views = np.full(len(iv.video_ids), np.nan)
    last_age[head.video[is_last]] = head.end[is_last]
    last_views[head.video[is_last]] = head.end_views[is_last]
    v, t = iv.video[held], iv.end[held]
    out = {}
    for shape in shapes:
        prior = empirical_prior(fit_intervals(head, shape, WEAK_PRIOR, 3))
        c = curves_of(fit_intervals(head, shape, prior, 3), shape)
        grow = np.exp(c.log_level[v]) * (unit_cumulative(t, c.time_to_peak[v], c.decay[v], shape)
                                         - unit_cumulative(last_age[v], c.time_to_peak[v], c.decay[v], shape))
        point = last_views[v] + np.maximum(grow, 0.0)
        out[shape] = {"video": v, "ahead": t - last_age[v],
                      "error": np.abs(np.log1p(point) - np.log1p(iv.end_views[held]))}
    return out


def default_shape(iv: Intervals, min_days: int = 6) -> tuple[str, dict[str, float]]:
    """The shape with the lowest held-out views log-MAE (``heldout_shape_errors``) and every shape's log-MAE."""
    scores = {shape: float(np.nanmean(e["error"])) for shape, e in heldout_shape_errors(iv, min_days).items()}
    return min(scores, key=scores.get), scores


def choose_by_k(errors: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]], default: str, z: float = 2.0
                ) -> tuple[dict[int, str], dict[int, dict[str, Any]]]:
    """The shape per K (see the module docstring). ``errors[shape][k]``: (video ids or codes, absolute log errors)
    of the same pairs, in the same order, for every shape. Returns the choice and, per K, each shape's log-MAE and
    the paired difference's mean and standard error against the default."""
    if default not in errors:
        raise ValueError(f"default: {default!r} has no errors; shapes given: {sorted(errors)}")
    chosen: dict[int, str] = {}
    stats: dict[int, dict[str, Any]] = {}
    for k, (video, base) in errors[default].items():
        best, row = default, {"log_mae": {default: float(np.mean(base))}}
        for shape, by_k in errors.items():
            if shape == default:
                continue
            other_video, other = by_k[k]
            if len(other) != len(base) or not np.array_equal(other_video, video):
                raise ValueError(f"errors: shape {shape!r} at k={k} is not scored on the default's pairs")
            per_video = pd.Series(other - base).groupby(np.asarray(video)).mean()
            mean = float(per_video.mean())
            se = float(per_video.std(ddof=1) / np.sqrt(len(per_video))) if len(per_video) > 1 else np.inf
            row["log_mae"][shape] = float(np.mean(other))
            row[f"{shape}_minus_{default}"] = {"mean_per_video": mean, "se": se, "n_videos": int(len(per_video))}
            if mean < -z * se and row["log_mae"][shape] < row["log_mae"][best]:
                best = shape
        chosen[int(k)] = best
        stats[int(k)] = {**row, "chosen": best}
    return chosen, stats


class ShapeByK:
    """One ``CurveForecaster`` per shape used; each forecast from K observations uses the shape chosen for K."""

    def __init__(self, shape_by_k: dict[int, str], **forecaster_kwargs: Any) -> None:
        self.shape_by_k = shape_by_k
        self.forecaster_kwargs = forecaster_kwargs

    def fit(self, iv: Intervals, level_mean: np.ndarray | None = None, level_sd: np.ndarray | None = None,
            hindsight: dict[str, pd.DataFrame] | None = None, features: np.ndarray | None = None) -> ShapeByK:
        """Fit a ``CurveForecaster`` for every shape in ``shape_by_k`` (``hindsight``: fits per shape, optional)."""
        if not self.shape_by_k:
            raise ValueError("shape_by_k: empty; give the shape for at least one K")
        for shape in self.shape_by_k.values():
            if shape not in SHAPES:
                raise ValueError(f"shape_by_k: {shape!r} is not a curve shape; choose from {list(SHAPES)}")
        self.forecasters_ = {
            shape: CurveForecaster(shape, **self.forecaster_kwargs).fit(
                iv, level_mean, level_sd, hindsight=None if hindsight is None else hindsight.get(shape),
                features=features)
            for shape in sorted(set(self.shape_by_k.values()))}
        return self

    def forecaster_for(self, k: int) -> CurveForecaster:
        """The fitted forecaster of the shape chosen for ``k`` observations (the nearest chosen K below, else the
        smallest)."""
        keys = sorted(self.shape_by_k)
        key = max([c for c in keys if c <= k], default=keys[0])
        return self.forecasters_[self.shape_by_k[key]]

    def predict(self, observed: Intervals, level_mean: np.ndarray, level_sd: np.ndarray, video: np.ndarray,
                target_age: np.ndarray, k: int | np.ndarray | None = None, features: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As ``CurveForecaster.predict``, each forecast by the forecaster of its number of observations."""
        video = np.asarray(video, dtype=np.int64)
        target_age = np.asarray(target_age, dtype=float)
        counts = np.bincount(observed.video, minlength=len(observed.video_ids))
        k_used = counts[video] if k is None else np.broadcast_to(np.asarray(k), video.shape)
        out = [np.zeros(len(video)) for _ in range(3)]
        for kk in np.unique(k_used):
            sel = k_used == kk
            part = self.forecaster_for(int(kk)).predict(observed, level_mean, level_sd, video[sel],
                                                        target_age[sel], int(kk), features)
            for o, p in zip(out, part):
                o[sel] = p
        return out[0], out[1], out[2]
