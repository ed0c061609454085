"""Training-side API and CLI: load data, derive targets, train, evaluate.

    python model_update.py train --data SOURCE --speed fast --artifacts DIR [--models ensemble,deep_learning]
    python model_update.py evaluate --train SOURCE --test SOURCE --speed fast --predictions FILE.csv
    python model_update.py evaluate --data SOURCE --split-date 2026-04-15 --speed fast --predictions FILE.csv \
        [--history live|live_channels|train] [--observed K]
    add --cluster local|tcp://HOST:PORT to train or evaluate (--data) on Dask (videoperf.dask_training, docs/dask.md)
    python model_update.py calibrate --artifacts DIR --data EXPORT [--method offset|isotonic]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from videoperf import data as _data
from videoperf import lifecycle as _lifecycle
from videoperf import synthetic as _synthetic
from videoperf.config import SPEEDS, Config, resolve_path

logger = logging.getLogger("videoperf.model_update")
MIN_CALIBRATION_HISTORY = 10  # earlier videos of its channel a video needs to calibrate a bundle (see calibrate)


def load_data(source: str | Path | pd.DataFrame, observed_at: str | None = None) -> pd.DataFrame:
    """The canonical snapshot table (one row per video per UTC day) from any supported source.

    ``observed_at``: the snapshot time of video-resource files without a snapshot column.
    """
    return _data.load_data(source, observed_at=observed_at)


def build_targets(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Per-observation targets: views at age, like ratio, lifecycle stage, time to peak, decay rate."""
    return _lifecycle.build_targets(snapshots)


def generate_synthetic(n_videos: int, seed: int = 0) -> tuple[pd.DataFrame, _synthetic.SyntheticTruth]:
    """Simulated raw API-format rows and their ground truth."""
    return _synthetic.generate_synthetic(n_videos, seed)


def _snapshots(source: str | Path | pd.DataFrame, observed_at: str | None = None) -> pd.DataFrame:
    """A source, or an already canonical snapshot table, as canonical snapshots."""
    if isinstance(source, pd.DataFrame) and {"observed_at", "published_at", "views"} <= set(source.columns):
        return source
    return load_data(source, observed_at)


def fit(snapshots: pd.DataFrame, speed: str = "fast", models: Sequence[str] | str = ("ensemble", "deep_learning"),
        *, seed: int | None = None, config: Config | None = None, progress: bool = True) -> Any:
    """Fit the shared features and the requested model families on training snapshots (nothing written).

    Returns a ``videoperf.pipeline.TrainedModels`` (``features``, ``models``, ``reports`` with the OOF
    scores, ``seconds``); ``save`` writes it as the artifact bundle.
    """
    from videoperf.pipeline import train_models
    from videoperf.settings import resolve

    return train_models(_snapshots(snapshots), resolve(speed, models, seed, config, progress))


def save(trained: Any, artifacts_dir: str | Path | None = None, metrics: pd.DataFrame | dict | None = None) -> Path:
    """Write ``trained`` (from ``fit``) as the artifact bundle, with test ``metrics`` in the manifest."""
    from videoperf.bundle import Bundle

    folder = resolve_path(artifacts_dir if artifacts_dir is not None else trained.config.paths.artifacts_dir)
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
    (``videoperf.dask_training``; ``source`` a folder of partitions).
    """
    if cluster is not None:
        from videoperf import dask_training

        return dask_training.train(source, speed, artifacts_dir, models, cluster=cluster, seed=seed,
                                   config=config, progress=progress, observed_at=observed_at)
    from videoperf.bundle import Bundle
    from videoperf.pipeline import train_models
    from videoperf.settings import resolve

    settings = resolve(speed, models, seed, config, progress)  # every choice checked before the data is read
    folder = resolve_path(artifacts_dir if artifacts_dir is not None else settings.config.paths.artifacts_dir)
    trained = train_models(_snapshots(source, observed_at), settings)
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
    Returns the ``videoperf.evaluation.evaluate`` result (``metrics`` table with both baselines, ...).
    ``cluster`` (with ``data`` and ``split_date``): run on Dask, as ``train``.
    ``observed``: K (or several), forecast every test video with more than K observations at its last observed
    age from its first K (the bundle's forecaster from observed days beside Szabo-Huberman, both fitted on the
    training videos, and the models before publishing, on the same videos): ``result["observed"]``, one entry
    per K; the predictions CSV is then those tables, with ``observed_days`` / ``observed_views``.
    """
    if cluster is not None and observed is not None:
        raise ValueError("observed: forecasts from observed days are not evaluated on a cluster; drop --cluster")
    if cluster is not None:
        from videoperf import dask_training

        if data is None or split_date is None or train_source is not None or test_source is not None:
            raise ValueError("cluster: evaluating on a cluster takes data and split_date")
        return dask_training.evaluate(data, split_date, speed, models, predictions, cluster=cluster, seed=seed,
                                      config=config, progress=progress, history=history, observed_at=observed_at)
    from videoperf.evaluation import check_history
    from videoperf.evaluation import evaluate as _evaluate
    from videoperf.settings import resolve
    from videoperf.validation import split_by_date

    settings = resolve(speed, models, seed, config, progress)  # every choice checked before the data is read
    check_history(history)
    if data is not None or split_date is not None:
        if data is None or split_date is None or train_source is not None or test_source is not None:
            raise ValueError("evaluate: give either train_source and test_source, or data and split_date")
        observed_frame = _snapshots(data, observed_at)
        train_frame, test_frame = split_by_date(observed_frame, split_date)
    else:
        if train_source is None or test_source is None:
            raise ValueError("evaluate: give either train_source and test_source, or data and split_date")
        train_frame, test_frame = _snapshots(train_source, observed_at), _snapshots(test_source, observed_at)
        observed_frame = None
    return _evaluate(train_frame, test_frame, settings.speed, settings.models, predictions, config=settings.config,
                     progress=progress, history=history, observed=observed_frame, seed=settings.seed,
                     observed_k=observed)


