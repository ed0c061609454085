"""Forecasts from observed days through the product: predict_performance(observed=...), predict_trajectory, the
batch columns, the CLI, the REST service and ``model_update.py evaluate --observed K``, on a tiny bundle."""

from __future__ import annotations

import json
import shutil

import httpx
import numpy as np
import pandas as pd
import pytest
from _tiny import tiny_config

import model_update
import predict
from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic
from videoperf.models import artifacts
from videoperf.serving import bundle, service
from videoperf.serving.bundle import OBSERVED_FILE
from videoperf.training import settings

VIDEO = dict(title="Amazing makeup tutorial for beginners", tags=["makeup", "tutorial", "beauty"],
             categories=["Howto & Style"], duration_seconds=600, channel_avg_views=50000, channel_video_count=25,
             published_at="2026-03-01T15:00:00Z")
TWO_DAYS = [{"days_since_publish": 1.0, "views": 52000, "likes": 1800, "comments": 90},
            {"days_since_publish": 2.0, "views": 70000}]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("observed_api") / "artifacts"
    raw, _ = generate_synthetic(600, seed=21, end=REAL_EXPORT_END)
    model_update.train(raw, "fast", folder, models=("ensemble",), progress=False, config=tiny_config())
    return folder


def _call(folder, **extra):
    return predict.predict_performance(**VIDEO, artifacts_dir=folder, **extra)


def test_bundle_holds_the_forecaster_hashed_in_the_manifest(folder):
    manifest = artifacts.verify_bundle(folder)
    assert OBSERVED_FILE in manifest["files"]
    assert manifest["observed_forecaster"]["training_videos"] > 100
    assert manifest["observed_forecaster"]["shape"] in ("exp", "power")


def test_requests_without_observations_do_not_load_the_forecaster(folder):
    bundle.clear_cache()
    _call(folder, days_since_publish=7)
    predict.predict_batch(pd.DataFrame([VIDEO]), artifacts_dir=folder)
    assert OBSERVED_FILE not in bundle.load_bundle(folder)._models
    _call(folder, observed=TWO_DAYS)
    assert OBSERVED_FILE in bundle.load_bundle(folder)._models


def test_observations_move_the_prediction_toward_them(folder):
    before = _call(folder, days_since_publish=7)
    for factor in (0.05, 5.0):  # observed far below / above what the model expects
        seen = [{"days_since_publish": 1.0, "views": before["predicted_views"] * factor * 0.4}]
        after = _call(folder, days_since_publish=7, observed=seen)
        assert after["prior_predicted_views"] == pytest.approx(before["predicted_views"])
        assert (after["predicted_views"] < before["predicted_views"]) == (factor < 1)
        assert after["views_lo"] <= after["predicted_views"] <= after["views_hi"]
        assert after["predicted_views"] >= seen[0]["views"] and after["views_lo"] >= seen[0]["views"]
        assert after["observed_used"] == 1 and after["last_observed_views"] == seen[0]["views"]
        assert after["curve_stage"] in ("growth", "peak", "decay") and "forecast_basis" in after
        for key in ("model_type", "days_since_publish", "published_at", "interval_coverage", "model_age_days"):
            assert after[key] == before[key]
    # Two observations: the second one (more recent) is the anchor; order of the list does not matter.
    two = _call(folder, days_since_publish=30, observed=TWO_DAYS)
    assert two == _call(folder, days_since_publish=30, observed=TWO_DAYS[::-1])
    assert two["observed_used"] == 2 and two["predicted_views"] >= 70000
    assert _call(folder, days_since_publish=7, observed=[])["predicted_views"] == before["predicted_views"]


