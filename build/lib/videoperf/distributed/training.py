"""Training and evaluation on a Dask cluster: ``videoperf train|evaluate --cluster local|tcp://HOST:PORT``.

What runs where (``docs/dask.md``):

* loading, targets, the time split, every training row's features, the test videos' features and predictions:
  on the workers, partition by partition (``videoperf.distributed.data``), with the single-machine functions;
* the feature pipeline, the forward-chaining folds, CatBoost, HistGradientBoosting, the forest, the meta-learner
  and the intervals (and the deep model, when asked for): on the client, by ``pipeline.train_models`` on a sample
  of whole videos (all of them up to ``FIT_VIDEOS``; the learners then take the preset's ``max_train_rows``
  balanced rows of it, as on one machine);
* the final XGBoost and LightGBM of the stack: ``xgboost.dask`` / ``lightgbm.dask`` on every training row, each
  video weighing the same (1 / its rows). The ensemble's report says so (``distributed`` in the manifest).
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from videoperf.config import Config, chosen_path
from videoperf.data.sampling import training_cut as sample_cut
from videoperf.distributed import data as dask_data
from videoperf.distributed.cluster import open_client
from videoperf.evaluation.holdout import (
    baseline_tables,
    check_history,
    metrics_table,
    predict_videos,
    test_rows,
    training_cut,
)
from videoperf.evaluation.live_level import RecentLevel, apply_level, fit_levels, level_rows, predict_level_rows
from videoperf.models.family import TrainSettings
from videoperf.training.pipeline import TrainedModels, prepare_snapshots, train_models
from videoperf.training.settings import resolve

if TYPE_CHECKING:
    import dask.dataframe as dd

logger = logging.getLogger(__name__)

# Whole videos the client fits the feature pipeline and the sampled learners on (the real export has 150,253).
FIT_VIDEOS = 200_000
DASK_LEARNERS = ("xgboost", "lightgbm")


def fit_videos(snapshots: dd.DataFrame, max_videos: int = FIT_VIDEOS) -> pd.DataFrame:
    """The client's sample: every row of about ``max_videos`` whole videos (all when there are fewer), chosen by a
    hash of the video id, so the sample does not depend on the partitioning."""
    n_videos = int(snapshots["video_id"].nunique().compute())
    if n_videos <= max_videos:
        return prepare_snapshots(snapshots.compute())
    share = max_videos / n_videos

    def keep(part: pd.DataFrame) -> pd.DataFrame:
        hashed = pd.util.hash_array(part["video_id"].to_numpy(dtype=object), hash_key="videoperf-sample")
        return part[(hashed % np.uint64(1_000_000)).astype(np.float64) < share * 1_000_000]

    sample = snapshots.map_partitions(keep, meta=snapshots._meta).compute()
    logger.info("dask: the client fits on %d of %d videos", sample["video_id"].nunique(), n_videos)
    return prepare_snapshots(sample)


def fit(snapshots: dd.DataFrame, settings: TrainSettings, client: Any, max_videos: int = FIT_VIDEOS, *,
        observed_forecaster: bool = True) -> TrainedModels:
    """Train every family of ``settings`` from canonical snapshots on the cluster (see the module docstring);
    ``observed_forecaster`` as in ``pipeline.train_models`` (fitted on the client's sample)."""
    start = time.perf_counter()
    if "target_encodings" not in settings.preset.features.excluded_families:
        raise ValueError("features.excluded_families: the Dask path needs 'target_encodings' left out")
    snapshots = client.persist(snapshots)
    sample = fit_videos(snapshots, max_videos)
    trained = train_models(sample, settings, observed_forecaster=observed_forecaster)
    if "ensemble" in trained.models:
        _fit_dask_learners(trained, snapshots, sample, client)
    trained.seconds = round(time.perf_counter() - start, 1)
    return trained


def _learner_params(trained: TrainedModels, name: str) -> dict[str, Any]:
    """The constructor arguments of the stack's ``name`` learner (``xgboost`` or ``lightgbm``), as fitted."""
    settings = trained.settings
    params = dict(getattr(settings.preset.ensemble, name))
    if name == "xgboost":
        return {**params, "tree_method": "hist", "random_state": settings.seed, "verbosity": 0}
    return {**params, "random_state": settings.seed, "verbose": -1}


def _fit_dask_learners(trained: TrainedModels, snapshots: dd.DataFrame, sample: pd.DataFrame, client: Any) -> None:
    """Refit the stack's final XGBoost and LightGBM on every training row with their Dask estimators."""
    import lightgbm.dask as dlgb
    import xgboost as xgb
    import xgboost.dask as dxgb

    from videoperf.models.ensemble.stacking import N_JOBS

    settings, ensemble = trained.settings, trained.models["ensemble"]
    dask_data.check_builder(trained.features)
    [builder] = client.scatter([trained.features], broadcast=True)
    rows = dask_data.feature_rows(snapshots, builder, settings.config.training.recency_half_life_days,
                                  sample_cut(sample))
    rows = client.persist(rows)
    X, y, w = dask_data.model_arrays(rows, ensemble.feature_names_)
    n_rows = int(X.shape[0])
    timings = {}
    if "xgboost" in ensemble.models_:
        begin = time.perf_counter()
        params = _learner_params(trained, "xgboost")
        distributed = dxgb.DaskXGBRegressor(**params)
        distributed.client = client
        distributed.fit(X, y, sample_weight=w)
        local = xgb.XGBRegressor(**params, n_jobs=N_JOBS)
        local.load_model(bytearray(distributed.get_booster().save_raw("ubj")))
        ensemble.models_["xgboost"] = local
        timings["xgboost"] = round(time.perf_counter() - begin, 1)
    if "lightgbm" in ensemble.models_:
        begin = time.perf_counter()
        distributed = dlgb.DaskLGBMRegressor(**_learner_params(trained, "lightgbm"), client=client)
        with warnings.catch_warnings():
            # lightgbm.dask gives each worker its own threads and says so about n_jobs: not a problem.
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
            distributed.fit(X, y, sample_weight=w)
        local = distributed.to_local()
        local.set_params(n_jobs=N_JOBS)
        ensemble.models_["lightgbm"] = local
        timings["lightgbm"] = round(time.perf_counter() - begin, 1)
    ensemble.__dict__.pop("_tree_arrays", None)
    report = trained.reports["ensemble"]
    report["distributed"] = {
        "learners_on_all_rows": {name: {"rows": n_rows, "library": f"{name}.dask", "fit_seconds": seconds}
                                 for name, seconds in timings.items()},
        "row_weight": "1 / rows of the video (every video weighs the same), times the recency weight",
        "learners_on_sample": [name for name in ensemble.models_ if name not in DASK_LEARNERS],
        "sample": {"videos": int(sample["video_id"].nunique()), "snapshots": int(len(sample)),
                   "max_train_rows": settings.preset.ensemble.max_train_rows},
        "note": "the meta-learner and the intervals come from the forward-chaining folds on the sample",
        "workers": len(client.scheduler_info()["workers"]),
    }
    client.cancel(rows)


def refit_in_process(trained: TrainedModels, rows: pd.DataFrame) -> dict[str, float]:
    """What ``_fit_dask_learners`` does on a cluster, in this process: the stack's XGBoost and LightGBM refit with
    the same arguments and weights on ``rows`` (every training row's ``dask_data.training_rows``, collected). For
    comparing the cluster's distributed training with one machine's on the same rows; fit seconds per learner."""
    import lightgbm as lgb
    import xgboost as xgb

    from videoperf.models.ensemble.stacking import N_JOBS

    ensemble = trained.models["ensemble"]
    X = rows[ensemble.feature_names_].to_numpy(np.float32)
    y, w = rows[dask_data.TARGET].to_numpy(float), rows[dask_data.WEIGHT].to_numpy(float)
    timings = {}
    for name, make in (("xgboost", xgb.XGBRegressor), ("lightgbm", lgb.LGBMRegressor)):
        if name in ensemble.models_:
            begin = time.perf_counter()
            ensemble.models_[name] = make(**_learner_params(trained, name), n_jobs=N_JOBS).fit(X, y, sample_weight=w)
            timings[name] = round(time.perf_counter() - begin, 1)
    ensemble.__dict__.pop("_tree_arrays", None)
    return timings


def train(source: str | Path, speed: str = "fast", artifacts_dir: str | Path | None = None,
          models: Sequence[str] | str = ("ensemble", "deep_learning"), *, cluster: Any = "local",
          seed: int | None = None, config: Config | None = None, progress: bool = True,
          observed_at: str | None = None, **cluster_options: Any) -> dict[str, Any]:
    """``videoperf.train`` on a cluster: ``source`` is a folder of partitions (local or an fsspec URL) or
    ``"synthetic"`` (``dask_data.synthetic_partitions``)."""
    from videoperf.serving.bundle import Bundle

    settings = resolve(speed, models, seed, config, progress)
    folder = chosen_path(artifacts_dir, settings.config.paths.artifacts_dir)
    with dask_data.synthetic_partitions(source, cluster) as parts, open_client(cluster, **cluster_options) as client:
        trained = fit(dask_data.load_snapshots(parts, observed_at=observed_at), settings, client)
    path = Bundle.save(trained, folder)
    return {"artifacts_dir": str(path), "models": list(trained.models), "oof": trained.reports,
            "seconds": trained.seconds, "data": trained.fingerprint}


class _Stats:
    """Channel statistics computed on the workers, answered in the order they were computed (for
    ``evaluation.baseline_tables``, which asks for exactly those rows)."""

    def __init__(self, stats: pd.DataFrame) -> None:
        self._stats = stats.reset_index(drop=True)

    def stats(self, channel_ids: pd.Series, published_at: pd.Series) -> pd.DataFrame:
        if len(channel_ids) != len(self._stats):
            raise ValueError(f"history: {len(channel_ids)} queries, {len(self._stats)} precomputed rows")
        return self._stats


def _last_rows(part: pd.DataFrame) -> pd.DataFrame:
    """Each test video's last observation with its targets (prefixed ``_t_``), as ``evaluation.test_rows``."""
    last, last_targets = test_rows(part)
    return pd.concat([last, last_targets.add_prefix("_t_")], axis=1)


def _predict_part(observed: pd.DataFrame, last: pd.DataFrame, trained: TrainedModels) -> dict[str, Any]:
    """Predictions for the test videos of a ``by_channel`` partition, with channel history from ``observed`` (the
    same partition of the observations)."""
    last, _ = dask_data.channel_part(last)
    _, observed = dask_data.channel_part(observed)
    if last.empty:
        return {}
    columns = [col for col in last if col.startswith("_t_")]
    targets = last[columns].rename(columns=lambda col: col.removeprefix("_t_")).reset_index(drop=True)
    last = last.drop(columns=columns).reset_index(drop=True)
    history = trained.features.channel_history(prepare_snapshots(observed))
    return {"last": last, "targets": targets, "stats": history.stats(last["channel_id"], last["published_at"]),
            "predictions": predict_videos(trained, last, targets, history=history)}


def predict_test(trained: TrainedModels, test: dd.DataFrame, channels: dd.DataFrame, client: Any
                 ) -> dict[str, Any]:
    """Every test video at its last observed age, predicted on the workers per channel partition with the history
    of ``channels`` (``dask_data.by_channel`` of the observations); the pieces in the single-machine order (by
    ``video_id``)."""
    import dask

    meta = _last_rows(test._meta)
    last = test.map_partitions(_last_rows, meta=meta, enforce_metadata=False)
    n = channels.npartitions
    pairs = zip(channels.to_delayed(), dask_data.by_channel(last, n).to_delayed())
    [light] = client.scatter([dataclasses.replace(trained, training=None)], broadcast=True)
    parts = [part for part in client.gather(client.compute([dask.delayed(_predict_part)(o, q, light)
                                                             for o, q in pairs])) if part]
    if not parts:
        raise ValueError("test: no test videos")
    order = np.argsort(pd.concat([p["last"]["video_id"] for p in parts], ignore_index=True).to_numpy(), kind="stable")

    def joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(frames, ignore_index=True).iloc[order].reset_index(drop=True)

    return {"last": joined([p["last"] for p in parts]), "targets": joined([p["targets"] for p in parts]),
            "stats": joined([p["stats"] for p in parts]),
            "predictions": {name: joined([p["predictions"][name] for p in parts]) for name in trained.models}}


def _level_part(observed: pd.DataFrame, rows: pd.DataFrame, trained: TrainedModels) -> pd.DataFrame | None:
    """Every model's predicted views of the live level's rows in a ``by_channel`` partition (``_row``: their
    position in ``level_rows``' order), with channel history from ``observed``."""
    rows, _ = dask_data.channel_part(rows)
    _, observed = dask_data.channel_part(observed)
    if rows.empty:
        return None
    history = trained.features.channel_history(prepare_snapshots(observed))
    predicted = predict_level_rows(trained, rows.drop(columns="_row"), history)
    return pd.DataFrame({"_row": rows["_row"].to_numpy(), **predicted})


def live_levels(trained: TrainedModels, snapshots: dd.DataFrame, client: Any, until: pd.Timestamp,
                channels: dd.DataFrame | None = None) -> dict[str, RecentLevel]:
    """``live_level.recent_level`` on a cluster: the snapshots of videos published after the training cut are
    collected on the client (what a live level learns from: weeks of data, not the whole history), and their rows
    are predicted on the workers with each channel's live history (``channels``: ``dask_data.by_channel`` of
    ``snapshots``, when the caller has it)."""
    import dask
    import dask.dataframe as dd

    cut = training_cut(trained)
    after = snapshots[snapshots["published_at"] > cut].compute()
    rows, start, end = level_rows(trained, after, until=until)
    if channels is None:
        channels = dask_data.by_channel(snapshots, max(snapshots.npartitions, 1))
    n = channels.npartitions
    with dask.config.set({"dataframe.convert-string": False}):  # tags and categories stay lists
        frame = dd.from_pandas(rows.assign(_row=np.arange(len(rows))), npartitions=n)
    pairs = zip(channels.to_delayed(), dask_data.by_channel(frame, n).to_delayed())
    [light] = client.scatter([dataclasses.replace(trained, training=None)], broadcast=True)
    parts = [part for part in client.gather(client.compute([dask.delayed(_level_part)(o, r, light)
                                                             for o, r in pairs])) if part is not None]
    predicted = pd.concat(parts, ignore_index=True).sort_values("_row") if parts else pd.DataFrame(
        {"_row": [], **{name: [] for name in trained.models}})
    if len(predicted) != len(rows):
        raise RuntimeError(f"live level: {len(predicted)} predictions for {len(rows)} rows")
    return fit_levels(rows, start, end, {name: predicted[name].to_numpy(float) for name in trained.models})


def evaluate(data: str | Path, split_date: str, speed: str = "fast", models: Sequence[str] | str = ("ensemble",),
             predictions: str | Path | None = None, *, cluster: Any = "local", seed: int | None = None,
             config: Config | None = None, progress: bool = True, history: str = "live",
             observed_at: str | None = None, **cluster_options: Any) -> dict[str, Any]:
    """``videoperf.evaluate(data=..., split_date=...)`` on a cluster; the same result keys and histories. ``data``:
    as ``train``'s ``source``."""
    settings = resolve(speed, models, seed, config, progress)
    check_history(history)
    start = time.perf_counter()
    with dask_data.synthetic_partitions(data, cluster) as parts, open_client(cluster, **cluster_options) as client:
        snapshots = client.persist(dask_data.load_snapshots(parts, observed_at=observed_at))
        train_side, test_side = dask_data.split(snapshots, split_date)
        trained = fit(train_side, settings, client, observed_forecaster=False)
        observed = snapshots if history != "train" else train_side
        # Shuffled by channel once, for the test videos' history and the live level's rows alike.
        channels = client.persist(dask_data.by_channel(observed, max(observed.npartitions, 1)))
        scored = predict_test(trained, test_side, channels, client)
        if history == "live":
            published = scored["last"]["published_at"]
            levels = live_levels(trained, snapshots, client, until=pd.to_datetime(published, utc=True).max(),
                                 channels=channels)
            scored["predictions"] = {name: apply_level(frame, levels[name].offsets(published))
                                     for name, frame in scored["predictions"].items()}
        train_rows = prepare_snapshots(train_side.compute())
    baselines = baseline_tables(train_rows, scored["last"], scored["targets"],
                                history=_Stats(scored["stats"]) if history != "train" else None)
    table = metrics_table(scored["predictions"], baselines)
    written = []
    if predictions is not None:
        path = Path(predictions)
        path.parent.mkdir(parents=True, exist_ok=True)
        for i, (name, frame) in enumerate(scored["predictions"].items()):
            target = path if i == 0 else path.with_name(f"{path.stem}_{name}{path.suffix}")
            frame.to_csv(target, index=False)
            written.append(str(target))
    return {"metrics": table, "predictions": scored["predictions"], "oof": trained.reports, "trained": trained,
            "history": history, "test_videos": int(len(scored["last"])), "written": written,
            "seconds": round(time.perf_counter() - start, 1)}
