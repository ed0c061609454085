"""Video-resource exports of the YouTube Data API: a channel's uploads, or any list of videos.

What channel analysts have on disk is the API's ``videos`` resource, one row per video per snapshot:
flattened to CSV / parquet in the API's own (dotted or bare camelCase) names or in snake_case, or the
raw JSON the API returns. This module recognises those spellings (``FIELDS``), reads the JSON, and
renames everything to the raw columns of the trending export (``videoperf.data.sources`` format 1), so that a
single code path turns both into canonical snapshots: the snapshot time becomes ``fetched_at``, the ISO
8601 duration becomes seconds, the tags one comma-separated string. It parses nothing else and drops
no row; counting bad rows stays with the loader.
"""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

# Canonical raw name (the trending export's) -> accepted spellings, the first present wins. ``videoId``
# / ``video_id`` come before ``id`` because an export may carry a row id beside the video id.
FIELDS: dict[str, tuple[str, ...]] = {
    "video_id": ("videoId", "video_id", "id"),
    "published_at": ("snippet.publishedAt", "publishedAt", "published_at"),
    "title": ("snippet.title", "title"),
    "channel_id": ("snippet.channelId", "channelId", "channel_id"),
    "views": ("statistics.viewCount", "viewCount", "view_count"),
    "fetched_at": ("snapshot_utc", "fetched_at", "retrieved_at"),
    "channel_title": ("snippet.channelTitle", "channelTitle", "channel_title"),
    "tags": ("snippet.tags", "tags"),
    "category_id": ("snippet.categoryId", "categoryId", "category_id"),
    "duration": ("contentDetails.duration", "duration_iso8601", "duration"),
    "likes": ("statistics.likeCount", "likeCount", "like_count"),
    "comments": ("statistics.commentCount", "commentCount", "comment_count"),
    "default_language": ("snippet.defaultLanguage", "defaultLanguage", "default_language"),
    "audio_language": ("snippet.defaultAudioLanguage", "defaultAudioLanguage", "default_audio_language",
                       "audio_language"),
    "definition": ("contentDetails.definition", "definition"),
    "caption_available": ("contentDetails.caption", "caption", "caption_available"),
    "licensed_content": ("contentDetails.licensedContent", "licensedContent", "licensed_content"),
    "made_for_kids": ("status.madeForKids", "madeForKids", "made_for_kids"),
}
REQUIRED = ("video_id", "published_at", "title", "channel_id", "views")
SNAPSHOT_COLUMNS = FIELDS["fetched_at"]
KNOWN_COLUMNS = frozenset(name for spellings in FIELDS.values() for name in spellings)
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
FORMAT_NAME = "YouTube Data API video resources"

_ISO_DURATION = (r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
                 r"(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$")
_DURATION_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


def _present(columns: set[str], field: str) -> str | None:
    return next((name for name in FIELDS[field] if name in columns), None)


def missing_fields(columns: list[str] | pd.Index, observed_at: object = None) -> list[str]:
    """What a table with ``columns`` lacks to be read as video resources (empty: it can be)."""
    present = set(columns)
    missing = [f"{field} (one of {', '.join(FIELDS[field])})" for field in REQUIRED
               if _present(present, field) is None]
    if observed_at is None and _present(present, "fetched_at") is None:
        missing.append(f"snapshot time (a column {', '.join(SNAPSHOT_COLUMNS)}, or observed_at / --observed-at)")
    return missing


def parse_observed_at(observed_at: object) -> pd.Timestamp | None:
    """``observed_at`` as a UTC timestamp (naive = UTC); ``ValueError`` naming it when unparseable."""
    return None if observed_at is None else utc_timestamp(observed_at, "observed_at")