def test_trajectory_is_monotone_to_a_year_and_never_below_the_last_observation(folder):
    for observed in (None, TWO_DAYS[:1], TWO_DAYS):
        result = predict.predict_trajectory(**VIDEO, artifacts_dir=folder, observed=observed)
        points = pd.DataFrame(result["points"])
        assert points["days_since_publish"].iloc[0] == 0.25 and points["days_since_publish"].iloc[-1] == 365
        for column in ("views", "views_lo", "views_hi"):
            assert np.isfinite(points[column]).all()
            assert (np.diff(points[column]) >= 0).all(), (observed, column)
        assert (points["views_lo"] <= points["views"]).all() and (points["views"] <= points["views_hi"]).all()
        assert set(points["stage"]) <= {"growth", "peak", "decay"} and points["stage"].iloc[-1] == "decay"
        if observed:
            last = max(o["views"] for o in observed)
            assert (points["views"] >= last).all() and (points["views_lo"] >= last).all()
            assert result["observed_used"] == len(observed) and result["last_observed_views"] == last
    ages = predict.predict_trajectory(**VIDEO, artifacts_dir=folder, observed=TWO_DAYS, ages=[30, 3, 7])
    assert [p["days_since_publish"] for p in ages["points"]] == [3, 7, 30]
    at_7 = _call(folder, days_since_publish=7, observed=TWO_DAYS)
    assert ages["points"][1]["views"] == pytest.approx(at_7["predicted_views"], rel=1e-9)


def test_batch_columns_equal_single_calls(folder):
    rows = pd.DataFrame([{**VIDEO, "video_id": f"v{i}", "days_since_publish": age} for i, age in
                         enumerate([2.0, 7.0, 30.0, 5.0])])
    rows["observed_days"] = [1.0, np.nan, 3.0, 1.5]
    rows["observed_views"] = [52000, np.nan, 90000, 20000]
    rows["observed_likes"] = [1800, np.nan, np.nan, 500]
    out = predict.predict_batch(rows, artifacts_dir=folder)
    assert out["observed_used"].tolist() == [1, 0, 1, 1]
    for i, row in rows.iterrows():
        seen = None
        if np.isfinite(row["observed_days"]):
            seen = [{"days_since_publish": row["observed_days"], "views": row["observed_views"],
                     "likes": None if np.isnan(row["observed_likes"]) else row["observed_likes"]}]
        single = _call(folder, days_since_publish=row["days_since_publish"], observed=seen)
        for key in ("predicted_views", "views_lo", "views_hi"):
            assert out.loc[i, key] == pytest.approx(single[key], rel=1e-6), (i, key)
    plain = predict.predict_batch(rows.drop(columns=["observed_days", "observed_views", "observed_likes"]),
                                  artifacts_dir=folder)
    assert plain["predicted_views"].iloc[1] == pytest.approx(out["predicted_views"].iloc[1])
    assert "observed_used" not in plain
    with pytest.raises(ValueError, match=r"rows\[0\].observed_views: missing"):
        predict.predict_batch(rows.assign(observed_views=[np.nan, np.nan, 1.0, 1.0]), artifacts_dir=folder)
    with pytest.raises(ValueError, match=r"rows: column\(s\) \['observed_days'\] given without"):
        predict.predict_batch(rows.drop(columns=["observed_views", "observed_likes"]), artifacts_dir=folder)
    with pytest.raises(ValueError, match=r"rows\[2\].observed_days: expected a number, got str 'soon'"):
        predict.predict_batch(rows.assign(observed_days=[1.0, None, "soon", 1.0]), artifacts_dir=folder)


