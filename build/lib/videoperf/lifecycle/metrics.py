"""Evaluation metrics and the two naive baselines every model is compared with.

Views span six orders of magnitude, so the headline numbers are on log views (``log1p``): R², MAE and
Spearman there weigh a small channel's video as much as a viral one. The raw-view RMSE / MAE / MAPE / R²
are reported too, for comparison with the project's first README (docs/results.md, "Why log-scale
metrics"), but they are dominated by a few huge videos.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from videoperf.lifecycle.targets import STAGES


def _finite_pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_pred: shape {y_pred.shape} differs from y_true {y_true.shape}")
    keep = np.isfinite(y_true) & np.isfinite(y_pred)
    return y_true[keep], y_pred[keep]


def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination; NaN when fewer than two finite pairs or no variance."""
    y_true, y_pred = _finite_pair(y_true, y_pred)
    if len(y_true) < 2:
        return math.nan
    total = float(np.sum((y_true - y_true.mean()) ** 2))
    return math.nan if total == 0 else 1.0 - float(np.sum((y_true - y_pred) ** 2)) / total


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error over the pairs where both values are known (missing targets are masked)."""
    y_true, y_pred = _finite_pair(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred))) if len(y_true) else math.nan


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = _finite_pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2))) if len(y_true) else math.nan


def mape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute percentage error in percent, over actuals above zero (a zero actual has no percentage)."""
    y_true, y_pred = _finite_pair(y_true, y_pred)
    keep = y_true > 0
    if not keep.any():
        return math.nan
    return float(np.mean(np.abs(y_true[keep] - y_pred[keep]) / y_true[keep]) * 100.0)


def spearman(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    y_true, y_pred = _finite_pair(y_true, y_pred)
    if len(y_true) < 2 or np.all(y_true == y_true[0]) or np.all(y_pred == y_pred[0]):
        return math.nan
    return float(spearmanr(y_true, y_pred).statistic)


def views_metrics(actual_views: np.ndarray, predicted_views: np.ndarray) -> dict[str, float]:
    """Log-scale R² / MAE / Spearman and raw-scale RMSE / MAE / MAPE / R² of view predictions."""
    actual = np.asarray(actual_views, dtype=float)
    predicted = np.asarray(predicted_views, dtype=float)
    log_true, log_pred = np.log1p(np.clip(actual, 0, None)), np.log1p(np.clip(predicted, 0, None))
    return {
        "log_r2": r2(log_true, log_pred), "log_mae": mae(log_true, log_pred),
        "spearman": spearman(log_true, log_pred),
        "rmse": rmse(actual, predicted), "mae": mae(actual, predicted), "mape": mape(actual, predicted),
        "r2": r2(actual, predicted),
    }


def classification_metrics(actual: pd.Series | np.ndarray, predicted: pd.Series | np.ndarray,
                           labels: tuple[str, ...] = STAGES) -> dict[str, float]:
    """Accuracy and macro-F1 over the rows whose actual label is known."""
    actual = pd.Series(actual).reset_index(drop=True)
    predicted = pd.Series(predicted).reset_index(drop=True)
    known = actual.notna() & predicted.notna()
    actual, predicted = actual[known].astype(str), predicted[known].astype(str)
    if actual.empty:
        return {"accuracy": math.nan, "macro_f1": math.nan, "n": 0}
    f1s = []
    for label in labels:
        true_pos = float(((actual == label) & (predicted == label)).sum())
        support = float((actual == label).sum())
        chosen = float((predicted == label).sum())
        if support == 0 and chosen == 0:
            continue
        f1s.append(2 * true_pos / (support + chosen))
    return {"accuracy": float((actual == predicted).mean()), "macro_f1": float(np.mean(f1s)), "n": int(len(actual))}


def interval_metrics(actual_views: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> dict[str, float]:
    """Share of actuals inside [lower, upper] and the median width in log views (a ratio, scale-free)."""
    actual = np.asarray(actual_views, dtype=float)
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    keep = np.isfinite(actual) & np.isfinite(lower) & np.isfinite(upper)
    if not keep.any():
        return {"coverage": math.nan, "median_log_width": math.nan}
    inside = (actual[keep] >= lower[keep]) & (actual[keep] <= upper[keep])
    width = np.log1p(upper[keep]) - np.log1p(lower[keep])
    return {"coverage": float(inside.mean()), "median_log_width": float(np.median(width))}


def evaluate_predictions(predictions: pd.DataFrame) -> dict[str, float]:
    """Every metric the predictions table supports (the CSV written by ``videoperf evaluate``)."""
    out = {f"views_{key}": value for key, value in
           views_metrics(predictions["actual_views"], predictions["predicted_views"]).items()}
    if {"views_lo", "views_hi"} <= set(predictions):
        out.update({f"interval_{key}": value for key, value in
                    interval_metrics(predictions["actual_views"], predictions["views_lo"],
                                     predictions["views_hi"]).items()})
    for target in ("like_ratio", "time_to_peak_days", "decay_rate"):
        if f"predicted_{target}" in predictions and f"actual_{target}" in predictions:
            out[f"{target}_mae"] = mae(predictions[f"actual_{target}"], predictions[f"predicted_{target}"])
    if "predicted_lifecycle_stage" in predictions and "actual_lifecycle_stage" in predictions:
        stage = classification_metrics(predictions["actual_lifecycle_stage"], predictions["predicted_lifecycle_stage"])
        out.update({"stage_accuracy": stage["accuracy"], "stage_macro_f1": stage["macro_f1"]})
    return out


def last_observation(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per video: its latest observation."""
    return frame.sort_values(["video_id", "observed_at"], kind="stable").groupby("video_id", sort=False).tail(1)


def baseline_predictions(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """Log-view predictions of the global-mean and channel-mean baselines for each row of ``test``.

    Both are fitted on the training videos' last observations only; a channel never seen in training
    falls back to the global mean.
    """
    last = last_observation(train)
    log_views = np.log1p(last["views"].clip(lower=0))
    global_mean = float(log_views.mean())
    channel_mean = log_views.groupby(last["channel_id"].to_numpy()).mean()
    channel = test["channel_id"].map(channel_mean).fillna(global_mean)
    return pd.DataFrame({"global_mean": np.full(len(test), global_mean), "channel_mean": channel.to_numpy()},
                        index=test.index)


def naive_target_baselines(train_targets: pd.DataFrame) -> dict[str, object]:
    """Median of each numeric target and the majority stage, from the training rows."""
    out: dict[str, object] = {}
    for target in ("like_ratio", "time_to_peak_days", "decay_rate"):
        if target in train_targets:
            out[target] = float(train_targets[target].median())
    if "lifecycle_stage" in train_targets:
        mode = train_targets["lifecycle_stage"].dropna().mode()
        out["lifecycle_stage"] = str(mode.iloc[0]) if len(mode) else "decay"
    return out
