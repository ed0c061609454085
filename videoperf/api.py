"""The Python API in one place: train, evaluate and calibrate bundles, and predict with them.

``videoperf`` exposes these names; ``predict.py`` and ``model_update.py`` re-export them for scripts that know
those files. Training code is imported inside the training functions, so importing this module to predict loads
none of it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from videoperf.config import Config, chosen_path
from videoperf.serving.bundle import Bundle, load_bundle
from videoperf.serving.calibrate import calibrate, calibration_check
from videoperf.serving.predict import predict_many, predict_performance, predict_trajectory
from videoperf.serving.predictions import predict_rows
from videoperf.serving.typical import typical_performance

__all__ = ["Bundle", "build_targets", "calibrate", "calibration_check", "evaluate", "fit", "generate_synthetic",
           "load_bundle", "load_data", "predict_batch", "predict_many", "predict_performance", "predict_trajectory",
           "save", "simulated_uploads", "train", "typical_performance"]


def load_data(source: str | Path | pd.DataFrame, observed_at: str | None = None) -> pd.DataFrame:
    """The canonical snapshot table (one row per video per UTC day) from any supported source.

    ``observed_at``: the snapshot time of video-resource files without a snapshot column.
    """
    from videoperf.data.sources import load_data as _load

    return _load(source, observed_at=observed_at)


def build_targets(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Per-observation targets: views at age, like ratio, lifecycle stage, time to peak, decay rate."""
    from videoperf.lifecycle.targets import build_targets as _build

    return _build(snapshots)


def generate_synthetic(n_videos: int, seed: int = 0, *, end: str | None = None) -> tuple[pd.DataFrame, Any]:
    """Simulated raw API-format rows of videos published up to ``end`` (a UTC date, default today) and their
    ground truth (``videoperf.data.synthetic.SyntheticTruth``)."""
    from videoperf.data.synthetic import generate_synthetic as _generate

    return _generate(n_videos, seed, end=end)


def fit(snapshots: pd.DataFrame, speed: str = "fast", models: Sequence[str] | str = ("ensemble", "deep_learning"),
        *, seed: int | None = None, config: Config | None = None, progress: bool = True) -> Any:
    """Fit the shared features and the requested model families on training snapshots (nothing written).

    Returns a ``videoperf.training.pipeline.TrainedModels`` (``features``, ``models``, ``reports`` with the OOF
    scores, ``seconds``); ``save`` writes it as the artifact bundle.
    """
    from videoperf.data.sources import as_snapshots
    from videoperf.training.pipeline import train_models
    from videoperf.training.settings import resolve

    return train_models(as_snapshots(snapshots), resolve(speed, models, seed, config, progress))


def save(trained: Any, artifacts_dir: str | Path | None = None, metrics: pd.DataFrame | dict | None = None) -> Path:
    """Write ``trained`` (from ``fit``) as the artifact bundle, with test ``metrics`` in the manifest."""
    folder = chosen_path(artifacts_dir, trained.config.paths.artifacts_dir)
    extra = None
    if metrics is not None:
        extra = {"test": metrics.to_dict() if isinstance(metrics, pd.DataFrame) else dict(metrics)}
    return Bundle.save(trained, folder, extra_metrics=extra)


def train(source: str | Path | pd.DataFrame, speed: str = "fast", artifacts_dir: str | Path | None = None,
          models: Sequence[str] | str = ("ensemble", "deep_learning"), *, seed: int | None = None,
          config: Config | None = None, progress: bool = True, observed_at: str | None = None,
          cluster: Any = None) -> dict[str, Any]:
    """Train the requested model families on every video of ``source`` and write the artifact bundle.

    Returns ``{"artifacts_dir", "models", "oof", "seconds", "data"}``; the out-of-fold scores of each
    base learner and of the stack are under ``oof["ensemble"]``. ``config``: default ``model_config.json``.
    ``cluster``: ``"local"``, ``"tcp://HOST:PORT"`` or a ``distributed.Client`` trains on Dask
    (``videoperf.distributed.training``; ``source`` a folder of partitions or ``"synthetic"``).
    """
    if cluster is not None:
        from videoperf.distributed import training as dask_training

        return dask_training.train(source, speed, artifacts_dir, models, cluster=cluster, seed=seed,
                                   config=config, progress=progress, observed_at=observed_at)
    from videoperf.data.sources import as_snapshots
    from videoperf.training.pipeline import train_models
    from videoperf.training.settings import resolve

    settings = resolve(speed, models, seed, config, progress)  # every choice checked before the data is read
    folder = chosen_path(artifacts_dir, settings.config.paths.artifacts_dir)
    trained = train_models(as_snapshots(source, observed_at), settings)
    path = Bundle.save(trained, folder)
    return {"artifacts_dir": str(path), "models": list(trained.models), "oof": trained.reports,
            "seconds": trained.seconds, "data": trained.fingerprint}


