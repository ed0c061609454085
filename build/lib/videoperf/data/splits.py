"""Time-based validation: forward-chaining splits on ``published_at`` with whole videos per fold.

A model is only ever scored on videos published after every video it was fitted on, which is how it
will be used: trained on the past, asked about new uploads.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _video_order(frame: pd.DataFrame) -> pd.Series:
    """Publish time per video (the first seen), sorted, with ties broken by id for determinism."""
    published = frame.groupby("video_id", sort=False)["published_at"].min()
    order = published.reset_index().sort_values(["published_at", "video_id"], kind="stable")
    return order.set_index("video_id")["published_at"]


def forward_chaining_splits(frame: pd.DataFrame, n_splits: int = 4, min_train_fraction: float = 0.4
                            ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Row positions ``(train, validation)`` for ``n_splits`` forward-chaining folds.

    Videos are ordered by publish time; the first ``min_train_fraction`` of them only ever train, the rest
    is cut into ``n_splits`` consecutive blocks. Fold ``k`` trains on every video before block ``k`` and
    validates on block ``k``, so all rows of a video sit on one side and validation is always later.
    """
    if not isinstance(n_splits, int) or isinstance(n_splits, bool) or n_splits < 1:
        raise ValueError(f"n_splits: must be a positive integer, got {n_splits!r}")
    if not 0.0 < min_train_fraction < 1.0:
        raise ValueError(f"min_train_fraction: must be in (0, 1), got {min_train_fraction!r}")
    for column in ("video_id", "published_at"):
        if column not in frame:
            raise ValueError(f"frame: missing column {column!r}")
    order = _video_order(frame)
    n_videos = len(order)
    start = int(round(n_videos * min_train_fraction))
    if n_videos - start < n_splits or start < 1:
        raise ValueError(f"frame: {n_videos} videos are too few for {n_splits} forward-chaining splits")
    rank = pd.Series(np.arange(n_videos), index=order.index)
    row_rank = rank.reindex(frame["video_id"]).to_numpy()
    bounds = np.linspace(start, n_videos, n_splits + 1).round().astype(int)
    splits = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        train = np.flatnonzero(row_rank < lo)
        valid = np.flatnonzero((row_rank >= lo) & (row_rank < hi))
        splits.append((train, valid))
    return splits


def split_by_date(frame: pd.DataFrame, split_date: str | pd.Timestamp, truncate_train: bool = True
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on videos published before ``split_date``, test on those published on or after it.

    With ``truncate_train`` the training side also loses observations made on or after the date, so
    nothing the model sees was measured after the moment it is supposed to be trained at.
    """
    try:
        cut = pd.Timestamp(split_date)
    except (TypeError, ValueError) as error:
        raise ValueError(f"split_date: cannot parse {split_date!r} as a date") from error
    cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")
    published = frame.groupby("video_id")["published_at"].transform("min")
    train = frame[published < cut]
    test = frame[published >= cut]
    n_before = len(train)
    if truncate_train:
        train = train[train["observed_at"] < cut]
    if train.empty or test.empty:
        raise ValueError(_empty_split_message(frame, cut, len(train), len(test), n_before - len(train)))
    return train.reset_index(drop=True), test.reset_index(drop=True)


_ISO = "%Y-%m-%dT%H:%M:%SZ"


def _span(values: pd.Series) -> str:
    """``first .. last`` of a time column, in UTC to the second."""
    first, last = (pd.Timestamp(t).tz_convert("UTC").strftime(_ISO) for t in (values.min(), values.max()))
    return f"{first} .. {last}"


def _empty_split_message(frame: pd.DataFrame, cut: pd.Timestamp, n_train: int, n_test: int,
                         n_observed_after: int = 0) -> str:
    """Why a time split at ``cut`` leaves a side empty: the exact time that decided it, when the videos were published
    and when they were observed (a date names midnight UTC, which may fall just before a day's snapshot)."""
    stamp = cut.strftime(_ISO)
    if frame.empty:
        return f"split_date: {stamp} leaves 0 training and 0 test rows: the data has no rows"
    dropped = (f" ({n_observed_after} observation(s) of videos published before it were made at or after it)"
               if n_observed_after and not n_train else "")
    observed = f" and observed {_span(frame['observed_at'])}" if "observed_at" in frame else ""
    return (f"split_date: {stamp} leaves {n_train} training and {n_test} test rows{dropped}; the videos were "
            f"published {_span(frame['published_at'])}{observed}")
