"""Load every supported source into the canonical snapshot table.

Formats, detected from the columns:

1. the YouTube Data API trending export: one row per (video, country, fetch), as a parquet file, a CSV
   file, or a folder searched recursively for both;
2. the classic Kaggle "Trending YouTube Video Statistics" CSV (``trending_date`` as ``yy.dd.mm``), with
   its ``*_category_id.json`` beside it when present;
3. the YouTube Data API's video resources (a channel's uploads or any list of videos): CSV / parquet in
   the API's names or in snake_case, or the raw JSON; the snapshot time from a column or ``observed_at``
   (``videoperf.data.api_export`` knows the spellings and renames them to format 1's columns);
4. ``"synthetic"``: the built-in simulator, which writes format 1;
5. a channel's daily reports: YouTube Analytics API ``reports.query`` responses (JSON, or CSV in their column names)
   and YouTube Reporting API ``channel_basic_a2`` CSVs, cumulated by ``videoperf.data.analytics_reports`` and
   joined by video id with the video resources loaded with them.

A folder may hold many files (e.g. one snapshot of the same channels per month): they are read one by
one, each in its own format, and merged, so every video becomes one series.

The canonical table has one row per video per UTC day of observation. Views are global counts, so the
several countries that chart a video on one day collapse to the latest fetch of that day; the countries
are kept as a list because they are an outcome (never a feature). Every dropped row is counted by reason
and logged; the counts are also in ``df.attrs["load_report"]``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from videoperf.data import analytics_reports, api_export

logger = logging.getLogger(__name__)

CANONICAL_COLUMNS = [
    "video_id", "observed_at", "published_at", "title", "tags", "categories", "channel_id", "channel_title",
    "duration_seconds", "views", "likes", "comments",
]
OPTIONAL_COLUMNS = [
    "default_language", "audio_language", "definition", "caption_available", "licensed_content",
    "made_for_kids", "is_live", "countries", "views_anchored",
]
API_REQUIRED = ["video_id", "fetched_at", "published_at", "title", "channel_id", "channel_title", "views", "likes",
                "comments"]
KAGGLE_REQUIRED = ["video_id", "trending_date", "title", "channel_title", "category_id", "publish_time", "tags",
                   "views", "likes", "comment_count"]
API_BOOLEAN_COLUMNS = ["caption_available", "licensed_content", "made_for_kids", "is_live"]
API_STRING_EXTRAS = ["default_language", "audio_language", "definition"]

# YouTube's standard category ids (bundled), for files that carry ids without names.
STANDARD_CATEGORIES: dict[str, str] = json.loads((Path(__file__).parent / "youtube_categories.json").read_text())
DATA_SUFFIXES = (".csv", ".parquet", ".pq", *api_export.JSON_SUFFIXES)


class DropReport:
    """Counts of rows dropped by reason, logged as they happen."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.counts: dict[str, int] = {}

    def drop(self, frame: pd.DataFrame, bad: pd.Series, reason: str) -> pd.DataFrame:
        n_bad = int(bad.sum())
        if n_bad:
            self.counts[reason] = self.counts.get(reason, 0) + n_bad
            logger.warning("%s: dropped %d row(s): %s", self.source, n_bad, reason)
        return frame.loc[~bad]

    def add(self, reason: str, n_rows: int) -> None:
        if n_rows:
            self.counts[reason] = self.counts.get(reason, 0) + n_rows
            logger.warning("%s: dropped %d row(s): %s", self.source, n_rows, reason)


