"""Calibrating a bundle to the user's own channels: how its predictions map to their videos' views.

``ChannelCalibration`` is a scikit-learn style estimator on the log1p scale: ``fit(predicted_log, actual_log,
channel_ids, age_days, channel_count)`` learns a shrunk overall and per-channel offset, a quadratic in log age
(applied within the fitted ages) and a slope in ``1 / sqrt(1 + channel_count)``; ``transform`` applies them, after
an optional isotonic map (``method="isotonic"``). ``videoperf.calibrate`` fits one per model type and stores it in
the bundle. Why these terms: ``docs/design_notes.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

METHODS = ("offset", "isotonic")
MIN_VIDEOS = 5  # fewer earlier videos say too little about a channel to calibrate to it


# log1p of the age asked about and its square; 1 / sqrt(1 + the channel's earlier videos) (module docstring)
COVARIATES = ("log_age", "log_age_squared", "inverse_sqrt_channel_count")


def covariates(age_days: np.ndarray | None, channel_count: np.ndarray | None, n: int,
               log_age_range: tuple[float, float] | None = None) -> np.ndarray:
    """The (n, 3) covariate matrix of ``COVARIATES``; an absent one is NaN (it then gets no slope).
    ``log_age_range``: log ages are clipped to it (the quadratic is not extrapolated)."""
    if age_days is None:
        log_age = np.full(n, np.nan)
    else:
        log_age = np.log1p(np.clip(np.asarray(age_days, float), 0, None))
        if log_age_range is not None:
            log_age = np.clip(log_age, *log_age_range)
    inverse = (np.full(n, np.nan) if channel_count is None
               else 1.0 / np.sqrt(1.0 + np.clip(np.asarray(channel_count, float), 0, None)))
    return np.column_stack([log_age, log_age ** 2, inverse])


class ChannelCalibration(BaseEstimator):
    """Per-channel log offset with shrinkage and slopes in log age (quadratic) and history size, optionally after an
    isotonic map (see the module docstring)."""

    def __init__(self, shrinkage: float = 5.0, method: str = "offset") -> None:
        self.shrinkage = shrinkage
        self.method = method

    def fit(self, predicted_log: np.ndarray, actual_log: np.ndarray,
            channel_ids: Sequence[str] | np.ndarray | None = None, age_days: np.ndarray | None = None,
            channel_count: np.ndarray | None = None) -> ChannelCalibration:
        """Learn the map from the bundle's log1p predictions to the actual log1p views of the same observations
        (``age_days``: the age of each, ``channel_count``: how many earlier videos its channel had; a slope for
        each given).
        """
        if self.method not in METHODS:
            raise ValueError(f"method: {self.method!r} is not a calibration method; choose one of {list(METHODS)}")
        if not (isinstance(self.shrinkage, (int, float)) and self.shrinkage >= 0):
            raise ValueError(f"shrinkage: must be a number >= 0, got {self.shrinkage!r}")
        predicted, actual = np.asarray(predicted_log, float), np.asarray(actual_log, float)
        if predicted.shape != actual.shape or predicted.ndim != 1:
            raise ValueError(f"actual_log: expected one value per prediction ({predicted.shape}), got {actual.shape}")
        known = np.isfinite(predicted) & np.isfinite(actual)
        if known.sum() < MIN_VIDEOS:
            raise ValueError(f"data: {int(known.sum())} videos with a prediction and views; calibrating needs at "
                             f"least {MIN_VIDEOS} earlier videos")
        channels = (np.full(len(predicted), "", dtype=object) if channel_ids is None
                    else np.asarray(channel_ids, dtype=object).astype(str))
        Z = covariates(age_days, channel_count, len(predicted))[known]
        predicted, actual, channels = predicted[known], actual[known], channels[known]
        ages = Z[np.isfinite(Z[:, 0]), 0]
        self.log_age_range_ = (float(ages.min()), float(ages.max())) if len(ages) else None
        self.covariates_ = COVARIATES
        self.isotonic_ = None
        if self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            self.isotonic_ = IsotonicRegression(out_of_bounds="clip").fit(predicted, actual)
        error = actual - self._mapped(predicted)
        usable = np.isfinite(Z).all(axis=0)
        self.centres_ = np.where(usable, np.nanmean(np.where(np.isfinite(Z), Z, 0.0), axis=0), 0.0)
        Zc = np.where(usable, Z - self.centres_, 0.0)
        # The slopes are fitted within channels (each channel's covariates and errors less their own means): across
        # channels a larger channel differs from a smaller one in more than its size, and the per-channel offsets
        # below take those differences. With one channel this is the plain fit.
        Zw = Zc - pd.DataFrame(Zc).groupby(channels).transform("mean").to_numpy()
        within = error - pd.Series(error).groupby(channels).transform("mean").to_numpy()
        # Ridge: each slope pulled towards 0 as if ``shrinkage`` observations without a slope said so.
        gram = Zw.T @ Zw + self.shrinkage * np.eye(Zw.shape[1]) + np.diag(~usable * 1.0)
        self.slopes_ = np.linalg.solve(gram, Zw.T @ within) * usable
        error = error - Zc @ self.slopes_
        self.offset_ = float(error.sum() / (len(error) + self.shrinkage))
        sums = pd.Series(error - self.offset_).groupby(channels).agg(["sum", "size"])
        self.channel_offsets_ = {str(channel): float(self.offset_ + row["sum"] / (row["size"] + self.shrinkage))
                                 for channel, row in sums.iterrows()}
        self.n_observations_ = int(len(error))
        self.channel_observations_ = {str(channel): int(size) for channel, size in sums["size"].items()}
        return self

    def _mapped(self, predicted: np.ndarray) -> np.ndarray:
        return predicted if self.isotonic_ is None else self.isotonic_.predict(predicted)

    def transform(self, predicted_log: np.ndarray, channel_ids: Sequence[str] | np.ndarray | None = None,
                  age_days: np.ndarray | None = None, channel_count: np.ndarray | None = None) -> np.ndarray:
        """Calibrated log1p predictions: a channel seen in ``fit`` gets its own offset, any other the overall one;
        each slope applies where its covariate is given (else the covariate is taken at its mean)."""
        check_is_fitted(self, "offset_")
        if getattr(self, "covariates_", None) != COVARIATES:
            raise ValueError(f"calibration: fitted by an older version (covariates "
                             f"{getattr(self, 'covariates_', ('log_age', 'log_channel_count'))}, now {COVARIATES}); "
                             "calibrate the bundle again (videoperf calibrate)")
        predicted = np.asarray(predicted_log, float)
        Z = covariates(age_days, channel_count, len(predicted), self.log_age_range_) - self.centres_
        shift = np.where(np.isfinite(Z), Z, 0.0) @ self.slopes_
        offsets = np.full(len(predicted), self.offset_)
        if channel_ids is not None:
            found = pd.Series(np.asarray(channel_ids, dtype=object)).astype(str).map(self.channel_offsets_)
            offsets = np.where(found.notna(), found.to_numpy(float, na_value=np.nan), offsets)
        return self._mapped(predicted) + shift + offsets

    def describe(self) -> dict[str, object]:
        """What the manifest records: method, observations and channels it was fitted on, offsets and slopes."""
        check_is_fitted(self, "offset_")
        return {"method": self.method, "shrinkage": self.shrinkage, "observations": self.n_observations_,
                "offset_log": round(self.offset_, 4),
                "slopes": {name: round(float(b), 4) for name, b in zip(COVARIATES, self.slopes_)},
                "channels": {channel: {"observations": self.channel_observations_[channel],
                                       "offset_log": round(offset, 4)}
                             for channel, offset in self.channel_offsets_.items()}}


def calibrate_frame(predicted: pd.DataFrame, calibration: ChannelCalibration,
                    channel_ids: Sequence[str] | np.ndarray | None = None, age_days: np.ndarray | None = None,
                    channel_count: np.ndarray | None = None) -> pd.DataFrame:
    """A predictions table (``predicted_views``, optional ``views_lo`` / ``views_hi``) moved by ``calibration``.

    The interval moves with the point prediction (the same log shift), so its width is the bundle's.
    """
    out = predicted.copy()
    raw = np.log1p(out["predicted_views"].to_numpy(float).clip(0, None))
    shift = calibration.transform(raw, channel_ids, age_days, channel_count) - raw
    for column in ("predicted_views", "views_lo", "views_hi"):
        if column in out:
            out[column] = np.expm1(np.log1p(out[column].to_numpy(float).clip(0, None)) + shift).clip(0, None)
    return out
