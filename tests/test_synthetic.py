"""The simulator: contract of the raw export it writes, determinism, and realistic structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from videoperf.data.synthetic import REAL_EXPORT_END, SyntheticTruth, generate_synthetic
from videoperf.data.synthetic_fields import RAW_COLUMNS

# The real category ids/names (../shared/data/youtube_trending_api/categories.json) the simulator uses.
REAL_CATEGORIES = {
    "1": "Film & Animation", "10": "Music", "17": "Sports", "20": "Gaming", "22": "People & Blogs",
    "23": "Comedy", "24": "Entertainment", "25": "News & Politics", "26": "Howto & Style", "27": "Education",
    "28": "Science & Technology",
}


@pytest.fixture(scope="module")
def sim() -> tuple[pd.DataFrame, SyntheticTruth]:
    return generate_synthetic(2000, seed=7, end=REAL_EXPORT_END)


def _last_fetch_per_day(raw: pd.DataFrame) -> pd.DataFrame:
    """Per (video, UTC day) the row with the latest fetch, with parsed times and counts."""
    df = raw.assign(fetched=pd.to_datetime(raw["fetched_at"], utc=True, format="ISO8601"),
                    published=pd.to_datetime(raw["published_at"], utc=True, format="ISO8601"),
                    v=pd.to_numeric(raw["views"]).astype(float))
    df["day"] = df["fetched"].dt.floor("D")
    return df.sort_values("fetched").groupby(["video_id", "day"]).tail(1).sort_values(["video_id", "fetched"])


def test_same_seed_gives_identical_output() -> None:
    raw_a, truth_a = generate_synthetic(150, seed=3, end=REAL_EXPORT_END)
    raw_b, truth_b = generate_synthetic(150, seed=3, end=REAL_EXPORT_END)
    pd.testing.assert_frame_equal(raw_a, raw_b)
    pd.testing.assert_frame_equal(truth_a.videos, truth_b.videos)
    pd.testing.assert_frame_equal(truth_a.snapshots, truth_b.snapshots)
    raw_c, _ = generate_synthetic(150, seed=4, end=REAL_EXPORT_END)
    assert not raw_a["video_id"].isin(raw_c["video_id"]).all()


def _utc_today() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").normalize()


def test_the_calendar_ends_today_unless_told_otherwise() -> None:
    before = _utc_today()
    raw, truth = generate_synthetic(120, seed=3)
    after = _utc_today()  # a run across midnight UTC may have used either day
    published = pd.to_datetime(raw["published_at"], utc=True, format="ISO8601")
    assert published.max() < after + pd.Timedelta(days=1)
    assert published.min() >= before - pd.Timedelta(days=181)
    # The export is taken now: no fetch in the future, and every video in the truth was fetched.
    fetched = pd.to_datetime(raw["fetched_at"], utc=True, format="ISO8601")
    assert fetched.max() <= pd.Timestamp.now(tz="UTC") and truth.snapshots["observed_at"].max() <= fetched.max()
    assert set(truth.videos["video_id"]) == set(raw["video_id"]) == set(truth.snapshots["video_id"])
    told, _ = generate_synthetic(120, seed=3, end=after.date())
    later = pd.to_datetime(told["fetched_at"], utc=True, format="ISO8601")
    assert later.max() > pd.Timestamp.now(tz="UTC")  # given an end, the chart runs past it


def test_the_end_date_moves_the_calendar_and_the_output_is_reproducible() -> None:
    raw_a, truth_a = generate_synthetic(150, seed=3, end="2024-02-29")
    raw_b, truth_b = generate_synthetic(150, seed=3, end=pd.Timestamp("2024-02-29T23:00:00-05:00").date())
    pd.testing.assert_frame_equal(raw_a, raw_b)
    pd.testing.assert_frame_equal(truth_a.snapshots, truth_b.snapshots)
    published = pd.to_datetime(raw_a["published_at"], utc=True, format="ISO8601")
    assert published.min() >= pd.Timestamp("2023-09-01", tz="UTC")  # 182 days: 2023-09-01 .. 2024-02-29
    assert published.max() < pd.Timestamp("2024-03-01", tz="UTC")
    other, _ = generate_synthetic(150, seed=3, end="2024-03-01")
    assert not other["published_at"].equals(raw_a["published_at"])


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", 20260531, 2026.5, "1900-01-01"])
def test_refuses_an_end_that_is_no_date(bad: object) -> None:
    with pytest.raises(ValueError, match="end"):
        generate_synthetic(10, seed=0, end=bad)  # type: ignore[arg-type]


def test_load_data_simulates_the_configured_calendar() -> None:
    from videoperf.data.sources import load_data

    raw, _ = generate_synthetic(80, seed=2, end=REAL_EXPORT_END)
    snapshots = load_data("synthetic", 80, 2, synthetic_end=REAL_EXPORT_END)
    assert snapshots["observed_at"].equals(load_data(raw)["observed_at"])
    assert snapshots["published_at"].max() < pd.Timestamp("2026-06-01", tz="UTC")


@pytest.mark.parametrize("bad", [0, -5, 2.5, "100", True, None, np.float64(10.0)])
def test_refuses_bad_n_videos(bad: object) -> None:
    with pytest.raises(ValueError, match="n_videos"):
        generate_synthetic(bad)  # type: ignore[arg-type]


def test_accepts_numpy_int_and_small_n() -> None:
    raw, truth = generate_synthetic(np.int64(1), seed=0, end=REAL_EXPORT_END)
    assert raw["video_id"].nunique() == 1 and len(truth.videos) == 1


def test_raw_columns_are_the_api_export_all_strings(sim: tuple[pd.DataFrame, SyntheticTruth]) -> None:
    raw, truth = sim
    assert list(raw.columns) == list(RAW_COLUMNS)
    for col in raw.columns:
        assert pd.api.types.is_string_dtype(raw[col]), col
        assert not raw[col].isna().any(), f"{col}: missing must be the empty string, not NaN"
    assert raw["video_id"].nunique() == len(truth.videos) == 2000


def test_raw_value_formats(sim: tuple[pd.DataFrame, SyntheticTruth]) -> None:
    raw, _ = sim
    assert raw["video_id"].str.fullmatch(r"[A-Za-z0-9_-]{11}").all()
    assert raw["channel_id"].str.fullmatch(r"UC[A-Za-z0-9_-]{22}").all()
    assert raw["fetched_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00").all()
    assert raw["published_at"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    for col in ("is_live", "caption_available", "licensed_content", "embeddable", "made_for_kids"):
        assert set(raw[col]) <= {"True", "False"}, col
    for col in ("views", "likes", "comments", "duration", "tag_count"):
        assert raw[col].str.fullmatch(r"\d+").all(), col
    parts = raw["duration_raw"].str.extract(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$").astype(float).fillna(0)
    seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
    assert (seconds == raw["duration"].astype(float)).all()
    assert dict(zip(raw["category_id"], raw["category_name"])).items() <= REAL_CATEGORIES.items()
    assert raw["category_name"].nunique() >= 10
    tagged = raw.loc[raw["tags"] != "", ["tags", "tag_count"]].drop_duplicates()
    assert (tagged["tags"].str.split(", ").str.len() == tagged["tag_count"].astype(int)).all()
    assert (raw.loc[raw["tags"] == "", "tag_count"] == "0").all()
    assert {"en", "es", "hi", "pt", "ko", "ja"} <= set(raw["audio_language"])
    published = pd.to_datetime(raw["published_at"], utc=True, format="ISO8601")
    assert published.min() >= pd.Timestamp("2025-12-01", tz="UTC")
    assert published.max() < pd.Timestamp("2026-06-01", tz="UTC")
    assert published.dt.month.nunique() == 6  # spread over six months so that time splits work


def test_daily_observation_scheme(sim: tuple[pd.DataFrame, SyntheticTruth]) -> None:
    raw, truth = sim
    fetched = pd.to_datetime(raw["fetched_at"], utc=True, format="ISO8601")
    day = fetched.dt.floor("D")
    per_day = raw.assign(fetched=fetched, day=day, v=raw["views"].astype(float)).groupby(["video_id", "day"])
    # One fetch per UTC day: country rows of a video-day lie within two minutes around ~03:28 UTC.
    spread = per_day["fetched"].agg(lambda s: (s.max() - s.min()).total_seconds())
    assert spread.max() < 120
    assert fetched.dt.hour.isin([2, 3, 4]).all()
    # Several countries per day for a good share; counts nearly identical, the latest fetch the largest.
    countries = per_day["country"].nunique()
    assert countries.max() <= 5 and (countries >= 2).mean() > 0.2
    assert (per_day["country"].size() == countries).all()  # a country appears once per video-day
    ratio = per_day["v"].max() / per_day["v"].min().clip(lower=1)
    assert ratio.quantile(0.99) < 1.01
    last = _last_fetch_per_day(raw)
    assert (last.set_index(["video_id", "day"])["v"] == per_day["v"].max()).all()
    # Several days per video, with a tail.
    n_days = last.groupby("video_id").size()
    assert n_days.median() in (2, 3) and (n_days >= 3).mean() > 0.25 and (n_days >= 7).mean() > 0.05
    assert n_days.max() >= 15
    assert (last.groupby("video_id")["v"].diff().dropna() >= 0).all()  # cumulative views never drop


def test_truth_matches_raw(sim: tuple[pd.DataFrame, SyntheticTruth]) -> None:
    raw, truth = sim
    last = _last_fetch_per_day(raw).reset_index(drop=True)
    snaps = truth.snapshots.sort_values(["video_id", "observed_at"]).reset_index(drop=True)
    assert len(snaps) == len(last)
    assert (snaps["observed_at"] == last["fetched"]).all()
    assert (snaps["views"] == last["v"]).all()
    age = (last["fetched"] - last["published"]).dt.total_seconds() / 86400
    np.testing.assert_allclose(snaps["age_days"], age, atol=1e-9)
    assert set(snaps["stage"]) == {"growth", "peak", "decay"}
    # The documented stage definition, recomputed from the peak day and the observation intervals.
    tp = snaps["video_id"].map(truth.videos.set_index("video_id")["peak_day"])
    prev = snaps.groupby("video_id")["age_days"].shift().fillna(0.0)
    expected = np.where(tp > snaps["age_days"], "growth", np.where(tp > prev, "peak", "decay"))
    assert (snaps["stage"] == expected).all()
    for col in ("video_id", "channel_id", "peak_day", "decay_rate", "growth_rate", "peak_rate", "like_ratio"):
        assert col in truth.videos.columns
    assert truth.videos["peak_day"].between(0.03, 10).all() and truth.videos["decay_rate"].between(0.05, 2).all()


def test_channel_popularity_dominates_log_views(sim: tuple[pd.DataFrame, SyntheticTruth]) -> None:
    raw, truth = sim
    last = _last_fetch_per_day(raw).groupby("video_id").tail(1)
    log_views = np.log1p(last.set_index("video_id")["v"])
    channel = last.set_index("video_id")["channel_id"]
    channel_mean = log_views.groupby(channel).transform("mean")
    counts = channel.map(channel.value_counts())
    multi = counts >= 3  # channels with a few videos, so that a channel mean is meaningful
    between = channel_mean[multi].var()
    within = (log_views - channel_mean)[multi].var()
    assert between > within
    assert truth.videos["channel_id"].nunique() == pytest.approx(2000 / 8, rel=0.2)


def test_categories_have_their_own_words_durations_and_like_ratios(sim: tuple[pd.DataFrame, SyntheticTruth]) -> None:
    raw, truth = sim
    videos = raw.drop_duplicates("video_id").set_index("video_id")
    text = (videos["title"] + " " + videos["tags"]).str.lower()
    gaming = text.str.contains(r"minecraft|roblox|fortnite|gameplay")
    assert gaming[videos["category_name"] == "Gaming"].mean() > 0.5
    assert gaming[videos["category_name"] == "Music"].mean() < 0.1
    music = text.str.contains(r"\b(?:song|lyric|remix|album)\b")
    assert music[videos["category_name"] == "Music"].mean() > 0.5
    assert music[videos["category_name"] == "Gaming"].mean() < 0.1
    duration = videos["duration"].astype(float).groupby(videos["category_name"]).median()
    assert duration["Gaming"] > 2 * duration["Music"]
    last = _last_fetch_per_day(raw).groupby("video_id").tail(1)
    ratio = (last["likes"].astype(float) / last["v"].clip(lower=1)).groupby(last["category_name"]).median()
    assert ratio["Comedy"] > 1.8 * ratio["Sports"]


def test_publish_hour_affects_popularity(sim: tuple[pd.DataFrame, SyntheticTruth]) -> None:
    _, truth = sim
    videos = truth.videos
    log_rate = np.log(videos["peak_rate"]) - videos["channel_log_scale"]  # remove the channel effect
    hour = videos["published_at"].dt.hour
    assert log_rate[hour.between(13, 17)].mean() - log_rate[hour.between(1, 5)].mean() > 0.2