def evaluate(train_source: str | Path | pd.DataFrame | None = None,
             test_source: str | Path | pd.DataFrame | None = None, speed: str = "fast",
             models: Sequence[str] | str = ("ensemble",), predictions: str | Path | None = None, *,
             data: str | Path | pd.DataFrame | None = None, split_date: str | None = None,
             seed: int | None = None, config: Config | None = None, progress: bool = True,
             history: str = "live", observed_at: str | None = None, cluster: Any = None,
             observed: int | Sequence[int] | None = None) -> dict[str, Any]:
    """Fit on ``train_source`` and score every video of ``test_source`` at its last observed age, or, with
    ``data`` and ``split_date``, train on videos published before the date and test on those on or after it.

    ``history``: ``"live"`` (default) gives each test video the channel history of every observation made
    strictly before its publish time and the live level learnt from them, as a deployed system has both;
    ``"live_channels"`` the channel history alone; ``"train"`` freezes channel history at the training cut.
    Returns the ``videoperf.evaluation.holdout.evaluate`` result (``metrics`` table with both baselines, ...).
    ``cluster`` (with ``data`` and ``split_date``): run on Dask, as ``train``.
    ``observed``: K (or several), forecast every test video with more than K observations at its last observed
    age from its first K (the bundle's forecaster from observed days beside Szabo-Huberman, both fitted on the
    training videos, and the models before publishing, on the same videos): ``result["observed"]``, one entry
    per K; the predictions CSV is then those tables, with ``observed_days`` / ``observed_views``.
    """
    if cluster is not None and observed is not None:
        raise ValueError("observed: forecasts from observed days are not evaluated on a cluster; drop --cluster")
    if cluster is not None:
        from videoperf.distributed import training as dask_training

        if data is None or split_date is None or train_source is not None or test_source is not None:
            raise ValueError("cluster: evaluating on a cluster takes data and split_date")
        return dask_training.evaluate(data, split_date, speed, models, predictions, cluster=cluster, seed=seed,
                                      config=config, progress=progress, history=history, observed_at=observed_at)
    from videoperf.data.sources import as_snapshots
    from videoperf.data.splits import split_by_date
    from videoperf.evaluation.holdout import check_history
    from videoperf.evaluation.holdout import evaluate as _evaluate
    from videoperf.training.settings import resolve

    settings = resolve(speed, models, seed, config, progress)  # every choice checked before the data is read
    check_history(history)
    if data is not None or split_date is not None:
        if data is None or split_date is None or train_source is not None or test_source is not None:
            raise ValueError("evaluate: give either train_source and test_source, or data and split_date")
        observed_frame = as_snapshots(data, observed_at)
        train_frame, test_frame = split_by_date(observed_frame, split_date)
    else:
        if train_source is None or test_source is None:
            raise ValueError("evaluate: give either train_source and test_source, or data and split_date")
        train_frame, test_frame = as_snapshots(train_source, observed_at), as_snapshots(test_source, observed_at)
        observed_frame = None
    return _evaluate(train_frame, test_frame, settings.speed, settings.models, predictions, config=settings.config,
                     progress=progress, history=history, observed=observed_frame, seed=settings.seed,
                     observed_k=observed)


def simulated_uploads(folder: str | Path | None = None, n_channels: int = 30, seed: int = 0, *,
                      end: str | None = None) -> Path:
    """A simulated channel-uploads export (``videoperf.data.population``: every upload of ``n_channels`` ordinary
    channels, one file per monthly snapshot) written to ``folder`` (default: a new temporary folder). ``end``: the
    last publishing day, default ``data.synthetic_end`` of model_config.json (null: today), the calendar of
    ``load_data("synthetic")``."""
    from videoperf.config import load_config
    from videoperf.data.population import generate_population, write_upload_snapshots

    end = load_config().data.synthetic_end if end is None else end
    folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="channel_uploads_"))
    write_upload_snapshots(generate_population(n_channels, seed, end=end), folder)
    return folder


def predict_batch(rows: pd.DataFrame | str | os.PathLike, model_type: str = "ensemble", *,
                  artifacts_dir: str | os.PathLike | None = None, cluster: Any = None,
                  output: str | os.PathLike | None = None) -> pd.DataFrame | dict[str, Any]:
    """Predictions for many videos: a DataFrame or a CSV / parquet path with the arguments of
    ``predict_performance`` as columns (``tags`` / ``categories`` as lists, or comma-separated text in CSV).

    Returns one row per input row: ``video_id`` when given, ``predicted_views``, ``views_lo``, ``views_hi``, ...
    ``cluster`` (``"local"``, ``"tcp://HOST:PORT"`` or a ``distributed.Client``): ``rows`` is a file or folder of
    partitions, each scored on a Dask worker into one parquet file of the folder ``output``; returns
    ``{"rows", "partitions", "written"}`` (``videoperf.distributed.scoring``).
    """
    if cluster is None:
        return predict_rows(rows, model_type, artifacts_dir)
    from videoperf.distributed.scoring import score_partitions  # Dask only on this path

    if output is None or isinstance(rows, pd.DataFrame):
        raise ValueError("cluster: give rows as a file or folder of partitions and an output folder")
    return score_partitions(rows, output, model_type, cluster=cluster, artifacts_dir=artifacts_dir)
