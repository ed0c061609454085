"""The deep multi-task model as a model family of ``videoperf.pipeline``: fit, predict, write, load.

It trains on the same fitted feature pipeline as the ensemble (``numeric_scaler.pkl``): the numeric
features of each training observation come from ``FeatureBuilder.training_features`` (point-in-time
channel history and encodings), the text from title, tags and categories. The model keeps its own
standardisation of those features inside its weights, so the checkpoint is self-contained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from videoperf.config import resolve_path
from videoperf.intervals import interval_groups


def fit_deep(ctx: Any) -> tuple[Any, dict[str, Any]]:
    """Train ``VideoPerformanceNet`` on the training snapshots of a ``pipeline.TrainContext``."""
    from videoperf.deep_training import fit_deep_model, sample_rows, training_rows
    from videoperf.pipeline import recency_weights, training_cut

    rows = training_rows(ctx.snapshots)  # row i is row i of ctx.snapshots
    # Recency enters through which rows are sampled (the network trains on at most max_train_rows of them).
    recency = recency_weights(ctx.snapshots["published_at"], training_cut(ctx.snapshots),
                              ctx.config.training.recency_half_life_days)
    keep = sample_rows(rows["video_id"].to_numpy(), ctx.preset.deep.max_train_rows, ctx.seed, recency)
    numeric = ctx.features.builder.training_features(keep)
    fit = fit_deep_model(rows.iloc[keep].reset_index(drop=True), numeric, ctx.preset.deep, seed=ctx.seed,
                         cache_dir=resolve_path(ctx.config.paths.cache_dir), progress=ctx.progress,
                         coverage=ctx.config.prediction.interval_coverage)
    report = {"history": fit.history, **{k: v for k, v in fit.info.items() if k != "history"}}
    return fit.model, report


def predict_deep(model: Any, features: Any, X: pd.DataFrame, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """All five targets for feature rows ``X`` of the snapshot / request rows ``rows`` (for their text)."""
    from videoperf.text_encoders import video_texts

    if rows is None:
        raise ValueError("rows: the deep model needs the title, tags and categories of each row")
    out = model.predict(video_texts(rows), X)
    frame = pd.DataFrame({"predicted_views": np.clip(out["views"], 0, None)})
    if model.intervals is not None:
        lo, hi = model.intervals.bounds(interval_groups(X))
        frame["views_lo"] = np.expm1(np.clip(out["log_views"] + lo, 0, None))
        frame["views_hi"] = np.expm1(np.clip(out["log_views"] + hi, 0, None))
    frame = frame.assign(**{
        "predicted_like_ratio": out["like_ratio"],
        "predicted_lifecycle_stage": out["lifecycle_stage"],
        "predicted_time_to_peak_days": out["time_to_peak_days"],
        "predicted_decay_rate": out["decay_rate"],
    })
    for i, stage in enumerate(model.stage_classes):
        frame[f"probability_{stage}"] = out["stage_probabilities"][:, i]
    return frame


def deep_writer(model: Any):
    """A function writing the checkpoint (state dict + constructor arguments) into the bundle."""
    def write(path: Path) -> None:
        model.save(path)

    return write


def deep_loader(folder: Path, name: str, manifest: dict[str, Any]) -> Any:
    """Rebuild the model from its checkpoint (``torch.load(weights_only=True)`` inside ``load``)."""
    from videoperf.deep import VideoPerformanceNet

    return VideoPerformanceNet.load(Path(folder) / name)
