"""Leak-free features for view prediction, fitted on training rows only (sklearn-style fit / transform).

Families: TF-IDF of title and tags reduced by truncated SVD, cyclical hour / weekday (month only from a year of data),
content attributes and their interactions, duration, pre-publication facts (``videoperf.features.content``);
channel history strictly from earlier videos (``videoperf.features.channel_history``); smoothed target encodings of
tags, categories, title words and languages (``videoperf.features.target_encoding``); the age asked about (log days).
Nothing measured after publishing (views, likes, comments, countries, how long a video was observed) is an
input, except inside the history of a channel's *earlier* videos.

Three entry points share one code path (``_assemble``):

* ``fit_training(snapshots)`` (``fit_transform``): each training video's encodings use only videos
  published before it and its channel history is as of its publish time - the view of the past a new
  video gets at prediction time;
* ``transform(snapshots, history)``: new rows; encodings from the training snapshots, channel history as of
  each publish time from ``history`` (``channel_history`` of everything observed so far, or of the training
  snapshots only);
* ``transform_videos(videos)``: user requests (``predict_performance``), whose channel statistics arrive as
  ``channel_video_count`` / ``channel_avg_views`` (+ optional extras) and go through the same
  ``channel_features`` function as the history's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from videoperf.config import FeatureConfig
from videoperf.features.channel_history import RAW_STATS, ChannelHistory, channel_features, mask_optional_stats
from videoperf.features.content import ContentEncoder
from videoperf.features.content_columns import Columns
from videoperf.features.content_tokens import TOKEN_FAMILIES
from videoperf.features.target_encoding import TokenTargetEncoder, encoding_columns
from videoperf.lifecycle.targets import log_views

logger = logging.getLogger(__name__)

_DAY = 86400.0
# Ages below ~15 minutes are rounding noise of the snapshot time; the floor keeps log(age) finite and sane.
MIN_AGE_DAYS = 0.01


def video_table(snapshots: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per video (its first observation: closest to what was known at publishing) and, for each
    snapshot row, the position of its video in that table."""
    codes, _ = pd.factorize(snapshots["video_id"])
    first = pd.Series(np.arange(len(snapshots))).groupby(codes).first().to_numpy()
    return snapshots.iloc[first].reset_index(drop=True), codes


def snapshot_ages(snapshots: pd.DataFrame) -> np.ndarray:
    """Age of each observation in days since publishing."""
    seconds = (snapshots["observed_at"] - snapshots["published_at"]).dt.total_seconds().to_numpy(float)
    return seconds / _DAY


def log_age(age_days: np.ndarray) -> np.ndarray:
    return np.log1p(np.maximum(np.asarray(age_days, dtype=float), MIN_AGE_DAYS))


def still_observed(at_ages: np.ndarray, ages: np.ndarray, video: np.ndarray) -> np.ndarray:
    """Per age in ``at_ages``: of the videos first observed by then, the share observed at that age or later.

    A video leaves the chart when its daily views fall below the chart's bar, so the rows at an age are the
    survivors of the videos seen earlier; this share says how many of them a cross-sectional mean at that age
    still describes (``videoperf.serving.family_curve`` weighs the trained ages by it)."""
    frame = pd.DataFrame({"video": np.asarray(video), "age": np.asarray(ages, dtype=float)})
    span = frame.groupby("video")["age"].agg(["min", "max"])
    first, last = np.sort(span["min"].to_numpy()), np.sort(span["max"].to_numpy())
    at_ages = np.asarray(at_ages, dtype=float)
    seen = np.searchsorted(first, at_ages, side="right")
    gone = np.searchsorted(last, at_ages, side="left")  # last observation before the age: first < age too
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(seen > 0, (seen - gone) / np.maximum(seen, 1), 1.0)


class AgeCurve(BaseEstimator):
    """Mean log views by age bin; the residual is the age-free performance the target encodings average."""

    def __init__(self, n_bins: int = 24) -> None:
        self.n_bins = n_bins

    def fit(self, ages: np.ndarray, log_views: np.ndarray, video: np.ndarray | None = None) -> AgeCurve:
        """``video``: each row's video code, for ``still_observed_`` (None: not recorded)."""
        x = log_age(ages)
        self.edges_ = np.unique(np.quantile(x, np.linspace(0, 1, self.n_bins + 1)[1:-1])) if len(x) else np.zeros(0)
        bins = np.searchsorted(self.edges_, x)
        means = pd.Series(log_views).groupby(bins).mean()
        levels = means.reindex(np.arange(len(self.edges_) + 1)).ffill().bfill()
        self.levels_ = levels.fillna(0.0).to_numpy()
        self.still_observed_ = None if video is None else still_observed(np.expm1(self.edges_), ages, video)
        return self

    def __call__(self, ages: np.ndarray) -> np.ndarray:
        """Expected log views at ``ages`` (days)."""
        return self.levels_[np.searchsorted(self.edges_, log_age(ages))]


