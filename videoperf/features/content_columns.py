"""The hand-crafted columns of a video's content, known before publishing (NaN = unknown).

Cyclical hour / weekday of publishing (and month, when the encoder was fitted on a year or more), duration, the
shape of the title, tag counts, category and language codes, definition, captions, licensed content,
made_for_kids and live. Each is computed per value in plain Python or NumPy, so one request costs little and a
batch scales linearly; no column encodes absolute time, so shifting every date by whole weeks changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from videoperf.features.content_tokens import LIST_LIKE

FLAG_FACTS = ("caption_available", "licensed_content", "made_for_kids", "is_live")
TITLE_STATS = ("title_chars", "title_words", "title_upper_ratio", "title_non_ascii_ratio", "title_digits",
               "title_marks", "title_hashtags", "title_separators")

# Request rows: a DataFrame, or (one request, the REST service's groups) a mapping of column name -> values.
Columns = pd.DataFrame | Mapping[str, Sequence[Any]]


def column_values(videos: Columns, name: str, n: int) -> list:
    """Column ``name`` as a Python list (``n`` times ``None`` when absent)."""
    if name not in videos:
        return [None] * n
    values = videos[name]
    return values.tolist() if isinstance(values, (pd.Series, np.ndarray)) else list(values)


def titles_of(videos: Columns) -> list[str]:
    return [t if isinstance(t, str) else "" for t in column_values(videos, "title", len(videos["title"]))]


def top_codes(values: pd.Series, limit: int) -> list[str]:
    """The ``limit`` most frequent codes of a column, most frequent first."""
    return values.dropna().astype(str).value_counts().index[:limit].tolist()


def handcrafted_columns(videos: Columns, titles: list[str], lowered: list[str], tags: list[list[str]],
                        use_month: bool, category_codes: list[str], language_codes: dict[str, list[str]]
                        ) -> dict[str, np.ndarray]:
    """``{column name: values}`` of the videos; ``lowered``: their lower-cased titles, ``tags``: their tag tokens;
    the codes are the vocabularies the encoder was fitted with."""
    n = len(titles)
    f: dict[str, np.ndarray] = {}
    duration = _numbers(videos["duration_seconds"])
    duration = np.where(duration >= 0, duration, np.nan)
    f["log_duration"] = np.log1p(duration)
    f["is_short"] = np.where(np.isfinite(duration), (duration <= 60).astype(float), np.nan)

    for name, value, period in _time_of_publishing(videos["published_at"], use_month):
        f[f"{name}_sin"] = np.sin(2 * np.pi * value / period)
        f[f"{name}_cos"] = np.cos(2 * np.pi * value / period)

    stats = title_stats_matrix(titles)
    for j, name in enumerate(TITLE_STATS):
        f[name] = stats[:, j]
    f["n_tags"] = np.array([len(t) for t in tags], dtype=float)
    f["tag_chars_mean"] = np.array([sum(map(len, t)) / len(t) if t else 0.0 for t in tags], dtype=float)
    f["tags_in_title"] = np.array([sum(map(title.__contains__, tag_list)) for tag_list, title
                                   in zip(tags, lowered)], dtype=float)
    # Interactions between content attributes: a Short with hashtags, how tag-heavy a title is.
    f["short_x_hashtags"] = f["is_short"] * f["title_hashtags"]
    f["tags_per_word"] = f["n_tags"] / np.maximum(f["title_words"], 1)

    categories = column_values(videos, "categories", n)
    f["category_code"] = _encode([str(c[0]) if isinstance(c, LIST_LIKE) and len(c) else None for c in categories],
                                 category_codes)
    languages = {col: column_values(videos, col, n) for col in ("default_language", "audio_language")}
    for col, values in languages.items():
        f[f"{col}_code"] = _encode(values, language_codes[col])
    f["is_hd"] = np.array([float(d == "hd") if isinstance(d, str) and d else np.nan
                           for d in column_values(videos, "definition", n)], dtype=float)
    for col in FLAG_FACTS:
        f[col] = _flags(videos[col]) if col in videos else np.full(n, np.nan)
    f["language_mismatch"] = np.array([
        float(d.split("-")[0] != a.split("-")[0]) if isinstance(d, str) and d and isinstance(a, str)
        and a not in ("", "und") else np.nan
        for d, a in zip(languages["default_language"], languages["audio_language"])], dtype=float)
    return f


def _encode(values: Sequence[Any], vocabulary: list[str]) -> np.ndarray:
    """Index in ``vocabulary``; ``len(vocabulary)`` = other; NaN = missing."""
    lookup = {value: i for i, value in enumerate(vocabulary)}
    return np.array([np.nan if not isinstance(v, str) or not v else lookup.get(v, len(vocabulary)) for v in values],
                    dtype=float)


_UPPER = re.compile(r"[A-Z]")
_LETTER = re.compile(r"[^\W\d_]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_DIGIT = re.compile(r"\d")
_MARK = re.compile(r"[!?]")
_SEPARATOR = re.compile(r"[|\-–:]")


def title_stats(title: str) -> tuple[float, ...]:
    """The shape of a title: length, words, share of capitals and of non-ASCII characters, digits, !?, #, separators."""
    chars = len(title)
    letters = len(_LETTER.findall(title))
    return (float(chars), float(len(title.split())), len(_UPPER.findall(title)) / max(letters, 1),
            len(_NON_ASCII.findall(title)) / max(chars, 1), float(len(_DIGIT.findall(title))),
            float(len(_MARK.findall(title))), float(title.count("#")), float(len(_SEPARATOR.findall(title))))