def load_data(source: str | Path | pd.DataFrame, n_synthetic_videos: int | None = None, seed: int | None = None,
              *, observed_at: str | pd.Timestamp | None = None, synthetic_end: str | None = None) -> pd.DataFrame:
    """Load ``source`` ("synthetic", a parquet/CSV/JSON file, a folder, or a raw DataFrame) as canonical snapshots.

    ``observed_at``: the snapshot time of video-resource files that have no snapshot column (ignored by
    formats that carry their own times). ``n_synthetic_videos``, ``seed``, ``synthetic_end``: the simulation of
    ``"synthetic"`` (``synthetic_export``).
    """
    observed = api_export.parse_observed_at(observed_at)
    if isinstance(source, pd.DataFrame):
        return canonicalize(source, "DataFrame", observed_at=observed)
    if not isinstance(source, (str, Path)):
        raise ValueError(f"source: expected 'synthetic', a path or a DataFrame, got {type(source).__name__}")
    if str(source) == "synthetic":
        return canonicalize(synthetic_export(n_synthetic_videos, seed, synthetic_end), "synthetic")
    path = Path(source)
    if not path.exists():
        raise ValueError(f"source: {path} does not exist (expected 'synthetic', a parquet/CSV/JSON file or a folder)")
    files = _data_files(path)
    report = DropReport(str(path))
    parts = [_standardise(_read_file(file, report), observed, file) for file in files]
    kinds = {kind for _, kind in parts}
    if "kaggle" in kinds and len(kinds) > 1:
        raise ValueError(f"source: {path} mixes the Kaggle CSV with other formats; load them separately")
    daily = [(frame, kind) for frame, kind in parts if kind in analytics_reports.KINDS]
    parts = [(frame, kind) for frame, kind in parts if kind not in analytics_reports.KINDS]
    snapshots = None
    if parts:
        # Formats differ in their optional columns: a column one file lacks is missing ("") in its rows.
        raw = pd.concat([frame for frame, _ in parts], ignore_index=True).fillna("") if len(parts) > 1 else parts[0][0]
        snapshots = _canonical(raw, "+".join(sorted({kind for _, kind in parts})), str(path), report,
                               _category_json(path))
    if not daily:
        return snapshots
    return analytics_reports.daily_snapshots(daily, snapshots, report, str(path), "+".join(sorted(kinds)))


def synthetic_export(n_videos: int | None = None, seed: int | None = None, end: str | None = None) -> pd.DataFrame:
    """The raw rows ``load_data("synthetic")`` reads: the simulator's export of ``n_videos`` videos from ``seed``,
    published up to ``end``; each defaults to its ``data`` entry of model_config.json (``synthetic_end`` null:
    today)."""
    from videoperf.config import load_config
    from videoperf.data.synthetic import generate_synthetic

    data = load_config().data
    raw, _ = generate_synthetic(n_videos or data.n_synthetic_videos, data.synthetic_seed if seed is None else seed,
                                end=data.synthetic_end if end is None else end)
    return raw


def _is_category_file(path: Path) -> bool:
    return path.name == "categories.json" or path.name.endswith("_category_id.json")


def _data_files(path: Path) -> list[Path]:
    if path.is_file():
        if path.suffix.lower() not in DATA_SUFFIXES:
            raise ValueError(f"source: {path} is not a CSV, parquet or JSON file")
        return [path]
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in DATA_SUFFIXES and not _is_category_file(p))
    if not files:
        raise ValueError(f"source: folder {path} holds no CSV, parquet or JSON data file")
    return files


def _read_file(path: Path, report: DropReport) -> pd.DataFrame:
    """One file as a table of strings (``""`` = missing), whatever its format."""
    if path.suffix.lower() in api_export.JSON_SUFFIXES:
        documents, n_bad = api_export.json_documents(path)
        daily = analytics_reports.report_table(documents, path, report)
        if daily is None:
            daily, n_items = api_export.resources_table(documents, path)
            n_bad += n_items
        report.add(f"malformed JSON line or item in {path.name}", n_bad)
        return daily
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        # Reading only the columns the loader uses halves the peak memory of the 933k-row export.
        wanted = set(API_REQUIRED + KAGGLE_REQUIRED + API_BOOLEAN_COLUMNS + API_STRING_EXTRAS) | {
            "country", "tags", "category_name", "category_id", "duration", "publish_time"} | api_export.KNOWN_COLUMNS \
            | analytics_reports.COLUMNS
        names = pq.read_schema(path).names
        return api_export.as_strings(pd.read_parquet(path, columns=[name for name in names if name in wanted]))
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.ParserError:
        # Only the python engine reports malformed lines one by one, so it is the slow fallback.
        malformed: list[list[str]] = []

        def keep_count(line: list[str]) -> None:
            malformed.append(line)
            return None

        frame = pd.read_csv(path, dtype=str, keep_default_na=False, engine="python", on_bad_lines=keep_count)
        report.add(f"malformed CSV line in {path.name}", len(malformed))
        return frame


