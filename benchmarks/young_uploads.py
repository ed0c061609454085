"""A bundle trained on a channel-uploads folder of monthly snapshots, scored on the uploads a week old or less at
the next snapshot, on the simulator.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/young_uploads.py [--channels 300] [--seed 0]

One ground truth (``videoperf.data.population``, as ``benchmarks/population_bias.py``): every upload of
``--channels`` channels, exported once a month (``write_upload_snapshots``) and read back through the
channel-uploads loader. For each origin (a snapshot time, ``--origins``: the last ones but one by default) both
models are trained on every snapshot taken up to it (what ``videoperf train --data FOLDER`` on the folder as it
stood then sees), and scored on the uploads that are 0-7 days old at the next snapshot, at that snapshot: the
channel analyst's question "how will last week's uploads do?". Channel history: every observation before the
video's publish time, i.e. the snapshots up to the origin (what a user passes as the channel's average views and
video count). The channel-mean baseline answers from the same history. ``log_bias`` is the mean of
log1p(predicted) - log1p(actual), pooled over origins; Spearman is over the pooled test videos.

Writes ``benchmarks/results/young_uploads.json`` and ``young_uploads.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

from common import log_scores, write_report  # noqa: E402

from videoperf.config import load_config  # noqa: E402
from videoperf.data.population import generate_population, write_upload_snapshots  # noqa: E402
from videoperf.data.sources import load_data  # noqa: E402
from videoperf.data.synthetic import REAL_EXPORT_END  # noqa: E402
from videoperf.evaluation.holdout import baseline_tables, live_history, predict_videos, test_rows  # noqa: E402
from videoperf.training.pipeline import train_models  # noqa: E402
from videoperf.training.settings import resolve  # noqa: E402

YOUNG_DAYS = 7.0


def young_at(uploads: pd.DataFrame, stamp: pd.Timestamp) -> pd.DataFrame:
    """The observations at snapshot ``stamp`` of the uploads at most ``YOUNG_DAYS`` old then."""
    at = uploads[uploads["observed_at"] == stamp]
    age = (at["observed_at"] - at["published_at"]).dt.total_seconds() / 86400.0
    return at[(age >= 0) & (age <= YOUNG_DAYS)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--origins", type=int, default=3, help="how many of the last snapshots but one are origins")
    parser.add_argument("--speed", default="fast")
    parser.add_argument("--models", default="ensemble,deep_learning")
    parser.add_argument("--targets", default="auto,channel_relative",
                        help="training.views_target values to train with, one bundle each")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--name", default="young_uploads", help="file stem of the JSON / markdown written")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    population = generate_population(args.channels, args.seed, end=REAL_EXPORT_END)
    with tempfile.TemporaryDirectory() as tmp:
        write_upload_snapshots(population, Path(tmp) / "uploads")
        uploads = load_data(Path(tmp) / "uploads")
    stamps = sorted(uploads["observed_at"].unique())
    origins = [pd.Timestamp(s) for s in stamps[-1 - args.origins:-1]]
    models = tuple(args.models.split(","))
    report: dict[str, Any] = {"protocol": __doc__.split("\n\n")[2].replace("\n", " "),
                              "settings": {**vars(args), "out": None}, "origins": {}, "results": {},
                              "fit_seconds": {}}
    pooled: dict[str, dict[str, list[np.ndarray]]] = {}
    for origin in origins:
        following = pd.Timestamp(stamps[stamps.index(origin) + 1])
        train = uploads[uploads["observed_at"] <= origin]
        test = young_at(uploads, following)
        last, last_targets = test_rows(test)
        actual = last["views"].to_numpy(float)
        report["origins"][str(origin)] = {"next_snapshot": str(following), "test_videos": int(len(last)),
                                          "train_videos": int(train["video_id"].nunique()),
                                          "median_age_days": float(last_targets["days_since_publish"].median())
                                          if "days_since_publish" in last_targets else None}
        for target in args.targets.split(","):
            config = load_config()
            config = dataclasses.replace(config, training=dataclasses.replace(config.training, views_target=target))
            fit_start = time.perf_counter()
            settings = resolve(args.speed, models, None, config, progress=False)
            trained = train_models(train, settings, observed_forecaster=False)
            report["fit_seconds"][f"{origin}/{target}"] = round(time.perf_counter() - fit_start, 1)
            history = live_history(trained, train)
            predicted = predict_videos(trained, last, last_targets, history=history)
            base = baseline_tables(train, last, last_targets, history=history)["channel_mean"]
            cell = pooled.setdefault(target, {"actual": []})
            cell["actual"].append(actual)
            for model in models:
                cell.setdefault(model, []).append(predicted[model]["predicted_views"].to_numpy(float))
            cell.setdefault("channel_mean", []).append(base["predicted_views"].to_numpy(float))
            print(f"origin {origin:%Y-%m-%d} ({target}): {len(last)} young uploads, trained in "
                  f"{report['fit_seconds'][f'{origin}/{target}']:.0f} s", flush=True)
    for target, cell in pooled.items():
        actual = np.concatenate(cell["actual"])
        found = {name: log_scores(actual, np.concatenate(cell[name])) for name in (*models, "channel_mean")}
        for model in models:
            found[model]["bars"] = {
                "abs_log_bias_at_most_0.3": abs(found[model]["log_bias"]) <= 0.3,
                "spearman_at_least_channel_mean_plus_0.03":
                    found[model]["spearman"] >= found["channel_mean"]["spearman"] + 0.03}
        report["results"][target] = {"test_videos": int(len(actual)), "scores": found}
    write_report(report, started, args.out, args.name, lambda found: markdown(found, models))
    return 0


def markdown(report: dict[str, Any], models: tuple[str, ...]) -> str:
    """The pooled scores per views target and model, beside the channel mean, and the origins."""
    settings = report["settings"]
    lines = ["# Uploads a week old or less at the next snapshot, from a bundle trained on monthly snapshots", "",
             f"Simulator population: {settings['channels']} channels, seed {settings['seed']}; `{settings['speed']}` "
             f"preset; whole run {report['seconds'] / 60:.1f} min.", "",
             "| origin (trained on snapshots up to) | next snapshot | training videos | young test uploads |",
             "|---|---|---|---|"]
    for origin, found in report["origins"].items():
        lines.append(f"| {origin[:16]} | {found['next_snapshot'][:16]} | {found['train_videos']:,} | "
                     f"{found['test_videos']:,} |")
    lines += ["", "| views target | model | test uploads | mean log error | log-MAE | log R² | Spearman | "
              "bias within ±0.3 | Spearman ≥ channel mean + 0.03 |", "|---|---|---|---|---|---|---|---|---|"]
    for target, result in report["results"].items():
        for name, found in result["scores"].items():
            bars = found.get("bars", {})
            marks = [("yes" if ok else "no") for ok in bars.values()] or ["–", "–"]
            lines.append(f"| {target} | {name.replace('_', ' ')} | {result['test_videos']:,} | "
                         f"{found['log_bias']:+.3f} | {found['log_mae']:.3f} | {found['log_r2']:.3f} | "
                         f"{found['spearman']:.3f} | {marks[0]} | {marks[1]} |")
    lines += ["", "Mean log error = mean of log1p(predicted) - log1p(actual) (positive: over-predicts), pooled over "
              "the origins. Channel history: every observation before each upload's publish time."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
