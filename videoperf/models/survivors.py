"""Views of a chart-trained family at ages only the chart's survivors reach, read for an ordinary upload.

A trending chart observes a video only while it charts, so its training rows at an age are the videos still on
the chart then: past the first days, the hits that lasted. A row model learns views by age from them, which is
right for a video known to be on the chart at that age and far too high for an ordinary upload. ``SurvivorAges``
holds what a chart-trained bundle needs to answer the second question: the age past which fewer than half of the
training videos were still observed (``cap_days``, the median of their last observed ages) and the population's
lifecycle shape prior from their own curves (``videoperf.lifecycle.curve.empirical_prior``). An ordinary
upload's views at an age past the cap are the family's views at the cap, grown along the prior's curves (the mean
log growth over the prior), with the interval widened by the growth's spread. A row on the chart (``on_chart``)
is read as the family predicts it. A bundle trained on channel uploads has no survivors and no ``SurvivorAges``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from videoperf.lifecycle.curve import (
    DEFAULT_SHAPE,
    fit_with_empirical_prior,
    intervals_from_snapshots,
    unit_cumulative,
)

MAX_FIT_VIDEOS = 4000
VIEW_COLUMNS = ("predicted_views", "views_lo", "views_hi")
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(7)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


@dataclass(frozen=True)
class SurvivorAges:
    """The cap age and the shape prior (log time to peak and log decay: mean and sd) of a chart-trained bundle."""

    cap_days: float
    log_tp_mean: float
    log_tp_sd: float
    log_decay_mean: float
    log_decay_sd: float
    shape: str = DEFAULT_SHAPE
    coverage: float = 0.8  # the bundle's interval coverage: the growth's spread widens the interval at that level

    def __post_init__(self) -> None:
        values = (self.cap_days, self.log_tp_mean, self.log_tp_sd, self.log_decay_mean, self.log_decay_sd)
        if not all(np.isfinite(v) for v in values) or self.cap_days <= 0 or self.log_tp_sd <= 0 \
                or self.log_decay_sd <= 0 or not 0 < self.coverage < 1:
            raise ValueError(f"survivor_ages: need a positive cap and finite prior with positive sds, got {self!r}")

    @classmethod
    def fit(cls, snapshots: pd.DataFrame, shape: str = DEFAULT_SHAPE, coverage: float = 0.8) -> SurvivorAges:
        """From canonical training snapshots (``video_id, observed_at, published_at, views``): the median last
        observed age, and the empirical shape prior of up to ``MAX_FIT_VIDEOS`` videos (evenly spaced by id);
        ``coverage``: the bundle's interval coverage."""
        age = (snapshots["observed_at"] - snapshots["published_at"]).dt.total_seconds() / 86400.0
        cap = float(age.groupby(snapshots["video_id"].to_numpy()).max().median())
        ids = np.sort(snapshots["video_id"].unique())
        if len(ids) > MAX_FIT_VIDEOS:
            ids = ids[np.linspace(0, len(ids) - 1, MAX_FIT_VIDEOS).astype(int)]
        chosen = snapshots[snapshots["video_id"].isin(ids)].sort_values(["video_id", "observed_at"])
        _, prior = fit_with_empirical_prior(intervals_from_snapshots(chosen), shape)
        return cls(cap, prior.log_tp_mean, prior.log_tp_sd, prior.log_decay_mean, prior.log_decay_sd, shape,
                   float(coverage))

    def to_dict(self) -> dict[str, Any]:
        """The constructor arguments (what the manifest stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> SurvivorAges | None:
        """``to_dict``'s output back (None for None: a bundle without survivors)."""
        return None if values is None else cls(**{k: (v if k == "shape" else float(v)) for k, v in values.items()})

    @property
    def z(self) -> float:
        """The standard normal quantile of the interval's upper end."""
        from scipy.stats import norm

        return float(norm.ppf(0.5 + self.coverage / 2))

    def read_ages(self, ages: np.ndarray, on_chart: np.ndarray) -> np.ndarray:
        """The age to ask the family at: the cap for a row past it that is not on the chart, else its age."""
        ages = np.asarray(ages, dtype=float)
        return np.where(np.asarray(on_chart, dtype=bool) | (ages <= self.cap_days), ages, self.cap_days)

    def log_growth(self, ages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sd over the prior of ln(views at ``ages`` / views at the cap); 0 at or before the cap."""
        ages = np.maximum(np.asarray(ages, dtype=float), self.cap_days)
        tp = np.exp(self.log_tp_mean + self.log_tp_sd * _NODES)[:, None]
        decay = np.exp(self.log_decay_mean + self.log_decay_sd * _NODES)[None, :]
        weight = (_WEIGHTS[:, None] * _WEIGHTS[None, :])[..., None]
        at = unit_cumulative(ages[None, None, :], tp[..., None], decay[..., None], self.shape)
        cap = unit_cumulative(np.full(1, self.cap_days)[None, None, :], tp[..., None], decay[..., None], self.shape)
        growth = np.log(at) - np.log(cap)
        mean = (weight * growth).sum(axis=(0, 1))
        sd = np.sqrt(np.maximum((weight * (growth - mean) ** 2).sum(axis=(0, 1)), 0.0))
        return mean, sd

    def grow(self, predicted: pd.DataFrame, ages: np.ndarray, read_ages: np.ndarray) -> pd.DataFrame:
        """``predicted`` (the family's table at ``read_ages``) with views and interval grown to ``ages``."""
        ages, read_ages = np.asarray(ages, dtype=float), np.asarray(read_ages, dtype=float)
        moved = ages > read_ages
        if not moved.any():
            return predicted
        out = predicted.copy()
        mean, sd = self.log_growth(ages[moved])
        views = out["predicted_views"].to_numpy(float).copy()
        point = views[moved]
        views[moved] = point * np.exp(mean)
        out["predicted_views"] = views
        for column, sign in (("views_lo", -1.0), ("views_hi", 1.0)):
            if column not in out:
                continue
            bound = out[column].to_numpy(float).copy()
            with np.errstate(divide="ignore", invalid="ignore"):
                half = np.abs(np.log(np.maximum(bound[moved], 1e-9) / np.maximum(point, 1e-9)))
            bound[moved] = views[moved] * np.exp(sign * np.sqrt(half ** 2 + (self.z * sd) ** 2))
            out[column] = bound
        return out


def on_chart_flags(rows: Mapping[str, Any] | pd.DataFrame) -> np.ndarray:
    """Each request row's ``on_chart`` fact (validated rows hold it as 1.0 / 0.0 / NaN) as booleans; missing or not
    known: not on the chart."""
    if "on_chart" not in rows:
        return np.zeros(len(rows["age_days"]), dtype=bool)
    return np.nan_to_num(np.asarray(rows["on_chart"], dtype=float), nan=0.0) > 0.5


def read_with_survivors(survivors: SurvivorAges | None, predict: Callable[[Any], pd.DataFrame], rows: Any,
                        ages: np.ndarray, on_chart: np.ndarray, at_ages: Callable[[Any, np.ndarray], Any],
                        age_columns: bool = False) -> pd.DataFrame:
    """``predict(rows)``, where a row past ``survivors``' cap that is not ``on_chart`` has its views read at the
    cap and grown to its age. ``at_ages(rows, ages)``: the rows asked at other ages (``ages`` of k times their
    length: the rows k times over). ``age_columns``: the family's other columns (stage, the shape heads) depend on
    the age; they then come from the row's own age, in the same ``predict`` call as the views at the cap (one call:
    the deep model encodes each text once)."""
    ages = np.asarray(ages, dtype=float)
    read = ages if survivors is None else survivors.read_ages(ages, on_chart)
    if np.array_equal(read, ages):
        return predict(rows)
    if not age_columns:
        return survivors.grow(predict(at_ages(rows, read)), ages, read)
    both = predict(at_ages(rows, np.concatenate([read, ages])))
    n = len(ages)
    out = survivors.grow(both.iloc[:n].reset_index(drop=True), ages, read)
    others = [c for c in out.columns if c not in VIEW_COLUMNS]
    out[others] = both.iloc[n:][others].to_numpy()
    return out


def requests_at_ages(requests: Mapping[str, Any] | pd.DataFrame, ages: np.ndarray) -> Mapping[str, Any] | pd.DataFrame:
    """Request rows (a DataFrame or a mapping of columns) asked at ``ages`` (``age_days`` replaced, a copy; ``ages``
    of k times their length: the rows k times over)."""
    ages = np.asarray(ages, dtype=float)
    if isinstance(requests, pd.DataFrame):
        times = len(ages) // max(len(requests), 1)
        stacked = requests if times == 1 else pd.concat([requests] * times, ignore_index=True)
        return stacked.assign(age_days=ages)
    times = len(ages) // max(len(requests["age_days"]), 1)
    return {**{key: list(values) * times for key, values in requests.items()}, "age_days": list(ages)}


def snapshots_at_ages(rows: pd.DataFrame, ages: np.ndarray) -> pd.DataFrame:
    """Snapshot rows observed at ``ages`` (``observed_at`` = ``published_at`` + ``ages`` days; ``ages`` of k times
    their length: the rows k times over)."""
    ages = np.asarray(ages, dtype=float)
    times = len(ages) // max(len(rows), 1)
    stacked = rows if times == 1 else pd.concat([rows] * times, ignore_index=True)
    return stacked.assign(observed_at=stacked["published_at"] + pd.to_timedelta(ages, unit="D"))


def snapshot_ages(rows: pd.DataFrame) -> np.ndarray:
    """Each snapshot row's age in days."""
    return (rows["observed_at"] - rows["published_at"]).dt.total_seconds().to_numpy(float) / 86400.0
