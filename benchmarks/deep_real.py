"""The deep multi-task model on the real trending export: accuracy of all five heads, timing, latency.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/deep_real.py [--speed fast] [--cold]
        [--data PATH] [--split-date 2026-04-15] [--out benchmarks/results/deep_real_fast.json]

Protocol (issue 4): train on the videos published before the split date (their observations before it),
test every video published on or after it at its last observed age. Features come from ``FeatureBuilder``
fitted on the training snapshots only (channel history of test videos from training videos only); the
numeric scaler is fitted inside ``fit_deep_model`` on training rows only. Every head is compared with its
naive baseline from the training targets (``metrics.naive_target_baselines``: median, majority stage);
the per-video variant (median over training videos' last rows) is reported as well.

``--cold`` embeds with an empty temporary cache (the figure to quote); without it the project cache
(``paths.cache_dir``) is used and re-runs skip the embedding. The wall time covers everything from
loading the parquet to the test predictions. Then a warm single-video latency: one request through
``FeatureBuilder.transform_videos`` and ``VideoPerformanceNet.predict`` (new text each time, no cache).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: see videoperf/__init__.py

import torch  # noqa: E402
from common import DEFAULT_DATA  # noqa: E402

from videoperf.config import load_config, resolve_path  # noqa: E402
from videoperf.data import load_data  # noqa: E402
from videoperf.deep import VideoPerformanceNet  # noqa: E402
from videoperf.deep_training import AS_OF_TARGETS, fit_deep_model, sample_rows, training_rows  # noqa: E402
from videoperf.features import FeatureBuilder  # noqa: E402
from videoperf.lifecycle import build_targets  # noqa: E402
from videoperf.metrics import classification_metrics, last_observation, mae, naive_target_baselines, views_metrics  # noqa: E402
from videoperf.text_encoders import video_texts  # noqa: E402
from videoperf.validation import split_by_date  # noqa: E402

KEYS = ["video_id", "observed_at"]


def with_targets(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Snapshot rows joined with their ``build_targets`` columns (one row per observation)."""
    targets = build_targets(snapshots).drop(columns=["views"])
    return snapshots.merge(targets, on=KEYS, how="inner", validate="one_to_one")


def score(test: pd.DataFrame, pred: dict[str, np.ndarray], baselines: dict[str, object]) -> dict[str, object]:
    """Model and naive-baseline metrics on the test videos (one row each)."""
    out: dict[str, object] = {"n_test_videos": int(len(test))}
    out["views"] = views_metrics(test["views"].to_numpy(), pred["views"])
    for target in ("like_ratio", "time_to_peak_days", "decay_rate"):
        actual = test[target].to_numpy(float)
        out[target] = {"model_mae": mae(actual, pred[target]),
                       "baseline_mae": mae(actual, np.full(len(test), float(baselines[target]))),
                       "n": int(np.isfinite(actual).sum())}
    stage_model = classification_metrics(test["lifecycle_stage"], pred["lifecycle_stage"])
    stage_base = classification_metrics(test["lifecycle_stage"],
                                         np.full(len(test), baselines["lifecycle_stage"], dtype=object))
    out["lifecycle_stage"] = {"model_accuracy": stage_model["accuracy"], "baseline_accuracy": stage_base["accuracy"],
                              "model_macro_f1": stage_model["macro_f1"], "baseline_macro_f1": stage_base["macro_f1"],
                              "n": stage_model["n"], "baseline_class": baselines["lifecycle_stage"]}
    return out


def beats(metrics: dict[str, object]) -> dict[str, bool]:
    stage = metrics["lifecycle_stage"]
    checks = {"log_r2>=0.80": metrics["views"]["log_r2"] >= 0.80,
              "stage_accuracy": stage["model_accuracy"] > stage["baseline_accuracy"],
              "stage_macro_f1": stage["model_macro_f1"] > stage["baseline_macro_f1"]}
    for target in ("like_ratio", "time_to_peak_days", "decay_rate"):
        checks[f"{target}_mae"] = metrics[target]["model_mae"] < metrics[target]["baseline_mae"]
    return checks


