"""The simulator's population mode: every upload of its channels, and the daily chart that samples them.

``generate_synthetic`` simulates only videos that made a chart. Here the channels are ordinary (most get
hundreds or thousands of views, a few millions) and each uploads at its own pace; a daily top-``chart_size``
chart per region admits the videos with the most daily views in that region, where a region weighs a
video by how much its channel's language is spoken there (``synthetic_fields.country_weights``). That is the
mechanism behind the real trending export, so one ground truth gives both samples:

* ``chart``: the trending export (``synthetic_fields.RAW_COLUMNS``, one row per video, region and daily fetch);
* ``uploads``: a channel-uploads export of every video at every monthly snapshot (``UPLOAD_COLUMNS``, the
  snake_case video-resource format ``videoperf.data.sources`` reads, format 3), written as one file per snapshot
  by ``write_upload_snapshots``.

Views are the closed-form cumulative curve of each video (``synthetic._cumulative_views``) at the moment
of each fetch, without the increment noise of ``generate_synthetic``: both samples then read one curve
and a video's views never go down across them. Likes and comments are fixed ratios of the views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

# The population mode is the simulator's second mode: it reuses the generative pieces of the first one.
from videoperf.data.synthetic import (
    _DAY,
    _PUBLISH_DAYS,
    _check_int,
    _cumulative_views,
    _fetch_clock,
    _make_channels,
    _make_videos,
    window_start,
)
from videoperf.data.synthetic_fields import COUNTRIES, LANGUAGE_CODES, country_weights, format_raw, video_fields

# One main country per language, so that every channel can chart somewhere and each region has its own mix.
DEFAULT_REGIONS: tuple[str, ...] = ("US", "MX", "IN", "BR", "KR", "JP", "SA", "RU", "FR", "DE", "ID")
UPLOAD_COLUMNS: tuple[str, ...] = (
    "snapshot_utc", "channel_id", "channel_title", "video_id", "published_at", "title", "tags",
    "duration_iso8601", "category_id", "default_language", "default_audio_language", "definition",
    "caption", "licensed_content", "made_for_kids", "view_count", "like_count", "comment_count",
)
_UPLOAD_SOURCE = {"duration_iso8601": "duration_raw", "default_audio_language": "audio_language",
                  "caption": "caption_available"}
# Ordinary channels: the median channel's videos peak ~e^4 (55x) below the trending simulator's, and
# channels differ more (sd 2.0 instead of 1.4 in log scale).
_POPULATION_LOG_SCALE = (-4.0, 2.0)
_UPLOAD_PACE_SD = 0.8  # ln sd of the channels' upload rates around uploads_per_week
# The chart starts 9 days into the window (2025-12-10 in the real export's calendar): channels already have uploads.
_CHART_FIRST_DAY = 9
_CHART_MAX_AGE_DAYS = 60.0  # older videos are not candidates (their daily views are long past the top)


@dataclass(frozen=True)
class Population:
    """One simulated ground truth and its two samples.

    ``videos``: one row per upload with the generating parameters of ``synthetic.SyntheticTruth.videos``
    plus ``charted`` (bool), ``chart_days`` (UTC days on any regional chart) and ``final_views`` (at the
    last snapshot). ``chart``: raw trending-export rows. ``uploads``: channel-uploads rows, all strings,
    every video published before each snapshot time.
    """

    videos: pd.DataFrame
    chart: pd.DataFrame
    uploads: pd.DataFrame


def generate_population(n_channels: int, seed: int = 0, *, chart_size: int = 10,
                        regions: Sequence[str] = DEFAULT_REGIONS, uploads_per_week: float = 1.0,
                        snapshot_times: Sequence[str | pd.Timestamp] | None = None,
                        end: str | date | None = None) -> Population:
    """Simulate every upload of ``n_channels`` channels over the publishing window that ends on ``end`` (a UTC
    date; default today, as ``generate_synthetic``), and its daily chart.

    ``chart_size``: videos admitted per region and day; ``regions``: country codes of the regional charts;
    ``uploads_per_week``: the median channel's upload rate; ``snapshot_times``: when the channel-uploads
    export is taken (default: ``monthly_snapshots``). The same arguments give identical output. Raises
    ``ValueError`` naming a bad argument.
    """
    n_channels = _check_int(n_channels, "n_channels", 1)
    seed = _check_int(seed, "seed", 0)
    start = window_start(end)
    chart_size = _check_int(chart_size, "chart_size", 1)
    unknown = [code for code in regions if code not in COUNTRIES]
    if not regions or unknown:
        raise ValueError(f"regions: expected country codes among {list(COUNTRIES)}, got {list(regions)}")
    if not (isinstance(uploads_per_week, (int, float)) and 0 < uploads_per_week <= 100):
        raise ValueError(f"uploads_per_week: must be a number in (0, 100], got {uploads_per_week!r}")
    snapshots = _snapshot_times(monthly_snapshots(start) if snapshot_times is None else snapshot_times)
    rng = np.random.default_rng(seed)
    ch = _make_channels(rng, n_channels)
    ch["log_scale"] = _POPULATION_LOG_SCALE[0] + ch["log_scale"] * (_POPULATION_LOG_SCALE[1] / 1.4)
    pace = uploads_per_week / 7.0 * rng.lognormal(0.0, _UPLOAD_PACE_SD, n_channels)
    n_uploads = np.maximum(1, rng.poisson(pace * _PUBLISH_DAYS))
    v = _make_videos(rng, ch, int(n_uploads.sum()), start, chan=np.repeat(np.arange(n_channels), n_uploads))
    clock = _fetch_clock(rng, start)
    fields = video_fields(rng, v, ch)
    region_idx = np.array([COUNTRIES.index(code) for code in regions])
    weights = country_weights()[pd.Index(LANGUAGE_CODES).get_indexer(v["language"])][:, region_idx]
    vid, region, day = _chart_entries(v, clock, weights, chart_size)
    # Country rows of a day are fetched in a fixed order a few seconds apart, as in the real export.
    fetch_s = clock[day] + np.sort(rng.uniform(0, 90, len(regions)))[region] + rng.uniform(0, 2e-3, len(vid))
    fetch_s = np.round(fetch_s * 1e6) / 1e6
    views, likes, comments = _counts(v, vid, fetch_s)
    chart = format_raw(fields, vid, region_idx[region], fetch_s, views, likes, comments)
    uploads = _upload_rows(v, fields, snapshots)
    chart_days = pd.Series(day).groupby(vid).nunique().reindex(np.arange(len(v)), fill_value=0).to_numpy()
    last_s = snapshots[-1].value / 1e9
    final = np.where(v["pub_s"].to_numpy() < last_s, _counts(v, np.arange(len(v)), last_s)[0], np.nan)
    videos = v.drop(columns=["chan", "cat", "pub_s"]).assign(charted=chart_days > 0, chart_days=chart_days,
                                                            final_views=final)
    return Population(videos=videos, chart=chart, uploads=uploads)


def monthly_snapshots(start: pd.Timestamp) -> list[pd.Timestamp]:
    """06:00 UTC on the first of every month after the window from ``start`` opens, up to the day after it closes
    (for a window ending on the last day of a month, the last snapshot sees every upload)."""
    last = start + pd.Timedelta(days=_PUBLISH_DAYS)
    return list(pd.date_range(start + pd.offsets.MonthBegin(1), last, freq="MS") + pd.Timedelta(hours=6))


def _snapshot_times(times: Sequence[str | pd.Timestamp]) -> list[pd.Timestamp]:
    try:
        stamps = [pd.Timestamp(t) for t in times]
    except (TypeError, ValueError) as error:
        raise ValueError(f"snapshot_times: cannot parse {list(times)!r} as times") from error
    stamps = [t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC") for t in stamps]
    if not stamps or any(b <= a for a, b in zip(stamps, stamps[1:])):
        raise ValueError(f"snapshot_times: need one or more increasing times, got {list(times)!r}")
    return stamps


def _chart_entries(v: pd.DataFrame, clock: np.ndarray, weights: np.ndarray,
                   chart_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(video, region, day) of every chart entry: per day and region the top videos by weighted daily views."""
    pub_s = v["pub_s"].to_numpy(float)
    order = np.argsort(pub_s, kind="stable")
    sorted_pub = pub_s[order]
    params = [v[c].to_numpy() for c in ("peak_day", "growth_rate", "decay_rate", "peak_rate")]
    entries = []
    for day in range(_CHART_FIRST_DAY, _PUBLISH_DAYS):
        lo, hi = np.searchsorted(sorted_pub, [clock[day] - _CHART_MAX_AGE_DAYS * _DAY, clock[day]])
        candidates = order[lo:hi]
        if not len(candidates):
            continue
        age = (clock[day] - pub_s[candidates]) / _DAY
        p = [values[candidates] for values in params]
        daily = _cumulative_views(age, *p) - _cumulative_views(np.maximum(age - 1.0, 0.0), *p)
        score = daily[:, None] * weights[candidates]
        k = min(chart_size, len(candidates))
        top = np.argpartition(-score, k - 1, axis=0)[:k]  # (k, regions): the k best candidates per region
        region = np.broadcast_to(np.arange(score.shape[1]), top.shape)
        entries.append(np.stack([candidates[top].ravel(), region.ravel(), np.full(top.size, day)]))
    if not entries:
        return (np.zeros(0, np.int64),) * 3
    vid, region, day = np.concatenate(entries, axis=1)
    return vid, region, day