@pytest.mark.parametrize(("observed", "message"), [
    ({"days_since_publish": 1, "views": 5}, r"observed: expected a list of observations"),
    ([{"days_since_publish": -1.0, "views": 5}], r"observed\[0\].days_since_publish: must be in \(0, 3650\]"),
    ([{"days_since_publish": 1.0, "views": 500}, {"days_since_publish": 2.0, "views": 400}],
     r"observed: views decrease with age \(500 at day 1, then 400 at day 2\)"),
    ([{"days_since_publish": 1.0, "views": "many"}], r"observed\[0\].views: expected a number, got str"),
    ([{"days_since_publish": 1.0}], r"observed\[0\].views: required"),
    ([{"days_since_publish": 1.0, "views": 5, "likes": -2}], r"observed\[0\].likes: must be >= 0"),
    ([{"days_since_publish": 1.0, "views": 5, "shares": 2}], r"observed\[0\].shares: unknown key"),
    ([{"days_since_publish": 1.0, "views": 5}, {"days_since_publish": 1.0, "views": 6}], r"two observations at"),
    ([5], r"observed\[0\]: expected a dict"),
])
def test_bad_observations_are_refused_by_name(folder, observed, message):
    with pytest.raises(ValueError, match=message):
        _call(folder, observed=observed)
    with pytest.raises(ValueError, match=message):
        predict.predict_trajectory(**VIDEO, artifacts_dir=folder, observed=observed)


def test_bad_ages_are_refused_by_name(folder):
    for ages, message in (([0.0], r"ages\[0\]: must be in"), ("7", r"ages: expected a list"),
                          ([1, "x"], r"ages\[1\]: expected a number")):
        with pytest.raises(ValueError, match=message):
            predict.predict_trajectory(**VIDEO, artifacts_dir=folder, ages=ages)


def test_a_bundle_without_the_forecaster_says_so(folder, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    (old / OBSERVED_FILE).unlink()
    manifest = json.loads((old / artifacts.MANIFEST_FILE).read_text())
    del manifest["files"][OBSERVED_FILE]
    (old / artifacts.MANIFEST_FILE).write_text(json.dumps(manifest))
    bundle.clear_cache()
    assert _call(old, days_since_publish=7)["predicted_views"] == _call(folder, days_since_publish=7)["predicted_views"]
    with pytest.raises(ValueError, match=r"observed: the bundle in .* has no forecaster from observed days"):
        _call(old, observed=TWO_DAYS)
    assert all(isinstance(r, ValueError) for r in predict.predict_many([{**VIDEO, "observed": TWO_DAYS}],
                                                                        artifacts_dir=old))
    trajectory = predict.predict_trajectory(**VIDEO, artifacts_dir=old)  # the model's own, without observations
    assert len(trajectory["points"]) == 18 and trajectory["observed_used"] == 0


def test_rest_predict_and_trajectory(folder):
    expected = _call(folder, days_since_publish=7, observed=TWO_DAYS)
    app = service.create_app(folder, api_key="")
    with service.serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        got = http.post("/predict", json={**VIDEO, "days_since_publish": 7, "observed": TWO_DAYS})
        assert got.status_code == 200, got.text
        assert got.json()["predicted_views"] == pytest.approx(expected["predicted_views"], rel=1e-9)
        assert got.json()["observed_used"] == 2
        plain = http.post("/predict", json={**VIDEO, "days_since_publish": 7}).json()
        assert plain["predicted_views"] == pytest.approx(expected["prior_predicted_views"], rel=1e-9)
        assert "observed_used" not in plain
        trajectory = http.post("/trajectory", json={**VIDEO, "observed": TWO_DAYS, "ages": [3, 7, 30]})
        assert trajectory.status_code == 200, trajectory.text
        assert trajectory.json()["points"][1]["views"] == pytest.approx(expected["predicted_views"], rel=1e-9)
        bad = http.post("/predict", json={**VIDEO, "observed": [{"days_since_publish": 2, "views": 9},
                                                                 {"days_since_publish": 3, "views": 1}]})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "observed"]
        assert "views decrease with age" in bad.json()["detail"][0]["msg"]
        items = [{**VIDEO, "video_id": "a", "observed_days": 1.0, "observed_views": 52000.0},
                 {**VIDEO, "video_id": "b"}]
        batch = http.post("/predict/batch", json={"items": items}).json()["predictions"]
        single = _call(folder, observed=[{"days_since_publish": 1.0, "views": 52000.0}])
        assert batch[0]["predicted_views"] == pytest.approx(single["predicted_views"], rel=1e-9)
        assert batch[1]["observed_used"] == 0


