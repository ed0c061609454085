"""The forecaster from observed days a bundle carries as ``observed_forecaster.pkl`` (``ObservedForecaster``): per
curve shape used, a level prior and a ``CurveForecaster``; the shape per number of observations, chosen on the
training videos alone; and the Szabo-Huberman baseline. Fitted on the training videos' series only."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from videoperf.features.channel_history import ChannelHistory
from videoperf.forecasting.curve_forecaster import CurveForecaster
from videoperf.forecasting.forecast_inputs import TrainingSeries, first_category, shape_features, training_series
from videoperf.forecasting.level_prior import fit_level, level_prior_for
from videoperf.forecasting.series import first_k, forecast_pairs
from videoperf.forecasting.shape_select import choose_by_k, default_shape
from videoperf.forecasting.szabo_huberman import SzaboHuberman
from videoperf.lifecycle.curve import (
    DEFAULT_SHAPE,
    SHAPES,
    Curves,
    Intervals,
    ShapePrior,
    fit_with_empirical_prior,
    unit_cumulative,
    unit_rate,
)

OBSERVED_FILE = "observed_forecaster.pkl"
MIN_VIDEOS = 50  # training videos with two or more observations needed to fit a forecaster
SELECTION_KS = (1, 2, 3, 5)  # the Ks the shape is chosen for (a request has at least one observation)


@dataclass(frozen=True)
class Forecast:
    """Forecasts at target ages: ``point``, ``lo``, ``hi`` per target; per video the conditioned ``curves``,
    observations used, last observed age and views, and the curve shape used."""

    point: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    curves: Curves
    used: np.ndarray
    last_age: np.ndarray
    last_views: np.ndarray
    shapes: np.ndarray | None = None


@dataclass(frozen=True)
class MixedCurves(Curves):
    """Curves of videos forecast with different shapes (``shapes``, per video; ``shape`` is then ``"mixed"``)."""

    shapes: np.ndarray | None = None

    def _by_shape(self, function: Any, age: np.ndarray) -> np.ndarray:
        age, tp, decay = np.broadcast_arrays(np.asarray(age, dtype=float), self.time_to_peak, self.decay)
        out = np.full(age.shape, np.nan)
        for shape in np.unique(self.shapes):
            m = np.broadcast_to(self.shapes == shape, age.shape)
            out[m] = function(age[m], tp[m], decay[m], str(shape))
        return out

    def views(self, age: np.ndarray) -> np.ndarray:
        """Cumulative views at ``age`` days, each video by its own shape."""
        return np.exp(self.log_level) * self._by_shape(unit_cumulative, age)

    def daily_rate(self, age: np.ndarray) -> np.ndarray:
        """Daily views at ``age`` days, each video by its own shape."""
        return np.exp(self.log_level) * self._by_shape(unit_rate, age)

    def decay_rate(self, age: np.ndarray | None = None) -> np.ndarray:
        """``Curves.decay_rate`` of each video by its own shape."""
        out = np.full(len(self.decay), np.nan)
        for shape in np.unique(self.shapes):
            m = self.shapes == shape
            part = Curves(self.log_level[m], self.time_to_peak[m], self.decay[m], str(shape))
            out[m] = part.decay_rate(None if age is None else np.broadcast_to(age, self.decay.shape)[m])
        return out


@dataclass
class _ShapePart:
    """One curve shape's level prior (``fit_level``'s parameters) and conditioned-curve forecaster."""

    level: dict[str, float]
    curve: CurveForecaster


class ObservedForecaster:
    """The observation-conditioned lifecycle curve (shape per K) and Szabo-Huberman, fitted on training snapshots.

    ``shape``: None chooses the shape per K on the training videos (``_choose_shapes``); a shape name uses it for
    every K. ``inner_days``, ``z``: the inner split and the margin of that choice. A forecast is never below the
    last observed views and never decreases with age."""

    def __init__(self, shape: str | None = None, coverage: float = 0.8, max_calibration_videos: int = 20000,
                 seed: int = 0, inner_days: int = 30, z: float = 2.0) -> None:
        self.shape = shape
        self.coverage = coverage
        self.max_calibration_videos = max_calibration_videos
        self.seed = seed
        self.inner_days = inner_days
        self.z = z

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Load pickles of every version: one from before the shape per K (``curve_``, ``level_``) becomes a
        forecaster with that one shape for every K; anything else unrecognised is refused by name."""
        if "curve_" in state and "parts_" not in state:
            state = dict(state)
            curve, level = state.pop("curve_"), state.pop("level_")
            state["parts_"] = {curve.shape: _ShapePart(level, curve)}
            state["shape_by_k_"] = {1: curve.shape}
            state["selection_"] = {"method": "fixed (a forecaster saved before the shape per K)"}
            state.setdefault("inner_days", 30)
            state.setdefault("z", 2.0)
        elif "baseline_" in state and "parts_" not in state:
            raise ValueError(f"{OBSERVED_FILE}: not a forecaster this version can read (no curve forecaster); "
                             "retrain the bundle (videoperf train --data SOURCE --artifacts DIR)")
        self.__dict__.update(state)

    # --------------------------------------------------------------------------------------------------- fit
    def fit(self, snapshots: pd.DataFrame, history: ChannelHistory) -> ObservedForecaster:
        """Fit on canonical training snapshots; ``history``: their channel history (as of each publish time)."""
        if self.shape is not None and self.shape not in SHAPES:
            raise ValueError(f"shape: {self.shape!r} is not a curve shape; choose from {list(SHAPES)} or None "
                             "(chosen per number of observations)")
        started = time.perf_counter()
        data = training_series(snapshots, history)
        counts = np.bincount(data.iv.video, minlength=len(data.iv.video_ids))
        if (counts >= 2).sum() < MIN_VIDEOS:
            raise ValueError(f"snapshots: {(counts >= 2).sum()} videos observed twice or more; the observed-days "
                             f"forecaster needs at least {MIN_VIDEOS}")
        self.categories_ = sorted(set(first_category(data.first["categories"].tolist())) - {""})
        if self.shape is None:
            self.shape_by_k_, self.selection_ = self._choose_shapes(snapshots, history, data)
        else:
            self.shape_by_k_, self.selection_ = {1: self.shape}, {"method": "fixed (shape given)"}
        self.parts_ = _per_shape(lambda shape: self._fit_part(data, shape, self.max_calibration_videos),
                                 sorted(set(self.shape_by_k_.values())))
        self.baseline_ = SzaboHuberman(self.coverage).fit(data.iv)
        self.n_videos_ = int(len(data.iv.video_ids))
        self.fit_seconds_ = round(time.perf_counter() - started, 1)
        return self

    def _fit_part(self, data: TrainingSeries, shape: str, max_calibration_videos: int) -> _ShapePart:
        """The level prior and ``CurveForecaster`` of one shape on ``data``."""
        hindsight, _ = fit_with_empirical_prior(data.iv, shape)
        level = fit_level(data.avg, data.count, hindsight["log_level"].to_numpy(float))
        mean, sd = level_prior_for(level, data.avg, data.count)
        first = data.first
        features = self.shape_features(first["likes"].to_numpy(float), first["views"].to_numpy(float),
                                       first["categories"].tolist(), first["duration_seconds"].to_numpy(float),
                                       first["published_at"])
        # One OpenMP thread for the shape model's boosting: its trees are small, and on a busy machine threads
        # made the fit several times slower (51 s against 9 s on 3,000 simulated videos, load ~10). The limit
        # is the calling thread's (OpenMP's thread count is per thread), so it holds in ``_per_shape``'s threads.
        with threadpool_limits(limits=1, user_api="openmp"):
            curve = CurveForecaster(shape, self.coverage, max_calibration_videos=max_calibration_videos,
                                    seed=self.seed).fit(data.iv, mean, sd, hindsight=hindsight, features=features)
        return _ShapePart(level, curve)

    def _choose_shapes(self, snapshots: pd.DataFrame, history: ChannelHistory, data: TrainingSeries
                       ) -> tuple[dict[int, str], dict[str, Any]]:
        """The shape per K from the training snapshots alone, and what the choice saw.

        The default is the shape whose fits to the first halves of the training series forecast their later halves
        better (``default_shape``). On an inner time split (the videos published in the last ``inner_days`` before
        the last observation, forecast by forecasters fitted on the earlier ones) a K of ``SELECTION_KS`` takes
        another shape only where its forecasts are better by more than ``z`` standard errors of the per-video
        paired difference and in log-MAE (``choose_by_k``)."""
        from videoperf.data.splits import split_by_date

        try:
            default, heldout = default_shape(data.iv)
        except ValueError as error:  # no series long enough to hold out a later half
            return {1: DEFAULT_SHAPE}, {"method": f"default {DEFAULT_SHAPE!r}: {error}"}
        out: dict[str, Any] = {"default_shape": default, "heldout_views_log_mae": heldout}
        cut = (pd.Timestamp(snapshots["observed_at"].max()) - pd.Timedelta(days=self.inner_days)).floor("D")
        try:
            inner_train, inner_test = split_by_date(snapshots, cut)
            fit_on, test_on = training_series(inner_train, history), training_series(inner_test, history)
        except ValueError as error:
            return {1: default}, {**out, "method": f"default for every K: no inner split ({error})"}
        test_counts = np.bincount(test_on.iv.video, minlength=len(test_on.iv.video_ids))
        fit_counts = np.bincount(fit_on.iv.video, minlength=len(fit_on.iv.video_ids))
        if (fit_counts >= 2).sum() < MIN_VIDEOS or (test_counts >= 2).sum() < MIN_VIDEOS:
            return {1: default}, {**out, "method": f"default for every K: the inner split {cut.date()} leaves "
                                                   f"{(fit_counts >= 2).sum()} / {(test_counts >= 2).sum()} videos "
                                                   f"observed twice or more (fewer than {MIN_VIDEOS})"}
        errors = _per_shape(lambda shape: _inner_errors(self, self._fit_part(fit_on, shape,
                                                                             self.max_calibration_videos), test_on),
                            list(SHAPES))
        errors = {s: {k: e for k, e in by_k.items() if len(e[1])} for s, by_k in errors.items()}
        chosen, stats = choose_by_k(errors, default, self.z)
        if not chosen:
            chosen = {1: default}
        out.update({"method": "per K on the inner split", "inner_split_date": str(cut.date()),
                    "inner_days": self.inner_days, "inner_test_videos": int(len(test_on.iv.video_ids)),
                    "per_k": {str(k): v for k, v in stats.items()}})
        return chosen, out

    def describe(self) -> dict[str, Any]:
        """What the manifest records about the forecaster."""
        default = self.shape_for(1) if self.shape is None else self.shape
        return {"shape": self.selection_.get("default_shape", default),
                "shape_by_k": {str(k): v for k, v in sorted(self.shape_by_k_.items())},
                "shape_selection": self.selection_, "coverage": self.coverage, "training_videos": self.n_videos_,
                "level_prior": {shape: dict(part.level) for shape, part in self.parts_.items()},
                "shape_prior": {shape: {"time_to_peak_days": math.exp(part.curve.prior_.log_tp_mean),
                                        "decay": math.exp(part.curve.prior_.log_decay_mean)}
                                for shape, part in self.parts_.items()},
                "shape_model": all(part.curve.shape_models_ is not None for part in self.parts_.values()),
                "fit_seconds": getattr(self, "fit_seconds_", None)}

    # ------------------------------------------------------------------------------------------------ inputs
    def shape_for(self, k: int) -> str:
        """The curve shape a forecast from ``k`` observations uses (the nearest chosen K at or below, else the
        smallest)."""
        keys = sorted(self.shape_by_k_)
        return self.shape_by_k_[max([c for c in keys if c <= k], default=keys[0])]

    def shape_prior(self, shape: str) -> ShapePrior | None:
        """The population's shape prior for ``shape``: medians and spreads of the hindsight shapes of the training
        series (``curve.empirical_prior``); None when no K uses that shape, so none was fitted."""
        part = self.parts_.get(shape)
        return None if part is None else part.curve.prior_

    def level_prior(self, channel_avg_views: np.ndarray, channel_video_count: np.ndarray, shape: str | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sd of the level prior of ``shape`` (default: one observation's) from the channel statistics a
        request carries."""
        part = self.parts_[self.shape_for(1) if shape is None else shape]
        return level_prior_for(part.level, channel_avg_views, channel_video_count)

    def shape_features(self, first_likes: np.ndarray, first_views: np.ndarray, categories: Sequence[Any],
                       duration_seconds: np.ndarray, published_at: Any) -> np.ndarray:
        """Per video: log((likes + 1) / (views + 1)) at its first observation, first category (code), log
        duration, publish hour (``forecast_inputs.shape_features`` with the training videos' categories)."""
        return shape_features(self.categories_, first_likes, first_views, categories, duration_seconds,
                              published_at)

    # ----------------------------------------------------------------------------------------------- predict
    def forecast(self, observed: Intervals, first_likes: np.ndarray, videos: dict[str, Any], video: np.ndarray,
                 target_age: np.ndarray) -> Forecast:
        """Views of video code ``video`` at ``target_age`` given ``observed`` (codes index ``videos``' rows).

        ``videos``: per video ``channel_avg_views``, ``channel_video_count``, ``categories``, ``duration_seconds``,
        ``published_at`` (validated request columns); ``first_likes``: likes at each video's first observation
        (NaN unknown). Each video is forecast with the shape chosen for its number of observations."""
        n = len(observed.video_ids)
        video = np.asarray(video, dtype=np.int64)
        target_age = np.asarray(target_age, dtype=float)
        used = np.bincount(observed.video, minlength=n)
        shapes = np.array([self.shape_for(max(int(u), 1)) for u in used], dtype=object)
        first_views = np.full(n, np.nan)
        last_age, last_views = np.zeros(n), np.zeros(n)
        if len(observed.video):
            starts = np.r_[True, observed.video[1:] != observed.video[:-1]]
            first_views[observed.video[starts]] = observed.end_views[starts]
            is_last = np.r_[observed.video[1:] != observed.video[:-1], True]
            last_age[observed.video[is_last]] = observed.end[is_last]
            last_views[observed.video[is_last]] = observed.end_views[is_last]
        features = self.shape_features(first_likes, first_views, videos["categories"], videos["duration_seconds"],
                                       videos["published_at"])
        point, lo, hi = np.zeros(len(video)), np.zeros(len(video)), np.zeros(len(video))
        level, tp, decay = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        for shape in sorted(set(shapes)):
            curve = self.parts_[shape].curve
            mean, sd = self.level_prior(videos["channel_avg_views"], videos["channel_video_count"], shape)
            mine = shapes == shape
            sel = mine[video]
            with threadpool_limits(limits=1, user_api="openmp"):  # one row: threads only cost (shape model)
                curves = curve.condition(observed, mean, sd, features)
                part = curve.predict(observed, mean, sd, video[sel], target_age[sel], features=features,
                                     curves=curves)
            for out, values in zip((point, lo, hi), part):
                out[sel] = values
            for out, values in zip((level, tp, decay), (curves.log_level, curves.time_to_peak, curves.decay)):
                out[mine] = values[mine]
        if len(set(shapes)) == 1:
            conditioned: Curves = Curves(level, tp, decay, str(shapes[0]))
        else:
            conditioned = MixedCurves(level, tp, decay, "mixed", shapes)
        return Forecast(point, lo, hi, conditioned, used, last_age, last_views, shapes)

    def baseline(self, last_age: np.ndarray, last_views: np.ndarray, target_age: np.ndarray,
                 used: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Szabo-Huberman's point and interval from the last observation."""
        return self.baseline_.predict(last_age, last_views, target_age, used)


def _inner_errors(forecaster: ObservedForecaster, part: _ShapePart, data: TrainingSeries
                  ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per K of ``SELECTION_KS``: (video ids, absolute log1p errors) of ``part``'s forecasts of every later
    observation of the videos of ``data`` from their first K."""
    first = data.first
    mean, sd = level_prior_for(part.level, data.avg, data.count)
    features = forecaster.shape_features(first["likes"].to_numpy(float), first["views"].to_numpy(float),
                                         first["categories"].tolist(), first["duration_seconds"].to_numpy(float),
                                         first["published_at"])
    out = {}
    for k in SELECTION_KS:
        pairs = forecast_pairs(data.iv, k)
        video = pairs["video"].to_numpy()
        with threadpool_limits(limits=1, user_api="openmp"):
            point, _, _ = part.curve.predict(first_k(data.iv, k), mean, sd, video, pairs["target_age"].to_numpy(),
                                             k, features=features)
        out[k] = (data.iv.video_ids[video], np.abs(np.log1p(point) - np.log1p(pairs["target_views"].to_numpy())))
    return out


def _per_shape(work: Callable[[str], Any], shapes: list[str]) -> dict[str, Any]:
    """``{shape: work(shape)}``, the shapes in two threads: a shape's fit is independent of the other's and mostly
    NumPy and scikit-learn code that releases the interpreter lock, and nothing else runs while the bundle's
    training fits the forecaster. (Threads, not processes: the training data is large and already here.)"""
    with ThreadPoolExecutor(max(1, min(2, len(shapes))), thread_name_prefix="videoperf-shape") as pool:
        return dict(zip(shapes, pool.map(work, shapes)))
