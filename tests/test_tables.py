"""Tables for people: rounded numbers, a compact settings table, example predictions as a small table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from videoperf.config import load_config
from videoperf.notebook import tables
from videoperf.notebook.run_settings import settings_from_parameters


@pytest.mark.parametrize(("value", "text"), [
    (313620.586667, "313,621"), (np.int64(109058), "109,058"), (0.8614, "0.861"), (-0.000479, "-0.000479"),
    (2.0, "2"), (0.0, "0.000"), (12.3456, "12.346"), (math.nan, "–"), (None, "–"), ("api", "api"), (True, "True"),
])
def test_format_number(value, text):
    assert tables.format_number(value) == text


def test_readable_formats_every_cell_and_keeps_the_index():
    table = pd.DataFrame({"r2": [0.86142, np.nan], "fit_seconds": [5.612, 30.0], "videos": [109058, 12]},
                         index=["ensemble", "baseline"])
    shown = tables.readable(table)
    assert list(shown.index) == ["ensemble", "baseline"]
    assert shown.loc["ensemble"].tolist() == ["0.861", "5.6", "109,058"]
    assert shown.loc["baseline"].tolist() == ["–", "30", "12"]


def _settings(**changes):
    parameters = dict(SPEED="fast", DATA_SOURCE="synthetic", N_SYNTHETIC_VIDEOS=600, MODELS="ensemble,deep_learning",
                      ARTIFACTS_DIR="artifacts", SEED=42, SPLIT_DATE="", BACKTEST_ORIGINS="", VERBOSE=False)
    return settings_from_parameters({**parameters, **changes})


def test_settings_table_is_compact_and_names_the_main_sizes():
    table = tables.settings_table(_settings(SPLIT_DATE="2026-04-15"))
    values = table["setting"]
    assert len(table) <= 15 and values.str.len().max() <= 50  # pandas cuts longer cells
    assert values["speed preset"] == "fast" and values["artifacts folder"] == "artifacts"
    assert values["test videos"] == "published on or after 2026-04-15"
    # the preset's own sizes, and only of the learners it fits (fast: XGBoost and LightGBM)
    fast = load_config().preset("fast").ensemble
    assert "600 simulated videos" in values["data source"] and f"xgb {fast.xgboost['n_estimators']}" in values[
        "boosting rounds"]
    assert values["ensemble"].startswith(f"{len(fast.learners)} learners") and "cat" not in values["boosting rounds"]
    assert tables.settings_table(_settings(VERBOSE=True))["setting"]["log messages"].startswith("INFO")


def test_verbose_must_be_a_bool():
    with pytest.raises(ValueError, match="VERBOSE"):
        _settings(VERBOSE="yes")


def test_predictions_table_is_one_small_table():
    results = {
        "ensemble": {"predicted_views": 68824.60397491787, "views_lo": 14505.39, "views_hi": 395049.09,
                     "interval_coverage": 0.8, "days_since_publish": 7.0},
        "deep_learning": {"predicted_views": 151415.225, "predicted_like_ratio": 0.055245161056518555,
                          "lifecycle_stage": "decay", "time_to_peak_days": 0.6008700728416443,
                          "decay_rate": 0.25004568696022034, "days_since_publish": 7.0,
                          "stage_probabilities": {"decay": 0.759, "growth": 0.2406, "peak": 0.00021646}},
    }
    table = tables.predictions_table(results)
    assert list(table.columns) == ["ensemble", "deep_learning"]
    assert table.loc["predicted views"].tolist() == ["68,825", "151,415"]
    assert table.loc["80% interval: high", "ensemble"] == "395,049"
    assert table.loc["80% interval: low", "deep_learning"] == "–"
    assert table.loc["P(peak)", "deep_learning"] == "0.000216" and table.loc["like ratio", "deep_learning"] == "0.055"
    assert len(table) <= 12
