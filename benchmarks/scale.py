"""Benchmark: how the Dask path's cost grows with the data (issue 16, point 3).

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/scale.py [--sizes 5 10 20] \
        [--artifacts /tmp/videoperf-dask/bundle] [--memory-limit 4GiB] [--work /tmp/videoperf-scale]

For each size (a multiple of the real export's 933,392 raw rows) the simulator writes that many raw rows as parquet
partitions of 25,000 videos each (outside the repository), and a LocalCluster of 2 workers (1 thread each, a memory
limit each) runs, each step reading the previous step's parquet output and writing its own:

1. load: raw partitions -> canonical snapshots (shuffled by video, ``dask_data.load_snapshots``);
2. targets: ``build_targets`` per partition;
3. requests: canonical rows shuffled by channel, each channel's history as of each publish time, one
   ``predict_batch`` request per snapshot row (``--score last``: per video, its last observation;
   ``dask_data.request_rows``);
4. scoring: ``predict --batch --cluster`` (``dask_scoring.score_partitions``) with a `fast` ensemble bundle
   (default: the one ``benchmarks/dask_equivalence.py`` trains on the real export).

Rows per second and seconds per million rows of each step, and each worker's peak resident memory (sampled every
0.5 s) against its limit, go to benchmarks/results/scale.json and .md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

from common import machine  # noqa: E402

from videoperf.distributed import data as dask_data  # noqa: E402
from videoperf.distributed.cluster import open_client  # noqa: E402
from videoperf.distributed.scoring import score_partitions  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
REAL_RAW_ROWS = 933_392  # the real export's rows (video, country, fetch), benchmarks/results/dask_equivalence.json
CHUNK_VIDEOS = 25_000
TARGET_COLUMNS = ["video_id", "observed_at", "published_at", "views", "likes"]
REQUEST_COLUMNS = ["video_id", "observed_at", "published_at", "title", "tags", "categories", "channel_id",
                   "duration_seconds", "views", "likes"]


def simulate_chunk(index: int, n_videos: int, folder: str) -> int:
    """One raw partition of ``n_videos`` simulated videos (ids prefixed by the partition: no collisions)."""
    from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic

    raw, _ = generate_synthetic(n_videos, seed=1000 + index, end=REAL_EXPORT_END)
    for column in ("video_id", "channel_id"):
        raw[column] = f"s{index}-" + raw[column]
    raw.to_parquet(f"{folder}/part-{index:05d}.parquet", index=False)
    return len(raw)


class MemoryWatch:
    """Each worker's peak resident memory while a step runs (polled), and whether any worker was replaced."""

    def __init__(self, client: Any, interval: float = 0.5) -> None:
        self.client, self.interval = client, interval
        self.peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for worker, rss in self.client.run(_rss).items():
                    self.peaks[worker] = max(self.peaks.get(worker, 0), rss)
            except Exception:  # a worker going away mid-poll is what the address check reports
                pass
            self._stop.wait(self.interval)

    def __enter__(self) -> MemoryWatch:
        self.workers = set(self.client.scheduler_info()["workers"])
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.replaced = sorted(self.workers ^ set(self.client.scheduler_info()["workers"]))


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _cpu_seconds() -> float:
    """This process's CPU time (every thread, user + system): the cost of a step whatever else the machine runs."""
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system


def worker_cpu(client: Any) -> dict[str, float]:
    return client.run(_cpu_seconds)


def files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.glob("*.parquet"))


