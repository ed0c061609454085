"""A channel's own daily reports as canonical snapshots: YouTube Analytics API ``reports.query`` responses and
YouTube Reporting API bulk reports (``channel_basic_a2``).

Both give daily increments per video (the Reporting API one row per country, subscription status and live / on
demand, summed here). Each (video, day) becomes a snapshot at the end of that day of the cumulative counts through
it. A cumulative count needs a starting level, which a report does not give:

- ``from_publishing``: a video resource (``videoperf.data.api_export``) in the same load gives a publish time on or
  after the first day the reports cover for the video, so the reports hold every view: the level is 0;
- ``anchored``: the video was published earlier, and a video resource snapshot inside the reports' days gives its
  total then: the level is that total minus the daily views up to the snapshot (the snapshot's own day pro rata,
  rounded);
- ``relative``: neither; the counts start at 0 on the first reported day, ``views_anchored`` is False and
  ``published_at`` stays missing unless a video resource gives it. Such a series shows shape, not level.

Rows of a (video, day) that a later file gives again are replaced by it (the Reporting API's backfills do that).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

KINDS = ("analytics", "reporting")
FORMAT_NAMES = {"analytics": "the YouTube Analytics API report", "reporting": "the YouTube Reporting API report"}
# Per kind: canonical field -> the report's column; video, day and views are required.
SPELLINGS = {
    "analytics": {"video_id": "video", "day": "day", "channel_id": "channel"},
    "reporting": {"video_id": "video_id", "day": "date", "channel_id": "channel_id"},
}
DAY_FORMATS = {"analytics": "%Y-%m-%d", "reporting": "%Y%m%d"}
METRICS = ("views", "likes", "comments")
COLUMNS = frozenset(name for names in SPELLINGS.values() for name in names.values()) | set(METRICS)
# A per-video query (``filters=video==ID``) has no video column; its id may be saved beside ``columnHeaders``.
VIDEO_KEYS = ("video_id", "videoId")
# The day's counts are complete at its end; the same convention as the Kaggle trending date. Days are read as UTC
# days, the canonical table's; should YouTube count them in Pacific time, each observation is 7-8 hours early.
END_OF_DAY = pd.Timedelta(hours=23, minutes=59, seconds=59)
DAY = pd.Timedelta(days=1)
# What daily rows take from a video resource of the same video.
RESOURCE_FIELDS = ("published_at", "title", "tags", "categories", "channel_id", "channel_title", "duration_seconds")


class DropCounter(Protocol):
    """What ``videoperf.data.sources.DropReport`` offers: counting and logging dropped rows by reason."""

    counts: dict[str, int]

    def drop(self, frame: pd.DataFrame, bad: pd.Series, reason: str) -> pd.DataFrame: ...

    def add(self, reason: str, n_rows: int) -> None: ...


def missing_columns(columns: list[str] | pd.Index) -> dict[str, tuple[str, list[str]]]:
    """Per kind: its name and the required columns a table with ``columns`` lacks (empty: it is that kind)."""
    present = set(columns)
    out = {}
    for kind, names in SPELLINGS.items():
        lacking = [names[field] for field in ("day", "video_id") if names[field] not in present]
        if kind == "analytics" and "video" in lacking:
            lacking[lacking.index("video")] = f"video (the dimension, or {' / '.join(VIDEO_KEYS)} beside columnHeaders)"
        out[kind] = (FORMAT_NAMES[kind], lacking + ([] if "views" in present else ["views"]))
    return out


def report_table(documents: list[Any], path: Path, report: DropCounter) -> pd.DataFrame | None:
    """The rows of the ``reports.query`` responses among the JSON ``documents`` of ``path`` (one, a list, or JSON
    lines) as a table of strings named by ``columnHeaders``; ``None`` when it holds no such response. Rows of the
    wrong length are counted as dropped."""
    if not any(isinstance(d, dict) and "columnHeaders" in d for doc in documents
               for d in (doc if isinstance(doc, list) else [doc])):
        return None
    tables, bad = [], 0
    documents = [d for doc in documents for d in (doc if isinstance(doc, list) else [doc])]
    for document in documents:
        if not isinstance(document, dict) or "columnHeaders" not in document:
            bad += 1
            continue
        names = [str(header.get("name", "")) for header in document["columnHeaders"]]
        rows = document.get("rows") or []  # the API omits ``rows`` when there is no data
        good = [row for row in rows if isinstance(row, list) and len(row) == len(names)]
        bad += len(rows) - len(good)
        table = pd.DataFrame([["" if cell is None else str(cell) for cell in row] for row in good], columns=names,
                             dtype=object)
        video = next((document[key] for key in VIDEO_KEYS if isinstance(document.get(key), str)), None)
        if "video" not in table and video is not None:
            table["video"] = video
        tables.append(table)
    report.add(f"malformed report row or response in {path.name}", bad)
    if not tables:
        return pd.DataFrame()
    return pd.concat(tables, ignore_index=True).fillna("")


def daily_snapshots(parts: list[tuple[pd.DataFrame, str]], snapshots: pd.DataFrame | None, report: DropCounter,
                    source: str, file_format: str) -> pd.DataFrame:
    """Canonical snapshots from daily-report tables ``parts`` (string cells, with their kind), joined by video id
    with the canonical ``snapshots`` of the video resources loaded with them (or ``None``)."""
    n_raw = sum(len(frame) for frame, _ in parts)
    daily = pd.concat([_daily_rows(frame, kind, number, report) for number, (frame, kind) in enumerate(parts)],
                      ignore_index=True)
    # A (video, day) given by two files: the later file replaces the earlier one rather than adding to it.
    latest = daily.groupby(["video_id", "day"])["part"].transform("max")
    daily = report.drop(daily, daily["part"] < latest, "daily row replaced by a later report file")
    window = _windows(daily)
    stats: dict[str, object] = {"uncovered_days": _uncovered_days(daily)}
    totals = _cumulative(daily)
    resources = None
    if snapshots is not None and len(snapshots):  # the latest snapshot of each video, whole
        resources = snapshots.sort_values("observed_at", kind="stable").drop_duplicates("video_id", keep="last")
        resources = resources.set_index("video_id")
    levels = _levels(totals, window, snapshots, resources)
    stats.update(_describe(levels))
    rows = _rows(totals, daily, levels, resources)
    if snapshots is not None:
        n_raw += snapshots.attrs.get("load_report", {}).get("raw_rows", len(snapshots))
        rows = pd.concat([snapshots.assign(views_anchored=True), rows], ignore_index=True)
    # One row per video and UTC day, as everywhere: a level-known row before a relative one, then the latest.
    rows["observed_day"] = rows["observed_at"].dt.floor("D")
    rows = rows.sort_values(["views_anchored", "observed_at"], kind="stable")
    rows = rows.drop_duplicates(["video_id", "observed_day"], keep="last").drop(columns="observed_day")
    rows = report.drop(rows, rows["observed_at"] < rows["published_at"], "observed before published")
    frame = rows.sort_values(["video_id", "observed_at"], kind="stable").reset_index(drop=True)
    frame.attrs["load_report"] = {"source": source, "format": file_format, "raw_rows": n_raw, "snapshots": len(frame),
                                  "videos": int(frame["video_id"].nunique()), "dropped": dict(report.counts),
                                  "daily_series": stats}
    logger.info("%s: %d raw rows -> %d daily snapshots of %d videos (%s format)", source, n_raw, len(frame),
                frame.attrs["load_report"]["videos"], file_format)
    return frame


def _daily_rows(raw: pd.DataFrame, kind: str, number: int, report: DropCounter) -> pd.DataFrame:
    """One report's rows parsed: video_id, day (UTC midnight), channel_id, the metrics (likes / comments may be
    missing), the file's number and kind; bad rows dropped and counted."""
    raw = raw.astype(str)
    raw = report.drop(raw, raw.duplicated(), "duplicate row")
    names = SPELLINGS[kind]

    def column(name: str) -> pd.Series:
        return raw[name].str.strip() if name in raw else pd.Series("", index=raw.index, dtype=object)

    frame = pd.DataFrame({"video_id": column(names["video_id"]), "channel_id": column(names["channel_id"]),
                          "part": number, "kind": kind})
    frame = report.drop(frame, frame["video_id"].eq(""), "missing video_id")
    day = pd.to_datetime(column(names["day"]).reindex(frame.index), format=DAY_FORMATS[kind], errors="coerce",
                         utc=True)
    frame = report.drop(frame.assign(day=day), day.isna(), f"unparseable {names['day']}")
    for metric in METRICS:
        text = column(metric).reindex(frame.index)
        value = pd.to_numeric(text, errors="coerce").astype(float)
        frame[metric] = value
        if metric == "views":
            frame = report.drop(frame, text.eq(""), "missing views")
        frame = report.drop(frame, value.isna() & text.ne(""), f"unparseable {metric}")
        frame = report.drop(frame, frame[metric] < 0, f"negative {metric}")
    return frame