def test_cli_observed_and_trajectory(folder, tmp_path, capsys):
    base = ["--title", VIDEO["title"], "--tags", "makeup,tutorial,beauty", "--categories", "Howto & Style",
            "--duration", "600", "--channel-avg-views", "50000", "--channel-video-count", "25",
            "--published-at", VIDEO["published_at"], "--artifacts", str(folder)]
    assert predict.main([*base, "--days", "7", "--observed", json.dumps(TWO_DAYS)]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = _call(folder, days_since_publish=7, observed=TWO_DAYS)
    assert printed["predicted_views"] == pytest.approx(expected["predicted_views"], rel=1e-9)
    path = tmp_path / "observed.json"
    path.write_text(json.dumps(TWO_DAYS))
    assert predict.main([*base, "--trajectory", "--ages", "3,7,30", "--observed", str(path)]) == 0
    points = json.loads(capsys.readouterr().out)["points"]
    assert points[1]["views"] == pytest.approx(expected["predicted_views"], rel=1e-9)
    assert predict.main([*base, "--observed", "[{\"days_since_publish\": -1, \"views\": 3}]"]) == 2
    assert "observed[0].days_since_publish" in capsys.readouterr().err
    assert predict.main([*base, "--observed", "not json"]) == 2
    assert "observed: neither a JSON list" in capsys.readouterr().err


def test_evaluate_observed_k(tmp_path, monkeypatch, capsys):
    config = tiny_config()
    monkeypatch.setattr(settings, "load_config", lambda *a, **k: config)
    raw, _ = generate_synthetic(600, seed=8, end=REAL_EXPORT_END)
    source = tmp_path / "raw.csv"
    raw.to_csv(source, index=False)
    snapshots = model_update.load_data(raw)
    split = str(snapshots["published_at"].quantile(0.6).date())
    csv, report = tmp_path / "pred.csv", tmp_path / "report.json"
    code = model_update.main(["evaluate", "--data", str(source), "--split-date", split, "--quiet", "--models",
                              "ensemble", "--observed", "2,1", "--predictions", str(csv), "--report", str(report)])
    assert code == 0, capsys.readouterr().err
    assert "From observed days" in capsys.readouterr().out
    frame = pd.read_csv(csv)
    assert sorted(set(frame["observed_used"])) == [1, 2]
    frame = frame[frame["observed_used"] == 2]
    assert {"observed_days", "observed_views", "predicted_views", "views_lo", "views_hi", "actual_views",
            "sh_predicted_views", "ensemble_prior_predicted_views"} <= set(frame.columns)
    test = snapshots[snapshots["published_at"] >= pd.Timestamp(split, tz="UTC")]
    counts = test.groupby("video_id").size()
    assert len(frame) == int((counts > 2).sum()) and set(frame["video_id"]) == set(counts.index[counts > 2])
    assert (frame["observed_days"] < frame["age_days"]).all()
    assert (frame["predicted_views"] >= frame["observed_views"]).all()
    by_k = {entry["k"]: entry for entry in json.loads(report.read_text())["observed"]}
    observed = by_k[2]
    assert sorted(by_k) == [1, 2] and observed["videos"] == len(frame) < by_k[1]["videos"]
    metrics = observed["metrics"]
    assert set(metrics) == {"curve", "szabo_huberman", "ensemble (no observations)"}
    # Two observed days say more about a video's views than anything known before publishing.
    assert metrics["curve"]["views_log_mae"] < metrics["ensemble (no observations)"]["views_log_mae"]
    assert 0 < metrics["curve"]["interval_coverage"] <= 1
    assert model_update.main(["evaluate", "--data", str(source), "--split-date", split, "--quiet",
                              "--observed", "0"]) == 2
    assert "observed: the number of observations" in capsys.readouterr().err
