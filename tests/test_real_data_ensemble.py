"""The ensemble on real data beside the repository (skipped when ../shared/data is absent).

Cheap versions of the benchmark (``benchmarks/accuracy.py`` runs the full parquet): the classic Kaggle
file end to end, and a quarter of the channels of the trending parquet split on 2026-04-15.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tiny import tiny_config

from videoperf.data.sources import load_data
from videoperf.data.splits import split_by_date
from videoperf.evaluation.holdout import evaluate

DATA = Path(__file__).parents[1].parent / "shared" / "data"
PARQUET = DATA / "youtube_trending_api" / "trending_2025-12-10_2026-05-31.parquet"
KAGGLE = DATA / "kaggle_trending_2017" / "USvideos.csv"

pytestmark = [pytest.mark.real_data, pytest.mark.slow]


def _require(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"real data not found at {path}: these tests need ../shared/data beside the repository")


def _config(max_train_rows: int):
    config = tiny_config(max_train_rows)
    preset = config.preset("fast")
    learners = {"xgboost": {"n_estimators": 150, "max_depth": 6, "learning_rate": 0.1, "colsample_bytree": 0.5},
                "lightgbm": {"n_estimators": 150, "num_leaves": 31, "learning_rate": 0.1, "colsample_bytree": 0.5},
                "catboost": {"iterations": 150, "depth": 6, "learning_rate": 0.15},
                "hist_gradient_boosting": {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31},
                "random_forest": {"n_estimators": 20, "max_features": 0.3, "max_samples": 0.3, "max_depth": 14,
                                  "min_samples_leaf": 5}}
    real = load_config_features()
    preset = dataclasses.replace(preset, features=real, ensemble=dataclasses.replace(preset.ensemble, **learners))
    return dataclasses.replace(config, presets={**config.presets, "fast": preset})


def load_config_features():
    from videoperf.config import load_config

    return load_config().preset("fast").features


def test_kaggle_file_end_to_end():
    _require(KAGGLE)
    snapshots = load_data(KAGGLE)
    assert snapshots["duration_seconds"].isna().all()  # the Kaggle schema has no duration: features cope
    cut = snapshots["published_at"].quantile(0.6)
    train, test = split_by_date(snapshots, cut)
    result = evaluate(train, test, "fast", ("ensemble",), config=tiny_config(), progress=False)
    table = result["metrics"]
    # 800 videos over two weeks: too little to beat the channel mean (see docs/results.md); this checks the
    # schema runs end to end with honest intervals.
    assert np.isfinite(table.loc["views_log_r2", "ensemble"])
    assert (result["predictions"]["ensemble"]["predicted_views"] > 0).all()
    assert 0.65 <= table.loc["interval_coverage", "ensemble"] <= 0.95


def test_trending_parquet_quarter_of_channels():
    _require(PARQUET)
    raw = pd.read_parquet(PARQUET)
    keep = pd.util.hash_array(raw["channel_id"].to_numpy(dtype=object)) % np.uint64(4) == 0
    snapshots = load_data(raw[keep].reset_index(drop=True))
    train, test = split_by_date(snapshots, "2026-04-15")
    result = evaluate(train, test, "fast", ("ensemble",), config=_config(20000), progress=False)
    table = result["metrics"]
    ensemble, channel = table["ensemble"], table["channel_mean"]
    assert ensemble["views_log_r2"] >= 0.78 and ensemble["views_spearman"] >= 0.78, table
    assert ensemble["views_log_r2"] > channel["views_log_r2"] + 0.1
    assert 0.7 <= ensemble["interval_coverage"] <= 0.9
    oof = result["oof"]["ensemble"]
    assert oof["stack"]["r2"] >= max(s["r2"] for s in oof["learners"].values()) - 0.01
