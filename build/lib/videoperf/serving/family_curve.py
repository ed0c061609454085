"""One lifecycle curve per pre-publication prediction of a model family, so that its views at any age, its stage,
its time to peak and its decay rate agree.

The family's views at the ages its training rows covered (``trained_ages``), weighted by the share of videos still
observed there (``age_weights``), are fitted as one curve under a shape prior (the deep model's time-to-peak and
decay heads, else the training series' population prior); views, interval, stage, time to peak and decay rate are
read off that curve. Inference only: this module imports no training code. Why: ``docs/design_notes.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from videoperf.lifecycle.curve import (
    DEFAULT_SHAPE,
    POWER_TAU_DAYS,
    WEAK_PRIOR,
    Curves,
    Intervals,
    ShapePrior,
    fit_intervals,
)
from videoperf.serving.bundle import OBSERVED_FILE, Bundle

WELL_OBSERVED_INTERVALS = 4
MIN_AGE_WEIGHT = 1e-3
HEAD_COLUMNS = ("predicted_time_to_peak_days", "predicted_decay_rate")
# Heads outside the curve's grid ranges are clipped to them (curve._TP_RANGE / _DECAY_RANGE, a little inside).
_TP_CLIP = (0.03, 25.0)
_DECAY_CLIP = {"exp": (0.006, 4.5), "power": (0.06, 5.5)}


def trained_ages(bundle: Bundle) -> np.ndarray:
    """Ages (days) the bundle's training rows covered: the inner quantile edges of their log ages (23 by default)
    recorded by the feature pipeline's age curve, sorted, unique."""
    return _trained(bundle)[0]


def age_weights(bundle: Bundle) -> np.ndarray | None:
    """Weight of each trained age in the curve fit: the share of the training videos seen by then that are still
    observed at it (module docstring, point 2), floored at ``MIN_AGE_WEIGHT``; None for a bundle trained before
    the share was recorded (every age weighs the same)."""
    return _trained(bundle)[1]


def _trained(bundle: Bundle) -> tuple[np.ndarray, np.ndarray | None]:
    curve = bundle.features.age_curve_
    edges = np.asarray(curve.edges_, dtype=float)
    share = getattr(curve, "still_observed_", None)
    ages = np.expm1(edges)
    keep = np.r_[True, np.diff(ages) > 0] & (ages > 0)  # as np.unique, but keeping the weights aligned
    if keep.sum() < 2:
        raise ValueError("bundle: its feature pipeline records fewer than 2 training ages; retrain the bundle")
    weights = None if share is None else np.maximum(np.asarray(share, dtype=float)[keep], MIN_AGE_WEIGHT)
    return ages[keep], weights


def headless_prior(bundle: Bundle, shape: str) -> ShapePrior:
    """The shape prior of a family without time-to-peak and decay heads: the bundle's population prior for
    ``shape`` from its training series (``ObservedForecaster.shape_prior``), else ``curve.WEAK_PRIOR``."""
    if OBSERVED_FILE in bundle.manifest.get("files", {}):
        found = bundle.observed_forecaster().shape_prior(shape)
        if found is not None:
            return found
    return WEAK_PRIOR


@dataclass(frozen=True)
class FamilyCurves:
    """The curves of many requests (one each) and the family's interval ratios at the trained ages."""

    curves: Curves
    trained_ages: np.ndarray
    lo_ratio: np.ndarray  # (requests, trained ages): family views_lo / predicted_views
    hi_ratio: np.ndarray

    def frame(self, i: int, ages: Sequence[float] | np.ndarray) -> pd.DataFrame:
        """Request ``i``'s curve at ``ages``: ``age, views, views_lo, views_hi, stage`` (ages in the given order;
        views and bounds non-decreasing in age)."""
        ages = _check_ages(ages)
        order = np.argsort(ages, kind="stable")
        sorted_ages = ages[order]
        one = Curves(self.curves.log_level[i:i + 1], self.curves.time_to_peak[i:i + 1], self.curves.decay[i:i + 1],
                     self.curves.shape)
        views = one.views(sorted_ages[:, None])[:, 0]
        nearest = np.clip(np.searchsorted(self.trained_ages, sorted_ages), 0, len(self.trained_ages) - 1)
        lo = np.maximum.accumulate(views * self.lo_ratio[i, nearest])
        hi = np.maximum.accumulate(views * self.hi_ratio[i, nearest])
        out = pd.DataFrame({"age": sorted_ages, "views": views, "views_lo": np.minimum(lo, views),
                            "views_hi": np.maximum(hi, views),
                            "stage": one.stage(sorted_ages[:, None])[:, 0]})
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        return out.iloc[back].reset_index(drop=True)


@dataclass(frozen=True)
class CurvePrediction:
    """One request's curve: the table at the asked ages and the curve's own time to peak and decay."""

    frame: pd.DataFrame  # age, views, views_lo, views_hi, stage
    time_to_peak_days: float
    decay_rate: float  # per day, -d log(daily views)/dt one day after the peak (``Curves.decay_rate``)
    curve: Curves  # length 1
    model_type: str


def _check_ages(ages: Sequence[float] | np.ndarray) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(ages, dtype=float))
    if arr.ndim != 1 or not len(arr) or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"ages: must be a non-empty list of positive finite days, got {ages!r}")
    return arr


def _repeat_rows(requests: Mapping[str, Any], ages: np.ndarray) -> tuple[dict[str, list[Any]], int]:
    """Every request row once per trained age (request-major), its ``age_days`` replaced."""
    n = len(requests["published_at"])
    rows = {key: [value for value in values for _ in ages] for key, values in requests.items()}
    rows["age_days"] = list(np.tile(ages, n))
    return rows, n


