"""The lifecycle curve: closed forms, monotone views, the stage read off it, and fits against the simulator's truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic
from videoperf.lifecycle.curve import (
    SHAPES,
    Curves,
    Intervals,
    ShapePrior,
    curves_of,
    empirical_prior,
    fit_curves,
    fit_intervals,
    intervals_from_arrays,
    stage_at,
    stage_for_interval,
    stage_in_band,
    unit_cumulative,
    unit_rate,
)
from videoperf.lifecycle.metrics import classification_metrics

AGES = np.r_[0.25, 0.5, 1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 180, 365.0]


@pytest.fixture(scope="module")
def simulated():
    _, truth = generate_synthetic(3000, seed=21, end=REAL_EXPORT_END)
    snaps = truth.snapshots
    iv = intervals_from_arrays(snaps["video_id"].to_numpy(), snaps["age_days"].to_numpy(), snaps["views"].to_numpy())
    # The simulator's curves are exponential by construction: fit that shape to recover its parameters.
    fits = fit_intervals(iv, "exp", prior=empirical_prior(fit_intervals(iv, "exp")))
    return truth, iv, fits


@pytest.mark.parametrize("shape", SHAPES)
def test_closed_form_is_the_integral_of_the_rate(shape: str) -> None:
    grid = np.linspace(0.0, 40.0, 400_001)
    for tp, decay in ((0.1, 0.5), (2.5, 0.05), (0.05, 3.0), (1.0, 1.0)):
        rate = unit_rate(grid, tp, decay, shape)
        numeric = np.r_[0.0, np.cumsum((rate[1:] + rate[:-1]) / 2 * np.diff(grid))]
        at = np.searchsorted(grid, AGES[AGES <= 40])
        np.testing.assert_allclose(unit_cumulative(grid[at], tp, decay, shape), numeric[at], rtol=1e-4)


@pytest.mark.parametrize("shape", SHAPES)
def test_views_never_decrease_and_follow_the_decay(shape: str) -> None:
    rng = np.random.default_rng(0)
    curves = Curves(rng.normal(10, 2, 500), np.exp(rng.uniform(np.log(0.02), np.log(30), 500)),
                    np.exp(rng.uniform(np.log(0.01), np.log(4), 500)), shape)
    views = curves.views(AGES[:, None])
    assert np.isfinite(views).all() and (views > 0).all()
    assert (np.diff(views, axis=0) >= 0).all()
    if shape == "exp":  # past the peak the remaining views are what the exponential tail still holds
        tp, lam, scale = curves.time_to_peak, curves.decay, np.exp(curves.log_level)
        limit = scale * unit_cumulative(tp, tp, lam) + scale / lam
        assert (views <= limit * (1 + 1e-9)).all()
        late = AGES[-1] > tp + 50 / lam
        np.testing.assert_allclose(views[-1][late], limit[late], rtol=1e-6)


def test_stage_read_off_the_curve() -> None:
    tp = 2.0
    ages = np.array([0.5, 1.9, 2.0, 2.5, 2.99, 3.01, 10.0])
    assert list(stage_at(ages, tp)) == ["growth", "growth", "peak", "peak", "peak", "decay", "decay"]
    # The fixed band: peak while the rate is at least half the maximum (decay 0.5/day: ln 2 / 0.5 days).
    band = stage_in_band(np.array([1.0, 2.1, 2.0 + np.log(2) / 0.5 - 0.01, 2.0 + np.log(2) / 0.5 + 0.01]), tp, 0.5,
                         "exp")
    assert list(band) == ["growth", "peak", "peak", "decay"]
    assert list(stage_for_interval([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], tp)) == ["growth", "peak", "decay"]
    # The band's width is the observation's interval: a first observation at day 5 covers the peak at day 2.
    windows = np.array([0.5, 1.0, 1.0, 5.0, 1.0])
    ends = np.array([0.5, 1.5, 2.5, 5.0, 6.0])
    assert list(stage_at(ends, tp, windows)) == ["growth", "growth", "peak", "peak", "decay"]
    assert list(stage_at(ends, tp, windows)) == list(stage_for_interval(ends - windows, ends, tp))
    with pytest.raises(ValueError, match="band"):
        stage_in_band(ages, tp, 0.5, band=1.5)
    with pytest.raises(ValueError, match="window_days"):
        stage_at(ages, tp, window_days=0)
    with pytest.raises(ValueError, match="window_days"):
        stage_at(ends, tp, window_days=windows - 1.0)


@pytest.mark.parametrize("shape", SHAPES)
def test_noise_free_series_is_recovered(shape: str) -> None:
    ages = np.r_[0.3, 1.3, 2.3, 3.3, 4.3, 5.3]
    truth = Curves(np.array([11.0]), np.array([0.8]), np.array([0.35]), shape)
    views = truth.views(ages[:, None])[:, 0]
    fits = fit_intervals(intervals_from_arrays(np.zeros(6), ages, views), shape,
                         prior=ShapePrior(log_tp_sd=5, log_decay_sd=5))
    # The search is a grid (a coarse one, then +-1 cell at half its step): about 5-10% resolution.
    assert fits["time_to_peak"].iloc[0] == pytest.approx(0.8, rel=0.1)
    assert fits["decay"].iloc[0] == pytest.approx(0.35, rel=0.1)
    assert fits["log_level"].iloc[0] == pytest.approx(11.0, abs=0.05)
    assert fits["rmse"].iloc[0] < 0.02


def test_too_few_observations_get_no_fit_and_bad_input_is_refused() -> None:
    iv = intervals_from_arrays(np.array(["a", "b", "b"]), np.array([1.0, 1.0, 2.0]), np.array([100.0, 100.0, 150.0]))
    fits = fit_intervals(iv)
    assert fits["video_id"].tolist() == ["a", "b"]
    assert np.isnan(fits.loc[0, "log_level"]) and np.isfinite(fits.loc[1, "log_level"])
    with pytest.raises(ValueError, match="shape"):
        fit_intervals(iv, shape="gamma")
    with pytest.raises(ValueError, match="lengths"):
        intervals_from_arrays(np.array(["a"]), np.array([1.0, 2.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="noise_sd"):
        ShapePrior(noise_sd=0.0)
    with pytest.raises(ValueError, match="missing column"):
        fit_curves(pd.DataFrame({"video_id": ["a"]}))


def test_fit_curves_reads_a_snapshot_table() -> None:
    t0 = pd.Timestamp("2026-03-01", tz="UTC")
    ages = np.r_[0.5, 1.5, 2.5]
    views = Curves(np.array([9.0]), np.array([0.3]), np.array([0.6])).views(ages[:, None])[:, 0]
    snaps = pd.DataFrame({"video_id": "v", "published_at": t0, "views": views,
                          "observed_at": [t0 + pd.Timedelta(days=a) for a in ages]})
    fits = fit_curves(snaps, prior=ShapePrior(log_tp_sd=5, log_decay_sd=5))
    assert fits["n_used"].iloc[0] == 3 and fits["decay"].iloc[0] == pytest.approx(0.6, rel=0.1)


def test_fits_recover_the_simulator_truth(simulated) -> None:
    truth, _, fits = simulated
    merged = fits.merge(truth.videos[["video_id", "peak_day", "decay_rate"]], on="video_id")
    merged = merged[merged["log_level"].notna()]
    assert len(merged) > 1500
    for fitted, true in (("time_to_peak", "peak_day"), ("decay", "decay_rate")):
        mae = (merged[fitted] - merged[true]).abs().mean()
        baseline = (merged[true] - truth.videos[true].median()).abs().mean()
        assert mae <= 0.7 * baseline, (fitted, mae, baseline)


def test_stage_agrees_with_the_hindsight_truth_at_every_observation(simulated) -> None:
    truth, iv, fits = simulated
    c = curves_of(fits, "exp")
    code = iv.video
    keys = pd.DataFrame({"video_id": iv.video_ids[code], "age_days": iv.end})
    true = keys.merge(truth.snapshots[["video_id", "age_days", "stage"]], on=["video_id", "age_days"])["stage"]
    assert len(true) == len(keys)
    predicted = stage_at(iv.end, c.time_to_peak[code], iv.end - iv.start)  # the band of its interval
    fitted = np.isfinite(c.log_level[code])
    bucket = np.searchsorted([1.0, 3.0, 7.0, 14.0], iv.end)
    for b in range(4):  # > 14 days has too few simulated observations to score
        sel = fitted & (bucket == b)
        assert classification_metrics(true[sel], predicted[sel])["macro_f1"] >= 0.75, b


@pytest.mark.parametrize("shape", SHAPES)
def test_an_interval_of_weight_two_counts_as_two_intervals(shape: str) -> None:
    rng = np.random.default_rng(4)
    ages = np.r_[0.3, 1.3, 2.3, 4.3, 7.3]
    views = Curves(np.array([9.0]), np.array([0.6]), np.array([0.5]), shape).views(ages[:, None])[:, 0]
    iv = intervals_from_arrays(np.zeros(5), ages, views)
    iv = dataclasses.replace(iv, log_rate=iv.log_rate + rng.normal(0, 0.3, 5))
    prior = ShapePrior(log_tp_sd=1.0, log_decay_sd=1.0)
    weighted = fit_intervals(dataclasses.replace(iv, weight=np.r_[1.0, 2.0, 1.0, 1.0, 2.0]), shape, prior)
    twice = np.r_[0, 1, 1, 2, 3, 4, 4]
    doubled = Intervals(np.zeros(7, np.int64), iv.start[twice], iv.end[twice], iv.log_rate[twice],
                        iv.end_views[twice], iv.video_ids)
    for column in ("log_level", "time_to_peak", "decay"):
        assert weighted[column].iloc[0] == pytest.approx(fit_intervals(doubled, shape, prior)[column].iloc[0])
    assert weighted["n_used"].iloc[0] == 5  # the count of usable intervals is not weighted
    ones = fit_intervals(dataclasses.replace(iv, weight=np.ones(5)), shape, prior)
    pd.testing.assert_frame_equal(ones, fit_intervals(iv, shape, prior))
