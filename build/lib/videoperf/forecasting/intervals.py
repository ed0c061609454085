"""Conformal intervals of forecasts from observed days: quantiles of log errors per (observations used, days
ahead) cell, locally weighted by the forecast's growth, and bounds that never fall below the last observed views
and never decrease with age. Used by ``CurveForecaster`` and ``SzaboHuberman``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

HORIZON_EDGES = np.array([1.0, 3.0, 7.0, 14.0])  # days ahead: <=1, 1-3, 3-7, 7-14, >14
HORIZON_LABELS = ("<=1", "1-3", "3-7", "7-14", ">14")
MAX_K = 5


def horizon_bin(days_ahead: np.ndarray) -> np.ndarray:
    """Index of the days-ahead bucket (``HORIZON_LABELS``) of each value (right-closed: 1.0 is ``<=1``)."""
    return np.searchsorted(HORIZON_EDGES, np.asarray(days_ahead, dtype=float), side="left")


@dataclass
class CellConformal:
    """Quantiles of log errors per (k, horizon bin); cells with too few errors use the k's pooled quantiles.

    With ``growth`` (the forecast's log growth over the last observed views, ``log1p point - log1p v_last``) the
    scores are the errors divided by the cell's expected absolute error at that growth, ``a + b * growth`` (least
    squares of the absolute errors on the growth, ``b >= 0``, ``a >= 0.001``), and
    the bounds are the score quantiles times the same: a video the curve sees near its end (little growth left)
    gets a narrow interval and one still rising a wide one, where a cell's plain quantiles give both the same
    (locally weighted split conformal, Lei et al. 2018). Cells of ``k`` = 0 (no views to grow from) stay plain.
    ``table_`` holds ``(q_lo, q_hi, a, b)``, ``a`` NaN for a plain cell."""

    coverage: float
    min_count: int = 30
    table_: dict[tuple[int, int], tuple[float, float, float, float]] = field(default_factory=dict)

    def fit(self, k: np.ndarray, horizon: np.ndarray, errors: np.ndarray,
            growth: np.ndarray | None = None) -> CellConformal:
        alpha = (1.0 - self.coverage) / 2.0
        frame = pd.DataFrame({"k": np.minimum(k, MAX_K), "h": horizon, "e": errors,
                              "g": np.nan if growth is None else growth})
        frame = frame[np.isfinite(frame["e"])]
        if frame.empty:
            raise ValueError("errors: no finite calibration errors")

        def quantiles(cell: pd.DataFrame) -> tuple[float, float, float, float]:
            a = b = np.nan
            score = cell["e"]
            if growth is not None and cell["k"].iloc[0] > 0:
                g, size = cell["g"].clip(lower=0.0).to_numpy(), cell["e"].abs().to_numpy()
                b = max(float(np.polyfit(g, size, 1)[0]), 0.0) if np.ptp(g) > 0 else 0.0
                a = max(float(size.mean() - b * g.mean()), 1e-3)
                score = cell["e"] / (a + b * g)
            q = score.quantile([alpha, 1 - alpha]).to_numpy()
            return float(q[0]), float(q[1]), a, b

        pooled = {kk: quantiles(g) for kk, g in frame.groupby("k")}
        calibrated = sorted(pooled)
        for kk in range(MAX_K + 1):
            # A k never calibrated borrows the nearest calibrated k below it (fewer observations: wider).
            source = max([c for c in calibrated if c <= kk], default=calibrated[0])
            for h in range(len(HORIZON_LABELS)):
                cell = frame[(frame["k"] == source) & (frame["h"] == h)]
                self.table_[(kk, h)] = quantiles(cell) if len(cell) >= self.min_count else pooled[source]
        return self

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Pickles from before the local weighting hold ``(q_lo, q_hi)`` per cell: plain cells."""
        table = {key: tuple(v) + (np.nan, np.nan) if len(v) == 2 else tuple(v)
                 for key, v in state.get("table_", {}).items()}
        self.__dict__.update({**state, "table_": table})

    def bounds(self, k: np.ndarray, horizon: np.ndarray, growth: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Log-error bounds per forecast; ``growth`` as in ``fit`` (needed where a cell is normalized)."""
        k = np.minimum(np.broadcast_to(k, np.shape(horizon)), MAX_K)
        cells = np.array([self.table_[(int(a), int(b))] for a, b in zip(k.ravel(), np.ravel(horizon))]
                         ).reshape(*np.shape(horizon), 4)
        lo, hi, a, b = (cells[..., j] for j in range(4))
        if np.isfinite(a).any():
            if growth is None:
                raise ValueError("growth: this conformal table is normalized by the forecast's growth")
            scale = np.where(np.isfinite(a), np.nan_to_num(a) + np.nan_to_num(b) * np.maximum(growth, 0.0), 1.0)
            lo, hi = lo * scale, hi * scale
        return lo, hi


def interval_bounds(point: np.ndarray, last_views: np.ndarray, conformal: CellConformal, k: np.ndarray,
                    horizon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds from the cell's log1p-error quantiles, never below the last observed views."""
    q_lo, q_hi = conformal.bounds(k, horizon, np.log1p(point) - np.log1p(last_views))
    lo = np.maximum(np.expm1(np.log1p(point) + q_lo), last_views)
    hi = np.maximum(np.expm1(np.log1p(point) + q_hi), lo)
    return lo, hi


def monotone_interval(point_at: Callable[[np.ndarray], np.ndarray], conformal: CellConformal, k: np.ndarray,
                      last_age: np.ndarray, last_views: np.ndarray, target_age: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point and bounds at ``target_age``; each bound is raised to its value at every days-ahead bucket edge
    passed on the way (within a bucket the quantiles are constant and the point grows; in a normalized cell the
    lower bound moves by ``1 + q_lo * b`` per unit of log point, and ``q_lo >= -1 / b`` since views never fall),
    so both bounds are non-decreasing in age although the calibrated quantiles change from bucket to bucket."""
    point = point_at(target_age)
    horizon = horizon_bin(target_age - last_age)
    lo, hi = interval_bounds(point, last_views, conformal, k, horizon)
    for j, edge in enumerate(HORIZON_EDGES):
        passed = horizon > j
        if not passed.any():
            continue
        at_edge = point_at(np.where(passed, last_age + edge, target_age))
        e_lo, e_hi = interval_bounds(at_edge, last_views, conformal, k, np.full(horizon.shape, j))
        lo = np.where(passed, np.maximum(lo, e_lo), lo)
        hi = np.where(passed, np.maximum(hi, e_hi), hi)
    return point, lo, np.maximum(hi, point)
