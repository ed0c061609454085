"""The Szabo-Huberman baseline (Szabo & Huberman, 2010): ``log1p v(t) = log1p v(t0) + beta(bin(t0), bin(t))`` from
the last observation ``t0``, ``beta`` the mean log growth of the training videos between the two age bins (made
non-negative and non-decreasing in ``t``), with split-conformal intervals per (observations used, days ahead)."""

from __future__ import annotations

import numpy as np

from videoperf.forecasting.intervals import CellConformal, horizon_bin, monotone_interval
from videoperf.forecasting.series import AGE_EDGES, forecast_pairs, positions
from videoperf.lifecycle.curve import Intervals


class SzaboHuberman:
    """``log1p v(t) = log1p v(t0) + beta(bin(t0), bin(t))``, fitted on training videos (every observation pair)."""

    def __init__(self, coverage: float = 0.8, max_pairs_per_video: int = 200,
                 calibration_ks: tuple[int, ...] = (1, 2, 3, 5)) -> None:
        self.coverage = coverage
        self.max_pairs_per_video = max_pairs_per_video
        self.calibration_ks = calibration_ks

    def fit(self, iv: Intervals) -> SzaboHuberman:
        """Fit ``beta`` and the conformal intervals (the same pairs' residuals) on training intervals."""
        i, j = _pairs(iv.video, self.max_pairs_per_video)
        if not len(i):
            raise ValueError("iv: no video has two observations; Szabo-Huberman needs pairs")
        t0, t = iv.end[i], iv.end[j]
        growth = np.log1p(iv.end_views[j]) - np.log1p(iv.end_views[i])
        b0, b1 = np.searchsorted(AGE_EDGES, t0), np.searchsorted(AGE_EDGES, t)
        n_bins = len(AGE_EDGES) + 1
        sums = np.bincount(b0 * n_bins + b1, growth, minlength=n_bins * n_bins).reshape(n_bins, n_bins)
        counts = np.bincount(b0 * n_bins + b1, minlength=n_bins * n_bins).reshape(n_bins, n_bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            beta = np.where(counts >= 5, sums / counts, np.nan)
        self.beta_ = _fill_beta(beta)
        self.counts_ = counts
        ks, hs, errs = [], [], []
        for k in self.calibration_ks:  # calibrated as it is used: from each video's k-th observation
            pairs = forecast_pairs(iv, k)
            if pairs.empty:
                continue
            point, _, _ = self._point(pairs["last_age"].to_numpy(), pairs["last_views"].to_numpy(),
                                      pairs["target_age"].to_numpy())
            ks.append(np.full(len(pairs), k))
            hs.append(horizon_bin(pairs["target_age"] - pairs["last_age"]))
            errs.append(np.log1p(pairs["target_views"].to_numpy()) - np.log1p(point))
        self.conformal_ = CellConformal(self.coverage).fit(np.concatenate(ks), np.concatenate(hs), np.concatenate(errs))
        return self

    def _point(self, last_age: np.ndarray, last_views: np.ndarray, target_age: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        last_age, last_views, target_age = np.broadcast_arrays(*(np.asarray(a, dtype=float)
                                                                 for a in (last_age, last_views, target_age)))
        beta = self.beta_[np.searchsorted(AGE_EDGES, last_age), np.searchsorted(AGE_EDGES, target_age)]
        beta = np.where(target_age > last_age, beta, 0.0)
        return np.expm1(np.log1p(last_views) + beta), last_views, target_age

    def predict(self, last_age: np.ndarray, last_views: np.ndarray, target_age: np.ndarray,
                k: int | np.ndarray = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Point forecast and interval of the views at ``target_age`` from the last observation (the ``k``-th,
        which picks the interval's calibration cell)."""
        last_age, last_views, target_age = np.broadcast_arrays(*(np.asarray(a, dtype=float)
                                                                 for a in (last_age, last_views, target_age)))
        k = np.broadcast_to(k, target_age.shape)
        return monotone_interval(lambda age: self._point(last_age, last_views, age)[0], self.conformal_, k,
                                 last_age, last_views, target_age)


def _pairs(video: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs (i, j), i before j, within each video; at most ``cap`` per video (those of the earliest i)."""
    pos = positions(video)
    counts = np.bincount(video) if len(video) else np.zeros(0, np.int64)
    out_i, out_j = [], []
    for gap in range(1, int(counts.max(initial=0))):
        i = np.flatnonzero(pos + gap < counts[video])
        out_i.append(i)
        out_j.append(i + gap)
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    i, j = np.concatenate(out_i), np.concatenate(out_j)
    order = np.lexsort((j, i))
    i, j = i[order], j[order]
    keep = positions(video[i]) < cap
    return i[keep], j[keep]


def _fill_beta(beta: np.ndarray) -> np.ndarray:
    """Fill empty (t0, t) cells from the nearest filled t cell of the same t0 row (then the nearest row), clip at
    0, zero on and below the diagonal, and make each row non-decreasing in t."""
    out = beta.copy()
    n = len(out)
    filled_rows = [r for r in range(n) if np.isfinite(out[r]).any()]
    if not filled_rows:
        raise ValueError("beta: no age pair has enough training pairs")
    for r in range(n):
        if not np.isfinite(out[r]).any():
            out[r] = out[min(filled_rows, key=lambda x: abs(x - r))]
        row = out[r]
        good = np.flatnonzero(np.isfinite(row))
        missing = np.flatnonzero(~np.isfinite(row))
        if len(missing):
            nearest = good[np.abs(good[None, :] - missing[:, None]).argmin(axis=1)]
            row[missing] = row[nearest]
    out = np.maximum(out, 0.0)
    out[np.tril_indices(n, -1)] = 0.0
    return np.maximum.accumulate(out, axis=1)

