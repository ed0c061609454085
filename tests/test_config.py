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
    data["presets"]["fast"]["deep"]["epochz"] = 3
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