def _category_json(path: Path) -> Path | None:
    folder = path if path.is_dir() else path.parent
    if path.is_file():
        prefix = path.name.split("videos")[0]
        specific = folder / f"{prefix}_category_id.json"
        if prefix and specific.is_file():
            return specific
    candidates = sorted(folder.glob("*_category_id.json")) + sorted(folder.glob("categories.json"))
    return candidates[0] if candidates else None


def _read_categories(path: Path | None) -> dict[str, str]:
    if path is None:
        return dict(STANDARD_CATEGORIES)
    data = json.loads(path.read_text())
    if isinstance(data, dict) and "items" in data:
        return {str(item["id"]): item["snippet"]["title"] for item in data["items"]}
    return {str(key): str(value) for key, value in data.items()}


def detect_format(columns: list[str] | pd.Index, observed_at: object = None) -> str:
    """Return ``"api"``, ``"kaggle"``, ``"videos"``, ``"analytics"`` or ``"reporting"``; ``ValueError`` naming what
    the nearest format lacks.

    ``observed_at`` stands in for the snapshot column of video resources.
    """
    present = set(columns)
    missing = {
        "api": ("the YouTube API trending export", [col for col in API_REQUIRED if col not in present]),
        "kaggle": ("the Kaggle trending CSV", [col for col in KAGGLE_REQUIRED if col not in present]),
        "videos": (api_export.FORMAT_NAME, api_export.missing_fields(columns, observed_at)),
        **analytics_reports.missing_columns(columns),
    }
    for kind, (_, lacking) in missing.items():
        if not lacking:
            return kind
    closest, lacking = min(missing.values(), key=lambda entry: len(entry[1]))
    raise ValueError(f"data: not a supported format; as {closest} it is missing column(s) {lacking}")


def _standardise(raw: pd.DataFrame, observed_at: pd.Timestamp | None, where: object) -> tuple[pd.DataFrame, str]:
    """Detect one table's format; video resources are renamed to the trending export's columns."""
    try:
        kind = detect_format(raw.columns, observed_at)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    if kind == "videos":
        raw = api_export.to_trending_columns(api_export.as_strings(raw), observed_at)
    return raw, kind