def _byte_classes() -> np.ndarray:
    r"""The class of every ASCII byte for ``title_stats_matrix``: 0 capital, 1 other letter, 2 digit, 3 ``!?``,
    4 ``#``, 5 separator, 6 anything else. On ASCII text the patterns of ``title_stats`` match exactly these bytes:
    [A-Z] capitals, [^\W\d_] letters (0 and 1), \d, [!?], #, [|\-–:] (``|``, ``-``, ``:``)."""
    table = np.full(256, 6, dtype=np.int64)
    for code, members in enumerate((b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz", b"0123456789",
                                    b"!?", b"#", b"|-:")):
        table[list(members)] = code
    return table


_ASCII_CLASSES = _byte_classes()


def title_stats_matrix(titles: list[str]) -> np.ndarray:
    """``title_stats`` of every title, shape (n, len(TITLE_STATS)); ASCII titles (most) are counted at once with
    NumPy (the same integers, so the same floats), the others one by one."""
    out = np.empty((len(titles), len(TITLE_STATS)), dtype=float)
    ascii_rows = [i for i, title in enumerate(titles) if title.isascii()]
    other = sorted(set(range(len(titles))) - set(ascii_rows)) if len(ascii_rows) < len(titles) else []
    if ascii_rows:
        chosen = [titles[i] for i in ascii_rows]
        lengths = np.fromiter(map(len, chosen), dtype=np.int64, count=len(chosen))
        codes = np.frombuffer("".join(chosen).encode("ascii"), dtype=np.uint8)
        # bytes per (title, class), counted at once: the title's number times 7 plus the byte's class
        owner = np.repeat(np.arange(len(chosen), dtype=np.int64) * 7, lengths)
        counts = np.bincount(owner + _ASCII_CLASSES[codes], minlength=7 * len(chosen)).reshape(len(chosen), 7)
        upper, digits, marks, hashes, separators = (counts[:, j] for j in (0, 2, 3, 4, 5))
        letters = counts[:, 0] + counts[:, 1]
        words = np.fromiter((len(title.split()) for title in chosen), dtype=np.int64, count=len(chosen))
        out[ascii_rows] = np.column_stack([lengths.astype(float), words.astype(float),
                                           upper / np.maximum(letters, 1), np.zeros(len(chosen)),
                                           digits.astype(float), marks.astype(float), hashes.astype(float),
                                           separators.astype(float)])
    for i in other:
        out[i] = title_stats(titles[i])
    return out


def _flags(values: Any) -> np.ndarray:
    """``_flag`` of every value; a column of floats (a checked batch) at once."""
    if isinstance(values, (pd.Series, np.ndarray)) and values.dtype.kind == "f":
        numbers = np.asarray(values, dtype=float)
        return np.where((numbers == 0.0) | (numbers == 1.0), numbers, np.nan)
    return np.array([_flag(v) for v in (values.tolist() if hasattr(values, "tolist") else list(values))],
                    dtype=float)


def _flag(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return np.nan
    return number if number in (0.0, 1.0) else np.nan


def _numbers(values: Any) -> np.ndarray:
    """``pd.to_numeric(values, errors="coerce")`` as floats, without pandas for a list of numbers."""
    if isinstance(values, (list, tuple)):
        try:
            return np.array(values, dtype=float)
        except (TypeError, ValueError):
            values = pd.Series(values, dtype=object)
    return pd.to_numeric(values, errors="coerce").to_numpy(float)


_NS_HOUR, _NS_DAY = 3_600_000_000_000, 86_400_000_000_000


def _time_of_publishing(published: Any, with_month: bool) -> list[tuple[str, np.ndarray, float]]:
    """``(name, value, period)`` of the hour (with minutes) and weekday of each UTC publish time, and the month
    (with the day) when ``with_month``: integer arithmetic on epoch nanoseconds, equal to pandas' fields."""
    if isinstance(published, (list, tuple)) and all(isinstance(v, pd.Timestamp) and v.tzinfo is not None
                                                    for v in published):
        ns, missing = np.array([v.value for v in published], dtype=np.int64), None
    else:
        index = pd.DatetimeIndex(pd.to_datetime(published, utc=True)).as_unit("ns")
        ns, missing = index.asi8, (index.isna() if index.hasnans else None)
    in_day = ns % _NS_DAY
    hour = in_day // _NS_HOUR + (in_day % _NS_HOUR // 60_000_000_000) / 60.0
    weekday = ((ns // _NS_DAY + 3) % 7).astype(float)  # 1970-01-01 was a Thursday (Monday = 0)
    cycles = [("hour", hour, 24.0), ("weekday", weekday, 7.0)]
    if with_month:
        stamps = ns.astype("datetime64[ns]")
        months = stamps.astype("datetime64[M]")
        day = (stamps.astype("datetime64[D]") - months.astype("datetime64[D]")).astype(np.int64) + 1
        cycles.append(("month", (months.astype(np.int64) % 12 + (day - 1) / 31.0).astype(float), 12.0))
    if missing is not None:
        for _, value, _ in cycles:
            value[missing] = np.nan
    return cycles
