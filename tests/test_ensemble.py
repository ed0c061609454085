"""The stacking ensemble: learners from the preset, OOF stacking, conformal intervals, optional packages."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
import pytest
from _tiny import tiny_config

from videoperf.models.ensemble import stacking as ens
from videoperf.models.ensemble.stacking import LEARNERS, Fold, StackingEnsemble, interval_groups, make_learner


def _data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"log_age": np.log1p(rng.uniform(0.05, 20, n)), "channel_log_count": rng.integers(0, 4, n),
                      "a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)}).astype(np.float32)
    y = 10 + 2 * X["log_age"] + X["a"] - 0.5 * X["b"] ** 2 + 0.3 * X["channel_log_count"] + rng.normal(0, 0.5, n)
    return X, y.to_numpy()


def _folds(X: pd.DataFrame, y: np.ndarray, n_splits: int = 3) -> list[Fold]:
    bounds = np.linspace(len(X) * 0.4, len(X), n_splits + 1).astype(int)
    return [Fold(X.iloc[:lo], y[:lo], X.iloc[lo:hi], y[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]


@pytest.fixture(scope="module")
def fitted():
    X, y = _data(3000, 0)
    model = StackingEnsemble(tiny_config().preset("fast").ensemble, seed=0).fit(_folds(X, y), X, y, progress=False)
    return model, X, y


def test_stack_reports_every_learner_and_the_stack(fitted):
    model, _, _ = fitted
    report = model.report_
    assert set(report["learners"]) == set(LEARNERS)
    for scores in report["learners"].values():
        assert {"r2", "mae", "spearman", "weight", "fit_seconds"} <= set(scores)
        assert scores["weight"] >= 0  # non-negative stacking weights
    assert report["stack"]["r2"] > 0.7
    assert report["stack"]["r2"] >= max(s["r2"] for s in report["learners"].values()) - 0.02


def test_conformal_interval_covers_new_data(fitted):
    model, _, _ = fitted
    X_new, y_new = _data(4000, 1)
    pred, lo, hi = model.predict_interval(X_new)
    assert np.all(lo <= pred) and np.all(pred <= hi)
    coverage = np.mean((y_new >= lo) & (y_new <= hi))
    assert 0.74 <= coverage <= 0.86, coverage
    np.testing.assert_allclose(model.predict(X_new.iloc[:5]), pred[:5], rtol=1e-6)
    # Single rows and column order do not matter.
    single = model.predict(X_new.iloc[[3]][list(reversed(X_new.columns))])
    assert single[0] == pytest.approx(pred[3], rel=1e-6)


def test_learner_settings_come_from_the_preset():
    preset = tiny_config().preset("fast").ensemble
    catboost = make_learner("catboost", preset.catboost)
    params = catboost.get_params()
    assert params["allow_writing_files"] is False and params["thread_count"] == 2 and params["verbose"] is False
    assert params["iterations"] == preset.catboost["iterations"]
    forest = make_learner("random_forest", preset.random_forest)
    assert forest.max_depth == preset.random_forest["max_depth"] and forest.n_jobs == 2
    assert make_learner("lightgbm", preset.lightgbm).get_params()["n_jobs"] == 2
    assert make_learner("xgboost", preset.xgboost).get_params()["n_jobs"] == 2
    with pytest.raises(ValueError, match="learner"):
        make_learner("svm", {})


def test_missing_optional_package_is_skipped_with_a_note(monkeypatch, caplog):
    real = ens._optional
    monkeypatch.setattr(ens, "_optional", lambda name: None if name in ("catboost", "lightgbm") else real(name))
    X, y = _data(1200, 2)
    with caplog.at_level(logging.WARNING, logger="videoperf.models.ensemble.stacking"):
        model = StackingEnsemble(tiny_config().preset("fast").ensemble).fit(_folds(X, y, 2), X, y, progress=False)
    assert "catboost is not installed" in caplog.text and "lightgbm is not installed" in caplog.text
    assert set(model.report_["skipped_learners"]) == {"catboost", "lightgbm"}
    assert model.learner_names_ == ["xgboost", "hist_gradient_boosting", "random_forest"]
    assert set(model.models_) <= set(model.learner_names_)
    assert np.isfinite(model.predict(X.iloc[:3])).all()


def test_interval_groups_split_new_channels_and_ages():
    X = pd.DataFrame({"log_age": np.log1p([0.5, 2.0, 5.0, 30.0, 0.5]), "channel_log_count": [1, 1, 1, 1, 0]})
    groups = interval_groups(X)
    assert list(groups[:4]) == [0, 1, 2, 3] and groups[4] == 4


def test_fit_needs_folds():
    X, y = _data(100, 3)
    with pytest.raises(ValueError, match="folds"):
        StackingEnsemble(tiny_config().preset("fast").ensemble).fit([], X, y, progress=False)
    with pytest.raises(ValueError, match="coverage"):
        StackingEnsemble(tiny_config().preset("fast").ensemble, coverage=1.5)


def test_small_batches_take_the_flat_tree_path_with_the_libraries_results(fitted):
    from videoperf.library_internals import boosting_arrays, forest_arrays

    model, X, _ = fitted
    rows = X.iloc[:50].copy()
    rows.iloc[::3, 2] = np.nan  # missing values go where training sent them
    matrix = rows.to_numpy(np.float32)
    preset = tiny_config().preset("fast").ensemble
    # A learner the stack gave weight 0 is not kept; the flat walk is then checked on one fitted here.
    forest = model.models_.get("random_forest") or make_learner("random_forest", preset.random_forest).fit(X, _)
    booster = (model.models_.get("hist_gradient_boosting")
               or make_learner("hist_gradient_boosting", preset.hist_gradient_boosting).fit(X, _))
    np.testing.assert_array_equal(forest_arrays(forest).predict(matrix),
                                  np.mean([tree.predict(matrix) for tree in forest.estimators_], axis=0))
    np.testing.assert_allclose(boosting_arrays(booster).predict(matrix), booster.predict(matrix), rtol=1e-12)
    library = model.meta_.predict(np.column_stack([
        model.models_[name].predict(matrix) if name in model.models_ else np.zeros(len(matrix))
        for name in model.learner_names_]))
    np.testing.assert_allclose(model.predict(rows), library, rtol=1e-12)


def test_only_learners_the_stack_weights_are_kept(fitted):
    model, X, _ = fitted
    weights = dict(zip(model.learner_names_, model.meta_.coef_))
    assert set(model.models_) == {name for name, weight in weights.items() if weight != 0.0}
    assert model.unweighted_learners() == {name for name, weight in weights.items() if weight == 0.0}
    assert all(model.report_["learners"][name]["kept"] == (name in model.models_) for name in weights)


def test_the_stack_fits_the_learners_its_preset_names():
    from videoperf.config import load_config

    X, y = _data(1500, 3)
    named = dataclasses.replace(tiny_config().preset("fast").ensemble,
                                learners=load_config().preset("fast").ensemble.learners)
    model = StackingEnsemble(named, seed=0).fit(_folds(X, y), X, y, progress=False)
    assert model.learners == named.learners
    assert set(model.report_["learners"]) == set(named.learners)
    assert set(model.models_) <= set(named.learners) and model.predict(X.iloc[:5]).shape == (5,)
    with pytest.raises(ValueError, match="learners"):
        StackingEnsemble(named, learners=("xgboost", "boosted_guess"))
    with pytest.raises(ValueError, match="learners"):
        StackingEnsemble(dataclasses.replace(named, learners=()))


def test_one_openmp_thread_predicts_what_the_threaded_booster_does():
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    def openmp_threads() -> set[int]:
        return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "openmp"}

    X, y = _data(2000, 1)
    booster = make_learner("hist_gradient_boosting", tiny_config().preset("fast").ensemble.hist_gradient_boosting)
    booster.fit(X.to_numpy(), y)
    threaded, default = booster.predict(X.to_numpy()), openmp_threads()
    with ens.one_openmp_thread():
        assert openmp_threads() == {1}
        np.testing.assert_array_equal(booster.predict(X.to_numpy()), threaded)
        with ThreadPoolExecutor(1) as pool:  # the limit is this thread's: a concurrent chunk keeps its own
            assert pool.submit(openmp_threads).result() == default
    assert openmp_threads() == default


@pytest.mark.parametrize("early_stopping", [False, True])
def test_xgboost_iterations_are_those_its_predict_uses(early_stopping):
    xgb = pytest.importorskip("xgboost")
    X, y = _data(600, 2)
    matrix = X.to_numpy()
    model = xgb.XGBRegressor(n_estimators=60, learning_rate=0.3, max_depth=3,
                             early_stopping_rounds=2 if early_stopping else None)
    model.fit(matrix[:400], y[:400], eval_set=[(matrix[400:], y[400:])], verbose=False)
    booster = model.get_booster()
    assert ens._xgboost_iterations(model) == ((0, model.best_iteration + 1) if early_stopping else (0, 0))
    assert not early_stopping or model.best_iteration + 1 < len(booster.get_dump())  # it did stop early
    np.testing.assert_array_equal(booster.inplace_predict(matrix, iteration_range=ens._xgboost_iterations(model)),
                                  model.predict(matrix))
