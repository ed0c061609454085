"""The lifecycle curve of a video: one daily-rate curve from which views at any age, the stage, the time to
peak and the decay rate are all read, so that they agree.

The daily rate rises exponentially to its peak ``R`` at ``tp`` days, then decays exponentially (``"exp"``) or as a
power law (``"power"``); cumulative views are its closed-form integral, non-decreasing in age. ``fit_curves`` /
``fit_intervals`` fit each video's interval rates by a MAP grid search under a ``ShapePrior``; ``stage_at`` reads
the stage with a peak band of one observation interval. The reasoning behind each choice: ``docs/design_notes.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SHAPES: tuple[str, ...] = ("exp", "power")
DEFAULT_SHAPE = "power"  # the real training series' held-out fit (shape_select.default_shape); simulator: "exp"
GROWTH_K = 4.5
POWER_TAU_DAYS = 1.0
PEAK_BAND = 0.5
PEAK_WINDOW_DAYS = 1.0
STAGES: tuple[str, str, str] = ("growth", "peak", "decay")
_TP_RANGE = (0.02, 30.0)
_DECAY_RANGE = {"exp": (0.005, 5.0), "power": (0.05, 6.0)}
_DAY = 86400.0


def _check_shape(shape: str) -> str:
    if shape not in SHAPES:
        raise ValueError(f"shape: {shape!r} is not a curve shape; choose one of {list(SHAPES)}")
    return shape


def unit_cumulative(age: np.ndarray, tp: np.ndarray, decay: np.ndarray, shape: str = DEFAULT_SHAPE) -> np.ndarray:
    """Cumulative views from publish to ``age`` of the curve with peak rate 1 (multiply by ``R``); broadcasts."""
    _check_shape(shape)
    age = np.maximum(np.asarray(age, dtype=float), 0.0)
    tp = np.asarray(tp, dtype=float)
    decay = np.asarray(decay, dtype=float)
    g = GROWTH_K / tp
    rise = (np.exp(-g * (tp - np.minimum(age, tp))) - np.exp(-GROWTH_K)) / g
    u = np.maximum(age - tp, 0.0)
    if shape == "exp":
        tail = -np.expm1(-decay * u) / decay
    else:
        x = np.log1p(u / POWER_TAU_DAYS)
        one = np.abs(1.0 - decay) < 1e-9
        with np.errstate(divide="ignore", invalid="ignore"):
            tail = np.where(one, POWER_TAU_DAYS * x,
                            POWER_TAU_DAYS * np.expm1((1.0 - decay) * x) / np.where(one, 1.0, 1.0 - decay))
    return rise + tail


def unit_rate(age: np.ndarray, tp: np.ndarray, decay: np.ndarray, shape: str = DEFAULT_SHAPE) -> np.ndarray:
    """Daily rate of the curve with peak rate 1 at ``age``; broadcasts."""
    _check_shape(shape)
    age = np.maximum(np.asarray(age, dtype=float), 0.0)
    tp = np.asarray(tp, dtype=float)
    decay = np.asarray(decay, dtype=float)
    u = age - tp
    tail = np.exp(-decay * u) if shape == "exp" else (1.0 + np.maximum(u, 0.0) / POWER_TAU_DAYS) ** -decay
    return np.where(u < 0, np.exp(GROWTH_K / tp * np.minimum(u, 0.0)), tail)


def stage_in_band(age: np.ndarray, tp: np.ndarray, decay: np.ndarray, shape: str = DEFAULT_SHAPE,
                  band: float = PEAK_BAND) -> np.ndarray:
    """``growth`` before the peak, ``peak`` while the rate is >= (1 - band) x its maximum, then ``decay``."""
    if not 0.0 < band < 1.0:
        raise ValueError(f"band: must be in (0, 1), got {band!r}")
    age, tp = np.broadcast_arrays(np.asarray(age, dtype=float), np.asarray(tp, dtype=float))
    rate = unit_rate(age, tp, decay, shape)
    out = np.where(age < tp, STAGES[0], np.where(rate >= 1.0 - band, STAGES[1], STAGES[2])).astype(object)
    out[~np.isfinite(rate) | ~np.isfinite(tp)] = None
    return out


def stage_at(age: np.ndarray, tp: np.ndarray, window_days: float | np.ndarray = PEAK_WINDOW_DAYS) -> np.ndarray:
    """The stage at ``age`` read off the curve: ``growth`` before the peak, ``peak`` while the peak lies in the last
    ``window_days`` (the rate within the band it falls through in that window), ``decay`` after. ``window_days``
    (scalar or per age): the observation interval, 1 day by default (see the module docstring)."""
    window = np.asarray(window_days, dtype=float)
    if not np.all(window > 0):
        raise ValueError(f"window_days: must be > 0, got {window_days!r}")
    age = np.asarray(age, dtype=float)
    return stage_for_interval(np.maximum(age - window, 0.0), age, tp)


def stage_for_interval(start_age: np.ndarray, end_age: np.ndarray, tp: np.ndarray) -> np.ndarray:
    """The hindsight stage of an observation covering (start_age, end_age] (``lifecycle`` rule 3's truth)."""
    start_age, end_age, tp = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (start_age, end_age, tp)))
    out = np.where(tp > end_age, STAGES[0], np.where(tp > start_age, STAGES[1], STAGES[2])).astype(object)
    out[~np.isfinite(tp)] = None
    return out


