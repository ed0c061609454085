"""A channel's typical performance: the 30th, 50th and 70th percentile views of its recent uploads at each age,
and one video set against them (its views, percentile and rank at each age).

Each upload's views at an age come from its lifecycle curve (``videoperf.lifecycle.curve``) conditioned on its own
observations, held between the observations around that age (an observed count is never contradicted: views
never fall below an earlier observation nor rise above a later one). The fit weighs each interval by its
counting noise (``count_weights``), since a channel's small videos gain a handful of views between monthly
snapshots. The shape and its prior are the caller's (``videoperf.serving.typical`` chooses them; the reasons and
measurements: ``docs/your_channel.md``, "Typical performance").

Percentiles are Weibull plotting positions (``numpy.quantile(method="weibull")``): the value a further upload of
the same channel stays below with the stated probability, unbiased for the small samples used here (numpy's
default band is too narrow for them: ``docs/your_channel.md``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from videoperf.lifecycle.curve import (
    DEFAULT_SHAPE,
    SHAPES,
    Curves,
    Intervals,
    ShapePrior,
    curves_of,
    empirical_prior,
    fit_intervals,
    intervals_from_arrays,
    shape_grid,
    unit_cumulative,
)

DEFAULT_AGES: tuple[float, ...] = (1, 2, 3, 7, 14, 28, 60, 90)
PERCENTILES: tuple[int, ...] = (30, 50, 70)
RANK_AGES: tuple[float, ...] = (7, 28, 90)
COVERAGE = 0.8
MIN_UPLOADS = 3
# An empirical shape prior needs videos seen often while young: >= EARLY_INTERVALS usable intervals ending within
# EARLY_DAYS. Videos seen often only over months are the slow decayers (a fast one gains nothing between monthly
# snapshots), and a prior from them alone puts too few views in the first days (measured: docs/your_channel.md).
EARLY_DAYS = 14.0
EARLY_INTERVALS = 4
MIN_PRIOR_VIDEOS = 10
_SAMPLES = 4000  # draws of the grid posterior behind a video's forecast interval


@dataclass(frozen=True)
class UploadViews:
    """Fitted curves of some uploads and their observations (``iv``), in ``iv.video_ids`` order."""

    iv: Intervals
    curves: Curves

    def at(self, ages: Sequence[float] | np.ndarray) -> np.ndarray:
        """Views of each upload (rows) at each age (columns): its curve, held between its observations."""
        ages = np.asarray(ages, dtype=float)
        views = self.curves.views(np.broadcast_to(ages, (len(self.iv.video_ids), len(ages))).T).T
        return bounded(views, self.iv, ages)


def bounded(views: np.ndarray, iv: Intervals, ages: np.ndarray) -> np.ndarray:
    """``views`` (videos x ages) clipped to [the last observation at or before each age, the first at or after]:
    cumulative views never decrease, so an observation bounds every other age from one side."""
    out = np.array(views, dtype=float, copy=True)
    for code in range(len(iv.video_ids)):
        rows = iv.video == code
        seen_at, seen = iv.end[rows], np.maximum.accumulate(iv.end_views[rows])
        below = np.searchsorted(seen_at, ages, side="right") - 1  # last observation at or before each age
        floor = np.where(below >= 0, seen[np.maximum(below, 0)], 0.0)
        above = np.searchsorted(seen_at, ages, side="left")  # first observation at or after
        ceiling = np.where(above < len(seen), seen[np.minimum(above, len(seen) - 1)], np.inf)
        out[code] = np.clip(np.where(np.isfinite(out[code]), out[code], floor), floor, ceiling)
    return out


def count_weights(iv: Intervals, noise_sd: float) -> Intervals:
    """``iv`` with each interval weighted by the precision of its log rate under counting noise: an increment of
    ``n`` views has a Poisson log sd of about ``1/sqrt(n)`` on top of the curve's ``noise_sd``."""
    increment = iv.end_views - _previous(iv)
    weight = noise_sd ** 2 / (noise_sd ** 2 + 1.0 / np.maximum(increment, 1.0))
    return dataclasses.replace(iv, weight=weight)


