"""Population mode of the simulator: every upload, the chart that samples it, and the channel-uploads files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from _tiny import tiny_config

import model_update
from videoperf.data.population import (
    UPLOAD_COLUMNS,
    Population,
    generate_population,
    monthly_snapshots,
    write_upload_snapshots,
)
from videoperf.data.sources import load_data
from videoperf.data.synthetic import REAL_EXPORT_END, window_start
from videoperf.data.synthetic_fields import RAW_COLUMNS
from videoperf.training import settings


@pytest.fixture(scope="module")
def population() -> Population:
    # A small chart (3 a day per region), so that these few channels still see a strong selection.
    return generate_population(60, seed=3, chart_size=3, end=REAL_EXPORT_END)


def test_same_seed_same_population() -> None:
    a, b = (generate_population(12, seed=5, end=REAL_EXPORT_END) for _ in range(2))
    for name in ("videos", "chart", "uploads"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    other = generate_population(12, seed=6, end=REAL_EXPORT_END)
    assert not other.videos["video_id"].isin(a.videos["video_id"]).any()


def test_the_calendar_and_its_monthly_snapshots_end_today_by_default() -> None:
    before = pd.Timestamp.now(tz="UTC").normalize()
    population = generate_population(20, seed=1, uploads_per_week=5.0)
    after = pd.Timestamp.now(tz="UTC").normalize()  # a run across midnight UTC may have used either day
    published = pd.to_datetime(population.videos["published_at"], utc=True)
    assert published.min() >= before - pd.Timedelta(days=181) and published.max() < after + pd.Timedelta(days=1)
    taken = sorted(population.uploads["snapshot_utc"].unique())
    assert taken in [[t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in monthly_snapshots(window_start(day))]
                     for day in (before, after)]


def test_chart_is_a_strict_subset_of_the_population(population: Population) -> None:
    videos = population.videos.set_index("video_id")
    charted = set(population.chart["video_id"])
    assert list(population.chart.columns) == list(RAW_COLUMNS)
    assert charted < set(videos.index) and charted == set(videos.index[videos["charted"]])
    assert 0.05 < videos["charted"].mean() < 0.8
    # The chart rows describe the same videos as the population: same channel and publish time.
    rows = population.chart.drop_duplicates("video_id").set_index("video_id")
    assert (rows["channel_id"] == videos.loc[rows.index, "channel_id"]).all()
    published = pd.to_datetime(rows["published_at"], utc=True)
    assert (published == videos.loc[rows.index, "published_at"].dt.floor("s")).all()
    # Every upload of every channel is in the last snapshot (all were published before it).
    last = population.uploads[population.uploads["snapshot_utc"] == population.uploads["snapshot_utc"].max()]
    assert set(last["video_id"]) == set(videos.index) and list(population.uploads.columns) == list(UPLOAD_COLUMNS)


def test_charted_videos_are_the_popular_ones(population: Population) -> None:
    videos = population.videos
    median_all = videos["final_views"].median()
    assert videos.loc[videos["charted"], "final_views"].median() > 5 * median_all
    assert videos.loc[~videos["charted"], "final_views"].median() < median_all
    # Each regional chart admits at most chart_size videos a day, and mostly from its own language.
    per_day = population.chart.groupby(["country", population.chart["fetched_at"].str[:10]]).size()
    assert per_day.max() <= 3
    language = population.chart["video_id"].map(videos.set_index("video_id")["language"])
    assert (language[population.chart["country"] == "JP"] == "ja").mean() > 0.5
    assert (language[population.chart["country"] == "BR"] == "pt").mean() > 0.5


def test_views_never_decrease_across_chart_and_snapshots(population: Population, tmp_path) -> None:
    folder = tmp_path / "both"
    write_upload_snapshots(population, folder)
    population.chart.to_csv(folder / "chart.csv", index=False)
    frame = load_data(folder)
    assert frame.attrs["load_report"]["dropped"] == {}
    assert frame.attrs["load_report"]["format"] == "api+videos"
    assert (frame.groupby("video_id")["views"].diff().dropna() >= 0).all()
    assert frame.groupby("video_id").size().max() > 6  # charted videos: daily points plus monthly ones


@pytest.mark.parametrize("file_format", ["csv", "parquet"])
def test_upload_snapshots_load_as_one_series_per_video(population: Population, tmp_path, file_format) -> None:
    paths = write_upload_snapshots(population, tmp_path / "uploads", file_format)
    assert [p.name for p in paths] == [f"uploads_2026-0{m}-01.{file_format}" for m in range(1, 7)]
    frame = load_data(tmp_path / "uploads")
    assert frame.attrs["load_report"]["format"] == "videos"
    assert frame["video_id"].nunique() == len(population.videos)
    # A video is seen at every monthly snapshot after its upload.
    published = population.videos.set_index("video_id")["published_at"]
    snapshots = pd.to_datetime(sorted(population.uploads["snapshot_utc"].unique()), utc=True)
    expected = published.map(lambda t: int((snapshots > t).sum()))
    assert (frame.groupby("video_id").size() == expected.reindex(frame["video_id"].unique())).all()
    assert frame["tags"].map(len).gt(0).mean() > 0.5 and frame["categories"].map(len).eq(1).all()


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"n_channels": 0}, "n_channels"), ({"n_channels": 5, "chart_size": 0}, "chart_size"),
    ({"n_channels": 5, "regions": ["XX"]}, "regions"), ({"n_channels": 5, "uploads_per_week": -1}, "uploads_per_week"),
    ({"n_channels": 5, "snapshot_times": ["2026-03-01", "2026-02-01"]}, "snapshot_times"),
])
def test_bad_arguments_are_named(kwargs, name) -> None:
    with pytest.raises(ValueError, match=name):
        generate_population(**kwargs)
    with pytest.raises(ValueError, match="file_format"):
        write_upload_snapshots(generate_population(2), "unused", "xlsx")


@pytest.mark.slow
def test_evaluate_on_a_channel_uploads_folder(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(settings, "load_config", lambda *a, **k: tiny_config(max_train_rows=2000))
    folder = tmp_path / "uploads"
    write_upload_snapshots(generate_population(25, seed=4, end=REAL_EXPORT_END), folder)
    predictions = tmp_path / "pred.csv"
    code = model_update.main(["evaluate", "--data", str(folder), "--split-date", "2026-04-01", "--speed", "fast",
                              "--models", "ensemble", "--quiet", "--predictions", str(predictions)])
    out = capsys.readouterr().out
    assert code == 0 and "views_log_r2" in out and "channel_mean" in out
    frame = pd.read_csv(predictions).set_index("video_id")
    # Test videos: every upload published on or after the split date, each once.
    assert frame.index.is_unique and len(frame) > 50 and np.isfinite(frame["predicted_views"]).all()
    # Seen once (uploaded in May): views are scored, the lifecycle stage stays missing; seen twice: it is known.
    seen = load_data(folder).groupby("video_id").size().reindex(frame.index)
    assert frame.loc[seen == 1, "actual_lifecycle_stage"].isna().all() and (seen == 1).sum() > 20
    assert frame.loc[seen > 1, "actual_lifecycle_stage"].notna().mean() > 0.9



@pytest.fixture(scope="module")
def uploads_evaluation(tmp_path_factory):
    """``evaluate --data FOLDER --split-date D`` of both models on a small simulated uploads folder (issue 12,
    point 3; the measured figure at the real ``fast`` preset: benchmarks/channel_uploads.py)."""
    config = tiny_config(max_train_rows=3000, tiny_deep=True)
    presets = {speed: dataclasses.replace(preset, deep=dataclasses.replace(preset.deep, epochs=10, hidden_dim=64))
               for speed, preset in config.presets.items()}
    # channel_relative: the setting docs/your_channel.md gives for channel-uploads data (absolute loses to the
    # channel mean).
    training = dataclasses.replace(config.training, views_target="channel_relative")
    folder = tmp_path_factory.mktemp("point3") / "uploads"
    write_upload_snapshots(generate_population(60, seed=5, end=REAL_EXPORT_END), folder)
    result = model_update.evaluate(data=str(folder), split_date="2026-04-15", models="ensemble,deep_learning",
                                   progress=False, config=dataclasses.replace(config, presets=presets,
                                                                              training=training))
    biases = {name: float(np.mean(np.log1p(frame["predicted_views"]) - np.log1p(frame["actual_views"])))
              for name, frame in result["predictions"].items()}
    return result["metrics"].loc["views_spearman"], biases


@pytest.mark.slow
def test_both_models_are_unbiased_on_a_channel_uploads_folder(uploads_evaluation):
    _, biases = uploads_evaluation
    assert set(biases) == {"ensemble", "deep_learning"}
    assert all(abs(bias) <= 0.3 for bias in biases.values()), biases


@pytest.mark.slow
def test_the_ensemble_beats_the_channel_mean_on_a_channel_uploads_folder(uploads_evaluation):
    # Before the level prior (channel_history.level_prior) the stack had near-zero weights here and lost (0.900).
    spearman, _ = uploads_evaluation
    assert spearman["ensemble"] > spearman["channel_mean"], spearman


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 12 point 3 not met for the deep model: on this folder it ranks the "
                   "uploads slightly worse than the channel mean (it learns per-channel deviations from the titles "
                   "and tags that do not hold later); benchmarks/channel_uploads.py measures it at the fast preset")
def test_the_deep_model_beats_the_channel_mean_on_a_channel_uploads_folder(uploads_evaluation):
    spearman, _ = uploads_evaluation
    assert spearman["deep_learning"] > spearman["channel_mean"], spearman
