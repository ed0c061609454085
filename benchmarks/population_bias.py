"""What a chart-trained model gets wrong on ordinary uploads: the chart's selection bias, measured on the simulator.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/population_bias.py [--channels 300] [--seed 0]

One ground truth (``videoperf.population``): every upload of ``--channels`` channels, and the daily top-10
chart per region that samples it. The chart goes through the trending-export loader, the population
through the channel-uploads loader (monthly snapshot files written to a temporary folder). Both are split
by publish date (``--split-date``): the fast ensemble is trained once on the chart's earlier videos (what
the project has done so far) and once on the population's earlier videos (the reference a correction
could approach), then scored on the later videos, each at its last observation: the never-charted
uploads and the charted ones at their last monthly snapshot, and the chart's own test videos at their
last chart day. ``log_bias`` is the mean of log1p(predicted) - log1p(actual): positive = over-prediction.

Writes ``benchmarks/results/population_bias.json`` and ``population_bias.md``: the "before" figures for
the selection correction.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import machine, peak_memory_mb  # noqa: E402

from videoperf.config import load_config  # noqa: E402
from videoperf.data import load_data  # noqa: E402
from videoperf.evaluation import baseline_tables, predict_videos, test_rows  # noqa: E402
from videoperf.metrics import views_metrics  # noqa: E402
from videoperf.pipeline import train_models  # noqa: E402
from videoperf.population import generate_population, write_upload_snapshots  # noqa: E402
from videoperf.validation import split_by_date  # noqa: E402

TEST_SETS = {
    "never_charted": "population videos that never charted, at their last monthly snapshot",
    "charted": "population videos that charted, at their last monthly snapshot",
    "chart_test": "the chart's own test videos, at their last chart day",
}


def scores(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Log-views R² / MAE / Spearman and the mean signed log error."""
    found = views_metrics(actual, predicted)
    bias = float(np.mean(np.log1p(np.clip(predicted, 0, None)) - np.log1p(np.clip(actual, 0, None))))
    return {"log_bias": bias, "log_mae": found["log_mae"], "log_r2": found["log_r2"], "spearman": found["spearman"]}


def load_samples(channels: int, seed: int, chart_size: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The chart and population snapshots, both through the project's loaders, and the truth per video."""
    population = generate_population(channels, seed, chart_size=chart_size)
    with tempfile.TemporaryDirectory() as tmp:
        chart_file = Path(tmp) / "chart.csv"
        population.chart.to_csv(chart_file, index=False)
        write_upload_snapshots(population, Path(tmp) / "uploads")
        return load_data(chart_file), load_data(Path(tmp) / "uploads"), population.videos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chart-size", type=int, default=10)
    parser.add_argument("--split-date", default="2026-04-15")
    parser.add_argument("--speed", default="fast")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    chart, uploads, videos = load_samples(args.channels, args.seed, args.chart_size)
    charted = set(videos.loc[videos["charted"], "video_id"])
    chart_train, chart_test = split_by_date(chart, args.split_date)
    population_train, population_test = split_by_date(uploads, args.split_date)
    tests = {"never_charted": population_test[~population_test["video_id"].isin(charted)],
             "charted": population_test[population_test["video_id"].isin(charted)], "chart_test": chart_test}
    config = load_config()
    report: dict[str, Any] = {
        "protocol": __doc__.split("\n\n")[2].replace("\n", " "), "test_sets": TEST_SETS,
        "settings": {**vars(args), "out": None},
        "data": {"uploads": len(videos), "charted_share": round(float(videos["charted"].mean()), 4),
                 "median_final_views": {"all": float(videos["final_views"].median()),
                                        "charted": float(videos.loc[videos["charted"], "final_views"].median())},
                 "train_videos": {"chart": int(chart_train["video_id"].nunique()),
                                  "population": int(population_train["video_id"].nunique())},
                 "test_videos": {name: int(frame["video_id"].nunique()) for name, frame in tests.items()}},
        "results": {}, "fit_seconds": {},
    }
    for source, train in (("chart", chart_train), ("population", population_train)):
        fit_start = time.perf_counter()
        trained = train_models(train, args.speed, ("ensemble",), config=config, progress=False)
        report["fit_seconds"][source] = round(time.perf_counter() - fit_start, 1)
        for name, test in tests.items():
            last, last_targets = test_rows(test)
            predicted = predict_videos(trained, last, last_targets)["ensemble"]["predicted_views"].to_numpy(float)
            baseline = baseline_tables(train, last, last_targets)["channel_mean"]["predicted_views"].to_numpy(float)
            actual = last["views"].to_numpy(float)
            report["results"][f"{source}_trained/{name}"] = {
                "ensemble": scores(actual, predicted), "channel_mean": scores(actual, baseline)}
        print(f"trained on the {source} sample in {report['fit_seconds'][source]:.0f} s", flush=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["peak_memory_mb"] = round(peak_memory_mb())
    report["machine"] = machine()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "population_bias.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "population_bias.md").write_text(markdown(report))
    print(markdown(report))
    return 0


def markdown(report: dict[str, Any]) -> str:
    """The results as a markdown table, one row per (training sample, test set)."""
    data = report["data"]
    lines = [
        "# Chart selection bias on the simulated population", "",
        f"{data['uploads']:,} uploads of {report['settings']['channels']} channels (seed "
        f"{report['settings']['seed']}), {data['charted_share']:.1%} ever charted; median final views "
        f"{data['median_final_views']['all']:,.0f} (charted: {data['median_final_views']['charted']:,.0f}). Split "
        f"{report['settings']['split_date']}: {data['train_videos']['chart']:,} chart / "
        f"{data['train_videos']['population']:,} population training videos. `{report['settings']['speed']}` "
        f"ensemble, fits {report['fit_seconds']['chart']:.0f} s / {report['fit_seconds']['population']:.0f} s, "
        f"whole run {report['seconds'] / 60:.1f} min.", "",
        "| trained on | tested on | videos | ensemble log bias | ensemble log MAE | ensemble Spearman "
        "| ensemble log R² | channel-mean log bias | channel-mean Spearman |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, result in report["results"].items():
        source, name = key.split("/")
        model, base = result["ensemble"], result["channel_mean"]
        lines.append(f"| {source.split('_')[0]} | {name.replace('_', ' ')} | {data['test_videos'][name]:,} "
                     f"| {model['log_bias']:+.3f} | {model['log_mae']:.3f} | {model['spearman']:.3f} "
                     f"| {model['log_r2']:.3f} | {base['log_bias']:+.3f} | {base['spearman']:.3f} |")
    lines += ["", "log bias = mean of log1p(predicted) - log1p(actual) (positive: over-predicts). Test sets: "
              + "; ".join(f"*{name.replace('_', ' ')}*: {text}" for name, text in report["test_sets"].items()) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
