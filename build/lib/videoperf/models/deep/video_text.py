"""The text of a video the deep model reads: ``"title [SEP] tags [SEP] categories"``, normalised (Unicode NFKC,
lower case, collapsed whitespace) so that casing and spacing cannot change a prediction."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

SEP = " [SEP] "
_SPACE = re.compile(r"\s+")


def normalize_text(text: object) -> str:
    """NFKC, lower case, single spaces, no literal ``[SEP]``: the same video text whatever its casing/spacing."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    text = unicodedata.normalize("NFKC", str(text)).lower().replace("[sep]", " ")
    return _SPACE.sub(" ", text).strip()


def _as_list(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    if isinstance(value, Iterable):
        return [str(part) for part in value if str(part).strip()]
    raise ValueError(f"tags/categories: expected a list or a comma-separated string, got {type(value).__name__}")


def video_text(title: object, tags: object = (), categories: object = ()) -> str:
    """The normalised ``"title [SEP] tags [SEP] categories"`` text of one video."""
    parts = (normalize_text(title), normalize_text(", ".join(_as_list(tags))),
             normalize_text(", ".join(_as_list(categories))))
    return SEP.join(parts)


def video_texts(frame: pd.DataFrame) -> list[str]:
    """``video_text`` of every row of a frame with ``title``, ``tags`` and ``categories`` columns."""
    missing = [col for col in ("title", "tags", "categories") if col not in frame]
    if missing:
        raise ValueError(f"frame: missing column(s) {missing} needed for the video text")
    return [video_text(t, g, c) for t, g, c in zip(frame["title"], frame["tags"], frame["categories"])]


def split_video_text(text: str) -> tuple[str, str, str]:
    """The (title, tags, categories) parts of a video text, re-normalised (so raw strings are accepted too)."""
    parts = str(text).split("[SEP]") if "[SEP]" in str(text) else [str(text)]
    parts = [normalize_text(part) for part in parts[:3]] + [""] * (3 - min(len(parts), 3))
    return parts[0], parts[1], parts[2]
