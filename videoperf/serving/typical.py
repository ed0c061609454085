"""``typical_performance``: a channel's typical views at each age from its uploads export, and one video against it
(what YouTube Studio's "typical performance" band and "ranking N of 10" show). The computation is
``videoperf.forecasting.typical``; here the arguments are checked, the export read and the curve shape and prior
chosen. The data readers are imported inside the function, so importing this module (as the REST service does)
loads no training code.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from videoperf.forecasting import typical as _typical
from videoperf.lifecycle.curve import ShapePrior, intervals_from_arrays
from videoperf.plain import jsonable

MAX_AGE_DAYS = 3650.0
MAX_RECENT = 1000
_CHOICES: dict[str, tuple[str, dict[str, float], ShapePrior | None]] = {}
_CHOICES_LOCK = threading.Lock()


def _check_ages(ages: Sequence[float] | None) -> np.ndarray:
    if ages is None:
        return np.asarray(_typical.DEFAULT_AGES, dtype=float)
    try:
        arr = np.asarray([float(a) for a in ages], dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"ages: expected a list of days such as [1, 7, 28], got {ages!r}") from None
    if not len(arr) or not np.all(np.isfinite(arr)) or np.any(arr <= 0) or np.any(arr > MAX_AGE_DAYS):
        raise ValueError(f"ages: need one or more days in (0, {MAX_AGE_DAYS:g}], got {list(ages)!r}")
    return np.unique(arr)


def _check_recent(recent: Any) -> int:
    if isinstance(recent, bool) or not isinstance(recent, (int, np.integer)) or not \
            _typical.MIN_UPLOADS <= recent <= MAX_RECENT:
        raise ValueError(f"recent: expected a whole number of uploads in [{_typical.MIN_UPLOADS}, {MAX_RECENT}], "
                         f"got {recent!r}")
    return int(recent)


def _check_observed(observed: Any) -> tuple[np.ndarray, np.ndarray]:
    """``observed``: a list of ``{"days_since_publish", "views"}`` (other keys ignored) -> ages, views by age."""
    if not isinstance(observed, (list, tuple)) or not observed:
        raise ValueError("observed: expected a non-empty list of {\"days_since_publish\", \"views\"}")
    ages, views = [], []
    for i, item in enumerate(observed):
        try:
            age, count = float(item["days_since_publish"]), float(item["views"])
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"observed[{i}]: needs numbers days_since_publish and views, got {item!r}") from None
        if not (math.isfinite(age) and 0 < age <= MAX_AGE_DAYS and math.isfinite(count) and count >= 0):
            raise ValueError(f"observed[{i}]: days_since_publish must be in (0, {MAX_AGE_DAYS:g}] and views >= 0, "
                             f"got {item!r}")
        ages.append(age)
        views.append(count)
    order = np.argsort(ages)
    ages_arr, views_arr = np.asarray(ages)[order], np.asarray(views)[order]
    if np.any(np.diff(ages_arr) == 0) or np.any(np.diff(views_arr) < 0):
        raise ValueError("observed: one observation per age, and views that do not decrease with age")
    return ages_arr, views_arr


def _load(data: Any) -> pd.DataFrame:
    from videoperf.data.sources import as_snapshots  # the readers are training-side code (module docstring)

    if not isinstance(data, (str, os.PathLike, pd.DataFrame)):
        raise ValueError(f"data: expected an export file or folder or a loaded table, got {type(data).__name__}")
    if isinstance(data, (str, os.PathLike)) and str(data) == "synthetic":
        raise ValueError("data: a channel's uploads export is needed (the trending simulator has no channel's "
                         "every upload); videoperf.simulated_uploads() writes one")
    if not isinstance(data, pd.DataFrame) and not Path(data).exists():
        raise ValueError(f"data: {data} does not exist")
    return as_snapshots(data)


def _shape_and_prior(iv_all: Any, iv_channel: Any, artifacts_dir: str | os.PathLike | None
                     ) -> tuple[str, ShapePrior, dict[str, Any]]:
    """The curve shape and prior (``docs/your_channel.md``, "Typical performance"): a bundle's when one is given
    and carries a forecaster; else the shape chosen on the export and the prior of the channel's early-observed
    uploads, else the export's, else the library's default prior."""
    if artifacts_dir is not None:
        from videoperf.serving.bundle import OBSERVED_FILE, load_bundle
        from videoperf.serving.family_curve import headless_prior

        bundle = load_bundle(artifacts_dir)
        if OBSERVED_FILE in bundle.manifest.get("files", {}):
            shape = bundle.observed_forecaster().shape_for(2)
            return shape, headless_prior(bundle, shape), {"shape": shape, "prior": "bundle",
                                                         "bundle": str(artifacts_dir)}
    shape, scores, export_prior = _export_choice(iv_all)
    found = _typical.early_prior(iv_channel, shape)
    if found is not None:
        return shape, found, {"shape": shape, "shape_scores": scores, "prior": "channel"}
    if export_prior is not None:
        return shape, export_prior, {"shape": shape, "shape_scores": scores, "prior": "export"}
    return shape, ShapePrior(), {"shape": shape, "shape_scores": scores, "prior": "default"}


def _export_choice(iv: Any) -> tuple[str, dict[str, float], ShapePrior | None]:
    """The export's shape (``choose_shape``) and its early-observed uploads' prior, remembered for the last few
    exports: every question about one export (the service's, a benchmark's) pays the whole-export fits once."""
    key = hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in (iv.video, iv.end, iv.end_views)))
    digest = key.hexdigest()
    with _CHOICES_LOCK:
        if digest in _CHOICES:
            return _CHOICES[digest]
    shape, scores = _typical.choose_shape(iv)
    found = (shape, scores, _typical.early_prior(iv, shape))
    with _CHOICES_LOCK:
        _CHOICES[digest] = found
        while len(_CHOICES) > 8:
            _CHOICES.pop(next(iter(_CHOICES)))
    return found


def typical_performance(data: str | os.PathLike | pd.DataFrame, channel_id: str,
                        ages: Sequence[float] | None = None, recent: int = 10, video_id: str | None = None,
                        observed: list[dict[str, float]] | None = None,
                        artifacts_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The channel's typical views at each age: the 30th / 50th / 70th percentile of its ``recent`` latest uploads
    (before ``video_id`` when given), and with ``video_id`` (a video of the export) or ``observed`` (a new
    video's ``[{"days_since_publish", "views"}, ...]``) that video against them.

    ``data``: the channel's uploads export (any format ``load_data`` reads, a folder of snapshots, daily reports,
    or a loaded table). ``ages``: days (default 1, 2, 3, 7, 14, 28, 60, 90). ``artifacts_dir``: a bundle whose
    forecaster gives the curve shape and prior (default: chosen from the export itself).
    Returns ``channel_id``, ``ages``, ``uploads_used`` (fewer than ``recent`` when the channel has fewer),
    ``uploads``, ``points`` (``days_since_publish``, ``p30``, ``p50``, ``p70``; with a video also its
    ``views``, ``views_lo`` / ``views_hi`` (80%), ``observed`` and ``percentile``), ``curve``; with a video
    also ``video``, ``rank_now`` and ``forecast_rank`` (at 7, 28 and 90 days); ``rank`` is 1 + the uploads with
    more views, ``of`` the uploads plus the video.
    """
    ages_arr, recent = _check_ages(ages), _check_recent(recent)
    if video_id is not None and observed is not None:
        raise ValueError("observed: give either video_id (a video of the export) or observed, not both")
    if not isinstance(channel_id, str) or not channel_id:
        raise ValueError(f"channel_id: expected a channel id, got {channel_id!r}")
    snapshots = _load(data)
    snapshots = snapshots[snapshots["published_at"].notna()]  # a daily series without a publish time has no ages
    in_channel = snapshots["channel_id"].eq(channel_id).to_numpy(bool)
    if not in_channel.any():
        channels = snapshots["channel_id"].astype(str)
        known = channels.value_counts().index[:5].tolist()
        raise ValueError(f"channel_id: {channel_id!r} is not in the export ({channels.nunique()} channels, e.g. "
                         f"{', '.join(known)})")
    mine = snapshots[in_channel]
    published = mine.groupby("video_id")["published_at"].first().sort_values(kind="stable")
    before = published
    if video_id is not None:
        if video_id not in published.index:
            where = snapshots.loc[snapshots["video_id"].eq(video_id), "channel_id"]
            reason = f"belongs to channel {where.iloc[0]!r}" if len(where) else "is not in the export"
            raise ValueError(f"video_id: {video_id!r} {reason}")
        before = published[published < published[video_id]]
    chosen = before.index[-recent:]
    if len(chosen) < _typical.MIN_UPLOADS:
        raise ValueError(f"channel_id: {channel_id!r} has {len(chosen)} uploads "
                         f"{'published before ' + repr(video_id) if video_id else 'in the export'}; "
                         f"the band needs at least {_typical.MIN_UPLOADS}")
    iv_all = _typical.intervals_of(snapshots)
    shape, prior, how = _shape_and_prior(iv_all, _typical.intervals_of(mine[mine["video_id"].isin(before.index)]),
                                         artifacts_dir)
    uploads = _typical.fit_uploads(_typical.intervals_of(mine[mine["video_id"].isin(chosen)]), shape, prior)
    wanted = np.unique(np.r_[ages_arr, _typical.RANK_AGES])
    table = uploads.at(wanted)
    bands = _typical.quantiles(table[:, np.isin(wanted, ages_arr)])
    points = [{"days_since_publish": float(age), **{f"p{q}": float(bands[j, i])
                                                     for j, q in enumerate(_typical.PERCENTILES)}}
              for i, age in enumerate(ages_arr)]
    result: dict[str, Any] = {"channel_id": channel_id, "ages": ages_arr.tolist(), "uploads_used": len(chosen),
                              "uploads_requested": recent, "uploads": [str(v) for v in uploads.iv.video_ids],
                              "points": points, "curve": how}
    if len(chosen) < recent:
        result["note"] = f"the channel has {len(chosen)} uploads to compare with, fewer than recent={recent}"
    if video_id is not None or observed is not None:
        result.update(_video_against(uploads, table, wanted, ages_arr, points, shape, prior,
                                     _video_series(mine, video_id, observed)))
    return jsonable(result)


