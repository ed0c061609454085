import json

import pytest

from videoperf.config import DEFAULT_CONFIG_PATH, SPEEDS, config_from_dict, load_config


def _raw() -> dict:
    return json.loads(DEFAULT_CONFIG_PATH.read_text())


def test_shipped_config_has_three_presets():
    config = load_config()
    for speed in SPEEDS:
        preset = config.preset(speed)
        assert preset.ensemble.random_forest["max_features"] < 1.0  # the forest is always bounded
    assert config.prediction.interval_coverage == pytest.approx(0.8)


def test_unknown_key_names_its_path():
    data = _raw()
    data["presets"]["fast"].setdefault("deep", {})["epochz"] = 3
    with pytest.raises(ValueError, match=r"presets\.fast\.deep.*epochz"):
        config_from_dict(data)


def test_wrong_type_names_its_path():
    data = _raw()
    data["validation"]["n_splits"] = "four"
    with pytest.raises(ValueError, match=r"validation\.n_splits"):
        config_from_dict(data)


def test_missing_key_and_missing_preset():
    data = _raw()
    del data["paths"]["cache_dir"]
    with pytest.raises(ValueError, match="cache_dir"):
        config_from_dict(data)
    data = _raw()
    del data["presets"]["full"]
    with pytest.raises(ValueError, match="full"):
        config_from_dict(data)


def test_unknown_speed():
    with pytest.raises(ValueError, match="speed"):
        load_config().preset("turbo")


def test_presets_are_the_base_preset_with_each_speeds_changes():
    data = _raw()
    config = config_from_dict(data)
    base = data["base_preset"]
    # fast is the base preset with two learners of its own sizes; a list is replaced whole, the settings beside a
    # changed one kept
    fast = config.preset("fast")
    assert set(data["presets"]["fast"]) == {"ensemble"}
    assert list(fast.ensemble.learners) == data["presets"]["fast"]["ensemble"]["learners"]
    assert len(fast.ensemble.learners) < len(base["ensemble"]["learners"])
    assert fast.ensemble.lightgbm["n_estimators"] == data["presets"]["fast"]["ensemble"]["lightgbm"]["n_estimators"]
    assert fast.ensemble.lightgbm["num_leaves"] == base["ensemble"]["lightgbm"]["num_leaves"]
    assert fast.features.tfidf_max_features == base["features"]["tfidf_max_features"]
    assert list(config.preset("balanced").ensemble.learners) == base["ensemble"]["learners"]
    balanced = config.preset("balanced")
    # A changed key takes the speed's value; the keys next to it keep the base's.
    assert balanced.ensemble.lightgbm["n_estimators"] == data["presets"]["balanced"]["ensemble"]["lightgbm"][
        "n_estimators"] != base["ensemble"]["lightgbm"]["n_estimators"]
    assert balanced.ensemble.lightgbm["subsample"] == base["ensemble"]["lightgbm"]["subsample"]
    assert balanced.deep.encoder == base["deep"]["encoder"]
    data["presets"]["full"]["ensemble"]["ridge_alpha"] = "one"
    with pytest.raises(ValueError, match=r"presets\.full\.ensemble\.ridge_alpha"):
        config_from_dict(data)
    data = _raw()
    del data["base_preset"]
    with pytest.raises(ValueError, match="base_preset"):
        config_from_dict(data)


def test_the_simulators_end_date_is_a_date_or_null():
    assert load_config().data.synthetic_end is None  # today
    data = _raw()
    data["data"]["synthetic_end"] = "2026-05-31"
    assert config_from_dict(data).data.synthetic_end == "2026-05-31"
    for bad in ("31/05/2026", 20260531):
        data["data"]["synthetic_end"] = bad
        with pytest.raises(ValueError, match=r"data\.synthetic_end"):
            config_from_dict(data)