def _windows(daily: pd.DataFrame) -> pd.DataFrame:
    """Per video: ``start`` (first day) and ``end`` (end of the last day) of the files that cover it.

    A file covers the videos it names; a Reporting API file also covers every video of its channels, since it
    lists each video of the channel that had activity that day (absent: no views).
    """
    spans = daily.groupby("part")["day"].agg(first="min", last="max")
    held = daily[["video_id", "part"]].drop_duplicates()
    channel = daily[daily["channel_id"].ne("")].drop_duplicates("video_id").set_index("video_id")["channel_id"]
    channel_wide = daily.loc[daily["kind"].eq("reporting") & daily["channel_id"].ne(""), ["channel_id", "part"]]
    via_channel = channel.rename_axis("video_id").reset_index().merge(channel_wide.drop_duplicates(), on="channel_id")
    covering = pd.concat([held, via_channel[["video_id", "part"]]]).drop_duplicates().join(spans, on="part")
    window = covering.groupby("video_id").agg(start=("first", "min"), end=("last", "max"))
    window["end"] += DAY
    return window


def _uncovered_days(daily: pd.DataFrame) -> int:
    """Days between the first and the last reported day that no file covers; their views count as zero."""
    spans = daily.groupby("part")["day"].agg(["min", "max"]).sort_values("min")
    gap_days, reach = 0, None
    for first, last in spans.itertuples(index=False):
        if reach is not None and first > reach + DAY:
            gap_days += (first - reach) // DAY - 1
        reach = last if reach is None else max(reach, last)
    if gap_days:
        logger.warning("daily reports: %d day(s) between the first and last reported day are in no file; "
                       "their views count as zero", gap_days)
    return int(gap_days)