@dataclass(frozen=True)
class Curves:
    """Lifecycle curves of many videos (arrays of equal length; NaN = no curve).

    ``log_level``: ln of the peak daily views ``R``; ``time_to_peak``: days; ``decay``: ``lam`` per day (``"exp"``)
    or ``alpha`` (``"power"``).
    """

    log_level: np.ndarray
    time_to_peak: np.ndarray
    decay: np.ndarray
    shape: str = DEFAULT_SHAPE

    def views(self, age: np.ndarray) -> np.ndarray:
        """Cumulative views at ``age`` days (broadcast against the curves: pass ``age[:, None]`` for a grid)."""
        return np.exp(self.log_level) * unit_cumulative(age, self.time_to_peak, self.decay, self.shape)

    def daily_rate(self, age: np.ndarray) -> np.ndarray:
        """Daily views at ``age`` days."""
        return np.exp(self.log_level) * unit_rate(age, self.time_to_peak, self.decay, self.shape)

    def stage(self, age: np.ndarray, window_days: float | np.ndarray = PEAK_WINDOW_DAYS) -> np.ndarray:
        """The stage at ``age`` read off the curve (``stage_at``; ``window_days``: the observation interval)."""
        return stage_at(age, self.time_to_peak, window_days)

    def decay_rate(self, age: np.ndarray | None = None) -> np.ndarray:
        """Exponential decay rate per day, ``-d log r / dt`` after the peak (constant for ``"exp"``; for
        ``"power"`` at ``age``, default one day after the peak): comparable with ``lifecycle``'s ``decay_rate``."""
        if self.shape == "exp":
            return np.asarray(self.decay, dtype=float)
        u = 1.0 if age is None else np.maximum(np.asarray(age, dtype=float) - self.time_to_peak, 0.0)
        return self.decay / (POWER_TAU_DAYS + u)


@dataclass(frozen=True)
class ShapePrior:
    """Gaussian prior on ``log tp`` and ``log decay`` and the noise sd of the log interval rates."""

    log_tp_mean: float = float(np.log(0.2))
    log_tp_sd: float = 1.5
    log_decay_mean: float = float(np.log(0.4))
    log_decay_sd: float = 1.2
    noise_sd: float = 0.3

    def __post_init__(self) -> None:
        for name in ("log_tp_sd", "log_decay_sd", "noise_sd"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name}: must be a positive number, got {value!r}")


@dataclass(frozen=True)
class Intervals:
    """Observation intervals of many videos, sorted by video then age (``lifecycle`` rules 1-2).

    ``video``: code per interval (0..n_videos-1, contiguous); ``start``, ``end``: ages in days; ``log_rate``:
    ln of the interval's mean daily views (NaN when the increment is not positive: dropped from fits);
    ``end_views``: cumulative views at ``end``. ``weight``: optional precision multiplier of each interval's log
    rate in the fit (None: every interval 1; an interval of weight w counts as w intervals).
    """

    video: np.ndarray
    start: np.ndarray
    end: np.ndarray
    log_rate: np.ndarray
    end_views: np.ndarray
    video_ids: np.ndarray
    weight: np.ndarray | None = None


