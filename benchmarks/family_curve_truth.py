"""A family's lifecycle curve against the simulator's ground truth: what weighting the trained ages by the videos
still observed at them (``videoperf.serving.family_curve``, point 2 of its docstring) does to the views at 1-60 days.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/family_curve_truth.py [--channels 300] [--seed 0]

The real export cannot say this: a video's views are known only while it charts, so every real observation at an
old age is a survivor's. The simulator's population mode (``videoperf.data.population``) knows every video's whole
curve. A ``fast`` bundle is trained on its chart (the trending-export rows) published before ``--split-date``;
each chart video published on or after it is predicted before publishing (its first chart row's content and
channel history) by both families at the trained ages, and its curve fitted four ways: the ages weighted alike or
by ``features.still_observed``, and a family without shape heads (the ensemble) under ``curve.WEAK_PRIOR`` or the
bundle's shape prior from its training series (``family_curve.headless_prior``), for the product's curve shape
and for the simulator's own (exponential). Scored: log-MAE and mean log error (log1p) of the curve's views at each
age against the true cumulative views there. The two ``before`` / ``now`` rows are what the product did before
this weighting and does now.

Writes ``benchmarks/results/family_curve_truth.json`` and ``.md``.
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

from common import machine  # noqa: E402

from videoperf.data.population import generate_population  # noqa: E402
from videoperf.data.sources import load_data  # noqa: E402
from videoperf.data.splits import split_by_date  # noqa: E402
from videoperf.data.synthetic import REAL_EXPORT_END, _cumulative_views  # noqa: E402
from videoperf.lifecycle.curve import DEFAULT_SHAPE, WEAK_PRIOR  # noqa: E402
from videoperf.models.registry import FAMILIES  # noqa: E402
from videoperf.serving.bundle import Bundle  # noqa: E402
from videoperf.serving.family_curve import age_weights, fit_family_curves, headless_prior, trained_ages  # noqa: E402
from videoperf.training.pipeline import train_models  # noqa: E402
from videoperf.training.settings import resolve  # noqa: E402

AGES = (1.0, 3.0, 7.0, 14.0, 30.0, 60.0)
MODELS = ("ensemble", "deep_learning")


def true_views(videos: pd.DataFrame, ages: tuple[float, ...]) -> np.ndarray:
    """(ages, videos) true cumulative views of the simulator's videos."""
    cols = [videos[c].to_numpy(float) for c in ("peak_day", "growth_rate", "decay_rate", "peak_rate")]
    return np.stack([_cumulative_views(np.full(len(videos), age), *cols) for age in ages])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split-date", default="2026-04-15")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    population = generate_population(args.channels, args.seed, end=REAL_EXPORT_END)
    with tempfile.TemporaryDirectory() as tmp:
        chart_file = Path(tmp) / "chart.csv"
        population.chart.to_csv(chart_file, index=False)
        chart = load_data(chart_file)
        train, test = split_by_date(chart, args.split_date)
        trained = train_models(train, resolve("fast", MODELS, None, progress=False))
        bundle = Bundle.load(Bundle.save(trained, Path(tmp) / "bundle"))
        first = (test.sort_values(["video_id", "observed_at"]).groupby("video_id", sort=True).head(1)
                 .reset_index(drop=True))
        ages = trained_ages(bundle)
        rows = first.loc[first.index.repeat(len(ages))].reset_index(drop=True)
        rows["observed_at"] = rows["published_at"] + pd.to_timedelta(np.tile(ages, len(first)), unit="D")
        X = bundle.features.transform(rows, history=bundle.features.channel_history(chart))
        truth = np.log1p(true_views(population.videos.set_index("video_id").loc[first["video_id"]], AGES))
        weights = age_weights(bundle)
        results: list[dict[str, Any]] = []
        for model_type in MODELS:
            predicted = FAMILIES[model_type].predict(bundle.model(model_type), X, rows)
            for shape in dict.fromkeys((DEFAULT_SHAPE, "exp")):
                priors = {"weak": WEAK_PRIOR, "bundle": headless_prior(bundle, shape)}
                for weighting, aw in (("alike", None), ("still observed", weights)):
                    for prior_name, prior in priors.items():
                        if model_type != "ensemble" and prior_name == "bundle":
                            continue  # a family with shape heads takes its prior from them
                        fc = fit_family_curves(predicted, ages, shape, age_weights=aw, prior=prior)
                        error = np.log1p(fc.curves.views(np.asarray(AGES)[:, None])) - truth
                        results.append({
                            "model": model_type, "shape": shape, "ages_weighted": weighting,
                            "headless_prior": prior_name if model_type == "ensemble" else "heads",
                            "prior_is_weak": priors["bundle"] is WEAK_PRIOR,
                            "log_mae": dict(zip(map(str, AGES), np.abs(error).mean(axis=1).round(4).tolist())),
                            "bias": dict(zip(map(str, AGES), error.mean(axis=1).round(4).tolist()))})
    report = {"command": "python benchmarks/family_curve_truth.py " + " ".join(argv or sys.argv[1:]),
              "settings": {k: str(v) for k, v in vars(args).items()}, "test_videos": int(len(first)),
              "train_videos": int(train["video_id"].nunique()), "trained_ages": ages.round(3).tolist(),
              "age_weights": None if weights is None else weights.round(4).tolist(), "results": results,
              "seconds": round(time.perf_counter() - started, 1), "machine": machine()}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "family_curve_truth.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out_dir / "family_curve_truth.md").write_text(markdown(report))
    print(markdown(report))
    return 0


def markdown(report: dict[str, Any]) -> str:
    """The results as a table per family and shape."""
    lines = ["# Family curves against the simulator's truth", "",
             f"Command: `{report['command']}`. {report['train_videos']:,} chart videos before the split train a "
             f"`fast` bundle; {report['test_videos']:,} chart videos after it are predicted before publishing. "
             "log-MAE (mean log error) of log1p views against the true cumulative views; `before` is the product "
             "before the weighting (ages alike, weak prior), `now` what it does (ages weighted by the videos still "
             "observed, the bundle's prior).", "",
             "| model | shape | ages weighted | prior | " + " | ".join(f"{a:g} d" for a in AGES) + " |",
             "|---|---|---|---|" + "---|" * len(AGES)]
    for row in report["results"]:
        prior = row["headless_prior"] + (" (= weak: none for this shape)" if row["headless_prior"] == "bundle"
                                         and row["prior_is_weak"] else "")
        tag = ""
        if row["shape"] == DEFAULT_SHAPE:
            if row["ages_weighted"] == "alike" and row["headless_prior"] in ("weak", "heads"):
                tag = " **before**"
            if row["ages_weighted"] == "still observed" and row["headless_prior"] in ("bundle", "heads"):
                tag = " **now**"
        cells = [f"{row['log_mae'][str(a)]:.3f} ({row['bias'][str(a)]:+.2f})" for a in AGES]
        lines.append(f"| {row['model']}{tag} | {row['shape']} | {row['ages_weighted']} | {prior} | "
                     + " | ".join(cells) + " |")
    if report["age_weights"] is not None:
        lines += ["", "Trained ages (d) and their weights: " + ", ".join(
            f"{a:g}: {w:.3f}" for a, w in zip(report["trained_ages"], report["age_weights"])) + "."]
    lines += ["", f"Whole run {report['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
