"""Training orchestration: shared feature pipeline, one pluggable step per model family, the saved bundle.

``train_models(snapshots, speed, models)`` fits the shared ``FeaturePipeline`` on the training snapshots and
then every requested model family (``MODEL_FAMILIES``: a fit function and a predict function per family).
``save_bundle`` writes them as the artifacts of DESIGN.md. The deep-learning family lives in
``videoperf.deep_family``.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import LabelEncoder, StandardScaler

from videoperf import artifacts
from videoperf.config import Config, PresetConfig, load_config
from videoperf.content_features import ContentEncoder
from videoperf.data import data_fingerprint
from videoperf.deep_family import deep_loader, deep_writer, fit_deep, predict_deep
from videoperf.ensemble import Fold, StackingEnsemble
from videoperf.features import FeatureBuilder, video_table
from videoperf.lifecycle import STAGES, build_targets
from videoperf.progress import progress as progress_bar
from videoperf.validation import forward_chaining_splits

logger = logging.getLogger(__name__)

MIN_FOLD_VIDEOS = 20  # a forward-chaining fold with fewer training videos teaches the stack nothing


def balanced_rows(video_ids: np.ndarray | pd.Series, budget: int, seed: int) -> np.ndarray:
    """At most ``budget`` row positions such that every video weighs about the same (sorted).

    One random observation of every video first, then a second one of every video that has one, and so
    on. A video that trended for a month has thirty rows; sampling rows uniformly would let long-lived
    (mostly very popular) videos dominate training, while evaluation and users count each video once.
    """
    video_ids = np.asarray(video_ids)
    n = len(video_ids)
    if budget >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    codes = pd.factorize(video_ids)[0]
    order = rng.permutation(n)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = pd.Series(codes[order]).groupby(codes[order]).cumcount().to_numpy()
    video_priority = rng.permutation(codes.max() + 1)[codes]
    chosen = np.lexsort((video_priority, rank))[:budget]
    return np.sort(chosen)


def recency_weights(published_at: pd.Series, cut: pd.Timestamp, half_life_days: float) -> np.ndarray | None:
    """``0.5 ** (days published before cut / half-life)`` per row (at most 1); ``None`` when the half-life is 0."""
    if half_life_days <= 0:
        return None
    days = (cut - pd.to_datetime(published_at, utc=True)).dt.total_seconds().to_numpy(float) / 86400.0
    return 0.5 ** (np.clip(days, 0.0, None) / half_life_days)


def training_cut(snapshots: pd.DataFrame) -> pd.Timestamp:
    """The moment training data ends: its last observation."""
    return pd.Timestamp(snapshots["observed_at"].max())


def prepare_snapshots(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Snapshots sorted by video and time with a fresh index (the order ``build_targets`` returns)."""
    return snapshots.sort_values(["video_id", "observed_at"], kind="stable").reset_index(drop=True)


def log_views(snapshots: pd.DataFrame) -> np.ndarray:
    return np.log1p(snapshots["views"].to_numpy(float).clip(0, None))


@dataclass
class FeaturePipeline:
    """The fitted feature builder and a numeric scaler: what ``numeric_scaler.pkl`` holds, shared by models."""

    builder: FeatureBuilder
    scaler: StandardScaler
    training_window: dict[str, str] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return list(self.builder.feature_names_)

    def scaled(self, X: pd.DataFrame) -> np.ndarray:
        """Standardised features with unknowns at the mean (0), for models that cannot take NaN."""
        return np.nan_to_num(self.scaler.transform(X[self.feature_names]).astype(np.float32), nan=0.0)


@dataclass
class TrainContext:
    """Everything a model family's fit step may use."""

    snapshots: pd.DataFrame          # training snapshots, prepared (sorted, fresh index)
    targets: pd.DataFrame            # build_targets(snapshots), row-aligned with ``snapshots``
    config: Config
    preset: PresetConfig
    speed: str
    features: FeaturePipeline
    content: ContentEncoder
    seed: int
    progress: bool = True


@dataclass
class ModelFamily:
    """A pluggable model family.

    ``fit(ctx) -> (model, report)``; ``predict(model, features, X, rows) -> DataFrame`` with ``predicted_views``
    (+ ``views_lo`` / ``views_hi``, other ``predicted_*``) for feature rows ``X`` of request / snapshot rows
    ``rows``; ``artifact``: its file in the bundle; ``writer(model)`` returns a function writing that file;
    ``loader(folder, file, manifest)`` reads it back (after the bundle's hashes were verified).
    """

    fit: Callable[[TrainContext], tuple[Any, dict[str, Any]]]
    predict: Callable[[Any, FeaturePipeline, pd.DataFrame, pd.DataFrame], pd.DataFrame]
    artifact: str
    writer: Callable[[Any], Callable[[Path], None]]
    loader: Callable[[Path, str, dict[str, Any]], Any]


