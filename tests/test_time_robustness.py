"""Behaviour over time: no feature encodes absolute time, live channel history, the rolling-origin backtest."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from _tiny import tiny_config

from videoperf.data.splits import split_by_date
from videoperf.evaluation import backtest
from videoperf.evaluation import holdout as evaluation
from videoperf.evaluation.holdout import baseline_tables, live_history, predict_videos
from videoperf.features.builder import video_table
from videoperf.features.content import ContentEncoder
from videoperf.models.registry import FAMILIES
from videoperf.training.pipeline import train_models
from videoperf.training.settings import resolve

SPLIT = "2026-04-15"
SHIFT = pd.Timedelta(weeks=26)  # whole weeks: the hour of day and the weekday stay the same


def _shifted(snapshots: pd.DataFrame, by: pd.Timedelta) -> pd.DataFrame:
    out = snapshots.copy()
    for column in ("published_at", "observed_at"):
        out[column] = out[column] + by
    return out


def _predictions(snapshots: pd.DataFrame, split: pd.Timestamp) -> dict[str, pd.DataFrame]:
    train, test = split_by_date(snapshots, split)
    trained = train_models(train, resolve("fast", ("ensemble", "deep_learning"), config=tiny_config(tiny_deep=True),
                                          progress=False))
    last, targets = evaluation.test_rows(test)
    history = live_history(trained, snapshots)
    out = predict_videos(trained, last, targets, history=history)
    request = last.assign(age_days=targets["age_days"].to_numpy(), channel_video_count=25, channel_avg_views=5e4)
    for name, model in trained.models.items():
        X = trained.features.transform_videos(request)
        out[f"{name}_request"] = FAMILIES[name].predict(model, X, request)
    return out


@pytest.mark.slow
def test_shifting_every_date_by_26_weeks_changes_no_prediction(synthetic_snapshots):
    span = synthetic_snapshots["published_at"].max() - synthetic_snapshots["published_at"].min()
    assert span < pd.Timedelta(days=365)  # the claim holds for training data shorter than a year
    cut = pd.Timestamp(SPLIT, tz="UTC")
    before = _predictions(synthetic_snapshots, cut)
    after = _predictions(_shifted(synthetic_snapshots, SHIFT), cut + SHIFT)
    assert before.keys() == after.keys()
    for name, frame in before.items():
        numeric = [c for c in frame if c.startswith(("predicted_", "views_", "probability_"))
                   and pd.api.types.is_numeric_dtype(frame[c])]
        assert numeric, name
        for column in numeric:
            a, b = frame[column].to_numpy(float), after[name][column].to_numpy(float)
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-9, err_msg=f"{name}.{column}")
        if "predicted_lifecycle_stage" in frame:
            assert (frame["predicted_lifecycle_stage"] == after[name]["predicted_lifecycle_stage"]).all()


def test_month_of_year_is_a_feature_only_from_a_year_of_training_data(synthetic_snapshots):
    videos, _ = video_table(synthetic_snapshots)
    config = tiny_config().preset("fast").features
    short = ContentEncoder(config).fit(videos)
    assert not short.use_month_ and not [n for n in short.names_ if n.startswith("month_")]
    year = videos.copy()
    year.loc[year.index[:20], "published_at"] -= pd.Timedelta(days=365)
    long = ContentEncoder(config).fit(year)
    assert long.use_month_ and {"month_sin", "month_cos"} <= set(long.names_)
    forced = ContentEncoder(dataclasses.replace(config, month_min_span_days=0)).fit(videos)
    assert forced.use_month_


@pytest.fixture(scope="module")
def trained_split(synthetic_snapshots):
    train, test = split_by_date(synthetic_snapshots, SPLIT)
    trained = train_models(train, resolve("fast", ("ensemble",), config=tiny_config(), progress=False))
    last, targets = evaluation.test_rows(test)
    return trained, train, last, targets


def test_live_history_counts_channel_videos_seen_after_the_cut_but_before_publishing(trained_split,
                                                                                   synthetic_snapshots):
    trained, _, last, _ = trained_split
    builder = trained.features
    frozen = builder.transform(last, trained.history)
    live = builder.transform(last, history=live_history(trained, synthetic_snapshots))
    assert (live["channel_log_count"] >= frozen["channel_log_count"] - 1e-6).all()
    assert (live["channel_log_count"] > frozen["channel_log_count"] + 1e-6).any()
    # Nothing observed at or after a video's own publish time reaches its features: inflating every
    # observation made from the latest test video's publish time on changes none of that video's columns.
    latest = last["published_at"].idxmax()
    later = synthetic_snapshots.assign(views=np.where(
        synthetic_snapshots["observed_at"] >= last.loc[latest, "published_at"], 1e9, synthetic_snapshots["views"]))
    inflated = builder.transform(last, history=live_history(trained, later))
    pd.testing.assert_series_equal(inflated.iloc[latest], live.iloc[latest])


def test_live_channel_mean_baseline_answers_as_of_publish(trained_split, synthetic_snapshots):
    trained, train, last, targets = trained_split
    frozen = baseline_tables(train, last, targets)["channel_mean"]["predicted_views"]
    live = baseline_tables(train, last, targets, history=live_history(trained, synthetic_snapshots))
    live = live["channel_mean"]["predicted_views"]
    assert len(live) == len(frozen) and np.isfinite(live).all()
    assert not np.allclose(live, frozen)  # channels' videos published after the cut now count


def test_predictions_report_model_age_from_the_training_cut(trained_split):
    trained, _, last, targets = trained_split
    table = predict_videos(trained, last, targets)["ensemble"]
    cut = pd.Timestamp(trained.features.training_window_["observed_to"])
    expected = (last["published_at"] - cut).dt.total_seconds().to_numpy() / 86400
    np.testing.assert_allclose(table["model_age_days"], expected)
    assert (table["model_age_days"] > -1).all()


def test_month_windows_follow_calendar_months_and_stop_at_the_data():
    windows = backtest.month_windows("2026-03-01", pd.Timestamp("2026-05-20", tz="UTC"), 3)
    assert [(k, s.strftime("%m-%d"), e.strftime("%m-%d")) for k, s, e in windows] == [
        (1, "03-01", "04-01"), (2, "04-01", "05-01"), (3, "05-01", "06-01")]
    assert len(backtest.month_windows("2026-04-01", pd.Timestamp("2026-05-20", tz="UTC"), 3)) == 2
    with pytest.raises(ValueError, match="origin"):
        backtest.month_windows("not a date", pd.Timestamp("2026-05-20", tz="UTC"))


def test_backtest_scores_every_origin_month_and_history(synthetic_snapshots):
    report = backtest.run_backtest(synthetic_snapshots, ("2026-03-01", "2026-04-01"), "fast", ("ensemble",),
                                   config=tiny_config(), ablation=True, progress=False)
    cells = backtest.cells_frame(report)
    assert set(cells["history"]) == {"live", "live_channels", "train"}
    assert set(cells["model"]) == {"ensemble", "global_mean", "channel_mean"}
    per_origin = cells.groupby("origin")["months_ahead"].max().to_dict()
    assert per_origin == {"2026-03-01": 3, "2026-04-01": 2}  # the simulated videos end in May
    published = synthetic_snapshots.groupby("video_id")["published_at"].min()
    march = ((published >= pd.Timestamp("2026-03-01", tz="UTC")) & (published < pd.Timestamp("2026-04-01", tz="UTC")))
    first = cells[(cells["origin"] == "2026-03-01") & (cells["months_ahead"] == 1) & (cells["model"] == "ensemble")]
    assert (first["videos"] == int(march.sum())).all()
    ensemble = cells[cells["model"] == "ensemble"]
    assert ensemble["coverage"].between(0, 1).all() and (ensemble["median_width"] > 0).all()
    assert {"history", "model", "months_ahead", "log_r2", "bias", "origins"} <= set(report["summary"][0])
    assert "all" in report["origins"][0]["ablation"]["results"]
    checks = backtest.checks(report, ("ensemble",))
    assert set(checks) >= {"ensemble_abs_bias_at_most_0.10", "ensemble_beats_channel_mean_log_r2"}


def test_bias_is_positive_when_too_many_views_are_predicted():
    frame = pd.DataFrame({"actual_views": [100.0, 1000.0], "predicted_views": [np.expm1(np.log1p(100.0) + 0.5),
                                                                               np.expm1(np.log1p(1000.0) + 0.5)]})
    assert backtest.cell_scores(frame)["bias"] == pytest.approx(0.5)


def test_recency_weights_halve_every_half_life_and_can_be_switched_off():
    from videoperf.data.sampling import recency_weights

    cut = pd.Timestamp("2026-04-01", tz="UTC")
    published = pd.Series(pd.to_datetime(["2026-04-01", "2026-03-02", "2026-01-31", "2026-04-02"], utc=True))
    np.testing.assert_allclose(recency_weights(published, cut, 30.0), [1.0, 0.5, 0.25, 1.0])
    assert recency_weights(published, cut, 0.0) is None


def test_recency_weighting_reaches_the_ensemble_and_the_deep_sampling(synthetic_snapshots):
    from videoperf.models.deep.training_data import sample_rows

    def off(config):
        return dataclasses.replace(config, training=dataclasses.replace(config.training, recency_half_life_days=0.0))

    train, test = split_by_date(synthetic_snapshots, SPLIT)
    last, targets = evaluation.test_rows(test)
    short = dataclasses.replace(tiny_config(), training=dataclasses.replace(tiny_config().training,
                                                                            recency_half_life_days=5.0))
    weighted = train_models(train, resolve("fast", ("ensemble",), config=short, progress=False))
    plain = train_models(train, resolve("fast", ("ensemble",), config=off(tiny_config()), progress=False))
    a = predict_videos(weighted, last, targets)["ensemble"]["predicted_views"]
    b = predict_videos(plain, last, targets)["ensemble"]["predicted_views"]
    assert not np.allclose(a, b)
    ids = np.arange(10_000)
    recent = np.r_[np.ones(5_000), np.full(5_000, 1e-3)]
    chosen = sample_rows(ids, 1_000, seed=0, weights=recent)
    assert (chosen < 5_000).mean() > 0.95
