"""Validation of prediction requests: the one place that decides what a caller may send.

``predict.predict_performance``, ``predict.predict_batch``, their CLI and a REST service all go through
these functions, so every entry point rejects the same inputs with the same message: a ``ValueError``
that names the argument (``title``, ``tags``, ``rows[3].duration_seconds``) and says what is wrong.
Unknown categories, tags and languages are fine (the model treats them as unseen); what is checked is
type, range and size (strings and lists are bounded, so no entry point can be made to do unbounded work).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from datetime import date, datetime
from itertools import chain, repeat
from typing import Any

import numpy as np
import pandas as pd

from videoperf.models.registry import MODEL_TYPES
from videoperf.plain import cut, split_list

DEFINITIONS = ("hd", "sd")
STRING_FACTS = ("default_language", "audio_language")
FLAG_FACTS = ("caption_available", "licensed_content", "made_for_kids", "is_live")
OPTIONAL_FACTS = (*STRING_FACTS, "definition", *FLAG_FACTS)
REQUIRED_COLUMNS = ("title", "tags", "categories", "duration_seconds", "channel_avg_views", "channel_video_count")
MAX_DAYS = 3650.0
MAX_TEXT_CHARS = 1000   # a title, one tag / category, a language code (YouTube: titles <= 100, all tags <= 500)
MAX_LIST_ITEMS = 500    # tags or categories of one video
EARLIEST_DATE = pd.Timestamp("1970-01-01", tz="UTC")
LATEST_DATE = pd.Timestamp("2100-01-01", tz="UTC")


def _show(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (error messages never echo a huge input)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def _text(value: str, name: str) -> str:
    """``value`` stripped, once it is known to be bounded in length and encodable (no lone surrogates)."""
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"{name}: longer than {MAX_TEXT_CHARS} characters ({len(value)})")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"{name}: not valid Unicode text ({error.reason} at position {error.start})") from None
    return value.strip()


def _missing(value: Any) -> bool:
    """``None``, NaN, ``pd.NA`` or ``NaT``: a value the caller does not know."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def check_model_type(model_type: Any) -> str:
    if not isinstance(model_type, str) or model_type not in MODEL_TYPES:
        raise ValueError(f"model_type: {_show(model_type)} is not a model; choose one of {list(MODEL_TYPES)}")
    return model_type


def check_title(title: Any, name: str = "title") -> str:
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"{name}: must be a non-empty string, got {_show(title)}")
    return _text(title, name)


def check_strings(values: Any, name: str) -> list[str]:
    """A list of strings (``None`` = empty). Each item must be a ``str``; blank items are dropped."""
    if values is None:
        return []
    if (isinstance(values, str) or not isinstance(values, (list, tuple, np.ndarray, pd.Series))
            or getattr(values, "ndim", 1) != 1):
        raise ValueError(f"{name}: expected a list of strings, got {type(values).__name__} {_show(values)}")
    if len(values) > MAX_LIST_ITEMS:
        raise ValueError(f"{name}: at most {MAX_LIST_ITEMS} items, got {len(values)}")
    out = []
    for i, item in enumerate(values):
        if not isinstance(item, str):
            raise ValueError(f"{name}: item {i} is {type(item).__name__} {_show(item)}, not a string")
        item = _text(item, f"{name}: item {i}")
        if item:
            out.append(item)
    return out


