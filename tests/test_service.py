"""The REST service (serving.service) over real HTTP: a uvicorn server on a free loopback port, httpx calls."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from _tiny import tiny_config

import model_update
import predict
from videoperf.config import Config
from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic
from videoperf.serving import predictions, rules, service, service_schemas

ROOT = Path(__file__).resolve().parents[1]
BODY: dict[str, Any] = dict(title="Amazing makeup tutorial for beginners", tags=["makeup", "tutorial", "beauty"],
                            categories=["Howto & Style"], duration_seconds=600, channel_avg_views=50000,
                            channel_video_count=25, published_at="2026-03-01T15:00:00Z")


def service_config() -> Config:
    """The tiny test configuration, with the deep model (where it is trainable) on the tiny random encoder."""
    config = tiny_config(1500)
    presets = {}
    for speed, preset in config.presets.items():
        deep = dataclasses.replace(preset.deep, encoder="tiny", epochs=1, hidden_dim=16, batch_size=64,
                                   patience=1, max_minutes=0.5, mixed_precision=False, max_train_rows=1500)
        presets[speed] = dataclasses.replace(preset, deep=deep)
    return dataclasses.replace(config, presets=presets)


def train_bundle(folder: Path, n_videos: int = 300, seed: int = 5) -> str | None:
    """Train a tiny bundle into ``folder``: ensemble, plus the deep model when it can be trained.

    Returns why the deep model is absent (a skip reason), or None when the bundle has it.
    """
    raw, _ = generate_synthetic(n_videos, seed=seed, end=REAL_EXPORT_END)
    try:
        model_update.train(raw, "fast", folder, models=("ensemble", "deep_learning"), progress=False,
                           config=service_config())
        return None
    except NotImplementedError as error:
        model_update.train(raw, "fast", folder, models=("ensemble",), progress=False, config=service_config())
        return f"deep_learning is not trainable into a bundle yet ({error})"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> tuple[Path, str | None]:
    folder = tmp_path_factory.mktemp("service") / "artifacts"
    return folder, train_bundle(folder)


@pytest.fixture(scope="module")
def url(bundle) -> str:
    with service.serve_in_thread(service.create_app(bundle[0], api_key="")) as base:
        yield base


@pytest.fixture(scope="module")
def client(url) -> httpx.Client:
    with httpx.Client(base_url=url, timeout=30) as http:
        yield http


@pytest.mark.parametrize("model_type", ["ensemble", "deep_learning"])
def test_prediction_over_http_equals_predict_performance(bundle, client, model_type):
    if model_type == "deep_learning" and bundle[1] is not None:
        pytest.skip(bundle[1])
    body = {**BODY, "model_type": model_type, "days_since_publish": 3.5, "caption_available": True,
            "default_language": "en", "definition": "hd"}
    response = client.post("/predict", json=body)
    assert response.status_code == 200, response.text
    expected = predict.predict_performance(**body, artifacts_dir=bundle[0])
    assert response.json() == expected
    assert expected["predicted_views"] > 0 and expected["model_type"] == model_type


def test_batch_over_http_matches_single_calls(bundle, client):
    items = [{**BODY, "video_id": "a"}, {**BODY, "video_id": "b", "title": "Top 10 goals of the season",
                                          "categories": ["Sports"], "channel_video_count": 0,
                                          "channel_avg_views": None, "days_since_publish": 30}]
    response = client.post("/predict/batch", json={"model_type": "ensemble", "items": items})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["count"] == 2 and [row["video_id"] for row in result["predictions"]] == ["a", "b"]
    for item, row in zip(items, result["predictions"]):
        single = predict.predict_performance(**{k: v for k, v in item.items() if k != "video_id"},
                                             artifacts_dir=bundle[0])
        assert row["predicted_views"] == pytest.approx(single["predicted_views"], rel=1e-6)
        assert row["days_since_publish"] == single["days_since_publish"]
    empty = client.post("/predict/batch", json={"items": []})
    assert empty.status_code == 200 and empty.json()["count"] == 0


@pytest.mark.parametrize("change, field", [
    ({"title": 5}, "title"), ({"title": "   "}, "title"), ({"title": "x" * (rules.MAX_TEXT_CHARS + 1)}, "title"),
    ({"tags": "makeup,tutorial"}, "tags"), ({"tags": ["ok"] * (rules.MAX_LIST_ITEMS + 1)}, "tags"),
    ({"tags": ["ok", 3]}, "tags"), ({"duration_seconds": -1}, "duration_seconds"),
    ({"duration_seconds": "600"}, "duration_seconds"), ({"channel_avg_views": -5}, "channel_avg_views"),
    ({"channel_video_count": 2.5}, "channel_video_count"), ({"published_at": "not a date"}, "published_at"),
    ({"published_at": "1900-01-01"}, "published_at"), ({"days_since_publish": 0}, "days_since_publish"),
    ({"model_type": "svm"}, "model_type"), ({"definition": "4k"}, "definition"),
    ({"made_for_kids": "maybe"}, "made_for_kids"), ({"colour": "red"}, "colour"),
])
def test_bad_input_gets_422_naming_the_field_as_a_python_call_does(bundle, client, change, field):
    response = client.post("/predict", json={**BODY, **change})
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert errors[0]["loc"] == ["body", field], errors
    with pytest.raises(ValueError) as python:
        predict.predict_performance(**{**BODY, **change}, artifacts_dir=bundle[0])
    assert errors[0]["msg"] == str(python.value)


def test_missing_field_nan_and_malformed_json_get_422(client):
    missing = client.post("/predict", json={k: v for k, v in BODY.items() if k != "channel_video_count"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "channel_video_count"]
    nan = client.post("/predict", content=b'{"title": "x", "channel_avg_views": NaN, "channel_video_count": 3}',
                      headers={"Content-Type": "application/json"})
    assert nan.status_code == 422 and "channel_avg_views: must be a finite number" in nan.text
    broken = client.post("/predict", content=b'{"title": ', headers={"Content-Type": "application/json"})
    assert broken.status_code == 422


def test_batch_is_bounded_and_errors_name_the_item(client):
    too_many = client.post("/predict/batch", json={"items": [BODY] * (service_schemas.MAX_BATCH_ITEMS + 1)})
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["body", "items"]
    bad = client.post("/predict/batch", json={"items": [BODY, {**BODY, "duration_seconds": -3}]})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "items", 1, "duration_seconds"]
    huge = client.post("/predict", content=b"x" * (service.MAX_BODY_BYTES + 1),
                       headers={"Content-Type": "application/json"})
    assert huge.status_code == 413


def test_health_and_model(bundle, client):
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert "ensemble" in health.json()["models"]
    info = client.get("/model").json()
    assert {"scikit-learn", "lightgbm"} <= set(info["libraries"]) and "scikit-learn" in info["installed_libraries"]
    assert info["data"]["sha256"] and info["data"]["videos"] > 0
    assert info["metrics"]["oof"]["ensemble"]["stack"]["r2"] is not None
    assert set(info["files"]) >= {"numeric_scaler.pkl", "video_performance_ensemble.pkl"}


def _same(result: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Equal, floats to 1e-12 relative (a shared model pass computes rows in another order than one row)."""
    return result.keys() == expected.keys() and all(
        value == pytest.approx(expected[key], rel=1e-12) if isinstance(value, float) else value == expected[key]
        for key, value in result.items())


