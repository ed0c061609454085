"""The stacking ensemble as a model family (``videoperf.models.family.ModelFamily``): fit, predict, save, load.

Training: forward-chaining folds whose features are refitted on each fold's earlier videos, then the stack
(``videoperf.models.ensemble.stacking.StackingEnsemble``) on the shared features. The bundle holds one pickle,
``video_performance_ensemble.pkl``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from videoperf.features.channel_history import channel_level, check_views_target, level_prior, relative_inputs
from videoperf.models import artifacts
from videoperf.models.family import ModelFamily, Writer, prediction_threads

if TYPE_CHECKING:
    from videoperf.models.ensemble.stacking import Fold, StackingEnsemble
    from videoperf.models.family import TrainContext

logger = logging.getLogger(__name__)

ARTIFACT = "video_performance_ensemble.pkl"
LIBRARIES = ("scikit-learn", "lightgbm", "xgboost", "catboost")
MIN_FOLD_VIDEOS = 20  # a forward-chaining fold with fewer training videos teaches the stack nothing


def ensemble_folds(ctx: TrainContext) -> list[Fold]:
    """Forward-chaining folds whose features are refitted on each fold's training videos only.

    Each fold mimics deployment: its features are fitted on training rows truncated at the block's first
    publish time, and its held-out videos (one random observation each) get encodings from those rows but
    channel history as a live system has it, from every training observation made before each video's
    publish time (later blocks' observations included). The OOF residuals that calibrate the intervals
    thus come from the conditions predictions are made in.
    """
    # Training code is imported here, not at the top: predicting with a bundle must not import it.
    from videoperf.data.sampling import balanced_rows, recency_weights
    from videoperf.data.splits import forward_chaining_splits
    from videoperf.features.builder import FeatureBuilder
    from videoperf.lifecycle.targets import log_views
    from videoperf.models.ensemble.stacking import Fold
    from videoperf.progress import progress as progress_bar

    settings, snapshots = ctx.settings, ctx.snapshots
    fcfg, ecfg, validation = settings.preset.features, settings.preset.ensemble, settings.config.validation
    n_videos = snapshots["video_id"].nunique()
    splits = forward_chaining_splits(snapshots, validation.n_splits, validation.min_train_fraction)
    folds = []
    for k, (train_pos, valid_pos) in enumerate(progress_bar(splits, desc="features per fold", unit="fold",
                                                            enabled=settings.progress)):
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
        builder = FeatureBuilder(fcfg, settings.seed + k)
        training = builder.fit_training(train, content=ctx.content)
        rows = balanced_rows(train["video_id"], budget, settings.seed + k)
        valid_rows = valid.iloc[balanced_rows(valid["video_id"], valid["video_id"].nunique(), settings.seed + 100 + k)]
        live = builder.channel_history(snapshots)
        half_life = settings.config.training.recency_half_life_days
        weights = recency_weights(train["published_at"].iloc[rows], cut, half_life)
        X_train, X_valid = training.rows(rows), builder.transform(valid_rows, history=live)
        target = settings.config.training.views_target
        prior = level_prior(log_views(train.iloc[rows]), target)
        y_train = log_views(train.iloc[rows]) - channel_level(X_train, target, prior)
        y_valid = log_views(valid_rows) - channel_level(X_valid, target, prior)
        folds.append(Fold(relative_inputs(X_train, target), y_train, relative_inputs(X_valid, target), y_valid,
                          weights))
    return folds


def fit(ctx: TrainContext) -> tuple[StackingEnsemble, dict[str, Any]]:
    """The stacking ensemble on the shared features; report = per-learner and stack OOF scores."""
    from videoperf.data.sampling import balanced_rows, recency_weights, training_cut
    from videoperf.lifecycle.targets import log_views
    from videoperf.models.ensemble.stacking import StackingEnsemble

    start = time.perf_counter()
    settings = ctx.settings
    folds = ensemble_folds(ctx)
    rows = balanced_rows(ctx.snapshots["video_id"], settings.preset.ensemble.max_train_rows, settings.seed)
    model = StackingEnsemble(settings.preset.ensemble, seed=settings.seed,
                             coverage=settings.config.prediction.interval_coverage)
    weights = recency_weights(ctx.snapshots["published_at"].iloc[rows], training_cut(ctx.snapshots),
                              settings.config.training.recency_half_life_days)
    target = check_views_target(settings.config.training.views_target)
    X = ctx.training.rows(rows)
    y = log_views(ctx.snapshots.iloc[rows])
    prior = level_prior(y, target)
    model.fit(folds, relative_inputs(X, target), y - channel_level(X, target, prior),
              progress=settings.progress, sample_weight=weights)
    model.views_target_ = target  # predict adds the channel level back
    model.views_prior_ = prior
    report = {**model.report_, "seconds": round(time.perf_counter() - start, 1)}
    return model, report


def predict(model: StackingEnsemble, X: pd.DataFrame, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Views and their interval from the ensemble, for feature rows ``X``."""
    target = getattr(model, "views_target_", "absolute")
    pred, lo, hi = model.predict_interval(relative_inputs(X, target), n_threads=prediction_threads())
    level = channel_level(X, target, getattr(model, "views_prior_", 0.0))
    pred, lo, hi = pred + level, lo + level, hi + level
    return pd.DataFrame({"predicted_views": np.expm1(pred).clip(0, None), "views_lo": np.expm1(lo).clip(0, None),
                         "views_hi": np.expm1(hi).clip(0, None)})


def save(model: StackingEnsemble) -> dict[str, Writer]:
    return {ARTIFACT: artifacts.write_pickle(model)}


def load(folder: Path, manifest: dict[str, Any]) -> StackingEnsemble:
    with _catboost_widgets_blocked():  # unpickling imports CatBoost only if the stack kept a CatBoost learner
        return artifacts.load_pickle(folder, ARTIFACT, manifest)


@contextlib.contextmanager
def _catboost_widgets_blocked() -> Iterator[None]:
    """Within the block, an ``import catboost`` (unpickling a stack that kept CatBoost) leaves out its widgets.

    ``import catboost`` also imports its training-plot widgets when IPython and ipywidgets are installed (they
    are, for the notebook): about 0.2 s of a fresh process's first prediction (IPython, ipywidgets, traitlets),
    for plots a prediction never draws. Outside IPython the widget module is kept from importing while CatBoost
    may be (its ``__init__`` catches the ImportError), then unblocked: a later ``fit(plot=True)`` imports it then.
    What is lost in such a process is only the re-export ``catboost.MetricVisualizer`` (use
    ``catboost.widget.MetricVisualizer``). In IPython (a notebook) IPython is imported already: nothing to save.
    """
    if "catboost" in sys.modules or "IPython" in sys.modules:
        yield
        return
    blocked = "catboost.widget"
    sys.modules[blocked] = None  # type: ignore[assignment]  # importing it now raises ImportError
    try:
        yield
    finally:
        if blocked in sys.modules and sys.modules[blocked] is None:
            del sys.modules[blocked]


FAMILY = ModelFamily(name="ensemble", artifact=ARTIFACT, libraries=LIBRARIES, fit=fit, predict=predict, save=save,
                     load=load, concurrent_chunks=2)