def _cumulative(daily: pd.DataFrame) -> pd.DataFrame:
    """Per (video, day): the summed increments (``d_views``...) and their running sums (``views``...); a missing
    increment makes that day's and every later running sum of its metric missing."""
    keys = ["video_id", "day"]
    totals = daily.groupby(keys, sort=True)[list(METRICS)].sum(min_count=1)
    unknown = daily[list(METRICS)].isna().groupby([daily[key] for key in keys]).any()
    totals = totals.mask(unknown.reindex(totals.index)).rename(columns=lambda metric: f"d_{metric}")
    by_video = totals.groupby(level="video_id")
    for metric in METRICS:
        gone = totals[f"d_{metric}"].isna().astype(int).groupby(level="video_id").cummax().astype(bool)
        totals[metric] = by_video[f"d_{metric}"].cumsum().mask(gone)
    return totals.reset_index()


def _levels(totals: pd.DataFrame, window: pd.DataFrame, snapshots: pd.DataFrame | None,
            resources: pd.DataFrame | None) -> pd.DataFrame:
    """Per video: ``status`` (from_publishing / anchored / relative, see the module docstring), ``reason`` of a
    relative one, ``published_at`` and the level added to each running sum (``level_views``...)."""
    levels = window.copy()
    published = resources["published_at"] if resources is not None else pd.Series(dtype="datetime64[us, UTC]")
    levels["published_at"] = published.reindex(levels.index)
    from_publishing = levels["published_at"].notna() & (levels["published_at"] >= levels["start"])
    for metric in METRICS:
        levels[f"level_{metric}"] = 0.0
    levels["status"] = np.where(from_publishing, "from_publishing", "relative")
    levels["reason"] = np.where(levels["published_at"].isna(), "no publish time",
                                "published before the reports, no snapshot inside them")
    anchors = _anchor_levels(totals, levels[~from_publishing], snapshots)
    if len(anchors):
        agree = anchors["level_views"] >= 0
        levels.loc[anchors.index[~agree], "reason"] = "snapshot total below the reports' sum"
        good = anchors[agree]
        levels.loc[good.index, "status"] = "anchored"
        for metric in METRICS:  # a likes / comments total the reports exceed leaves that metric's level unknown
            levels.loc[good.index, f"level_{metric}"] = good[f"level_{metric}"].where(good[f"level_{metric}"] >= 0)
    levels.loc[levels["status"].ne("relative"), "reason"] = ""
    return levels