def latency(model: VideoPerformanceNet, features: FeatureBuilder, n: int = 40) -> dict[str, float]:
    """Median / p90 ms of one warm request: features of one video + the deep model (encoder run included)."""
    times, model_only = [], []
    for i in range(n + 3):
        request = pd.DataFrame({
            "title": [f"Amazing makeup tutorial for beginners part {i}"], "tags": [["makeup", "tutorial", f"t{i}"]],
            "categories": [["Howto & Style"]], "duration_seconds": [600.0],
            "published_at": [pd.Timestamp("2026-05-01T15:00:00Z")], "age_days": [7.0],
            "channel_avg_views": [50000.0], "channel_video_count": [25.0]})
        started = time.perf_counter()
        numeric = features.transform_videos(request)
        middle = time.perf_counter()
        model.predict(video_texts(request), numeric)
        end = time.perf_counter()
        if i >= 3:  # the first calls warm up allocators and lazy imports
            times.append(1000 * (end - started))
            model_only.append(1000 * (end - middle))
    return {"median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90)),
            "model_only_median_ms": float(np.median(model_only))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--split-date", default="2026-04-15")
    parser.add_argument("--speed", default="fast", choices=["fast", "balanced", "full"])
    parser.add_argument("--cold", action="store_true", help="embed with an empty temporary cache")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--save-model", default=None, help="also write the checkpoint here")
    parser.add_argument("--predictions", default=None, help="write the test predictions (parquet) here")
    args = parser.parse_args()
    if not Path(args.data).exists():
        sys.exit(f"real data not found at {args.data}: this benchmark needs ../shared/data beside the repository")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("videoperf.data").setLevel(logging.ERROR)
    torch.set_num_threads(2)
    config = load_config()
    preset = config.preset(args.speed)
    seed = config.seed if args.seed is None else args.seed
    temp_cache = tempfile.TemporaryDirectory(prefix="videoperf-cold-") if args.cold else None
    cache_dir = Path(temp_cache.name) if temp_cache else resolve_path(config.paths.cache_dir)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    snapshots = load_data(args.data)
    train_snap, test_snap = split_by_date(snapshots, args.split_date)
    # Training targets are as-of (deep_training.as_of_targets); at a test video's last row both agree.
    train_rows, test_rows = training_rows(train_snap), with_targets(test_snap)
    timings["load_and_targets_s"] = time.perf_counter() - started

    t = time.perf_counter()
    keep = sample_rows(train_rows["video_id"].to_numpy(), preset.deep.max_train_rows, seed)
    features = FeatureBuilder(preset.features, seed=seed)
    train_x = features.fit_transform(train_snap, rows=keep)  # training_rows keeps the snapshot row order
    test_last = last_observation(test_rows).reset_index(drop=True)
    test_x = features.transform(test_last)
    timings["features_s"] = time.perf_counter() - t

    t = time.perf_counter()
    fit = fit_deep_model(train_rows.iloc[keep].reset_index(drop=True), train_x, preset.deep, seed=seed,
                         cache_dir=cache_dir, progress=True)
    timings["fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    pred = fit.model.predict(video_texts(test_last), test_x, cache_dir=cache_dir, progress=True)
    timings["predict_test_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - started

    # The naive baselines come from build_targets' own (hindsight) training targets.
    hindsight = train_rows.assign(**{col: train_rows[f"{col}_hindsight"] for col in AS_OF_TARGETS})
    baselines = naive_target_baselines(hindsight)
    per_video = naive_target_baselines(last_observation(hindsight))
    metrics = score(test_last, pred, baselines)
    metrics_per_video_baseline = score(test_last, pred, per_video)
    checks = beats(metrics)

    with tempfile.TemporaryDirectory() as folder:
        path = fit.model.save(Path(folder) / "video_performance_model.pt")
        size_mb = path.stat().st_size / 1e6
        reloaded = VideoPerformanceNet.load(path)
        sample = slice(0, 200)
        again = reloaded.predict(video_texts(test_last.iloc[sample]), test_x.iloc[sample])
        first = fit.model.predict(video_texts(test_last.iloc[sample]), test_x.iloc[sample])
        reload_diff = float(np.max(np.abs(again["log_views"] - first["log_views"])))
        lat = latency(reloaded, features)
    if args.save_model:
        fit.model.save(args.save_model)
    if args.predictions:
        table = test_last[["video_id", "age_days", "views", "like_ratio", "lifecycle_stage", "time_to_peak_days",
                           "decay_rate", "n_observations"]].copy()
        for key, values in pred.items():
            if key == "stage_probabilities":
                for i, label in enumerate(fit.model.stage_classes):
                    table[f"p_{label}"] = values[:, i]
            else:
                table[f"predicted_{key}"] = values
        table.to_parquet(args.predictions)

    report = {"speed": args.speed, "split_date": args.split_date, "cold_cache": bool(args.cold), "seed": seed,
              "deep_config": preset.deep.__dict__, "timings": timings, "fit_info": fit.info,
              "metrics": metrics, "metrics_vs_per_video_baseline": metrics_per_video_baseline,
              "baselines": baselines, "checks": checks, "all_pass": bool(all(checks.values())),
              "checkpoint_mb": size_mb, "reload_max_abs_diff_log_views": reload_diff, "latency": lat,
              "history": fit.history, "torch_threads": torch.get_num_threads()}
    _print(report)
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / (
        f"deep_real_{args.speed}{'_cold' if args.cold else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=_json_default))
    print(f"wrote {out}")
    if temp_cache:
        temp_cache.cleanup()


def _json_default(value: object) -> object:
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.bool_):
        return bool(value)
    return str(value)


def _print(report: dict) -> None:
    m = report["metrics"]
    print(f"\n=== deep model, {report['speed']} preset, split {report['split_date']}, "
          f"{m['n_test_videos']} test videos ({'cold' if report['cold_cache'] else 'warm'} cache) ===")
    v = m["views"]
    print(f"log views   R2 {v['log_r2']:.4f}  MAE {v['log_mae']:.4f}  Spearman {v['spearman']:.4f}")
    for target, unit in (("like_ratio", ""), ("time_to_peak_days", " days"), ("decay_rate", " /day")):
        print(f"{target:<17} MAE model {m[target]['model_mae']:.5f}{unit}  vs median baseline "
              f"{m[target]['baseline_mae']:.5f}{unit}  (n={m[target]['n']})")
    s = m["lifecycle_stage"]
    print(f"stage             accuracy model {s['model_accuracy']:.4f} vs majority '{s['baseline_class']}' "
          f"{s['baseline_accuracy']:.4f}; macro-F1 model {s['model_macro_f1']:.4f} vs {s['baseline_macro_f1']:.4f} "
          f"(n={s['n']})")
    print("checks:", report["checks"], "ALL PASS" if report["all_pass"] else "SOME FAIL")
    print("timings (s):", {k: round(val, 1) for k, val in report["timings"].items()})
    print("fit:", {k: report["fit_info"][k] for k in ("rows_used", "train_videos", "epochs_run", "best_epoch",
                                                      "stopped", "embedding_seconds")})
    print(f"latency: {report['latency']}; reload max |diff| {report['reload_max_abs_diff_log_views']:.2e}; "
          f"checkpoint {report['checkpoint_mb']:.2f} MB")


if __name__ == "__main__":
    main()