@dataclass(frozen=True)
class TrainingFeatures:
    """Point-in-time features of every row a ``FeatureBuilder`` was fitted on (``fit_training``).

    Kept by the training run, not by the builder: each video's columns once (``per_video``), the video of each
    row, each row's age, and the training snapshots' channel history. ``rows(positions)`` builds the feature
    frame of any subset.
    """

    names: list[str]
    per_video: np.ndarray
    row_video: np.ndarray
    ages: np.ndarray
    history: ChannelHistory

    def __len__(self) -> int:
        return len(self.row_video)

    def rows(self, positions: np.ndarray | None = None) -> pd.DataFrame:
        """Features of the fitted snapshots' rows ``positions`` (all by default)."""
        positions = np.arange(len(self.row_video)) if positions is None else np.asarray(positions, dtype=int)
        return _with_age(self.names, self.per_video, self.row_video[positions], self.ages[positions])


class FeatureBuilder(TransformerMixin, BaseEstimator):
    """The fitted feature pipeline (see the module docstring), a scikit-learn transformer.

    Parameters (``config``, ``seed``) are all ``__init__`` sets; every fitted attribute ends in ``_`` and is set by
    ``fit``, and nothing else changes it. It holds no training rows and no channel history, so a pickled builder
    behaves exactly as the one that was fitted: ``transform`` takes the history to answer from, and the
    training rows' features come from ``fit_training`` / ``fit_transform``.
    """

    def __init__(self, config: FeatureConfig, seed: int = 0) -> None:
        self.config = config
        self.seed = seed

    def fit(self, snapshots: pd.DataFrame, y: None = None, content: ContentEncoder | None = None) -> FeatureBuilder:
        """Learn every fitted part from training snapshots (canonical table, outcomes included)."""
        self.fit_training(snapshots, content=content)
        return self

    def fit_training(self, snapshots: pd.DataFrame, content: ContentEncoder | None = None) -> TrainingFeatures:
        """``fit``, returning the point-in-time features of every training row.

        Each training video's encodings use only videos published before it and its channel history is as of
        its publish time - the view of the past a new video gets at prediction time. ``content``: an already
        fitted ``ContentEncoder`` to reuse (it uses no outcome, so the forward-chaining folds share the one
        fitted on all training videos).
        """
        cfg = self.config
        unknown = sorted(set(cfg.excluded_families) - set(FEATURE_FAMILIES))
        if unknown:
            raise ValueError(f"features.excluded_families: unknown {unknown}; choose from {list(FEATURE_FAMILIES)}")
        snapshots = snapshots.reset_index(drop=True)
        if snapshots.empty:
            raise ValueError("snapshots: no training rows to fit the features on")
        videos, row_video = video_table(snapshots)
        ages = snapshot_ages(snapshots)
        views = log_views(snapshots)
        self.age_curve_ = AgeCurve().fit(ages, views, row_video)
        residual = pd.Series(views - self.age_curve_(ages)).groupby(row_video).mean()
        target = residual.reindex(np.arange(len(videos))).to_numpy()

        self.content_ = content if content is not None else ContentEncoder(cfg, self.seed).fit(videos)
        history = self.channel_history(snapshots)
        self.encoders_ = {name: TokenTargetEncoder(name, cfg.target_encoding_smoothing) for name in TOKEN_FAMILIES}
        static, tokens = self.content_.transform(videos)
        encodings: dict[str, np.ndarray] = {}
        for name in TOKEN_FAMILIES:
            encodings.update(self.encoders_[name].fit_transform(tokens[name], target, videos["published_at"]))
        stats = history.stats(videos["channel_id"], videos["published_at"])
        stats = mask_optional_stats(stats, cfg.channel_stats_mask_fraction, self.seed, videos["video_id"])
        self.kept_ = None
        names, per_video = self._assemble(static, encodings, stats)
        families = feature_families(names)
        dropped = {name for family in cfg.excluded_families for name in families[family]}
        # Excluded columns keep their place in the assembled matrix, so that one code path serves every
        # configuration; they never reach a model, and at prediction time an encoder that feeds none of the kept
        # columns is not run (``_content``).
        self.kept_ = np.array([i for i, name in enumerate(names) if name not in dropped], dtype=np.int64)
        names, per_video = [names[i] for i in self.kept_], per_video[:, self.kept_]
        if dropped:
            logger.info("features: left out %s (%d columns)", list(cfg.excluded_families), len(dropped))
        self.feature_names_out_ = np.asarray(["log_age", *names], dtype=object)
        # An encoder none of whose columns reaches a model is not kept: inference would never read its tables
        # (half a million tags by default, most of the saved pipeline).
        used = self._used_encoders()
        self.encoders_ = {name: encoder for name, encoder in self.encoders_.items() if name in used}
        self.training_window_ = {"published_from": str(snapshots["published_at"].min()),
                                 "published_to": str(snapshots["published_at"].max()),
                                 "observed_to": str(snapshots["observed_at"].max())}
        logger.info("features: %d columns from %d training videos", len(self.feature_names_out_), len(videos))
        return TrainingFeatures(self.feature_names, per_video, row_video, ages, history)

    def fit_transform(self, snapshots: pd.DataFrame, y: None = None, rows: np.ndarray | None = None,
                      content: ContentEncoder | None = None) -> pd.DataFrame:
        """``fit``, then the point-in-time features of the training rows ``rows`` (all by default)."""
        return self.fit_training(snapshots, content=content).rows(rows)

    def get_feature_names_out(self, input_features: None = None) -> np.ndarray:
        """The output columns, ``log_age`` first."""
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_.copy()

    @property
    def feature_names(self) -> list[str]:
        """``get_feature_names_out()`` as a list."""
        return [str(name) for name in self.get_feature_names_out()]

    def channel_history(self, snapshots: pd.DataFrame) -> ChannelHistory:
        """As-of channel history over ``snapshots`` (the training snapshots, or every observation a live system
        has made by now), with this pipeline's age curve; pass it to ``transform``."""
        check_is_fitted(self, "age_curve_")
        return ChannelHistory(snapshots, self.age_curve_)

    def transform(self, snapshots: pd.DataFrame, history: ChannelHistory | None = None) -> pd.DataFrame:
        """Features of every row of new snapshots.

        Channel history answers as of each video's publish time from ``history``: ``channel_history`` of the
        training snapshots (frozen at the training cut) or of everything observed so far (what a deployed
        system knows). Encodings always come from the training videos.
        """
        check_is_fitted(self, "feature_names_out_")
        if not isinstance(history, ChannelHistory):
            raise ValueError("history: pass the channel history to answer from, builder.channel_history(snapshots) "
                             f"(training or everything observed), got {type(history).__name__}")
        snapshots = snapshots.reset_index(drop=True)
        videos, row_video = video_table(snapshots)
        stats = history.stats(videos["channel_id"], videos["published_at"])
        _, per_video = self._assemble(*self._content(videos), stats)
        return _with_age(self.feature_names, per_video, row_video, snapshot_ages(snapshots))

    def transform_videos(self, videos: Columns) -> pd.DataFrame:
        """Features of request rows: content columns, ``age_days`` and the channel statistics as given.

        ``videos``: a DataFrame, or a mapping of column -> values (what one request or a group of requests
        arrives as; NumPy and lists, no pandas objects per call)."""
        check_is_fitted(self, "feature_names_out_")
        ages = np.asarray(videos["age_days"], dtype=float)
        stats = {col: _floats(videos[col]) if col in videos else np.full(len(ages), np.nan) for col in RAW_STATS}
        _, per_video = self._assemble(*self._content(videos), stats)
        return _with_age(self.feature_names, per_video, np.arange(len(ages)), ages)

    def _content(self, videos: Columns) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Content features and target encodings (from all training videos) of new videos. An encoder none of
        whose columns reaches a model (``features.excluded_families``) is not run: its columns are NaN."""
        used = self._used_encoders()
        static, tokens = self.content_.transform(videos, [name for name in TOKEN_FAMILIES if name in used])
        encodings: dict[str, np.ndarray] = {}
        for name in TOKEN_FAMILIES:
            if name in used:
                encodings.update(self.encoders_[name].transform(tokens[name]))
            else:
                encodings.update(dict.fromkeys(encoding_columns(name), np.full(len(static), np.nan)))
        return static, encodings

    def _used_encoders(self) -> set[str]:
        """The token families whose encodings feed a kept column (directly or through an interaction)."""
        if self.kept_ is None:
            return set(TOKEN_FAMILIES)
        kept = set(self.get_feature_names_out())
        through = {"category": ("duration_x_category", "channel_vs_category"), "tag": ("channel_avg_vs_tags",)}
        return {name for name in TOKEN_FAMILIES
                if kept & {*encoding_columns(name), *through.get(name, ())}}

    def _assemble(self, static: np.ndarray, encodings: dict[str, np.ndarray],
                  stats: pd.DataFrame | dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
        """All per-video columns (everything but the age) as ``(names, float32 matrix)``, rows as the inputs."""
        channel = channel_features(stats if isinstance(stats, dict) else stats.reset_index(drop=True))
        log_duration = static[:, self.content_.names_.index("log_duration")].astype(float)
        # Interactions that need fitted parts: a long video in a category that rewards length, a channel
        # above its category's or its tags' usual level.
        interactions = {
            "duration_x_category": log_duration * encodings["category_te_mean"],
            "channel_vs_category": channel["channel_log_avg_views"] - encodings["category_te_mean"],
            "channel_avg_vs_tags": channel["channel_log_avg_views"] - encodings["tag_te_mean"],
        }
        extra = {**channel, **encodings, **interactions}
        matrix = np.empty((len(static), static.shape[1] + len(extra)), dtype=np.float32)
        matrix[:, :static.shape[1]] = static
        for j, values in enumerate(extra.values(), start=static.shape[1]):
            matrix[:, j] = values
        names = [*self.content_.names_, *extra]
        if self.kept_ is None:
            return names, matrix
        return [names[i] for i in self.kept_], matrix[:, self.kept_]


def _floats(values: object) -> np.ndarray:
    """Numbers as a float array (``pd.to_numeric`` semantics for anything that is not plain numbers)."""
    if isinstance(values, pd.Series) and pd.api.types.is_numeric_dtype(values.dtype) and values.dtype != bool:
        return values.to_numpy(dtype=float, na_value=np.nan)
    try:
        return np.array(values, dtype=float)
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(float)


def _with_age(names: list[str], per_video: np.ndarray, row_video: np.ndarray, ages: np.ndarray) -> pd.DataFrame:
    """The feature frame of rows: each row's log age, then its video's columns."""
    matrix = np.empty((len(row_video), per_video.shape[1] + 1), dtype=np.float32)
    matrix[:, 0] = log_age(ages)
    matrix[:, 1:] = per_video[row_video]
    return pd.DataFrame(matrix, columns=_column_index(tuple(names)), copy=False)


@lru_cache(maxsize=16)
def _column_index(names: tuple[str, ...]) -> pd.Index:
    """One ``pd.Index`` per list of feature names: its hash table is built once, not on each frame's first
    column lookup (which cost more than the rest of building a one-row frame). Plain Python strings (``object``),
    not pandas' Arrow-backed default: every column lookup reads a label back, and reading one from Arrow costs
    more than the lookup (a single prediction makes a dozen)."""
    return pd.Index(names, dtype=object)


# Feature families for ablation studies. A column may belong to several (an interaction belongs to each of
# its parents), so dropping a family removes everything that carries its information. The age asked about
# and the language / format flags belong to none: they stay in every ablation.
FEATURE_FAMILIES: dict[str, tuple[str, ...]] = {
    "text": ("title_", "word_te_", "tags_in_title", "tags_per_word", "short_x_hashtags"),
    "channel_history": ("channel_",),
    "time": ("hour_", "weekday_", "month_"),
    "duration": ("log_duration", "is_short", "duration_x_category", "short_x_hashtags"),
    "tags_categories": ("n_tags", "tag_", "tags_", "category_", "duration_x_category", "channel_vs_category",
                        "channel_avg_vs_tags"),
    # Fitted on outcomes, so the parts that can drift with time (checked on the rolling-origin backtest):
    "target_encodings": ("tag_te_", "category_te_", "word_te_", "language_te_", "duration_x_category",
                         "channel_vs_category", "channel_avg_vs_tags"),
    "channel_residuals": ("channel_mean_residual", "channel_last_residual"),
}


def feature_families(names: list[str]) -> dict[str, list[str]]:
    """The columns of each family in ``FEATURE_FAMILIES`` (matched by name prefix), in ``names`` order."""
    return {family: [name for name in names if name.startswith(prefixes)]
            for family, prefixes in FEATURE_FAMILIES.items()}
