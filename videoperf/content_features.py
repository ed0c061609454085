"""What a video *is*, known before publishing: text, timing, format and the facts the source has.

``ContentEncoder`` is fitted without any outcome (no views, likes or comments): TF-IDF of titles
(word 1-2 grams) and of tags (whole tags), each reduced by truncated SVD; the vocabularies of category and
language codes; and hand-crafted columns (cyclical hour / weekday of publishing, duration, title shape, tag
counts, definition, captions, licensed content, made_for_kids, live; NaN = unknown).

Month of year only when the training videos span at least ``month_min_span_days`` (a year): a shorter window
cannot teach a yearly cycle, and trees send a month they never saw to the nearest month they did, which made
predictions drift with the time since training. No column encodes absolute time, so shifting every date by
whole weeks changes nothing.
It also yields the token lists the target encoders of ``videoperf.features`` average over.

Because nothing in it depends on an outcome, the forward-chaining folds of the ensemble share the one
fitted on all training videos, and its output for those videos is computed once and reused.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from videoperf.config import FeatureConfig

logger = logging.getLogger(__name__)

FLAG_FACTS = ("caption_available", "licensed_content", "made_for_kids", "is_live")
TOKEN_FAMILIES = ("tag", "category", "word", "language")
_WORD = re.compile(r"\w\w+", re.UNICODE)
_LISTS = (list, tuple, np.ndarray)


def title_words(title: str) -> list[str]:
    """Distinct lower-cased words of two or more characters (any script), sorted."""
    return sorted(set(_WORD.findall(str(title).lower())))


def tag_tokens(tags: object) -> list[str]:
    """Distinct lower-cased, stripped tags in order; the analyzer of the tag TF-IDF (module level: pickles)."""
    if not isinstance(tags, _LISTS):
        return []
    return list(dict.fromkeys(str(tag).strip().lower() for tag in tags if str(tag).strip()))


def category_tokens(categories: object) -> list[str]:
    return list(dict.fromkeys(str(c) for c in categories)) if isinstance(categories, _LISTS) else []


def first_category(categories: pd.Series) -> pd.Series:
    return categories.map(lambda c: str(c[0]) if isinstance(c, _LISTS) and len(c) else None)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(None, index=frame.index, dtype=object)


def language_tokens(frame: pd.DataFrame) -> pd.Series:
    """``d:<title language>`` and ``a:<audio language>`` (base codes; 'und' = unknown), one list per row."""
    def tokens(default: object, audio: object) -> list[str]:
        out = []
        if isinstance(default, str) and default:
            out.append("d:" + default.lower().split("-")[0])
        if isinstance(audio, str) and audio and audio != "und":
            out.append("a:" + audio.lower().split("-")[0])
        return out

    pairs = zip(_column(frame, "default_language"), _column(frame, "audio_language"))
    return pd.Series([tokens(d, a) for d, a in pairs], index=frame.index, dtype=object)


def _top_codes(values: pd.Series, limit: int) -> list[str]:
    return values.dropna().astype(str).value_counts().index[:limit].tolist()


def _encode(values: pd.Series, vocabulary: list[str]) -> np.ndarray:
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
TITLE_STATS = ("title_chars", "title_words", "title_upper_ratio", "title_non_ascii_ratio", "title_digits",
               "title_marks", "title_hashtags", "title_separators")


def title_stats(title: str) -> tuple[float, ...]:
    """The shape of a title: length, words, share of capitals and of non-ASCII characters, digits, !?, #, separators."""
    chars = len(title)
    letters = len(_LETTER.findall(title))
    return (float(chars), float(len(title.split())), len(_UPPER.findall(title)) / max(letters, 1),
            len(_NON_ASCII.findall(title)) / max(chars, 1), float(len(_DIGIT.findall(title))),
            float(len(_MARK.findall(title))), float(title.count("#")), float(len(_SEPARATOR.findall(title))))


