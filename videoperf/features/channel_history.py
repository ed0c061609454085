"""Channel history: how a channel's earlier videos did, strictly as known before a video was published.

A ``ChannelHistory`` is built from the *training* snapshots only. Asked about a video published at time
``t`` it answers from the observations made strictly before ``t`` (an "as-of" query): for each of the
channel's videos observed before ``t`` its latest views then, and from those

* ``channel_video_count``: how many of the channel's videos had been seen,
* ``channel_avg_views``: their mean views (arithmetic, the number a user would quote as "average views"),
* ``channel_mean_log_views``, ``channel_max_log_views``: the geometric-mean and best-hit level,
* ``channel_mean_residual``, ``channel_last_residual``: the same level corrected for the age each video was
  seen at (log views minus the training age curve), averaged and for the latest observation (recent form),
* ``channel_like_ratio``: likes / views summed over those videos.

Why as-of rather than "the earlier videos' final counts": at test time the history is frozen at the
training cut, so a training row must not see counts measured after its own publish time either; and it
makes a video's features independent of anything observed later (adding later videos changes nothing).
A video's own observations never count (they are made at or after its publish time).

``channel_features`` turns those raw statistics - or the ``channel_avg_views`` / ``channel_video_count``
a user passes to ``predict_performance`` - into the model's channel features, one code path for both.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

RAW_STATS = ("channel_video_count", "channel_avg_views", "channel_mean_log_views", "channel_max_log_views",
             "channel_mean_residual", "channel_last_residual", "channel_like_ratio")
# The model's channel features. The first two come from what every caller knows (count, average views);
# the others are NaN ("unknown") when a caller does not supply them, which training teaches the model
# to handle (see ``mask_optional_stats``).
CHANNEL_FEATURES = ("channel_log_count", "channel_log_avg_views", "channel_mean_log_views", "channel_max_log_views",
                    "channel_mean_residual", "channel_last_residual", "channel_like_ratio", "channel_log_gap")
OPTIONAL_STATS = ("channel_mean_log_views", "channel_max_log_views", "channel_mean_residual", "channel_last_residual",
                  "channel_like_ratio")


class ChannelHistory:
    """As-of channel statistics from a snapshot table (canonical columns; one row per video and day)."""

    def __init__(self, snapshots: pd.DataFrame, age_curve: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        """``age_curve``: expected log views by age in days (``features.AgeCurve``); without it the residual
        statistics are NaN."""
        need = ("video_id", "channel_id", "published_at", "observed_at", "views", "likes")
        missing = [col for col in need if col not in snapshots]
        if missing:
            raise ValueError(f"snapshots: missing column(s) {missing} for channel history")
        events = snapshots.loc[:, list(need)].sort_values(["video_id", "observed_at"], kind="stable")
        views = events["views"].to_numpy(float).clip(0, None)
        likes = events["likes"].to_numpy(float)
        video = events["video_id"].to_numpy()
        first = np.r_[True, video[1:] != video[:-1]]
        log_views = np.log1p(views)
        if age_curve is not None:
            age = (events["observed_at"] - events["published_at"]).dt.total_seconds().to_numpy(float) / 86400.0
            residual = log_views - age_curve(age)
        else:
            residual = np.full(len(events), np.nan)
        liked = np.isfinite(likes)
        like_num = np.where(liked, likes, 0.0)
        like_den = np.where(liked, views, 0.0)
        # Each observation replaces the video's previous one: its contribution to the channel sums is
        # the difference to that previous observation (the whole value for the video's first one).
        frame = pd.DataFrame({
            "channel_id": events["channel_id"].astype(str).to_numpy(),
            "time": events["observed_at"].to_numpy(),
            "d_count": first.astype(float),
            "d_views": _delta(views, first),
            "d_log_views": _delta(log_views, first),
            "d_residual": _delta(residual, first),
            "d_like_num": _delta(like_num, first),
            "d_like_den": _delta(like_den, first),
            "log_views": log_views,
            "residual": residual,
        })
        frame = frame.sort_values(["channel_id", "time"], kind="stable").reset_index(drop=True)
        by_channel = frame.groupby("channel_id", sort=False)
        cumulative = by_channel[["d_count", "d_views", "d_log_views", "d_residual", "d_like_num",
                                 "d_like_den"]].cumsum()
        cumulative["max_log_views"] = by_channel["log_views"].cummax()
        cumulative["last_residual"] = frame["residual"]
        cumulative["channel_id"] = frame["channel_id"]
        cumulative["time"] = frame["time"]
        # Several events at the same instant: only the state after the last of them is a valid answer.
        state = cumulative.drop_duplicates(["channel_id", "time"], keep="last")
        # merge_asof needs the right side sorted by time over all channels.
        self._state = state.sort_values("time", kind="stable").reset_index(drop=True)
        self.last_time = pd.Timestamp(frame["time"].max()) if len(frame) else None

    def stats(self, channel_ids: pd.Series | np.ndarray, published_at: pd.Series | np.ndarray) -> pd.DataFrame:
        """Raw ``RAW_STATS`` per query from observations strictly before each ``published_at``."""
        queries = pd.DataFrame({"channel_id": pd.Series(channel_ids).astype(str).to_numpy(),
                                "time": pd.to_datetime(pd.Series(published_at), utc=True).to_numpy(),
                                "_order": np.arange(len(channel_ids))})
        state = self._state
        if len(state):
            queries["time"] = queries["time"].astype(state["time"].dtype)
        merged = pd.merge_asof(queries.sort_values("time", kind="stable"), state, on="time", by="channel_id",
                               allow_exact_matches=False, direction="backward").sort_values("_order")
        count = merged["d_count"].fillna(0.0).to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            out = pd.DataFrame({
                "channel_video_count": count,
                "channel_avg_views": np.where(count > 0, merged["d_views"].to_numpy() / count, np.nan),
                "channel_mean_log_views": np.where(count > 0, merged["d_log_views"].to_numpy() / count, np.nan),
                "channel_max_log_views": np.where(count > 0, merged["max_log_views"].to_numpy(), np.nan),
                "channel_mean_residual": np.where(count > 0, merged["d_residual"].to_numpy() / count, np.nan),
                "channel_last_residual": np.where(count > 0, merged["last_residual"].to_numpy(), np.nan),
                "channel_like_ratio": np.where(merged["d_like_den"].to_numpy() > 0,
                                               merged["d_like_num"].to_numpy() / merged["d_like_den"].to_numpy(),
                                               np.nan),
            })
        return out.reset_index(drop=True)


def _delta(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    previous = np.r_[0.0, values[:-1]]
    return np.where(first, values, values - previous)


def channel_features(stats: pd.DataFrame | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's ``CHANNEL_FEATURES`` from raw statistics (history or user input); NaN = unknown.

    ``channel_log_gap`` (mean log views minus log of the average views) is how skewed the channel's
    results are - a channel whose average is one viral hit has a large gap.
    """
    count = _numbers(stats["channel_video_count"])
    has_history = count > 0
    avg = np.where(has_history, _numbers(stats["channel_avg_views"]), np.nan)
    out = {"channel_log_count": np.log1p(np.nan_to_num(count, nan=0.0)),
           "channel_log_avg_views": np.log1p(np.clip(avg, 0, None))}
    for column in OPTIONAL_STATS:
        values = _numbers(stats[column]) if column in stats else np.full(len(count), np.nan)
        out[column] = np.where(has_history, values, np.nan)
    out["channel_log_gap"] = out["channel_mean_log_views"] - out["channel_log_avg_views"]
    return {name: out[name] for name in CHANNEL_FEATURES}