def intervals_from_arrays(video_ids: np.ndarray, ages: np.ndarray, views: np.ndarray) -> Intervals:
    """Build ``Intervals`` from one row per observation (any order): video id, age in days, cumulative views."""
    video_ids = np.asarray(video_ids)
    ages = np.asarray(ages, dtype=float)
    views = np.asarray(views, dtype=float)
    if not (len(video_ids) == len(ages) == len(views)):
        raise ValueError(f"ages, views: lengths {len(ages)}, {len(views)} differ from video_ids ({len(video_ids)})")
    codes, uniques = pd.factorize(video_ids, sort=True)
    order = np.lexsort((ages, codes))
    codes, ages, views = codes[order], ages[order], views[order]
    first = np.r_[True, codes[1:] != codes[:-1]] if len(codes) else np.zeros(0, bool)
    start = np.where(first, 0.0, np.r_[0.0, ages[:-1]])
    previous = np.where(first, 0.0, np.r_[0.0, views[:-1]])
    span = ages - start
    with np.errstate(divide="ignore", invalid="ignore"):
        inc = views - previous
        log_rate = np.where((span > 0) & (inc > 0), np.log(np.where(inc > 0, inc, 1.0) / np.where(span > 0, span, 1.0)),
                            np.nan)
    return Intervals(codes.astype(np.int64), start, ages, log_rate, views, np.asarray(uniques))


def intervals_from_snapshots(snapshots: pd.DataFrame) -> Intervals:
    """``Intervals`` from a canonical snapshot table (``video_id, observed_at, published_at, views``)."""
    missing = [c for c in ("video_id", "observed_at", "published_at", "views") if c not in snapshots]
    if missing:
        raise ValueError(f"snapshots: missing column(s) {missing}")
    age = (snapshots["observed_at"] - snapshots["published_at"]).dt.total_seconds().to_numpy(float) / _DAY
    return intervals_from_arrays(snapshots["video_id"].to_numpy(), age,
                                 pd.to_numeric(snapshots["views"], errors="coerce").to_numpy(float))


