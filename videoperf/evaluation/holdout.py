"""Evaluation on later videos: fit on one snapshot table, predict every video of another at its last age.

Target encodings come from the training snapshots only. ``history`` says what the system knows of the time after
its training cut: ``"live"`` (the default) answers channel history from every observation made strictly before
each test video's publish time and shifts each prediction by the live level (``videoperf.evaluation.live_level``: the
mean log error of the chart runs seen to end since the cut), as a deployed system has them; ``"live_channels"`` the
live channel history alone; ``"train"`` freezes channel history at the training cut. Every metric of
``videoperf.lifecycle.metrics`` is reported for each model beside the global-mean and channel-mean baselines
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
from videoperf.evaluation.live_level import apply_level, recent_level
from videoperf.features.channel_history import ChannelHistory
from videoperf.lifecycle.metrics import (
    baseline_predictions,
    evaluate_predictions,
    last_observation,
    naive_target_baselines,
)
from videoperf.lifecycle.targets import build_targets
from videoperf.models.registry import FAMILIES
from videoperf.models.survivors import read_with_survivors, snapshot_ages, snapshots_at_ages
from videoperf.training.pipeline import TrainedModels, prepare_snapshots, train_models
from videoperf.training.settings import resolve

logger = logging.getLogger(__name__)

OTHER_TARGETS = ("like_ratio", "lifecycle_stage", "time_to_peak_days", "decay_rate")
BASELINES = ("global_mean", "channel_mean")
HISTORIES = ("live", "live_channels", "train")
_DAY = 86400.0


def check_history(history: str) -> str:
    if history not in HISTORIES:
        raise ValueError(f"history: {history!r} is not a history mode; choose one of {list(HISTORIES)}")
    return history


def training_cut(trained: TrainedModels) -> pd.Timestamp:
    """The time of the last observation the models were trained on."""
    return pd.Timestamp(trained.features.training_window_["observed_to"])


def model_age_days(published_at: pd.Series, cut: pd.Timestamp) -> np.ndarray:
    """Days from the training cut to each publish time (how far past its data a model is asked)."""
    return ((pd.to_datetime(published_at, utc=True) - cut).dt.total_seconds() / _DAY).to_numpy(float)


def test_rows(test_snapshots: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each test video's last observation and its targets (same row order)."""
    test = prepare_snapshots(test_snapshots)
    targets = build_targets(test)
    last = last_observation(test)
    return last.reset_index(drop=True), targets.loc[last.index].reset_index(drop=True)


def predict_videos(trained: TrainedModels, last: pd.DataFrame, last_targets: pd.DataFrame,
                   history: ChannelHistory | None = None, on_chart: bool | None = None) -> dict[str, pd.DataFrame]:
    """One predictions table per model, one row per test video.

    ``history``: the channel history to answer from (``FeatureBuilder.channel_history`` of everything observed);
    default the training snapshots' (``trained.history``). ``on_chart``: whether the test rows are chart rows
    (``videoperf.models.survivors``); default: when the models were trained on a chart, the test rows are the
    same chart's.
    """
    return predict_histories(trained, last, last_targets, {"": history}, on_chart)[""]