def _numbers(values: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(pd.to_numeric(values, errors="coerce"), dtype=float)


def mask_optional_stats(stats: pd.DataFrame, fraction: float, seed: int, video_ids: np.ndarray | pd.Series
                        ) -> pd.DataFrame:
    """Blank the optional statistics of about ``fraction`` of the videos.

    Callers of ``predict_performance`` usually know only a channel's video count and average views. Training
    with some videos in exactly that state teaches every learner what to do then, instead of meeting a
    combination (count known, the rest unknown) it has never seen. Which videos are blanked depends only on
    their id and ``seed``, so a video's features do not change when other videos are added.
    """
    if fraction <= 0:
        return stats
    hashed = pd.util.hash_array(np.asarray(video_ids, dtype=object), hash_key=f"videoperf{seed:07d}"[:16])
    blank = (hashed % np.uint64(1_000_000)).astype(np.float64) < fraction * 1_000_000
    out = stats.copy()
    out.loc[blank, list(OPTIONAL_STATS)] = np.nan
    return out


# What the views head of a model can learn (``training.views_target``).
VIEWS_TARGETS = ("absolute", "channel_relative")
AUTO = "auto"
LOG_VIEWS_CEILING = float(np.log1p(1e11))  # ten times the most-viewed video's views
# ``auto``: relative where the sample selects a channel's videos (a chart keeps its hits), absolute where it holds
# them all (a channel-uploads export, where the level carries no selection to correct).
AUTO_TARGETS = {"trending_chart": "channel_relative"}


def check_views_target(views_target: str) -> str:
    """``views_target`` if it is one of ``VIEWS_TARGETS``; else a ``ValueError`` naming the setting."""
    if views_target not in VIEWS_TARGETS:
        raise ValueError(f"training.views_target: {views_target!r} is not a views target; choose one of "
                         f"{[*VIEWS_TARGETS, AUTO]}")
    return views_target


def resolve_views_target(views_target: str, population: str) -> str:
    """The views target a model trains with: ``views_target`` itself, or for ``auto`` the one for the training
    data's ``population`` (``data.population.training_population``'s name; ``AUTO_TARGETS``, else absolute)."""
    if views_target == AUTO:
        return AUTO_TARGETS.get(population, "absolute")
    return check_views_target(views_target)


def channel_level(X: pd.DataFrame, views_target: str, prior: float = 0.0) -> np.ndarray:
    """The log-views offset a model's views head is relative to, per feature row of ``X``.

    ``absolute``: 0. ``channel_relative``: the channel's as-of level, its earlier videos' mean log views where
    known, else the log of their average views (what every caller gives), else ``prior`` (no history: a new
    channel, or a video published before the data first saw its channel; the model learns the rest of its
    level, which no channel history can correct). Why relative: which of a channel's videos a sample holds (the
    trending chart keeps a channel's hits, an uploads export all of them) moves the channel features and the
    views together, so the views relative to the channel's level carry across samples and channel sizes where
    the absolute views do not.

    ``prior`` (``level_prior`` of the training rows): with 0, rows without history have absolute targets of
    ~log(views) while the others have relative ones of ~0; a channel-uploads source whose first snapshot came
    after its first uploads has many such rows (every video published before the channel was first observed),
    and forward-chaining folds trained on its earliest videos alone then predict absolute views for held-out
    videos whose targets are relative, which wrecks the stack's weights.
    """
    if check_views_target(views_target) == "absolute":
        return np.zeros(len(X))
    missing = [name for name in ("channel_mean_log_views", "channel_log_avg_views") if name not in X]
    if missing:
        raise ValueError(f"training.views_target: 'channel_relative' needs the channel features {missing}; "
                         "do not exclude the channel_history family")
    mean_log = X["channel_mean_log_views"].to_numpy(float)
    log_avg = X["channel_log_avg_views"].to_numpy(float)
    level = np.where(np.isfinite(mean_log), mean_log, log_avg)
    # Clipped to views a video can have, so that an absurd average (1e300) still gives a finite prediction.
    return np.clip(np.where(np.isfinite(level), level, float(prior)), 0.0, LOG_VIEWS_CEILING)


def level_prior(y_log: np.ndarray, views_target: str) -> float:
    """The level of a row without channel history (``channel_level``'s ``prior``): the mean log views of the
    training rows for ``channel_relative`` (a channel nothing is known about is taken for the average training
    video's, which the model then corrects from the video's own features), 0 for ``absolute``."""
    if check_views_target(views_target) == "absolute" or not len(y_log):
        return 0.0
    return float(np.mean(np.asarray(y_log, dtype=float)))


# Channel features on the log-views scale: a channel-relative model sees them relative to the channel's level.
LEVEL_FEATURES = ("channel_log_avg_views", "channel_mean_log_views", "channel_max_log_views", "channel_mean_residual",
                  "channel_last_residual", "channel_vs_category", "channel_avg_vs_tags")


def relative_inputs(X: pd.DataFrame, views_target: str) -> pd.DataFrame:
    """The feature rows a model with ``views_target`` reads: ``X`` itself (``absolute``), or with every channel
    feature on the log-views scale taken relative to the channel's level (``channel_relative``).

    Why: the level itself is what differs between samples (a chart channel's charted videos vs. all its uploads),
    so a model that saw it would still map a level to the chart's views; the spread of a channel's results
    (best hit above its mean, mean below its average) is what carries.
    """
    if check_views_target(views_target) == "absolute":
        return X
    level = channel_level(X, views_target).astype(np.float32)
    out = X.copy()
    for name in LEVEL_FEATURES:
        if name in out:
            out[name] = out[name].to_numpy(np.float32) - level
    return out
