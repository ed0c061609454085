"""Split-conformal prediction intervals in log-views space, shared by both model families.

The lower / upper quantiles of held-out signed residuals (actual minus predicted log views) give an interval
that covers ``coverage`` of new videos when the held-out rows are exchangeable with them. Rows differ in how
predictable they are, so the quantiles are kept per group (Mondrian conformal): a channel with history or
without, times the age asked about. A group with too few residuals falls back to the pooled quantiles.

Where the residuals come from decides whether the coverage holds later on: both families calibrate on
videos published after everything their learners were fitted on (the ensemble's forward-chaining blocks, the
deep model's latest-published validation videos), with channel history as a live system has it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

# Mondrian groups: new vs known channel, and the age asked about (days).
AGE_EDGES_DAYS = (1.0, 3.0, 7.0)
MIN_GROUP_SIZE = 200


def interval_groups(X: pd.DataFrame) -> np.ndarray:
    """Group id per feature row: 0..3 = age bucket for a known channel, 4..7 for a channel without history."""
    age = np.expm1(X["log_age"].to_numpy(float)) if "log_age" in X else np.zeros(len(X))
    bucket = np.searchsorted(np.asarray(AGE_EDGES_DAYS), age, side="right")
    known = X["channel_log_count"].to_numpy(float) > 0 if "channel_log_count" in X else np.ones(len(X), bool)
    return np.where(known, 0, len(AGE_EDGES_DAYS) + 1) + bucket


def conformal_quantiles(residuals: np.ndarray, alpha: float) -> tuple[float, float]:
    """Finite-sample conformal levels: ceil((n+1)(1-a/2))/n for the upper quantile, symmetric for the lower."""
    n = len(residuals)
    upper_level = min(1.0, math.ceil((n + 1) * (1 - alpha / 2)) / n)
    lower_level = max(0.0, math.floor((n + 1) * (alpha / 2)) / n)
    return float(np.quantile(residuals, lower_level)), float(np.quantile(residuals, upper_level))


class ConformalIntervals:
    """Per-group residual quantiles; ``bounds(groups)`` gives the offsets to add to a log-views prediction."""

    def __init__(self, coverage: float = 0.8, min_group_size: int = MIN_GROUP_SIZE) -> None:
        if not 0.0 < coverage < 1.0:
            raise ValueError(f"coverage: must be in (0, 1), got {coverage!r}")
        self.coverage = coverage
        self.min_group_size = min_group_size

    def fit(self, residuals: np.ndarray, groups: np.ndarray) -> ConformalIntervals:
        """Learn the pooled and per-group quantiles of held-out ``residuals`` (actual - predicted)."""
        residuals = np.asarray(residuals, dtype=float)
        groups = np.asarray(groups)
        if len(residuals) == 0:
            raise ValueError("residuals: no held-out residuals to calibrate the intervals on")
        alpha = 1.0 - self.coverage
        self.pooled_ = conformal_quantiles(residuals, alpha)
        self.group_quantiles_: dict[int, tuple[float, float]] = {}
        for group in np.unique(groups):
            sub = residuals[groups == group]
            if len(sub) >= self.min_group_size:
                self.group_quantiles_[int(group)] = conformal_quantiles(sub, alpha)
        return self

    def bounds(self, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper offsets per row of ``groups``."""
        lo = np.array([self.group_quantiles_.get(int(g), self.pooled_)[0] for g in groups])
        hi = np.array([self.group_quantiles_.get(int(g), self.pooled_)[1] for g in groups])
        return lo, hi

    def covered(self, y: np.ndarray, pred: np.ndarray, groups: np.ndarray) -> float:
        """Share of ``y`` inside its interval around ``pred``."""
        lo, hi = self.bounds(groups)
        return float(np.mean((y >= pred + lo) & (y <= pred + hi)))

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, so a torch checkpoint loads it with ``weights_only=True``."""
        return {"coverage": self.coverage, "min_group_size": self.min_group_size, "pooled": list(self.pooled_),
                "groups": {str(g): list(q) for g, q in self.group_quantiles_.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConformalIntervals:
        """Rebuild from ``to_dict``."""
        out = cls(float(data["coverage"]), int(data["min_group_size"]))
        out.pooled_ = (float(data["pooled"][0]), float(data["pooled"][1]))
        out.group_quantiles_ = {int(g): (float(q[0]), float(q[1])) for g, q in data["groups"].items()}
        return out
