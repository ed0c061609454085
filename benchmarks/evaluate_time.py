"""How long ``videoperf evaluate`` of both families takes end to end on a time split of the real export.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/evaluate_time.py \
        --data ../shared/data/youtube_trending_api/trending_2025-12-10_2026-05-31.parquet --split-date 2026-04-15

Runs ``videoperf.evaluate(data=D, split_date=S, speed, models=ensemble,deep_learning)`` in this process, as
``videoperf evaluate`` does, with an empty text-embedding cache (a first run on a new machine), and writes
``benchmarks/results/evaluate_time.json`` and ``.md``: the wall-clock and CPU seconds from loading the data to the
metrics, the test videos and the headline metrics of each family. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from common import machine  # noqa: E402

import videoperf  # noqa: E402
from videoperf.config import load_config  # noqa: E402
from videoperf.plain import jsonable  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "youtube_trending_api" / "trending_2025-12-10_2026-05-31.parquet"
HEADLINE = ("views_log_r2", "views_log_mae", "interval_coverage")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--split-date", default="2026-04-15")
    parser.add_argument("--speed", default="fast")
    parser.add_argument("--models", default="ensemble,deep_learning")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    config = load_config()
    with tempfile.TemporaryDirectory(prefix="evaluate-time-") as cache:
        config = dataclasses.replace(config, paths=dataclasses.replace(config.paths, cache_dir=cache))
        wall, cpu = time.perf_counter(), time.process_time()
        result = videoperf.evaluate(data=args.data, split_date=args.split_date, speed=args.speed, models=args.models,
                                    config=config, progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    metrics = result["metrics"]
    data = Path(args.data).resolve()
    shown = f"../{data.relative_to(ROOT.parent)}" if data.is_relative_to(ROOT.parent) else str(data)
    report = {
        "command": (f"videoperf evaluate --data {shown} --split-date {args.split_date} --speed {args.speed} "
                    f"--models {args.models}"),
        "cache": "empty text-embedding cache", "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
        "test_videos": result["test_videos"], "machine": machine(),
        "metrics": {model: {name: metrics.loc[name, model] for name in HEADLINE if name in metrics.index}
                    for model in args.models.split(",")},
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "evaluate_time.json").write_text(json.dumps(jsonable(report), indent=2) + "\n")
    lines = ["# `videoperf evaluate` of both families, end to end", "",
             f"`{report['command']}` with an {report['cache']} (`benchmarks/evaluate_time.py`).", "",
             "| wall-clock s | CPU s | test videos |", "|---|---|---|",
             f"| {report['wall_seconds']} | {report['cpu_seconds']} | {report['test_videos']:,} |", "",
             "| model | " + " | ".join(HEADLINE) + " |", "|---|" + "---|" * len(HEADLINE)]
    for model, values in report["metrics"].items():
        lines.append(f"| {model} | " + " | ".join(f"{values.get(name, float('nan')):.3f}" for name in HEADLINE) + " |")
    (args.out_dir / "evaluate_time.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(jsonable(report), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
