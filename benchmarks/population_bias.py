"""What a chart-trained model gets wrong on ordinary uploads, and the selection correction, on the simulator.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/population_bias.py [--channels 300] [--seed 0] \
        [--models ensemble,deep_learning] [--targets absolute,channel_relative,auto]

One ground truth (``videoperf.data.population``): every upload of ``--channels`` channels, and the daily top-10
chart per region that samples it. The chart goes through the trending-export loader, the population
through the channel-uploads loader (monthly snapshot files written to a temporary folder). Both are split
by publish date (``--split-date``). Each model is trained on the chart's earlier videos (what the project
did so far) and on the population's earlier videos (the reference), once per views target
(``training.views_target``: ``absolute`` log views, ``channel_relative``, log views minus the channel's as-of
level: the selection correction, and ``auto``, the default: relative for a chart, absolute for uploads), then
scored on the later videos, each at its last observation: the population's test uploads (all, never charted,
charted) at their last monthly snapshot, read as ordinary uploads (``on_chart`` false: a chart-trained model reads
them past its survivors' cap from the lifecycle prior, ``videoperf.models.survivors``), the chart's own test
videos at their last chart day (``on_chart`` true), and, as new channels, the never-charted uploads published
before the first snapshot. Channel history of a test video: ``training``, the
training sample's observations only (for a chart-trained model, only the channel's charted videos: the
"before" protocol), or ``uploads``, every upload of the channel observed before its publish time (what a
channel analyst passes as the channel's average views; the chart test videos get the chart's observations).
``log_bias`` is the mean of log1p(predicted) - log1p(actual): positive = over-prediction.

Writes ``benchmarks/results/population_bias.json`` and ``population_bias.md``.
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

from videoperf.config import Config, load_config  # noqa: E402
from videoperf.data.population import generate_population, write_upload_snapshots  # noqa: E402
from videoperf.data.sources import load_data  # noqa: E402
from videoperf.data.splits import split_by_date  # noqa: E402
from videoperf.data.synthetic import REAL_EXPORT_END  # noqa: E402
from videoperf.evaluation.holdout import baseline_tables, live_history, predict_videos, test_rows  # noqa: E402
from videoperf.models.registry import FAMILIES  # noqa: E402
from videoperf.models.survivors import read_with_survivors, requests_at_ages  # noqa: E402
from videoperf.training.pipeline import train_models  # noqa: E402
from videoperf.training.settings import resolve  # noqa: E402

TEST_SETS = {
    "population": "every population upload published on or after the split date, at its last monthly snapshot",
    "never_charted": "those that never charted",
    "charted": "those that charted",
    "chart_test": "the chart's own test videos, at their last chart day",
    "new_channels": "the never-charted uploads published before the first snapshot, so with no channel history "
                    "(as a new channel's), at their last monthly snapshot (chart-trained models only: the "
                    "population's training sample holds them)",
}
HISTORIES = {"training": "the training sample's observations only",
             "uploads": "every observation of the channel's uploads before the publish time (chart test: the chart's)",
             "user": "what a user passes in a request: the count and average views of the channel's uploads "
                     "published and observed before the publish time (each at its latest such observation)",
             "user_median": "the same and their median views (``channel_median_views``)"}


def load_samples(channels: int, seed: int, chart_size: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The chart and population snapshots, both through the project's loaders, and the truth per video."""
    population = generate_population(channels, seed, chart_size=chart_size, end=REAL_EXPORT_END)
    with tempfile.TemporaryDirectory() as tmp:
        chart_file = Path(tmp) / "chart.csv"
        population.chart.to_csv(chart_file, index=False)
        write_upload_snapshots(population, Path(tmp) / "uploads")
        return load_data(chart_file), load_data(Path(tmp) / "uploads"), population.videos


