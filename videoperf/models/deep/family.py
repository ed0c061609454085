"""The deep multi-task model as a model family (``videoperf.models.family.ModelFamily``): fit, predict, save, load.

It trains on the same fitted feature pipeline as the ensemble: the numeric features of each training
observation come from the point-in-time training features, the text from title, tags and categories.
Its bundle files hold what inference reads: ``video_performance_model.pt`` (weights, constructor arguments and
conformal intervals), ``numeric_scaler.pkl`` (the ``StandardScaler`` fitted on its training rows, which scales
every input row) and ``stage_encoder.pkl`` (the ``LabelEncoder`` that decodes the stage head).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from videoperf.features.channel_history import channel_level, check_views_target, level_prior, relative_inputs
from videoperf.models import artifacts
from videoperf.models.family import ModelFamily, Writer
from videoperf.models.intervals import interval_groups

if TYPE_CHECKING:
    from sklearn.preprocessing import LabelEncoder, StandardScaler

    from videoperf.models.deep.network import VideoPerformanceNet
    from videoperf.models.family import TrainContext

ARTIFACT = "video_performance_model.pt"
SCALER_FILE = "numeric_scaler.pkl"
STAGE_FILE = "stage_encoder.pkl"
LIBRARIES = ("torch", "scikit-learn")
FAMILY_NAME = "deep_learning"


@dataclass
class DeepModel:
    """The trained network with the scaler of its numeric inputs and the encoder of its stage labels."""

    net: VideoPerformanceNet
    scaler: StandardScaler
    stage_encoder: LabelEncoder
    views_target: str = "absolute"  # training.views_target; the manifest records it, ``load`` reads it back
    views_prior: float = 0.0  # channel_level's prior (the fit report in the manifest records it)


def fit(ctx: TrainContext) -> tuple[DeepModel, dict[str, Any]]:
    """Train ``VideoPerformanceNet`` on the training snapshots of a ``pipeline.TrainContext``."""
    # Training code is imported here, not at the top: predicting with a bundle must not import it.
    from videoperf.config import resolve_path
    from videoperf.data.sampling import recency_weights, training_cut
    from videoperf.models.deep.training import fit_deep_model
    from videoperf.models.deep.training_data import sample_rows, training_rows

    settings = ctx.settings
    rows = training_rows(ctx.snapshots)  # row i is row i of ctx.snapshots
    # Recency enters through which rows are sampled (the network trains on at most max_train_rows of them).
    recency = recency_weights(ctx.snapshots["published_at"], training_cut(ctx.snapshots),
                              settings.config.training.recency_half_life_days)
    keep = sample_rows(rows["video_id"].to_numpy(), settings.preset.deep.max_train_rows, settings.seed, recency)
    target = check_views_target(settings.config.training.views_target)
    X, rows = ctx.training.rows(keep), rows.iloc[keep].reset_index(drop=True)
    prior = level_prior(rows["log_views"].to_numpy(float), target)
    rows["log_views"] = rows["log_views"].to_numpy(float) - channel_level(X, target, prior)
    result = fit_deep_model(rows, relative_inputs(X, target), settings.preset.deep,
                            seed=settings.seed, cache_dir=resolve_path(settings.config.paths.cache_dir),
                            progress=settings.progress, coverage=settings.config.prediction.interval_coverage)
    report = {"history": result.history, **{k: v for k, v in result.info.items() if k != "history"},
              "views_prior": prior}
    return DeepModel(result.model, result.numeric_scaler, result.stage_encoder, target, prior), report


def predict(model: DeepModel, X: pd.DataFrame, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """All five targets for feature rows ``X`` of the snapshot / request rows ``rows`` (for their text)."""
    from videoperf.models.deep.video_text import video_texts

    if rows is None:
        raise ValueError("rows: the deep model needs the title, tags and categories of each row")
    out = model.net.predict(video_texts(rows), relative_inputs(X, model.views_target))
    if model.views_target != "absolute":
        out["log_views"] = out["log_views"] + channel_level(X, model.views_target, model.views_prior)
        out["views"] = np.expm1(out["log_views"])
    columns = {"predicted_views": np.clip(out["views"], 0, None)}
    if model.net.intervals is not None:
        lo, hi = model.net.intervals.bounds(interval_groups(X))
        columns["views_lo"] = np.expm1(np.clip(out["log_views"] + lo, 0, None))
        columns["views_hi"] = np.expm1(np.clip(out["log_views"] + hi, 0, None))
    probabilities = out["stage_probabilities"]
    columns.update({
        "predicted_like_ratio": out["like_ratio"],
        # ``inverse_transform`` without its input checks (the indices come from the model's own argmax).
        "predicted_lifecycle_stage": model.stage_encoder.classes_[probabilities.argmax(1)].astype(object),
        "predicted_time_to_peak_days": out["time_to_peak_days"],
        "predicted_decay_rate": out["decay_rate"],
    })
    for i, stage in enumerate(model.stage_encoder.classes_):
        columns[f"probability_{stage}"] = probabilities[:, i]
    return pd.DataFrame(columns)


def save(model: DeepModel) -> dict[str, Writer]:
    """The checkpoint without the input scaling (``numeric_scaler.pkl`` holds it), the scaler, the encoder."""
    def write_checkpoint(path: Path) -> None:
        model.net.save(path, include_scaling=False)

    return {ARTIFACT: write_checkpoint, SCALER_FILE: artifacts.write_pickle(model.scaler),
            STAGE_FILE: artifacts.write_pickle(model.stage_encoder)}


def load(folder: Path, manifest: dict[str, Any]) -> DeepModel:
    """Rebuild the network (``torch.load(weights_only=True)``) with the bundle's scaler and stage encoder."""
    from videoperf.models.deep.network import VideoPerformanceNet

    scaler = artifacts.load_pickle(folder, SCALER_FILE, manifest)
    stage_encoder = artifacts.load_pickle(folder, STAGE_FILE, manifest)
    net = VideoPerformanceNet.load(Path(folder) / ARTIFACT, scaler=scaler)
    if [str(label) for label in stage_encoder.classes_] != net.stage_classes:
        raise artifacts.ArtifactError(f"artifacts: {Path(folder) / STAGE_FILE} decodes the stages "
                                      f"{list(stage_encoder.classes_)}, the model predicts {net.stage_classes}")
    target = manifest.get("views_target", "absolute")
    report = (manifest.get("metrics") or {}).get("oof", {}).get(FAMILY_NAME) or {}
    return DeepModel(net, scaler, stage_encoder, check_views_target(target), float(report.get("views_prior", 0.0)))


FAMILY = ModelFamily(name=FAMILY_NAME, artifact=ARTIFACT, libraries=LIBRARIES, fit=fit, predict=predict,
                     save=save, load=load, extra_files=(SCALER_FILE, STAGE_FILE), age_columns=True)
