"""One lifecycle curve per pre-publication prediction of each family (serving.family_curve), on a tiny bundle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from videoperf.features.builder import still_observed
from videoperf.lifecycle.curve import DEFAULT_SHAPE, STAGES, WEAK_PRIOR
from videoperf.serving.bundle import OBSERVED_FILE, Bundle
from videoperf.serving.family_curve import (
    age_weights,
    curve_prediction,
    family_curves,
    fit_family_curves,
    headless_prior,
    trained_ages,
)
from videoperf.serving.request import parse_request

FAMILIES = ("ensemble", "deep_learning")
AGES = np.geomspace(0.25, 365.0, 40)
WORDS = ["makeup", "tutorial", "gaming", "music", "live", "news", "best", "new", "cat", "review", "how", "to"]


@pytest.fixture(scope="module")
def bundle(full_bundle) -> Bundle:
    return Bundle.load(full_bundle)


def _random_requests(n: int, seed: int) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        words = list(rng.choice(WORDS, size=int(rng.integers(1, 7))))
        rows.append(parse_request(dict(
            title=" ".join(words), tags=list(rng.choice(WORDS, size=int(rng.integers(0, 4)), replace=False)),
            categories=[str(rng.choice(["Music", "Gaming", "Lifestyle", "News"]))],
            duration_seconds=float(rng.uniform(15, 7200)), channel_avg_views=float(10 ** rng.uniform(1, 7)),
            channel_video_count=int(rng.integers(0, 500)),
            published_at=f"2026-0{rng.integers(1, 6)}-1{rng.integers(0, 9)}T{rng.integers(10, 24)}:00:00Z")).row(7.0))
    return {key: [row[key] for row in rows] for key in rows[0]}


@pytest.fixture(scope="module")
def fitted(bundle) -> dict:
    requests = _random_requests(12, seed=7)
    return {model_type: family_curves(bundle, requests, model_type) for model_type in FAMILIES}


def test_trained_ages_come_from_the_training_rows(bundle):
    ages = trained_ages(bundle)
    assert np.all(np.diff(ages) > 0) and len(ages) >= 10
    assert 0.01 < ages[0] < ages[-1] < 60


@pytest.mark.parametrize("model_type", FAMILIES)
def test_views_never_decrease_to_a_year_for_random_inputs(fitted, model_type):
    fc = fitted[model_type]
    for i in range(len(fc.curves.log_level)):
        frame = fc.frame(i, AGES)
        for column in ("views", "views_lo", "views_hi"):
            assert np.all(np.diff(frame[column].to_numpy()) >= 0), (model_type, i, column)
        assert np.all(frame["views_lo"] <= frame["views"]) and np.all(frame["views"] <= frame["views_hi"])
        assert np.all(np.isfinite(frame["views"])) and frame["views"].iloc[-1] > 0


@pytest.mark.parametrize("model_type", FAMILIES)
def test_time_to_peak_decay_and_stage_are_the_curves(fitted, model_type):
    curves = fitted[model_type].curves
    for i in range(len(curves.log_level)):
        tp = curves.time_to_peak[i]
        fine = np.geomspace(0.005, 365.0, 4000)
        rate = np.exp(curves.log_level[i]) * curves_rate(curves, i, fine)
        # The daily rate is largest at the time to peak.
        assert abs(np.log(fine[np.argmax(rate)] / tp)) < 0.05, (model_type, i)
        # Decay rate one day after the peak = -d log r / dt there.
        h = 1e-4
        slope = -(np.log(curves_rate(curves, i, tp + 1 + h)) - np.log(curves_rate(curves, i, tp + 1 - h))) / (2 * h)
        assert slope == pytest.approx(float(curves.decay_rate()[i]), rel=1e-3)
        stage = fitted[model_type].frame(i, AGES)["stage"].to_numpy()
        expected = np.where(AGES < tp, STAGES[0], np.where(AGES - 1.0 < tp, STAGES[1], STAGES[2]))
        assert list(stage) == list(expected), (model_type, i)


def curves_rate(curves, i, age):
    from videoperf.lifecycle.curve import unit_rate

    return unit_rate(np.asarray(age, dtype=float), curves.time_to_peak[i], curves.decay[i], curves.shape)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_growth_past_the_trained_ages_follows_the_decay(fitted, model_type):
    fc = fitted[model_type]
    last = fc.trained_ages[-1]
    later = np.array([last * 1.5, 60.0, 180.0, 365.0])
    for i in range(len(fc.curves.log_level)):
        one = fc.frame(i, np.r_[last, later])
        v_last, v_later = one["views"].iloc[0], one["views"].iloc[1:].to_numpy()
        r_last = float(np.exp(fc.curves.log_level[i]) * curves_rate(fc.curves, i, last))
        if last > fc.curves.time_to_peak[i]:  # after the peak the rate only falls: growth <= rate x time
            assert np.all(v_later - v_last <= r_last * (later - last) * (1 + 1e-9)), (model_type, i)
        grid = np.linspace(last, 365.0, 200001)
        integral = np.trapezoid(np.exp(fc.curves.log_level[i]) * curves_rate(fc.curves, i, grid), grid)
        assert v_later[-1] - v_last == pytest.approx(integral, rel=1e-3)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_the_curve_goes_through_the_familys_views_at_the_trained_ages(bundle, model_type):
    request = {key: value[0] for key, value in _random_requests(1, seed=11).items()}
    ages = trained_ages(bundle)
    fc = curve_prediction(bundle, request, ages, model_type)
    rows = {key: [value] * len(ages) for key, value in request.items()}
    rows["age_days"] = list(ages)
    family = bundle.predict_frame(rows, model_type)["predicted_views"].to_numpy()
    error = np.abs(np.log(fc.frame["views"].to_numpy() / np.maximum(family, 1.0)))
    assert np.median(error) < 0.35, error
    assert fc.time_to_peak_days == pytest.approx(float(fc.curve.time_to_peak[0]))
    assert fc.decay_rate > 0 and list(fc.frame.columns) == ["age", "views", "views_lo", "views_hi", "stage"]


def test_frame_keeps_the_asked_order_and_bad_ages_name_the_argument(bundle):
    request = {key: value[0] for key, value in _random_requests(1, seed=3).items()}
    out = curve_prediction(bundle, request, [30.0, 1.0, 7.0], "ensemble").frame
    assert list(out["age"]) == [30.0, 1.0, 7.0]
    assert out["views"].iloc[1] <= out["views"].iloc[2] <= out["views"].iloc[0]
    for bad in ([], [0.0], [-1.0], [float("nan")]):
        with pytest.raises(ValueError, match="ages"):
            curve_prediction(bundle, request, bad, "ensemble")
    ages = trained_ages(bundle)
    with pytest.raises(ValueError, match="predicted"):
        fit_family_curves(pd.DataFrame({"predicted_views": np.ones(len(ages) + 1)}), ages)


def test_still_observed_is_the_share_of_videos_seen_by_then_that_are_observed_then_or_later():
    # Video 0 observed at 0.5-3 days, video 1 at 1-1.5, video 2 only at 4.
    video = np.array([0, 0, 1, 1, 2])
    ages = np.array([0.5, 3.0, 1.0, 1.5, 4.0])
    share = still_observed(np.array([0.25, 0.5, 1.0, 2.0, 3.0, 3.5, 4.0, 5.0]), ages, video)
    assert share.tolist() == [1.0, 1.0, 1.0, 0.5, 0.5, 0.0, 1 / 3, 0.0]


def test_the_trained_ages_are_weighted_by_the_videos_still_observed(bundle):
    ages, weights = trained_ages(bundle), age_weights(bundle)
    assert weights is not None and weights.shape == ages.shape
    assert np.all((weights > 0) & (weights <= 1)) and weights[-1] < weights[0]
    request = _random_requests(3, seed=5)
    for model_type in FAMILIES:
        rows = {key: [value for value in values for _ in ages] for key, values in request.items()}
        rows["age_days"] = list(np.tile(ages, 3))
        predicted = bundle.predict_frame(rows, model_type)
        expected = fit_family_curves(predicted, ages, age_weights=weights,
                                     prior=headless_prior(bundle, DEFAULT_SHAPE))
        got = family_curves(bundle, request, model_type)
        assert np.array_equal(got.curves.log_level, expected.curves.log_level), model_type
        unweighted = fit_family_curves(predicted, ages, prior=headless_prior(bundle, DEFAULT_SHAPE))
        assert not np.array_equal(unweighted.curves.decay, got.curves.decay), model_type


def test_a_bundle_without_the_share_or_the_forecaster_weighs_every_age_alike(bundle, monkeypatch):
    monkeypatch.setattr(bundle.features.age_curve_, "still_observed_", None)
    assert age_weights(bundle) is None
    monkeypatch.setitem(bundle.manifest, "files", {k: v for k, v in bundle.manifest["files"].items()
                                                   if k != OBSERVED_FILE})
    assert headless_prior(bundle, DEFAULT_SHAPE) is WEAK_PRIOR
    request = _random_requests(2, seed=9)
    ages = trained_ages(bundle)
    rows = {key: [value for value in values for _ in ages] for key, values in request.items()}
    rows["age_days"] = list(np.tile(ages, 2))
    expected = fit_family_curves(bundle.predict_frame(rows, "ensemble"), ages)
    assert np.array_equal(family_curves(bundle, request, "ensemble").curves.decay, expected.curves.decay)


def test_the_headless_family_takes_the_training_series_shape_prior(bundle):
    prior = headless_prior(bundle, DEFAULT_SHAPE)
    forecaster_prior = bundle.observed_forecaster().shape_prior(DEFAULT_SHAPE)
    assert prior == (forecaster_prior if forecaster_prior is not None else WEAK_PRIOR)


def test_age_weights_are_checked(bundle):
    ages = trained_ages(bundle)
    predicted = pd.DataFrame({"predicted_views": np.geomspace(10, 1000, len(ages))})
    for bad in (np.ones(len(ages) - 1), np.r_[np.ones(len(ages) - 1), 0.0], np.full(len(ages), np.nan)):
        with pytest.raises(ValueError, match="age_weights"):
            fit_family_curves(predicted, ages, age_weights=bad)