def user_requests(last: pd.DataFrame, uploads: pd.DataFrame) -> pd.DataFrame:
    """Test rows as prediction requests with the channel statistics a user passes: the count, average and median
    views of the channel's uploads published and observed before each row's publish time (the median as
    ``channel_mean_log_views``, what a request's ``channel_median_views`` becomes)."""
    observed = uploads.sort_values("observed_at")
    stats = []
    for channel, rows in last.groupby("channel_id", sort=False):
        mine = observed[observed["channel_id"] == channel]
        for index, published in rows["published_at"].items():
            seen = mine[(mine["observed_at"] < published) & (mine["published_at"] < published)]
            latest = seen.groupby("video_id")["views"].last().to_numpy(float)
            stats.append((index, len(latest), latest.mean() if len(latest) else np.nan,
                          np.log1p(np.median(latest)) if len(latest) else np.nan))
    table = pd.DataFrame(stats, columns=["index", "count", "average", "log_median"]).set_index("index")
    table = table.reindex(last.index)
    ages = (last["observed_at"] - last["published_at"]).dt.total_seconds().to_numpy(float) / 86400.0
    return last.assign(age_days=ages, channel_video_count=table["count"].to_numpy(float),
                       channel_avg_views=table["average"].to_numpy(float),
                       channel_mean_log_views=table["log_median"].to_numpy(float))


def predict_requests(trained: Any, requests: pd.DataFrame, model: str) -> np.ndarray:
    """Views of request rows through the request path (``transform_videos``), read as ordinary uploads."""
    family, fitted = FAMILIES[model], trained.models[model]

    def predict(rows: pd.DataFrame) -> pd.DataFrame:
        return family.predict(fitted, trained.features.transform_videos(rows), rows)

    out = read_with_survivors(trained.survivors, predict, requests, requests["age_days"].to_numpy(float),
                              np.zeros(len(requests), dtype=bool), requests_at_ages, family.age_columns)
    return out["predicted_views"].to_numpy(float)