def _anchor_levels(totals: pd.DataFrame, levels: pd.DataFrame, snapshots: pd.DataFrame | None) -> pd.DataFrame:
    """Per video of ``levels`` with a snapshot inside its window: total at the latest such snapshot minus the
    reports' views before it (the snapshot's own day pro rata)."""
    if snapshots is None or not len(levels):
        return pd.DataFrame()
    inside = snapshots.join(levels[["start", "end"]], on="video_id", how="inner")
    inside = inside[(inside["observed_at"] >= inside["start"]) & (inside["observed_at"] < inside["end"])]
    anchors = inside.sort_values("observed_at", kind="stable").drop_duplicates("video_id", keep="last")
    days = totals.merge(anchors[["video_id", "observed_at"]], on="video_id", how="inner")
    share = ((days["observed_at"] - days["day"]) / DAY).clip(0.0, 1.0)
    out = anchors.set_index("video_id")[list(METRICS)].astype(float)
    for metric in METRICS:
        counted = share > 0
        part = (share * days[f"d_{metric}"]).where(counted, 0.0)
        before = part.groupby(days["video_id"]).sum()
        unknown = (counted & days[f"d_{metric}"].isna()).groupby(days["video_id"]).any()
        # Counts are whole; the pro rata share of the snapshot's day is an estimate anyway.
        out[f"level_{metric}"] = (out[metric] - before.mask(unknown).reindex(out.index).fillna(0.0)).round()
    return out


def _describe(levels: pd.DataFrame) -> dict[str, object]:
    """How many series have each status, and why the relative ones are."""
    counts = levels["status"].value_counts()
    reasons = levels.loc[levels["status"].eq("relative"), "reason"].value_counts()
    if len(reasons):
        logger.warning("daily reports: %d video(s) have no known level of views (views_anchored False; counts "
                       "from the first reported day, for shape only): %s", int(reasons.sum()),
                       ", ".join(f"{n} {why}" for why, n in reasons.items()))
    return {"videos": int(len(levels)), **{status: int(counts.get(status, 0)) for status in
                                            ("from_publishing", "anchored", "relative")},
            "relative_reasons": {str(why): int(n) for why, n in reasons.items()}}


def _rows(totals: pd.DataFrame, daily: pd.DataFrame, levels: pd.DataFrame,
          resources: pd.DataFrame | None) -> pd.DataFrame:
    """The canonical rows of the daily series; metadata from the video's latest resource, else empty."""
    video = totals["video_id"]
    per_video = levels.reindex(video)
    known = (resources if resources is not None else pd.DataFrame(columns=list(RESOURCE_FIELDS))).reindex(video)
    channel = daily[daily["channel_id"].ne("")].drop_duplicates("video_id").set_index("video_id")["channel_id"]
    has = known["channel_id"].notna().to_numpy()
    channel_id = np.where(has, known["channel_id"].to_numpy(), channel.reindex(video).fillna("").to_numpy())
    out = pd.DataFrame({
        "video_id": video.to_numpy(),
        "observed_at": (totals["day"] + END_OF_DAY).array,
        "published_at": per_video["published_at"].array,
        "title": known["title"].fillna("").to_numpy(),
        "tags": [value if isinstance(value, list) else [] for value in known["tags"]],
        "categories": [value if isinstance(value, list) else [] for value in known["categories"]],
        "channel_id": channel_id,
        # Without a resource the channel's title is unknown; the id stands in, as for resources without one.
        "channel_title": np.where(has, known["channel_title"].to_numpy(), channel_id),
        "duration_seconds": known["duration_seconds"].to_numpy(float),
    })
    for metric in METRICS:
        out[metric] = totals[metric].to_numpy() + per_video[f"level_{metric}"].to_numpy(float)
    for column in known.columns.difference([*out.columns, "observed_at", "countries", "views_anchored"]):
        out[column] = known[column].to_numpy()
    out["countries"] = [[] for _ in range(len(out))]
    out["views_anchored"] = per_video["status"].ne("relative").to_numpy()
    return out
