"""Rolling-origin backtest: train once at each origin, score each following calendar month on its own.

Users train once and predict for weeks or months, so one split whose test window starts the day training ends
says little about a model a month or three later. For each origin the models are trained on every observation
made before it (videos published before it), exactly as ``split_by_date`` cuts; then the videos published in
each of the following calendar months (1, 2, 3 months ahead, as far as the data goes) are scored separately,
each video once at its last observed age. Every origin x month cell reports, for each model and both
baselines, log-views R², Spearman, log-MAE, the mean log error (bias: positive = too many views predicted) and
the 80% interval's coverage and median width, with channel history ``live`` (every observation before each
publish time, as a deployed system has it) and ``train`` (frozen at the origin).

``feature_ablation`` retrains one LightGBM learner per origin without each feature family (and with recency
weights) and scores it per month, so that no feature is kept on the strength of one split.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from videoperf.config import Config
from videoperf.data.sampling import balanced_rows, recency_weights, training_cut
from videoperf.data.splits import split_by_date
from videoperf.evaluation.holdout import (
    HISTORIES,
    baseline_tables,
    check_history,
    live_history,
    predict_under,
    test_rows,
)
from videoperf.features.builder import feature_families
from videoperf.lifecycle.metrics import interval_metrics, mae, r2, spearman
from videoperf.lifecycle.targets import log_views
from videoperf.models.registry import check_models
from videoperf.plain import plain
from videoperf.training.pipeline import TrainedModels, prepare_snapshots, train_models
from videoperf.training.settings import resolve

logger = logging.getLogger(__name__)

DEFAULT_ORIGINS = ("2026-02-01", "2026-03-01", "2026-04-01")
MONTHS_AHEAD = 3
CELL_METRICS = ("log_r2", "spearman", "log_mae", "bias", "coverage", "median_width")
# Other recency half-lives the ablation tries beside the configured one (``training.recency_half_life_days``).
RECENCY_HALF_LIVES_DAYS = (30.0, 90.0)


def _utc(value: str | pd.Timestamp) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"origin: cannot parse {value!r} as a date") from error
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def month_windows(origin: str | pd.Timestamp, published_to: pd.Timestamp, months_ahead: int = MONTHS_AHEAD
                  ) -> list[tuple[int, pd.Timestamp, pd.Timestamp]]:
    """``(months ahead, start, end)`` of the calendar months after ``origin`` that hold published videos."""
    start = _utc(origin)
    windows = []
    for k in range(1, months_ahead + 1):
        end = start + pd.DateOffset(months=1)
        if start > published_to:
            break
        windows.append((k, start, end))
        start = end
    return windows


def cell_scores(frame: pd.DataFrame) -> dict[str, float]:
    """The backtest's metrics for one table of predictions (``actual_views``, ``predicted_views``, interval)."""
    actual = np.log1p(frame["actual_views"].to_numpy(float).clip(0, None))
    predicted = np.log1p(frame["predicted_views"].to_numpy(float).clip(0, None))
    out = {"videos": int(len(frame)), "log_r2": r2(actual, predicted), "spearman": spearman(actual, predicted),
           "log_mae": mae(actual, predicted),
           "bias": float(np.mean(predicted - actual)) if len(frame) else math.nan,
           "coverage": math.nan, "median_width": math.nan}
    if {"views_lo", "views_hi"} <= set(frame):
        interval = interval_metrics(frame["actual_views"], frame["views_lo"], frame["views_hi"])
        out.update(coverage=interval["coverage"], median_width=interval["median_log_width"])
    return out


def _month_masks(last: pd.DataFrame, windows: list[tuple[int, pd.Timestamp, pd.Timestamp]]
                 ) -> dict[int, np.ndarray]:
    published = pd.to_datetime(last["published_at"], utc=True)
    return {k: ((published >= start) & (published < end)).to_numpy() for k, start, end in windows}


