"""Inference speed: import + first call (fresh process), warm single-call latency, batch throughput.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/predict_speed.py --artifacts artifacts

Targets (issue 3): warm ``predict_performance`` median <= 20 ms; import + first call <= 5 s;
``predict_batch`` >= 5,000 rows/s on 100,000 rows. Writes ``benchmarks/results/predict_speed.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CALL = dict(title="Amazing makeup tutorial for beginners", tags=["makeup", "tutorial", "beauty", "beginner"],
            categories=["Lifestyle", "Fashion"], duration_seconds=600, channel_avg_views=50000,
            channel_video_count=25, model_type="ensemble")

COLD = """
import time, sys
start = time.perf_counter()
sys.path.insert(0, {root!r})
from predict import predict_performance
value = predict_performance(**{call!r}, artifacts_dir={artifacts!r})["predicted_views"]
print(time.perf_counter() - start)
"""


def batch_rows(n: int, seed: int = 0):
    """``n`` varied requests (titles, tags, categories, durations, channel stats, ages)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    words = np.array("official music video highlights vlog minecraft news live tutorial review trailer episode "
                     "makeup recipe challenge funny best new full song reaction update".split())
    categories = ["Music", "Gaming", "Entertainment", "Sports", "News & Politics", "Howto & Style", "Comedy"]
    titles = [" ".join(rng.choice(words, size=rng.integers(3, 9))).title() for _ in range(n)]
    tags = [list(rng.choice(words, size=rng.integers(0, 8), replace=False)) for _ in range(n)]
    return pd.DataFrame({
        "video_id": [f"v{i}" for i in range(n)], "title": titles, "tags": tags,
        "categories": [[categories[i]] for i in rng.integers(0, len(categories), n)],
        "duration_seconds": rng.lognormal(5.5, 1.2, n).round(), "channel_avg_views": rng.lognormal(11, 2, n),
        "channel_video_count": rng.integers(0, 60, n), "days_since_publish": rng.uniform(0.2, 30, n),
        "published_at": pd.Timestamp("2026-05-01", tz="UTC") + pd.to_timedelta(rng.uniform(0, 30, n), unit="D"),
    })


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifacts", default=str(ROOT / "artifacts"))
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "predict_speed.json"))
    args = parser.parse_args()

    code = COLD.format(root=str(ROOT), call=CALL, artifacts=args.artifacts)
    cold = [float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                 cwd=ROOT).stdout.strip().splitlines()[-1]) for _ in range(3)]

    import numpy as np

    from predict import predict_batch, predict_performance

    predict_performance(**CALL, artifacts_dir=args.artifacts)
    latencies = []
    for i in range(args.calls):
        start = time.perf_counter()
        predict_performance(**{**CALL, "channel_avg_views": 1000 + i * 500}, artifacts_dir=args.artifacts)
        latencies.append(time.perf_counter() - start)
    rows = batch_rows(args.rows)
    start = time.perf_counter()
    out = predict_batch(rows, "ensemble", artifacts_dir=args.artifacts)
    batch_seconds = time.perf_counter() - start
    assert len(out) == len(rows)

    manifest = json.loads((Path(args.artifacts) / "manifest.json").read_text())
    result = {
        "artifacts": args.artifacts, "speed": manifest.get("speed"),
        "import_and_first_call_s": {"median": float(np.median(cold)), "runs": cold, "target": 5.0},
        "warm_latency_ms": {"median": float(np.median(latencies) * 1000),
                            "p90": float(np.percentile(latencies, 90) * 1000), "calls": args.calls, "target": 20.0},
        "batch": {"rows": args.rows, "seconds": round(batch_seconds, 2),
                  "rows_per_second": round(args.rows / batch_seconds), "target_rows_per_second": 5000},
    }
    print(json.dumps(result, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
