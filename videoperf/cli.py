"""The ``videoperf`` command line: one program, one subcommand per job.

    videoperf train --data synthetic|FILE|FOLDER [--speed fast] [--artifacts DIR]
    videoperf evaluate --data SOURCE --split-date 2026-04-15 [--observed 1,2,3]
    videoperf calibrate --artifacts DIR --data MY_CHANNELS_EXPORT
    videoperf predict --title "..." --tags a,b --channel-avg-views 50000 --channel-video-count 25 [--days 7]
    videoperf trajectory --title "..." [--ages 1,7,30,365] [--observed '[{"days_since_publish": 1, "views": 52000}]']
    videoperf typical --data EXPORT --channel-id UC... [--ages 1,7,28] [--recent 10] [--video-id ID | --observed JSON]
    videoperf batch videos.csv [--output predictions.csv] [--cluster local|tcp://HOST:PORT]
    videoperf serve [--host 127.0.0.1] [--port 8000]

Predictions print JSON; a bad argument prints ``{"error": ...}`` (or ``error: ...`` for training) and exits 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from videoperf.config import SPEEDS
from videoperf.plain import split_list

COMMANDS = ("train", "evaluate", "calibrate", "predict", "trajectory", "typical", "batch", "serve")


def parser(prog: str = "videoperf") -> argparse.ArgumentParser:
    """The whole command line: every subcommand with its options."""
    top = argparse.ArgumentParser(prog=prog, description="Predict how a YouTube video will perform: train and "
                                  "evaluate models, then predict from the saved bundle or serve it over REST.")
    top.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = top.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    train = commands.add_parser("train", help="train the models and write the artifact bundle")
    train.add_argument("--data", required=True, help="'synthetic', a parquet/CSV file or a folder")
    train.add_argument("--artifacts", default=None, help="bundle folder (default: paths.artifacts_dir)")
    train.add_argument("--seed", type=int, default=None, help="seed of sampling and models (default: config)")
    evaluate = commands.add_parser("evaluate", help="fit on one source, score every video of another")
    evaluate.add_argument("--train", dest="train_source", help="training source")
    evaluate.add_argument("--test", dest="test_source", help="test source")
    evaluate.add_argument("--data", help="one source split by --split-date")
    evaluate.add_argument("--split-date", help="YYYY-MM-DD[THH:MM:SSZ]: train on videos published before, test on "
                          "the rest")
    evaluate.add_argument("--predictions", help="write one row per test video to this CSV")
    evaluate.add_argument("--report", help="write the metrics and OOF scores to this JSON file")
    evaluate.add_argument("--history", default="live", choices=("live", "live_channels", "train"),
                          help="what the system knows after its cut: channel history from every observation "
                               "before each publish time and the live level (live, default), that channel "
                               "history alone (live_channels), or the training data only (train)")
    evaluate.add_argument("--observed", default=None, metavar="K",
                          help="forecast each test video with more than K observations at its last observed age "
                               "from its first K (curve vs Szabo-Huberman on the same videos); several: 1,2,3,5")
    for command in (train, evaluate):
        command.add_argument("--speed", default="fast", choices=SPEEDS)
        command.add_argument("--models", default=None, help="comma-separated: ensemble,deep_learning")
        command.add_argument("--quiet", action="store_true", help="no progress bars or info logging")
        command.add_argument("--observed-at", help="snapshot time of video-resource files without a snapshot column")
        command.add_argument("--cluster", default=None,
                             help="run on Dask: 'local' or a scheduler address tcp://HOST:PORT (docs/dask.md)")
    calibrate = commands.add_parser("calibrate", help="calibrate a bundle to your channels' earlier videos")
    calibrate.add_argument("--artifacts", default=None, help="bundle folder (default: paths.artifacts_dir)")
    calibrate.add_argument("--data", required=True, help="your channels' videos: an export file or folder")
    calibrate.add_argument("--models", default=None, help="comma-separated (default: every model of the bundle)")
    calibrate.add_argument("--method", default="offset", choices=("offset", "isotonic"))
    calibrate.add_argument("--shrinkage", type=float, default=5.0,
                           help="pseudo-videos pulling each offset towards 0 (default 5)")
    calibrate.add_argument("--observed-at", help="snapshot time of video-resource files without a snapshot column")
    calibrate.add_argument("--quiet", action="store_true", help="no info logging")
    predict = commands.add_parser("predict", help="one video's views at an age, before or after publishing")
    trajectory = commands.add_parser("trajectory", help="one video's views at many ages, with interval and stage")
    for command in (predict, trajectory):
        _video_options(command)
    predict.add_argument("--days", type=float, default=None, help="days since publishing (default from config)")
    trajectory.add_argument("--ages", default=None, help="comma-separated days (default 0.25 ... 365)")
    typical = commands.add_parser("typical", help="a channel's typical views by age (p30 / p50 / p70 of its recent "
                                  "uploads), and one video against them")
    typical.add_argument("--data", required=True, help="the channel's uploads export: a file or folder")
    typical.add_argument("--channel-id", required=True)
    typical.add_argument("--ages", default=None, help="comma-separated days (default 1,2,3,7,14,28,60,90)")
    typical.add_argument("--recent", type=int, default=10, help="latest uploads compared (default 10)")
    typical.add_argument("--video-id", default=None, help="a video of the export to set against the band")
    typical.add_argument("--observed", default=None, help="a new video's observations: a JSON list such as "
                         "'[{\"days_since_publish\": 1, \"views\": 520}]', or a JSON file holding one")
    typical.add_argument("--artifacts", default=None, help="a bundle whose forecaster gives the curve shape and "
                         "prior (default: chosen from the export)")
    batch = commands.add_parser("batch", help="predictions for a CSV / parquet of requests")
    batch.add_argument("source", help="CSV / parquet file of requests (with --cluster: a file or folder of "
                       "partitions)")
    batch.add_argument("--model", default="ensemble", help="ensemble or deep_learning")
    batch.add_argument("--artifacts", default=None, help="bundle folder (default: paths.artifacts_dir)")
    batch.add_argument("--output", default=None, help="write a CSV instead of printing (with --cluster: a folder "
                       "of parquet partitions)")
    batch.add_argument("--cluster", default=None, help="score the partitions on Dask, 'local' or tcp://HOST:PORT "
                       "(docs/dask.md)")
    serve = commands.add_parser("serve", help="serve predictions over HTTP (JSON) with uvicorn")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--artifacts", default=None, help="bundle folder (default: paths.artifacts_dir)")
    serve.add_argument("--max-concurrent", type=int, default=None, help="predictions running at once")
    serve.add_argument("--no-micro-batch", action="store_true",
                       help="one model call per /predict request (bit-exact, slower under load)")
    serve.add_argument("--log-level", default="info")
    return top


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("videoperf")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def _video_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--title", required=True)
    command.add_argument("--tags", default="", help="comma-separated")
    command.add_argument("--categories", default="", help="comma-separated")
    command.add_argument("--duration", type=float, default=None, help="seconds")
    command.add_argument("--channel-avg-views", type=float, default=0.0)
    command.add_argument("--channel-video-count", type=float, default=0)
    command.add_argument("--channel-median-views", type=float, default=None,
                         help="median views of the channel's earlier videos (optional)")
    command.add_argument("--model", default="ensemble", help="ensemble or deep_learning")
    command.add_argument("--published-at", default=None, help="ISO date/time (default now)")
    command.add_argument("--artifacts", default=None, help="bundle folder (default: paths.artifacts_dir)")
    command.add_argument("--observed", default=None, help="the video's observations so far: a JSON list such as "
                         "'[{\"days_since_publish\": 1, \"views\": 52000}]', or a JSON file holding one")
    from videoperf.serving.request import OPTIONAL_FACTS, VideoRequest

    for name in OPTIONAL_FACTS:
        command.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None,
                             help=VideoRequest.model_fields[name].description)


def main(argv: Sequence[str] | None = None, prog: str = "videoperf") -> int:
    """Run one subcommand; returns the exit code."""
    commands = parser(prog)
    args = commands.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "batch" and args.cluster and not args.output:
        commands.error("--cluster needs --output FOLDER")
    if args.command in ("train", "evaluate", "calibrate"):
        return _training_command(args)
    if args.command == "serve":
        from videoperf.serving.service import serve  # FastAPI and uvicorn only for the service

        return serve(host=args.host, port=args.port, artifacts_dir=args.artifacts, max_concurrent=args.max_concurrent,
                     micro_batch=not args.no_micro_batch, log_level=args.log_level)
    from videoperf.serving import predict

    try:
        if args.command == "batch":
            return _batch(args)
        if args.command == "typical":
            from videoperf.serving.typical import typical_performance

            result = typical_performance(args.data, args.channel_id, ages=_ages_argument(args.ages),
                                         recent=args.recent, video_id=args.video_id,
                                         observed=_observed_argument(args.observed), artifacts_dir=args.artifacts)
            print(json.dumps(result, indent=2))
            return 0
        facts = {name: getattr(args, name) for name in predict.OPTIONAL_FACTS if getattr(args, name) is not None}
        video = dict(title=args.title, tags=split_list(args.tags), categories=split_list(args.categories),
                     duration_seconds=args.duration, channel_avg_views=args.channel_avg_views,
                     channel_video_count=args.channel_video_count, channel_median_views=args.channel_median_views,
                     model_type=args.model,
                     published_at=args.published_at, artifacts_dir=args.artifacts,
                     observed=_observed_argument(args.observed), **facts)
        if args.command == "trajectory":
            result = predict.predict_trajectory(**video, ages=_ages_argument(args.ages))
        else:
            result = predict.predict_performance(**video, days_since_publish=args.days)
    except (ValueError, NotImplementedError) as error:
        print(json.dumps({"error": str(error)}), file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


def _batch(args: argparse.Namespace) -> int:
    from videoperf.api import predict_batch

    if args.cluster:
        print(json.dumps(predict_batch(args.source, args.model, artifacts_dir=args.artifacts, cluster=args.cluster,
                                       output=args.output)))
        return 0
    result = predict_batch(args.source, args.model, artifacts_dir=args.artifacts)
    if args.output:
        result.to_csv(args.output, index=False)
        print(json.dumps({"rows": len(result), "written": args.output}))
    else:
        print(result.to_json(orient="records", lines=True))
    return 0


def _training_command(args: argparse.Namespace) -> int:
    from videoperf import api

    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "calibrate":
            found = api.calibrate(args.artifacts, args.data, models=args.models, method=args.method,
                                  shrinkage=args.shrinkage, observed_at=args.observed_at)
            print(f"calibrated to {found['to']}:")
            for model_type, entry in found["models"].items():
                print(f"  {model_type}: {entry['observations']} observations, mean log error "
                      f"{entry['log_bias_before']:+.3f} -> {entry['log_bias_after_in_sample']:+.3f} (in sample), "
                      f"offset {entry['offset_log']:+.3f}, slopes {entry['slopes']}")
            return 0
        if args.command == "train":
            result = api.train(args.data, args.speed, args.artifacts, args.models or "ensemble,deep_learning",
                               progress=not args.quiet, seed=args.seed, observed_at=args.observed_at,
                               cluster=args.cluster)
            _print_oof(result["oof"])
            print(f"\nartifacts written to {result['artifacts_dir']} in {result['seconds']:.0f} s")
            return 0
        result = api.evaluate(args.train_source, args.test_source, args.speed, args.models or "ensemble",
                              args.predictions, data=args.data, split_date=args.split_date, progress=not args.quiet,
                              history=args.history, observed_at=args.observed_at, cluster=args.cluster,
                              observed=_observed_ks(args.observed))
    except (ValueError, NotImplementedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _print_evaluation(result, args.report)
    return 0


def _print_oof(oof: dict[str, Any]) -> None:
    from videoperf.notebook.report import oof_scores

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


def _print_evaluation(result: dict[str, Any], report: str | None) -> None:
    from videoperf.evaluation.holdout import format_metrics

    _print_oof(result["oof"])
    print(f"\nTest metrics on {result['test_videos']} videos at their last observed age (log views: log1p):")
    print(format_metrics(result["metrics"]))
    for found in result.get("observed") or []:
        print(f"\nFrom observed days: {found['videos']} test videos with more than {found['k']} observations, each "
              f"forecast at its last observed age from its first {found['k']} (log views: log1p):")
        print(format_metrics(found["metrics"]))
    for path in result["written"]:
        print(f"predictions written to {path}")
    print(f"evaluation took {result['seconds']:.0f} s")
    if report:
        out = {"metrics": result["metrics"].to_dict(), "oof": result["oof"], "seconds": result["seconds"],
               "test_videos": result["test_videos"]}
        if result.get("observed"):
            out["observed"] = [{"k": found["k"], "videos": found["videos"], "metrics": found["metrics"].to_dict()}
                               for found in result["observed"]]
        Path(report).write_text(json.dumps(out, indent=2, default=str) + "\n")


def _observed_ks(value: str | None) -> list[int] | None:
    """``--observed`` of ``evaluate``: K or comma-separated Ks."""
    if value is None:
        return None
    try:
        return [int(item) for item in value.split(",") if item.strip()]
    except ValueError:
        raise ValueError(f"observed: expected a number of observations or several (1,2,3), got {value!r}") from None


def _observed_argument(value: str | None) -> Any:
    """``--observed`` of a prediction: JSON text, or the path of a JSON file holding it."""
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


def legacy_predict_argv(argv: Sequence[str]) -> list[str]:
    """``predict.py``'s older options as a subcommand: ``serve ...``, ``--batch FILE``, ``--trajectory``."""
    argv = list(argv)
    if argv in ([], ["-h"], ["--help"]):
        return argv
    if "serve" in argv:
        before, after = argv[:argv.index("serve")], argv[argv.index("serve") + 1:]
        if "--artifacts" in before and "--artifacts" not in after:
            after += ["--artifacts", before[before.index("--artifacts") + 1]]
        return ["serve", *after]
    if "--batch" in argv:
        i = argv.index("--batch")
        rest = argv[:i] + argv[i + 2:]
        return ["batch", *argv[i + 1:i + 2], *rest]
    if "--trajectory" in argv:
        argv.remove("--trajectory")
        return ["trajectory", *argv]
    return ["predict", *argv]
