"""Training-side API and CLI: load data, derive targets, train, evaluate.

    python model_update.py train --data SOURCE --speed fast --artifacts DIR [--models ensemble,deep_learning]
    python model_update.py evaluate --train SOURCE --test SOURCE --speed fast --predictions FILE.csv
    python model_update.py evaluate --data SOURCE --split-date 2026-04-15 --speed fast --predictions FILE.csv
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from videoperf import data as _data
from videoperf import lifecycle as _lifecycle
from videoperf import synthetic as _synthetic


def load_data(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """The canonical snapshot table (one row per video per UTC day) from any supported source."""
    return _data.load_data(source)


def build_targets(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Per-observation targets: views at age, like ratio, lifecycle stage, time to peak, decay rate."""
    return _lifecycle.build_targets(snapshots)


def generate_synthetic(n_videos: int, seed: int = 0) -> tuple[pd.DataFrame, _synthetic.SyntheticTruth]:
    """Simulated raw API-format rows and their ground truth."""
    return _synthetic.generate_synthetic(n_videos, seed)
