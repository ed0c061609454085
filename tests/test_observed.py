"""Forecasts from observed days: Szabo-Huberman and the observation-conditioned curve, on the simulator's truth."""

from __future__ import annotations

import numpy as np
import pytest

from videoperf.data.synthetic import REAL_EXPORT_END, _cumulative_views, generate_synthetic
from videoperf.forecasting.curve_forecaster import CurveForecaster, level_from_views
from videoperf.forecasting.intervals import CellConformal, horizon_bin
from videoperf.forecasting.series import AGE_EDGES, first_k, forecast_pairs
from videoperf.forecasting.shape_select import ShapeByK, choose_by_k, default_shape
from videoperf.forecasting.szabo_huberman import SzaboHuberman
from videoperf.lifecycle.curve import Intervals, intervals_from_arrays

AGES = np.r_[0.25, 0.5, 1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 180, 365.0]


@pytest.fixture(scope="module")
def split():
    """The simulator's videos split by publish time: intervals of the earlier and the later half, and the truth."""
    _, truth = generate_synthetic(6000, seed=4, end=REAL_EXPORT_END)
    snaps, videos = truth.snapshots, truth.videos
    early = set(videos.sort_values("published_at")["video_id"].to_numpy()[:3600])
    train = snaps["video_id"].isin(early).to_numpy()

    def iv(mask: np.ndarray) -> Intervals:
        part = snaps[mask]
        return intervals_from_arrays(part["video_id"].to_numpy(), part["age_days"].to_numpy(), part["views"].to_numpy())

    test = iv(~train)
    forecaster = CurveForecaster("exp", max_calibration_videos=5000).fit(iv(train))  # the simulator's shape
    return forecaster, SzaboHuberman().fit(iv(train)), test, videos.set_index("video_id").loc[test.video_ids]


def test_pairs_and_first_k() -> None:
    iv = intervals_from_arrays(np.array(["a", "a", "a", "b"]), np.array([1.0, 2.0, 3.0, 1.0]),
                               np.array([10.0, 15.0, 18.0, 5.0]))
    assert first_k(iv, 2).end.tolist() == [1.0, 2.0, 1.0]  # b has only one
    pairs = forecast_pairs(iv, 2)
    assert pairs[["target_age", "target_views", "last_age", "last_views"]].values.tolist() == [[3.0, 18.0, 2.0, 15.0]]
    assert len(forecast_pairs(iv, 0)) == 4 and (forecast_pairs(iv, 0)["last_views"] == 0).all()
    assert horizon_bin(np.array([0.5, 1.0, 2.0, 7.0, 30.0])).tolist() == [0, 0, 1, 2, 4]


def test_conformal_scales_with_the_growth_left_and_covers_each_kind_of_video() -> None:
    # One (k, horizon) cell: half the videos near their end (0.05 log growth forecast, errors of that size), half
    # still rising (1.0, errors 20 times larger). Plain quantiles cover the first kind always and the second too
    # rarely; scaled by the growth left, each kind is covered about 80% of the time.
    rng = np.random.default_rng(0)
    growth = np.repeat([0.05, 1.0], 2000)
    errors = rng.normal(size=4000) * growth
    k, h = np.ones(4000, int), np.full(4000, 2)
    fresh = rng.normal(size=4000) * growth
    for table, expect_even in ((CellConformal(0.8).fit(k, h, errors), False),
                               (CellConformal(0.8).fit(k, h, errors, growth), True)):
        lo, hi = table.bounds(k, h, growth)
        covered = (fresh >= lo) & (fresh <= hi)
        by_kind = covered[:2000].mean(), covered[2000:].mean()
        assert covered.mean() == pytest.approx(0.8, abs=0.03)
        assert all(abs(c - 0.8) < 0.03 for c in by_kind) == expect_even, by_kind
    with pytest.raises(ValueError, match="growth"):
        CellConformal(0.8).fit(k, h, errors, growth).bounds(k, h)


def test_conformal_pickled_before_the_local_weighting_loads_as_plain_cells() -> None:
    old = CellConformal.__new__(CellConformal)
    old.__setstate__({"coverage": 0.8, "min_count": 30, "table_": {(1, 0): (-0.5, 0.7)}})
    lo, hi = old.bounds(np.array([1]), np.array([0]))
    assert (lo[0], hi[0]) == (-0.5, 0.7)


def test_szabo_huberman_learns_the_growth_of_its_training_videos() -> None:
    # Every training video gains exactly ln 2 in log1p views from its day-1 to its day-3 observation.
    n = 200
    ages = np.tile([1.0, 3.0], n)
    base = np.repeat(np.geomspace(1e3, 1e6, n), 2)
    views = np.expm1(np.log1p(base) + np.tile([0.0, np.log(2)], n))
    sh = SzaboHuberman().fit(intervals_from_arrays(np.repeat(np.arange(n), 2), ages, views))
    point, lo, hi = sh.predict(np.array([1.0]), np.array([5000.0]), np.array([3.0]))
    assert np.log1p(point[0]) - np.log1p(5000) == pytest.approx(np.log(2), abs=1e-9)
    assert lo[0] >= 5000 and lo[0] <= point[0] * (1 + 1e-9) and point[0] <= hi[0] * (1 + 1e-9)
    ages_out = np.geomspace(1.0, 365, 40)
    grid, _, _ = sh.predict(np.full(40, 1.0), np.full(40, 5000.0), ages_out)
    assert (np.diff(grid) >= 0).all() and (grid >= 5000).all()
    assert sh.beta_.shape == (len(AGE_EDGES) + 1,) * 2