def test_predict_many_matches_predict_performance(bundle):
    calls = [BODY, {**BODY, "title": ""}, {**BODY, "channel_avg_views": 10.0}, {"title": "no channel"}]
    results = predict.predict_many(calls, artifacts_dir=bundle[0])
    assert isinstance(results[1], ValueError) and str(results[1]).startswith("title:")
    assert isinstance(results[3], ValueError) and "channel" in str(results[3])
    for i in (0, 2):
        assert _same(results[i], predict.predict_performance(**calls[i], artifacts_dir=bundle[0]))


def test_concurrent_requests_are_batched_and_agree(bundle, monkeypatch):
    sizes: list[int] = []
    real = predictions.predict_calls

    def recording(calls: list[dict[str, Any]], *args: Any, **kwargs: Any) -> list[Any]:
        sizes.append(len(calls))
        time.sleep(0.01)  # let requests queue up behind a pass, as under real load
        return real(calls, *args, **kwargs)

    monkeypatch.setattr(predictions, "predict_calls", recording)
    bodies = [{**BODY, "title": f"{BODY['title']} part {i}", "channel_avg_views": 1000.0 * (i + 1),
               "days_since_publish": 1 + i % 30} for i in range(48)]
    bodies[7] = {**bodies[7], "duration_seconds": -1}  # one bad request must not fail the others
    app = service.create_app(bundle[0], api_key="")
    with service.serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(lambda body: http.post("/predict", json=body), bodies))
    assert sum(sizes) == len(bodies) - 1 and max(sizes) > 1  # the bad one is refused before any model pass
    assert responses[7].status_code == 422 and responses[7].json()["detail"][0]["loc"] == ["body", "duration_seconds"]
    for i, (body, response) in enumerate(zip(bodies, responses)):
        if i != 7:
            assert response.status_code == 200, response.text
            assert _same(response.json(), predict.predict_performance(**body, artifacts_dir=bundle[0]))


