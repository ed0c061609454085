"""The artifact bundle: names of DESIGN.md, manifest, atomic writes, hashes checked before unpickling."""

from __future__ import annotations

import json
import pickle

import pytest
from _tiny import tiny_config

import model_update
from videoperf import artifacts
from videoperf.synthetic import generate_synthetic


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle") / "artifacts"
    folder.mkdir()
    (folder / "README.md").write_text("kept\n")
    raw, _ = generate_synthetic(600, seed=4)
    result = model_update.train(raw, "fast", folder, models=("ensemble",), progress=False, config=tiny_config())
    return folder, result


def test_bundle_has_the_contract_files_and_manifest(bundle):
    folder, result = bundle
    names = {p.name for p in folder.iterdir()}
    assert {artifacts.ENSEMBLE_FILE, artifacts.FEATURES_FILE, artifacts.STAGE_FILE, artifacts.MANIFEST_FILE} <= names
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
    encoder = artifacts.load_pickle(folder, artifacts.STAGE_FILE, artifacts.verify_bundle(folder))
    assert sorted(encoder.classes_) == ["decay", "growth", "peak"]


def _copy(folder, tmp_path):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


def test_one_changed_byte_fails_before_unpickling(bundle, tmp_path, monkeypatch):
    folder = _copy(bundle[0], tmp_path)
    path = folder / artifacts.ENSEMBLE_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    unpickled = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: unpickled.append(1))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: unpickled.append(1))
    with pytest.raises(ValueError, match=artifacts.ENSEMBLE_FILE):
        artifacts.verify_bundle(folder)
    import predict

    with pytest.raises(ValueError, match="video_performance_ensemble.pkl"):
        predict.load_bundle(folder)
    assert not unpickled


def test_missing_file_fails_with_its_name(bundle, tmp_path):
    folder = _copy(bundle[0], tmp_path)
    (folder / artifacts.FEATURES_FILE).unlink()
    with pytest.raises(ValueError, match="numeric_scaler.pkl.*missing"):
        artifacts.verify_bundle(folder)
    (folder / artifacts.MANIFEST_FILE).unlink()
    with pytest.raises(ValueError, match="manifest.json.*train first"):
        artifacts.verify_bundle(folder)


def test_rewrite_is_atomic_and_keeps_other_files(tmp_path):
    target = tmp_path / "art"
    writers = {artifacts.FEATURES_FILE: artifacts.write_pickle({"v": 1}),
               artifacts.STAGE_FILE: artifacts.write_pickle([])}
    artifacts.write_bundle(target, writers, {"note": "first"})
    (target / "README.md").write_text("hello")

    def broken(path):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        artifacts.write_bundle(target, {**writers, artifacts.ENSEMBLE_FILE: broken}, {"note": "second"})
    manifest = artifacts.verify_bundle(target)  # the old bundle is untouched
    assert manifest["note"] == "first" and (target / "README.md").read_text() == "hello"
    artifacts.write_bundle(target, {**writers, artifacts.FEATURES_FILE: artifacts.write_pickle({"v": 2})}, {})
    manifest = artifacts.verify_bundle(target)
    assert artifacts.load_pickle(target, artifacts.FEATURES_FILE, manifest) == {"v": 2}
    assert (target / "README.md").read_text() == "hello"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]
    with pytest.raises(ValueError, match="not bundle files"):
        artifacts.write_bundle(target, {**writers, "model.bin": broken}, {})


def test_unknown_model_family_is_rejected(tmp_path):
    raw, _ = generate_synthetic(100, seed=1)
    with pytest.raises(ValueError, match="models"):
        model_update.train(raw, "fast", tmp_path / "a", models=("svm",), progress=False)