def backtest_origin(snapshots: pd.DataFrame, origin: str | pd.Timestamp, speed: str = "fast",
                    models: Sequence[str] | str = ("ensemble", "deep_learning"), *, config: Config | None = None,
                    histories: Sequence[str] = HISTORIES, months_ahead: int = MONTHS_AHEAD, ablation: bool = False,
                    progress: bool = False) -> dict[str, Any]:
    """Train at ``origin`` on ``snapshots`` (the whole canonical table) and score each following month.

    Returns ``{"origin", "train_videos", "train_seconds", "cells": [...], "ablation": ...}``; a cell is
    ``{"months_ahead", "month", "history", "scores": {model or baseline: cell_scores}}``.
    """
    settings = resolve(speed, models, config=config, progress=progress)
    for history in histories:
        check_history(history)
    origin = _utc(origin)
    train, test = split_by_date(snapshots, origin)
    windows = month_windows(origin, test["published_at"].max(), months_ahead)
    trained = train_models(train, settings, observed_forecaster=False)
    last, last_targets = test_rows(test)
    in_windows = ((last["published_at"] >= windows[0][1]) & (last["published_at"] < windows[-1][2])).to_numpy()
    last, last_targets = last[in_windows].reset_index(drop=True), last_targets[in_windows].reset_index(drop=True)
    masks = _month_masks(last, windows)
    out: dict[str, Any] = {"origin": str(origin.date()), "train_videos": int(train["video_id"].nunique()),
                           "train_snapshots": int(len(train)), "train_seconds": trained.seconds, "cells": []}
    predictions, channels = predict_under(trained, last, last_targets, snapshots, histories)
    live = next((channels[h] for h in ("live", "live_channels") if h in channels), None)
    if ablation and live is None:
        live = live_history(trained, snapshots)
    for history in histories:
        tables = {**predictions[history], **baseline_tables(train, last, last_targets, history=channels[history])}
        for k, start, _ in windows:
            mask = masks[k]
            out["cells"].append({"months_ahead": k, "month": start.strftime("%Y-%m"), "history": history,
                                 "scores": {name: cell_scores(table[mask]) for name, table in tables.items()}})
    if ablation:
        out["ablation"] = feature_ablation(trained, train, last, live, masks)
    return out


def feature_ablation(trained: TrainedModels, train_snapshots: pd.DataFrame, last: pd.DataFrame, history: Any,
                     masks: dict[int, np.ndarray]) -> dict[str, Any]:
    """One LightGBM learner (the preset's settings and the configured recency weights) with all features, without
    each feature family, without recency weights and with other half-lives; log-views R² and bias per month ahead
    (live channel history)."""
    from videoperf.models.ensemble.stacking import make_learner

    preset = trained.settings.preset
    seed = trained.seed
    snapshots = prepare_snapshots(train_snapshots)  # the row order the feature builder was fitted on
    rows = balanced_rows(snapshots["video_id"], preset.ensemble.max_train_rows, seed)
    X, y = trained.training.rows(rows), log_views(snapshots.iloc[rows])
    X_test, y_test = trained.features.transform(last, history=history), log_views(last)
    families = feature_families(list(X.columns))
    published, cut = snapshots["published_at"].iloc[rows], training_cut(snapshots)
    weights = recency_weights(published, cut, trained.config.training.recency_half_life_days)
    variants: dict[str, tuple[list[str], np.ndarray | None]] = {"all": ([], weights)}
    variants.update({f"without {family}": (columns, weights) for family, columns in families.items() if columns})
    variants["no recency weighting"] = ([], None)
    variants.update({f"recency half-life {h:.0f} d": ([], recency_weights(published, cut, h))
                     for h in RECENCY_HALF_LIVES_DAYS})
    results: dict[str, Any] = {}
    for name, (dropped, weight) in variants.items():
        keep = [c for c in X.columns if c not in dropped]
        model = make_learner("lightgbm", preset.ensemble.lightgbm, seed=seed)
        model.fit(X[keep], y, sample_weight=weight)
        pred = model.predict(X_test[keep])
        results[name] = {"n_features": len(keep), "months": {
            str(k): {"log_r2": r2(y_test[mask], pred[mask]), "bias": float(np.mean(pred[mask] - y_test[mask]))}
            for k, mask in masks.items() if mask.any()}}
        logger.info("ablation %s: %s", name, {k: round(v["log_r2"], 4) for k, v in results[name]["months"].items()})
    return {"learner": "lightgbm", "train_rows": int(len(rows)), "families": families, "results": results}


def run_backtest(snapshots: pd.DataFrame, origins: Sequence[str] = DEFAULT_ORIGINS, speed: str = "fast",
                 models: Sequence[str] | str = ("ensemble", "deep_learning"), *, config: Config | None = None,
                 histories: Sequence[str] = HISTORIES, months_ahead: int = MONTHS_AHEAD, ablation: bool = False,
                 progress: bool = True) -> dict[str, Any]:
    """``backtest_origin`` at every origin; ``summary`` averages the cells over origins by months ahead."""
    start = time.perf_counter()
    snapshots = prepare_snapshots(snapshots)
    results = []
    for origin in tqdm(origins, desc="backtest origins", disable=not progress):
        logger.info("backtest origin %s", origin)
        results.append(backtest_origin(snapshots, origin, speed, models, config=config, histories=histories,
                                       months_ahead=months_ahead, ablation=ablation, progress=False))
    report = {"speed": speed, "origins": results, "seconds": round(time.perf_counter() - start, 1)}
    report["summary"] = summary(report)
    report["model_age_decay"] = {model: model_age_decay(report, model) for model in check_models(models)}
    report["ablation_summary"] = ablation_summary(report)
    return report


