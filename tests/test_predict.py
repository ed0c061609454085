"""predict_performance / predict_batch / CLI on a tiny bundle trained on the simulator."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
from _tiny import tiny_config

import model_update
import predict
from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic
from videoperf.serving import bundle

README_CALL = dict(title="Amazing makeup tutorial for beginners", tags=["makeup", "tutorial", "beauty", "beginner"],
                   categories=["Lifestyle", "Fashion"], duration_seconds=600, channel_avg_views=50000,
                   channel_video_count=25, model_type="ensemble")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("predict") / "artifacts"
    raw, _ = generate_synthetic(700, seed=21, end=REAL_EXPORT_END)
    model_update.train(raw, "fast", folder, models=("ensemble",), progress=False, config=tiny_config())
    return folder


def test_original_readme_call(folder, monkeypatch):
    monkeypatch.setenv("VIDEOPERF_ARTIFACTS", str(folder))
    views = predict.predict_performance(**README_CALL)["predicted_views"]
    assert isinstance(views, float) and views > 0
    result = predict.predict_performance(**README_CALL, artifacts_dir=folder)
    assert result["views_lo"] <= result["predicted_views"] <= result["views_hi"]
    assert result["interval_coverage"] == pytest.approx(0.8)
    assert result["days_since_publish"] == pytest.approx(7.0) and result["model_type"] == "ensemble"


def test_inputs_move_predictions_sensibly(folder):
    base = dict(README_CALL, artifacts_dir=folder, published_at="2026-03-01T15:00:00Z")
    small = predict.predict_performance(**{**base, "channel_avg_views": 1000})["predicted_views"]
    big = predict.predict_performance(**{**base, "channel_avg_views": 5_000_000})["predicted_views"]
    assert big > small
    young = predict.predict_performance(**base, days_since_publish=0.5)["predicted_views"]
    old = predict.predict_performance(**base, days_since_publish=20)["predicted_views"]
    assert old > young
    new_channel = predict.predict_performance(**{**base, "channel_video_count": 0, "channel_avg_views": None})
    assert new_channel["predicted_views"] > 0


def test_optional_facts_and_unknown_categories_are_fine(folder):
    result = predict.predict_performance(
        title="Zyxw qwv", tags=["never-seen-tag"], categories=["Not a category"], duration_seconds=None,
        channel_avg_views=10, channel_video_count=1, artifacts_dir=folder, default_language="fr",
        audio_language="fr", definition="hd", caption_available=True, made_for_kids=False, is_live=False,
        licensed_content=True)
    assert math.isfinite(result["predicted_views"])


@pytest.mark.parametrize("change, argument", [
    ({"title": ""}, "title"), ({"title": "   "}, "title"), ({"title": None}, "title"),
    ({"duration_seconds": -1}, "duration_seconds"), ({"duration_seconds": float("nan")}, "duration_seconds"),
    ({"duration_seconds": "600"}, "duration_seconds"),
    ({"channel_avg_views": -5}, "channel_avg_views"), ({"channel_video_count": -1}, "channel_video_count"),
    ({"channel_video_count": 2.5}, "channel_video_count"), ({"channel_avg_views": float("inf")}, "channel_avg_views"),
    ({"tags": ["ok", 3]}, "tags"), ({"tags": "makeup,tutorial"}, "tags"), ({"categories": [None]}, "categories"),
    ({"model_type": "svm"}, "model_type"), ({"published_at": "not a date"}, "published_at"),
    ({"days_since_publish": 0}, "days_since_publish"), ({"definition": "4k"}, "definition"),
    ({"made_for_kids": "maybe"}, "made_for_kids"), ({"colour": "red"}, "colour"),
])
def test_bad_input_names_the_argument(folder, change, argument):
    with pytest.raises(ValueError, match=argument):
        predict.predict_performance(**{**README_CALL, "artifacts_dir": folder, **change})


# One bad value for each rule of a request. A table differs only where a table must: an empty cell (NaN) is a
# value not given and a list may be comma-separated text, so those values are not among them.
BROKEN_RULES = [
    ("title", ""), ("title", "   "), ("title", None), ("title", 5), ("title", "x" * 1001), ("title", "bad \ud800"),
    ("tags", ["ok", 3]), ("tags", 5), ("tags", ["x" * 1001]), ("tags", ["ok"] * 501), ("tags", ["bad \ud800"]),
    ("categories", [None]), ("duration_seconds", -1), ("duration_seconds", "600"), ("duration_seconds", math.inf),
    ("duration_seconds", True), ("channel_video_count", -1), ("channel_video_count", 2.5),
    ("channel_video_count", "3"), ("channel_video_count", None), ("channel_video_count", 10**400),
    ("channel_avg_views", -5), ("channel_avg_views", math.inf), ("channel_avg_views", "many"),
    ("channel_avg_views", None), ("published_at", "not a date"), ("published_at", "1900-01-01"),
    ("published_at", "2100-01-01"), ("published_at", 5), ("published_at", True), ("published_at", "9" * 65),
    ("days_since_publish", 0), ("days_since_publish", -1), ("days_since_publish", 3651),
    ("days_since_publish", "7"), ("days_since_publish", math.inf), ("definition", "4k"), ("definition", 5),
    ("made_for_kids", "maybe"), ("made_for_kids", 2), ("default_language", 5), ("audio_language", "x" * 1001),
]


@pytest.mark.parametrize("field, value", BROKEN_RULES)
def test_a_single_call_and_a_one_row_batch_give_the_same_message(folder, field, value):
    call = {**README_CALL, "published_at": "2026-03-01T15:00:00Z", "days_since_publish": 3.0, field: value}
    with pytest.raises(ValueError) as single:
        predict.predict_performance(**call, artifacts_dir=folder)
    assert str(single.value).startswith(f"{field}: ")
    row = {key: value for key, value in call.items() if key != "model_type"}
    try:
        rows = pd.DataFrame([row])
    except UnicodeEncodeError:  # pandas' text columns cannot hold a lone surrogate; an object column can
        rows = pd.DataFrame([row], dtype=object)
    with pytest.raises(ValueError) as batch:
        predict.predict_batch(rows, artifacts_dir=folder)
    assert str(batch.value) == f"rows[0].{single.value}"


def test_a_table_reads_empty_cells_as_not_given_and_lists_as_text(folder):
    call = {**README_CALL, "published_at": "2026-03-01T15:00:00Z"}
    rows = pd.DataFrame([{**call, "duration_seconds": math.nan, "days_since_publish": math.nan,
                          "tags": " makeup, diy,"}]).drop(columns="model_type")
    single = predict.predict_performance(**{**call, "duration_seconds": None, "tags": ["makeup", "diy"]},
                                         artifacts_dir=folder)
    out = predict.predict_batch(rows, artifacts_dir=folder)
    assert out["days_since_publish"].iloc[0] == single["days_since_publish"] == 7.0
    assert out["predicted_views"].iloc[0] == pytest.approx(single["predicted_views"], rel=1e-9)


def test_no_artifacts_says_train_first(tmp_path):
    with pytest.raises(ValueError, match="train first"):
        predict.predict_performance(**README_CALL, artifacts_dir=tmp_path / "nothing")


def test_deep_model_missing_from_bundle(folder):
    with pytest.raises(ValueError, match="deep_learning"):
        predict.predict_performance(**{**README_CALL, "model_type": "deep_learning"}, artifacts_dir=folder)


def test_bundle_loads_once(folder):
    assert predict.load_bundle(folder) is predict.load_bundle(folder)


def test_batch_matches_single_calls(folder, tmp_path):
    rows = pd.DataFrame([
        {**{k: v for k, v in README_CALL.items() if k != "model_type"}, "video_id": "a",
         "published_at": "2026-03-01T15:00:00Z"},
        {"video_id": "b", "title": "Top 10 goals", "tags": ["football"], "categories": ["Sports"],
         "duration_seconds": 300, "channel_avg_views": 1e6, "channel_video_count": 100,
         "published_at": "2026-03-02", "days_since_publish": 3, "default_language": "en"},
    ])
    out = predict.predict_batch(rows, "ensemble", artifacts_dir=folder)
    assert list(out["video_id"]) == ["a", "b"] and (out["predicted_views"] > 0).all()
    single = predict.predict_performance(**README_CALL, artifacts_dir=folder, published_at="2026-03-01T15:00:00Z")
    assert out["predicted_views"].iloc[0] == pytest.approx(single["predicted_views"], rel=1e-5)
    csv = tmp_path / "rows.csv"
    rows.assign(tags=rows["tags"].map(",".join), categories=rows["categories"].map(",".join)).to_csv(csv, index=False)
    from_csv = predict.predict_batch(csv, artifacts_dir=folder)
    np.testing.assert_allclose(from_csv["predicted_views"], out["predicted_views"], rtol=1e-5)
    with pytest.raises(ValueError, match=r"rows\[1\]\.duration_seconds"):
        predict.predict_batch(rows.assign(duration_seconds=[600, -3]), artifacts_dir=folder)
    for column, values, where in (("title", ["ok", " "], r"rows\[1\]\.title"),
                                  ("channel_video_count", [1.5, 2], r"rows\[0\]\.channel_video_count"),
                                  ("published_at", ["2026-01-01", "soon"], r"rows\[1\]\.published_at"),
                                  ("tags", [["a"], ["b", 7]], r"rows\[1\]\.tags"),
                                  ("made_for_kids", [None, "perhaps"], r"rows\[1\]\.made_for_kids")):
        with pytest.raises(ValueError, match=where):
            predict.predict_batch(rows.assign(**{column: values}), artifacts_dir=folder)
    no_dates = predict.predict_batch(rows.drop(columns=["published_at", "days_since_publish"]), artifacts_dir=folder)
    assert (no_dates["days_since_publish"] == 7.0).all()
    with pytest.raises(ValueError, match="missing column"):
        predict.predict_batch(rows.drop(columns=["title"]), artifacts_dir=folder)


def test_cli_prints_json(folder, capsys):
    code = predict.main(["--title", "Amazing makeup tutorial for beginners", "--tags", "makeup,tutorial",
                         "--categories", "Howto & Style", "--duration", "600", "--channel-avg-views", "50000",
                         "--channel-video-count", "25", "--artifacts", str(folder), "--caption-available", "true"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["predicted_views"] > 0
    code = predict.main(["--title", "", "--artifacts", str(folder)])
    assert code == 2 and "title" in capsys.readouterr().err


def test_every_prediction_reports_its_model_age_and_warns_past_the_backtest(folder, caplog):
    manifest = json.loads((folder / "manifest.json").read_text())
    cut = pd.Timestamp(manifest["training_window"]["observed_to"])
    soon = cut + pd.Timedelta(days=10)
    result = predict.predict_performance(**README_CALL, artifacts_dir=folder, published_at=soon.isoformat())
    assert result["model_age_days"] == pytest.approx(10.0, abs=1e-6)
    caplog.clear()
    bundle.clear_cache()  # a fresh process: earlier tests' calls (published now) have had the warning
    with caplog.at_level("WARNING", logger="videoperf.predict"):
        late = cut + pd.Timedelta(days=200)
        predict.predict_performance(**README_CALL, artifacts_dir=folder, published_at=late.isoformat())
    assert any("after the training data ends" in r.getMessage() for r in caplog.records)
    rows = pd.DataFrame([{k: v for k, v in README_CALL.items() if k != "model_type"}] * 2)
    rows["published_at"] = [soon.isoformat(), (cut - pd.Timedelta(days=5)).isoformat()]
    batch = predict.predict_batch(rows, artifacts_dir=folder)
    np.testing.assert_allclose(batch["model_age_days"], [10.0, -5.0], atol=1e-6)


def _age_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "after the training data ends" in r.getMessage()]


def test_the_model_age_warning_is_said_once_per_bundle(folder, tmp_path, caplog):
    copy = tmp_path / "same_bundle_elsewhere"
    shutil.copytree(folder, copy)
    cut = pd.Timestamp(json.loads((folder / "manifest.json").read_text())["training_window"]["observed_to"])
    late = (cut + pd.Timedelta(days=200)).isoformat()
    rows = pd.DataFrame([{k: v for k, v in README_CALL.items() if k != "model_type"}] * 3).assign(published_at=late)
    bundle.clear_cache()  # a fresh process
    with caplog.at_level("WARNING", logger="videoperf.predict"):
        ages = [predict.predict_performance(**README_CALL, artifacts_dir=folder, published_at=late)["model_age_days"]
                for _ in range(300)]
        predict.predict_batch(rows, artifacts_dir=folder)
        assert len(_age_warnings(caplog)) == 1 and str(folder) in _age_warnings(caplog)[0]
        for _ in range(3):
            predict.predict_performance(**README_CALL, artifacts_dir=copy, published_at=late)
        predict.predict_batch(rows, artifacts_dir=copy)
    warned = _age_warnings(caplog)
    assert len(warned) == 2 and str(copy) in warned[1]
    np.testing.assert_allclose(ages, 200.0, atol=1e-6)  # every result still says how old the model is