def shape_grid(shape: str = DEFAULT_SHAPE, n_tp: int = 28, n_decay: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """The (tp, decay) candidates of the coarse search, log-spaced, flattened (n_tp * n_decay each)."""
    _check_shape(shape)
    tp = np.geomspace(*_TP_RANGE, n_tp)
    decay = np.geomspace(*_DECAY_RANGE[shape], n_decay)
    t, d = np.meshgrid(tp, decay, indexing="ij")
    return t.ravel(), d.ravel()


def _grid_scores(iv: Intervals, rows: slice, starts: np.ndarray, tp: np.ndarray, decay: np.ndarray, shape: str,
                 prior: ShapePrior, level_mean: np.ndarray | None, level_sd: np.ndarray | None,
                 shape_mean: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Objective, level and count per (video of the chunk, candidate); candidates are columns or per video."""
    if tp.ndim == 1:
        row_tp, row_decay = tp, decay
    else:  # per-video candidates: each row takes its video's
        local = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, rows.stop - rows.start]))
        row_tp, row_decay = tp[local], decay[local]
    s_end = unit_cumulative(iv.end[rows, None], row_tp, row_decay, shape)
    s_start = unit_cumulative(iv.start[rows, None], row_tp, row_decay, shape)
    span = (iv.end[rows] - iv.start[rows])[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        model = np.log(np.maximum(s_end - s_start, 1e-300) / span)
    y = iv.log_rate[rows, None]
    ok = np.isfinite(y)
    d = np.where(ok, y - model, 0.0)
    count = np.add.reduceat(ok[:, 0].astype(float), starts)
    w = None if iv.weight is None else np.where(ok[:, 0], iv.weight[rows], 0.0)
    wd = d if w is None else d * w[:, None]
    n = (count if w is None else np.add.reduceat(w, starts))[:, None]
    sum_d = np.add.reduceat(wd, starts, axis=0)
    sum_d2 = np.add.reduceat(wd * d, starts, axis=0)
    var = prior.noise_sd ** 2
    if level_mean is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            level = sum_d / n
        fit = (sum_d2 - np.where(n > 0, sum_d ** 2 / np.where(n > 0, n, 1.0), 0.0)) / var
    else:
        mu, s2 = level_mean[:, None], level_sd[:, None] ** 2
        precision = n / var + 1.0 / s2
        level = (sum_d / var + mu / s2) / precision
        fit = sum_d2 / var + mu ** 2 / s2 - precision * level ** 2
    tp_mean, decay_mean = ((prior.log_tp_mean, prior.log_decay_mean) if shape_mean is None
                           else (shape_mean[0][:, None], shape_mean[1][:, None]))
    penalty = (((np.log(tp) - tp_mean) / prior.log_tp_sd) ** 2
               + ((np.log(decay) - decay_mean) / prior.log_decay_sd) ** 2)
    return fit + penalty, level, count


def _chunks(video: np.ndarray, max_rows: int) -> list[tuple[int, int]]:
    """Row ranges that hold whole videos, each at most ``max_rows`` rows unless one video is longer."""
    boundaries = np.flatnonzero(np.r_[True, video[1:] != video[:-1], True])
    out, lo = [], 0
    while lo < len(video):
        hi_idx = np.searchsorted(boundaries, lo + max_rows, side="right") - 1
        hi = int(boundaries[max(hi_idx, np.searchsorted(boundaries, lo, side="right"))])
        out.append((lo, hi))
        lo = hi
    return out


def fit_intervals(iv: Intervals, shape: str = DEFAULT_SHAPE, prior: ShapePrior | None = None, min_observations: int = 2,
                  level_mean: np.ndarray | None = None, level_sd: np.ndarray | None = None,
                  max_rows: int = 4000, shape_mean: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """MAP curve per video of ``iv`` (see the module docstring); one row per video, in code order.

    Columns: ``video_id, log_level, time_to_peak, decay, n_used`` (usable intervals), ``rmse`` (of the log rates).
    ``level_mean`` / ``level_sd`` (per video): a Gaussian prior on the level (e.g. a pre-publication prediction);
    without it the level is the least-squares one. A video with fewer than ``min_observations`` usable
    intervals (and no level prior) gets NaN. ``shape_mean``: per-video prior means of ``log tp`` and ``log decay``
    (e.g. predicted from what is known of the video) in place of ``prior``'s (its sds are kept).
    """
    _check_shape(shape)
    prior = prior or ShapePrior()
    if min_observations < 1:
        raise ValueError(f"min_observations: must be >= 1, got {min_observations!r}")
    n_videos = len(iv.video_ids)
    out = {k: np.full(n_videos, np.nan) for k in ("log_level", "time_to_peak", "decay", "n_used", "rmse")}
    coarse_tp, coarse_decay = shape_grid(shape)
    step_tp = np.log(coarse_tp.reshape(28, 24)[1, 0] / coarse_tp[0])
    step_decay = np.log(coarse_decay[1] / coarse_decay[0])
    fine = np.linspace(-1.0, 1.0, 5)
    fine_tp, fine_decay = (a.ravel() for a in np.meshgrid(fine * step_tp, fine * step_decay, indexing="ij"))
    for lo, hi in _chunks(iv.video, max_rows):
        rows = slice(lo, hi)
        starts = np.flatnonzero(np.r_[True, iv.video[lo + 1:hi] != iv.video[lo:hi - 1]])
        codes = iv.video[lo:hi][starts]
        mu = None if level_mean is None else level_mean[codes]
        sd = None if level_sd is None else level_sd[codes]
        sm = None if shape_mean is None else (shape_mean[0][codes], shape_mean[1][codes])
        score, _, n = _grid_scores(iv, rows, starts, coarse_tp, coarse_decay, shape, prior, mu, sd, sm)
        best = np.argmin(score, axis=1)
        # Refine around the best coarse cell: a 5 x 5 grid spanning +-1 coarse step, per video.
        tp_v = np.exp(np.log(coarse_tp[best])[:, None] + fine_tp)
        dec_v = np.exp(np.log(coarse_decay[best])[:, None] + fine_decay)
        tp_v = np.clip(tp_v, *_TP_RANGE)
        dec_v = np.clip(dec_v, *_DECAY_RANGE[shape])
        score, level, _ = _grid_scores(iv, rows, starts, tp_v, dec_v, shape, prior, mu, sd, sm)
        pick = np.argmin(score, axis=1)
        idx = np.arange(len(codes))
        usable = (n >= min_observations) | ((mu is not None) & (n >= 0))
        sel = codes[usable]
        out["log_level"][sel] = level[idx, pick][usable]
        out["time_to_peak"][sel] = tp_v[idx, pick][usable]
        out["decay"][sel] = dec_v[idx, pick][usable]
        out["n_used"][codes] = n
    fitted = np.isfinite(out["log_level"])
    out["rmse"][fitted] = _rmse(iv, out, shape)[fitted]
    return pd.DataFrame({"video_id": iv.video_ids, **out})


def _rmse(iv: Intervals, fit: dict[str, np.ndarray], shape: str) -> np.ndarray:
    """Root mean square error of each video's log interval rates under its fitted curve."""
    code = iv.video
    curve = Curves(fit["log_level"][code], fit["time_to_peak"][code], fit["decay"][code], shape)
    span = iv.end - iv.start
    with np.errstate(divide="ignore", invalid="ignore"):
        model = np.log((curve.views(iv.end) - curve.views(iv.start)) / span)
    err = (iv.log_rate - model) ** 2
    ok = np.isfinite(err)
    sums = np.bincount(code, np.where(ok, err, 0.0), minlength=len(iv.video_ids))
    counts = np.bincount(code, ok.astype(float), minlength=len(iv.video_ids))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(sums / counts)


def fit_curves(snapshots: pd.DataFrame, shape: str = DEFAULT_SHAPE, prior: ShapePrior | None = None,
               min_observations: int = 2) -> pd.DataFrame:
    """MAP lifecycle curve of every video of a canonical snapshot table (``fit_intervals``)."""
    return fit_intervals(intervals_from_snapshots(snapshots), shape, prior, min_observations)


def curves_of(fits: pd.DataFrame, shape: str = DEFAULT_SHAPE) -> Curves:
    """The ``Curves`` of a ``fit_intervals`` table (same row order)."""
    return Curves(fits["log_level"].to_numpy(float), fits["time_to_peak"].to_numpy(float),
                  fits["decay"].to_numpy(float), shape)


def empirical_prior(fits: pd.DataFrame, min_used: int = 4, noise_sd: float | None = None) -> ShapePrior:
    """A ``ShapePrior`` from the fitted shapes of well-observed videos (>= ``min_used`` intervals): medians and
    robust sds (IQR / 1.349) of ``log tp`` and ``log decay``, and the median rmse as the noise sd."""
    good = fits[(fits["n_used"] >= min_used) & fits["log_level"].notna()]
    if len(good) < 10:
        raise ValueError(f"fits: {len(good)} videos with >= {min_used} usable intervals; need at least 10")

    def robust(x: pd.Series) -> tuple[float, float]:
        q25, q50, q75 = np.quantile(np.log(x.to_numpy(float)), [0.25, 0.5, 0.75])
        return float(q50), float(max((q75 - q25) / 1.349, 0.1))

    tp_mean, tp_sd = robust(good["time_to_peak"])
    dec_mean, dec_sd = robust(good["decay"])
    noise = float(good["rmse"].median() * np.sqrt(good["n_used"].median() / max(good["n_used"].median() - 3, 1)))
    return ShapePrior(tp_mean, tp_sd, dec_mean, dec_sd, noise_sd if noise_sd is not None else max(noise, 0.05))


WEAK_PRIOR = ShapePrior(log_tp_sd=3.0, log_decay_sd=3.0)


def fit_with_empirical_prior(iv: Intervals, shape: str = DEFAULT_SHAPE, min_observations: int = 2
                             ) -> tuple[pd.DataFrame, ShapePrior]:
    """Fits under the population's own shape prior: a first pass under a weak prior (``WEAK_PRIOR``) gives the
    ``empirical_prior`` of the well-observed videos, the second pass fits every video under it."""
    prior = empirical_prior(fit_intervals(iv, shape, WEAK_PRIOR, min_observations))
    return fit_intervals(iv, shape, prior, min_observations), prior