def with_target(config: Config, target: str) -> Config:
    """``config`` with ``training.views_target`` set to ``target``."""
    return dataclasses.replace(config, training=dataclasses.replace(config.training, views_target=target))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chart-size", type=int, default=10)
    parser.add_argument("--split-date", default="2026-04-15")
    parser.add_argument("--speed", default="fast")
    parser.add_argument("--models", default="ensemble,deep_learning")
    parser.add_argument("--targets", default="absolute,channel_relative,auto")
    parser.add_argument("--sources", default="chart,population")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--name", default="population_bias", help="file stem of the JSON / markdown written")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    chart, uploads, videos = load_samples(args.channels, args.seed, args.chart_size)
    charted = set(videos.loc[videos["charted"], "video_id"])
    train = dict(zip(("chart", "population"), (split_by_date(chart, args.split_date)[0],
                                               split_by_date(uploads, args.split_date)[0])))
    population_test = split_by_date(uploads, args.split_date)[1]
    unseen = uploads[(uploads["published_at"] < uploads["observed_at"].min()) & ~uploads["video_id"].isin(charted)]
    tests = {"population": population_test,
             "never_charted": population_test[~population_test["video_id"].isin(charted)],
             "charted": population_test[population_test["video_id"].isin(charted)],
             "chart_test": split_by_date(chart, args.split_date)[1],
             "new_channels": unseen}
    observed = {"chart": chart, "population": uploads}
    models = tuple(args.models.split(","))
    report: dict[str, Any] = {
        "protocol": __doc__.split("\n\n")[2].replace("\n", " "), "test_sets": TEST_SETS, "histories": HISTORIES,
        "settings": {**vars(args), "out": None},
        "data": {"uploads": len(videos), "charted_share": round(float(videos["charted"].mean()), 4),
                 "median_final_views": {"all": float(videos["final_views"].median()),
                                        "charted": float(videos.loc[videos["charted"], "final_views"].median())},
                 "train_videos": {name: int(frame["video_id"].nunique()) for name, frame in train.items()},
                 "test_videos": {name: int(frame["video_id"].nunique()) for name, frame in tests.items()}},
        "results": {}, "fit_seconds": {},
    }
    # what a user would pass for each test upload, the same for every model trained below
    user = {name: user_requests(test_rows(test)[0], uploads) for name, test in tests.items() if name != "chart_test"}
    for source in args.sources.split(","):
        for target in args.targets.split(","):
            fit_start = time.perf_counter()
            settings = resolve(args.speed, models, None, with_target(load_config(), target), progress=False)
            trained = train_models(train[source], settings, observed_forecaster=False)
            report["fit_seconds"][f"{source}/{target}"] = round(time.perf_counter() - fit_start, 1)
            for name, test in tests.items():
                if source == "population" and name == "new_channels":
                    continue  # the population's training sample holds them
                last, last_targets = test_rows(test)
                actual = last["views"].to_numpy(float)
                live = "chart" if name == "chart_test" else "population"
                for history_name, history in (("training", None),
                                              ("uploads", live_history(trained, observed[live]))):
                    predicted = predict_videos(trained, last, last_targets, history=history,
                                               on_chart=name == "chart_test")
                    base = baseline_tables(train[source], last, last_targets, history=history)["channel_mean"]
                    report["results"][f"{source}/{target}/{history_name}/{name}"] = {
                        **{model: log_scores(actual, predicted[model]["predicted_views"].to_numpy(float))
                           for model in models},
                        "channel_mean": log_scores(actual, base["predicted_views"].to_numpy(float))}
                if name == "chart_test":
                    continue  # chart rows come with the chart's own history
                for history_name, median in (("user", False), ("user_median", True)):
                    requests = user[name] if median else user[name].assign(channel_mean_log_views=np.nan)
                    report["results"][f"{source}/{target}/{history_name}/{name}"] = {
                        **{model: log_scores(actual, predict_requests(trained, requests, model)) for model in models},
                        "channel_mean": log_scores(actual, base["predicted_views"].to_numpy(float))}
            print(f"trained on the {source} sample ({target}) in {report['fit_seconds'][f'{source}/{target}']:.0f} s",
                  flush=True)
    report["correction"] = correction_summary(report, models)
    report["default_bundle"] = default_bars(report, models)
    write_report(report, started, args.out, args.name, lambda found: markdown(found, models))
    return 0


def correction_summary(report: dict[str, Any], models: tuple[str, ...]) -> dict[str, Any]:
    """Issue 12's bar per model: the chart-trained model's mean log error on never-charted uploads, before (absolute
    target) and after (channel-relative target, both with the uploads' history), and Spearman on the population."""
    results, out = report["results"], {}
    for model in models:
        keys = {"before_training_history": "chart/absolute/training", "before": "chart/absolute/uploads",
                "after": "chart/channel_relative/uploads"}
        if not all(f"{key}/never_charted" in results for key in keys.values()):
            continue
        bias = {name: results[f"{key}/never_charted"][model]["log_bias"] for name, key in keys.items()}
        rank = {name: results[f"{key}/population"][model]["spearman"] for name, key in keys.items()}
        reference = bias["before_training_history"]
        out[model] = {"never_charted_log_bias": bias, "population_spearman": rank,
                      "cut_vs_before_training_history": 1 - abs(bias["after"]) / abs(reference),
                      "cut_vs_before": 1 - abs(bias["after"]) / abs(bias["before"])}
    return out


