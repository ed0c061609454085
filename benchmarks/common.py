"""What the benchmark scripts share: where the real data lives, the presets' time goals, machine facts."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from videoperf.plain import plain  # noqa: F401  (re-exported: the benchmarks' JSON writer)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "youtube_trending_api" / "trending_2025-12-10_2026-05-31.parquet"
# Training-time goals of the speed presets on the real parquet and 2 cores (issue 7), in minutes.
TRAIN_GOAL_MINUTES = {"fast": 5, "balanced": 30, "full": 120}


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB (``ru_maxrss`` is in kB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if platform.system() == "Darwin" else peak / 1024


def machine() -> dict[str, Any]:
    """The facts a timing depends on."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    return {"cpus": os.cpu_count(), "memory_gb": round(memory / 1024**3, 1), "platform": platform.platform(),
            "python": platform.python_version()}


def log_scores(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Mean signed log error (log1p predicted - log1p actual), log-MAE, log R² and Spearman of views."""
    from videoperf.lifecycle.metrics import views_metrics

    found = views_metrics(actual, predicted)
    bias = float(np.mean(np.log1p(np.clip(predicted, 0, None)) - np.log1p(np.clip(actual, 0, None))))
    return {"log_bias": bias, "log_mae": found["log_mae"], "log_r2": found["log_r2"], "spearman": found["spearman"]}


def write_report(report: dict[str, Any], started: float, out: str | Path, name: str,
                 markdown: Callable[[dict[str, Any]], str]) -> None:
    """Stamp ``report`` with its run time (since ``started``, a ``perf_counter``), peak memory and machine, write it
    as ``<out>/<name>.json`` and ``markdown(report)`` as ``<name>.md``, and print the markdown."""
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["peak_memory_mb"] = round(peak_memory_mb())
    report["machine"] = machine()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (folder / f"{name}.md").write_text(text)
    print(text)


CACHE_COLUMNS = ["video_id", "observed_at", "published_at", "channel_id", "views", "likes", "categories",
                 "duration_seconds"]


def load_snapshots(source: str, cache: Path | None, video_fraction: float = 1.0) -> pd.DataFrame:
    """``videoperf.data.sources.load_data(source)`` (the columns these benchmarks need), via ``cache`` when given; with
    ``video_fraction`` < 1 only that share of the videos (chosen by a hash of the id: the same ones every run)."""
    if cache is not None and cache.is_file():
        snaps = pd.read_parquet(cache)
    else:
        from videoperf.data.sources import load_data

        snaps = load_data(source).loc[:, CACHE_COLUMNS]
        if cache is not None:
            snaps.to_parquet(cache)
    if video_fraction < 1.0:
        hashed = pd.util.hash_array(snaps["video_id"].to_numpy(dtype=object)) % np.uint64(1_000_000)
        snaps = snaps[hashed.astype(float) < video_fraction * 1_000_000].reset_index(drop=True)
    return snaps