def _counts(v: pd.DataFrame, vid: np.ndarray, when_s: np.ndarray | float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views, likes, comments of videos ``vid`` at epoch seconds ``when_s`` (one per video, or one for all)."""
    age = np.maximum((when_s - v["pub_s"].to_numpy(float)[vid]) / _DAY, 0.0)
    p = [v[c].to_numpy()[vid] for c in ("peak_day", "growth_rate", "decay_rate", "peak_rate")]
    views = np.floor(_cumulative_views(age, *p))
    likes = np.floor(views * v["like_ratio"].to_numpy()[vid])
    comments = np.floor(views * v["comment_ratio"].to_numpy()[vid])
    return views, likes, comments


def _upload_rows(v: pd.DataFrame, fields: dict[str, np.ndarray], snapshots: list[pd.Timestamp]) -> pd.DataFrame:
    """Every video published before each snapshot, in ``UPLOAD_COLUMNS`` (all strings)."""
    frames = []
    pub_s = v["pub_s"].to_numpy(float)
    for stamp in snapshots:
        at_s = stamp.value / 1e9
        vid = np.flatnonzero(pub_s < at_s)
        views, likes, comments = _counts(v, vid, at_s)
        columns = {name: fields[_UPLOAD_SOURCE.get(name, name)][vid] for name in UPLOAD_COLUMNS
                   if _UPLOAD_SOURCE.get(name, name) in fields}
        columns.update(snapshot_utc=stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       view_count=views.astype(np.int64).astype(str), like_count=likes.astype(np.int64).astype(str),
                       comment_count=comments.astype(np.int64).astype(str))
        frames.append(pd.DataFrame({name: columns[name] for name in UPLOAD_COLUMNS}, index=vid))
    uploads = pd.concat(frames) if frames else pd.DataFrame(columns=list(UPLOAD_COLUMNS))
    return uploads.astype(str).reset_index(drop=True)


def write_upload_snapshots(population: Population, folder: str | Path, file_format: str = "csv") -> list[Path]:
    """Write ``population.uploads`` as one channel-uploads file per snapshot (``uploads_YYYY-MM-DD.csv``).

    ``file_format``: ``"csv"`` or ``"parquet"``. Returns the paths written, in snapshot order.
    """
    if file_format not in ("csv", "parquet"):
        raise ValueError(f"file_format: expected 'csv' or 'parquet', got {file_format!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for stamp, rows in population.uploads.groupby("snapshot_utc", sort=True):
        path = folder / f"uploads_{stamp[:10]}.{file_format}"
        rows.to_csv(path, index=False) if file_format == "csv" else rows.to_parquet(path, index=False)
        paths.append(path)
    return paths


# The population a bundle describes, from the format its training data was read in (``load_report``). A channel's
# own daily reports (``analytics``, ``reporting``) cover its uploads, as its video resources do.
POPULATIONS = {"api": "trending_chart", "kaggle": "trending_chart", "videos": "channel_uploads",
               "api+videos": "trending_chart+channel_uploads"}
CHANNEL_FORMATS = {"videos", "analytics", "reporting"}


def training_population(snapshots: pd.DataFrame) -> dict[str, object]:
    """What population a model trained on ``snapshots`` describes: ``name`` (``trending_chart``: videos that made
    a daily chart, ``channel_uploads``: every upload of the channels in the data, ``unknown``: a table that was
    not read by ``videoperf.data.sources.load_data``), the source format and how many channels the data holds."""
    source = snapshots.attrs.get("load_report", {}).get("format")
    name = POPULATIONS.get(str(source)) or ("channel_uploads" if source and set(str(source).split("+")) <=
                                            CHANNEL_FORMATS else "unknown")
    return {"name": name, "source_format": source,
            "channels": int(snapshots["channel_id"].nunique()) if "channel_id" in snapshots else 0}
