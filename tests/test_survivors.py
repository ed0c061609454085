"""Ordinary uploads from a chart-trained bundle: the survivors' cap, growth along the lifecycle prior, ``on_chart``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import predict
from videoperf.data.population import generate_population, write_upload_snapshots
from videoperf.data.sources import load_data
from videoperf.data.synthetic import REAL_EXPORT_END
from videoperf.evaluation import holdout
from videoperf.features.channel_history import resolve_views_target
from videoperf.models.survivors import SurvivorAges
from videoperf.serving.bundle import Bundle
from videoperf.training.pipeline import train_models
from videoperf.training.settings import resolve

VIDEO = dict(title="Ten knots every sailor needs", tags=["sailing", "knots"], categories=["Howto & Style"],
             duration_seconds=540, channel_avg_views=20000, channel_video_count=40,
             published_at="2026-05-01T10:00:00Z")


def _snapshots(last_ages: list[float]) -> pd.DataFrame:
    """One video per last age, observed every 6 hours from 0.25 days to it, views growing like a lifecycle."""
    rows = []
    start = pd.Timestamp("2026-03-01", tz="UTC")
    for i, last in enumerate(last_ages):
        for age in np.arange(0.25, last + 1e-9, 0.25):
            rows.append({"video_id": f"v{i}", "published_at": start, "observed_at": start + pd.Timedelta(days=age),
                         "views": 1000.0 * (i + 1) * (1 - np.exp(-age / 0.7)) + 10 * age})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def survivors() -> SurvivorAges:
    return SurvivorAges.fit(_snapshots([1.0, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0] * 3))


def test_the_cap_is_the_median_last_age_and_the_arguments_round_trip(survivors):
    assert survivors.cap_days == pytest.approx(3.0)
    assert SurvivorAges.from_dict(json.loads(json.dumps(survivors.to_dict()))) == survivors
    assert SurvivorAges.from_dict(None) is None
    with pytest.raises(ValueError, match="survivor_ages"):
        SurvivorAges(cap_days=0.0, log_tp_mean=0.0, log_tp_sd=1.0, log_decay_mean=0.0, log_decay_sd=1.0)
    with pytest.raises(ValueError, match="survivor_ages"):
        SurvivorAges(cap_days=1.0, log_tp_mean=0.0, log_tp_sd=1.0, log_decay_mean=0.0, log_decay_sd=1.0, coverage=1.0)
    assert survivors.coverage == 0.8 and survivors.z == pytest.approx(1.2815515655446004)


def test_only_ordinary_uploads_past_the_cap_are_read_at_it(survivors):
    ages = np.array([1.0, 3.0, 5.0, 30.0, 30.0])
    on_chart = np.array([False, False, False, False, True])
    np.testing.assert_array_equal(survivors.read_ages(ages, on_chart), [1.0, 3.0, 3.0, 3.0, 30.0])


def test_growth_is_none_at_the_cap_and_rises_with_age(survivors):
    mean, sd = survivors.log_growth(np.array([1.0, 3.0, 4.0, 10.0, 100.0]))
    assert mean[0] == mean[1] == 0.0 and sd[1] == 0.0
    assert np.all(np.diff(mean[1:]) > 0) and np.all(sd[2:] > 0)
    table = pd.DataFrame({"predicted_views": [100.0, 100.0], "views_lo": [50.0, 50.0], "views_hi": [200.0, 200.0],
                          "stage": ["decay", "decay"]})
    grown = survivors.grow(table, np.array([3.0, 10.0]), np.array([3.0, 3.0]))
    pd.testing.assert_series_equal(grown.iloc[0], table.iloc[0])
    assert grown.loc[1, "predicted_views"] == pytest.approx(100.0 * np.exp(mean[3]))
    # the interval widens by the spread of the growth at the bundle's coverage, around the grown views
    assert grown.loc[1, "views_lo"] < 50.0 * np.exp(mean[3]) < 200.0 * np.exp(mean[3]) < grown.loc[1, "views_hi"]
    half = np.sqrt(np.log(2.0) ** 2 + (survivors.z * sd[3]) ** 2)
    assert grown.loc[1, "views_hi"] == pytest.approx(100.0 * np.exp(mean[3] + half))
    assert grown.loc[1, "stage"] == "decay"


def test_auto_is_relative_for_a_chart_and_absolute_for_uploads():
    assert resolve_views_target("auto", "trending_chart") == "channel_relative"
    assert resolve_views_target("auto", "channel_uploads") == "absolute"
    assert resolve_views_target("auto", "unknown") == "absolute"
    assert resolve_views_target("absolute", "trending_chart") == "absolute"
    with pytest.raises(ValueError, match="training.views_target"):
        resolve_views_target("relative", "trending_chart")


def test_a_chart_bundle_answers_ordinary_uploads_and_chart_videos_apart(full_bundle):
    bundle = Bundle.load(full_bundle)
    manifest = bundle.manifest
    assert manifest["population"]["name"] == "trending_chart" and manifest["views_target"] == "channel_relative"
    assert bundle.survivors is not None and bundle.survivors.cap_days == manifest["survivor_ages"]["cap_days"]
    cap = bundle.survivors.cap_days
    for model in ("ensemble", "deep_learning"):
        def views(days: float, on_chart: bool | None = None, result_of: str = "predicted_views",
                  model: str = model) -> float:
            out = predict.predict_performance(**VIDEO, days_since_publish=days, on_chart=on_chart,
                                              artifacts_dir=full_bundle, model_type=model)
            return out[result_of]

        young = cap / 2
        assert views(young) == views(young, on_chart=True)  # before the cap: one answer
        growth, _ = bundle.survivors.log_growth(np.array([30.0]))
        assert views(30.0) == pytest.approx(views(cap) * np.exp(growth[0]), rel=1e-9)
        assert views(30.0, on_chart=True) != views(30.0)
        if model == "deep_learning":  # the stage comes from the video's own age, not the cap's
            assert views(30.0, result_of="lifecycle_stage") == views(30.0, True, "lifecycle_stage")
    # every entry point reads the fact the same way
    rows = pd.DataFrame([{**VIDEO, "days_since_publish": 30.0, "on_chart": flag} for flag in (False, True)])
    batch = predict.predict_batch(rows, artifacts_dir=full_bundle)
    for i, flag in enumerate((False, True)):
        single = predict.predict_performance(**VIDEO, days_since_publish=30.0, on_chart=flag,
                                             artifacts_dir=full_bundle)
        assert batch.loc[i, "predicted_views"] == pytest.approx(single["predicted_views"], rel=1e-12)


def test_evaluation_reads_chart_rows_as_chart_rows_unless_told(synthetic_snapshots):
    from _tiny import tiny_config

    cut = synthetic_snapshots["published_at"].quantile(0.7)
    train = synthetic_snapshots[synthetic_snapshots["published_at"] < cut]
    test = synthetic_snapshots[synthetic_snapshots["published_at"] >= cut]
    trained = train_models(train, resolve("fast", ("ensemble",), config=tiny_config(), progress=False),
                           observed_forecaster=False)
    assert trained.survivors is not None
    last, targets = holdout.test_rows(test)
    chart = holdout.predict_videos(trained, last, targets)["ensemble"]["predicted_views"].to_numpy()
    ordinary = holdout.predict_videos(trained, last, targets, on_chart=False)["ensemble"]["predicted_views"].to_numpy()
    past = targets["age_days"].to_numpy() > trained.survivors.cap_days
    assert past.any() and (~past).any()
    np.testing.assert_array_equal(chart[~past], ordinary[~past])
    assert not np.allclose(chart[past], ordinary[past])


def test_an_uploads_bundle_has_no_survivors_and_the_absolute_target(tmp_path):
    from _tiny import tiny_config

    population = generate_population(20, seed=3, end=REAL_EXPORT_END)
    write_upload_snapshots(population, tmp_path / "uploads")
    trained = train_models(load_data(tmp_path / "uploads"),
                           resolve("fast", ("ensemble",), config=tiny_config(), progress=False),
                           observed_forecaster=False)
    assert trained.population["name"] == "channel_uploads"
    assert trained.survivors is None and trained.settings.config.training.views_target == "absolute"


def test_the_channels_median_sets_a_relative_bundles_level_through_every_entry_point(full_bundle, capsys):
    import videoperf.cli as cli

    rows = pd.DataFrame([{**VIDEO, "days_since_publish": 2.0, "channel_median_views": median}
                         for median in (None, 2000.0, 200000.0)])
    batch = predict.predict_batch(rows, artifacts_dir=full_bundle)["predicted_views"].to_numpy()
    single = [predict.predict_performance(**VIDEO, days_since_publish=2.0, channel_median_views=median,
                                          artifacts_dir=full_bundle)["predicted_views"] for median in (None, 2000.0,
                                                                                                    200000.0)]
    np.testing.assert_allclose(batch, single, rtol=1e-12)
    assert single[1] < single[0] < single[2]  # the level follows the median, not the average of 20,000
    assert cli.main(["predict", "--title", VIDEO["title"], "--tags", "sailing,knots", "--categories", "Howto & Style",
                     "--duration", "540", "--channel-avg-views", "20000", "--channel-video-count", "40",
                     "--channel-median-views", "2000", "--published-at", VIDEO["published_at"], "--days", "2",
                     "--artifacts", str(full_bundle)]) == 0
    assert json.loads(capsys.readouterr().out)["predicted_views"] == pytest.approx(single[1], rel=1e-12)
    new = {**VIDEO, "channel_video_count": 0, "channel_avg_views": None}
    with pytest.raises(ValueError, match=r"^channel_median_views: a new channel"):
        predict.predict_performance(**new, channel_median_views=10.0, artifacts_dir=full_bundle)
    with pytest.raises(ValueError, match=r"rows\[1\]\.channel_median_views: must be >= 0"):
        predict.predict_batch(rows.assign(channel_median_views=[None, -1.0, 5.0]), artifacts_dir=full_bundle)