def run_size(client: Any, factor: float, work: Path, artifacts: str, last_only: bool = False) -> dict[str, Any]:
    """Every step at one size; each step's rows, seconds and peak worker memory. ``last_only``: one request per
    video (its last observation) instead of one per snapshot row."""
    import dask.dataframe as dd
    import pandas as pd

    from videoperf.lifecycle.targets import build_targets

    folders = {name: work / f"x{factor:g}" / name for name in ("raw", "canonical", "targets", "requests", "scored")}
    shutil.rmtree(work / f"x{factor:g}", ignore_errors=True)
    for name, folder in folders.items():
        if name != "scored":
            folder.mkdir(parents=True)
    limit = min(w["memory_limit"] for w in client.scheduler_info()["workers"].values())
    steps: dict[str, dict[str, Any]] = {}

    def step(name: str, rows_in: int, action: Any) -> Any:
        start, cpu_before = time.perf_counter(), worker_cpu(client)
        with MemoryWatch(client) as watch:
            out = action()
        seconds = time.perf_counter() - start
        cpu_after = worker_cpu(client)
        cpu = sum(cpu_after[w] - cpu_before[w] for w in cpu_after if w in cpu_before)
        steps[name] = {"rows": int(rows_in), "seconds": round(seconds, 1), "rows_per_second": round(rows_in / seconds),
                       "seconds_per_million_rows": round(seconds / rows_in * 1e6, 2),
                       "worker_cpu_seconds": round(cpu, 1),
                       "worker_cpu_seconds_per_million_rows": round(cpu / rows_in * 1e6, 2),
                       "load_average_1m_after": round(os.getloadavg()[0], 2),
                       "peak_worker_memory_gb": round(max(watch.peaks.values(), default=0) / 1024**3, 2),
                       "worker_memory_limit_gb": round(limit / 1024**3, 2),
                       "workers_replaced": watch.replaced}
        print(f"x{factor:g} {name}: {steps[name]}", flush=True)
        return out

    n_videos = round(factor * REAL_RAW_ROWS / 5.57)  # the simulator writes ~5.57 raw rows per video
    chunks = [min(CHUNK_VIDEOS, n_videos - k * CHUNK_VIDEOS) for k in range(math.ceil(n_videos / CHUNK_VIDEOS))]
    counts = step("simulate", n_videos, lambda: client.gather(client.map(
        simulate_chunk, range(len(chunks)), chunks, folder=str(folders["raw"]), pure=False)))
    raw_rows = int(sum(counts))
    steps["simulate"]["unit"] = "videos"

    def load() -> int:
        return dask_data.write_parquet(dask_data.load_snapshots(folders["raw"]), folders["canonical"])

    snapshots = step("load", raw_rows, load)
    canonical = files(folders["canonical"])

    def targets() -> None:
        frame = dd.from_map(pd.read_parquet, canonical, columns=TARGET_COLUMNS)
        dask_data.write_parquet(frame.map_partitions(build_targets, meta=build_targets(frame._meta)),
                                folders["targets"])

    step("targets", snapshots, targets)

    def requests() -> None:
        frame = dd.from_map(pd.read_parquet, canonical, columns=REQUEST_COLUMNS)
        channels = dask_data.by_channel(frame)
        meta = dask_data.request_rows(channels._meta, last_only)
        return dask_data.write_parquet(channels.map_partitions(dask_data.request_rows, last_only, meta=meta),
                                       folders["requests"])

    n_requests = step("requests", snapshots, requests)
    summary = step("scoring", n_requests, lambda: score_partitions(folders["requests"], folders["scored"],
                                                                   cluster=client, artifacts_dir=artifacts))
    if summary["rows"] != n_requests:
        raise RuntimeError(f"scoring wrote {summary['rows']} rows for {n_requests} requests")
    for name in ("raw", "canonical", "targets", "requests"):
        shutil.rmtree(folders[name], ignore_errors=True)
    return {"factor": factor, "raw_rows": raw_rows, "videos": n_videos, "snapshots": snapshots,
            "requests": n_requests, "partitions": len(chunks), "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[5, 10, 20])
    parser.add_argument("--artifacts", default="/tmp/videoperf-dask/bundle")
    parser.add_argument("--memory-limit", default="4GiB")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", default="/tmp/videoperf-scale")
    parser.add_argument("--score", choices=("all", "last"), default="all",
                        help="requests: every snapshot row, or each video's last observation")
    parser.add_argument("--out", default=str(RESULTS / "scale.json"))
    args = parser.parse_args()
    manifest = json.loads((Path(args.artifacts) / "manifest.json").read_text())
    work = Path(args.work)
    result = {"cluster": f"LocalCluster, {args.workers} workers x 1 thread, memory limit {args.memory_limit} each",
              "machine": machine(), "real_export_raw_rows": REAL_RAW_ROWS,
              "bundle": {"folder": args.artifacts, "speed": manifest.get("speed"), "models": manifest.get("models"),
                         "trained_on": manifest.get("data")},
              "scored": ("every snapshot row (one request per video and day observed)" if args.score == "all" else
                         "each video's last observation (one request per video, as evaluate scores)"),
              "sizes": []}
    with open_client("local", n_workers=args.workers, memory_limit=args.memory_limit) as client:
        for factor in args.sizes:
            result["sizes"].append(run_size(client, factor, work, args.artifacts, args.score == "last"))
            write(result, Path(args.out))  # after every size: a later one that fails leaves the earlier ones
    print(markdown(result))


def write(result: dict[str, Any], out: Path) -> None:
    """The summary over the sizes so far, as JSON and markdown."""
    sizes = sorted(result["sizes"], key=lambda size: size["factor"])
    first, last = sizes[0], sizes[-1]
    for key, measure in (("cost_per_row_ratio_last_to_first", "seconds_per_million_rows"),
                         ("cpu_per_row_ratio_last_to_first", "worker_cpu_seconds_per_million_rows")):
        result[key] = {name: round(last["steps"][name][measure] / first["steps"][name][measure], 2)
                       for name in ("load", "targets", "requests", "scoring")}
    result["no_worker_over_its_limit"] = all(
        s["peak_worker_memory_gb"] < s["worker_memory_limit_gb"] and not s["workers_replaced"]
        for size in sizes for s in size["steps"].values())
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))


