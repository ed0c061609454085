"""The deep model's training rows: each snapshot row with its lifecycle targets as of that observation, a sample of
the rows weighing every video about the same, and the time-ordered validation split."""

from __future__ import annotations

import numpy as np
import pandas as pd

from videoperf.lifecycle.targets import build_targets

KEYS = ["video_id", "observed_at"]
AS_OF_TARGETS = ("like_ratio", "lifecycle_stage", "time_to_peak_days", "decay_rate")


def as_of_targets(snapshots: pd.DataFrame) -> pd.DataFrame:
    """The lifecycle targets each observation gets when its video's series ends there, in row order.

    ``build_targets`` labels an observation with hindsight: a peak is confirmed by later, lower points, the
    time to peak may lie after the observation, the like ratio is the one at the video's last observation.
    A prediction is for "now" (an age), and evaluation scores each test video at its last observation,
    where hindsight and as-of coincide. So the model learns the as-of targets: for every observation, the
    ``build_targets`` output (the lifecycle rules themselves) of the series truncated at it. Then the
    stage is ``growth`` (no confirmed peak yet) or ``decay`` (past one), never ``peak`` (which only a later
    point can confirm); time to peak is known only once the peak is confirmed (and is <= the age); the
    decay rate is fitted on the points so far; the like ratio is the current one. Columns:
    ``AS_OF_TARGETS``.
    """
    snaps = snapshots.reset_index(drop=True)
    order = snaps.sort_values(KEYS, kind="stable").index.to_numpy()
    grouped = snaps.loc[order].groupby("video_id", sort=False)
    position = pd.Series(grouped.cumcount().to_numpy(), index=order).sort_index().to_numpy()
    length = pd.Series(grouped["video_id"].transform("size").to_numpy(), index=order).sort_index().to_numpy()
    out = pd.DataFrame({col: np.full(len(snaps), np.nan) for col in AS_OF_TARGETS})
    out["lifecycle_stage"] = pd.Series([None] * len(snaps), dtype=object)
    for k in range(1, int(length.max(initial=0)) + 1):
        part = snaps[(position < k) & (length >= k)]
        # tail(1), not last(): last() would skip a missing value and return an earlier observation's.
        last = build_targets(part).groupby("video_id", sort=False).tail(1).set_index("video_id")
        at_k = np.flatnonzero(position == k - 1)
        values = last.reindex(snaps["video_id"].iloc[at_k])
        for col in AS_OF_TARGETS:
            out.loc[at_k, col] = values[col].to_numpy()
    return out


def training_rows(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Snapshot rows (same order, fresh index) joined with their targets, ready for ``fit_deep_model``.

    The lifecycle targets are the as-of ones (``as_of_targets``); the hindsight ones of ``build_targets``
    are kept as ``<target>_hindsight``. Row ``i`` is row ``i`` of ``snapshots``, so positions chosen here
    (e.g. by ``sample_rows``) are the ``rows`` of ``FeatureBuilder.fit_transform(snapshots, rows)``.
    """
    snaps = snapshots.reset_index(drop=True)
    targets = build_targets(snaps).drop(columns=["views"])
    rows = snaps.merge(targets, on=KEYS, how="left", validate="one_to_one")
    as_of = as_of_targets(snaps)
    for col in AS_OF_TARGETS:
        rows[f"{col}_hindsight"] = rows[col]
        rows[col] = as_of[col].to_numpy()
    return rows


def sample_rows(video_ids: np.ndarray, max_rows: int, seed: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Sorted positions of at most ``max_rows`` rows, weight 1 / (rows of the video) times ``weights`` (e.g.
    recency), without replacement."""
    n = len(video_ids)
    if n <= max_rows:
        return np.arange(n)
    codes, counts = np.unique(video_ids, return_inverse=True, return_counts=True)[1:]
    weight = 1.0 / counts[codes]
    if weights is not None:
        weight = weight * np.asarray(weights, dtype=float)
    # Efraimidis-Spirakis: the max_rows largest u^(1/w) are a weighted sample without replacement.
    keys = np.log(np.random.default_rng(seed).random(n)) / weight
    return np.sort(np.argpartition(-keys, max_rows - 1)[:max_rows])


def time_ordered_split(rows: pd.DataFrame, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions of (train, validation): validation = the latest-published ``fraction`` of the videos."""
    published = rows.groupby("video_id", sort=False)["published_at"].min()
    order = published.reset_index().sort_values(["published_at", "video_id"], kind="stable")["video_id"]
    n_valid = int(round(len(order) * fraction)) if len(order) > 4 else 0
    valid_ids = set(order.iloc[len(order) - n_valid:]) if n_valid else set()
    is_valid = rows["video_id"].isin(valid_ids).to_numpy()
    return np.flatnonzero(~is_valid), np.flatnonzero(is_valid)
