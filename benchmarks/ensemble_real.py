"""Accuracy and cost of the stacking ensemble on the real trending parquet, split by publish date.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/ensemble_real.py --split-date 2026-04-15 --speed fast

Trains on videos published before the date (observations before it), predicts every later video at its
last observed age, and prints / writes (``benchmarks/results/ensemble_real_<speed>_<date>.json``): test
log-views R², Spearman, MAE, interval coverage and width, both baselines, every base learner's
out-of-fold score beside the stack's, wall time (loading included) and peak memory.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from common import DEFAULT_DATA  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--split-date", default="2026-04-15")
    parser.add_argument("--speed", default="fast")
    parser.add_argument("--predictions", default=None, help="also write the per-video predictions CSV")
    parser.add_argument("--out", default=None, help="JSON path (default under benchmarks/results/)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    start = time.perf_counter()

    import numpy as np

    from videoperf.data import load_data
    from videoperf.evaluation import evaluate, format_metrics
    from videoperf.validation import split_by_date

    snapshots = load_data(args.data)
    loaded = time.perf_counter() - start
    train, test = split_by_date(snapshots, args.split_date)
    del snapshots
    result = evaluate(train, test, args.speed, ("ensemble",), args.predictions, progress=False)
    wall = time.perf_counter() - start
    # Each base learner alone on the test videos too (not part of the timed run).
    from videoperf.evaluation import test_rows
    from videoperf.metrics import r2, spearman

    trained = result["trained"]
    last, _ = test_rows(test)
    model = trained.models["ensemble"]
    base = model.base_predictions(trained.features.builder.transform(last))
    actual = np.log1p(last["views"].to_numpy(float))
    test_learners = {name: {"r2": r2(actual, base[:, j]), "spearman": spearman(actual, base[:, j])}
                     for j, name in enumerate(model.models_)}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = result["metrics"]
    oof = result["oof"]["ensemble"]
    summary = {
        "data": args.data, "split_date": args.split_date, "speed": args.speed,
        "train_videos": int(train["video_id"].nunique()), "test_videos": result["test_videos"],
        "test": {name: {key: table.loc[key, name] for key in ("views_log_r2", "views_spearman", "views_log_mae")}
                 for name in table.columns},
        "interval": {key: table.loc[f"interval_{key}", "ensemble"] for key in ("coverage", "median_log_width")},
        "test_learners": test_learners,
        "oof_learners": oof["learners"], "oof_stack": oof["stack"], "oof_interval_coverage":
            oof["intervals"]["oof_coverage"], "skipped_learners": oof["skipped_learners"],
        "seconds": {"load": round(loaded, 1), "ensemble_fit": oof["seconds"], "total": round(wall, 1)},
        "peak_memory_mb": round(peak_mb), "all_metrics": table.to_dict(),
    }
    print(format_metrics(table))
    print("\nLog-views scores: OOF (forward-chaining folds) and on the test videos:")
    test_scores = {**test_learners, "stack": summary["test"]["ensemble"]}
    for name, scores in {**oof["learners"], "stack": oof["stack"]}.items():
        tested = test_scores[name]
        print(f"  {name:24s} OOF R2 {scores['r2']:.4f}  Spearman {scores['spearman']:.4f}"
              + (f"  weight {scores['weight']:.3f}" if "weight" in scores else "               ")
              + f"  | test R2 {tested.get('r2', tested.get('views_log_r2')):.4f}"
              f"  Spearman {tested.get('spearman', tested.get('views_spearman')):.4f}")
    ens, chan = summary["test"]["ensemble"], summary["test"]["channel_mean"]
    print(f"\ntest log R2 {ens['views_log_r2']:.4f} Spearman {ens['views_spearman']:.4f} "
          f"(channel-mean {chan['views_log_r2']:.4f} / {chan['views_spearman']:.4f}); "
          f"80% coverage {summary['interval']['coverage']:.3f}; wall {wall:.0f} s; peak {peak_mb:.0f} MB")
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / (
        f"ensemble_real_{args.speed}_{args.split_date}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=float) + "\n")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
