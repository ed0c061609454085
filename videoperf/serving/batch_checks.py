"""Validation of a batch of requests (one per row of a table), column by column.

The rules are those of a single request (``videoperf.serving.rules``, the fields of
``videoperf.serving.request.BatchRow``): each column is checked at once, and the first offending cell is checked
again by the field's own rule, so the message is a single call's with the row in front:
``"rows[12].duration_seconds: must be >= 0 seconds, got -3.0"``. What a table changes: an empty cell (NaN) is a
value not given, lists may be comma-separated text (as CSV holds them), and columns that are not fields (an id, a
channel) are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime
from itertools import chain, repeat
from typing import Any

import numpy as np
import pandas as pd

from videoperf.plain import cut, split_list
from videoperf.serving import rules
from videoperf.serving.request import (
    FLAG_FACTS,
    OBSERVATION_NEEDS_BOTH,
    OBSERVED_COLUMNS,
    OPTIONAL_FACTS,
    REQUIRED_FIELDS,
    BatchRow,
    field_rule,
)

_DATES = (str, datetime, date, np.datetime64)


def _first_bad(mask: np.ndarray, values: Any, column: str, first_row: int,
               rule: Callable[[Any, int], Any] | None = None) -> None:
    """The first row ``mask`` flags, raised as its field's rule words it (``rule(value, row)``: a rule that also
    depends on another column)."""
    bad = np.flatnonzero(mask)
    if len(bad):
        i = int(bad[0])
        value = values.iloc[i] if isinstance(values, pd.Series) else values[i]
        if isinstance(value, (np.bool_, np.number)):  # a cell of a typed column, as a single call would get it
            value = value.item()
        check = field_rule(column) if rule is None else (lambda v: rule(v, i))
        rules.checked(check, value, f"rows[{first_row + i}]", column)
        raise ValueError(f"rows[{first_row + i}].{column}: invalid value {rules.show(value)}")  # rules disagree


def check_rows(rows: pd.DataFrame, default_days: float = 7.0, first_row: int = 0,
               now: pd.Timestamp | None = None) -> pd.DataFrame:
    """Validate a batch (one request per row); errors name the row: ``rows[12].duration_seconds``.

    Returns the rows as ``VideoRequest.row`` gives one request (a 100,000-row batch takes well under a second).
    ``first_row``: the number of ``rows``' first row in the caller's batch (a chunk of it), for the messages;
    ``now``: what a missing ``published_at`` becomes (default: the current time).
    """
    missing = [col for col in REQUIRED_FIELDS if col not in rows.columns]
    if missing:
        raise ValueError(f"rows: missing column(s) {missing}; required are {list(REQUIRED_FIELDS)}")
    rows = rows.reset_index(drop=True)
    n = len(rows)
    out: dict[str, Any] = {}

    titles = rows["title"].tolist()
    bad = [not isinstance(t, str) or len(t) > rules.MAX_TEXT_CHARS or not t.strip() for t in titles]
    _first_bad(np.array(bad, dtype=bool) | ~_encodable(titles), titles, "title", first_row)
    out["title"] = [t.strip() for t in titles]
    for column in ("tags", "categories"):
        out[column] = (_string_lists(rows[column].tolist(), column, first_row) if column in rows
                       else [[] for _ in range(n)])

    if "duration_seconds" in rows:
        duration = _numeric_column(rows["duration_seconds"])
        given = rows["duration_seconds"].notna().to_numpy()
        _first_bad(given & ~(np.isfinite(duration) & (duration >= 0)), rows["duration_seconds"], "duration_seconds",
                   first_row)
        out["duration_seconds"] = np.where(given, duration, np.nan)
    else:
        out["duration_seconds"] = np.full(n, np.nan)

    count = _numeric_column(rows["channel_video_count"])
    _first_bad(~(np.isfinite(count) & (count >= 0) & (count == np.floor(count))), rows["channel_video_count"],
               "channel_video_count", first_row)
    average = _numeric_column(rows["channel_avg_views"])
    given = rows["channel_avg_views"].notna().to_numpy()
    _first_bad((given & ~(np.isfinite(average) & (average >= 0))) | (~given & (count > 0)), rows["channel_avg_views"],
               "channel_avg_views", first_row, lambda value, i: rules.check_average_views(value, count[i]))
    out["channel_avg_views"] = np.where(count > 0, average, np.nan)
    out["channel_video_count"] = count
    out["channel_mean_log_views"] = _median_log_views(rows, count, first_row)

    now = pd.Timestamp.now(tz="UTC") if now is None else now
    out["published_at"] = (_timestamps(rows["published_at"], first_row).fillna(now) if "published_at" in rows
                           else pd.Series([now] * n, dtype="datetime64[ns, UTC]"))
    if "days_since_publish" in rows:
        days = _numeric_column(rows["days_since_publish"])
        given = rows["days_since_publish"].notna().to_numpy()
        _first_bad(given & ~((days > 0) & (days <= rules.MAX_DAYS)), rows["days_since_publish"],
                   "days_since_publish", first_row)
        out["age_days"] = np.where(given, days, float(default_days))
    else:
        out["age_days"] = np.full(n, float(default_days))

    for name in OPTIONAL_FACTS:
        flag = name in FLAG_FACTS
        if name not in rows:
            out[name] = np.full(n, np.nan) if flag else [None] * n
            continue
        rule = field_rule(name)
        values = [rules.checked(rule, _none_if_nan(value), f"rows[{first_row + i}]", name)
                  for i, value in enumerate(rows[name].tolist())]
        out[name] = [math.nan if v is None else float(v) for v in values] if flag else values
    frame = pd.DataFrame(out)
    frame.attrs["ignored_columns"] = [col for col in rows.columns if col not in BatchRow.model_fields]
    return frame


def _median_log_views(rows: pd.DataFrame, count: np.ndarray, first_row: int) -> np.ndarray:
    """log1p of the optional ``channel_median_views`` column (NaN where not given), checked as the request is."""
    if "channel_median_views" not in rows:
        return np.full(len(rows), np.nan)
    median = _numeric_column(rows["channel_median_views"])
    given = rows["channel_median_views"].notna().to_numpy()
    _first_bad(given & ~(np.isfinite(median) & (median >= 0) & (count > 0)), rows["channel_median_views"],
               "channel_median_views", first_row, lambda value, i: rules.check_median_views(value, count[i]))
    with np.errstate(invalid="ignore"):
        return np.where(given, np.log1p(np.where(given, median, 0.0)), np.nan)


def _encodable(texts: list[Any]) -> np.ndarray:
    """Which items are not strings with a lone surrogate (one pass over the whole list when none has one)."""
    try:
        "".join(t for t in texts if isinstance(t, str)).encode("utf-8")
        return np.ones(len(texts), dtype=bool)
    except UnicodeEncodeError:
        return np.array([not isinstance(t, str) or _encodes(t) for t in texts], dtype=bool)


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _timestamps(raw: pd.Series, first_row: int) -> pd.Series:
    """``published_at`` as UTC timestamps (NaT where not given); each given value of a date type, parsed and in
    range."""
    if not len(raw):
        return raw
    given = raw.notna().to_numpy()
    if not pd.api.types.is_datetime64_any_dtype(raw.dtype):
        values = raw.tolist()
        if not isinstance(raw.dtype, pd.StringDtype):
            _first_bad(given & ~np.array([isinstance(v, _DATES) for v in values], dtype=bool), values,
                       "published_at", first_row)
        _first_bad(given & np.array([isinstance(v, str) and len(v) > rules.MAX_DATE_CHARS for v in values],
                                    dtype=bool), values, "published_at", first_row)
    parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="mixed")
    outside = ((parsed < rules.EARLIEST_DATE) | (parsed >= rules.LATEST_DATE)).to_numpy()
    _first_bad(given & (parsed.isna().to_numpy() | outside), raw, "published_at", first_row)
    return parsed


def _split_list(value: Any) -> Any:
    """CSV cells hold lists as comma-separated text; an empty or missing cell is an empty list."""
    if isinstance(value, str):
        return split_list(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return value


def _string_lists(values: list[Any], column: str, first_row: int = 0) -> list[list[str]]:
    """``rules.check_strings`` of every cell of a column. When every cell is a list or tuple of bounded strings
    (the usual case) the bounds are checked over the whole column at once; otherwise, or when a check fails, cell
    by cell, so an error names the first bad row as ``check_strings`` words it."""
    lists = [_split_list(value) for value in values]
    flat = list(chain.from_iterable(lists)) if set(map(type, lists)) <= {list, tuple} else None
    lengths = list(map(len, lists)) if flat is not None else []
    if (flat is not None and max(lengths, default=0) <= rules.MAX_LIST_ITEMS
            and all(map(isinstance, flat, repeat(str))) and max(map(len, flat), default=0) <= rules.MAX_TEXT_CHARS):
        try:
            "".join(flat).encode("utf-8")  # one lone surrogate anywhere fails it
        except UnicodeEncodeError:
            pass
        else:
            stripped = list(map(str.strip, flat))  # the whole column at once, cut back into its lists
            cells = cut(stripped, lengths)
            return cells if all(stripped) else [list(filter(None, cell)) for cell in cells]
    return [rules.checked(rules.check_strings, cell, f"rows[{first_row + i}]", column) for i, cell in enumerate(lists)]


def _numeric_column(values: pd.Series) -> np.ndarray:
    """Numbers as floats; anything else (text, booleans) as NaN so that the row is reported."""
    if values.dtype == bool:
        return np.full(len(values), np.nan)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=float, na_value=np.nan)
    return np.fromiter((rules.as_float(v) for v in values), dtype=float, count=len(values))


def _none_if_nan(value: Any) -> Any:
    if value is None:
        return None
    try:
        return None if pd.isna(value) else value
    except (TypeError, ValueError):
        return value


def check_observed_rows(rows: pd.DataFrame) -> dict[str, np.ndarray] | None:
    """The latest observation of each batch row, from the columns ``observed_days`` and ``observed_views``
    (optional ``observed_likes``, ``observed_comments``); None when the batch has neither column. A row with
    both empty has no observation; one without the other, or a bad value, fails naming ``rows[i].column``."""
    present = [c for c in OBSERVED_COLUMNS if c in rows.columns]
    if not present:
        return None
    if not {"observed_days", "observed_views"} <= set(present):
        missing = sorted({"observed_days", "observed_views"} - set(present))
        raise ValueError(f"rows: column(s) {present} given without {missing}; an observation needs both "
                         "observed_days and observed_views")
    rows = rows.reset_index(drop=True)
    out: dict[str, np.ndarray] = {}
    for column in OBSERVED_COLUMNS:
        if column not in rows:
            out[column] = np.full(len(rows), np.nan)
            continue
        values = _numeric_column(rows[column])
        given = rows[column].notna().to_numpy()
        valid = (values > 0) & (values <= rules.MAX_DAYS) if column == "observed_days" else (
            np.isfinite(values) & (values >= 0))
        _first_bad(given & ~valid, rows[column], column, 0)
        out[column] = np.where(given, values, np.nan)
    days, views = out["observed_days"], out["observed_views"]
    half = np.flatnonzero(np.isfinite(days) != np.isfinite(views))
    if len(half):
        i = int(half[0])
        which = "observed_views" if np.isfinite(days[i]) else "observed_days"
        raise ValueError(f"rows[{i}].{which}: {OBSERVATION_NEEDS_BOTH}")
    return out