def _number(value: Any, name: str, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a number, got {type(value).__name__} {_show(value)}")
    try:
        value = float(value)
    except OverflowError:
        raise ValueError(f"{name}: must be a finite number, got {_show(value)} (too large)") from None
    if math.isnan(value) or math.isinf(value):
        if allow_none and math.isnan(value):
            return None
        raise ValueError(f"{name}: must be a finite number, got {value!r}")
    return value


def check_duration(value: Any, name: str = "duration_seconds") -> float:
    """Seconds >= 0; ``None`` means unknown (returned as NaN)."""
    if value is None:
        return math.nan
    number = _number(value, name)
    if number < 0:
        raise ValueError(f"{name}: must be >= 0 seconds, got {number!r}")
    return number


def check_channel(avg_views: Any, video_count: Any, prefix: str = "") -> tuple[float, float]:
    """``(channel_avg_views, channel_video_count)``; a channel with no videos has no average (NaN)."""
    count = _number(video_count, f"{prefix}channel_video_count")
    if count < 0:
        raise ValueError(f"{prefix}channel_video_count: must be >= 0, got {count!r}")
    if count != int(count):
        raise ValueError(f"{prefix}channel_video_count: must be a whole number, got {count!r}")
    average = _number(avg_views, f"{prefix}channel_avg_views", allow_none=count == 0)
    if average is not None and average < 0:
        raise ValueError(f"{prefix}channel_avg_views: must be >= 0, got {average!r}")
    return (math.nan if count == 0 or average is None else average), count


def check_timestamp(value: Any, name: str = "published_at", default_now: bool = True) -> pd.Timestamp:
    """A UTC timestamp from a ``str`` / ``datetime`` / ``date`` / ``Timestamp``; ``None`` = now."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if default_now:
            return pd.Timestamp.now(tz="UTC")
        raise ValueError(f"{name}: a date is required")
    if not isinstance(value, (str, datetime, date, pd.Timestamp, np.datetime64)):
        raise ValueError(f"{name}: expected an ISO date string or a datetime, "
                         f"got {type(value).__name__} {_show(value)}")
    if isinstance(value, str) and len(value) > 64:
        raise ValueError(f"{name}: {_show(value)} is too long to be a date")
    try:
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"{name}: cannot parse {_show(value)} as a date ({error})") from None
    if pd.isna(stamp):
        raise ValueError(f"{name}: cannot parse {_show(value)} as a date")
    if not EARLIEST_DATE <= stamp < LATEST_DATE:
        raise ValueError(f"{name}: {stamp.isoformat()} is outside {EARLIEST_DATE.year}-{LATEST_DATE.year - 1}")
    return stamp


def check_days(value: Any, default: float, name: str = "days_since_publish") -> float:
    if value is None:
        return float(default)
    days = _number(value, name)
    if not 0 < days <= MAX_DAYS:
        raise ValueError(f"{name}: must be in (0, {MAX_DAYS:g}] days, got {days!r}")
    return days


def check_facts(facts: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The optional pre-publication facts; unknown names are rejected, ``None`` means unknown."""
    unknown = sorted(set(facts) - set(OPTIONAL_FACTS))
    if unknown:
        raise ValueError(f"{prefix}{unknown[0]}: unknown argument; optional facts are {list(OPTIONAL_FACTS)}")
    out: dict[str, Any] = {name: None for name in STRING_FACTS + ("definition",)}
    out.update({name: math.nan for name in FLAG_FACTS})
    for name, value in facts.items():
        if _missing(value):
            continue
        if name in STRING_FACTS:
            if not isinstance(value, str):
                raise ValueError(f"{prefix}{name}: expected a language code string such as 'en', got {_show(value)}")
            out[name] = _text(value, f"{prefix}{name}") or None
        elif name == "definition":
            if not isinstance(value, str) or value.strip().lower() not in DEFINITIONS:
                raise ValueError(f"{prefix}{name}: expected one of {list(DEFINITIONS)}, got {_show(value)}")
            out[name] = value.strip().lower()
        else:
            if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
                value = value.strip().lower() in ("true", "1")
            # Only a scalar bool or 0 / 1: an array or Series has no single truth value.
            if not isinstance(value, (bool, np.bool_)) and not (isinstance(value, numbers.Real) and value in (0, 1)):
                raise ValueError(f"{prefix}{name}: expected true or false, got {_show(value)}")
            out[name] = float(bool(value))
    return out


def check_request(title: Any, tags: Any, categories: Any, duration_seconds: Any, channel_avg_views: Any,
                  channel_video_count: Any, *, published_at: Any = None, days_since_publish: Any = None,
                  default_days: float = 7.0, prefix: str = "", **facts: Any) -> dict[str, Any]:
    """One validated, normalised request row (the columns ``FeatureBuilder.transform_videos`` reads)."""
    average, count = check_channel(channel_avg_views, channel_video_count, prefix)
    row = {
        "title": check_title(title, f"{prefix}title"),
        "tags": check_strings(tags, f"{prefix}tags"),
        "categories": check_strings(categories, f"{prefix}categories"),
        "duration_seconds": check_duration(duration_seconds, f"{prefix}duration_seconds"),
        "channel_avg_views": average,
        "channel_video_count": count,
        "published_at": check_timestamp(published_at, f"{prefix}published_at"),
        "age_days": check_days(days_since_publish, default_days, f"{prefix}days_since_publish"),
    }
    row.update(check_facts(facts, prefix))
    return row


def _split_list(value: Any) -> Any:
    """CSV cells hold lists as comma-separated text; an empty or missing cell is an empty list."""
    if isinstance(value, str):
        return split_list(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    return value


def check_rows(rows: pd.DataFrame, default_days: float = 7.0, first_row: int = 0,
               now: pd.Timestamp | None = None) -> pd.DataFrame:
    """Validate a batch (one request per row); errors name the row: ``rows[12].duration_seconds``.

    The same rules as ``check_request``, applied column by column (a 100,000-row batch takes well under a
    second); the first offending row is re-checked by the scalar function so the message is the same.
    ``first_row``: the number of ``rows``' first row in the caller's batch (a chunk of it), for the messages;
    ``now``: what a missing ``published_at`` becomes (default: the current time).
    """
    missing = [col for col in REQUIRED_COLUMNS if col not in rows.columns]
    if missing:
        raise ValueError(f"rows: missing column(s) {missing}; required are {list(REQUIRED_COLUMNS)}")
    rows = rows.reset_index(drop=True)
    n = len(rows)
    out: dict[str, Any] = {}

    def fail(mask: np.ndarray, check: Any, column: str) -> None:
        bad = np.flatnonzero(mask)
        if len(bad):
            i = int(bad[0])
            check(rows[column].iloc[i], f"rows[{first_row + i}].")
            raise ValueError(f"rows[{first_row + i}].{column}: invalid value {rows[column].iloc[i]!r}")  # not reached

    titles = rows["title"].tolist()
    fail(np.array([not isinstance(t, str) or not t.strip() for t in titles], dtype=bool),
         lambda v, pre: check_title(v, f"{pre}title"), "title")
    out["title"] = [t.strip() for t in titles]
    for column in ("tags", "categories"):
        out[column] = _string_lists(rows[column].tolist(), column, first_row)

    duration = _numeric_column(rows["duration_seconds"])
    given = rows["duration_seconds"].notna().to_numpy()
    fail(given & ~(np.isfinite(duration) & (duration >= 0)), lambda v, pre: check_duration(v, f"{pre}duration_seconds"),
         "duration_seconds")
    out["duration_seconds"] = np.where(given, duration, np.nan)

    count = _numeric_column(rows["channel_video_count"])
    fail(~(np.isfinite(count) & (count >= 0) & (count == np.floor(count))),
         lambda v, pre: check_channel(0.0, v, pre), "channel_video_count")
    average = _numeric_column(rows["channel_avg_views"])
    average_given = rows["channel_avg_views"].notna().to_numpy()
    bad_average = (average_given & ~(np.isfinite(average) & (average >= 0))) | (~average_given & (count > 0))
    fail(bad_average, lambda v, pre: check_channel(v, 1.0, pre), "channel_avg_views")
    out["channel_avg_views"] = np.where(count > 0, average, np.nan)
    out["channel_video_count"] = count

    now = pd.Timestamp.now(tz="UTC") if now is None else now
    if "published_at" in rows:
        raw = rows["published_at"]
        parsed = pd.to_datetime(raw, utc=True, errors="coerce", format="mixed") if n else raw
        fail((raw.notna() & parsed.isna()).to_numpy(), lambda v, pre: check_timestamp(v, f"{pre}published_at"),
             "published_at")
        out["published_at"] = parsed.fillna(now)
    else:
        out["published_at"] = pd.Series([now] * n, dtype="datetime64[ns, UTC]")
    if "days_since_publish" in rows:
        days = _numeric_column(rows["days_since_publish"])
        days_given = rows["days_since_publish"].notna().to_numpy()
        fail(days_given & ~((days > 0) & (days <= MAX_DAYS)),
             lambda v, pre: check_days(v, default_days, f"{pre}days_since_publish"), "days_since_publish")
        out["age_days"] = np.where(days_given, days, float(default_days))
    else:
        out["age_days"] = np.full(n, float(default_days))

    for name in OPTIONAL_FACTS:
        if name not in rows:
            out[name] = [None] * n if name in STRING_FACTS + ("definition",) else np.full(n, np.nan)
            continue
        values = []
        for i, value in enumerate(rows[name].tolist()):
            values.append(check_facts({name: _none_if_nan(value)}, f"rows[{first_row + i}].")[name])
        out[name] = values
    frame = pd.DataFrame(out)
    known = set(REQUIRED_COLUMNS) | {"published_at", "days_since_publish", "video_id", *OPTIONAL_FACTS,
                                     *OBSERVED_COLUMNS}
    frame.attrs["ignored_columns"] = [col for col in rows.columns if col not in known]
    return frame


def _string_lists(values: list[Any], column: str, first_row: int = 0) -> list[list[str]]:
    """``check_strings`` of every cell of a column. When every cell is a list or tuple of bounded strings (the
    usual case) the bounds are checked over the whole column at once; otherwise, or when a check fails, cell by
    cell, so an error names the first bad row as ``check_strings`` words it."""
    lists = [_split_list(value) for value in values]
    flat = list(chain.from_iterable(lists)) if set(map(type, lists)) <= {list, tuple} else None
    lengths = list(map(len, lists)) if flat is not None else []
    if (flat is not None and max(lengths, default=0) <= MAX_LIST_ITEMS
            and all(map(isinstance, flat, repeat(str))) and max(map(len, flat), default=0) <= MAX_TEXT_CHARS):
        try:
            "".join(flat).encode("utf-8")  # one lone surrogate anywhere fails it
        except UnicodeEncodeError:
            pass
        else:
            stripped = list(map(str.strip, flat))  # the whole column at once, cut back into its lists
            cells = cut(stripped, lengths)
            return cells if all(stripped) else [list(filter(None, cell)) for cell in cells]
    return [check_strings(cell, f"rows[{first_row + i}].{column}") for i, cell in enumerate(lists)]


def _numeric_column(values: pd.Series) -> np.ndarray:
    """Numbers as floats; anything else (text, booleans) as NaN so that the row is reported."""
    if values.dtype == bool:
        return np.full(len(values), np.nan)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype=float, na_value=np.nan)
    return np.fromiter((_as_float(v) for v in values), dtype=float, count=len(values))


def _as_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return math.nan
    try:
        return float(value)
    except OverflowError:  # an integer beyond float range: reported as not finite
        return math.inf


def _none_if_nan(value: Any) -> Any:
    if value is None:
        return None
    try:
        return None if pd.isna(value) else value
    except (TypeError, ValueError):
        return value


# ------------------------------------------------------------------------------------- observed days
MAX_OBSERVATIONS = 1000  # observations of one video
OBSERVED_COLUMNS = ("observed_days", "observed_views", "observed_likes", "observed_comments")
MAX_TRAJECTORY_AGES = 1000


def check_observed(observed: Any, name: str = "observed") -> dict[str, np.ndarray]:
    """A published video's observations: a list of ``{"days_since_publish", "views"[, "likes", "comments"]}``.

    Returns arrays ``days``, ``views``, ``likes``, ``comments`` sorted by age (NaN = not given). Each age must be in
    (0, ``MAX_DAYS``], views, likes and comments finite and >= 0, views must not decrease with age, and one age
    appears once. An empty list means no observations."""
    if isinstance(observed, (str, bytes, Mapping)) or not isinstance(observed, (list, tuple)):
        raise ValueError(f"{name}: expected a list of observations such as [{{'days_since_publish': 1.0, "
                         f"'views': 52000}}], got {type(observed).__name__} {_show(observed)}")
    if len(observed) > MAX_OBSERVATIONS:
        raise ValueError(f"{name}: at most {MAX_OBSERVATIONS} observations, got {len(observed)}")
    rows = []
    for i, item in enumerate(observed):
        where = f"{name}[{i}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: expected a dict with days_since_publish and views, got "
                             f"{type(item).__name__} {_show(item)}")
        unknown = sorted(set(item) - {"days_since_publish", "views", "likes", "comments"})
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown key; an observation has days_since_publish, views "
                             "and optionally likes, comments")
        for key in ("days_since_publish", "views"):
            if key not in item or item[key] is None:
                raise ValueError(f"{where}.{key}: required")
        days = _number(item["days_since_publish"], f"{where}.days_since_publish")
        if not 0 < days <= MAX_DAYS:
            raise ValueError(f"{where}.days_since_publish: must be in (0, {MAX_DAYS:g}] days, got {days!r}")
        values = [days]
        for key in ("views", "likes", "comments"):
            value = _number(item.get(key), f"{where}.{key}", allow_none=key != "views")
            if value is not None and value < 0:
                raise ValueError(f"{where}.{key}: must be >= 0, got {value!r}")
            values.append(math.nan if value is None else value)
        rows.append(values)
    table = np.array(rows, dtype=float).reshape(-1, 4)
    table = table[np.argsort(table[:, 0], kind="stable")]
    _check_series(table[:, 0], table[:, 1], name)
    return {"days": table[:, 0], "views": table[:, 1], "likes": table[:, 2], "comments": table[:, 3]}