def family_curves(bundle: Bundle, requests: Mapping[str, Any], model_type: str,
                  shape: str = DEFAULT_SHAPE, noise_sd: float | None = None) -> FamilyCurves:
    """The lifecycle curve of each validated request row (``VideoRequest.row``; a mapping of columns or a
    DataFrame) under ``model_type``: one model pass at the trained ages, one vectorised MAP fit (module docstring).
    ``noise_sd``: the log-views noise per trained age (default: see the module docstring)."""
    ages, weights = _trained(bundle)
    rows, n = _repeat_rows({k: list(requests[k]) for k in requests}, ages)
    return fit_family_curves(bundle.predict_frame(rows, model_type), ages, shape, noise_sd, age_weights=weights,
                             prior=headless_prior(bundle, shape))


def fit_family_curves(predicted: pd.DataFrame, ages: np.ndarray, shape: str = DEFAULT_SHAPE,
                      noise_sd: float | None = None, age_weights: np.ndarray | None = None,
                      prior: ShapePrior = WEAK_PRIOR) -> FamilyCurves:
    """The curves of a family's predictions at ``ages`` (``trained_ages``): ``predicted`` holds one row per
    (video, age), video-major (each video's ``len(ages)`` rows together, ages in order), with
    ``predicted_views`` and, when the family has them, ``views_lo``/``views_hi`` and the two heads.
    ``age_weights``: one per age (``age_weights``; None: equal); ``prior``: the shape prior of a family without
    the heads (``headless_prior``; its noise sd is replaced by ``noise_sd``)."""
    ages = np.asarray(ages, dtype=float)
    k = len(ages)
    if k < 2 or len(predicted) % k:
        raise ValueError(f"predicted: {len(predicted)} rows is not a whole number of videos x {k} ages")
    n = len(predicted) // k
    views = np.maximum(predicted["predicted_views"].to_numpy(float), 1.0).reshape(n, k)
    if noise_sd is None:
        noise_sd = ShapePrior().noise_sd * float(np.sqrt(k / WELL_OBSERVED_INTERVALS))
    shape_mean = None
    if all(c in predicted for c in HEAD_COLUMNS):
        prior = ShapePrior(noise_sd=noise_sd)
        tp = np.clip(predicted[HEAD_COLUMNS[0]].to_numpy(float), *_TP_CLIP).reshape(n, k)
        rate = np.clip(predicted[HEAD_COLUMNS[1]].to_numpy(float), 1e-6, None).reshape(n, k)
        # The head is lifecycle's exponential decay rate; the power law's alpha gives that rate one day after peak.
        decay = rate if shape == "exp" else rate * (POWER_TAU_DAYS + 1.0)
        decay = np.clip(decay, *_DECAY_CLIP[shape])
        shape_mean = (np.log(tp).mean(axis=1), np.log(decay).mean(axis=1))
    else:
        prior = dataclasses.replace(prior, noise_sd=noise_sd)
    weight = None
    if age_weights is not None:
        age_weights = np.asarray(age_weights, dtype=float)
        if age_weights.shape != ages.shape or not np.all(np.isfinite(age_weights)) or np.any(age_weights <= 0):
            raise ValueError(f"age_weights: need {k} positive finite weights, one per trained age")
        # Normalised to mean 1, so the trained ages together keep the weight of WELL_OBSERVED_INTERVALS.
        weight = np.tile(age_weights / age_weights.mean(), n)
    iv = Intervals(video=np.repeat(np.arange(n), k), start=np.zeros(n * k), end=np.tile(ages, n),
                   log_rate=np.log(views / ages).ravel(), end_views=views.ravel(), video_ids=np.arange(n),
                   weight=weight)
    fits = fit_intervals(iv, shape, prior, min_observations=1, shape_mean=shape_mean)
    curves = Curves(fits["log_level"].to_numpy(float), fits["time_to_peak"].to_numpy(float),
                    fits["decay"].to_numpy(float), shape)
    point = predicted["predicted_views"].to_numpy(float).reshape(n, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        lo = predicted["views_lo"].to_numpy(float).reshape(n, k) / point if "views_lo" in predicted else None
        hi = predicted["views_hi"].to_numpy(float).reshape(n, k) / point if "views_hi" in predicted else None
    lo = np.ones((n, k)) if lo is None else np.where(np.isfinite(lo), np.clip(lo, 0.0, 1.0), 1.0)
    hi = np.ones((n, k)) if hi is None else np.where(np.isfinite(hi), np.maximum(hi, 1.0), 1.0)
    return FamilyCurves(curves, ages, lo, hi)


def curve_prediction(bundle: Bundle, request: Mapping[str, Any], ages: Sequence[float] | np.ndarray,
                     model_type: str, shape: str = DEFAULT_SHAPE) -> CurvePrediction:
    """One validated request (``VideoRequest.row``) as one curve under ``model_type``, read at ``ages`` (days):
    views, 80%-style interval, stage, and the curve's time to peak and decay rate."""
    ages = _check_ages(ages)
    fc = family_curves(bundle, {key: [value] for key, value in request.items()}, model_type, shape)
    curve = Curves(fc.curves.log_level[:1], fc.curves.time_to_peak[:1], fc.curves.decay[:1], fc.curves.shape)
    return CurvePrediction(frame=fc.frame(0, ages), time_to_peak_days=float(curve.time_to_peak[0]),
                           decay_rate=float(curve.decay_rate()[0]), curve=curve, model_type=model_type)
