"""Which base learners, of which sizes, the `fast` stack fits: out-of-fold scores and prediction cost, on training
data alone.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/learner_choice.py

Protocol: the snapshots observed before ``--cut`` (default 2026-02-01, the first origin of the rolling-origin
backtest, so that nothing the backtest scores is seen) go through the training pipeline up to the stack's
forward-chaining folds (``ensemble_family.ensemble_folds``: features refitted per fold, live channel history for
the held-out block). Each candidate learner is fitted on every fold's training rows and predicts its held-out
block; a stack of candidates is the non-negative Ridge of the ``fast`` preset, cross-fitted over the folds as
``StackingEnsemble`` does for its residuals. Prediction cost: CPU seconds per 100,000 rows on one thread (the
held-out rows of the last fold, repeated), the learner's own predictor as a bundle's batch chunk calls it.

Writes ``benchmarks/results/learner_choice.json`` and ``learner_choice.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import DEFAULT_DATA, machine  # noqa: E402

# (name, learner, settings over the `fast` preset's); 300 x 0.08 and 300 x 0.06 are the base preset's sizes, which
# the five-learner stack had
CANDIDATES = [
    ("xgboost 300 x 0.08", "xgboost", {"n_estimators": 300, "learning_rate": 0.08}),
    ("xgboost 400 x 0.06", "xgboost", {"n_estimators": 400, "learning_rate": 0.06}),
    ("lightgbm 300 x 0.06", "lightgbm", {"n_estimators": 300, "learning_rate": 0.06}),
    ("lightgbm 200 x 0.09", "lightgbm", {"n_estimators": 200, "learning_rate": 0.09}),
    ("lightgbm 300 x 0.06, 31 leaves", "lightgbm", {"n_estimators": 300, "learning_rate": 0.06, "num_leaves": 31}),
    ("hist_gradient_boosting", "hist_gradient_boosting", {}),
    ("catboost", "catboost", {}),
    ("random_forest", "random_forest", {}),
]
STACKS = [
    ("the five learners of the base preset", ["xgboost 300 x 0.08", "lightgbm 300 x 0.06", "catboost",
                                              "hist_gradient_boosting", "random_forest"]),
    ("XGBoost + LightGBM + HistGradientBoosting (the learners the whole-export stack weighted)",
     ["xgboost 300 x 0.08", "lightgbm 300 x 0.06", "hist_gradient_boosting"]),
    ("XGBoost + LightGBM, base sizes", ["xgboost 300 x 0.08", "lightgbm 300 x 0.06"]),
    ("XGBoost + LightGBM, 31 leaves", ["xgboost 300 x 0.08", "lightgbm 300 x 0.06, 31 leaves"]),
    ("XGBoost 400 + LightGBM 200 (the `fast` preset)", ["xgboost 400 x 0.06", "lightgbm 200 x 0.09"]),
]
COST_ROWS = 100_000


def held_out_folds(data: str, cut: str, seed: int) -> tuple[list[Any], list[str]]:
    """The `fast` stack's forward-chaining folds of the snapshots observed before ``cut``, and its columns."""
    import pandas as pd

    from videoperf.data.sources import load_data
    from videoperf.features.builder import FeatureBuilder, video_table
    from videoperf.features.content import ContentEncoder
    from videoperf.models.ensemble.family import ensemble_folds
    from videoperf.models.family import TrainContext
    from videoperf.training.pipeline import prepare_snapshots
    from videoperf.training.settings import resolve

    raw = load_data(data)
    stamp = pd.Timestamp(cut, tz="UTC")
    snapshots = prepare_snapshots(raw[(raw["observed_at"] < stamp) & (raw["published_at"] < stamp)])
    settings = resolve("fast", ("ensemble",), seed=seed, progress=False)
    videos, _ = video_table(snapshots)
    content = ContentEncoder(settings.preset.features, settings.seed).fit(videos)
    features = FeatureBuilder(settings.preset.features, settings.seed)
    training = features.fit_training(snapshots, content=content)
    folds = ensemble_folds(TrainContext(snapshots, settings, features, training, content))
    return folds, list(folds[0].X_train.columns)


def prediction_cpu(model: Any, name: str, matrix: Any) -> float:
    """CPU seconds (of the whole process: a library's own threads count) for ``matrix``'s rows, each learner asked
    for one thread and predicting as a bundle's batch chunk does; best of three."""
    from threadpoolctl import threadpool_limits

    from videoperf.models.ensemble.stacking import _in_row_chunks, one_openmp_thread

    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        if name == "lightgbm":
            model.booster_.predict(matrix, num_threads=1)
        elif name == "xgboost":
            booster = model.get_booster()
            booster.set_param({"nthread": 1})
            booster.inplace_predict(matrix)
        elif name == "catboost":
            model.predict(matrix, thread_count=1)
        elif name == "hist_gradient_boosting":
            with one_openmp_thread():
                _in_row_chunks(model.predict, matrix)
        else:
            with threadpool_limits(1):
                model.set_params(n_jobs=1)
                model.predict(matrix)
        best = min(best, time.process_time() - start)
    return best


