"""The bundle's forecaster from observed days (``videoperf.forecasting.forecaster``): the curve shape per number of
observations, chosen on the training videos alone, the forecast dispatch by K, the manifest, and pickles from before
the shape per K or naming the modules as they were before."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pandas as pd
import pytest

from videoperf.data.sources import as_snapshots
from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic
from videoperf.features.channel_history import ChannelHistory
from videoperf.forecasting.forecaster import OBSERVED_FILE, SELECTION_KS, MixedCurves, ObservedForecaster
from videoperf.lifecycle.curve import SHAPES, Curves, intervals_from_arrays
from videoperf.models import artifacts
from videoperf.training.pipeline import prepare_snapshots


@pytest.fixture(scope="module")
def snapshots():
    raw, _ = generate_synthetic(600, seed=21, end=REAL_EXPORT_END)
    return prepare_snapshots(as_snapshots(raw))


@pytest.fixture(scope="module")
def fitted(snapshots):
    history = ChannelHistory(snapshots)
    chosen = ObservedForecaster(max_calibration_videos=2000).fit(snapshots, history)
    fixed = {shape: ObservedForecaster(shape, max_calibration_videos=2000).fit(snapshots, history)
             for shape in SHAPES}
    return chosen, fixed


def _request(n_obs: list[int]):
    """Observations of len(n_obs) videos (video i observed n_obs[i] times, daily from 0.5 days) and their columns."""
    video = np.repeat(np.arange(len(n_obs)), n_obs)
    age = np.concatenate([0.5 + np.arange(n) for n in n_obs])
    views = np.concatenate([20000.0 * np.sqrt(1 + np.arange(n)) for n in n_obs])
    observed = intervals_from_arrays(video, age, views)
    m = len(n_obs)
    videos = {"channel_avg_views": np.full(m, 30000.0), "channel_video_count": np.full(m, 12.0),
              "categories": [["Music"]] * m, "duration_seconds": np.full(m, 240.0),
              "published_at": pd.Series(pd.to_datetime(["2026-03-01T15:00:00Z"] * m))}
    return observed, np.full(m, 500.0), videos


def test_the_shape_per_k_is_chosen_on_an_inner_split_of_the_training_videos(fitted, snapshots):
    chosen, _ = fitted
    described = chosen.describe()
    selection = described["shape_selection"]
    assert selection["method"] == "per K on the inner split"
    assert set(described["shape_by_k"]) == {str(k) for k in SELECTION_KS}
    assert set(described["shape_by_k"].values()) <= set(SHAPES)
    assert described["shape"] == selection["default_shape"] in SHAPES
    # The inner split lies inside the training window: the inner test videos are training videos.
    cut = pd.Timestamp(selection["inner_split_date"], tz="UTC")
    assert snapshots["published_at"].min() < cut < snapshots["observed_at"].max()
    assert 0 < selection["inner_test_videos"] < snapshots["video_id"].nunique()
    for k, stats in selection["per_k"].items():
        assert stats["chosen"] == described["shape_by_k"][k]
        assert set(stats["log_mae"]) == set(SHAPES)
    # One forecaster per shape used, each with its own level prior (a level is the ln peak rate of its shape).
    assert set(described["level_prior"]) == set(described["shape_by_k"].values())


def test_each_forecast_uses_the_shape_of_its_number_of_observations(fitted):
    chosen, fixed = fitted
    combined = pickle.loads(pickle.dumps(chosen))
    combined.parts_ = {shape: fixed[shape].parts_[shape] for shape in SHAPES}
    combined.shape_by_k_ = {1: "exp", 2: "power"}
    assert [combined.shape_for(k) for k in (1, 2, 3, 7)] == ["exp", "power", "power", "power"]
    observed, likes, videos = _request([1, 3])
    ages = np.array([10.0, 30.0])
    both = combined.forecast(observed, likes, videos, np.array([0, 1]), ages)
    assert list(both.shapes) == ["exp", "power"] and list(both.used) == [1, 3]
    for i, shape in enumerate(("exp", "power")):
        alone = fixed[shape].forecast(observed, likes, videos, np.array([i]), ages[i:i + 1])
        assert both.point[i] == pytest.approx(alone.point[0])
        assert (both.lo[i], both.hi[i]) == pytest.approx((alone.lo[0], alone.hi[0]))
        assert both.curves.time_to_peak[i] == pytest.approx(alone.curves.time_to_peak[i])
    # Mixed shapes: each video's curve is read with its own shape.
    assert isinstance(both.curves, MixedCurves)
    grid = np.array([0.5, 2.0, 30.0, 365.0])
    views = both.curves.views(grid[:, None])
    for i, shape in enumerate(("exp", "power")):
        c = both.curves
        one = Curves(c.log_level[i:i + 1], c.time_to_peak[i:i + 1], c.decay[i:i + 1], shape)
        np.testing.assert_allclose(views[:, i], one.views(grid[:, None])[:, 0])
        np.testing.assert_allclose(c.decay_rate()[i], one.decay_rate()[0])
    assert np.all(np.diff(views, axis=0) >= 0)
    # One shape for the whole batch: plain curves of that shape.
    single = combined.forecast(*_request([2, 2]), np.array([0, 1]), ages)
    assert type(single.curves) is Curves and single.curves.shape == "power"


def test_a_given_shape_is_used_for_every_k(fitted):
    _, fixed = fitted
    for shape, forecaster in fixed.items():
        assert forecaster.describe()["shape_by_k"] == {"1": shape}
        assert {forecaster.shape_for(k) for k in (1, 2, 5, 9)} == {shape}
    with pytest.raises(ValueError, match="shape: 'cubic' is not a curve shape"):
        ObservedForecaster("cubic").fit(pd.DataFrame(), None)


def test_too_short_a_training_window_keeps_the_default_shape(snapshots):
    forecaster = ObservedForecaster(max_calibration_videos=2000, inner_days=400).fit(
        snapshots, ChannelHistory(snapshots))
    described = forecaster.describe()
    assert described["shape_selection"]["method"].startswith("default for every K")
    assert described["shape_by_k"] == {"1": described["shape"]}


def test_a_pickle_from_before_the_shape_per_k_still_loads(fitted):
    _, fixed = fitted
    new = fixed["power"]
    part = new.parts_["power"]
    old = object.__new__(ObservedForecaster)  # the attributes the single-shape version saved
    old.__dict__.update({"shape": "power", "coverage": new.coverage, "max_calibration_videos": 2000, "seed": 0,
                         "level_": part.level, "categories_": new.categories_, "curve_": part.curve,
                         "baseline_": new.baseline_, "n_videos_": new.n_videos_})
    loaded = pickle.loads(pickle.dumps(old))
    assert loaded.shape_for(3) == "power" and loaded.describe()["shape_by_k"] == {"1": "power"}
    observed, likes, videos = _request([1, 2])
    a = loaded.forecast(observed, likes, videos, np.array([0, 1]), np.array([5.0, 9.0]))
    b = new.forecast(observed, likes, videos, np.array([0, 1]), np.array([5.0, 9.0]))
    np.testing.assert_allclose(a.point, b.point)
    broken = object.__new__(ObservedForecaster)
    broken.__dict__.update({"shape": "power", "baseline_": new.baseline_})
    with pytest.raises(ValueError, match="observed_forecaster.pkl: not a forecaster this version can read"):
        pickle.loads(pickle.dumps(broken))


def test_a_pickle_naming_the_modules_before_their_split_still_loads(fitted, tmp_path):
    chosen, _ = fitted
    data = pickle.dumps(chosen, protocol=2)  # protocol 2 names each class as text: b"c<module>\n<name>\n"
    renames = {
        "videoperf.forecasting.curve_forecaster\nCurveForecaster": "videoperf.forecasting.observed\nCurveForecaster",
        # the flat layout's module, which ``MOVED_MODULES`` maps first
        "videoperf.forecasting.szabo_huberman\nSzaboHuberman": "videoperf.observed\nSzaboHuberman",
        "videoperf.forecasting.intervals\nCellConformal": "videoperf.observed\n_Conformal"}
    for new, old in renames.items():
        assert data.count(f"c{new}\n".encode()) == 1, new
        data = data.replace(f"c{new}\n".encode(), f"c{old}\n".encode())
    (tmp_path / OBSERVED_FILE).write_bytes(data)
    manifest = {"files": {OBSERVED_FILE: {"sha256": hashlib.sha256(data).hexdigest()}}}
    loaded = artifacts.load_pickle(tmp_path, OBSERVED_FILE, manifest)
    observed, likes, videos = _request([1, 3])
    a = loaded.forecast(observed, likes, videos, np.array([0, 1]), np.array([5.0, 9.0]))
    b = chosen.forecast(observed, likes, videos, np.array([0, 1]), np.array([5.0, 9.0]))
    for name in ("point", "lo", "hi"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    base = (np.array([2.0]), np.array([1000.0]), np.array([9.0]), 1)
    np.testing.assert_array_equal(loaded.baseline(*base), chosen.baseline(*base))