def _check_series(days: np.ndarray, views: np.ndarray, name: str) -> None:
    """Ages distinct and views non-decreasing in age (cumulative counts cannot fall)."""
    same = np.flatnonzero(np.diff(days) == 0)
    if len(same):
        raise ValueError(f"{name}: two observations at days_since_publish={days[same[0]]!r}; give one per age")
    fall = np.flatnonzero(np.diff(views) < 0)
    if len(fall):
        j = int(fall[0])
        raise ValueError(f"{name}: views decrease with age ({views[j]:g} at day {days[j]:g}, then {views[j + 1]:g} "
                         f"at day {days[j + 1]:g}); views are cumulative and cannot fall")


def check_ages(ages: Any, name: str = "ages") -> np.ndarray:
    """Ages in days for a trajectory: a non-empty list of numbers in (0, ``MAX_DAYS``], returned sorted, unique."""
    if isinstance(ages, (str, bytes, Mapping)) or not isinstance(ages, (list, tuple, np.ndarray, pd.Series)):
        raise ValueError(f"{name}: expected a list of ages in days, got {type(ages).__name__} {_show(ages)}")
    if not 0 < len(ages) <= MAX_TRAJECTORY_AGES:
        raise ValueError(f"{name}: give 1 to {MAX_TRAJECTORY_AGES} ages, got {len(ages)}")
    out = []
    for i, value in enumerate(list(ages)):
        if isinstance(value, np.generic):
            value = value.item()
        days = _number(value, f"{name}[{i}]")
        if not 0 < days <= MAX_DAYS:
            raise ValueError(f"{name}[{i}]: must be in (0, {MAX_DAYS:g}] days, got {days!r}")
        out.append(days)
    return np.unique(np.array(out, dtype=float))


