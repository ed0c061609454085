"""Inference API and CLI: predictions for a video before (or after) it is published, from saved artifacts.

    from predict import predict_performance
    predict_performance(title="Amazing makeup tutorial for beginners", tags=["makeup", "tutorial"],
                        categories=["Howto & Style"], duration_seconds=600, channel_avg_views=50000,
                        channel_video_count=25)["predicted_views"]

    python predict.py --title "..." --tags a,b --categories Music --duration 600 \\
        --channel-avg-views 50000 --channel-video-count 25 [--model deep_learning] [--days 7]
    python predict.py --batch videos.csv [--output predictions.csv]
    python predict.py serve [--host 127.0.0.1] [--port 8000] [--artifacts DIR]   # REST API, videoperf.service

The artifacts (``artifacts/`` by default, see ``model_config.json``) are verified against their manifest
and loaded once per process and folder (thread-safe); a retrained bundle is picked up automatically.
Input is checked by ``videoperf.inputs``: bad input raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from videoperf import artifacts as _artifacts
from videoperf import inputs as _inputs
from videoperf.config import load_config, resolve_path

logger = logging.getLogger("videoperf.predict")
_LOCK = threading.Lock()
_DAY = 86400.0
_BUNDLES: dict[tuple[str, int], _Bundle] = {}


@dataclass
class _Bundle:
    """A verified bundle: shared pieces loaded eagerly, model files on first use."""

    folder: Path
    manifest: dict[str, Any]
    features: Any
    stage_encoder: Any
    default_days: float
    coverage: float
    training_cut: pd.Timestamp | None = None   # the last observation the models were trained on
    backtested_days: float = 90.0              # model ages the rolling-origin backtest measured
    models: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def model(self, model_type: str) -> Any:
        model = self.models.get(model_type)
        if model is not None:
            return model
        with self.lock:
            if model_type not in self.models:
                from videoperf.pipeline import MODEL_FAMILIES

                family = MODEL_FAMILIES[model_type]
                if family.artifact not in self.manifest["files"]:
                    raise ValueError(f"model_type: the bundle in {self.folder} has no {model_type} model "
                                     f"({family.artifact}); train it with --models {model_type}")
                _artifacts.check_library_versions(self.manifest, model_type, self.folder)
                try:
                    self.models[model_type] = family.loader(self.folder, family.artifact, self.manifest)
                except (_artifacts.ArtifactError, NotImplementedError):
                    raise
                except Exception as error:  # torch / pickle internals: report the file, not their traceback
                    raise _artifacts.ArtifactError(
                        f"artifacts: cannot load {self.folder / family.artifact} ({type(error).__name__}: "
                        f"{error}); retrain the bundle") from None
            return self.models[model_type]


def _artifacts_folder(artifacts_dir: str | os.PathLike | None) -> Path:
    if artifacts_dir is None:
        artifacts_dir = os.environ.get("VIDEOPERF_ARTIFACTS") or load_config().paths.artifacts_dir
    if not isinstance(artifacts_dir, (str, os.PathLike)):
        raise ValueError(f"artifacts_dir: expected a folder path, got {type(artifacts_dir).__name__}")
    return resolve_path(artifacts_dir)


def load_bundle(artifacts_dir: str | os.PathLike | None = None) -> _Bundle:
    """The verified bundle of ``artifacts_dir`` (cached; reloaded when its manifest changes)."""
    folder = _artifacts_folder(artifacts_dir)
    manifest_path = folder / _artifacts.MANIFEST_FILE
    try:
        stamp = manifest_path.stat().st_mtime_ns
    except FileNotFoundError:
        stamp = -1
    key = (str(folder), stamp)
    bundle = _BUNDLES.get(key)
    if bundle is not None:
        return bundle
    with _LOCK:
        bundle = _BUNDLES.get(key)
        if bundle is None:
            # Every hash is checked before the first unpickling (verify_bundle raises on a mismatch).
            manifest = _artifacts.verify_bundle(folder)
            features = _artifacts.load_pickle(folder, _artifacts.FEATURES_FILE, manifest)
            stage_encoder = _artifacts.load_pickle(folder, _artifacts.STAGE_FILE, manifest)
            prediction = manifest.get("config", {}).get("prediction", {})
            observed_to = manifest.get("training_window", {}).get("observed_to")
            bundle = _Bundle(folder, manifest, features, stage_encoder,
                             float(prediction.get("default_days_since_publish", 7.0)),
                             float(prediction.get("interval_coverage", 0.8)),
                             pd.Timestamp(observed_to) if observed_to else None,
                             float(prediction.get("backtested_model_age_days", 90.0)))
            for old in [k for k in _BUNDLES if k[0] == key[0]]:
                del _BUNDLES[old]
            _BUNDLES[key] = bundle
    return bundle


def _model_age_days(bundle: _Bundle, published_at: pd.Series) -> np.ndarray:
    """Days from the training cut to each publish time; a warning past what the backtest measured."""
    if bundle.training_cut is None:
        return np.full(len(published_at), np.nan)
    age = (pd.to_datetime(published_at, utc=True) - bundle.training_cut).dt.total_seconds().to_numpy(float) / _DAY
    beyond = age > bundle.backtested_days
    if beyond.any():
        logger.warning("%d prediction(s) for videos published up to %.0f days after the training data ends; the "
                       "backtest measured accuracy up to %.0f days: retrain on recent data "
                       "(python model_update.py train)", int(beyond.sum()), float(age.max()), bundle.backtested_days)
    return age


def _predict_frame(bundle: _Bundle, requests: pd.DataFrame, model_type: str) -> pd.DataFrame:
    from videoperf.pipeline import MODEL_FAMILIES

    model = bundle.model(model_type)
    X = bundle.features.builder.transform_videos(requests)
    out = MODEL_FAMILIES[model_type].predict(model, bundle.features, X, requests)
    out["model_age_days"] = _model_age_days(bundle, requests["published_at"])
    return out


def _result(row: pd.Series, request: dict[str, Any], model_type: str, coverage: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, (np.floating, float)):
            out[key] = None if np.isnan(value) else float(value)
        elif isinstance(value, np.integer):
            out[key] = int(value)
        else:
            out[key] = value
    if "views_lo" in out:
        out["interval_coverage"] = coverage
    # The evaluation tables say predicted_<target>; a single prediction uses the names of DESIGN.md.
    for target in ("lifecycle_stage", "time_to_peak_days", "decay_rate"):
        if f"predicted_{target}" in out:
            out[target] = out.pop(f"predicted_{target}")
    probabilities = {key.removeprefix("probability_"): out.pop(key) for key in list(out)
                     if key.startswith("probability_")}
    if probabilities:
        out["stage_probabilities"] = probabilities
    out.update({"model_type": model_type, "days_since_publish": float(request["age_days"]),
                "published_at": request["published_at"].isoformat()})
    return out


def predict_performance(title: str, tags: list[str] | None, categories: list[str] | None,
                        duration_seconds: float | None, channel_avg_views: float, channel_video_count: int,
                        model_type: str = "ensemble", *, published_at: Any = None,
                        days_since_publish: float | None = None, artifacts_dir: str | os.PathLike | None = None,
                        **facts: Any) -> dict[str, Any]:
    """Predicted performance of one video ``days_since_publish`` days after ``published_at``.

    ``channel_avg_views`` / ``channel_video_count``: the channel's average views over its earlier videos and how
    many it has (0 = a new channel). ``published_at``: default now (UTC). ``days_since_publish``: default from
    ``model_config.json``. Optional pre-publication facts (unknown when absent): ``default_language``,
    ``audio_language``, ``definition`` ("hd" / "sd"), ``caption_available``, ``licensed_content``,
    ``made_for_kids``, ``is_live``.

    Returns ``predicted_views`` with the interval ``views_lo`` / ``views_hi`` (``interval_coverage`` of new
    videos fall inside) for the ensemble; the deep model adds its other targets. ``model_age_days``:
    ``published_at`` minus the end of the training data (accuracy by model age: README, "Measured results").
    """
    model_type = _inputs.check_model_type(model_type)
    bundle = load_bundle(artifacts_dir)
    request = _inputs.check_request(title, tags, categories, duration_seconds, channel_avg_views,
                                    channel_video_count, published_at=published_at,
                                    days_since_publish=days_since_publish, default_days=bundle.default_days, **facts)
    predicted = _predict_frame(bundle, pd.DataFrame([request]), model_type)
    return _result(predicted.iloc[0], request, model_type, bundle.coverage)


def predict_many(calls: list[dict[str, Any]], model_type: str = "ensemble", *,
                 artifacts_dir: str | os.PathLike | None = None) -> list[dict[str, Any] | ValueError]:
    """``predict_performance`` for many calls (dicts of its keyword arguments) in one model pass.

    Item i is what ``predict_performance(**calls[i], model_type=model_type)`` returns (equal up to float
    rounding: the models compute a batch in another order than one row), or the ``ValueError`` it would
    raise; one bad call does not fail the others. The REST service groups concurrent requests this way.
    """
    model_type = _inputs.check_model_type(model_type)
    bundle = load_bundle(artifacts_dir)
    out: list[dict[str, Any] | ValueError] = []
    valid: list[tuple[int, dict[str, Any]]] = []
    for i, call in enumerate(calls):
        try:
            valid.append((i, _inputs.check_request(**call, default_days=bundle.default_days)))
            out.append(ValueError("unset"))
        except ValueError as error:
            out.append(error)
        except TypeError as error:  # a required argument missing, or not a dict of arguments
            out.append(ValueError(f"arguments: {error}"))
    if valid:
        predicted = _predict_frame(bundle, pd.DataFrame([request for _, request in valid]), model_type)
        for (i, request), (_, row) in zip(valid, predicted.iterrows()):
            out[i] = _result(row, request, model_type, bundle.coverage)
    return out


def predict_batch(rows: pd.DataFrame | str | os.PathLike, model_type: str = "ensemble", *,
                  artifacts_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Predictions for many videos: a DataFrame or a CSV / parquet path with the arguments of
    ``predict_performance`` as columns (``tags`` / ``categories`` as lists, or comma-separated text in CSV).

    Returns one row per input row: ``video_id`` when given, ``predicted_views``, ``views_lo``, ``views_hi``, ...
    """
    model_type = _inputs.check_model_type(model_type)
    if isinstance(rows, (str, os.PathLike)):
        path = Path(rows)
        if not path.is_file():
            raise ValueError(f"rows: {path} is not a file")
        if path.suffix.lower() in (".parquet", ".pq"):
            rows = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv":
            rows = pd.read_csv(path, keep_default_na=True)
        else:
            raise ValueError(f"rows: {path} is neither a CSV nor a parquet file")
    if not isinstance(rows, pd.DataFrame):
        raise ValueError(f"rows: expected a DataFrame or a CSV / parquet path, got {type(rows).__name__}")
    bundle = load_bundle(artifacts_dir)
    requests = _inputs.check_rows(rows, bundle.default_days)
    if requests.empty:
        return pd.DataFrame(columns=["predicted_views", "views_lo", "views_hi"])
    predicted = _predict_frame(bundle, requests, model_type).reset_index(drop=True)
    if "video_id" in rows:
        predicted.insert(0, "video_id", rows["video_id"].to_numpy())
    predicted["days_since_publish"] = requests["age_days"].to_numpy()
    return predicted


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def main(argv: list[str] | None = None) -> int:
    """The command line; prints JSON (one object, or one per row with --batch). ``serve``: the REST service."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        sys.modules.setdefault("predict", sys.modules[__name__])  # run as a script: one module, one cache
        from videoperf.service import serve_main

        return serve_main(argv[1:])
    parser = argparse.ArgumentParser(prog="predict.py", description="Predict a video's views from saved artifacts.")
    parser.add_argument("--title")
    parser.add_argument("--tags", default="", help="comma-separated")
    parser.add_argument("--categories", default="", help="comma-separated")
    parser.add_argument("--duration", type=float, default=None, help="seconds")
    parser.add_argument("--channel-avg-views", type=float, default=0.0)
    parser.add_argument("--channel-video-count", type=float, default=0)
    parser.add_argument("--model", default="ensemble", help="ensemble or deep_learning")
    parser.add_argument("--published-at", default=None, help="ISO date/time (default now)")
    parser.add_argument("--days", type=float, default=None, help="days since publishing (default from config)")
    parser.add_argument("--artifacts", default=None)
    parser.add_argument("--batch", default=None, help="CSV / parquet of requests instead of one video")
    parser.add_argument("--output", default=None, help="with --batch: write a CSV instead of printing")
    for name in _inputs.OPTIONAL_FACTS:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None)
    args = parser.parse_args(argv)
    facts = {name: getattr(args, name) for name in _inputs.OPTIONAL_FACTS if getattr(args, name) is not None}
    try:
        if args.batch:
            result = predict_batch(args.batch, args.model, artifacts_dir=args.artifacts)
            if args.output:
                result.to_csv(args.output, index=False)
                print(json.dumps({"rows": len(result), "written": args.output}))
            else:
                print(result.to_json(orient="records", lines=True))
            return 0
        if args.title is None:
            parser.error("--title is required (or --batch FILE)")
        result = predict_performance(args.title, _split(args.tags), _split(args.categories), args.duration,
                                     args.channel_avg_views, args.channel_video_count, args.model,
                                     published_at=args.published_at, days_since_publish=args.days,
                                     artifacts_dir=args.artifacts, **facts)
    except (ValueError, NotImplementedError) as error:
        print(json.dumps({"error": str(error)}), file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
