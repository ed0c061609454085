"""Accuracy and cost of both models at one speed preset on the real trending parquet, split by publish date.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/accuracy.py --speed fast

Protocol: train the shared feature pipeline, the stacking ensemble and the deep multi-task model on the
videos published before ``--split-date`` (their observations before it), then predict every later video
at its last observed age, with live channel history and live level (`videoperf.evaluation.holdout`, history
"live") and encodings from the training videos only. Every
metric of ``videoperf.lifecycle.metrics`` is reported for both models beside the global-mean and channel-mean baselines.
Text embeddings start from an empty cache (``--warm-cache`` reuses the project cache), so the training
time is what a first run costs. Training time = loading the file + targets + features + both fits.

The feature ablation runs on the rolling-origin backtest (``benchmarks/backtest.py``), not on this one split.

Writes ``benchmarks/results/accuracy_<speed>.json`` and ``accuracy_<speed>.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import DEFAULT_DATA, TRAIN_GOAL_MINUTES, machine, peak_memory_mb, plain  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd


MODELS = ("ensemble", "deep_learning")
COLUMNS = (*MODELS, "global_mean", "channel_mean")


def views_spread(predictions: pd.DataFrame) -> dict[str, float]:
    """How wide the test views range, and how much of the raw squared error the top 1% of videos make."""
    import numpy as np

    actual = predictions["actual_views"].to_numpy(float)
    error = (predictions["predicted_views"].to_numpy(float) - actual) ** 2
    top = actual >= np.quantile(actual, 0.99)
    return {"min": float(actual.min()), "median": float(np.median(actual)), "p99": float(np.quantile(actual, 0.99)),
            "max": float(actual.max()), "top1pct_share_of_squared_error": float(error[top].sum() / error.sum())}


def markdown(report: dict[str, Any]) -> str:
    """The report as markdown: cost and headline scores, every metric."""
    from results_table import metric_table, preset_table

    s = report["seconds"]
    lines = [f"# Accuracy, `{report['speed']}` preset", "",
             f"Data `{Path(report['data']).name}`, split {report['split_date']}: {report['train_videos']:,} training "
             f"videos, {report['test_videos']:,} test videos each at its last observed age. "
             f"Machine: {report['machine']['cpus']} CPUs, {report['machine']['platform']}. Ensemble fit "
             f"{s['ensemble_fit']:.0f} s, deep model fit {s['deep_fit']:.0f} s, evaluating on the test videos "
             f"{s['evaluate']:.0f} s (targets, embeddings, both models, baselines, metrics), peak memory of the whole "
             f"process {report['peak_memory_mb'] / 1024:.1f} GB, whole run {s['total'] / 60:.1f} min.", "",
             *preset_table({report["speed"]: report}), "", *metric_table({report["speed"]: report})]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--split-date", default="2026-04-15")
    parser.add_argument("--speed", default="fast", choices=list(TRAIN_GOAL_MINUTES))
    parser.add_argument("--warm-cache", action="store_true", help="reuse the project's text-embedding cache")
    parser.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    if not Path(args.data).exists():
        sys.exit(f"--data: {args.data} not found; this benchmark needs ../shared/data beside the repository")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("videoperf.data.sources").setLevel(logging.ERROR)

    from videoperf.config import load_config
    from videoperf.data.sources import load_data
    from videoperf.data.splits import split_by_date
    from videoperf.evaluation.holdout import evaluate

    config = load_config()
    cold = None if args.warm_cache else tempfile.TemporaryDirectory(prefix="videoperf-cold-")
    if cold is not None:
        config = dataclasses.replace(config, paths=dataclasses.replace(config.paths, cache_dir=cold.name))
    start = time.perf_counter()
    snapshots = load_data(args.data)
    loaded = time.perf_counter() - start
    train, test = split_by_date(snapshots, args.split_date)
    del snapshots
    result = evaluate(train, test, args.speed, MODELS, config=config, progress=False)
    total = time.perf_counter() - start
    trained, table = result["trained"], result["metrics"]
    chan = table["channel_mean"]
    checks = {f"{model}_beats_channel_mean_{metric}": bool(table.loc[metric, model] > chan[metric])
              for model in MODELS for metric in ("views_log_r2", "views_spearman")}
    train_total = loaded + trained.seconds
    checks["training_within_goal"] = train_total <= 60 * TRAIN_GOAL_MINUTES[args.speed]
    report: dict[str, Any] = {
        "speed": args.speed, "data": args.data, "split_date": args.split_date,
        "train_videos": int(train["video_id"].nunique()), "train_snapshots": len(train),
        "test_videos": result["test_videos"], "cold_cache": cold is not None,
        "machine": machine(),
        "metrics": {metric: {c: plain(table.loc[metric, c]) for c in COLUMNS} for metric in table.index},
        "seconds": {"load": round(loaded, 1), "train_total": round(train_total, 1),
                    "ensemble_fit": trained.reports["ensemble"]["seconds"],
                    "deep_fit": round(trained.reports["deep_learning"]["seconds"], 1),
                    "evaluate": round(total - train_total, 1), "total": round(total, 1)},
        "training_goal_minutes": TRAIN_GOAL_MINUTES[args.speed],
        "peak_memory_mb": round(peak_memory_mb()),
        "ensemble_oof": {"learners": trained.reports["ensemble"]["learners"],
                         "stack": trained.reports["ensemble"]["stack"]},
        "deep_fit": {k: v for k, v in trained.reports["deep_learning"].items() if k != "history"},
        "preset": dataclasses.asdict(config.preset(args.speed)),
        "checks": checks,
        "test_views": {name: views_spread(result["predictions"][name]) for name in MODELS},
    }
    if cold is not None:
        cold.cleanup()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"accuracy_{args.speed}.json").write_text(json.dumps(report, indent=2, default=plain) + "\n")
    (out / f"accuracy_{args.speed}.md").write_text(markdown(report))
    print(markdown(report))
    print("checks:", checks)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
