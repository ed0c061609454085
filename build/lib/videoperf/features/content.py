"""What a video *is*, known before publishing: text, timing, format and the facts the source has.

``ContentEncoder`` is fitted without any outcome (no views, likes or comments): TF-IDF of titles
(word 1-2 grams) and of tags (whole tags), each reduced by truncated SVD; the vocabularies of category and
language codes; and hand-crafted columns (cyclical hour / weekday of publishing, duration, title shape, tag
counts, definition, captions, licensed content, made_for_kids, live; NaN = unknown).

Month of year only when the training videos span at least ``month_min_span_days`` (a year): a shorter window
cannot teach a yearly cycle, and trees send a month they never saw to the nearest month they did, which made
predictions drift with the time since training. No column encodes absolute time, so shifting every date by
whole weeks changes nothing.
It also yields the token lists the target encoders of ``videoperf.features.builder`` average over.

Because nothing in it depends on an outcome, the forward-chaining folds of the ensemble share the one
fitted on all training videos, and its output for those videos is computed once and reused.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Mapping, Sequence
from itertools import chain, repeat
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from videoperf.config import FeatureConfig
from videoperf.plain import cut

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
    return list(dict.fromkeys(str(c) for c in categories)) if isinstance(categories, _LISTS) else []


def first_category(categories: pd.Series) -> pd.Series:
    return categories.map(lambda c: str(c[0]) if isinstance(c, _LISTS) and len(c) else None)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series(None, index=frame.index, dtype=object)


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
        titles = _titles(videos)
        n = len(titles)
        tags = tag_token_lists(_values(videos, "tags", n))
        lowered = [title.lower() for title in titles]
        words = [_WORD.findall(title) for title in lowered]
        families = {"tag": lambda: tags,
                    "category": lambda: [category_tokens(c) for c in _values(videos, "categories", n)],
                    "word": lambda: [sorted(set(w)) for w in words],
                    "language": lambda: language_tokens(_values(videos, "default_language", n),
                                                        _values(videos, "audio_language", n))}
        tokens = {name: families[name]() for name in token_families}
        names, columns = self._handcrafted(videos, titles, lowered, tags)
        text_names, text = self._text(titles, words, tags)
        matrix = np.empty((len(titles), len(names) + len(text_names)), dtype=np.float32)
        for j, column in enumerate(columns):
            matrix[:, j] = column
        matrix[:, len(names):] = text
        return names + text_names, matrix, tokens

    def _text(self, titles: list[str], words: list[list[str]], tags: list[list[str]]) -> tuple[list[str], np.ndarray]:
        """TF-IDF + SVD of titles and tags (``_tfidf_svd``: the vectorisers' own arithmetic on tokens computed once)."""
        cfg = self.config
        names = [f"title_svd_{i}" for i in range(cfg.title_svd_components)] + [
            f"tag_svd_{i}" for i in range(cfg.tag_svd_components)]
        values = np.zeros((len(titles), len(names)), dtype=np.float32)
        if not len(titles):
            return names, values
        n = len(titles)
        offset = 0
        for vectorizer, svd, size, terms in ((self.title_vectorizer_, self.title_svd_, cfg.title_svd_components,
                                              lambda: _title_term_ids(self.title_vectorizer_, titles, words)),
                                             (self.tag_vectorizer_, self.tag_svd_, cfg.tag_svd_components,
                                              lambda: _term_ids(self.tag_vectorizer_.vocabulary_, tags))):
            if svd is not None:
                reduced = _tfidf_svd(vectorizer, svd, *terms(), n)
                values[:, offset:offset + reduced.shape[1]] = reduced
            offset += size
        return names, values

    def _handcrafted(self, videos: Columns, titles: list[str], lowered: list[str], tags: list[list[str]]
                     ) -> tuple[list[str], list[np.ndarray]]:
        n = len(titles)
        f: dict[str, np.ndarray] = {}
        duration = _numbers(videos["duration_seconds"])
        duration = np.where(duration >= 0, duration, np.nan)
        f["log_duration"] = np.log1p(duration)
        f["is_short"] = np.where(np.isfinite(duration), (duration <= 60).astype(float), np.nan)

        cycles = _time_of_publishing(videos["published_at"], self.use_month_)
        for name, value, period in cycles:
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

        categories = _values(videos, "categories", n)
        f["category_code"] = _encode([str(c[0]) if isinstance(c, _LISTS) and len(c) else None for c in categories],
                                     self.category_codes_)
        languages = {col: _values(videos, col, n) for col in ("default_language", "audio_language")}
        for col, values in languages.items():
            f[f"{col}_code"] = _encode(values, self.language_codes_[col])
        f["is_hd"] = np.array([float(d == "hd") if isinstance(d, str) and d else np.nan
                               for d in _values(videos, "definition", n)], dtype=float)
        for col in FLAG_FACTS:
            f[col] = _flags(videos[col]) if col in videos else np.full(n, np.nan)
        f["language_mismatch"] = np.array([
            float(d.split("-")[0] != a.split("-")[0]) if isinstance(d, str) and d and isinstance(a, str)
            and a not in ("", "und") else np.nan
            for d, a in zip(languages["default_language"], languages["audio_language"])], dtype=float)
        return list(f), list(f.values())


# Request rows: a DataFrame, or (one request, the REST service's groups) a mapping of column name -> values.
Columns = pd.DataFrame | Mapping[str, Sequence[Any]]


def _values(videos: Columns, name: str, n: int) -> list:
    """Column ``name`` as a Python list (``n`` times ``None`` when absent)."""
    if name not in videos:
        return [None] * n
    values = videos[name]
    return values.tolist() if isinstance(values, (pd.Series, np.ndarray)) else list(values)


def _titles(videos: Columns) -> list[str]:
    return [t if isinstance(t, str) else "" for t in _values(videos, "title", len(videos["title"]))]


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


def _title_term_ids(vectorizer: TfidfVectorizer, titles: list[str], words: list[list[str]]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """``(document, vocabulary id)`` of every term the title vectoriser's analyzer yields for the titles and its
    vocabulary holds (``_term_ids``). With its default word settings that is the lower-cased words (``_WORD``
    finds the same tokens as the default token pattern) and, for ``ngram_range=(1, 2)``, their bigrams, looked up
    as pairs of word codes (``_bigram_table``) rather than built as strings; any other configuration goes through
    the analyzer itself."""
    default = (vectorizer.analyzer == "word" and vectorizer.lowercase and vectorizer.preprocessor is None
               and vectorizer.tokenizer is None and vectorizer.stop_words is None
               and vectorizer.strip_accents is None and vectorizer.token_pattern == r"(?u)\b\w\w+\b"
               and vectorizer.vocabulary is None)  # a given vocabulary may hold terms of any length
    if not default:
        analyze = vectorizer.build_analyzer()
        return _term_ids(vectorizer.vocabulary_, [analyze(title) for title in titles])
    if tuple(vectorizer.ngram_range) != (1, 2):
        return _term_ids(vectorizer.vocabulary_, [vectorizer._word_ngrams(w) for w in words])
    codes, unigram, pairs, pair_ids = _bigram_table(vectorizer)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    word = np.fromiter(map(codes.get, chain.from_iterable(words), repeat(-1)), dtype=np.int64,
                       count=int(lengths.sum()))
    docs = np.repeat(np.arange(len(words), dtype=np.int64), lengths)
    ids = np.where(word >= 0, unigram[word], -1)
    # A bigram is two consecutive words of one title, both in some vocabulary term.
    pair = (docs[1:] == docs[:-1]) & (word[1:] >= 0) & (word[:-1] >= 0)
    key = word[:-1][pair] * len(codes) + word[1:][pair]
    at = np.minimum(np.searchsorted(pairs, key), len(pairs) - 1)
    found = pairs[at] == key if len(pairs) else np.zeros(len(key), dtype=bool)
    known = ids >= 0
    return (np.concatenate([docs[known], docs[:-1][pair][found]]),
            np.concatenate([ids[known], pair_ids[at[found]]]))


def _bigram_table(vectorizer: TfidfVectorizer) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray]:
    """The title vocabulary as word codes, made once per fitted vectoriser: ``(code of each word of any term,
    vocabulary id of each code's unigram or -1, sorted codes of the bigrams, their vocabulary ids)``."""
    table = _BIGRAMS.get(vectorizer)
    if table is not None and table[0] is vectorizer.vocabulary_:
        return table[1]
    vocabulary = vectorizer.vocabulary_
    codes: dict[str, int] = {}
    for term in vocabulary:
        for part in term.split(" "):
            codes.setdefault(part, len(codes))
    unigram = np.full(len(codes), -1, dtype=np.int64)
    keys, ids = [], []
    for term, index in vocabulary.items():
        parts = term.split(" ")
        if len(parts) == 1:
            unigram[codes[term]] = index
        else:
            keys.append(codes[parts[0]] * len(codes) + codes[parts[1]])
            ids.append(index)
    order = np.argsort(np.asarray(keys, dtype=np.int64), kind="stable")
    result = (codes, unigram, np.asarray(keys, dtype=np.int64)[order], np.asarray(ids, dtype=np.int64)[order])
    _BIGRAMS[vectorizer] = (vocabulary, result)
    return result


def _term_ids(vocabulary: Mapping[str, int], terms: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """``(document, vocabulary id)`` of every term of ``terms`` (one list per document) in ``vocabulary``."""
    lengths = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
    ids = np.fromiter(map(vocabulary.get, chain.from_iterable(terms), repeat(-1)), dtype=np.int64,
                      count=int(lengths.sum()))
    docs = np.repeat(np.arange(len(terms), dtype=np.int64), lengths)
    known = ids >= 0
    return docs[known], ids[known]


def _tfidf_svd(vectorizer: TfidfVectorizer, svd: TruncatedSVD, docs: np.ndarray, ids: np.ndarray, n: int
               ) -> np.ndarray:
    """``svd.transform(vectorizer.transform(documents))`` of ``n`` documents from the ``(document, vocabulary
    id)`` of their terms.

    The same arithmetic as scikit-learn's (float32 counts, log + 1, times idf, l2 row norms by its own kernel, the
    sparse product by SciPy's), so the result is bit for bit the library's; what is skipped is its per-call input
    validation and a second analysis of the tags. Counting is vectorised: (document, term) keys are sorted and
    counted at once, which is also the CSR order the library's ``sort_indices`` produces.
    """
    from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

    width = len(vectorizer.vocabulary_)
    keys, counts = np.unique(docs * width + ids, return_counts=True)
    rows, columns = np.divmod(keys, width)
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    data = counts.astype(vectorizer.dtype)
    tfidf = vectorizer._tfidf
    if tfidf.sublinear_tf:
        np.log(data, data)
        data += 1.0
    if tfidf.use_idf:
        data *= tfidf.idf_[columns]
    matrix = sparse.csr_matrix((data, columns.astype(np.int32), indptr), shape=(n, width))
    if tfidf.norm == "l2":
        inplace_csr_row_normalize_l2(matrix)
    elif tfidf.norm is not None:
        from sklearn.preprocessing import normalize

        matrix = normalize(matrix, norm=tfidf.norm, copy=False)
    return matrix @ _components_t(svd)


def _components_t(svd: TruncatedSVD) -> np.ndarray:
    """``svd.components_.T`` in C order, made once per fitted SVD: SciPy's sparse product copies a transposed
    view into C order on every call (20,000 x 24 floats for the titles), the same numbers either way."""
    copy = _TRANSPOSED.get(svd)
    if copy is None or copy[0] is not svd.components_:
        copy = _TRANSPOSED[svd] = (svd.components_, np.ascontiguousarray(svd.components_.T))
    return copy[1]


# Kept beside the SVDs and vectorisers, not on them: a pickled pipeline holds what was fitted and nothing else.
_TRANSPOSED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BIGRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
