"""Forecasting a published video's views from its observed days with its lifecycle curve (``CurveForecaster``):
the curve conditioned on the observations and anchored on the last one, so that a forecast is never below the last
observed views and never decreases with age; its intervals are split-conformal on the training videos."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from videoperf.forecasting.intervals import MAX_K, CellConformal, horizon_bin, monotone_interval
from videoperf.forecasting.series import AGE_EDGES, first_k, forecast_pairs, subset
from videoperf.lifecycle.curve import (
    DEFAULT_SHAPE,
    Curves,
    Intervals,
    ShapePrior,
    empirical_prior,
    fit_intervals,
    fit_with_empirical_prior,
    unit_cumulative,
)


class CurveForecaster:
    """The lifecycle curve conditioned on a video's observations.

    The level's prior is given per video (a mean and sd of the ln peak rate; default the training videos' spread),
    the shape's is the training videos' fitted shapes (``curve.empirical_prior``, or per video the shape model's);
    the observations update both (MAP: level in closed form, shape on a grid), so with one observation mostly the
    level moves and with more the shape too. Forecasts are ``v_last + R * (S(t) - S(t_last))``, corrected
    (``correct_bias``) by the median log error learnt per age cell, with locally weighted conformal intervals
    (``CellConformal``).
    """

    def __init__(self, shape: str = DEFAULT_SHAPE, coverage: float = 0.8,
                 calibration_ks: tuple[int, ...] = (0, 1, 2, 3, 5), max_calibration_videos: int = 20000,
                 seed: int = 0, correct_bias: bool = True, shape_model: bool = True,
                 shape_model_min_used: int = 2) -> None:
        self.shape = shape
        self.shape_model_min_used = shape_model_min_used
        self.shape_model = shape_model
        self.correct_bias = correct_bias
        self.coverage = coverage
        self.calibration_ks = calibration_ks
        self.max_calibration_videos = max_calibration_videos
        self.seed = seed

    def fit(self, iv: Intervals, level_mean: np.ndarray | None = None, level_sd: np.ndarray | None = None,
            hindsight: pd.DataFrame | None = None, features: np.ndarray | None = None) -> CurveForecaster:
        """Fit the shape prior (hindsight fits of the training videos, ``fit_with_empirical_prior`` unless given),
        the level prior's spread where no ``level_sd`` is given, and the conformal intervals (training videos
        conditioned on their first k, with their ``level_mean`` / ``level_sd``).

        With ``shape_model`` the shape prior's means are predicted per video, once it has been observed, from its
        first observation (log age, log views, log views above the level prior) and ``features`` (per video, known
        by its first observation, e.g. its like ratio then), by gradient boosting fitted on the hindsight shapes of
        the training videos outside the calibration sample (its residual spread, there, is the prior's sd)."""
        if hindsight is None:
            hindsight, _ = fit_with_empirical_prior(iv, self.shape)
        self.prior_ = empirical_prior(hindsight)
        fitted = hindsight["log_level"].to_numpy(float)
        ok = np.isfinite(fitted)
        if level_mean is None:
            self.global_level_ = float(np.median(fitted[ok]))
            level_mean = np.full(len(fitted), self.global_level_)
        residual = fitted[ok] - np.asarray(level_mean, dtype=float)[ok]
        self.level_sd_ = float(np.std(residual[np.isfinite(residual)]))
        level_sd = np.full(len(fitted), self.level_sd_) if level_sd is None else np.asarray(level_sd, dtype=float)
        rng = np.random.default_rng(self.seed)
        chosen = np.arange(len(iv.video_ids))
        # The shape model learns from the videos outside the calibration sample: keep at least half for it.
        n_calibration = min(self.max_calibration_videos, len(chosen) // 2 if self.shape_model else len(chosen))
        if len(chosen) > n_calibration:
            chosen = np.sort(rng.choice(chosen, n_calibration, replace=False))
        sub = subset(iv, chosen)
        level_mean = np.asarray(level_mean, dtype=float)
        self.shape_models_ = None
        if self.shape_model:
            self._fit_shape_model(iv, hindsight, level_mean, features, chosen)
        sub_features = None if features is None else np.asarray(features, dtype=float)[chosen]
        n_bins = len(AGE_EDGES) + 1
        self.bias_ = np.zeros((MAX_K + 1, n_bins, n_bins))
        tables = []
        for k in self.calibration_ks:
            pairs = forecast_pairs(sub, k)
            if pairs.empty:
                continue
            point = self._point(first_k(sub, k), level_mean[chosen], level_sd[chosen], k, pairs,
                                corrected=False, features=sub_features)
            tables.append(pairs.assign(k=k, error=np.log1p(pairs["target_views"].to_numpy()) - np.log1p(point),
                                       growth=np.log1p(point) - np.log1p(pairs["last_views"].to_numpy())))
        calib = pd.concat(tables, ignore_index=True)
        if self.correct_bias:
            # Disjoint halves of the calibration videos learn the bias and calibrate the intervals, so that the
            # intervals see the corrected forecast's out-of-sample errors.
            half = rng.permutation(len(chosen)) % 2 == 0
            learn = calib[half[calib["video"].to_numpy()]]
            calib = calib[~half[calib["video"].to_numpy()]].reset_index(drop=True)
            # The curve's median log error per (k, age bin of the last observation, age bin of the target):
            # what the prior shape gets wrong on average, learnt on the training videos as Szabo-Huberman is.
            cell = (np.minimum(learn["k"], MAX_K).to_numpy(), np.searchsorted(AGE_EDGES, learn["last_age"]),
                    np.searchsorted(AGE_EDGES, learn["target_age"]))
            medians = learn.groupby(list(cell))["error"].agg(["median", "size"])
            medians = medians[medians["size"] >= 30]
            for (kk, b0, b1), value in medians["median"].items():
                self.bias_[kk, b0, b1] = value
            for kk in range(MAX_K + 1):  # uncalibrated k: the nearest calibrated one below
                if not self.bias_[kk].any() and kk > 0:
                    self.bias_[kk] = self.bias_[kk - 1]
            point = np.concatenate([self._point(first_k(sub, k), level_mean[chosen], level_sd[chosen], k, g,
                                                features=sub_features) for k, g in calib.groupby("k", sort=False)])
            order = np.concatenate([g.index.to_numpy() for _, g in calib.groupby("k", sort=False)])
            calib.loc[order, "error"] = np.log1p(calib.loc[order, "target_views"].to_numpy()) - np.log1p(point)
            calib.loc[order, "growth"] = np.log1p(point) - np.log1p(calib.loc[order, "last_views"].to_numpy())
        self.conformal_ = CellConformal(self.coverage).fit(calib["k"].to_numpy(),
                                                           horizon_bin(calib["target_age"] - calib["last_age"]),
                                                           calib["error"].to_numpy(), calib["growth"].to_numpy())
        return self

    def _fit_shape_model(self, iv: Intervals, hindsight: pd.DataFrame, level_mean: np.ndarray,
                         features: np.ndarray | None, calibration: np.ndarray) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor

        X = _first_features(iv, level_mean, features)
        good = ((hindsight["n_used"].to_numpy() >= self.shape_model_min_used)
                & np.isfinite(hindsight["log_level"].to_numpy()))
        held = np.zeros(len(good), bool)
        held[calibration] = True
        targets = np.log(hindsight[["time_to_peak", "decay"]].to_numpy(float))
        if (good & ~held).sum() < 200 or (good & held).sum() < 50:
            return
        models, sds = [], []
        for j in range(2):
            model = HistGradientBoostingRegressor(max_iter=150, learning_rate=0.1, random_state=self.seed)
            model.fit(X[good & ~held], targets[good & ~held, j])
            models.append(model)
            sds.append(float(np.std(targets[good & held, j] - model.predict(X[good & held]))))
        self.shape_models_ = models
        self.shape_prior_ = dataclasses.replace(self.prior_, log_tp_sd=max(sds[0], 0.1), log_decay_sd=max(sds[1], 0.1))

    def condition(self, observed: Intervals, level_mean: np.ndarray, level_sd: np.ndarray,
                  features: np.ndarray | None = None) -> Curves:
        """The MAP curve of each video of ``observed`` given its observations (none: the prior curve)."""
        n = len(observed.video_ids)
        level_mean = np.broadcast_to(np.asarray(level_mean, dtype=float), (n,))
        level_sd = np.broadcast_to(np.asarray(level_sd, dtype=float), (n,))
        p = self.prior_
        curves = Curves(level_mean.copy(), np.full(n, np.exp(p.log_tp_mean)), np.full(n, np.exp(p.log_decay_mean)),
                        self.shape)
        if len(observed.video):
            shape_mean, prior = None, p
            if getattr(self, "shape_models_", None) is not None:
                X = _first_features(observed, level_mean, features)
                seen = np.isfinite(X[:, 0])
                shape_mean = (np.full(n, p.log_tp_mean), np.full(n, p.log_decay_mean))
                for j, model in enumerate(self.shape_models_):
                    if seen.any():
                        shape_mean[j][seen] = model.predict(X[seen])
                prior = self.shape_prior_
            fits = fit_intervals(observed, self.shape, prior, 1, level_mean, level_sd, shape_mean=shape_mean)
            seen = np.isfinite(fits["log_level"].to_numpy())
            for name, col in (("log_level", "log_level"), ("time_to_peak", "time_to_peak"), ("decay", "decay")):
                getattr(curves, name)[seen] = fits[col].to_numpy()[seen]
        return curves

    def _point(self, observed: Intervals, level_mean: np.ndarray, level_sd: np.ndarray, k: int,
               pairs: pd.DataFrame, corrected: bool = True, features: np.ndarray | None = None) -> np.ndarray:
        curves = self.condition(observed, level_mean, level_sd, features)
        return self._corrected(curves, pairs["video"].to_numpy(), pairs["last_age"].to_numpy(),
                               pairs["last_views"].to_numpy(), pairs["target_age"].to_numpy(), k, corrected)

    def _corrected(self, curves: Curves, video: np.ndarray, last_age: np.ndarray, last_views: np.ndarray,
                   target_age: np.ndarray, k: int | np.ndarray, corrected: bool = True) -> np.ndarray:
        """The anchored curve forecast with the learnt bias per age-bin cell; raised to its value at every age-bin
        edge passed on the way, so that it stays non-decreasing in age across cells."""
        def at(age: np.ndarray) -> np.ndarray:
            point = _anchored(curves, video, last_age, last_views, age, k)
            if not corrected or not self.correct_bias:
                return point
            kk = np.minimum(np.broadcast_to(k, np.shape(age)), MAX_K)
            bias = self.bias_[kk, np.searchsorted(AGE_EDGES, last_age), np.searchsorted(AGE_EDGES, age)]
            return np.maximum(np.expm1(np.log1p(point) + bias), last_views)

        point = at(target_age)
        if corrected and self.correct_bias:
            for edge in AGE_EDGES:
                passed = (edge > last_age) & (edge < target_age)
                if passed.any():
                    point = np.where(passed, np.maximum(point, at(np.where(passed, edge, target_age))), point)
        return point

    def predict(self, observed: Intervals, level_mean: np.ndarray, level_sd: np.ndarray, video: np.ndarray,
                target_age: np.ndarray, k: int | np.ndarray | None = None, features: np.ndarray | None = None,
                curves: Curves | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Point forecast and interval of the views of video code ``video`` at ``target_age``.

        ``observed`` holds the observations each video is conditioned on (``first_k`` of a series, or a
        caller's points); the forecast is anchored on each video's last one. ``k``: observations used per
        forecast (default: counted from ``observed``), which picks the conformal cell. ``features``: per video,
        as given to ``fit``. ``curves``: ``condition(observed, level_mean, level_sd, features)`` when the caller
        already has it (not recomputed).
        """
        video = np.asarray(video, dtype=np.int64)
        target_age = np.asarray(target_age, dtype=float)
        counts = np.bincount(observed.video, minlength=len(observed.video_ids))
        last_age = np.zeros(len(observed.video_ids))
        last_views = np.zeros(len(observed.video_ids))
        if len(observed.video):
            is_last = np.r_[observed.video[1:] != observed.video[:-1], True]
            last_age[observed.video[is_last]] = observed.end[is_last]
            last_views[observed.video[is_last]] = observed.end_views[is_last]
        if curves is None:
            curves = self.condition(observed, level_mean, level_sd, features)
        k_used = counts[video] if k is None else np.broadcast_to(k, video.shape)
        return monotone_interval(
            lambda age: self._corrected(curves, video, last_age[video], last_views[video], age, k_used),
            self.conformal_, k_used, last_age[video], last_views[video], target_age)


def _first_features(iv: Intervals, level_mean: np.ndarray, features: np.ndarray | None) -> np.ndarray:
    """Per video: log age and log1p views at its first observation, the latter minus the level prior, the log of
    its mean daily views since publish minus the level prior (the level is the ln peak rate: how near the peak
    the video's mean rate already is), and ``features``; NaN rows for videos without an observation."""
    n = len(iv.video_ids)
    out = np.full((n, 4), np.nan)
    if len(iv.video):
        first = np.r_[True, iv.video[1:] != iv.video[:-1]]
        v = iv.video[first]
        out[v, 0] = np.log(np.maximum(iv.end[first], 1e-3))
        out[v, 1] = np.log1p(iv.end_views[first])
        out[v, 2] = out[v, 1] - np.broadcast_to(level_mean, (n,))[v]
        out[v, 3] = out[v, 2] - out[v, 0]
    if features is None:
        return out
    extra = np.asarray(features, dtype=float).reshape(n, -1)
    return np.column_stack([out, np.where(np.isfinite(out[:, :1]), extra, np.nan)])


def _anchored(curves: Curves, video: np.ndarray, last_age: np.ndarray, last_views: np.ndarray,
              target_age: np.ndarray, k: int | np.ndarray) -> np.ndarray:
    """``v_last + R (S(t) - S(t_last))`` (the prior curve's views when nothing was observed)."""
    tp, dec = curves.time_to_peak[video], curves.decay[video]
    scale = np.exp(curves.log_level[video])
    t = np.maximum(target_age, last_age)
    grow = scale * (unit_cumulative(t, tp, dec, curves.shape) - unit_cumulative(last_age, tp, dec, curves.shape))
    return np.where(np.asarray(k) > 0, last_views + np.maximum(grow, 0.0), scale * unit_cumulative(t, tp, dec,
                                                                                                   curves.shape))


def level_from_views(log_views: np.ndarray, age: np.ndarray, prior: ShapePrior,
                     shape: str = DEFAULT_SHAPE) -> np.ndarray:
    """The level (ln peak rate) of the prior-shape curve that has ``exp(log_views)`` views at ``age``: how a
    pre-publication prediction of views becomes the curve's level prior."""
    unit = unit_cumulative(age, np.exp(prior.log_tp_mean), np.exp(prior.log_decay_mean), shape)
    return np.asarray(log_views, dtype=float) - np.log(unit)