# ------------------------------------------------------------------------------------------ ensemble
def ensemble_folds(ctx: TrainContext) -> list[Fold]:
    """Forward-chaining folds whose features are refitted on each fold's training videos only.

    Each fold mimics deployment: its features are fitted on training rows truncated at the block's first
    publish time, and its held-out videos (one random observation each) get encodings from those rows but
    channel history as a live system has it, from every training observation made before each video's
    publish time (later blocks' observations included). The OOF residuals that calibrate the intervals
    thus come from the conditions predictions are made in.
    """
    snapshots, fcfg, ecfg = ctx.snapshots, ctx.preset.features, ctx.preset.ensemble
    n_videos = snapshots["video_id"].nunique()
    validation = ctx.config.validation
    splits = forward_chaining_splits(snapshots, validation.n_splits, validation.min_train_fraction)
    folds = []
    for k, (train_pos, valid_pos) in enumerate(progress_bar(splits, desc="features per fold", unit="fold",
                                                            enabled=ctx.progress)):
        valid = snapshots.iloc[valid_pos]
        cut = valid["published_at"].min()
        train = snapshots.iloc[train_pos]
        truncated = train[train["observed_at"] < cut]
        if truncated["video_id"].nunique() >= MIN_FOLD_VIDEOS:
            train = truncated
        else:
            # A source whose observations start late (the Kaggle file: charts from mid-November, videos from
            # years before) leaves almost nothing observed before the cut. The fold then keeps its training
            # videos' later observations; their channel history still answers as of each publish time.
            logger.info("fold %d: only %d videos observed before %s; using their later observations too",
                        k + 1, truncated["video_id"].nunique(), cut)
        train = train.reset_index(drop=True)
        if train["video_id"].nunique() < MIN_FOLD_VIDEOS:
            continue
        budget = max(1, round(ecfg.max_train_rows * train["video_id"].nunique() / n_videos))
        builder = FeatureBuilder(fcfg, ctx.seed + k).fit(train, content=ctx.content)
        rows = balanced_rows(train["video_id"], budget, ctx.seed + k)
        valid_rows = valid.iloc[balanced_rows(valid["video_id"], valid["video_id"].nunique(), ctx.seed + 100 + k)]
        live = builder.channel_history(snapshots)
        weights = recency_weights(train["published_at"].iloc[rows], cut, ctx.config.training.recency_half_life_days)
        folds.append(Fold(builder.training_features(rows), log_views(train.iloc[rows]),
                          builder.transform(valid_rows, history=live), log_views(valid_rows), weights))
    return folds


def fit_ensemble(ctx: TrainContext) -> tuple[StackingEnsemble, dict[str, Any]]:
    """The stacking ensemble on the shared features; report = per-learner and stack OOF scores."""
    start = time.perf_counter()
    folds = ensemble_folds(ctx)
    rows = balanced_rows(ctx.snapshots["video_id"], ctx.preset.ensemble.max_train_rows, ctx.seed)
    X = ctx.features.builder.training_features(rows)
    model = StackingEnsemble(ctx.preset.ensemble, seed=ctx.seed, coverage=ctx.config.prediction.interval_coverage)
    weights = recency_weights(ctx.snapshots["published_at"].iloc[rows], training_cut(ctx.snapshots),
                              ctx.config.training.recency_half_life_days)
    model.fit(folds, X, log_views(ctx.snapshots.iloc[rows]), progress=ctx.progress, sample_weight=weights)
    report = {**model.report_, "seconds": round(time.perf_counter() - start, 1)}
    return model, report


