"""What a video *is*, known before publishing: ``ContentEncoder``, fitted without any outcome.

No views, likes or comments go into it: TF-IDF of titles (word 1-2 grams) and of tags (whole tags), each reduced
by truncated SVD; the vocabularies of category and language codes; and the hand-crafted columns of
``videoperf.features.content_columns``. It also yields the token lists (``videoperf.features.content_tokens``)
the target encoders of ``videoperf.features.builder`` average over.

Month of year only when the training videos span at least ``month_min_span_days`` (a year): a shorter window
cannot teach a yearly cycle, and trees send a month they never saw to the nearest month they did, which made
predictions drift with the time since training.

Because nothing in it depends on an outcome, the forward-chaining folds of the ensemble share the one
fitted on all training videos, and its output for those videos is computed once and reused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from videoperf.config import FeatureConfig
from videoperf.features.content_columns import Columns, column_values, handcrafted_columns, titles_of, top_codes
from videoperf.features.content_tokens import (
    TOKEN_FAMILIES,
    WORD,
    category_tokens,
    first_category,
    language_tokens,
    tag_token_lists,
    tag_tokens,
)
from videoperf.library_internals import term_ids, tfidf_svd, title_term_ids

logger = logging.getLogger(__name__)


class ContentEncoder(BaseEstimator):
    """Outcome-free content features and tokens of videos (see the module docstring).

    ``transform`` returns ``(matrix, tokens)``: a float32 matrix with columns ``names_`` (one row per video)
    and ``{token family: token lists}``. Everything is computed per value in plain Python or NumPy, so one
    request is cheap and a batch scales linearly. Fitted attributes end in ``_`` and only
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
        self.title_svd_ = self._fit_svd(self.title_vectorizer_, titles_of(videos), cfg.title_svd_components)
        self.tag_svd_ = self._fit_svd(self.tag_vectorizer_, list(videos["tags"]), cfg.tag_svd_components)
        self.category_codes_ = top_codes(first_category(videos["categories"]), cfg.max_categories)
        self.language_codes_ = {col: top_codes(_column(videos, col), cfg.max_languages)
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

    def transform(self, videos: Columns, token_families: Sequence[str] = TOKEN_FAMILIES
                  ) -> tuple[np.ndarray, dict[str, list[list[str]]]]:
        """``(matrix with columns names_, {token family: token lists})``, one row per row of ``videos``; tokens of
        ``token_families`` only (those a caller encodes)."""
        check_is_fitted(self, "names_")
        if getattr(self, "_cache", None) is not None and "video_id" in videos:
            index, matrix, tokens = self._cache
            positions = index.get_indexer(videos["video_id"])
            if len(positions) and (positions >= 0).all():
                return matrix[positions], {name: [tokens[name][i] for i in positions] for name in token_families}
        _, matrix, tokens = self._compute(videos, token_families)
        return matrix, tokens

    def _compute(self, videos: Columns, token_families: Sequence[str] = TOKEN_FAMILIES
                 ) -> tuple[list[str], np.ndarray, dict[str, list[list[str]]]]:
        """``(column names, matrix, tokens)`` of ``videos``; changes nothing on the encoder."""
        titles = titles_of(videos)
        n = len(titles)
        tags = tag_token_lists(column_values(videos, "tags", n))
        lowered = [title.lower() for title in titles]
        words = [WORD.findall(title) for title in lowered]
        families = {"tag": lambda: tags,
                    "category": lambda: [category_tokens(c) for c in column_values(videos, "categories", n)],
                    "word": lambda: [sorted(set(w)) for w in words],
                    "language": lambda: language_tokens(column_values(videos, "default_language", n),
                                                        column_values(videos, "audio_language", n))}
        tokens = {name: families[name]() for name in token_families}
        columns = handcrafted_columns(videos, titles, lowered, tags, self.use_month_, self.category_codes_,
                                      self.language_codes_)
        text_names, text = self._text(titles, words, tags)
        matrix = np.empty((len(titles), len(columns) + len(text_names)), dtype=np.float32)
        for j, column in enumerate(columns.values()):
            matrix[:, j] = column
        matrix[:, len(columns):] = text
        return list(columns) + text_names, matrix, tokens

    def _text(self, titles: list[str], words: list[list[str]], tags: list[list[str]]) -> tuple[list[str], np.ndarray]:
        """TF-IDF + SVD of titles and tags, from the tokens computed once (``library_internals.tfidf_svd``)."""
        cfg = self.config
        names = [f"title_svd_{i}" for i in range(cfg.title_svd_components)] + [
            f"tag_svd_{i}" for i in range(cfg.tag_svd_components)]
        values = np.zeros((len(titles), len(names)), dtype=np.float32)
        if not len(titles):
            return names, values
        n = len(titles)
        offset = 0
        for vectorizer, svd, size, terms in ((self.title_vectorizer_, self.title_svd_, cfg.title_svd_components,
                                              lambda: title_term_ids(self.title_vectorizer_, titles, words)),
                                             (self.tag_vectorizer_, self.tag_svd_, cfg.tag_svd_components,
                                              lambda: term_ids(self.tag_vectorizer_.vocabulary_, tags))):
            if svd is not None:
                reduced = tfidf_svd(vectorizer, svd, *terms(), n)
                values[:, offset:offset + reduced.shape[1]] = reduced
            offset += size
        return names, values


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(None, index=frame.index, dtype=object)