def default_bars(report: dict[str, Any], models: tuple[str, ...]) -> dict[str, Any]:
    """The default bundle (chart-trained, ``auto`` target) under each channel history a user may have (``uploads``:
    the full history; ``user``: count and average views; ``user_median``: and the median): mean log error on
    never-charted uploads (bar ±0.3) and new channels (±0.5), Spearman on all test uploads against the channel
    mean's + 0.02."""
    results, out = report["results"], {}
    for history in ("uploads", "user", "user_median"):
        key = f"chart/auto/{history}"
        if f"{key}/never_charted" not in results:
            continue
        mean_rank = results[f"{key}/population"]["channel_mean"]["spearman"]
        for model in models:
            never = results[f"{key}/never_charted"][model]["log_bias"]
            new = results.get(f"{key}/new_channels", {}).get(model, {}).get("log_bias")
            rank = results[f"{key}/population"][model]["spearman"]
            out.setdefault(model, {})[history] = {
                "never_charted_log_bias": never, "new_channels_log_bias": new, "population_spearman": rank,
                "channel_mean_spearman": mean_rank,
                "bars": {"never_charted_within_0.3": abs(never) <= 0.3,
                         "new_channels_within_0.5": new is not None and abs(new) <= 0.5,
                         "spearman_at_least_channel_mean_plus_0.02": rank >= mean_rank + 0.02}}
    return out


def markdown(report: dict[str, Any], models: tuple[str, ...]) -> str:
    """The results as markdown: the correction's summary, then one row per (training, target, history, test set)."""
    data, settings = report["data"], report["settings"]
    lines = [
        "# Chart selection bias on the simulated population, and the channel-relative correction", "",
        f"{data['uploads']:,} uploads of {settings['channels']} channels (seed {settings['seed']}), "
        f"{data['charted_share']:.1%} ever charted; median final views {data['median_final_views']['all']:,.0f} "
        f"(charted: {data['median_final_views']['charted']:,.0f}). Split {settings['split_date']}: "
        f"{data['train_videos']['chart']:,} chart / {data['train_videos']['population']:,} population training "
        f"videos. `{settings['speed']}` preset; whole run {report['seconds'] / 60:.1f} min.", "",
    ]
    for model, summary in report["correction"].items():
        bias, rank = summary["never_charted_log_bias"], summary["population_spearman"]
        lines += [f"**{model}, trained on the chart**: mean log error on never-charted uploads "
                  f"{bias['before_training_history']:+.2f} (absolute target, chart history), "
                  f"{bias['before']:+.2f} (absolute target, uploads' history), {bias['after']:+.2f} (channel-relative "
                  f"target, uploads' history): cut by {summary['cut_vs_before_training_history']:.0%} / "
                  f"{summary['cut_vs_before']:.0%}. Spearman on all test uploads "
                  f"{rank['before_training_history']:.3f} / {rank['before']:.3f} / {rank['after']:.3f}.", ""]
    for model, histories in report.get("default_bundle", {}).items():
        for history, found in histories.items():
            new = found["new_channels_log_bias"]
            lines += [f"**{model}, the default bundle** (chart, `auto` target, history `{history}`): mean log error "
                      f"{found['never_charted_log_bias']:+.3f} on never-charted uploads (bar ±0.3), "
                      + (f"{new:+.3f}" if new is not None else "–") + " on new channels (bar ±0.5); Spearman "
                      f"{found['population_spearman']:.3f} on all test uploads against the channel mean's "
                      f"{found['channel_mean_spearman']:.3f} (bar: + 0.02).", ""]
    head = "| trained on | views target | history | tested on | videos |"
    rule = "|---|---|---|---|---|"
    for model in (*models, "channel_mean"):
        head += f" {model} log bias | {model} log MAE | {model} Spearman |"
        rule += "---|---|---|"
    lines += [head, rule]
    for key, result in report["results"].items():
        source, target, history, name = key.split("/")
        row = f"| {source} | {target} | {history} | {name.replace('_', ' ')} | {data['test_videos'][name]:,} |"
        for model in (*models, "channel_mean"):
            found = result[model]
            row += f" {found['log_bias']:+.3f} | {found['log_mae']:.3f} | {found['spearman']:.3f} |"
        lines.append(row)
    lines += ["", "log bias = mean of log1p(predicted) - log1p(actual) (positive: over-predicts). Test sets: "
              + "; ".join(f"*{name.replace('_', ' ')}*: {text}" for name, text in report["test_sets"].items())
              + ". Histories: " + "; ".join(f"*{k}*: {v}" for k, v in report["histories"].items()) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