def markdown(r: dict) -> str:
    """The result as a markdown table per step."""
    lines = ["# Dask path at 5x-20x the real export (simulated)", "",
             f"{r['cluster']}; {r['machine']['cpus']} cores, {r['machine']['memory_gb']} GB. Scored: {r['scored']}, "
             f"with a `{r['bundle']['speed']}` {', '.join(r['bundle']['models'] or [])} bundle.", "",
             "Wall seconds depend on what else the machine ran (the 1-minute load average after each step is shown); "
             "the workers' CPU seconds (every thread, user + system) are the cost that does not.", "",
             "| size | raw rows | snapshots | step | seconds | rows/s | s per million rows | worker CPU s | CPU s per "
             "million rows | load after | peak worker memory (limit) GB | workers replaced |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for size in sorted(r["sizes"], key=lambda size: size["factor"]):
        for name, s in size["steps"].items():
            unit = " videos" if s.get("unit") == "videos" else ""
            lines.append(f"| {size['factor']:g}x | {size['raw_rows']:,} | {size['snapshots']:,} | {name} | "
                         f"{s['seconds']} | {s['rows_per_second']:,}{unit} | {s['seconds_per_million_rows']} | "
                         f"{s.get('worker_cpu_seconds', '-')} | {s.get('worker_cpu_seconds_per_million_rows', '-')} | "
                         f"{s.get('load_average_1m_after', '-')} | "
                         f"{s['peak_worker_memory_gb']} ({s['worker_memory_limit_gb']}) | "
                         f"{len(s['workers_replaced'])} |")
    ratio, cpu = r["cost_per_row_ratio_last_to_first"], r["cpu_per_row_ratio_last_to_first"]
    lines += ["", "Cost per row, largest size / smallest, in wall seconds: " +
              ", ".join(f"{k} {v}" for k, v in ratio.items()) + "; in worker CPU seconds: " +
              ", ".join(f"{k} {v}" for k, v in cpu.items()) + ".",
              f"No worker over its memory limit: {r['no_worker_over_its_limit']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
