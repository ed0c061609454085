"""The live level: what a deployed model learns from the chart runs it has seen end since its training cut.

``recent_level`` fits, per model, the mean log error at the latest observation of the videos whose chart run has
ended (no new observation for ``gap_days``) within a window before each time, shrunk towards 0; ``apply_level``
shifts a predictions table by the offset at each video's publish time. Only observations made before that time
count. Why: ``docs/design_notes.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from videoperf.features.channel_history import ChannelHistory
from videoperf.lifecycle.targets import log_views
from videoperf.models.registry import FAMILIES
from videoperf.training.pipeline import TrainedModels, prepare_snapshots

DAY = np.timedelta64(86_400_000_000_000, "ns")


@dataclass(frozen=True)
class LevelSettings:
    """How the live level is estimated: staleness that marks a run as ended, the window, the shrinkage."""

    gap_days: float = 2.0
    window_days: float = 14.0
    shrinkage: float = 100.0

    def __post_init__(self) -> None:
        for name in ("gap_days", "window_days", "shrinkage"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0 or (name == "window_days" and value == 0):
                raise ValueError(f"{name}: must be a finite number above 0 (got {value!r})")


def _ns(times: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    return pd.to_datetime(pd.Series(np.asarray(times)), utc=True).dt.tz_convert(None).to_numpy("datetime64[ns]")


def ended_run_spans(snapshots: pd.DataFrame, settings: LevelSettings) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``snapshots`` (prepared order), the times ``[start, end)`` at which it counts: it is its
    video's latest observation before the time, at least ``gap_days`` and less than ``gap_days + window_days``
    old. A row followed by another observation of its video within ``gap_days`` never counts (start = end)."""
    observed = _ns(snapshots["observed_at"])
    video = snapshots["video_id"].to_numpy()
    next_seen = np.full(len(observed), np.datetime64("NaT", "ns"))
    same = video[1:] == video[:-1]
    next_seen[:-1][same] = observed[1:][same]
    start = observed + settings.gap_days * DAY
    end = observed + (settings.gap_days + settings.window_days) * DAY
    later = ~np.isnat(next_seen)
    end[later] = np.minimum(end[later], next_seen[later])
    end = np.maximum(end, start)
    return start, end


class RecentLevel:
    """The offset over time from the log errors of ended chart runs (see the module docstring)."""

    def __init__(self, settings: LevelSettings = LevelSettings()) -> None:
        self.settings = settings

    def fit(self, start: np.ndarray, end: np.ndarray, errors: np.ndarray) -> RecentLevel:
        """Learn from rows counting over ``[start, end)`` with log errors ``errors`` (actual - predicted)."""
        keep = (end > start) & np.isfinite(errors)
        times = np.concatenate([start[keep], end[keep]])
        order = np.argsort(times, kind="stable")
        weights = np.concatenate([np.ones(keep.sum()), -np.ones(keep.sum())])[order]
        values = np.concatenate([errors[keep], -errors[keep]])[order]
        self.times_ = times[order]
        self.counts_ = np.concatenate([[0.0], np.cumsum(weights)])
        self.sums_ = np.concatenate([[0.0], np.cumsum(values)])
        return self

    def offsets(self, times: pd.Series | np.ndarray) -> np.ndarray:
        """The log offset at each of ``times`` (only rows counting at that time, so nothing from later)."""
        at = np.searchsorted(self.times_, _ns(times), side="right")
        weight = self.counts_[at] + self.settings.shrinkage
        return np.divide(self.sums_[at], weight, out=np.zeros(len(at)), where=weight > 0)


def level_rows(trained: TrainedModels, observed: pd.DataFrame, settings: LevelSettings = LevelSettings(),
               until: pd.Timestamp | None = None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The rows a live level learns from: ``observed`` snapshots of videos published after the training cut that
    count at some time (``ended_run_spans``), with their spans. ``until``: no row needed after this time (the last
    publish time to be corrected), which saves predicting rows that can never count."""
    cut = pd.Timestamp(trained.features.training_window_["observed_to"])
    rows = prepare_snapshots(observed[pd.to_datetime(observed["published_at"], utc=True) > cut])
    start, end = ended_run_spans(rows, settings)
    useful = end > start
    if until is not None:
        useful &= start <= _ns(pd.Series([until]))[0]
    return rows[useful].reset_index(drop=True), start[useful], end[useful]


def fit_levels(rows: pd.DataFrame, start: np.ndarray, end: np.ndarray, predicted: dict[str, np.ndarray],
               settings: LevelSettings = LevelSettings()) -> dict[str, RecentLevel]:
    """One ``RecentLevel`` per model from its predicted views of ``level_rows``' rows."""
    actual = log_views(rows) if len(rows) else np.zeros(0)
    return {name: RecentLevel(settings).fit(start, end, actual - np.log1p(np.clip(views, 0, None)))
            for name, views in predicted.items()}


def predict_level_rows(trained: TrainedModels, rows: pd.DataFrame, history: ChannelHistory
                       ) -> dict[str, np.ndarray]:
    """Every model's predicted views of ``rows`` with channel history ``history``."""
    if not len(rows):
        return {name: np.zeros(0) for name in trained.models}
    X = trained.features.transform(rows, history=history)
    return {name: FAMILIES[name].predict(model, X, rows)["predicted_views"].to_numpy(float)
            for name, model in trained.models.items()}


def recent_level(trained: TrainedModels, observed: pd.DataFrame, history: ChannelHistory,
                 settings: LevelSettings = LevelSettings(), until: pd.Timestamp | None = None
                 ) -> dict[str, RecentLevel]:
    """One ``RecentLevel`` per model from ``observed`` snapshots of videos published after the training cut,
    each row predicted with ``history`` (live channel history); ``until`` as in ``level_rows``."""
    rows, start, end = level_rows(trained, observed, settings, until)
    return fit_levels(rows, start, end, predict_level_rows(trained, rows, history), settings)


def apply_level(frame: pd.DataFrame, offsets: np.ndarray) -> pd.DataFrame:
    """A copy of a predictions table with its views (point and interval) shifted by ``offsets`` in log1p."""
    out = frame.copy()
    for column in ("predicted_views", "views_lo", "views_hi"):
        if column in out:
            out[column] = np.expm1(np.log1p(out[column].to_numpy(float).clip(0, None)) + offsets)
    return out