def intervals_of(snapshots: pd.DataFrame) -> Intervals:
    """``Intervals`` of a canonical table's videos (ages from ``published_at``); rows without views dropped."""
    age = (snapshots["observed_at"] - snapshots["published_at"]).dt.total_seconds().to_numpy(float) / 86400.0
    views = pd.to_numeric(snapshots["views"], errors="coerce").to_numpy(float)
    keep = np.isfinite(age) & np.isfinite(views) & (age > 0)
    return intervals_from_arrays(snapshots["video_id"].to_numpy()[keep], age[keep], views[keep])


def choose_shape(iv: Intervals, prior: ShapePrior | None = None) -> tuple[str, dict[str, float]]:
    """The curve shape whose fits forecast these series' last observations better, and each shape's log-MAE.

    Every video observed twice or more is fitted (under ``prior``, default the library's ``ShapePrior()``) on all
    but its last observation, which it then forecasts; the shape with the lower mean absolute log1p error wins
    (``curve.DEFAULT_SHAPE`` when no video was observed twice). Unlike ``shape_select.default_shape`` it needs
    no long series, so monthly snapshots can choose too."""
    prior = prior or ShapePrior()
    last = np.r_[iv.video[1:] != iv.video[:-1], True] if len(iv.video) else np.zeros(0, bool)
    counts = np.bincount(iv.video, minlength=len(iv.video_ids))
    held = last & (counts[iv.video] >= 2)
    if not held.any():
        return DEFAULT_SHAPE, {}
    head = Intervals(iv.video[~held], iv.start[~held], iv.end[~held], iv.log_rate[~held], iv.end_views[~held],
                     iv.video_ids)
    v, start, end = iv.video[held], iv.start[held], iv.end[held]
    scores = {}
    for shape in SHAPES:
        curves = fit_uploads(head, shape, prior).curves
        grow = np.exp(curves.log_level[v]) * (unit_cumulative(end, curves.time_to_peak[v], curves.decay[v], shape)
                                              - unit_cumulative(start, curves.time_to_peak[v], curves.decay[v], shape))
        point = _previous(iv)[held] + np.maximum(grow, 0.0)
        error = np.abs(np.log1p(point) - np.log1p(iv.end_views[held]))
        scores[shape] = float(np.nanmean(error))
    return min(scores, key=scores.get), scores


def _previous(iv: Intervals) -> np.ndarray:
    """The views at each interval's start (0 at publishing)."""
    first = np.r_[True, iv.video[1:] != iv.video[:-1]] if len(iv.video) else np.zeros(0, bool)
    return np.where(first, 0.0, np.r_[0.0, iv.end_views[:-1]])


def early_prior(iv: Intervals, shape: str) -> ShapePrior | None:
    """``curve.empirical_prior`` of the videos with >= ``EARLY_INTERVALS`` usable intervals ending within
    ``EARLY_DAYS`` (their fits under the library's default prior); None when fewer than ``MIN_PRIOR_VIDEOS``."""
    early = np.isfinite(iv.log_rate) & (iv.end <= EARLY_DAYS)
    well = np.flatnonzero(np.bincount(iv.video[early], minlength=len(iv.video_ids)) >= EARLY_INTERVALS)
    if len(well) < MIN_PRIOR_VIDEOS:
        return None
    fits = fit_intervals(count_weights(iv, ShapePrior().noise_sd), shape, ShapePrior(), 1)
    try:
        return empirical_prior(fits.iloc[well], min_used=EARLY_INTERVALS)
    except ValueError:
        return None


def fit_uploads(iv: Intervals, shape: str, prior: ShapePrior) -> UploadViews:
    """Each video's curve conditioned on its observations (a video seen once keeps the prior's shape)."""
    fits = fit_intervals(count_weights(iv, prior.noise_sd), shape, prior, min_observations=1)
    return UploadViews(iv, curves_of(fits, shape))


def quantiles(values: np.ndarray, percentiles: Sequence[int] = PERCENTILES) -> np.ndarray:
    """Per column of ``values`` (uploads x ages): the percentiles (Weibull positions, module docstring)."""
    return np.quantile(np.asarray(values, dtype=float), np.asarray(percentiles) / 100.0, axis=0, method="weibull")


def percentile_of(value: float, sample: np.ndarray) -> float:
    """The share (0-100) of ``sample`` below ``value``, ties counting half: where the video sits among uploads."""
    sample = np.asarray(sample, dtype=float)
    return float(100.0 * ((sample < value).sum() + 0.5 * (sample == value).sum()) / len(sample))


