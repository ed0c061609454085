"""The selection correction (``training.views_target``) and the population a bundle states (issue 12)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from _tiny import tiny_config

import model_update
from videoperf.data.population import generate_population, training_population, write_upload_snapshots
from videoperf.data.synthetic import REAL_EXPORT_END
from videoperf.features.channel_history import (
    LEVEL_FEATURES,
    channel_level,
    check_views_target,
    level_prior,
    relative_inputs,
)
from videoperf.models import artifacts
from videoperf.serving import bundle
from videoperf.training import settings


def _features(**columns) -> pd.DataFrame:
    base = {"channel_log_count": [0.0, np.log1p(4), np.log1p(9)], "channel_log_avg_views": [np.nan, 8.0, 6.0],
            "channel_mean_log_views": [np.nan, np.nan, 5.0], "channel_max_log_views": [np.nan, 9.0, 7.0],
            "log_age": [1.0, 2.0, 3.0]}
    return pd.DataFrame({**base, **columns}).astype(np.float32)


def test_the_level_is_the_mean_log_views_else_the_log_average_else_zero():
    X = _features()
    assert channel_level(X, "absolute") == pytest.approx([0, 0, 0])
    assert channel_level(X, "channel_relative") == pytest.approx([0.0, 8.0, 5.0])
    relative = relative_inputs(X, "channel_relative")
    assert relative["channel_max_log_views"].tolist()[1:] == pytest.approx([1.0, 2.0])
    assert relative["channel_log_avg_views"].tolist()[1:] == pytest.approx([0.0, 1.0])
    # What is not a level stays as it is; the absolute target reads the features unchanged (the same object).
    pd.testing.assert_series_equal(relative["log_age"], X["log_age"])
    assert relative_inputs(X, "absolute") is X
    assert {"channel_mean_residual", "channel_last_residual"} <= set(LEVEL_FEATURES)


def test_a_row_without_history_is_at_the_prior_level():
    X = _features()
    assert channel_level(X, "channel_relative", prior=7.5) == pytest.approx([7.5, 8.0, 5.0])
    assert channel_level(X, "absolute", prior=7.5) == pytest.approx([0, 0, 0])
    assert level_prior(np.array([6.0, 8.0, 10.0]), "channel_relative") == pytest.approx(8.0)
    assert level_prior(np.array([6.0, 8.0]), "absolute") == 0.0


def test_a_bad_views_target_is_named():
    with pytest.raises(ValueError, match="training.views_target"):
        check_views_target("relative")
    with pytest.raises(ValueError, match="channel_history family"):
        channel_level(pd.DataFrame({"log_age": [1.0]}), "channel_relative")


def test_the_population_comes_from_the_training_data_source(tmp_path):
    population = generate_population(8, seed=2, chart_size=3, end=REAL_EXPORT_END)
    population.chart.to_csv(tmp_path / "chart.csv", index=False)
    write_upload_snapshots(population, tmp_path / "uploads")
    from videoperf.data.sources import load_data

    assert training_population(load_data(tmp_path / "chart.csv"))["name"] == "trending_chart"
    assert training_population(load_data(tmp_path / "uploads"))["name"] == "channel_uploads"
    assert training_population(load_data("synthetic"))["name"] == "trending_chart"
    assert training_population(pd.DataFrame({"channel_id": ["a"]}))["name"] == "unknown"


@pytest.fixture(scope="module")
def uploads_bundle(tmp_path_factory):
    """A tiny channel-relative ensemble trained on a simulated channel-uploads folder."""
    folder = tmp_path_factory.mktemp("relative")
    write_upload_snapshots(generate_population(25, seed=4, end=REAL_EXPORT_END), folder / "uploads")
    config = tiny_config(max_train_rows=2000, tiny_deep=True)
    config = dataclasses.replace(config, training=dataclasses.replace(config.training,
                                                                      views_target="channel_relative"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "load_config", lambda *a, **k: config)
        model_update.train(str(folder / "uploads"), "fast", folder / "bundle", models=("ensemble", "deep_learning"),
                           progress=False)
    return folder / "bundle"


def test_the_stack_learns_from_folds_of_videos_published_before_their_channel_was_observed(uploads_bundle):
    # The first snapshot (2026-01-01) comes a month after the first uploads: every December video has no channel
    # history. With a level of 0 for them the earliest folds' learners predicted absolute views for held-out
    # videos with relative targets (out-of-fold R² about -7, a stack of near-zero weights, i.e. no model).
    manifest = json.loads((uploads_bundle / artifacts.MANIFEST_FILE).read_text())
    report = manifest["metrics"]["oof"]
    assert report["ensemble"]["stack"]["r2"] > -1.0, report["ensemble"]["stack"]
    # Both families keep the prior level they were trained with (pickled, or in the manifest's fit report).
    loaded = bundle.Bundle.load(uploads_bundle)
    assert loaded.model("ensemble").views_prior_ > 3.0
    assert loaded.model("deep_learning").views_prior == pytest.approx(report["deep_learning"]["views_prior"])
    assert report["deep_learning"]["views_prior"] > 3.0


def test_manifest_and_predictions_state_the_population_and_the_target(uploads_bundle):
    import predict

    manifest = json.loads((uploads_bundle / artifacts.MANIFEST_FILE).read_text())
    assert manifest["population"]["name"] == "channel_uploads" and manifest["population"]["channels"] == 25
    assert manifest["views_target"] == "channel_relative"
    bundle.clear_cache()
    call = dict(title="Weekend vlog", tags=["vlog"], categories=["People & Blogs"], duration_seconds=420,
                channel_avg_views=3000, channel_video_count=30, published_at="2026-05-01T12:00:00Z",
                artifacts_dir=uploads_bundle)
    result = predict.predict_performance(**call)
    assert result["population"] == "channel_uploads" and result["calibrated"] is False
    # Relative to the channel's level: ten times the average views, about ten times the views.
    bigger = predict.predict_performance(**{**call, "channel_avg_views": 30000})
    assert np.log1p(bigger["predicted_views"]) - np.log1p(result["predicted_views"]) == pytest.approx(
        np.log1p(30000) - np.log1p(3000), abs=0.5)
    # A channel a thousand times larger than any the training data held: the level carries it (trees would
    # stop at the largest level they saw).
    huge = predict.predict_performance(**{**call, "channel_avg_views": 3e9})
    assert np.log1p(huge["predicted_views"]) - np.log1p(result["predicted_views"]) == pytest.approx(
        np.log1p(3e9) - np.log1p(3000), abs=0.5)
    rows = predict.predict_batch(pd.DataFrame([call | {"tags": "vlog", "categories": "People & Blogs"}])
                                 .drop(columns="artifacts_dir"), artifacts_dir=uploads_bundle)
    assert rows["population"].tolist() == ["channel_uploads"]
