"""Evaluation on later videos: fit on one snapshot table, predict every video of another at its last age.

Test videos get channel history and target encodings from the training snapshots only. Every metric of
``videoperf.metrics`` is reported for each model beside the global-mean and channel-mean baselines
(for the targets other than views the baselines are the training median / majority, the channel
baseline using the channel's mean like ratio where it has one).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from videoperf.config import Config
from videoperf.lifecycle import build_targets
from videoperf.metrics import baseline_predictions, evaluate_predictions, last_observation, naive_target_baselines
from videoperf.pipeline import MODEL_FAMILIES, TrainedModels, prepare_snapshots, train_models

logger = logging.getLogger(__name__)

OTHER_TARGETS = ("like_ratio", "lifecycle_stage", "time_to_peak_days", "decay_rate")
BASELINES = ("global_mean", "channel_mean")


def test_rows(test_snapshots: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each test video's last observation and its targets (same row order)."""
    test = prepare_snapshots(test_snapshots)
    targets = build_targets(test)
    last = last_observation(test)
    return last.reset_index(drop=True), targets.loc[last.index].reset_index(drop=True)


def predict_videos(trained: TrainedModels, last: pd.DataFrame, last_targets: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One predictions table per model, one row per test video (the columns of DESIGN.md)."""
    X = trained.features.builder.transform(last)
    base = pd.DataFrame({"video_id": last["video_id"].to_numpy(), "age_days": last_targets["age_days"].to_numpy(),
                         "actual_views": last["views"].to_numpy(float)})
    for target in OTHER_TARGETS:
        base[f"actual_{target}"] = last_targets[target].to_numpy()
    out = {}
    for name, model in trained.models.items():
        predicted = MODEL_FAMILIES[name].predict(model, trained.features, X, last)
        frame = base.copy()
        for column in predicted.columns:
            frame[column] = predicted[column].to_numpy()
        ordered = ["video_id", "age_days", "actual_views", "predicted_views", "views_lo", "views_hi"]
        out[name] = frame[[c for c in ordered if c in frame] + [c for c in frame if c not in ordered]]
    return out


def baseline_tables(train_snapshots: pd.DataFrame, last: pd.DataFrame, last_targets: pd.DataFrame
                    ) -> dict[str, pd.DataFrame]:
    """Prediction tables of the two naive baselines, in the same layout as a model's."""
    train = prepare_snapshots(train_snapshots)
    train_targets = build_targets(train)
    logs = baseline_predictions(train, last)
    naive = naive_target_baselines(train_targets)
    last_train = train_targets.groupby("video_id", sort=False).tail(1)
    channel_like = (pd.Series(last_train["like_ratio"].to_numpy(), index=train.loc[last_train.index, "channel_id"])
                    .groupby(level=0).mean())
    out = {}
    for name in BASELINES:
        frame = pd.DataFrame({"actual_views": last["views"].to_numpy(float),
                              "predicted_views": np.expm1(logs[name].to_numpy())})
        for target in OTHER_TARGETS:
            frame[f"actual_{target}"] = last_targets[target].to_numpy()
            if target in naive:
                frame[f"predicted_{target}"] = naive[target]
        if name == "channel_mean" and "like_ratio" in naive:
            frame["predicted_like_ratio"] = last["channel_id"].map(channel_like).fillna(naive["like_ratio"]).to_numpy()
        out[name] = frame
    return out


def metrics_table(predictions: dict[str, pd.DataFrame], baselines: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows = metrics, columns = models then baselines."""
    columns = {name: evaluate_predictions(frame) for name, frame in {**predictions, **baselines}.items()}
    return pd.DataFrame(columns)


def format_metrics(table: pd.DataFrame) -> str:
    def fmt(value: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        return f"{value:,.4f}" if abs(value) < 1e4 else f"{value:,.0f}"

    return table.map(fmt).to_string()


def evaluate(train_snapshots: pd.DataFrame, test_snapshots: pd.DataFrame, speed: str = "fast",
             models: Sequence[str] | str = ("ensemble",), predictions_path: str | Path | None = None,
             config: Config | None = None, progress: bool = True) -> dict[str, Any]:
    """Fit on ``train_snapshots``, predict every video of ``test_snapshots`` at its last observed age.

    Returns ``{"metrics": DataFrame, "predictions": {model: DataFrame}, "oof": reports, "seconds": ...}``.
    ``predictions_path``: the CSV of the (first) model; further models go to ``<stem>_<model>.csv``.
    """
    start = time.perf_counter()
    overlap = np.intersect1d(train_snapshots["video_id"].unique(), test_snapshots["video_id"].unique())
    if len(overlap):
        logger.warning("%d test videos are also in the training data: their scores are optimistic "
                       "(their own views reach their features through the encodings)", len(overlap))
    trained = train_models(train_snapshots, speed, models, config=config, progress=progress)
    last, last_targets = test_rows(test_snapshots)
    predictions = predict_videos(trained, last, last_targets)
    baselines = baseline_tables(train_snapshots, last, last_targets)
    table = metrics_table(predictions, baselines)
    written = []
    if predictions_path is not None:
        path = Path(predictions_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        for i, (name, frame) in enumerate(predictions.items()):
            target = path if i == 0 else path.with_name(f"{path.stem}_{name}{path.suffix}")
            frame.to_csv(target, index=False)
            written.append(str(target))
    return {"metrics": table, "predictions": predictions, "oof": trained.reports, "trained": trained,
            "test_videos": int(len(last)), "written": written, "seconds": round(time.perf_counter() - start, 1)}
