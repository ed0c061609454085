"""Do two versions of the code predict the same? Train a small bundle, predict, save or compare (issue 14).

    .venv/bin/python benchmarks/refactor_equivalence.py --save /tmp/ref      # with the old code
    .venv/bin/python benchmarks/refactor_equivalence.py --compare /tmp/ref   # with the new code

Both runs train the same bundle (the simulator at 700 videos, seed 21; the tiny test configuration with the
tiny deep model; both families; training seed 7) through the public API only (``model_update.train`` /
``fit``, ``predict.predict_batch`` / ``predict_performance``, ``evaluation.predict_videos``), so any version that
keeps that API can be compared with any other.

With ``--bundle DIR`` nothing is trained: both runs predict with that saved bundle (for instance one trained on
the whole export with the older code) through ``predict_batch``, ``predict_performance`` and
``predict_trajectory`` of both families, with and without observed days, which also checks that old bundles
load and predict unchanged. ``--compare`` prints the largest absolute and relative difference of every numeric
column and fails (exit 1) above ``--tolerance`` (1e-9) or when a label differs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
# This checkout first, before any installed videoperf: the script also runs inside an older checkout to compare.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

MODELS = ("ensemble", "deep_learning")
SEED = 7
CALLS = [
    dict(title="Amazing makeup tutorial for beginners", tags=["makeup", "tutorial", "beauty"],
         categories=["Howto & Style"], duration_seconds=600, channel_avg_views=50000, channel_video_count=25,
         published_at="2026-03-01T15:00:00Z", days_since_publish=3.5),
    dict(title="Top 10 goals of the season", tags=["football"], categories=["Sports"], duration_seconds=None,
         channel_avg_views=None, channel_video_count=0, published_at="2026-05-20T08:00:00Z",
         days_since_publish=30, default_language="en", definition="hd", caption_available=True),
]


def request_rows(n: int = 60) -> pd.DataFrame:
    """A fixed, varied request table (what ``predict_batch`` takes)."""
    rng = np.random.default_rng(0)
    words = "official music video highlights vlog minecraft news live tutorial review trailer recipe".split()
    count = rng.integers(0, 40, n)
    return pd.DataFrame({
        "video_id": [f"r{i}" for i in range(n)],
        "title": [" ".join(rng.choice(words, size=rng.integers(2, 7))) for _ in range(n)],
        "tags": [list(rng.choice(words, size=rng.integers(0, 5), replace=False)) for _ in range(n)],
        "categories": [[c] for c in rng.choice(["Music", "Gaming", "Sports", "Comedy"], n)],
        "duration_seconds": rng.lognormal(5.5, 1.0, n).round(),
        "channel_avg_views": np.where(count > 0, rng.lognormal(10, 2, n), np.nan),
        "channel_video_count": count,
        "days_since_publish": rng.uniform(0.3, 30, n),
        "published_at": [f"2026-0{1 + i % 5}-{1 + i % 27:02d}T{i % 24:02d}:00:00Z" for i in range(n)],
    })


def run(cache: Path) -> dict[str, pd.DataFrame]:
    """Every prediction table of the fixed experiment, by name."""
    import dataclasses

    from _tiny import tiny_config

    import model_update
    import predict
    from videoperf.data.splits import split_by_date
    from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic
    from videoperf.evaluation import holdout as evaluation

    config = tiny_config(tiny_deep=True)
    config = dataclasses.replace(config, paths=dataclasses.replace(config.paths, cache_dir=str(cache / "cache")))
    raw, _ = generate_synthetic(700, seed=21, end=REAL_EXPORT_END)
    snapshots = model_update.load_data(raw)
    folder = cache / "artifacts"
    model_update.train(snapshots, "fast", folder, models=MODELS, progress=False, config=config, seed=SEED)
    out: dict[str, pd.DataFrame] = {}
    rows = request_rows()
    for model in MODELS:
        out[f"batch_{model}"] = predict.predict_batch(rows, model, artifacts_dir=folder)
        singles = [predict.predict_performance(**call, model_type=model, artifacts_dir=folder) for call in CALLS]
        out[f"single_{model}"] = pd.DataFrame([_flat(s) for s in singles])
    train, test = split_by_date(snapshots, "2026-04-15")
    trained = model_update.fit(train, "fast", MODELS, seed=SEED, config=config, progress=False)
    last, targets = evaluation.test_rows(test)
    for name, history in (("frozen", None), ("live", evaluation.live_history(trained, snapshots))):
        for model, frame in evaluation.predict_videos(trained, last, targets, history=history).items():
            out[f"videos_{name}_{model}"] = frame
    return out


OBSERVED = [[{"days_since_publish": 1.0, "views": 52000}],
            [{"days_since_publish": 0.5, "views": 900}, {"days_since_publish": 1.5, "views": 4100},
             {"days_since_publish": 3.0, "views": 6500}]]
AGES = [0.25, 0.5, 1, 3, 7, 14, 30, 90, 365]


def run_bundle(folder: Path) -> dict[str, pd.DataFrame]:
    """Every prediction table of a saved bundle: batch, single calls and trajectories, with and without
    observed days, for every family."""
    import predict

    out: dict[str, pd.DataFrame] = {}
    rows = request_rows(200)
    for model in MODELS:
        out[f"batch_{model}"] = predict.predict_batch(rows, model, artifacts_dir=folder)
        singles, points = [], []
        for i, call in enumerate(CALLS):
            for j, observed in enumerate([None, *OBSERVED]):
                extra = {} if observed is None else {"observed": observed}
                singles.append(_flat(predict.predict_performance(**call, model_type=model, artifacts_dir=folder,
                                                                 **extra)))
                args = {k: v for k, v in call.items() if k != "days_since_publish"}
                result = predict.predict_trajectory(**args, model_type=model, ages=AGES, artifacts_dir=folder,
                                                    **extra)
                for point in result["points"]:
                    points.append({"call": i, "observed": j, **point,
                                   "time_to_peak_days": result.get("time_to_peak_days")})
        out[f"single_{model}"] = pd.DataFrame(singles)
        out[f"trajectory_{model}"] = pd.DataFrame(points)
    return out


def _flat(result: dict) -> dict:
    flat = {k: v for k, v in result.items() if not isinstance(v, dict)}
    flat.update({f"stage_probabilities.{k}": v for k, v in result.get("stage_probabilities", {}).items()})
    return flat


def compare(reference: dict[str, pd.DataFrame], current: dict[str, pd.DataFrame]) -> dict[str, dict[str, float]]:
    """Per table, the largest absolute / relative numeric difference and the count of differing labels over the
    columns both versions have, and the columns only one has (a version may add an output column on purpose)."""
    if set(reference) != set(current):
        raise SystemExit(f"tables differ: {sorted(set(reference) ^ set(current))}")
    out = {}
    for name, ref in reference.items():
        cur = current[name]
        if len(ref) != len(cur):
            raise SystemExit(f"{name}: {len(ref)} rows in the reference, {len(cur)} now")
        worst_abs = worst_rel = 0.0
        labels = 0
        for column in [c for c in ref.columns if c in cur.columns]:
            a, b = ref[column], cur[column]
            if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
                a, b = a.to_numpy(float), b.to_numpy(float)
                if not np.array_equal(np.isnan(a), np.isnan(b)):
                    labels += 1
                    continue
                known = ~np.isnan(a)
                diff = np.abs(a[known] - b[known])
                worst_abs = max(worst_abs, float(diff.max(initial=0.0)))
                rel = diff / np.maximum(np.abs(a[known]), 1e-300)
                worst_rel = max(worst_rel, float(rel.max(initial=0.0)))
            else:
                # Missing labels compare equal (NaN != NaN would count every unknown stage).
                a, b = a.astype(object).fillna("<missing>"), b.astype(object).fillna("<missing>")
                labels += int((a.astype(str).to_numpy() != b.astype(str).to_numpy()).sum())
        out[name] = {"max_abs": worst_abs, "max_rel": worst_rel, "labels_differing": labels,
                     "columns_added": [c for c in cur.columns if c not in ref.columns],
                     "columns_removed": [c for c in ref.columns if c not in cur.columns]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", help="folder to write the reference predictions to")
    group.add_argument("--compare", help="folder of reference predictions to compare with")
    parser.add_argument("--bundle", help="predict with this saved bundle instead of training a small one")
    parser.add_argument("--out", help="with --compare: also write the comparison to this JSON file")
    parser.add_argument("--tolerance", type=float, default=1e-9, help="largest relative difference allowed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="videoperf-equivalence-") as scratch:
        tables = run_bundle(Path(args.bundle)) if args.bundle else run(Path(scratch))
    if args.save:
        folder = Path(args.save)
        folder.mkdir(parents=True, exist_ok=True)
        for name, frame in tables.items():
            frame.to_pickle(folder / f"{name}.pkl")
        print(f"wrote {len(tables)} tables to {folder}")
        return 0
    folder = Path(args.compare)
    reference = {path.stem: pd.read_pickle(path) for path in sorted(folder.glob("*.pkl"))}
    result = compare(reference, tables)
    print(json.dumps(result, indent=2))
    worst = max(r["max_rel"] for r in result.values())
    bad = [name for name, r in result.items()
           if r["max_rel"] > args.tolerance or r["labels_differing"] or r["columns_removed"]]
    print(f"largest relative difference {worst:.3g}; over tolerance {args.tolerance:g}: {bad or 'none'}")
    if args.out:
        Path(args.out).write_text(json.dumps({
            "reference": str(folder), "bundle": args.bundle, "tolerance": args.tolerance,
            "largest_relative_difference": worst, "over_tolerance": bad, "tables": result}, indent=2) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