def canonicalize(raw: pd.DataFrame, source: str, report: DropReport | None = None,
                 category_json: Path | None = None, observed_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """Turn raw rows of any format into the canonical snapshot table."""
    raw, kind = _standardise(raw, api_export.parse_observed_at(observed_at), source)
    if kind in analytics_reports.KINDS:
        return analytics_reports.daily_snapshots([(raw, kind)], None, report or DropReport(source), source, kind)
    return _canonical(raw, kind, source, report or DropReport(source), category_json)


def _canonical(raw: pd.DataFrame, kind: str, source: str, report: DropReport,
               category_json: Path | None) -> pd.DataFrame:
    n_raw = len(raw)
    raw = raw.astype(str) if any(raw[col].dtype != object for col in raw.columns) else raw
    duplicated = raw.duplicated()
    raw = report.drop(raw, duplicated, "duplicate row")
    if kind == "kaggle":
        frame = _from_kaggle(raw, report, _read_categories(category_json))
    else:
        frame = _from_api(raw, report, "fetched_at" if kind == "api" else "snapshot time")
    frame = frame.sort_values(["video_id", "observed_at"], kind="stable").reset_index(drop=True)
    frame.attrs["load_report"] = {"source": source, "format": kind, "raw_rows": n_raw, "snapshots": len(frame),
                                  "videos": int(frame["video_id"].nunique()), "dropped": dict(report.counts)}
    logger.info("%s: %d raw rows -> %d daily snapshots of %d videos (%s format)", source, n_raw, len(frame),
                frame.attrs["load_report"]["videos"], kind)
    return frame


def _timestamps(frame: pd.DataFrame, column: str, report: DropReport, label: str | None = None) -> pd.DataFrame:
    parsed = pd.to_datetime(frame[column], utc=True, errors="coerce", format="ISO8601")
    frame = frame.assign(**{column: parsed})
    return report.drop(frame, parsed.isna(), f"unparseable {label or column}")


def _counts(frame: pd.DataFrame, columns: dict[str, str], report: DropReport) -> pd.DataFrame:
    """Parse count columns; empty views drop the row, empty likes/comments stay missing (hidden counts)."""
    for raw_name, name in columns.items():
        text = frame[raw_name].str.strip()
        value = pd.to_numeric(text, errors="coerce")
        empty = text.eq("")
        frame = frame.assign(**{name: value.astype(float)})
        if name == "views":
            frame = report.drop(frame, empty, "missing views")
        frame = report.drop(frame, frame[name].isna() & ~empty.reindex(frame.index), f"unparseable {raw_name}")
        frame = report.drop(frame, frame[name] < 0, f"negative {raw_name}")
    return frame


def _split_list(series: pd.Series, separator: str) -> pd.Series:
    # A video repeats its tag string on every day it is observed: split each distinct string once.
    codes, uniques = pd.factorize(series)
    split = [[t.strip() for t in text.split(separator) if t.strip()] if text else [] for text in uniques]
    return pd.Series([split[code] for code in codes], index=series.index, dtype=object)


def _from_api(raw: pd.DataFrame, report: DropReport, snapshot_label: str = "fetched_at") -> pd.DataFrame:
    frame = raw.copy()
    frame["video_id"] = frame["video_id"].str.strip()
    frame = report.drop(frame, frame["video_id"].eq(""), "missing video_id")
    frame = _timestamps(frame, "fetched_at", report, snapshot_label)
    frame = _timestamps(frame, "published_at", report)
    frame = _counts(frame, {"views": "views", "likes": "likes", "comments": "comments"}, report)
    country = frame["country"] if "country" in frame else pd.Series("", index=frame.index)
    frame["observed_day"] = frame["fetched_at"].dt.floor("D")
    seen = pd.DataFrame({"video_id": frame["video_id"], "observed_day": frame["observed_day"], "country": country})
    seen = seen[seen["country"].ne("")].drop_duplicates().sort_values("country", kind="stable")
    countries = seen.groupby(["video_id", "observed_day"])["country"].agg(list)
    # Views are global: per video and UTC day the latest fetch over all countries is the observation.
    frame = frame.sort_values("fetched_at", kind="stable").drop_duplicates(["video_id", "observed_day"], keep="last")
    frame = report.drop(frame, frame["fetched_at"] < frame["published_at"], "observed before published")
    out = pd.DataFrame({
        "video_id": frame["video_id"].to_numpy(),
        "observed_at": frame["fetched_at"].to_numpy(),
        "published_at": frame["published_at"].to_numpy(),
        "title": frame["title"].to_numpy(),
        "tags": _split_list(frame["tags"], ",").to_numpy() if "tags" in frame else [[] for _ in range(len(frame))],
        "categories": _categories_from_api(frame).to_numpy(),
        "channel_id": frame["channel_id"].to_numpy(),
        "channel_title": frame["channel_title"].to_numpy(),
        "duration_seconds": (pd.to_numeric(frame["duration"], errors="coerce").to_numpy(dtype=float)
                             if "duration" in frame else np.nan),
        "views": frame["views"].to_numpy(),
        "likes": frame["likes"].to_numpy(),
        "comments": frame["comments"].to_numpy(),
    })
    for column in API_STRING_EXTRAS:
        if column in frame:
            out[column] = frame[column].replace("", None).to_numpy()
    for column in API_BOOLEAN_COLUMNS:
        if column in frame:
            out[column] = frame[column].map({"True": 1.0, "False": 0.0, "true": 1.0, "false": 0.0}).to_numpy(float)
    keys = pd.MultiIndex.from_arrays([frame["video_id"], frame["observed_day"]])
    out["countries"] = [value if isinstance(value, list) else [] for value in countries.reindex(keys)]
    return out


def _categories_from_api(frame: pd.DataFrame) -> pd.Series:
    if "category_name" in frame:
        names = frame["category_name"]
    elif "category_id" in frame:
        return category_lists(frame["category_id"])
    else:
        names = pd.Series("", index=frame.index)
    return names.map(lambda name: [name] if name else [])


def category_lists(ids: pd.Series, table: dict[str, str] | None = None) -> pd.Series:
    """Category ids as one-name lists: ``table`` first, then the bundled standard ids; ``[]`` for no id."""
    names = {**STANDARD_CATEGORIES, **(table or {})}
    return ids.str.strip().map(lambda cid: [names.get(cid, f"category {cid}")] if cid else [])


def _from_kaggle(raw: pd.DataFrame, report: DropReport, categories: dict[str, str]) -> pd.DataFrame:
    frame = raw.copy()
    frame["video_id"] = frame["video_id"].str.strip()
    frame = report.drop(frame, frame["video_id"].eq("") | frame["video_id"].eq("#NAME?"), "missing video_id")
    trending = pd.to_datetime(frame["trending_date"], format="%y.%d.%m", errors="coerce", utc=True)
    # The scrape time of day is unknown; the end of the trending day keeps same-day videos at a positive age.
    frame["fetched_at"] = trending + pd.Timedelta(hours=23, minutes=59, seconds=59)
    frame = report.drop(frame, trending.isna(), "unparseable trending_date")
    frame = _timestamps(frame.rename(columns={"publish_time": "published_at"}), "published_at", report)
    frame = _counts(frame, {"views": "views", "likes": "likes", "comment_count": "comments"}, report)
    frame = report.drop(frame, frame["fetched_at"] < frame["published_at"], "observed before published")
    frame = frame.sort_values("views", kind="stable").drop_duplicates(["video_id", "fetched_at"], keep="last")
    tags = frame["tags"].map(lambda text: [] if text.strip() in ("", "[none]") else
                             [t.strip().strip('"').strip() for t in text.split("|") if t.strip().strip('"')])
    out = pd.DataFrame({
        "video_id": frame["video_id"].to_numpy(),
        "observed_at": frame["fetched_at"].to_numpy(),
        "published_at": frame["published_at"].to_numpy(),
        "title": frame["title"].to_numpy(),
        "tags": tags.to_numpy(),
        "categories": category_lists(frame["category_id"], categories).to_numpy(),
        # The Kaggle format has no channel id: the channel title is the best stable key it offers.
        "channel_id": frame["channel_title"].to_numpy(),
        "channel_title": frame["channel_title"].to_numpy(),
        "duration_seconds": np.full(len(frame), np.nan),
        "views": frame["views"].to_numpy(),
        "likes": frame["likes"].to_numpy(),
        "comments": frame["comments"].to_numpy(),
    })
    return out


def data_fingerprint(snapshots: pd.DataFrame) -> dict[str, Any]:
    """A short, order-independent description of a canonical table for the artifact manifest."""
    keys = snapshots[["video_id", "observed_at", "views"]].sort_values(["video_id", "observed_at"])
    digest = hashlib.sha256(pd.util.hash_pandas_object(keys, index=False).to_numpy().tobytes()).hexdigest()
    return {
        "sha256": digest,
        "snapshots": int(len(snapshots)),
        "videos": int(snapshots["video_id"].nunique()),
        "published_from": str(snapshots["published_at"].min()),
        "published_to": str(snapshots["published_at"].max()),
    }


def as_snapshots(source: str | Path | pd.DataFrame, observed_at: str | None = None) -> pd.DataFrame:
    """A source, or an already canonical snapshot table, as canonical snapshots."""
    if isinstance(source, pd.DataFrame) and {"observed_at", "published_at", "views"} <= set(source.columns):
        return source
    return load_data(source, observed_at=observed_at)