def check_observed_rows(rows: pd.DataFrame) -> dict[str, np.ndarray] | None:
    """The latest observation of each batch row, from the columns ``observed_days`` and ``observed_views``
    (optional ``observed_likes``, ``observed_comments``); None when the batch has neither column. A row with
    both empty has no observation; one without the other, or a bad value, fails naming ``rows[i].column``."""
    present = [c for c in OBSERVED_COLUMNS if c in rows.columns]
    if not present:
        return None
    if present and not {"observed_days", "observed_views"} <= set(present):
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
        bad = np.flatnonzero(given & ~(np.isfinite(values) & (values >= 0)))
        if len(bad):
            i = int(bad[0])
            raise ValueError(f"rows[{i}].{column}: expected a finite number >= 0, got {_show(rows[column].iloc[i])}")
        out[column] = np.where(given, values, np.nan)
    days, views = out["observed_days"], out["observed_views"]
    half = np.flatnonzero(np.isfinite(days) != np.isfinite(views))
    if len(half):
        i = int(half[0])
        which = "observed_views" if np.isfinite(days[i]) else "observed_days"
        raise ValueError(f"rows[{i}].{which}: missing; an observation needs both observed_days and observed_views")
    bad = np.flatnonzero(np.isfinite(days) & ~((days > 0) & (days <= MAX_DAYS)))
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"rows[{i}].observed_days: must be in (0, {MAX_DAYS:g}] days, got {days[i]!r}")
    return out
