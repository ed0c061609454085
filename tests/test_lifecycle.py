"""Lifecycle targets: each rule pinned on hand-made series, then measured against the simulator's truth."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic
from videoperf.lifecycle.targets import OUTPUT_COLUMNS, build_targets, score_against_truth

REAL_PARQUET = (Path(__file__).resolve().parents[2] / "shared" / "data" / "youtube_trending_api"
                / "trending_2025-12-10_2026-05-31.parquet")
T0 = pd.Timestamp("2026-03-01 10:00", tz="UTC")


def canonical_from_raw(raw: pd.DataFrame) -> pd.DataFrame:
    """The canonical snapshot table the loader produces: per video and UTC day, the latest fetch."""
    df = raw.loc[:, ["video_id", "fetched_at", "published_at", "views", "likes"]].copy()
    df["fetched_at"] = pd.to_datetime(df["fetched_at"], utc=True, format="ISO8601")
    df["published_at"] = pd.to_datetime(df["published_at"], utc=True, format="ISO8601")
    for col in ("views", "likes"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["day"] = df["fetched_at"].dt.floor("D")
    df = df.sort_values("fetched_at", kind="stable").groupby(["video_id", "day"], sort=False).tail(1)
    return df.drop(columns="day").rename(columns={"fetched_at": "observed_at"}).reset_index(drop=True)


def series(ages: list[float], views: list[float], likes: list[float] | None = None, video: str = "v") -> pd.DataFrame:
    """A hand-made snapshot series of one video published at T0."""
    return pd.DataFrame({
        "video_id": video,
        "observed_at": [T0 + pd.Timedelta(days=a) for a in ages],
        "published_at": T0,
        "views": np.asarray(views, dtype=float),
        "likes": np.asarray(likes if likes is not None else [v / 20 for v in views], dtype=float),
    })


def from_rates(rates: list[float], step: float = 1.0, first_age: float = 1.0) -> pd.DataFrame:
    """A series whose interval rates are exactly ``rates`` (intervals of ``step`` days after the first)."""
    ages = first_age + step * np.arange(len(rates))
    spans = np.diff(ages, prepend=0.0)
    return series(list(ages), list(np.cumsum(np.asarray(rates) * spans)))


def test_output_columns_and_first_rate() -> None:
    out = build_targets(series([0.5, 1.5], [1000, 1500]))
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    np.testing.assert_allclose(out["age_days"], [0.5, 1.5])
    np.testing.assert_allclose(out["daily_rate"], [2000, 500])  # first point: views / age
    np.testing.assert_allclose(out["log_views"], np.log1p([1000, 1500]))
    assert out["n_observations"].tolist() == [2, 2]


def test_single_observation_has_no_stage_or_shape_targets() -> None:
    out = build_targets(series([0.8], [5000], likes=[250]))
    assert out["lifecycle_stage"].isna().all()
    assert out["time_to_peak_days"].isna().all() and out["decay_rate"].isna().all()
    assert out["like_ratio"].iloc[0] == pytest.approx(0.05)
    assert out["daily_rate"].iloc[0] == pytest.approx(5000 / 0.8)


def test_rising_rates_are_all_growth_without_peak_or_decay() -> None:
    out = build_targets(from_rates([100, 200, 400, 800]))
    assert out["lifecycle_stage"].tolist() == ["growth"] * 4
    assert out["time_to_peak_days"].isna().all() and out["decay_rate"].isna().all()


def test_exact_exponential_decay_is_recovered() -> None:
    lam, rate0 = 0.37, 1e5
    ages = np.arange(1.0, 8.0)
    views = rate0 / lam * (1 - np.exp(-lam * ages))  # r(t) = rate0 * exp(-lam t) from publish
    out = build_targets(series(list(ages), list(views)))
    assert out["lifecycle_stage"].tolist() == ["peak"] + ["decay"] * 6
    assert out["decay_rate"].iloc[0] == pytest.approx(lam, abs=1e-6)
    assert out["time_to_peak_days"].iloc[0] == pytest.approx(0.5)  # midpoint of (0, 1]


def test_rise_peak_decay() -> None:
    out = build_targets(from_rates([1000, 3000, 2000, 1000]))
    assert out["lifecycle_stage"].tolist() == ["growth", "peak", "decay", "decay"]
    assert out["time_to_peak_days"].iloc[0] == pytest.approx(1.5)
    assert out["decay_rate"].iloc[0] == pytest.approx(np.log(2))


def test_argmax_on_the_later_decay_line_moves_the_peak_one_interval_earlier() -> None:
    # 4000 lies on the line through 2000 and 1000 (halving per day): that interval is pure decay,
    # so the peak was in the interval before it.
    out = build_targets(from_rates([1000, 4000, 2000, 1000]))
    assert out["lifecycle_stage"].tolist() == ["peak", "decay", "decay", "decay"]
    assert out["time_to_peak_days"].iloc[0] == pytest.approx(0.5)
    assert out["decay_rate"].iloc[0] == pytest.approx(np.log(2))


def test_tolerance_keeps_noise_from_confirming_a_peak() -> None:
    assert build_targets(from_rates([100, 200, 196]))["lifecycle_stage"].tolist() == ["growth"] * 3
    out = build_targets(from_rates([100, 200, 150]))
    assert out["lifecycle_stage"].tolist() == ["growth", "peak", "decay"]
    assert out["decay_rate"].isna().all()  # one interval after the peak is not enough to fit


def test_long_peak_interval_leaves_time_to_peak_missing() -> None:
    # Entered the chart at 3 days, already decaying: the peak is somewhere in (0, 3].
    out = build_targets(from_rates([9000, 4000, 3000, 2200], first_age=3.0))
    assert out["lifecycle_stage"].tolist() == ["peak", "decay", "decay", "decay"]
    assert out["time_to_peak_days"].isna().all()
    assert out["decay_rate"].notna().all()


def test_negative_increments_are_clipped() -> None:
    out = build_targets(series([1, 2, 3, 4], [100, 200, 150, 300]))
    np.testing.assert_allclose(out["daily_rate"], [100, 100, 0, 150])


def test_like_ratio_at_last_observation() -> None:
    assert build_targets(series([1, 2], [100, 200], [10, 30]))["like_ratio"].tolist() == [0.15, 0.15]
    assert build_targets(series([1, 2], [100, 0], [10, 0]))["like_ratio"].isna().all()
    assert build_targets(series([1, 2], [100, 200], [10, np.nan]))["like_ratio"].isna().all()
    assert build_targets(series([1], [100], [300]))["like_ratio"].iloc[0] == 1.0


def test_videos_are_independent_and_row_order_does_not_matter() -> None:
    a = from_rates([1000, 3000, 2000, 1000]).assign(video_id="a")
    b = from_rates([100, 200, 400]).assign(video_id="b")
    c = series([0.7], [50], video="c")
    both = pd.concat([a, b, c], ignore_index=True)
    expected = build_targets(both)
    shuffled = both.sample(frac=1.0, random_state=1)
    pd.testing.assert_frame_equal(build_targets(shuffled), expected)
    assert expected.groupby("video_id")["n_observations"].first().to_dict() == {"a": 4, "b": 3, "c": 1}
    pd.testing.assert_frame_equal(  # dtype: concat may change the datetime resolution, not the values
        expected[expected["video_id"] == "a"].reset_index(drop=True), build_targets(a), check_dtype=False)


def test_bad_input_is_refused() -> None:
    good = series([1, 2], [100, 200])
    with pytest.raises(ValueError, match="missing columns"):
        build_targets(good.drop(columns="likes"))
    with pytest.raises(ValueError, match="tz-aware"):
        build_targets(good.assign(observed_at=good["observed_at"].dt.tz_localize(None)))
    with pytest.raises(ValueError, match="duplicate"):
        build_targets(pd.concat([good, good]))
    empty = build_targets(good.iloc[:0])
    assert list(empty.columns) == list(OUTPUT_COLUMNS) and empty.empty


def test_fast_on_real_scale() -> None:
    rng = np.random.default_rng(0)
    n_videos = 150_000
    n_obs = np.clip(rng.geometric(0.4, n_videos), 1, 30)
    vid = np.repeat(np.arange(n_videos), n_obs)
    start = np.cumsum(n_obs) - n_obs
    day = np.arange(len(vid)) - np.repeat(start, n_obs)
    published = T0 + pd.to_timedelta(rng.uniform(0, 150, n_videos), unit="D")
    age = rng.uniform(0.1, 2.0, n_videos)[vid] + day
    views = np.floor(np.cumsum(rng.lognormal(10, 1, len(vid))))
    snaps = pd.DataFrame({"video_id": pd.Series(vid).map("v{:06d}".format),
                          "observed_at": published[vid] + pd.to_timedelta(age, unit="D"),
                          "published_at": published[vid], "views": views, "likes": views / 30})
    started = time.perf_counter()
    out = build_targets(snaps)
    elapsed = time.perf_counter() - started
    print(f"\nbuild_targets on {len(snaps):,} rows / {n_videos:,} videos: {elapsed:.2f} s")
    assert len(out) == len(snaps) and elapsed < 10


def test_against_simulator_truth() -> None:
    raw, truth = generate_synthetic(2000, seed=11, end=REAL_EXPORT_END)
    targets = build_targets(canonical_from_raw(raw))
    scores = score_against_truth(targets, truth.snapshots, truth.videos)
    print("\nlifecycle targets vs simulator truth (2,000 videos):")
    for name, value in scores.items():
        print(f"  {name}: {value:.3f}")
    assert scores["stage_accuracy_min_days"] >= 0.90
    assert scores["time_to_peak_within_1_day"] >= 0.80
    assert scores["decay_rate_median_rel_error"] <= 0.20
    # Enough videos get each target for the measurement to mean something.
    assert scores["n_obs_min_days"] > 3000
    assert scores["n_videos_with_time_to_peak"] > 300 and scores["n_videos_with_decay_rate"] > 200


def test_same_targets_through_the_project_loader() -> None:
    data = pytest.importorskip("videoperf.data.sources")
    if not hasattr(data, "load_data"):
        pytest.skip("videoperf.data.sources.load_data not available yet")
    raw, _ = generate_synthetic(300, seed=5, end=REAL_EXPORT_END)
    ours = build_targets(canonical_from_raw(raw))
    theirs = build_targets(data.load_data(raw))
    cols = ["video_id", "observed_at", "views", "lifecycle_stage", "time_to_peak_days", "decay_rate"]
    pd.testing.assert_frame_equal(theirs[cols], ours[cols], check_dtype=False)


@pytest.mark.real_data
@pytest.mark.skipif(not REAL_PARQUET.is_file(), reason=f"real data not found at {REAL_PARQUET}")
def test_real_export_target_counts() -> None:
    raw = pd.read_parquet(REAL_PARQUET, columns=["video_id", "fetched_at", "published_at", "views", "likes"])
    snaps = canonical_from_raw(raw)
    started = time.perf_counter()
    targets = build_targets(snaps)
    elapsed = time.perf_counter() - started
    videos = targets.groupby("video_id").head(1)
    counts = {col: int(videos[col].notna().sum())
              for col in ("lifecycle_stage", "time_to_peak_days", "decay_rate", "like_ratio")}
    print(f"\nreal export: {len(snaps):,} observations of {len(videos):,} videos; build_targets {elapsed:.2f} s;"
          f" videos with target: {counts}")
    assert len(videos) > 100_000 and elapsed < 15
    assert counts["lifecycle_stage"] > 0.4 * len(videos) and counts["decay_rate"] > 0.2 * len(videos)
