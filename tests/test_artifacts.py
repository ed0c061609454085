"""The artifact bundle: its files, manifest, atomic writes, hashes checked before unpickling."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
from _tiny import tiny_config

import model_update
from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic
from videoperf.models import artifacts
from videoperf.models.registry import FAMILIES
from videoperf.serving.bundle import FEATURES_FILE, OBSERVED_FILE, bundle_files

ENSEMBLE_FILE = FAMILIES["ensemble"].artifact
SCALER_FILE, STAGE_FILE = FAMILIES["deep_learning"].extra_files


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle") / "artifacts"
    folder.mkdir()
    (folder / "README.md").write_text("kept\n")
    raw, _ = generate_synthetic(600, seed=4, end=REAL_EXPORT_END)
    result = model_update.train(raw, "fast", folder, models=("ensemble",), progress=False, config=tiny_config())
    return folder, result


def test_bundle_has_the_contract_files_and_manifest(bundle):
    folder, result = bundle
    names = {p.name for p in folder.iterdir()}
    assert {ENSEMBLE_FILE, FEATURES_FILE, artifacts.MANIFEST_FILE} <= names
    assert not {SCALER_FILE, STAGE_FILE} & names  # the deep model's files, which nothing here would read
    assert "README.md" in names  # non-bundle files survive a rewrite
    assert not [p for p in folder.parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    manifest = json.loads((folder / artifacts.MANIFEST_FILE).read_text())
    assert manifest["models"] == ["ensemble"]
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == artifacts.sha256_file(folder / name)
    assert "README.md" not in manifest["files"]
    assert {"numpy", "scikit-learn", "lightgbm"} <= set(manifest["libraries"])
    assert manifest["config"]["preset"]["ensemble"]["max_train_rows"] > 0
    assert manifest["data"]["videos"] > 0 and manifest["data"]["sha256"]
    stack = manifest["metrics"]["oof"]["ensemble"]["stack"]
    assert stack["r2"] == pytest.approx(result["oof"]["ensemble"]["stack"]["r2"])
    assert manifest["feature_names"][0] == "log_age" and manifest["training_window"]["observed_to"]


def _copy(folder, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def test_one_changed_byte_fails_before_unpickling(bundle, tmp_path, monkeypatch):
    folder = _copy(bundle[0], tmp_path)
    path = folder / ENSEMBLE_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    unpickled = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: unpickled.append(1))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: unpickled.append(1))
    with pytest.raises(ValueError, match=ENSEMBLE_FILE):
        artifacts.verify_bundle(folder)
    import predict

    with pytest.raises(ValueError, match="video_performance_ensemble.pkl"):
        predict.load_bundle(folder)
    assert not unpickled


def test_missing_file_fails_with_its_name(bundle, tmp_path):
    folder = _copy(bundle[0], tmp_path)
    (folder / FEATURES_FILE).unlink()
    with pytest.raises(ValueError, match="feature_pipeline.pkl.*missing"):
        artifacts.verify_bundle(folder)
    (folder / artifacts.MANIFEST_FILE).unlink()
    with pytest.raises(ValueError, match="manifest.json.*train first"):
        artifacts.verify_bundle(folder)


def test_rewrite_is_atomic_and_keeps_other_files(tmp_path):
    target = tmp_path / "art"
    writers = {FEATURES_FILE: artifacts.write_pickle({"v": 1}), STAGE_FILE: artifacts.write_pickle([])}
    known = bundle_files()
    artifacts.write_bundle(target, writers, {"note": "first"}, known=known)
    (target / "README.md").write_text("hello")

    def broken(path):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        artifacts.write_bundle(target, {**writers, ENSEMBLE_FILE: broken}, {"note": "second"}, known=known)
    manifest = artifacts.verify_bundle(target)  # the old bundle is untouched
    assert manifest["note"] == "first" and (target / "README.md").read_text() == "hello"
    artifacts.write_bundle(target, {**writers, FEATURES_FILE: artifacts.write_pickle({"v": 2})}, {}, known=known)
    manifest = artifacts.verify_bundle(target)
    assert artifacts.load_pickle(target, FEATURES_FILE, manifest) == {"v": 2}
    assert (target / "README.md").read_text() == "hello"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]
    with pytest.raises(ValueError, match="not bundle files"):
        artifacts.write_bundle(target, {**writers, "model.bin": broken}, {}, known=known)


@pytest.mark.parametrize("old_module", ["videoperf.features.content", "videoperf.content_features"])
def test_a_function_that_left_its_module_still_unpickles(tmp_path, monkeypatch, old_module):
    from sklearn.feature_extraction.text import TfidfVectorizer

    from videoperf.features import content
    from videoperf.features.content_tokens import tag_tokens

    # A bundle written before the split (or the subpackages) names the tag analyzer by its module then.
    data = pickle.dumps(TfidfVectorizer(analyzer=tag_tokens), protocol=0)
    data = data.replace(b"videoperf.features.content_tokens\ntag_tokens", old_module.encode() + b"\ntag_tokens")
    assert b"content_tokens" not in data
    monkeypatch.delattr(content, "tag_tokens", raising=False)  # found through the map, not an incidental import
    artifacts.write_bundle(tmp_path / "old", {FEATURES_FILE: lambda path: path.write_bytes(data)}, {},
                           known=bundle_files())
    loaded = artifacts.load_pickle(tmp_path / "old", FEATURES_FILE, artifacts.verify_bundle(tmp_path / "old"))
    assert loaded.analyzer is tag_tokens


def test_unknown_model_family_is_rejected(tmp_path):
    raw, _ = generate_synthetic(100, seed=1, end=REAL_EXPORT_END)
    with pytest.raises(ValueError, match="models"):
        model_update.train(raw, "fast", tmp_path / "a", models=("svm",), progress=False)


# ------------------------------------------------------------------------- every file is read by inference
CALL = dict(title="Amazing makeup tutorial for beginners", tags=["makeup", "tutorial"], categories=["Howto & Style"],
            duration_seconds=600, channel_avg_views=50000, channel_video_count=25,
            published_at="2026-03-01T15:00:00Z", days_since_publish=3.0)


def _predict_both(folder):
    import predict
    from videoperf.serving import bundle

    bundle.clear_cache()
    out = {model: predict.predict_performance(**CALL, model_type=model, artifacts_dir=folder)
           for model in ("ensemble", "deep_learning")}
    # A published video's observed days: the forecaster from observed days answers.
    out["observed"] = predict.predict_performance(**CALL, artifacts_dir=folder,
                                                  observed=[{"days_since_publish": 1.0, "views": 20000}])
    return out


def _repickle(folder, name, change):
    """Load one pickle of the bundle, ``change`` it, write it back and record its new hash."""
    manifest = artifacts.verify_bundle(folder)
    obj = artifacts.load_pickle(folder, name, manifest)
    change(obj)
    (folder / name).write_bytes(pickle.dumps(obj))
    _rehash(folder, name)


def _rehash(folder, name):
    manifest = json.loads((folder / artifacts.MANIFEST_FILE).read_text())
    manifest["files"][name]["sha256"] = artifacts.sha256_file(folder / name)
    (folder / artifacts.MANIFEST_FILE).write_text(json.dumps(manifest))


def _shift_intercept(model):
    model.meta_.intercept_ += 1.0


def _shift_scaler(scaler):
    scaler.mean_ = scaler.mean_ + 3.0 * scaler.scale_


def _shift_encodings(builder):
    # The models read the title text's SVD (the target encodings are computed but excluded by default).
    builder.content_.title_svd_.components_ = builder.content_.title_svd_.components_ * 5.0
    if "category" in builder.encoders_:  # kept only when a model reads its columns
        builder.encoders_["category"].prior_ += 5.0
        builder.encoders_["category"].sums_ = builder.encoders_["category"].sums_ + 50.0


def _perturb_weights(folder):
    import torch

    checkpoint = torch.load(folder / FAMILIES["deep_learning"].artifact, weights_only=True)
    checkpoint["state_dict"]["views_head.bias"] += 2.0
    torch.save(checkpoint, folder / FAMILIES["deep_learning"].artifact)
    _rehash(folder, FAMILIES["deep_learning"].artifact)


def _shift_forecast(forecaster):
    for part in forecaster.parts_.values():
        part.curve.bias_ = part.curve.bias_ + 0.5


def _relabel_stages(encoder):
    encoder.classes_ = encoder.classes_[::-1].copy()


# file -> (how to change it, the model types whose predictions must change); the stage encoder is checked apart.
CHANGES = {
    FEATURES_FILE: (lambda f: _repickle(f, FEATURES_FILE, _shift_encodings), ("ensemble", "deep_learning")),
    ENSEMBLE_FILE: (lambda f: _repickle(f, ENSEMBLE_FILE, _shift_intercept), ("ensemble",)),
    SCALER_FILE: (lambda f: _repickle(f, SCALER_FILE, _shift_scaler), ("deep_learning",)),
    FAMILIES["deep_learning"].artifact: (_perturb_weights, ("deep_learning",)),
    OBSERVED_FILE: (lambda f: _repickle(f, OBSERVED_FILE, _shift_forecast), ("observed",)),
}


def test_inference_reads_every_file_of_the_bundle(full_bundle, tmp_path, monkeypatch):
    import shutil

    manifest = artifacts.verify_bundle(full_bundle)
    assert set(manifest["files"]) == {FEATURES_FILE, ENSEMBLE_FILE, SCALER_FILE, STAGE_FILE,
                                      FAMILIES["deep_learning"].artifact, OBSERVED_FILE}
    assert set(manifest["files"]) | {artifacts.MANIFEST_FILE} <= set(bundle_files())
    # Which files loading and predicting with both models opens (hashing aside): every one.
    opened = []
    real_load_pickle = artifacts.load_pickle
    monkeypatch.setattr(artifacts, "load_pickle", lambda folder, name, m: opened.append(name) or
                        real_load_pickle(folder, name, m))
    import torch

    real_torch_load = torch.load
    monkeypatch.setattr(torch, "load", lambda path, *a, **k: opened.append(Path(path).name) or
                        real_torch_load(path, *a, **k))
    baseline = _predict_both(full_bundle)
    assert sorted(opened) == sorted(manifest["files"])
    monkeypatch.undo()
    # What each file holds changes what inference returns.
    for name, (change, affected) in CHANGES.items():
        folder = tmp_path / name
        shutil.copytree(full_bundle, folder)
        change(folder)
        changed = _predict_both(folder)
        for model in ("ensemble", "deep_learning", "observed"):
            moved = changed[model]["predicted_views"] != pytest.approx(baseline[model]["predicted_views"], rel=1e-9)
            assert moved == (model in affected), (name, model, changed[model], baseline[model])
    # The stage encoder decodes the stage head: one whose labels do not match the model's is refused by name.
    folder = tmp_path / STAGE_FILE
    shutil.copytree(full_bundle, folder)
    encoder = artifacts.load_pickle(folder, STAGE_FILE, artifacts.verify_bundle(folder))
    assert sorted(encoder.classes_) == ["decay", "growth", "peak"]
    assert set(baseline["deep_learning"]["stage_probabilities"]) == set(encoder.classes_)
    assert baseline["deep_learning"]["lifecycle_stage"] in encoder.classes_
    _repickle(folder, STAGE_FILE, _relabel_stages)
    with pytest.raises(artifacts.ArtifactError, match="stage_encoder.pkl decodes the stages"):
        _predict_both(folder)
    assert len(CHANGES) + 1 == len(manifest["files"])  # a new file needs its own check here


def test_manifest_records_the_settings_training_used(full_bundle):
    manifest = json.loads((full_bundle / artifacts.MANIFEST_FILE).read_text())
    assert manifest["config"]["seed"] == 5 and manifest["config"]["speed"] == "fast"
    assert manifest["config"]["models"] == ["ensemble", "deep_learning"] == manifest["models"]
    assert manifest["config"]["preset"]["deep"]["encoder"] == "tiny"
