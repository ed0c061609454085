"""What the benchmark scripts share: where the real data lives, the presets' time goals, machine facts."""

from __future__ import annotations

import os
import platform
import resource
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