def calibrate(artifacts_dir: str | Path | None, data: str | Path | pd.DataFrame, *,
              models: Sequence[str] | str | None = None, method: str = "offset", shrinkage: float = 5.0,
              observed_at: str | None = None) -> dict[str, Any]:
    """Calibrate the bundle of ``artifacts_dir`` to the channels of ``data`` (e.g. a channel-uploads export of the
    user's earlier videos) and store the calibration in the bundle; ``predict_*`` use it from then on.

    Each video of ``data`` is predicted at every observation, with channel history as of its publish time from
    ``data`` (videos whose channel had fewer than ``MIN_CALIBRATION_HISTORY`` earlier videos are left out when
    enough others remain); a ``videoperf.calibration.ChannelCalibration`` per model type (default: every model
    of the bundle) learns how those predictions map to the actual views. Returns the description the manifest records
    (``to``, videos, the mean log error before and after, in sample).
    """
    import numpy as np

    from videoperf.bundle import Bundle, clear_cache
    from videoperf.calibration import MIN_VIDEOS, ChannelCalibration
    from videoperf.data import data_fingerprint
    from videoperf.inputs import check_model_type

    folder = resolve_path(artifacts_dir if artifacts_dir is not None else _configured_artifacts())
    bundle = Bundle.load(folder)
    types = bundle.model_types if models is None else [check_model_type(m) for m in
                                                       (models.split(",") if isinstance(models, str) else models)]
    snapshots = _snapshots(data, observed_at)
    fitted, report = {}, {}
    for model_type in types:
        # Every observation: the videos at every age they were seen at, so the age slope is learned from young
        # and old observations alike.
        frame = bundle.predict_observed(snapshots, model_type, calibrated=False, every_observation=True)
        # Predictions are asked for videos with the channel's whole history before them; a channel's first videos
        # (little history) are in another regime of the bundle, so they calibrate only if nothing else can.
        settled = frame["channel_video_count"].to_numpy(float) >= MIN_CALIBRATION_HISTORY
        if settled.sum() >= MIN_VIDEOS:
            frame = frame[settled].reset_index(drop=True)
        predicted, actual = np.log1p(frame["predicted_views"].to_numpy(float)), np.log1p(frame["actual_views"])
        covariates = (frame["age_days"].to_numpy(float), frame["channel_video_count"].to_numpy(float))
        calibration = ChannelCalibration(shrinkage=shrinkage, method=method).fit(predicted, actual,
                                                                                 frame["channel_id"], *covariates)
        after = calibration.transform(predicted, frame["channel_id"], *covariates)
        fitted[model_type] = calibration
        report[model_type] = {**calibration.describe(), "log_bias_before": float(np.mean(predicted - actual)),
                              "log_bias_after_in_sample": float(np.mean(after - actual))}
    titles = snapshots.drop_duplicates("channel_id").set_index("channel_id")["channel_title"]
    to = f"channel {titles.iloc[0]}" if len(titles) == 1 else f"{len(titles)} channels"
    description = {"to": to, "data": data_fingerprint(snapshots), "models": report,
                   "videos": int(snapshots["video_id"].nunique()),
                   "observed_to": str(snapshots["observed_at"].max())}
    Bundle.save_calibration(folder, fitted, description)
    clear_cache()
    return description