def main() -> int:
    import numpy as np
    from sklearn.base import clone
    from sklearn.linear_model import Ridge

    from videoperf.config import load_config
    from videoperf.models.ensemble.stacking import _as_matrix, _training_matrix, make_learner

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--cut", default="2026-02-01", help="only snapshots observed before this date")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args()
    if not Path(args.data).exists():
        sys.exit(f"--data: {args.data} not found; put ../shared/data beside the repository")
    started = time.perf_counter()
    folds, columns = held_out_folds(args.data, args.cut, args.seed)
    base = load_config().preset("fast").ensemble
    last = _as_matrix(folds[-1].X_valid, columns)
    cost_matrix = np.tile(last, (COST_ROWS // len(last) + 1, 1))[:COST_ROWS]
    y = np.concatenate([np.asarray(f.y_valid, dtype=float) for f in folds])
    fold_id = np.concatenate([np.full(len(f.y_valid), k) for k, f in enumerate(folds)])
    oof: dict[str, np.ndarray] = {}
    cost: dict[str, float] = {}
    for label, learner, change in CANDIDATES:
        prototype = make_learner(learner, {**getattr(base, learner), **change}, args.seed)
        if prototype is None:
            continue
        parts = []
        for k, fold in enumerate(folds):
            model = clone(prototype).fit(_training_matrix(fold.X_train, columns), fold.y_train,
                                         sample_weight=fold.w_train)
            parts.append(model.predict(_as_matrix(fold.X_valid, columns)))
            if k == len(folds) - 1:
                cost[label] = prediction_cpu(model, learner, cost_matrix)
        oof[label] = np.concatenate(parts)
        print(f"{label}: fitted", flush=True)

    def scores(prediction: np.ndarray) -> dict[str, float]:
        return {"r2": float(1 - np.mean((y - prediction) ** 2) / np.var(y)),
                "mae": float(np.mean(np.abs(y - prediction)))}

    learners = {label: {**scores(oof[label]), "cpu_s_per_100k_rows": round(cost[label], 3)} for label in oof}
    stacks = {}
    for label, members in STACKS:
        if not all(m in oof for m in members):
            continue
        matrix = np.column_stack([oof[m] for m in members])
        stacked = np.empty(len(y))
        for k in np.unique(fold_id):
            held = fold_id == k
            stacked[held] = Ridge(alpha=base.ridge_alpha, positive=True).fit(matrix[~held], y[~held]).predict(
                matrix[held])
        weights = Ridge(alpha=base.ridge_alpha, positive=True).fit(matrix, y).coef_
        stacks[label] = {**scores(stacked), "members": members,
                         "weights": [round(float(w), 3) for w in weights],
                         "cpu_s_per_100k_rows": round(sum(cost[m] for m, w in zip(members, weights) if w > 0), 3)}
    report = {"data": args.data, "cut": args.cut, "seed": args.seed, "machine": machine(),
              "folds": [{"train_rows": len(f.X_train), "held_out_rows": len(f.X_valid)} for f in folds],
              "learners": learners, "stacks": stacks, "seconds": round(time.perf_counter() - started, 1)}
    out = Path(args.out_dir)
    (out / "learner_choice.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Base learners of the `fast` stack: held-out scores before {args.cut}", "",
             f"Data `{Path(args.data).name}`, snapshots observed before {args.cut}; {len(folds)} forward-chaining "
             f"folds of the `fast` stack ({', '.join(str(f['held_out_rows']) for f in report['folds'])} held-out "
             "rows); log-views R² and MAE over every held-out row; CPU: one thread, seconds per 100,000 rows "
             f"(`benchmarks/learner_choice.py`, {report['seconds'] / 60:.0f} min).", "",
             "| learner | R² | MAE | CPU s / 100k rows |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['r2']:.4f} | {v['mae']:.4f} | {v['cpu_s_per_100k_rows']:.2f} |" for k, v in learners.items()]
    lines += ["", "| stack (non-negative Ridge, cross-fitted over the folds) | R² | MAE | weights | CPU s / 100k rows "
              "(weighted learners) |", "|---|---|---|---|---|"]
    lines += [f"| {k} | {v['r2']:.4f} | {v['mae']:.4f} | {', '.join(map(str, v['weights']))} | "
              f"{v['cpu_s_per_100k_rows']:.2f} |" for k, v in stacks.items()]
    (out / "learner_choice.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