def test_curve_forecast_is_monotone_and_never_below_the_last_views(split) -> None:
    forecaster, _, test, _ = split
    for k in (0, 1, 3):
        observed = first_k(test, k)
        videos = np.unique(observed.video) if k else np.arange(50)
        video = np.repeat(videos, len(AGES))
        last = np.zeros(len(test.video_ids))
        if k:
            is_last = np.r_[observed.video[1:] != observed.video[:-1], True]
            last[observed.video[is_last]] = observed.end_views[is_last]
        point, lo, hi = forecaster.predict(observed, forecaster.global_level_, forecaster.level_sd_, video,
                                           np.tile(AGES, len(videos)), k)
        for values in (point, lo, hi):
            assert np.isfinite(values).all()
            assert (np.diff(values.reshape(len(videos), len(AGES)), axis=1) >= -1e-6).all()
            assert (values >= last[video] - 1e-6).all()
        assert (lo <= point + 1e-6).all() and (point <= hi + 1e-6).all()


def test_three_observations_forecast_twice_the_last_age_within_25_percent(split) -> None:
    forecaster, _, test, truth = split
    observed = first_k(test, 3)
    counts = np.bincount(observed.video, minlength=len(test.video_ids))
    videos = np.flatnonzero(counts == 3)
    is_last = np.r_[observed.video[1:] != observed.video[:-1], True]
    last_age = np.zeros(len(test.video_ids))
    last_age[observed.video[is_last]] = observed.end[is_last]
    target = 2 * last_age[videos]
    point, _, _ = forecaster.predict(observed, forecaster.global_level_, forecaster.level_sd_, videos, target, 3)
    t = truth.iloc[videos]
    true = _cumulative_views(target, t["peak_day"].to_numpy(), t["growth_rate"].to_numpy(), t["decay_rate"].to_numpy(),
                             t["peak_rate"].to_numpy())
    assert len(videos) > 150
    assert np.median(np.abs(point - true) / true) <= 0.25


def test_curve_beats_szabo_huberman_with_two_or_more_observations_and_is_calibrated(split) -> None:
    forecaster, sh, test, _ = split
    inside = []
    for k in (1, 2, 3):
        pairs = forecast_pairs(test, k)
        actual = pairs["target_views"].to_numpy()
        point, lo, hi = forecaster.predict(first_k(test, k), forecaster.global_level_, forecaster.level_sd_,
                                           pairs["video"].to_numpy(), pairs["target_age"].to_numpy(), k)
        sh_point, _, _ = sh.predict(pairs["last_age"].to_numpy(), pairs["last_views"].to_numpy(),
                                    pairs["target_age"].to_numpy(), k)
        curve_mae = np.mean(np.abs(np.log1p(point) - np.log1p(actual)))
        sh_mae = np.mean(np.abs(np.log1p(sh_point) - np.log1p(actual)))
        assert curve_mae < (1.0 if k == 1 else 0.8) * sh_mae, (k, curve_mae, sh_mae)
        inside.append((actual >= lo) & (actual <= hi))
    # Pooled: per K a small test half's coverage varies with its few long-lived videos.
    assert 0.72 <= np.concatenate(inside).mean() <= 0.88


def test_level_from_views_round_trips(split) -> None:
    forecaster = split[0]
    prior = forecaster.prior_
    n = len(split[2].video_ids)
    level = level_from_views(np.log(np.geomspace(1e3, 1e6, n)), np.full(n, 7.0), prior, "exp")
    curve = forecaster.condition(first_k(split[2], 0), level, 1.0)  # nothing observed: the prior curve
    np.testing.assert_allclose(curve.views(np.full(n, 7.0)), np.geomspace(1e3, 1e6, n), rtol=1e-9)


def test_choose_by_k_switches_only_on_a_clear_paired_difference() -> None:
    rng = np.random.default_rng(0)
    video = np.repeat(np.arange(400), 3)
    base = rng.exponential(0.3, len(video))
    clear = base - 0.05 + rng.normal(0, 0.01, len(video))   # better on every video
    noise = base + rng.normal(0, 0.05, len(video))           # no better
    errors = {"power": {1: (video, base), 2: (video, base)}, "exp": {1: (video, clear), 2: (video, noise)}}
    chosen, stats = choose_by_k(errors, "power")
    assert chosen == {1: "exp", 2: "power"}
    assert stats[1]["exp_minus_power"]["mean_per_video"] < -2 * stats[1]["exp_minus_power"]["se"]
    with pytest.raises(ValueError, match="default"):
        choose_by_k(errors, "gamma")
    with pytest.raises(ValueError, match="pairs"):
        choose_by_k({"power": {1: (video, base)}, "exp": {1: (video[:-1], base[:-1])}}, "power")


def test_default_shape_is_the_simulators_and_shape_by_k_dispatches(split) -> None:
    _, _, test, _ = split
    shape, scores = default_shape(test)  # the simulator is exponential by construction
    assert shape == "exp" and scores["exp"] < scores["power"]
    model = ShapeByK({1: "exp", 3: "power"}, max_calibration_videos=1500).fit(test)
    assert model.forecaster_for(1).shape == model.forecaster_for(2).shape == "exp"
    assert model.forecaster_for(5).shape == "power" and model.forecaster_for(0).shape == "exp"
    obs = first_k(test, 3)
    video = np.unique(obs.video)[:200]
    target = np.full(len(video), 30.0)
    level = np.full(len(test.video_ids), model.forecasters_["power"].global_level_)
    sd = np.full(len(test.video_ids), 1.0)
    got = model.predict(obs, level, sd, video, target, 3)
    want = model.forecasters_["power"].predict(obs, level, sd, video, target, 3)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b)
    with pytest.raises(ValueError, match="shape_by_k"):
        ShapeByK({1: "gamma"}).fit(test)
