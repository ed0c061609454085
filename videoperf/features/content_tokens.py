"""The token lists of a video's content: its tags, categories, title words and languages.

The target encoders of ``videoperf.features.builder`` average over these lists, and ``tag_tokens`` is the analyzer
of the content encoder's tag TF-IDF (module level: fitted vectorisers pickle it by name).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import chain

import numpy as np
import pandas as pd

from videoperf.plain import cut

TOKEN_FAMILIES = ("tag", "category", "word", "language")
# Words of two or more characters, any script: what the default token pattern of scikit-learn's vectorisers finds.
WORD = re.compile(r"\w\w+", re.UNICODE)
LIST_LIKE = (list, tuple, np.ndarray)


def title_words(title: str) -> list[str]:
    """Distinct lower-cased words of two or more characters (any script), sorted."""
    return sorted(set(WORD.findall(str(title).lower())))


def tag_tokens(tags: object) -> list[str]:
    """Distinct lower-cased, stripped tags in order; the analyzer of the tag TF-IDF (module level: pickles)."""
    if not isinstance(tags, LIST_LIKE):
        return []
    # str, strip, drop empty, lower, dedupe in order: one pass of C-level maps (no Python frame per tag)
    return list(dict.fromkeys(map(str.lower, filter(None, map(str.strip, map(str, tags))))))


def tag_token_lists(values: Sequence[object]) -> list[list[str]]:
    """``tag_tokens`` of every value. A column of lists of strings (checked requests) is stripped and lower-cased
    in one pass over all its tags, then cut back into rows, blanks dropped and deduplicated."""
    values = list(values)
    if set(map(type, values)) <= {list}:
        flat = list(chain.from_iterable(values))
        if set(map(type, flat)) <= {str}:
            tokens = list(map(str.lower, map(str.strip, flat)))
            return [list(dict.fromkeys(filter(None, row))) for row in cut(tokens, list(map(len, values)))]
    return [tag_tokens(value) for value in values]


def category_tokens(categories: object) -> list[str]:
    return list(dict.fromkeys(str(c) for c in categories)) if isinstance(categories, LIST_LIKE) else []


def first_category(categories: pd.Series) -> pd.Series:
    return categories.map(lambda c: str(c[0]) if isinstance(c, LIST_LIKE) and len(c) else None)


def language_tokens(default: list, audio: list) -> list[list[str]]:
    """``d:<title language>`` and ``a:<audio language>`` (base codes; 'und' = unknown), one list per row."""
    out = []
    for d, a in zip(default, audio):
        tokens = []
        if isinstance(d, str) and d:
            tokens.append("d:" + d.lower().split("-")[0])
        if isinstance(a, str) and a and a != "und":
            tokens.append("a:" + a.lower().split("-")[0])
        out.append(tokens)
    return out
