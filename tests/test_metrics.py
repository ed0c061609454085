import math

import numpy as np
import pandas as pd
import pytest

from videoperf.lifecycle import metrics


def test_regression_metrics_on_a_hand_made_case():
    actual = np.array([100.0, 1000.0, 10000.0, 0.0])
    predicted = np.array([110.0, 900.0, 10000.0, 5.0])
    out = metrics.views_metrics(actual, predicted)
    assert out["mae"] == pytest.approx((10 + 100 + 0 + 5) / 4)
    assert out["rmse"] == pytest.approx(math.sqrt((100 + 10000 + 0 + 25) / 4))
    # MAPE skips the zero actual: (10% + 10% + 0%) / 3
    assert out["mape"] == pytest.approx(20 / 3)
    assert out["spearman"] == pytest.approx(1.0)
    assert metrics.r2(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])) == 1.0
    assert metrics.r2(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])) == pytest.approx(0.0)


def test_missing_targets_are_masked_not_guessed():
    assert metrics.mae(np.array([1.0, np.nan, 3.0]), np.array([2.0, 100.0, 3.0])) == pytest.approx(0.5)
    assert math.isnan(metrics.mae(np.array([np.nan]), np.array([1.0])))


def test_classification_metrics():
    actual = pd.Series(["growth", "peak", "decay", "decay", None])
    predicted = pd.Series(["growth", "decay", "decay", "decay", "peak"])
    out = metrics.classification_metrics(actual, predicted)
    assert out["n"] == 4
    assert out["accuracy"] == pytest.approx(0.75)
    # F1: growth 1, peak 0, decay 2*2/(2+3)=0.8
    assert out["macro_f1"] == pytest.approx((1 + 0 + 0.8) / 3)


def test_interval_metrics():
    out = metrics.interval_metrics(np.array([10.0, 20.0, 30.0, 40.0]), np.array([5.0, 25.0, 20.0, 0.0]),
                                   np.array([15.0, 30.0, 40.0, 50.0]))
    assert out["coverage"] == pytest.approx(0.75)


def test_baselines_use_training_videos_only():
    ts = pd.Timestamp("2026-01-01", tz="UTC")
    train = pd.DataFrame({"video_id": ["a", "a", "b", "c"], "channel_id": ["x", "x", "x", "y"],
                          "observed_at": [ts, ts + pd.Timedelta(days=1), ts, ts],
                          "views": [np.expm1(1.0), np.expm1(3.0), np.expm1(5.0), np.expm1(8.0)]})
    test = pd.DataFrame({"channel_id": ["x", "y", "z"]})
    out = metrics.baseline_predictions(train, test)
    # last observations: a=3, b=5, c=8 -> global 16/3; channel x = 4, y = 8, unseen z = global
    assert out["global_mean"].tolist() == pytest.approx([16 / 3] * 3)
    assert out["channel_mean"].tolist() == pytest.approx([4.0, 8.0, 16 / 3])


def test_evaluate_predictions_reports_every_target():
    table = pd.DataFrame({
        "actual_views": [100.0, 1000.0, 50.0], "predicted_views": [90.0, 1100.0, 60.0],
        "views_lo": [50.0, 500.0, 70.0], "views_hi": [200.0, 2000.0, 90.0],
        "actual_like_ratio": [0.1, 0.2, np.nan], "predicted_like_ratio": [0.1, 0.1, 0.3],
        "actual_lifecycle_stage": ["growth", "decay", None], "predicted_lifecycle_stage": ["growth", "peak", "decay"],
        "actual_time_to_peak_days": [1.0, np.nan, 2.0], "predicted_time_to_peak_days": [2.0, 1.0, 2.0],
        "actual_decay_rate": [0.2, 0.3, np.nan], "predicted_decay_rate": [0.3, 0.3, 0.1]})
    out = metrics.evaluate_predictions(table)
    assert out["interval_coverage"] == pytest.approx(2 / 3)
    assert out["like_ratio_mae"] == pytest.approx(0.05)
    assert out["stage_accuracy"] == pytest.approx(0.5)
    assert out["time_to_peak_days_mae"] == pytest.approx(0.5)
    assert out["decay_rate_mae"] == pytest.approx(0.05)