def cells_frame(report: dict[str, Any]) -> pd.DataFrame:
    """One row per origin x month x history x model (or baseline), the metrics as columns."""
    rows = []
    for origin in report["origins"]:
        for cell in origin["cells"]:
            for name, scores in cell["scores"].items():
                rows.append({"origin": origin["origin"], "months_ahead": cell["months_ahead"], "month": cell["month"],
                             "history": cell["history"], "model": name, **scores})
    return pd.DataFrame(rows)


def summary(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Mean of every metric over origins, by history, model and months ahead (with how many origins)."""
    frame = cells_frame(report)
    if frame.empty:
        return []
    grouped = frame.groupby(["history", "model", "months_ahead"], sort=False)
    means = grouped[list(CELL_METRICS)].mean()
    means["origins"] = grouped.size()
    return [{"history": h, "model": m, "months_ahead": int(k), **{c: plain(v) for c, v in row.items()}}
            for (h, m, k), row in means.iterrows()]


def checks(report: dict[str, Any], models: Sequence[str] = ("ensemble", "deep_learning"), history: str = "live"
           ) -> dict[str, bool]:
    """The backtest's acceptance checks on ``history``: accuracy holding up with months ahead, bias and coverage
    in every cell (ensemble), and every model above the channel-mean baseline in every cell."""
    frame = cells_frame(report)
    frame = frame[frame["history"] == history]
    ens = frame[frame["model"] == "ensemble"]
    decay = model_age_decay(report, "ensemble", history)
    out = {
        "ensemble_log_r2_3m_within_0.03_of_1m": bool(decay and decay["drop"] <= 0.03),
        "ensemble_abs_bias_at_most_0.10": bool((ens["bias"].abs() <= 0.10).all()),
        "ensemble_coverage_0.75_to_0.85": bool(ens["coverage"].between(0.75, 0.85).all()),
    }
    channel = frame[frame["model"] == "channel_mean"].set_index(["origin", "months_ahead"])
    for model in models:
        scores = frame[frame["model"] == model].set_index(["origin", "months_ahead"])
        if scores.empty:
            continue
        for metric in ("log_r2", "spearman"):
            out[f"{model}_beats_channel_mean_{metric}"] = bool(
                (scores[metric] > channel.loc[scores.index, metric]).all())
    return out


def ablation_summary(report: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Mean over origins of each ablation variant's log R², its change against ``all`` and its bias, by months
    ahead (``{variant: {months: {...}}}``); empty without an ablation."""
    rows = [{"variant": name, "months": int(k), **scores}
            for origin in report["origins"] for name, result in origin.get("ablation", {}).get("results", {}).items()
            for k, scores in result["months"].items()]
    if not rows:
        return {}
    means = pd.DataFrame(rows).groupby(["variant", "months"], sort=False)[["log_r2", "bias"]].mean()
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (variant, months), row in means.iterrows():
        base = means.loc[("all", months), "log_r2"]
        out.setdefault(variant, {})[str(months)] = {"log_r2": float(row["log_r2"]), "bias": float(row["bias"]),
                                                     "change": float(row["log_r2"] - base)}
    return out


def model_age_decay(report: dict[str, Any], model: str = "ensemble", history: str = "live", months: int = 3
                    ) -> dict[str, Any] | None:
    """Log R² one and ``months`` months ahead, averaged over the origins that reach ``months`` (the same origins
    on both sides, so a later origin's easier first month does not pass for decay); None if none reaches."""
    frame = cells_frame(report)
    frame = frame[(frame["history"] == history) & (frame["model"] == model)]
    reaching = frame.loc[frame["months_ahead"] == months, "origin"].unique()
    if len(reaching) == 0:
        return None
    matched = frame[frame["origin"].isin(reaching)].groupby("months_ahead")["log_r2"].mean()
    return {"origins": [str(o) for o in reaching], "first": float(matched.loc[1]), "last": float(matched.loc[months]),
            "drop": float(matched.loc[1] - matched.loc[months]), "months": months}

