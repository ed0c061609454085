"""Shared fixtures: quiet logging, the path of the real data beside the repo, small simulated data."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
REAL_PARQUET = SHARED_DATA / "youtube_trending_api" / "trending_2025-12-10_2026-05-31.parquet"
CSV_SAMPLE = SHARED_DATA / "youtube_trending_api" / "csv_sample"
KAGGLE_CSV = SHARED_DATA / "kaggle_trending_2017" / "USvideos.csv"

sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
logging.getLogger("videoperf").setLevel(logging.ERROR)


def require_shared_data(path: Path = SHARED_DATA) -> Path:
    """Skip the calling test when the real data beside the repo is absent (a user's fresh clone)."""
    if not path.exists():
        pytest.skip(f"real data not found at {path}: these tests need ../shared/data beside the repository")
    return path


@pytest.fixture(scope="session")
def synthetic_raw():
    from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic

    raw, truth = generate_synthetic(400, seed=7, end=REAL_EXPORT_END)
    return raw, truth


@pytest.fixture(scope="session")
def synthetic_snapshots(synthetic_raw):
    from videoperf.data.sources import load_data

    return load_data(synthetic_raw[0])


@pytest.fixture(scope="session")
def full_bundle(tmp_path_factory):
    """A tiny bundle with both model families (the deep one on the tiny random encoder)."""
    from _tiny import tiny_config

    import model_update
    from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic

    folder = tmp_path_factory.mktemp("full_bundle") / "artifacts"
    raw, _ = generate_synthetic(500, seed=4, end=REAL_EXPORT_END)
    model_update.train(raw, "fast", folder, models=("ensemble", "deep_learning"), progress=False,
                       config=tiny_config(tiny_deep=True), seed=5)
    return folder