def test_without_micro_batching_results_are_bit_exact(bundle):
    app = service.create_app(bundle[0], api_key="", micro_batch=False)
    expected = predict.predict_performance(**BODY, artifacts_dir=bundle[0])
    with service.serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda _: http.post("/predict", json=BODY), range(16)))
    assert all(r.status_code == 200 and r.json() == expected for r in responses)


def test_api_key_required_when_set(bundle, monkeypatch):
    monkeypatch.setenv(service.API_KEY_ENV, "s3cret-key")
    with service.serve_in_thread(service.create_app(bundle[0])) as base, httpx.Client(base_url=base) as http:
        assert http.get("/health").status_code == 200  # open: liveness probes carry no secret
        for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}, {"X-API-Key": "s3cret-key-and-more"}):
            response = http.post("/predict", json=BODY, headers=headers)
            assert response.status_code == 401 and "X-API-Key" in response.json()["detail"]
        assert http.get("/model").status_code == 401
        assert http.post("/predict", content=b"{", headers={"Content-Type": "application/json"}).status_code == 401
        good = {"X-API-Key": "s3cret-key"}
        assert http.post("/predict", json=BODY, headers=good).status_code == 200
        assert http.get("/model", headers=good).status_code == 200


def test_missing_artifacts_get_503(tmp_path):
    app = service.create_app(tmp_path / "never-trained", api_key="")
    with service.serve_in_thread(app) as base, httpx.Client(base_url=base) as http:
        assert http.get("/health").status_code == 503
        response = http.post("/predict", json=BODY)
        assert response.status_code == 503 and "train first" in response.json()["detail"]
        assert http.get("/model").status_code == 503


def test_serve_binds_loopback_by_default(monkeypatch):
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    assert predict.main(["serve", "--port", "8123", "--log-level", "warning"]) == 0
    assert calls[0]["host"] == "127.0.0.1" and calls[0]["port"] == 8123


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_predict_py_serve_command(bundle, tmp_path):
    port = _free_port()
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed below
    env = {**os.environ, service.API_KEY_ENV: ""}
    process = subprocess.Popen([sys.executable, "predict.py", "serve", "--port", str(port), "--artifacts",
                                str(bundle[0]), "--log-level", "warning"], cwd=ROOT, stdout=log, stderr=log, env=env)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.2)
        assert health.status_code == 200
        response = httpx.post(f"http://127.0.0.1:{port}/predict", json=BODY, timeout=30)
        assert response.json() == predict.predict_performance(**BODY, artifacts_dir=bundle[0])
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