def utc_timestamp(value: object, name: str, what: str = "a date/time") -> pd.Timestamp:
    """``value`` as a UTC timestamp (naive = UTC); ``ValueError`` naming the argument ``name`` when unparseable."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: cannot parse {value!r} as {what}") from error
    if pd.isna(stamp):
        raise ValueError(f"{name}: cannot parse {value!r} as {what}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def to_trending_columns(raw: pd.DataFrame, observed_at: pd.Timestamp | None = None) -> pd.DataFrame:
    """Rename a video-resource table (string cells, ``""`` = missing) to the trending export's raw columns.

    The snapshot time comes from the first snapshot column present, else from ``observed_at``. Hidden
    likes / disabled comments (absent columns) become empty, i.e. missing counts; tags may be absent.
    """
    present = set(raw.columns)
    missing = missing_fields(raw.columns, observed_at)
    if missing:
        raise ValueError(f"data: as {FORMAT_NAME} it is missing {missing}")
    out = pd.DataFrame(index=raw.index)
    for field in FIELDS:
        name = _present(present, field)
        if name is not None:
            out[field] = raw[name].astype(str).str.strip()
    if "fetched_at" not in out:
        out["fetched_at"] = observed_at.isoformat()
    for field in ("likes", "comments", "channel_title"):
        if field not in out:
            out[field] = out["channel_id"] if field == "channel_title" else ""
    out["channel_title"] = out["channel_title"].where(out["channel_title"].ne(""), out["channel_id"])
    if "duration" in out:
        out["duration"] = duration_seconds(out["duration"])
    if "tags" in out:
        out["tags"] = tags_text(out["tags"])
    return out


def duration_seconds(text: pd.Series) -> pd.Series:
    """ISO 8601 durations (``PT3M49S``, ``P1DT2H``, ``P0D``) or plain seconds, as seconds strings; else ``""``.

    An unreadable duration is only a missing feature, so the row stays; the count is logged.
    """
    parts = text.str.extract(_ISO_DURATION)
    iso = text.str.match(_ISO_DURATION) & text.str.contains(r"\d")  # "P" / "PT" alone say nothing
    seconds = sum(parts[key].astype(float).fillna(0.0) * factor for key, factor in _DURATION_SECONDS.items())
    numeric = pd.to_numeric(text, errors="coerce")
    value = seconds.where(iso, numeric)
    bad = int((value.isna() & text.ne("")).sum())
    if bad:
        logger.warning("%d duration value(s) are neither ISO 8601 nor seconds; kept as missing", bad)
    return value.map(lambda v: "" if pd.isna(v) else f"{v:g}")


def tags_text(text: pd.Series) -> pd.Series:
    """Tags as one comma-separated string, from a JSON / Python list, ``a|b`` or ``a, b``.

    YouTube does not allow commas inside a tag, so the comma is a safe separator.
    """
    codes, uniques = pd.factorize(text)
    joined = np.array([", ".join(_tag_list(value)) for value in uniques], dtype=object)
    return pd.Series(joined[codes] if len(uniques) else [], index=text.index, dtype=object)


def _tag_list(text: str) -> list[str]:
    text = text.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError:
            try:
                items = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                items = text.strip("[]").split(",")
    else:
        items = text.split("|" if "|" in text else ",")
    cleaned = (str(item).strip().strip("'\"").strip() for item in items)
    return [tag for tag in cleaned if tag]


def as_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell a string, ``""`` for missing, list cells (parquet / JSON tags) as JSON lists."""
    out = {}
    for column in frame.columns:
        series = frame[column]
        if series.dtype == object:
            sample = series.dropna().head(50)
            if sample.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
                series = series.map(lambda v: json.dumps([str(t) for t in v])
                                    if isinstance(v, (list, tuple, np.ndarray)) else v)
        out[column] = series.astype(str).where(series.notna(), "")
    return pd.DataFrame(out, index=frame.index)


def json_documents(path: Path) -> tuple[list[Any], int]:
    """The JSON documents of ``path``: the whole file as one, or else one per line (JSON lines), with the number
    of lines that are no JSON."""
    text = path.read_text(encoding="utf-8")
    try:
        return [json.loads(text)], 0
    except json.JSONDecodeError:
        pass
    documents, bad = [], 0
    for line in filter(str.strip, text.splitlines()):
        try:
            documents.append(json.loads(line))
        except json.JSONDecodeError:
            bad += 1
    return documents, bad


def resources_table(documents: list[Any], path: Path) -> tuple[pd.DataFrame, int]:
    """Video resources from the ``json_documents`` of ``path``: an API response (``{"items": [...]}``), a list of
    responses or of resources; returns the flattened string table and the number of unreadable items.

    A response may carry its snapshot time beside ``items`` under one of ``SNAPSHOT_COLUMNS``.
    """
    bad = 0
    items: list[dict[str, Any]] = []
    for document in documents:
        bad += _collect(document, items, None)
    if not items:
        raise ValueError(f"source: {path} holds no video resources (expected an API response with 'items', "
                         "a list of them or of video resources, or JSON lines)")
    return as_strings(pd.json_normalize(items)), bad


def _collect(document: object, items: list[dict[str, Any]], snapshot: object) -> int:
    """Append the video resources in ``document`` to ``items``; return how many entries were not objects."""
    if isinstance(document, list):
        return sum(_collect(entry, items, snapshot) for entry in document)
    if not isinstance(document, dict):
        return 1
    if "items" in document:
        stamp = next((document[key] for key in SNAPSHOT_COLUMNS if key in document), snapshot)
        return _collect(document["items"], items, stamp)
    if snapshot is not None and not any(key in document for key in SNAPSHOT_COLUMNS):
        document = {**document, "snapshot_utc": snapshot}
    items.append(document)
    return 0
