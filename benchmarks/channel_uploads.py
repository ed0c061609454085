"""Channel-uploads data on the simulator: evaluating on an uploads folder (issue 12, point 3) and calibrating a
chart-trained bundle to channels' own earlier videos (point 4).

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/channel_uploads.py [--channels 300] [--seed 0]

One ground truth (``videoperf.data.population``, as ``benchmarks/population_bias.py``). *Evaluate*: the monthly
channel-uploads files go to a folder and ``videoperf.evaluate(data=FOLDER, split_date=...)`` (what
``python model_update.py evaluate --data FOLDER --split-date D`` runs) trains both models on the uploads
published before the split date and scores every later upload at its last snapshot, beside the baselines.
*Calibrate*: a bundle trained on the chart's videos published before ``--chart-cut`` (both models, default
settings); every channel with at least ``--min-videos`` uploads (no other selection): its first 60% (by publish
time) are its "earlier videos"; ``model_update.calibrate`` on one channel's earlier videos alone, channel by
channel, and on all of them at once (per-channel offsets); the mean log error (mean of log1p(predicted) -
log1p(actual)) of each channel's last 40% at their last snapshot, before and after, pooled and per channel, beside
the share of channels within ±0.15 that sampling noise alone allows. None of these channels has uploads enough for
that share to reach 90%, so the same is done (``--busy-channels``) on the channels with at least
``--busy-min-videos`` uploads of a second ground truth whose channels upload ``--busy-pace`` times a week, with the
same bundle: there point 4 is decidable channel by channel.

Writes ``benchmarks/results/channel_uploads.json`` and ``channel_uploads.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

from common import write_report  # noqa: E402

import videoperf  # noqa: E402
from videoperf.config import load_config  # noqa: E402
from videoperf.data.population import generate_population, write_upload_snapshots  # noqa: E402
from videoperf.data.sources import load_data  # noqa: E402
from videoperf.data.splits import split_by_date  # noqa: E402
from videoperf.data.synthetic import REAL_EXPORT_END  # noqa: E402
from videoperf.serving.bundle import Bundle  # noqa: E402

METRICS = ("views_log_r2", "views_spearman", "views_log_mae")
DECIDABLE = 0.9  # a channel's noise alone puts an exact calibration within ±0.15 at least this often


def log_bias(frame: pd.DataFrame) -> float:
    """Mean of log1p(predicted) - log1p(actual)."""
    return float(np.mean(np.log1p(frame["predicted_views"].clip(lower=0)) - np.log1p(frame["actual_views"])))


def write_export(snapshots: pd.DataFrame, path: Path) -> Path:
    """Canonical snapshots back as a snake_case channel-uploads CSV (what a user's export looks like)."""
    pd.DataFrame({"snapshot_utc": snapshots["observed_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "video_id": snapshots["video_id"], "channel_id": snapshots["channel_id"],
                  "channel_title": snapshots["channel_title"], "title": snapshots["title"],
                  "published_at": snapshots["published_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "view_count": snapshots["views"].astype(np.int64)}).to_csv(path, index=False)
    return path


def evaluate_folder(folder: Path, split_date: str, speed: str, models: tuple[str, ...], target: str
                    ) -> dict[str, Any]:
    """Point 3: ``model_update.evaluate`` on the uploads folder (``training.views_target`` = ``target``); metrics
    and mean log error per model."""
    config = load_config()
    config = dataclasses.replace(config, training=dataclasses.replace(config.training, views_target=target))
    result = videoperf.evaluate(data=str(folder), split_date=split_date, speed=speed, models=models,
                                   progress=False, config=config)
    table = result["metrics"]
    out = {name: {metric: float(table.loc[metric, name]) for metric in METRICS if metric in table.index}
           for name in table.columns}
    for name, frame in result["predictions"].items():
        out[name]["log_bias"] = log_bias(frame)
    return {"test_videos": result["test_videos"], "seconds": result["seconds"], "scores": out,
            "bars": {name: {"beats_channel_mean_spearman": out[name]["views_spearman"]
                            > out["channel_mean"]["views_spearman"],
                            "abs_log_bias_at_most_0.3": abs(out[name]["log_bias"]) <= 0.3}
                     for name in models}}


def calibration_figures(bundle_dir: Path, uploads: pd.DataFrame, tmp: Path, models: tuple[str, ...],
                        min_videos: int) -> dict[str, Any]:
    """Point 4: calibrate the chart-trained bundle of ``bundle_dir`` on each channel's first 60% of videos, score
    its last 40%.

    Channels: every one with at least ``min_videos`` uploads (no other choice). ``each_channel``: ``calibrate`` on
    that channel's earlier videos alone (the issue's case: a user calibrating to their channel), one channel at a
    time; ``all_channels``: one ``calibrate`` on every such channel's earlier videos (per-channel offsets, shared
    slopes). Per channel the mean log error of its later videos at their last snapshot; the share within ±0.15,
    the pooled mean over all later videos, and the share an exact calibration would reach from sampling noise
    alone (``noise_share``: P(|N(0, se²)| <= 0.15) averaged over channels, se² = s² (1/later + 1/earlier), s the
    sd of the channel's calibrated log errors on its later videos); ``decidable``: the channels whose own noise
    alone would put an exact calibration within ±0.15 with probability >= 90% (where point 4 can be decided).
    """
    firsts = uploads.sort_values("published_at").drop_duplicates("video_id")
    sizes = firsts.groupby("channel_id")["video_id"].size()
    channels = sizes.index[sizes >= min_videos]
    earlier: dict[str, set] = {}
    for channel in channels:
        order = firsts.loc[firsts["channel_id"] == channel, "video_id"].to_numpy()
        earlier[channel] = set(order[:int(0.6 * len(order))])
    every_earlier = set().union(*earlier.values()) if earlier else set()
    mine = uploads[uploads["channel_id"].isin(channels)]
    later = mine[~mine["video_id"].isin(every_earlier)]
    out: dict[str, Any] = {"channels": int(len(channels)), "later_videos": int(later["video_id"].nunique()),
                           "channel_videos": {"min": int(sizes[channels].min()), "median": float(sizes[channels]
                                                                                                   .median()),
                                              "max": int(sizes[channels].max())}, "models": {}}
    before = {model: Bundle.load(bundle_dir).predict_observed(later, model, history=mine) for model in models}
    after: dict[str, dict[str, list[pd.DataFrame]]] = {model: {"each_channel": [], "all_channels": []}
                                                       for model in models}
    folder = tmp / "bundle_calibrated"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(bundle_dir, folder)
    for channel in channels:
        own = mine[mine["channel_id"] == channel]
        videoperf.calibrate(folder, own[own["video_id"].isin(earlier[channel])])
        calibrated = Bundle.load(folder)
        for model in models:
            after[model]["each_channel"].append(calibrated.predict_observed(later[later["channel_id"] == channel],
                                                                            model, history=mine))
    videoperf.calibrate(folder, mine[mine["video_id"].isin(every_earlier)])
    calibrated = Bundle.load(folder)
    for model in models:
        after[model]["all_channels"].append(calibrated.predict_observed(later, model, history=mine))
    n_earlier = pd.Series({channel: len(ids) for channel, ids in earlier.items()})
    for model in models:
        out["models"][model] = {"before": channel_errors(before[model], n_earlier)}
        for scope, frames in after[model].items():
            out["models"][model][scope] = channel_errors(pd.concat(frames, ignore_index=True), n_earlier)
    return out


def channel_errors(frame: pd.DataFrame, n_earlier: pd.Series, bar: float = 0.15) -> dict[str, Any]:
    """Per-channel mean log errors of ``frame`` (later videos) and what ``calibration_figures`` reports of them."""
    from scipy.stats import norm

    error = np.log1p(frame["predicted_views"].clip(lower=0)) - np.log1p(frame["actual_views"])
    grouped = error.groupby(frame["channel_id"])
    per_channel, spread, count = grouped.mean(), grouped.std(), grouped.size()
    se = spread * np.sqrt(1.0 / count + 1.0 / n_earlier.reindex(per_channel.index))
    noise = 2 * norm.cdf(bar / se) - 1
    decidable = noise >= DECIDABLE
    sizes = count + n_earlier.reindex(per_channel.index)
    by_size = {}
    for low, high in ((0, 60), (60, 120), (120, None)):
        chosen = (sizes >= low) & (sizes < (high if high else np.inf))
        if chosen.any():
            by_size[f"{low}-{high - 1}" if high else f"{low}+"] = {
                "channels": int(chosen.sum()), "share_within": float((per_channel[chosen].abs() <= bar).mean())}
    return {"pooled": float(error.mean()), "mean_per_channel": float(per_channel.mean()),
            "median_abs_per_channel": float(per_channel.abs().median()),
            "share_within_0.15": float((per_channel.abs() <= bar).mean()),
            "noise_share_within_0.15": float(noise.mean()),
            "decidable": {"channels": int(decidable.sum()),
                          "share_within": float((per_channel[decidable].abs() <= bar).mean()) if decidable.any()
                          else None},
            "by_channel_videos": by_size}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split-date", default="2026-04-15")
    parser.add_argument("--chart-cut", default="2026-03-01")
    parser.add_argument("--min-videos", type=int, default=30)
    parser.add_argument("--busy-channels", type=int, default=24,
                        help="channels of a second population of busy channels (0: none), seed --seed + 1")
    parser.add_argument("--busy-pace", type=float, default=20.0, help="their median uploads per week")
    parser.add_argument("--busy-min-videos", type=int, default=500, help="the busy channels calibrated")
    parser.add_argument("--speed", default="fast")
    parser.add_argument("--models", default="ensemble,deep_learning")
    parser.add_argument("--targets", default="absolute,channel_relative",
                        help="training.views_target values to evaluate with (the calibration uses the default)")
    parser.add_argument("--parts", default="evaluate,calibrate", help="evaluate (point 3), calibrate (point 4)")
    parser.add_argument("--name", default="channel_uploads", help="file stem of the JSON / markdown written")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    models = tuple(args.models.split(","))
    population = generate_population(args.channels, args.seed, end=REAL_EXPORT_END)
    report: dict[str, Any] = {"protocol": __doc__.split("\n\n")[2].replace("\n", " "),
                              "settings": {**vars(args), "out": None}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        write_upload_snapshots(population, tmp / "uploads")
        population.chart.to_csv(tmp / "chart.csv", index=False)
        parts = args.parts.split(",")
        if "evaluate" in parts:
            report["evaluate"] = {target: evaluate_folder(tmp / "uploads", args.split_date, args.speed, models,
                                                          target) for target in args.targets.split(",")}
            print("evaluate done", flush=True)
        if "calibrate" in parts:
            bundle_dir = tmp / "bundle"
            videoperf.train(split_by_date(load_data(tmp / "chart.csv"), args.chart_cut)[0], args.speed,
                               bundle_dir, models=models, progress=False)
            report["calibrate"] = calibration_figures(bundle_dir, load_data(tmp / "uploads"), tmp, models,
                                                      args.min_videos)
            if args.busy_channels:
                # Channels with enough uploads for point 4 to be decidable (none of the main population's is):
                # another ground truth of the same simulator, uploading ``--busy-pace`` times a week (median).
                busy = generate_population(args.busy_channels, args.seed + 1, uploads_per_week=args.busy_pace,
                                           end=REAL_EXPORT_END)
                write_upload_snapshots(busy, tmp / "busy_uploads")
                report["calibrate_busy"] = calibration_figures(bundle_dir, load_data(tmp / "busy_uploads"), tmp,
                                                               models, args.busy_min_videos)
    write_report(report, started, args.out, args.name, lambda found: markdown(found, models))
    return 0


def markdown(report: dict[str, Any], models: tuple[str, ...]) -> str:
    """Both parts as markdown tables."""
    settings = report["settings"]
    lines = ["# Channel-uploads data on the simulated population", "",
             f"{settings['channels']} channels (seed {settings['seed']}), `{settings['speed']}` preset, whole run "
             f"{report['seconds'] / 60:.1f} min."]
    if "evaluate" in report:
        lines += evaluate_markdown(report)
    if "calibrate" in report:
        lines += calibrate_markdown(report, models)
    return "\n".join(lines) + "\n"


def evaluate_markdown(report: dict[str, Any]) -> list[str]:
    """Point 3's table."""
    settings = report["settings"]
    first = next(iter(report["evaluate"].values()))
    lines = ["", f"## `evaluate --data FOLDER --split-date {settings['split_date']}` "
             f"({first['test_videos']:,} test uploads)", "",
             "| views target | model | log R² | Spearman | log MAE | mean log error | beats channel mean (Spearman) "
             "| \\|mean log error\\| ≤ 0.3 |", "|---|---|---|---|---|---|---|---|"]
    rows = [(target, name, found, evaluate["bars"].get(name)) for target, evaluate in report["evaluate"].items()
            for name, found in evaluate["scores"].items()]
    for target, name, found, bars in rows:
        verdict = ("– | –" if bars is None else " | ".join("yes" if bars[key] else "NO" for key in
                                                          ("beats_channel_mean_spearman", "abs_log_bias_at_most_0.3")))
        cells = [f"{found.get(key, float('nan')):.3f}" for key in METRICS]
        cells.append(f"{found.get('log_bias', float('nan')):+.3f}")
        lines.append(f"| {target} | {name} | {' | '.join(cells)} | {verdict} |")
    return lines


def calibrate_markdown(report: dict[str, Any], models: tuple[str, ...]) -> list[str]:
    """Point 4's tables: the main population, and the busy channels when measured."""
    settings = report["settings"]
    lines = calibrate_table(report["calibrate"], models, "", settings["min_videos"], settings["chart_cut"])
    if "calibrate_busy" in report:
        lines += calibrate_table(report["calibrate_busy"], models,
                                 f"busy channels of another population, {settings['busy_channels']} channels, seed "
                                 f"{settings['seed'] + 1}, median {settings['busy_pace']:g} uploads a week; ",
                                 settings["busy_min_videos"], settings["chart_cut"])
    lines += ["", "Mean log error: mean of log1p(predicted) - log1p(actual) over the later uploads at their last "
              "snapshot, pooled over the later uploads and per channel. *each channel*: `calibrate` on that "
              "channel's earlier uploads alone; *all channels*: one `calibrate` on every channel's earlier uploads; "
              "*before*: the chart-trained bundle as it is. *From noise alone*: the share of channels an exact "
              "calibration would put within ±0.15, given each channel's spread of log errors and its numbers of "
              f"earlier and later uploads. *Decidable*: the channels for which that chance is at least "
              f"{DECIDABLE:.0%} (where a channel missing ±0.15 says the calibration is off, not the noise), and the "
              "share of them within ±0.15."]
    return lines


def calibrate_table(calibrate: dict[str, Any], models: tuple[str, ...], whose: str, min_videos: int, chart_cut: str
                    ) -> list[str]:
    """One population's table of ``calibration_figures``."""
    lines = ["", f"## `calibrate` on each channel's first 60% of uploads ({whose}{calibrate['channels']} channels: "
             f"every one with ≥ {min_videos} uploads, {calibrate['channel_videos']['min']}-"
             f"{calibrate['channel_videos']['max']} each, median {calibrate['channel_videos']['median']:.0f}; "
             f"{calibrate['later_videos']:,} later uploads); bundle trained on the chart before {chart_cut}", "",
             "| model | calibrated | pooled mean log error | median \\|per channel\\| | channels within ±0.15 "
             "| within ±0.15 from noise alone | decidable: within ±0.15 | within ±0.15 by channel size |",
             "|---|---|---|---|---|---|---|---|"]
    for model in models:
        for scope, found in calibrate["models"][model].items():
            sizes = ", ".join(f"{name}: {cell['share_within']:.0%} of {cell['channels']}"
                              for name, cell in found["by_channel_videos"].items())
            decidable = found.get("decidable", {"channels": 0, "share_within": None})
            cell = ("none" if not decidable["channels"]
                    else f"{decidable['share_within']:.0%} of {decidable['channels']}")
            lines.append(f"| {model} | {scope.replace('_', ' ')} | {found['pooled']:+.3f} | "
                         f"{found['median_abs_per_channel']:.3f} | {found['share_within_0.15']:.0%} | "
                         f"{found['noise_share_within_0.15']:.0%} | {cell} | {sizes} |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
