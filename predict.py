"""Inference API and CLI: predictions for a video before (or after) it is published, from saved artifacts.

    from predict import predict_performance
    predict_performance(title="Amazing makeup tutorial for beginners", tags=["makeup", "tutorial"],
                        categories=["Howto & Style"], duration_seconds=600, channel_avg_views=50000,
                        channel_video_count=25)["predicted_views"]

    python predict.py --title "..." --tags a,b --categories Music --duration 600 \\
        --channel-avg-views 50000 --channel-video-count 25 [--model deep_learning] [--days 7]
    python predict.py ... --observed '[{"days_since_publish": 1, "views": 52000}]'   # or --observed FILE.json
    python predict.py ... --trajectory [--ages 1,7,30,365] [--observed ...]      # the curve at many ages
    python predict.py --batch videos.csv [--output predictions.csv]
    python predict.py --batch FOLDER --cluster local|tcp://HOST:PORT --output OUT_FOLDER   # Dask, docs/dask.md
    python predict.py serve [--host 127.0.0.1] [--port 8000] [--artifacts DIR]   # REST API, videoperf.service

The artifacts (``artifacts/`` by default, see ``model_config.json``) are a ``videoperf.bundle.Bundle``: verified
against their manifest and loaded once per process and folder (thread-safe); a retrained bundle is picked up
automatically. Input is checked by ``videoperf.inputs``: bad input raises ``ValueError`` naming the argument.
This file is the public face of ``videoperf.predictions`` (which the REST service uses too) and its command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import pandas as pd

from videoperf import inputs as _inputs
from videoperf import predictions as _predictions
from videoperf.bundle import Bundle, load_bundle
from videoperf.plain import split_list
from videoperf.registry import MODEL_TYPES

__all__ = ["Bundle", "load_bundle", "main", "predict_batch", "predict_many", "predict_performance",
           "predict_trajectory"]


def predict_performance(title: str, tags: list[str] | None, categories: list[str] | None,
                        duration_seconds: float | None, channel_avg_views: float, channel_video_count: int,
                        model_type: str = "ensemble", *, published_at: Any = None,
                        days_since_publish: float | None = None, artifacts_dir: str | os.PathLike | None = None,
                        observed: list[dict[str, float]] | None = None, **facts: Any) -> dict[str, Any]:
    """Predicted performance of one video ``days_since_publish`` days after ``published_at``.

    ``channel_avg_views`` / ``channel_video_count``: the channel's average views over its earlier videos and how
    many it has (0 = a new channel). ``published_at``: default now (UTC). ``days_since_publish``: default from
    ``model_config.json``. Optional pre-publication facts (unknown when absent): ``default_language``,
    ``audio_language``, ``definition`` ("hd" / "sd"), ``caption_available``, ``licensed_content``,
    ``made_for_kids``, ``is_live``.

    Returns ``predicted_views`` with the interval ``views_lo`` / ``views_hi`` (``interval_coverage`` of new
    videos fall inside); the deep model adds its other targets. ``model_age_days``: ``published_at`` minus the
    end of the training data (accuracy by model age: README, "Measured results").

    ``observed``: a published video's observations so far, any number at any ages, e.g.
    ``[{"days_since_publish": 1.0, "views": 52000, "likes": 1800, "comments": 90}, ...]`` (likes / comments
    optional). The views and interval then come from the lifecycle curve conditioned on them
    (``videoperf.forecasting``; never below the last observed views) and the result adds ``observed_used``,
    ``last_observed_days`` / ``last_observed_views``, ``curve_stage``, ``curve_time_to_peak_days``,
    ``forecast_basis`` and the model's own prediction as ``prior_predicted_views`` / ``prior_views_lo`` /
    ``prior_views_hi``. A bundle trained before this existed raises a ``ValueError`` naming ``observed``.
    """
    arguments = dict(title=title, tags=tags, categories=categories, duration_seconds=duration_seconds,
                     channel_avg_views=channel_avg_views, channel_video_count=channel_video_count,
                     published_at=published_at, days_since_publish=days_since_publish, **facts)
    if observed is not None:
        arguments["observed"] = observed
    return _predictions.predict_one(model_type, arguments, artifacts_dir)


def predict_trajectory(title: str, tags: list[str] | None, categories: list[str] | None,
                       duration_seconds: float | None, channel_avg_views: float, channel_video_count: int,
                       model_type: str = "ensemble", *, published_at: Any = None,
                       observed: list[dict[str, float]] | None = None, ages: list[float] | None = None,
                       artifacts_dir: str | os.PathLike | None = None, **facts: Any) -> dict[str, Any]:
    """The video's views at each age of ``ages`` (days; default 0.25 ... 365) with the 80% interval and the stage.

    Returns ``points``: ``[{"days_since_publish", "views", "views_lo", "views_hi", "stage"}, ...]`` by age, with
    ``observed_used``, ``basis``, the curve's ``time_to_peak_days`` and, with observations,
    ``last_observed_days`` / ``last_observed_views``. Views never decrease with age and are never below the last
    observed views. Without ``observed`` the points come from one lifecycle curve fitted to the model's
    predictions at the ages its training data covers (``videoperf.family_curve``), so views, stage, time to peak
    and decay agree; the arguments are those of ``predict_performance``.
    """
    arguments = dict(title=title, tags=tags, categories=categories, duration_seconds=duration_seconds,
                     channel_avg_views=channel_avg_views, channel_video_count=channel_video_count,
                     published_at=published_at, observed=observed, **facts)
    return _predictions.trajectory(model_type, arguments, ages, artifacts_dir)


def predict_many(calls: list[dict[str, Any]], model_type: str = "ensemble", *,
                 artifacts_dir: str | os.PathLike | None = None) -> list[dict[str, Any] | ValueError]:
    """``predict_performance`` for many calls (dicts of its keyword arguments) in one model pass.

    Item i is what ``predict_performance(**calls[i], model_type=model_type)`` returns (equal up to float
    rounding: the models compute a batch in another order than one row), or the ``ValueError`` it would
    raise; one bad call does not fail the others. The REST service groups concurrent requests this way.
    """
    return _predictions.predict_calls(calls, model_type, artifacts_dir)


def predict_batch(rows: pd.DataFrame | str | os.PathLike, model_type: str = "ensemble", *,
                  artifacts_dir: str | os.PathLike | None = None, cluster: Any = None,
                  output: str | os.PathLike | None = None) -> pd.DataFrame | dict[str, Any]:
    """Predictions for many videos: a DataFrame or a CSV / parquet path with the arguments of
    ``predict_performance`` as columns (``tags`` / ``categories`` as lists, or comma-separated text in CSV).

    Returns one row per input row: ``video_id`` when given, ``predicted_views``, ``views_lo``, ``views_hi``, ...
    ``cluster`` (``"local"``, ``"tcp://HOST:PORT"`` or a ``distributed.Client``): ``rows`` is a file or folder of
    partitions, each scored on a Dask worker into one parquet file of the folder ``output``; returns
    ``{"rows", "partitions", "written"}`` (``videoperf.dask_scoring``).
    """
    if cluster is not None:
        from videoperf.dask_scoring import score_partitions

        if output is None or isinstance(rows, pd.DataFrame):
            raise ValueError("cluster: give rows as a file or folder of partitions and an output folder")
        return score_partitions(rows, output, model_type, cluster=cluster, artifacts_dir=artifacts_dir)
    return _predictions.predict_rows(rows, model_type, artifacts_dir)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="predict.py", description="Predict a video's views from saved artifacts "
                                     "(one video, a --batch file, or the REST service: predict.py serve).")
    parser.add_argument("--title")
    parser.add_argument("--tags", default="", help="comma-separated")
    parser.add_argument("--categories", default="", help="comma-separated")
    parser.add_argument("--duration", type=float, default=None, help="seconds")
    parser.add_argument("--channel-avg-views", type=float, default=0.0)
    parser.add_argument("--channel-video-count", type=float, default=0)
    parser.add_argument("--model", default="ensemble", help=" or ".join(MODEL_TYPES))
    parser.add_argument("--published-at", default=None, help="ISO date/time (default now)")
    parser.add_argument("--days", type=float, default=None, help="days since publishing (default from config)")
    parser.add_argument("--artifacts", default=None)
    parser.add_argument("--observed", default=None, help="the video's observations so far: a JSON list such as "
                        "'[{\"days_since_publish\": 1, \"views\": 52000}]', or a JSON file holding one")
    parser.add_argument("--trajectory", action="store_true", help="print the views at many ages (--ages)")
    parser.add_argument("--ages", default=None, help="with --trajectory: comma-separated days (default 0.25 ... 365)")
    parser.add_argument("--batch", default=None, help="CSV / parquet of requests instead of one video")
    parser.add_argument("--output", default=None, help="with --batch: write a CSV instead of printing "
                        "(with --cluster: a folder of parquet partitions)")
    parser.add_argument("--cluster", default=None, help="with --batch: score the partitions on Dask, 'local' or "
                        "tcp://HOST:PORT (docs/dask.md)")
    for name in _inputs.OPTIONAL_FACTS:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None)
    commands = parser.add_subparsers(dest="command", metavar="{serve}")
    serve = commands.add_parser("serve", help="run the REST service (videoperf.service) with uvicorn",
                                description="Serve predictions over HTTP (JSON).")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--artifacts", dest="serve_artifacts", default=None, help="bundle folder (default as above)")
    serve.add_argument("--max-concurrent", type=int, default=None, help="predictions running at once")
    serve.add_argument("--no-micro-batch", action="store_true",
                       help="one model call per /predict request (bit-exact, slower under load)")
    serve.add_argument("--log-level", default="info")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The command line; prints JSON (one object, or one per row with --batch). ``serve``: the REST service."""
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "serve":
        from videoperf.service import serve  # FastAPI and uvicorn only for the service

        return serve(host=args.host, port=args.port, artifacts_dir=args.serve_artifacts or args.artifacts,
                     max_concurrent=args.max_concurrent, micro_batch=not args.no_micro_batch,
                     log_level=args.log_level)
    facts = {name: getattr(args, name) for name in _inputs.OPTIONAL_FACTS if getattr(args, name) is not None}
    try:
        if args.batch and args.cluster:
            if not args.output:
                parser.error("--cluster needs --output FOLDER")
            print(json.dumps(predict_batch(args.batch, args.model, artifacts_dir=args.artifacts, cluster=args.cluster,
                                           output=args.output)))
            return 0
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
        observed = _observed_argument(args.observed)
        video = (args.title, split_list(args.tags), split_list(args.categories), args.duration, args.channel_avg_views,
                 args.channel_video_count, args.model)
        if args.trajectory:
            result = predict_trajectory(*video, published_at=args.published_at, observed=observed,
                                        ages=_ages_argument(args.ages), artifacts_dir=args.artifacts, **facts)
        else:
            result = predict_performance(*video, published_at=args.published_at, days_since_publish=args.days,
                                         artifacts_dir=args.artifacts, observed=observed, **facts)
    except (ValueError, NotImplementedError) as error:
        print(json.dumps({"error": str(error)}), file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


def _observed_argument(value: str | None) -> Any:
    """``--observed``: JSON text, or the path of a JSON file holding it."""
    if value is None:
        return None
    text = value
    if not value.lstrip().startswith("[") and os.path.isfile(value):
        with open(value, encoding="utf-8") as handle:
            text = handle.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"observed: neither a JSON list nor a JSON file ({error})") from None


def _ages_argument(value: str | None) -> list[float] | None:
    """``--ages``: comma-separated days."""
    if value is None:
        return None
    try:
        return [float(item) for item in split_list(value)]
    except ValueError:
        raise ValueError(f"ages: expected comma-separated numbers of days, got {value!r}") from None


if __name__ == "__main__":
    sys.exit(main())