def predict_histories(trained: TrainedModels, last: pd.DataFrame, last_targets: pd.DataFrame,
                      histories: dict[str, ChannelHistory | None], on_chart: bool | None = None
                      ) -> dict[str, dict[str, pd.DataFrame]]:
    """``predict_videos`` under several channel histories at once (``{name: history}``, None = the training
    snapshots'), in one model pass per family, so the deep model encodes each test video's text once."""
    chosen = [h if h is not None else trained.history for h in histories.values()]

    def features(rows: pd.DataFrame) -> pd.DataFrame:
        """Features of ``rows``: blocks of ``len(last)`` rows, block b under history b modulo their number."""
        n = len(last)
        return pd.concat([trained.features.transform(rows.iloc[b * n:(b + 1) * n], history=chosen[b % len(chosen)])
                          for b in range(len(rows) // n)], ignore_index=True)

    rows = pd.concat([last] * len(histories), ignore_index=True)
    X = features(rows)
    flags = np.full(len(rows), True if on_chart is None else bool(on_chart))
    base = pd.DataFrame({"video_id": last["video_id"].to_numpy(), "age_days": last_targets["age_days"].to_numpy(),
                         "model_age_days": model_age_days(last["published_at"], training_cut(trained)),
                         "actual_views": last["views"].to_numpy(float)})
    for target in OTHER_TARGETS:
        base[f"actual_{target}"] = last_targets[target].to_numpy()
    ordered = ["video_id", "age_days", "actual_views", "predicted_views", "views_lo", "views_hi"]
    out: dict[str, dict[str, pd.DataFrame]] = {name: {} for name in histories}
    for model_name, model in trained.models.items():
        family = FAMILIES[model_name]

        def predict(asked: pd.DataFrame, family: Any = family, model: Any = model) -> pd.DataFrame:
            return family.predict(model, X if asked is rows else features(asked), asked)

        predicted = read_with_survivors(trained.survivors, predict, rows, snapshot_ages(rows), flags,
                                        snapshots_at_ages, family.age_columns)
        for k, name in enumerate(histories):
            part = predicted.iloc[k * len(last):(k + 1) * len(last)]
            frame = base.copy()
            for column in part.columns:
                frame[column] = part[column].to_numpy()
            out[name][model_name] = frame[[c for c in ordered if c in frame] + [c for c in frame if c not in ordered]]
    return out


def baseline_tables(train_snapshots: pd.DataFrame, last: pd.DataFrame, last_targets: pd.DataFrame,
                    history: ChannelHistory | None = None) -> dict[str, pd.DataFrame]:
    """Prediction tables of the two naive baselines, in the same layout as a model's.

    With ``history`` the channel-mean baseline answers as of each test video's publish time, from the same
    observations the models' channel history uses (the mean latest log views of the channel's earlier videos).
    """
    train = prepare_snapshots(train_snapshots)
    train_targets = build_targets(train)
    logs = baseline_predictions(train, last)
    naive = naive_target_baselines(train_targets)
    if history is None:
        last_train = train_targets.groupby("video_id", sort=False).tail(1)
        channel_like = (pd.Series(last_train["like_ratio"].to_numpy(),
                                  index=train.loc[last_train.index, "channel_id"]).groupby(level=0).mean())
        like = last["channel_id"].map(channel_like).to_numpy(float)
    else:
        stats = history.stats(last["channel_id"], last["published_at"])
        logs["channel_mean"] = np.where(stats["channel_mean_log_views"].notna(),
                                        stats["channel_mean_log_views"], logs["global_mean"])
        like = stats["channel_like_ratio"].to_numpy(float)
    out = {}
    for name in BASELINES:
        frame = pd.DataFrame({"actual_views": last["views"].to_numpy(float),
                              "predicted_views": np.expm1(logs[name].to_numpy())})
        for target in OTHER_TARGETS:
            frame[f"actual_{target}"] = last_targets[target].to_numpy()
            if target in naive:
                frame[f"predicted_{target}"] = naive[target]
        if name == "channel_mean" and "like_ratio" in naive:
            frame["predicted_like_ratio"] = np.where(np.isfinite(like), like, naive["like_ratio"])
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


def live_history(trained: TrainedModels, observed: pd.DataFrame) -> ChannelHistory:
    """The channel history a deployed system has: every observation in ``observed`` (training and later)."""
    return trained.features.channel_history(prepare_snapshots(observed))


def predict_under(trained: TrainedModels, last: pd.DataFrame, last_targets: pd.DataFrame, observed: pd.DataFrame,
                  histories: Sequence[str]
                  ) -> tuple[dict[str, dict[str, pd.DataFrame]], dict[str, ChannelHistory | None]]:
    """Prediction tables of every model under each of ``histories`` (``HISTORIES``), ``observed`` being every
    snapshot a live system has (training and later), and the channel history each mode answers from."""
    for history in histories:
        check_history(history)
    live = live_history(trained, observed) if set(histories) & {"live", "live_channels"} else None
    channels = {h: None if h == "train" else live for h in histories}
    modes = {"live_channels" if h == "live" else h: channels[h] for h in histories}
    tables = predict_histories(trained, last, last_targets, modes)
    if "live" in histories:
        levels = recent_level(trained, observed, live, until=pd.to_datetime(last["published_at"], utc=True).max())
        tables["live"] = {name: apply_level(frame, levels[name].offsets(last["published_at"]))
                          for name, frame in tables["live_channels"].items()}
    return {h: tables[h] for h in histories}, channels


def evaluate(train_snapshots: pd.DataFrame, test_snapshots: pd.DataFrame, speed: str = "fast",
             models: Sequence[str] | str = ("ensemble",), predictions_path: str | Path | None = None,
             config: Config | None = None, progress: bool = True, history: str = "live",
             observed: pd.DataFrame | None = None, seed: int | None = None,
             observed_k: int | Sequence[int] | None = None) -> dict[str, Any]:
    """Fit on ``train_snapshots``, predict every video of ``test_snapshots`` at its last observed age.

    ``history``: ``"live"`` answers each test video's channel history from every observation made strictly
    before its publish time, in ``observed`` (default: training and test snapshots together), and applies the
    live level learnt from the same observations; ``"live_channels"`` the channel history alone; ``"train"``
    channel history from the training snapshots only, no level. Returns ``{"metrics": DataFrame,
    "predictions": {model: DataFrame}, "oof": reports, "seconds": ...}``. ``predictions_path``: the CSV of the
    (first) model; further models go to ``<stem>_<model>.csv``.
    ``observed_k`` (K, or several): also forecast every test video with more than K observations at its last
    observed age from its first K (``observed_tables``: the bundle's forecaster, Szabo-Huberman and the models
    before publishing, on the same videos); the result's ``observed`` lists, per K, their metrics and table, and
    ``predictions_path`` receives those tables (one after the other, ``observed_used`` = K) instead of the
    models' own.
    """
    check_history(history)
    observed_ks = check_observed_k(observed_k)
    settings = resolve(speed, models, seed, config, progress)
    start = time.perf_counter()
    overlap = np.intersect1d(train_snapshots["video_id"].unique(), test_snapshots["video_id"].unique())
    if len(overlap):
        logger.warning("%d test videos are also in the training data: their scores are optimistic "
                       "(their own views reach their features through the encodings)", len(overlap))
    trained = train_models(train_snapshots, settings, observed_forecaster=bool(observed_ks))
    last, last_targets = test_rows(test_snapshots)
    if observed is None:
        observed = pd.concat([train_snapshots, test_snapshots], ignore_index=True)
    tables, channels = predict_under(trained, last, last_targets, observed, [history])
    predictions = tables[history]
    baselines = baseline_tables(train_snapshots, last, last_targets, history=channels[history])
    table = metrics_table(predictions, baselines)
    written = []
    found = None
    if observed_ks:
        if trained.observed is None:
            raise ValueError("observed: the training data had too few series to fit the forecaster from observed "
                             "days")
        live = channels[history] if channels[history] is not None else trained.history
        found = []
        for k in observed_ks:
            tables_k = observed_tables(trained, test_snapshots, k, live, predictions)
            found.append({"k": k, "videos": int(len(tables_k["curve"])), "table": tables_k["curve"],
                          "metrics": metrics_table({"curve": tables_k["curve"]},
                                                   {name: f for name, f in tables_k.items() if name != "curve"})})
    if predictions_path is not None:
        path = Path(predictions_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if found is not None:
            pd.concat([entry["table"] for entry in found], ignore_index=True).to_csv(path, index=False)
            written.append(str(path))
        for i, (name, frame) in enumerate({} if found is not None else predictions.items()):
            target = path if i == 0 else path.with_name(f"{path.stem}_{name}{path.suffix}")
            frame.to_csv(target, index=False)
            written.append(str(target))
    return {"metrics": table, "predictions": predictions, "oof": trained.reports, "trained": trained,
            "history": history, "observed": found,
            "test_videos": int(len(last)), "written": written, "seconds": round(time.perf_counter() - start, 1)}


def check_observed_k(k: Any) -> list[int]:
    """``observed_k``: None (none), a whole number of observations >= 1, or several (sorted, unique)."""
    if k is None:
        return []
    values = list(k) if isinstance(k, (list, tuple)) else [k]
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"observed: the number of observations to forecast from must be a whole number >= 1, "
                             f"got {value!r}")
    return sorted({int(value) for value in values})


def observed_tables(trained: TrainedModels, test_snapshots: pd.DataFrame, k: int, history: ChannelHistory,
                    predictions: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Every test video with more than ``k`` observations, forecast at its last observed age from its first ``k``.

    ``curve``: the bundle's forecaster (``trained.observed``), with the channel statistics of ``history`` as of
    each publish time; ``szabo_huberman``: the baseline fitted on the same training videos; ``<model> (no
    observations)``: each model's own prediction (``predictions``) of the same videos. Tables share the
    layout of a model's (``actual_views``, ``predicted_views``, ``views_lo``, ``views_hi``), plus
    ``observed_days`` / ``observed_views`` (the k-th observation) in ``curve``."""
    from videoperf.forecasting.series import first_k
    from videoperf.lifecycle.curve import intervals_from_arrays

    test = prepare_snapshots(test_snapshots)
    age = (test["observed_at"] - test["published_at"]).dt.total_seconds().to_numpy(float) / _DAY
    test = test[age > 0].assign(_age=age[age > 0])
    counts = test.groupby("video_id")["video_id"].transform("size").to_numpy()
    test = test[counts > k].reset_index(drop=True)
    iv = intervals_from_arrays(test["video_id"].to_numpy(), test["_age"].to_numpy(), test["views"].to_numpy(float))
    # Rows, not ``groupby.first()``, which would skip a missing value (hidden likes) for a later row's.
    first = test.drop_duplicates("video_id", keep="first").set_index("video_id").reindex(iv.video_ids)
    last = test.drop_duplicates("video_id", keep="last").set_index("video_id").reindex(iv.video_ids)
    stats = history.stats(first["channel_id"].to_numpy(), first["published_at"].to_numpy())
    videos = {"channel_avg_views": stats["channel_avg_views"].to_numpy(float),
              "channel_video_count": stats["channel_video_count"].to_numpy(float),
              "categories": first["categories"].tolist(), "duration_seconds": first["duration_seconds"].to_numpy(float),
              "published_at": first["published_at"]}
    n = len(iv.video_ids)
    target = last["_age"].to_numpy(float)
    actual = last["views"].to_numpy(float)
    found = trained.observed.forecast(first_k(iv, k), first["likes"].to_numpy(float), videos, np.arange(n), target)
    sh_point, sh_lo, sh_hi = trained.observed.baseline(found.last_age, found.last_views, target, k)
    base = pd.DataFrame({"video_id": iv.video_ids, "age_days": target, "actual_views": actual})
    out = {"curve": base.assign(predicted_views=found.point, views_lo=found.lo, views_hi=found.hi,
                                observed_days=found.last_age, observed_views=found.last_views, observed_used=k,
                                sh_predicted_views=sh_point, sh_views_lo=sh_lo, sh_views_hi=sh_hi),
           "szabo_huberman": base.assign(predicted_views=sh_point, views_lo=sh_lo, views_hi=sh_hi)}
    for name, frame in predictions.items():
        own = frame.set_index("video_id").reindex(iv.video_ids)
        columns = [c for c in ("predicted_views", "views_lo", "views_hi") if c in own]
        prior = base.copy()
        for column in columns:
            prior[column] = own[column].to_numpy(float)
        out["curve"][f"{name}_prior_predicted_views"] = own["predicted_views"].to_numpy(float)
        out[f"{name} (no observations)"] = prior
    return out