def _flag(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return np.nan
    return number if number in (0.0, 1.0) else np.nan


class ContentEncoder(BaseEstimator):
    """Outcome-free content features and tokens of videos (see the module docstring).

    ``transform`` returns ``(matrix, tokens)``: a float32 matrix with columns ``names_`` (one row per video)
    and ``{token family: token lists}``. Everything is computed per value in plain Python or NumPy, so one
    request costs about a millisecond and a batch scales linearly. Fitted attributes end in ``_`` and only
    ``fit`` sets them; the encoded training videos are memoised for the folds (``_cache``, never pickled),
    which changes how fast ``transform`` answers for them, never what.
    """

    def __init__(self, config: FeatureConfig, seed: int = 0) -> None:
        self.config = config
        self.seed = seed

    def fit(self, videos: pd.DataFrame, y: None = None) -> ContentEncoder:
        """Fit on one row per training video; keeps their encoded rows for reuse (not pickled)."""
        cfg = self.config
        self.title_vectorizer_ = TfidfVectorizer(ngram_range=(1, 2), min_df=cfg.min_document_frequency,
                                                 max_features=cfg.tfidf_max_features, sublinear_tf=True,
                                                 dtype=np.float32)
        self.tag_vectorizer_ = TfidfVectorizer(analyzer=tag_tokens, min_df=cfg.min_document_frequency,
                                               max_features=cfg.tfidf_max_features, sublinear_tf=True,
                                               dtype=np.float32)
        self.title_svd_ = self._fit_svd(self.title_vectorizer_, _titles(videos), cfg.title_svd_components)
        self.tag_svd_ = self._fit_svd(self.tag_vectorizer_, list(videos["tags"]), cfg.tag_svd_components)
        self.category_codes_ = _top_codes(first_category(videos["categories"]), cfg.max_categories)
        self.language_codes_ = {col: _top_codes(_column(videos, col), cfg.max_languages)
                                for col in ("default_language", "audio_language")}
        published = pd.to_datetime(videos["published_at"], utc=True)
        span_days = (published.max() - published.min()).total_seconds() / 86400.0 if len(videos) else 0.0
        self.use_month_ = bool(span_days >= cfg.month_min_span_days)
        if not self.use_month_:
            logger.info("month of year left out: the training videos span %.0f days (< %d)", span_days,
                        cfg.month_min_span_days)
        self._cache = None
        self.names_, matrix, tokens = self._compute(videos)
        if "video_id" in videos:
            self._cache = (pd.Index(videos["video_id"]), matrix, tokens)
        return self

    def _fit_svd(self, vectorizer: TfidfVectorizer, docs: list, n_components: int) -> TruncatedSVD | None:
        try:
            matrix = vectorizer.fit_transform(docs)
        except ValueError:  # an empty vocabulary (e.g. a source without tags, or too few videos)
            return None
        n_components = min(n_components, matrix.shape[1] - 1)
        if n_components < 1:
            return None
        return TruncatedSVD(n_components=n_components, random_state=self.seed).fit(matrix)

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_cache", None)  # training rows stay out of the saved pipeline
        return state

    def transform(self, videos: pd.DataFrame) -> tuple[np.ndarray, dict[str, list[list[str]]]]:
        """``(matrix with columns names_, {token family: token lists})``, one row per row of ``videos``."""
        check_is_fitted(self, "names_")
        if getattr(self, "_cache", None) is not None and "video_id" in videos:
            index, matrix, tokens = self._cache
            positions = index.get_indexer(videos["video_id"])
            if len(positions) and (positions >= 0).all():
                return matrix[positions], {name: [lists[i] for i in positions] for name, lists in tokens.items()}
        _, matrix, tokens = self._compute(videos)
        return matrix, tokens

    def _compute(self, videos: pd.DataFrame) -> tuple[list[str], np.ndarray, dict[str, list[list[str]]]]:
        """``(column names, matrix, tokens)`` of ``videos``; changes nothing on the encoder."""
        titles = _titles(videos)
        tags = [tag_tokens(t) for t in videos["tags"]]
        tokens = {"tag": tags, "category": [category_tokens(c) for c in videos["categories"]],
                  "word": [title_words(t) for t in titles], "language": list(language_tokens(videos))}
        names, columns = self._handcrafted(videos, titles, tags)
        text_names, text = self._text(titles, list(videos["tags"]))
        matrix = np.empty((len(videos), len(names) + len(text_names)), dtype=np.float32)
        for j, column in enumerate(columns):
            matrix[:, j] = column
        matrix[:, len(names):] = text
        return names + text_names, matrix, tokens

    def _text(self, titles: list[str], tags: list) -> tuple[list[str], np.ndarray]:
        cfg = self.config
        names = [f"title_svd_{i}" for i in range(cfg.title_svd_components)] + [
            f"tag_svd_{i}" for i in range(cfg.tag_svd_components)]
        values = np.zeros((len(titles), len(names)), dtype=np.float32)
        offset = 0
        for vectorizer, svd, docs, size in ((self.title_vectorizer_, self.title_svd_, titles, cfg.title_svd_components),
                                            (self.tag_vectorizer_, self.tag_svd_, tags, cfg.tag_svd_components)):
            if svd is not None and len(docs):
                reduced = svd.transform(vectorizer.transform(docs))
                values[:, offset:offset + reduced.shape[1]] = reduced
            offset += size
        return names, values

    def _handcrafted(self, videos: pd.DataFrame, titles: list[str], tags: list[list[str]]
                     ) -> tuple[list[str], list[np.ndarray]]:
        f: dict[str, np.ndarray] = {}
        duration = pd.to_numeric(videos["duration_seconds"], errors="coerce").to_numpy(float)
        duration = np.where(duration >= 0, duration, np.nan)
        f["log_duration"] = np.log1p(duration)
        f["is_short"] = np.where(np.isfinite(duration), (duration <= 60).astype(float), np.nan)

        published = pd.DatetimeIndex(pd.to_datetime(videos["published_at"], utc=True))
        hour = (published.hour + published.minute / 60.0).to_numpy(float)
        weekday = published.day_of_week.to_numpy(float)
        cycles = [("hour", hour, 24.0), ("weekday", weekday, 7.0)]
        if self.use_month_:
            cycles.append(("month", (published.month - 1 + (published.day - 1) / 31.0).to_numpy(float), 12.0))
        for name, value, period in cycles:
            f[f"{name}_sin"] = np.sin(2 * np.pi * value / period)
            f[f"{name}_cos"] = np.cos(2 * np.pi * value / period)

        stats = np.array([title_stats(t) for t in titles], dtype=float).reshape(len(titles), len(TITLE_STATS))
        for j, name in enumerate(TITLE_STATS):
            f[name] = stats[:, j]
        f["n_tags"] = np.array([len(t) for t in tags], dtype=float)
        f["tag_chars_mean"] = np.array([sum(map(len, t)) / len(t) if t else 0.0 for t in tags], dtype=float)
        f["tags_in_title"] = np.array([sum(tag in title.lower() for tag in tag_list) for tag_list, title
                                       in zip(tags, titles)], dtype=float)
        # Interactions between content attributes: a Short with hashtags, how tag-heavy a title is.
        f["short_x_hashtags"] = f["is_short"] * f["title_hashtags"]
        f["tags_per_word"] = f["n_tags"] / np.maximum(f["title_words"], 1)

        f["category_code"] = _encode(first_category(videos["categories"]), self.category_codes_)
        for col in ("default_language", "audio_language"):
            f[f"{col}_code"] = _encode(_column(videos, col), self.language_codes_[col])
        f["is_hd"] = np.array([float(d == "hd") if isinstance(d, str) and d else np.nan
                               for d in _column(videos, "definition")], dtype=float)
        for col in FLAG_FACTS:
            f[col] = np.array([_flag(v) for v in _column(videos, col)], dtype=float)
        f["language_mismatch"] = np.array([
            float(d.split("-")[0] != a.split("-")[0]) if isinstance(d, str) and d and isinstance(a, str)
            and a not in ("", "und") else np.nan
            for d, a in zip(_column(videos, "default_language"), _column(videos, "audio_language"))], dtype=float)
        return list(f), list(f.values())


def _titles(videos: pd.DataFrame) -> list[str]:
    return [t if isinstance(t, str) else "" for t in videos["title"]]
