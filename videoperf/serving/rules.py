"""What a prediction request may hold, one rule per field: a value in, its normalised value out.

A broken rule raises ``ValueError(reason)``; the caller names the field, so one rule serves the request model
(``videoperf.serving.request``: ``"title: must be a non-empty string, got ''"``) and the batch checks
(``videoperf.serving.batch_checks``: ``"rows[3].title: ..."``). Unknown categories, tags and languages are fine
(the model treats them as unseen); what is checked is type, range and size (strings and lists are bounded, so no
entry point can be made to do unbounded work).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from videoperf.models.registry import MODEL_TYPES

DEFINITIONS = ("hd", "sd")
MAX_DAYS = 3650.0
MAX_TEXT_CHARS = 1000   # a title, one tag / category, a language code (YouTube: titles <= 100, all tags <= 500)
MAX_LIST_ITEMS = 500    # tags or categories of one video
MAX_DATE_CHARS = 64
MAX_OBSERVATIONS = 1000  # observations of one video
MAX_TRAJECTORY_AGES = 1000
EARLIEST_DATE = pd.Timestamp("1970-01-01", tz="UTC")
LATEST_DATE = pd.Timestamp("2100-01-01", tz="UTC")
OBSERVATION_KEYS = ("days_since_publish", "views", "likes", "comments")


class RuleError(ValueError):
    """A broken rule inside the checked value: ``at`` is the path to the offending part (a key, a list index)."""

    def __init__(self, reason: str, at: tuple[str | int, ...] = ()) -> None:
        super().__init__(reason)
        self.at = at


def show(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (error messages never echo a huge input)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def missing(value: Any) -> bool:
    """``None``, NaN, ``pd.NA`` or ``NaT``: a value the caller does not know."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def text(value: str, where: str = "") -> str:
    """``value`` stripped, once it is known to be bounded in length and encodable (no lone surrogates)."""
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"{where}longer than {MAX_TEXT_CHARS} characters ({len(value)})")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"{where}not valid Unicode text ({error.reason} at position {error.start})") from None
    return value.strip()


def number(value: Any, allow_none: bool = False) -> float | None:
    """A finite float; with ``allow_none``, ``None`` and NaN are ``None`` (not known)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"expected a number, got {type(value).__name__} {show(value)}")
    try:
        value = float(value)
    except OverflowError:
        raise ValueError(f"must be a finite number, got {show(value)} (too large)") from None
    if math.isnan(value) or math.isinf(value):
        if allow_none and math.isnan(value):
            return None
        raise ValueError(f"must be a finite number, got {value!r}")
    return value


def place(loc: Sequence[str | int]) -> str:
    """Where in a request: ``("observed", 0, "views")`` -> ``"observed[0].views"``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def checked(rule: Callable[[Any], Any], value: Any, *where: str | int) -> Any:
    """``rule(value)``, a broken rule raised as ``ValueError("<where>: <reason>")``."""
    try:
        return rule(value)
    except ValueError as error:
        raise ValueError(f"{place((*where, *getattr(error, 'at', ())))}: {error}") from None