def _video_series(mine: pd.DataFrame, video_id: str | None, observed: Any) -> tuple[Any, dict[str, Any]]:
    """The video's ``Intervals`` and what identifies it."""
    if video_id is not None:
        iv = _typical.intervals_of(mine[mine["video_id"].eq(video_id)])
        if not len(iv.end):
            raise ValueError(f"video_id: {video_id!r} has no observation after its publish time")
        return iv, {"video_id": video_id}
    ages, views = _check_observed(observed)
    return intervals_from_arrays(np.zeros(len(ages), dtype=np.int64), ages, views), {"video_id": None}


def _video_against(uploads: Any, table: np.ndarray, wanted: np.ndarray, ages: np.ndarray,
                   points: list[dict[str, Any]], shape: str, prior: ShapePrior, series: tuple[Any, dict[str, Any]]
                   ) -> dict[str, Any]:
    """The video's views, interval and percentile at each age, its rank now and its forecast ranks."""
    iv, who = series
    now = float(iv.end.max())
    frame = _typical.video_views(iv, shape, prior, np.r_[wanted, now])
    for point, i in zip(points, np.searchsorted(wanted, ages)):
        row = frame.iloc[i]
        point.update(views=float(row["views"]), views_lo=float(row["views_lo"]), views_hi=float(row["views_hi"]),
                     observed=bool(row["observed"]), percentile=_typical.percentile_of(row["views"], table[:, i]))
    at_now = uploads.at([now])[:, 0]
    ranks = [{"days_since_publish": float(age), **_typical.rank_among(frame["views"].iloc[i], table[:, i])}
             for age in _typical.RANK_AGES for i in [int(np.searchsorted(wanted, age))]]
    return {"video": {**who, "days_since_publish": now, "views": float(iv.end_views.max()),
                      "observations": int(len(iv.end))},
            "rank_now": {**_typical.rank_among(float(iv.end_views.max()), at_now), "days_since_publish": now},
            "forecast_rank": ranks}