def simulated_uploads(folder: str | Path | None = None, n_channels: int = 30, seed: int = 0) -> Path:
    """A simulated channel-uploads export (``videoperf.population``: every upload of ``n_channels`` ordinary
    channels, one file per monthly snapshot) written to ``folder`` (default: a new temporary folder)."""
    import tempfile

    from videoperf.population import generate_population, write_upload_snapshots

    folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="channel_uploads_"))
    write_upload_snapshots(generate_population(n_channels, seed), folder)
    return folder


def calibration_check(artifacts_dir: str | Path | None, data: str | Path | pd.DataFrame, *,
                      earlier_fraction: float = 0.6, min_videos: int = 20, observed_at: str | None = None
                      ) -> pd.DataFrame:
    """Before / after ``calibrate`` on the later videos of the channels of ``data``, on a copy of the bundle.

    Each channel with at least ``min_videos`` videos: its first ``earlier_fraction`` (by publish time) calibrate a
    temporary copy of the bundle (the bundle itself is left as it is), its other videos are predicted at their last
    observation, with channel history from ``data``, before and after. One row per model type.
    """
    import shutil
    import tempfile

    import numpy as np

    from videoperf.bundle import Bundle

    if not 0 < earlier_fraction < 1:
        raise ValueError(f"earlier_fraction: must be in (0, 1), got {earlier_fraction!r}")
    folder = resolve_path(artifacts_dir if artifacts_dir is not None else _configured_artifacts())
    snapshots = _snapshots(data, observed_at)
    firsts = snapshots.sort_values("published_at").drop_duplicates("video_id")
    sizes = firsts["channel_id"].value_counts()
    firsts = firsts[firsts["channel_id"].isin(sizes.index[sizes >= min_videos])]
    if firsts.empty:
        raise ValueError(f"data: no channel has {min_videos} videos (min_videos)")
    rank = firsts.groupby("channel_id").cumcount() / firsts["channel_id"].map(sizes)
    earlier = set(firsts.loc[rank < earlier_fraction, "video_id"])
    mine = snapshots[snapshots["video_id"].isin(set(firsts["video_id"]))]
    later = mine[~mine["video_id"].isin(earlier)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "bundle"
        shutil.copytree(folder, copy)
        before = Bundle.load(copy)
        raw = {model: before.predict_observed(later, model, history=mine) for model in before.model_types}
        calibrate(copy, mine[mine["video_id"].isin(earlier)])
        after = Bundle.load(copy)
        for model, frame in raw.items():
            calibrated = after.predict_observed(later, model, history=mine)
            errors = {name: np.log1p(f["predicted_views"].to_numpy(float)) - np.log1p(f["actual_views"].to_numpy(float))
                      for name, f in (("before", frame), ("after", calibrated))}
            rows.append({"model": model, "channels": int(firsts["channel_id"].nunique()),
                         "earlier videos": len(earlier), "later videos": int(later["video_id"].nunique()),
                         "mean log error before": float(errors["before"].mean()),
                         "mean log error after": float(errors["after"].mean()),
                         "log MAE before": float(np.abs(errors["before"]).mean()),
                         "log MAE after": float(np.abs(errors["after"]).mean())})
    return pd.DataFrame(rows).set_index("model")


def _observed_ks(value: str | None) -> list[int] | None:
    """``--observed``: K or comma-separated Ks."""
    if value is None:
        return None
    try:
        return [int(item) for item in value.split(",") if item.strip()]
    except ValueError:
        raise ValueError(f"observed: expected a number of observations or several (1,2,3), got {value!r}") from None


def _configured_artifacts() -> str:
    from videoperf.config import load_config

    return load_config().paths.artifacts_dir


def _print_report(oof: dict[str, Any]) -> None:
    from videoperf.report import oof_scores

    ensemble = oof.get("ensemble")
    if not ensemble:
        return
    print("\nOut-of-fold log-views scores (forward-chaining folds):")
    print(oof_scores(oof).to_string(float_format=lambda v: f"{v:.4f}"))
    best = max(ensemble["learners"], key=lambda name: ensemble["learners"][name]["r2"])
    gain = ensemble["stack"]["r2"] - ensemble["learners"][best]["r2"]
    verdict = "beats" if gain > 0 else "does NOT beat"
    print(f"The stack {verdict} its best member ({best}) out of fold: R2 {gain:+.4f}")
    print(f"OOF interval coverage: {ensemble['intervals']['oof_coverage']:.3f} "
          f"(target {ensemble['intervals']['coverage_target']:.2f})")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; see the module docstring."""
    parser = argparse.ArgumentParser(prog="model_update.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="train and write the artifact bundle")
    train_cmd.add_argument("--data", required=True, help="'synthetic', a parquet/CSV file or a folder")
    train_cmd.add_argument("--artifacts", default=None, help="bundle folder (default: paths.artifacts_dir)")
    train_cmd.add_argument("--seed", type=int, default=None, help="seed of sampling and models (default: config)")
    eval_cmd = commands.add_parser("evaluate", help="fit on one source, score every video of another")
    eval_cmd.add_argument("--train", dest="train_source", help="training source")
    eval_cmd.add_argument("--test", dest="test_source", help="test source")
    eval_cmd.add_argument("--data", help="one source split by --split-date")
    eval_cmd.add_argument("--split-date", help="YYYY-MM-DD: train on videos published before, test on the rest")
    eval_cmd.add_argument("--predictions", help="write one row per test video to this CSV")
    eval_cmd.add_argument("--report", help="write the metrics and OOF scores to this JSON file")
    eval_cmd.add_argument("--history", default="live", choices=("live", "live_channels", "train"),
                          help="what the system knows after its cut: channel history from every observation "
                               "before each publish time and the live level (live, default), that channel "
                               "history alone (live_channels), or the training data only (train)")
    eval_cmd.add_argument("--observed", default=None, metavar="K",
                          help="forecast each test video with more than K observations at its last observed age "
                               "from its first K (curve vs Szabo-Huberman on the same videos); several: 1,2,3,5")
    calibrate_cmd = commands.add_parser("calibrate", help="calibrate a bundle to your channels' earlier videos")
    calibrate_cmd.add_argument("--artifacts", default=None, help="bundle folder (default: paths.artifacts_dir)")
    calibrate_cmd.add_argument("--data", required=True, help="your channels' videos: an export file or folder")
    calibrate_cmd.add_argument("--models", default=None, help="comma-separated (default: every model of the bundle)")
    calibrate_cmd.add_argument("--method", default="offset", choices=("offset", "isotonic"))
    calibrate_cmd.add_argument("--shrinkage", type=float, default=5.0,
                               help="pseudo-videos pulling each offset towards 0 (default 5)")
    calibrate_cmd.add_argument("--observed-at", help="snapshot time of video-resource files without a snapshot column")
    calibrate_cmd.add_argument("--quiet", action="store_true", help="no info logging")
    for command in (train_cmd, eval_cmd):
        command.add_argument("--speed", default="fast", choices=SPEEDS)
        command.add_argument("--models", default=None, help="comma-separated: ensemble,deep_learning")
        command.add_argument("--quiet", action="store_true", help="no progress bars or info logging")
        command.add_argument("--observed-at", help="snapshot time of video-resource files without a snapshot column")
        command.add_argument("--cluster", default=None,
                             help="run on Dask: 'local' or a scheduler address tcp://HOST:PORT (docs/dask.md)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "calibrate":
            found = calibrate(args.artifacts, args.data, models=args.models, method=args.method,
                              shrinkage=args.shrinkage, observed_at=args.observed_at)
            print(f"calibrated to {found['to']}:")
            for model_type, entry in found["models"].items():
                print(f"  {model_type}: {entry['observations']} observations, mean log error "
                      f"{entry['log_bias_before']:+.3f} -> {entry['log_bias_after_in_sample']:+.3f} (in sample), "
                      f"offset {entry['offset_log']:+.3f}, slopes {entry['slopes']}")
            return 0
        if args.command == "train":
            result = train(args.data, args.speed, args.artifacts, args.models or "ensemble,deep_learning",
                           progress=not args.quiet, seed=args.seed, observed_at=args.observed_at,
                           cluster=args.cluster)
            _print_report(result["oof"])
            print(f"\nartifacts written to {result['artifacts_dir']} in {result['seconds']:.0f} s")
            return 0
        result = evaluate(args.train_source, args.test_source, args.speed, args.models or "ensemble",
                          args.predictions, data=args.data, split_date=args.split_date, progress=not args.quiet,
                          history=args.history, observed_at=args.observed_at, cluster=args.cluster,
                          observed=_observed_ks(args.observed))
    except (ValueError, NotImplementedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _print_report(result["oof"])
    print(f"\nTest metrics on {result['test_videos']} videos at their last observed age "
          f"(log views: log1p):")
    from videoperf.evaluation import format_metrics

    print(format_metrics(result["metrics"]))
    for found in result.get("observed") or []:
        print(f"\nFrom observed days: {found['videos']} test videos with more than {found['k']} observations, each "
              f"forecast at its last observed age from its first {found['k']} (log views: log1p):")
        print(format_metrics(found["metrics"]))
    for path in result["written"]:
        print(f"predictions written to {path}")
    print(f"evaluation took {result['seconds']:.0f} s")
    if args.report:
        report = {"metrics": result["metrics"].to_dict(), "oof": result["oof"], "seconds": result["seconds"],
                  "test_videos": result["test_videos"]}
        if result.get("observed"):
            report["observed"] = [{"k": found["k"], "videos": found["videos"], "metrics": found["metrics"].to_dict()}
                                  for found in result["observed"]]
        Path(args.report).write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