def as_float(value: Any) -> float:
    """What ``number`` accepts as a float, anything else NaN (an integer beyond float range: inf)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.inf


# ------------------------------------------------------------------------------------------------ the video
def check_model_type(value: Any) -> str:
    if not isinstance(value, str) or value not in MODEL_TYPES:
        raise ValueError(f"{show(value)} is not a model; choose one of {list(MODEL_TYPES)}")
    return value


def check_title(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {show(value)}")
    return text(value)


def check_strings(values: Any) -> list[str]:
    """A list of strings (``None`` = empty). Each item must be a ``str``; blank items are dropped."""
    if values is None:
        return []
    if (isinstance(values, str) or not isinstance(values, (list, tuple, np.ndarray, pd.Series))
            or getattr(values, "ndim", 1) != 1):
        raise ValueError(f"expected a list of strings, got {type(values).__name__} {show(values)}")
    if len(values) > MAX_LIST_ITEMS:
        raise ValueError(f"at most {MAX_LIST_ITEMS} items, got {len(values)}")
    out = []
    for i, item in enumerate(values):
        if not isinstance(item, str):
            raise ValueError(f"item {i} is {type(item).__name__} {show(item)}, not a string")
        item = text(item, f"item {i}: ")
        if item:
            out.append(item)
    return out


def check_duration(value: Any) -> float | None:
    """Seconds >= 0; ``None`` means unknown."""
    if value is None:
        return None
    seconds = number(value)
    if seconds < 0:
        raise ValueError(f"must be >= 0 seconds, got {seconds!r}")
    return seconds


def check_video_count(value: Any) -> float:
    """How many videos the channel has: a whole number >= 0 (0: a new channel)."""
    count = number(value)
    if count < 0:
        raise ValueError(f"must be >= 0, got {count!r}")
    if count != int(count):
        raise ValueError(f"must be a whole number, got {count!r}")
    return count


def check_average_views(value: Any, video_count: float | None) -> float | None:
    """Average views of the channel's earlier videos, >= 0; ``None`` (or NaN) only for a new channel
    (``video_count`` 0, or None when the count itself is invalid)."""
    average = number(value, allow_none=video_count is None or video_count == 0)
    if average is not None and average < 0:
        raise ValueError(f"must be >= 0, got {average!r}")
    return average


def check_median_views(value: Any, video_count: float | None) -> float | None:
    """Median views of the channel's earlier videos, >= 0, or ``None`` (not given); a new channel (``video_count``
    0) has none."""
    median = number(value, allow_none=True)
    if median is None:
        return None
    if median < 0:
        raise ValueError(f"must be >= 0, got {median!r}")
    if video_count == 0:
        raise ValueError("a new channel (channel_video_count 0) has no earlier videos to take a median of")
    return median


def check_timestamp(value: Any) -> pd.Timestamp | None:
    """A UTC timestamp from a ``str`` / ``datetime`` / ``date`` / ``Timestamp``; a missing value is ``None``."""
    if missing(value):
        return None
    if not isinstance(value, (str, datetime, date, pd.Timestamp, np.datetime64)):
        raise ValueError(f"expected an ISO date string or a datetime, got {type(value).__name__} {show(value)}")
    if isinstance(value, str) and len(value) > MAX_DATE_CHARS:
        raise ValueError(f"{show(value)} is too long to be a date")
    try:
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"cannot parse {show(value)} as a date ({error})") from None
    if pd.isna(stamp):
        raise ValueError(f"cannot parse {show(value)} as a date")
    if not EARLIEST_DATE <= stamp < LATEST_DATE:
        raise ValueError(f"{stamp.isoformat()} is outside {EARLIEST_DATE.year}-{LATEST_DATE.year - 1}")
    return stamp


def check_days(value: Any) -> float | None:
    """An age in days in (0, ``MAX_DAYS``]; ``None`` means the default."""
    if value is None:
        return None
    return check_age(value)


def check_age(value: Any) -> float:
    days = number(value)
    if not 0 < days <= MAX_DAYS:
        raise ValueError(f"must be in (0, {MAX_DAYS:g}] days, got {days!r}")
    return days


# --------------------------------------------------------------------------------- optional facts (None: unknown)
def check_language(value: Any) -> str | None:
    if missing(value):
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected a language code string such as 'en', got {show(value)}")
    return text(value) or None


def check_definition(value: Any) -> str | None:
    if missing(value):
        return None
    if not isinstance(value, str) or value.strip().lower() not in DEFINITIONS:
        raise ValueError(f"expected one of {list(DEFINITIONS)}, got {show(value)}")
    return value.strip().lower()


def check_flag(value: Any) -> bool | None:
    """``True`` / ``False``, 1 / 0 or their text ("true", "0", ...)."""
    if missing(value):
        return None
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        value = value.strip().lower() in ("true", "1")
    # Only a scalar bool or 0 / 1: an array or Series has no single truth value.
    if not isinstance(value, (bool, np.bool_)) and not (isinstance(value, numbers.Real) and value in (0, 1)):
        raise ValueError(f"expected true or false, got {show(value)}")
    return bool(value)


# ------------------------------------------------------------------------------------------- observed days
def check_observed_age(value: Any) -> float:
    if value is None:
        raise ValueError("required")
    return check_age(value)


def check_views(value: Any) -> float:
    if value is None:
        raise ValueError("required")
    views = number(value)
    if views < 0:
        raise ValueError(f"must be >= 0, got {views!r}")
    return views


def check_count(value: Any) -> float | None:
    """Views, likes or comments so far: a finite number >= 0; ``None`` (or NaN) when not given."""
    count = number(value, allow_none=True)
    if count is not None and count < 0:
        raise ValueError(f"must be >= 0, got {count!r}")
    return count


def check_observations(values: Any) -> Any:
    """The shape of a published video's observations: a bounded list of dicts (their values: ``Observation``)."""
    if values is None:
        return None
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (list, tuple)):
        raise ValueError(f"expected a list of observations such as [{{'days_since_publish': 1.0, "
                         f"'views': 52000}}], got {type(values).__name__} {show(values)}")
    if len(values) > MAX_OBSERVATIONS:
        raise ValueError(f"at most {MAX_OBSERVATIONS} observations, got {len(values)}")
    for i, item in enumerate(values):
        if not isinstance(item, Mapping):
            raise RuleError(f"expected a dict with days_since_publish and views, got {type(item).__name__} "
                            f"{show(item)}", at=(i,))
    return [dict(item) for item in values]


def check_observation_keys(item: Any) -> Any:
    unknown = sorted(set(item) - set(OBSERVATION_KEYS)) if isinstance(item, Mapping) else []
    if unknown:
        raise RuleError("unknown key; an observation has days_since_publish, views and optionally likes, comments",
                        at=(unknown[0],))
    return item


def check_series(days: np.ndarray, views: np.ndarray) -> None:
    """Ages distinct and views non-decreasing in age (cumulative counts cannot fall); ``days`` sorted."""
    same = np.flatnonzero(np.diff(days) == 0)
    if len(same):
        raise ValueError(f"two observations at days_since_publish={days[same[0]]!r}; give one per age")
    fall = np.flatnonzero(np.diff(views) < 0)
    if len(fall):
        j = int(fall[0])
        raise ValueError(f"views decrease with age ({views[j]:g} at day {days[j]:g}, then {views[j + 1]:g} "
                         f"at day {days[j + 1]:g}); views are cumulative and cannot fall")


def check_ages(ages: Any) -> np.ndarray:
    """Ages in days for a trajectory: a non-empty list of numbers in (0, ``MAX_DAYS``], returned sorted, unique."""
    if isinstance(ages, (str, bytes, Mapping)) or not isinstance(ages, (list, tuple, np.ndarray, pd.Series)):
        raise ValueError(f"expected a list of ages in days, got {type(ages).__name__} {show(ages)}")
    if not 0 < len(ages) <= MAX_TRAJECTORY_AGES:
        raise ValueError(f"give 1 to {MAX_TRAJECTORY_AGES} ages, got {len(ages)}")
    out = []
    for i, value in enumerate(list(ages)):
        if isinstance(value, np.generic):
            value = value.item()
        try:
            out.append(check_age(value))
        except ValueError as error:
            raise RuleError(str(error), at=(i,)) from None
    return np.unique(np.array(out, dtype=float))