def predict_ensemble(model: StackingEnsemble, features: FeaturePipeline, X: pd.DataFrame,
                     rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Views and their interval from the ensemble, for feature rows ``X``."""
    pred, lo, hi = model.predict_interval(X)
    return pd.DataFrame({"predicted_views": np.expm1(pred).clip(0, None), "views_lo": np.expm1(lo).clip(0, None),
                         "views_hi": np.expm1(hi).clip(0, None)})


MODEL_FAMILIES: dict[str, ModelFamily] = {
    "ensemble": ModelFamily(fit_ensemble, predict_ensemble, artifacts.ENSEMBLE_FILE, artifacts.write_pickle,
                            artifacts.load_pickle),
    "deep_learning": ModelFamily(fit_deep, predict_deep, artifacts.DEEP_FILE, deep_writer, deep_loader),
}


# -------------------------------------------------------------------------------------- orchestration
def check_models(models: Sequence[str] | str) -> tuple[str, ...]:
    """Validated, de-duplicated model family names (``"a,b"`` or a sequence)."""
    items = [m.strip() for m in models.split(",")] if isinstance(models, str) else [str(m).strip() for m in models]
    items = [m for m in items if m]
    unknown = [m for m in items if m not in MODEL_FAMILIES]
    if unknown or not items:
        raise ValueError(f"models: {unknown or 'nothing'} given; choose from {list(MODEL_FAMILIES)}")
    return tuple(dict.fromkeys(items))


@dataclass
class TrainedModels:
    """The result of ``train_models``: shared pieces, fitted families and their reports."""

    features: FeaturePipeline
    stage_encoder: LabelEncoder
    models: dict[str, Any]
    reports: dict[str, dict[str, Any]]
    speed: str
    config: Config
    fingerprint: dict[str, Any]
    seed: int
    seconds: float = 0.0


def fit_feature_pipeline(snapshots: pd.DataFrame, preset: PresetConfig, seed: int, max_rows: int
                         ) -> tuple[FeaturePipeline, ContentEncoder]:
    """Fit the shared ``FeaturePipeline`` (and the content encoder the ensemble folds reuse)."""
    videos, _ = video_table(snapshots)
    content = ContentEncoder(preset.features, seed).fit(videos)
    builder = FeatureBuilder(preset.features, seed).fit(snapshots, content=content)
    sample = builder.training_features(balanced_rows(snapshots["video_id"], max_rows, seed))
    with warnings.catch_warnings():  # a column the source never has (Kaggle: duration) is all NaN: no scale
        warnings.simplefilter("ignore", RuntimeWarning)
        scaler = StandardScaler().fit(sample)
    window = {"published_from": str(snapshots["published_at"].min()),
              "published_to": str(snapshots["published_at"].max()),
              "observed_to": str(snapshots["observed_at"].max())}
    return FeaturePipeline(builder, scaler, window), content


def train_models(snapshots: pd.DataFrame, speed: str = "fast", models: Sequence[str] | str = ("ensemble",),
                 config: Config | None = None, seed: int | None = None, progress: bool = True) -> TrainedModels:
    """Fit the shared feature pipeline and every requested model family on training snapshots."""
    start = time.perf_counter()
    models = check_models(models)
    config = config or load_config()
    preset = config.preset(speed)
    seed = config.seed if seed is None else seed
    snapshots = prepare_snapshots(snapshots)
    targets = build_targets(snapshots)
    fingerprint = data_fingerprint(snapshots)
    logger.info("training on %d snapshots of %d videos (%s preset)", len(snapshots), fingerprint["videos"], speed)
    features, content = fit_feature_pipeline(snapshots, preset, seed, preset.ensemble.max_train_rows)
    ctx = TrainContext(snapshots, targets, config, preset, speed, features, content, seed, progress)
    fitted, reports = {}, {}
    for name in models:
        fitted[name], reports[name] = MODEL_FAMILIES[name].fit(ctx)
    stage_encoder = LabelEncoder().fit(list(STAGES))
    return TrainedModels(features, stage_encoder, fitted, reports, speed, config, fingerprint, seed,
                         round(time.perf_counter() - start, 1))


def save_bundle(trained: TrainedModels, artifacts_dir: str | Path, extra_metrics: dict[str, Any] | None = None
                ) -> Path:
    """Write the artifacts of DESIGN.md for ``trained`` (atomically, with the manifest)."""
    writers = {artifacts.FEATURES_FILE: artifacts.write_pickle(trained.features),
               artifacts.STAGE_FILE: artifacts.write_pickle(trained.stage_encoder)}
    for name, model in trained.models.items():
        family = MODEL_FAMILIES[name]
        writers[family.artifact] = family.writer(model)
    preset = trained.config.preset(trained.speed)
    manifest = {
        "speed": trained.speed,
        "config": {"preset": _plain(preset), "validation": _plain(trained.config.validation),
                   "prediction": _plain(trained.config.prediction), "seed": trained.seed},
        "data": trained.fingerprint,
        "training_window": trained.features.training_window,
        "feature_names": trained.features.feature_names,
        "metrics": {"oof": trained.reports, **(extra_metrics or {})},
        "training_seconds": trained.seconds,
    }
    return artifacts.write_bundle(artifacts_dir, writers, manifest)


def _plain(obj: Any) -> Any:
    import dataclasses

    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj
