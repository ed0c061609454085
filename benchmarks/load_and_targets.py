"""Benchmark: load the full real trending parquet and build the lifecycle targets (issue: foundation).

Goal: at most 60 s and 4 GB peak memory on a 2-core machine. Run on a quiet machine:

    .venv/bin/python benchmarks/load_and_targets.py [--data PATH]

Prints and writes benchmarks/results/load_and_targets.json with the timings, the peak resident memory of this
process and how many videos get each target.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from common import DEFAULT_DATA  # noqa: E402

from videoperf.data.sources import load_data  # noqa: E402
from videoperf.lifecycle.targets import build_targets  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "load_and_targets.json"))
    args = parser.parse_args()
    start = time.perf_counter()
    snapshots = load_data(args.data)
    loaded = time.perf_counter()
    targets = build_targets(snapshots)
    done = time.perf_counter()
    per_video = targets.groupby("video_id").agg(stage=("lifecycle_stage", lambda s: s.notna().any()),
                                                peak=("time_to_peak_days", "first"), decay=("decay_rate", "first"),
                                                like=("like_ratio", "first"))
    result = {
        "data": str(Path(args.data).name),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "load_seconds": round(loaded - start, 2),
        "targets_seconds": round(done - loaded, 2),
        "total_seconds": round(done - start, 2),
        "peak_memory_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
        "snapshots": int(len(snapshots)),
        "videos": int(snapshots["video_id"].nunique()),
        "dropped_rows": snapshots.attrs["load_report"]["dropped"],
        "videos_with_stage": int(per_video["stage"].sum()),
        "videos_with_time_to_peak": int(per_video["peak"].notna().sum()),
        "videos_with_decay_rate": int(per_video["decay"].notna().sum()),
        "videos_with_like_ratio": int(per_video["like"].notna().sum()),
        "observations_by_stage": {str(k): int(v) for k, v in
                                  targets["lifecycle_stage"].fillna("missing").value_counts().items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
