"""Smoothed target encoding of multi-valued tokens (tags, categories, title words, languages).

Each token gets the shrunken mean of a per-video target over the training videos that carry it:
``(sum + m * prior) / (count + m)``, so a tag seen on two videos says little and a tag seen on two
thousand says a lot. A video is then represented by its tokens' encodings: a confidence-weighted mean
(weights ``count / (count + m)``: frequent tokens weigh more, shrunk toward the prior by one pseudo-token),
the maximum, and how many of its tokens were known.

Leakage: a training video's own target must not flow into its own features, or the learners trust
these columns far more than they deserve on new videos. ``fit_transform`` therefore encodes each
training video only from videos published strictly before it (an expanding, time-ordered encoding),
which is also what a new video gets from ``transform``: statistics of all (earlier) training videos.
A random K-fold encoding would let a training video see its channel's *later* videos through
channel-specific tags, information no new video ever has.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

Tokens = Sequence[Sequence[str]]
SEARCH_TOKENS = 256  # up to this many tokens are looked up by binary search, more through the dict


def encoding_columns(name: str) -> list[str]:
    """The columns a ``TokenTargetEncoder`` of token family ``name`` outputs."""
    return [f"{name}_te_mean", f"{name}_te_max", f"{name}_te_known"]


def _explode(tokens: Tokens) -> tuple[np.ndarray, np.ndarray]:
    """(video position, token) pairs; the token lists are expected to hold distinct tokens."""
    lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
    position = np.repeat(np.arange(len(tokens)), lengths)
    flat = np.fromiter((tok for items in tokens for tok in items), dtype=object, count=int(lengths.sum()))
    return position, flat


class TokenTargetEncoder(BaseEstimator):
    """Target encoding of token lists (one list per video); outputs ``{name}_te_mean``, ``_te_max``, ``_te_known``
    as a dict of arrays. Fitted attributes end in ``_``; the token -> row lookup is rebuilt when a saved encoder
    is used after loading (plain arrays pickle and load far faster than a dict or index of half a million tags)."""

    def __init__(self, name: str, smoothing: float = 20.0) -> None:
        self.name = name
        self.smoothing = smoothing

    def __getstate__(self) -> dict:
        # A copy: BaseEstimator hands back the live __dict__, and pickling must not break the fitted encoder.
        state = dict(super().__getstate__())
        state.pop("_lookup", None)
        return state

    def _lookup_table(self) -> dict:
        """Token -> row of ``sums_`` / ``counts_``; built on first use (a loaded bundle may never need it:
        half a million tags take a quarter of a second)."""
        lookup = self.__dict__.get("_lookup")
        if lookup is None:
            lookup = self._lookup = {token: i for i, token in enumerate(self.tokens_)}
        return lookup

    def _rows_of(self, token: np.ndarray) -> np.ndarray:
        """Row of each token in ``sums_`` / ``counts_`` (-1 unknown). A few tokens (one request) by binary search
        in the sorted ``tokens_``: building the dict of half a million tags first would cost a loaded bundle's first
        prediction a tenth of a second."""
        if len(token) <= SEARCH_TOKENS and "_lookup" not in self.__dict__ and self.__dict__.get("sorted_"):
            at = np.searchsorted(self.tokens_, token).clip(0, max(len(self.tokens_) - 1, 0))
            if not len(self.tokens_):
                return np.full(len(token), -1, dtype=np.int64)
            return np.where(self.tokens_[at] == token, at, -1).astype(np.int64)
        lookup = self._lookup_table()
        return np.fromiter((lookup.get(tok, -1) for tok in token), dtype=np.int64, count=len(token))

    @property
    def columns(self) -> list[str]:
        return encoding_columns(self.name)

    def fit(self, tokens: Tokens, target: np.ndarray) -> TokenTargetEncoder:
        """Learn per-token sums and counts from training videos (one row per video)."""
        self._fit_pairs(*_explode(list(tokens)), np.asarray(target, dtype=float))
        return self

    def _fit_pairs(self, position: np.ndarray, token: np.ndarray, target: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        known = np.isfinite(target)
        self.prior_ = float(target[known].mean()) if known.any() else 0.0
        # Sorted: a few tokens are then found by binary search, without the dict of every token (``_rows_of``).
        codes, uniques = pd.factorize(token, sort=True)
        y = target[position] if len(position) else np.zeros(0)
        n = np.isfinite(y).astype(float)
        y = np.where(n > 0, y, 0.0)
        self.tokens_ = np.asarray(uniques, dtype=object)
        self.sums_ = np.bincount(codes, weights=y, minlength=len(uniques))
        self.counts_ = np.bincount(codes, weights=n, minlength=len(uniques))
        self.sorted_ = True
        self._lookup = {token: i for i, token in enumerate(self.tokens_)}
        return codes, y, n

    def fit_transform(self, tokens: Tokens, target: np.ndarray, published_at: pd.Series | np.ndarray
                      ) -> dict[str, np.ndarray]:
        """Fit on all videos; encode each of them from the videos published strictly before it."""
        tokens = list(tokens)
        position, token = _explode(tokens)
        codes, y, n = self._fit_pairs(position, token, np.asarray(target, dtype=float))
        times = pd.to_datetime(pd.Series(published_at), utc=True).dt.tz_convert(None).to_numpy().astype(
            "datetime64[ns]").view(np.int64)
        prior = self._expanding_prior(np.asarray(target, dtype=float), times)
        if len(position) == 0:
            return self._aggregate(position, np.zeros(0), np.zeros(0), prior)
        t = times[position]
        order = np.lexsort((t, codes))
        c, tt, yy, nn = codes[order], t[order], y[order], n[order]
        i = np.arange(len(c))
        new_token = np.r_[True, c[1:] != c[:-1]]
        new_instant = new_token | np.r_[True, tt[1:] != tt[:-1]]
        token_start = np.maximum.accumulate(np.where(new_token, i, 0))
        instant_start = np.maximum.accumulate(np.where(new_instant, i, 0))
        # Exclusive running sums: what the token had accumulated before the first pair of this instant,
        # minus what it had before its own first pair. Videos published at the same instant do not see
        # each other.
        before_y = np.cumsum(yy) - yy
        before_n = np.cumsum(nn) - nn
        sums = np.empty(len(c))
        counts = np.empty(len(c))
        sums[order] = before_y[instant_start] - before_y[token_start]
        counts[order] = before_n[instant_start] - before_n[token_start]
        return self._aggregate(position, sums, counts, prior)

    @staticmethod
    def _expanding_prior(target: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Per video, the mean target of the videos published strictly before it (0 when there are none):
        even the overall level a video is shrunk toward must not include itself or later videos."""
        order = np.argsort(times, kind="stable")
        t, y = times[order], target[order]
        known = np.isfinite(y)
        before_y = np.cumsum(np.where(known, y, 0.0)) - np.where(known, y, 0.0)
        before_n = np.cumsum(known) - known
        i = np.arange(len(t))
        instant_start = np.maximum.accumulate(np.where(np.r_[True, t[1:] != t[:-1]], i, 0)) if len(t) else i
        prior = np.empty(len(t))
        n = before_n[instant_start] if len(t) else before_n
        prior[order] = np.where(n > 0, before_y[instant_start] / np.maximum(n, 1), 0.0)
        return prior

    def transform(self, tokens: Tokens) -> dict[str, np.ndarray]:
        """Encodings of new videos from the statistics of all training videos."""
        check_is_fitted(self, "sums_")
        tokens = list(tokens)
        position, token = _explode(tokens)
        found = self._rows_of(token)
        hit = found >= 0
        safe = np.where(hit, found, 0)
        sums = np.where(hit, self.sums_[safe], 0.0) if len(found) else np.zeros(0)
        counts = np.where(hit, self.counts_[safe], 0.0) if len(found) else np.zeros(0)
        return self._aggregate(position, sums, counts, np.full(len(tokens), self.prior_))

    def _aggregate(self, position: np.ndarray, sums: np.ndarray, counts: np.ndarray, prior: np.ndarray
                   ) -> dict[str, np.ndarray]:
        """Per-video mean / max / count of token encodings; ``prior``: each video's level to shrink toward."""
        m = self.smoothing
        n_videos = len(prior)
        seen = counts > 0
        pos = position[seen]
        encoded = (sums[seen] + m * prior[pos]) / (counts[seen] + m)
        weight = counts[seen] / (counts[seen] + m)
        wsum = np.bincount(pos, weights=encoded * weight, minlength=n_videos)
        wtot = np.bincount(pos, weights=weight, minlength=n_videos)
        known = np.bincount(pos, minlength=n_videos).astype(float)
        top = np.full(n_videos, -np.inf)
        np.maximum.at(top, pos, encoded)
        return {
            self.columns[0]: (wsum + prior) / (wtot + 1.0),
            self.columns[1]: np.where(known > 0, top, np.nan),
            self.columns[2]: known,
        }