def rank_among(value: float, sample: np.ndarray) -> dict[str, int]:
    """``{"rank", "of"}``: 1 + the uploads with more views than ``value``, among ``of`` = the uploads and the
    video itself (YouTube Studio's "ranking 3 of 10" counts the video too)."""
    sample = np.asarray(sample, dtype=float)
    return {"rank": int(1 + (sample > value).sum()), "of": int(len(sample) + 1)}


def forecast_interval(iv: Intervals, shape: str, prior: ShapePrior, ages: np.ndarray,
                      coverage: float = COVERAGE, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (``coverage``) of one video's views at ``ages`` given its observations ``iv`` (one
    video): quantiles of the posterior over the shape grid and the level (the MAP fit's own model), each draw held
    between the observations. Deterministic for a ``seed``."""
    iv = count_weights(iv, prior.noise_sd)
    tp, decay = shape_grid(shape)
    ok = np.isfinite(iv.log_rate)
    start, end, y, w = iv.start[ok], iv.end[ok], iv.log_rate[ok], iv.weight[ok]
    span = (end - start)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        model = np.log(np.maximum(unit_cumulative(end[:, None], tp, decay, shape)
                                  - unit_cumulative(start[:, None], tp, decay, shape), 1e-300) / span)
    d = y[:, None] - model
    n = max(float(w.sum()), 1e-9)
    level = (w[:, None] * d).sum(axis=0) / n if len(y) else np.zeros(len(tp))
    misfit = (w[:, None] * (d - level) ** 2).sum(axis=0) / prior.noise_sd ** 2
    penalty = (((np.log(tp) - prior.log_tp_mean) / prior.log_tp_sd) ** 2
               + ((np.log(decay) - prior.log_decay_mean) / prior.log_decay_sd) ** 2)
    log_post = -0.5 * (misfit + penalty)
    # The grid is log-spaced in both parameters, as the prior is Gaussian in their logs: equal cells, no Jacobian.
    p = np.exp(log_post - log_post.max())
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(tp), size=_SAMPLES, p=p / p.sum())
    level_sd = prior.noise_sd / np.sqrt(n) if len(y) else 10.0
    draw_level = level[pick] + rng.normal(0.0, level_sd, _SAMPLES)
    views = np.exp(draw_level)[:, None] * unit_cumulative(ages[None, :], tp[pick, None], decay[pick, None], shape)
    one = Intervals(np.zeros(len(iv.end), np.int64), iv.start, iv.end, iv.log_rate, iv.end_views, iv.video_ids[:1])
    views = np.vstack([bounded(views[i:i + 500], _repeat(one, min(500, _SAMPLES - i)), ages)
                       for i in range(0, _SAMPLES, 500)])
    tail = (1.0 - coverage) / 2.0
    lo, hi = np.quantile(views, [tail, 1.0 - tail], axis=0)
    return lo, hi


def _repeat(one: Intervals, k: int) -> Intervals:
    """``one`` video's intervals repeated as ``k`` videos (so ``bounded`` holds every draw)."""
    m = len(one.end)
    return Intervals(np.repeat(np.arange(k), m), np.tile(one.start, k), np.tile(one.end, k),
                     np.tile(one.log_rate, k), np.tile(one.end_views, k), np.arange(k))


def video_views(iv: Intervals, shape: str, prior: ShapePrior, ages: np.ndarray,
                coverage: float = COVERAGE) -> pd.DataFrame:
    """One video's views at ``ages`` from its observations ``iv``: ``views`` (its MAP curve held between its
    observations), ``views_lo`` / ``views_hi`` (``forecast_interval``; equal to ``views`` where an observation
    pins it) and ``observed`` (the age is at or before its last observation)."""
    point = fit_uploads(iv, shape, prior).at(ages)[0]
    lo, hi = forecast_interval(iv, shape, prior, ages, coverage)
    pinned = np.isin(ages, iv.end)
    return pd.DataFrame({"views": point, "views_lo": np.where(pinned, point, np.minimum(lo, point)),
                         "views_hi": np.where(pinned, point, np.maximum(hi, point)),
                         "observed": ages <= iv.end.max()})
