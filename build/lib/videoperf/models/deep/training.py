"""Training ``VideoPerformanceNet`` (``fit_deep_model``): the network built on the training rows' numeric features,
a frozen-encoder phase on cached embeddings, an optional fine-tuning phase, and conformal log-views intervals
calibrated on the validation videos."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from videoperf.config import DeepConfig
from videoperf.models.deep.network import (
    DEFAULT_MONOTONE_FEATURES,
    SURFACE_FEATURES,
    TASKS,
    VideoPerformanceNet,
    encode_targets,
    stage_label_encoder,
)
from videoperf.models.deep.training_data import sample_rows, time_ordered_split
from videoperf.models.deep.training_loop import TrainingLoop, make_optimizer
from videoperf.models.deep.video_text import video_texts
from videoperf.models.intervals import ConformalIntervals, interval_groups

logger = logging.getLogger(__name__)

ROW_COLUMNS = ("video_id", "published_at", "title", "tags", "categories")


@dataclass
class DeepFitResult:
    """What ``fit_deep_model`` returns; ``history`` has one dict per epoch (for loss-curve plots)."""

    model: VideoPerformanceNet
    numeric_scaler: Any
    stage_encoder: Any
    history: list[dict[str, float]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def _numeric_frame(numeric: np.ndarray | pd.DataFrame, names: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    if isinstance(numeric, pd.DataFrame):
        names = list(numeric.columns) if names is None else list(names)
        return numeric[names].to_numpy(dtype=np.float32, na_value=np.nan), [str(name) for name in names]
    matrix = np.asarray(numeric, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"numeric: expected a 2-D matrix, got shape {matrix.shape}")
    names = [f"x{i}" for i in range(matrix.shape[1])] if names is None else [str(name) for name in names]
    if len(names) != matrix.shape[1]:
        raise ValueError(f"numeric_names: {len(names)} names for {matrix.shape[1]} columns")
    return matrix, names


def fit_deep_model(rows: pd.DataFrame, numeric: np.ndarray | pd.DataFrame, config: DeepConfig, *,
                   numeric_names: Sequence[str] | None = None, monotone_features: dict[str, int] | None = None,
                   exclude_features: Sequence[str] = SURFACE_FEATURES, seed: int = 42,
                   cache_dir: str | Path | None = None, progress: bool = True, coverage: float = 0.8
                   ) -> DeepFitResult:
    """Train a ``VideoPerformanceNet`` on training rows and their numeric features.

    ``rows``: one per training observation (``training_data.training_rows``); ``numeric``: its numeric features
    (pre-publication features and the age as the horizon, e.g. ``FeatureBuilder`` output). At most
    ``config.max_train_rows`` rows are used (``sample_rows``: every video weighs about the same); the
    latest-published ``validation_fraction`` of the videos is never trained on and decides early stopping (the
    best epoch over both phases is kept; ``patience`` epochs without improvement or ``max_minutes`` for the whole
    fit stop it). Phase 1 trains the fusion network and heads on the frozen encoder's cached embeddings
    (``EmbeddingCache`` under ``cache_dir``); phase 2 (``trainable_encoder_layers != 0``) unfreezes the encoder's
    top layers and trains everything at ``encoder_learning_rate``. Row sampling, initialisation, shuffling and
    dropout all derive from ``seed``.

    ``monotone_features`` ({name: +1 or -1}) default: the ``DEFAULT_MONOTONE_FEATURES`` found among the numeric
    ones (what ``channel_avg_views`` feeds). Columns with missing values in training get missing indicators.
    ``exclude_features`` (default: the casing/spacing-sensitive title statistics) are not model inputs.
    ``coverage``: of the log-views interval, calibrated on the validation videos (the latest published).
    """
    from sklearn.preprocessing import StandardScaler

    missing = [col for col in (*ROW_COLUMNS, *TASKS) if col not in rows]
    if missing:
        raise ValueError(f"rows: missing column(s) {missing}")
    matrix, names = _numeric_frame(numeric, numeric_names)
    used = [i for i, name in enumerate(names) if name not in set(exclude_features)]
    matrix, names = matrix[:, used], [names[i] for i in used]
    if len(matrix) != len(rows):
        raise ValueError(f"numeric: {len(matrix)} rows for {len(rows)} training rows")
    if monotone_features is None:
        monotone_features = {name: DEFAULT_MONOTONE_FEATURES[name] for name in names
                             if name in DEFAULT_MONOTONE_FEATURES}
        if not monotone_features:
            logger.warning("no channel-views feature among the numeric ones: no monotone direction constraint")
    started = time.perf_counter()
    torch.manual_seed(seed)
    rows = rows.reset_index(drop=True)
    keep = sample_rows(rows["video_id"].to_numpy(), config.max_train_rows, seed)
    rows_given = len(rows)
    rows, matrix = rows.iloc[keep].reset_index(drop=True), matrix[keep]
    train_pos, valid_pos = time_ordered_split(rows, config.validation_fraction)

    # Training rows only (NaNs are ignored by the fit); fitted on a frame so it records its feature names.
    scaler = StandardScaler().fit(pd.DataFrame(matrix[train_pos], columns=names))
    stage_encoder = stage_label_encoder()
    model = VideoPerformanceNet(
        encoder=config.encoder, numeric_names=names, monotone_features=monotone_features,
        missing_indicators=[name for i, name in enumerate(names) if np.isnan(matrix[:, i]).any()],
        hidden_dim=config.hidden_dim, dropout=config.dropout, stage_classes=list(stage_encoder.classes_),
        max_text_length=config.max_text_length, trainable_encoder_layers=config.trainable_encoder_layers,
        mixed_precision=config.mixed_precision, encoder_seed=seed)
    model.set_numeric_scaling(scaler.mean_, scaler.scale_)
    targets = encode_targets(rows, model.stage_classes)
    _init_head_biases(model, {task: values[train_pos] for task, values in targets.items()})

    texts = video_texts(rows)
    embed_started = time.perf_counter()
    # Phase 1 always trains on the frozen pretrained encoder's (cached) embeddings ("linear probing then
    # fine-tuning", Kumar et al., 2022): fine-tuning from trained heads keeps random-head gradients from distorting
    # the pretrained features, and as the best validation state over both phases is kept, fine-tuning only
    # replaces the frozen model where it does better on the validation videos.
    embeddings = torch.as_tensor(model.embed_texts(texts, cache_dir, config.embedding_batch_size, progress,
                                                   pretrained=True))
    embed_seconds = time.perf_counter() - embed_started
    numeric_tensor = torch.as_tensor(matrix)
    loop = TrainingLoop(model, numeric_tensor, targets, train_pos, valid_pos, config, seed, progress,
                        deadline=started + 60.0 * config.max_minutes)
    loop.run(embeddings, make_optimizer(model, config.learning_rate, config.weight_decay, encoder=False),
             config.epochs, "frozen")
    if not model.encoder_frozen and config.finetune_epochs > 0 and not loop.out_of_time:
        loop.restore_best()  # fine-tune from the best frozen-phase state, not from its last (overfitted) epoch
        unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        tokens = (model.text_encoder.token_ids(list(unique)), inverse)
        loop.run(tokens, make_optimizer(model, config.encoder_learning_rate, config.weight_decay, encoder=True),
                 config.finetune_epochs, "finetune")
    loop.restore_best()
    model.intervals = _calibrate_intervals(model, texts, embeddings, matrix, names, targets["log_views"], valid_pos,
                                           coverage, fine_tuned=loop.best_phase == "finetune")
    info = {"epochs_run": len(loop.history), "best_epoch": loop.best_epoch, "best_phase": loop.best_phase,
            "best_valid_total": loop.best_score, "stopped": loop.stopped,
            "rows_given": int(rows_given), "rows_used": int(len(rows)),
            "train_rows": int(len(train_pos)), "valid_rows": int(len(valid_pos)),
            "train_videos": int(rows["video_id"].iloc[train_pos].nunique()),
            "valid_videos": int(rows["video_id"].iloc[valid_pos].nunique()),
            "embedding_seconds": round(embed_seconds, 2), "seconds": round(time.perf_counter() - started, 2),
            "monotone_features": dict(monotone_features), "encoder": model.model_args["encoder"]}
    return DeepFitResult(model.eval(), scaler, stage_encoder, loop.history, info)


def _calibrate_intervals(model: VideoPerformanceNet, texts: list[str], embeddings: torch.Tensor, matrix: np.ndarray,
                         names: list[str], log_views: np.ndarray, valid_pos: np.ndarray, coverage: float,
                         fine_tuned: bool) -> ConformalIntervals | None:
    """Conformal log-views intervals from the validation videos' residuals (None without validation rows).

    The validation videos are the latest published of the training data, so they are the most recent block:
    their residuals are what the model does on videos after everything it was fitted on.
    """
    known = valid_pos[np.isfinite(log_views[valid_pos])]
    if len(known) == 0:
        return None
    # After fine-tuning the cached frozen embeddings no longer match the encoder.
    emb = None if fine_tuned else embeddings[known].numpy()
    predicted = model.predict([texts[i] for i in known], matrix[known], embeddings=emb)["log_views"]
    groups = interval_groups(pd.DataFrame(matrix[known], columns=names))
    return ConformalIntervals(coverage).fit(log_views[known] - predicted, groups)


def _init_head_biases(model: VideoPerformanceNet, targets: dict[str, np.ndarray]) -> None:
    """Start each regression head at its training mean / median and the stage head at the class priors."""
    with torch.no_grad():
        for task, head, centre in (("log_views", model.views_head, np.nanmean),
                                   ("like_ratio", model.like_head, np.nanmedian),
                                   ("time_to_peak_days", model.ttp_head, np.nanmedian),
                                   ("decay_rate", model.decay_head, np.nanmedian)):
            values = targets[task][np.isfinite(targets[task])]
            if len(values):
                head.bias.fill_(float(centre(values)))
        stages = targets["lifecycle_stage"][targets["lifecycle_stage"] >= 0]
        if len(stages):
            prior = np.bincount(stages, minlength=len(model.stage_classes)) + 1.0
            model.stage_head.bias.copy_(torch.as_tensor(np.log(prior / prior.sum()), dtype=torch.float32))
