"""Robustness of the inference path: arbitrary input (hypothesis), damaged or foreign bundles, crashed saves,
many threads at once. Every failure must be a ``ValueError`` (``ArtifactError`` for bundles) with a clear
message, never an exception from deep inside pandas, torch or pickle."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_service import BODY, train_bundle

import predict
from videoperf.models import artifacts
from videoperf.models.registry import FAMILIES
from videoperf.serving import bundle as bundle_module
from videoperf.serving.bundle import FEATURES_FILE, SHARED_LIBRARIES

ENSEMBLE_FILE, DEEP_FILE = FAMILIES["ensemble"].artifact, FAMILIES["deep_learning"].artifact

ROOT = Path(__file__).resolve().parents[1]
ARGUMENTS = ("title", "tags", "categories", "duration_seconds", "channel_avg_views", "channel_video_count",
             "model_type", "published_at", "days_since_publish", "default_language", "audio_language",
             "definition", "caption_available", "licensed_content", "made_for_kids", "is_live")
SETTINGS = settings(max_examples=250, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> tuple[Path, str | None]:
    folder = tmp_path_factory.mktemp("robust") / "artifacts"
    return folder, train_bundle(folder, seed=9)


def _copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(folder, target)
    return target


# ------------------------------------------------------------------------------- property: arbitrary input
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300, max_value=10**400), st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, 2**63, -(10**400), np.float32("nan"),
                     np.int64(-1), np.array([1, 0]), np.array([]), np.array("x"), pd.NA, pd.NaT,
                     np.datetime64("NaT"), "", " ", "\ud800", "now", "2262-04-12", "1969-12-31", "9999-12-31",
                     b"bytes", 1j, {"a": 1}, {"x"}]),
    st.text(max_size=64), st.binary(max_size=8), st.dates(), st.timedeltas(),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.lists(st.one_of(st.text(max_size=8), st.integers(), st.floats(), st.none()), max_size=8),
    st.integers(0, 200_000).map(lambda n: ["tag"] * n),          # empty ... enormous lists
    st.integers(0, 2_000_000).map(lambda n: "word " * (n // 5)),  # empty ... enormous strings
)
CALL = {**BODY, "model_type": "ensemble"}


# Signed by design: a decay rate is negative when views pick up again; a model age is negative for a video
# published before the training data ends.
SIGNED = ("decay_rate", "model_age_days")


def _check_result(result: dict[str, Any], where: str = "") -> None:
    """Every number finite; every prediction but the signed ones (``SIGNED``) non-negative."""
    for key, value in result.items():
        if isinstance(value, dict):
            _check_result(value, f"{where}{key}.")
        elif isinstance(value, (float, int)) and not isinstance(value, bool):
            assert math.isfinite(value), f"{where}{key} = {value}"
            if not any(name in key for name in SIGNED):
                assert value >= 0, f"{where}{key} = {value}"


def _call(arguments: dict[str, Any], folder: Path) -> None:
    """predict_performance must either return finite, non-negative predictions or raise a ValueError whose
    message starts with the name of an argument."""
    try:
        result = predict.predict_performance(**arguments, artifacts_dir=folder)
    except ValueError as error:
        assert type(error) is ValueError, repr(error)  # not an ArtifactError, a UnicodeError, ...
        assert str(error).split(":")[0] in ARGUMENTS, str(error)
        return
    assert result["predicted_views"] >= 0
    _check_result(result)


@pytest.mark.parametrize("model_type", ["ensemble", "deep_learning"])
def test_one_arbitrary_argument_raises_only_a_named_value_error(bundle, model_type):
    if model_type == "deep_learning" and bundle[1] is not None:
        pytest.skip(bundle[1])

    @SETTINGS
    @given(name=st.sampled_from(ARGUMENTS), value=JUNK)
    @example(name="channel_avg_views", value=10**400)
    @example(name="title", value="\ud800")
    @example(name="made_for_kids", value=np.array([1, 0]))
    @example(name="tags", value=["tag"] * 1_000_000)
    @example(name="published_at", value="0001-01-01")
    def check(name: str, value: Any) -> None:
        _call({**CALL, "model_type": model_type, name: value}, bundle[0])

    check()


VALID = st.fixed_dictionaries({
    "title": st.text(min_size=1, max_size=200),
    "tags": st.none() | st.lists(st.text(max_size=30), max_size=40),
    "categories": st.none() | st.lists(st.sampled_from(["Music", "Gaming", "Sports", "Howto & Style"])
                                       | st.text(max_size=20), max_size=4),
    "duration_seconds": st.none() | st.floats(0, 1e308) | st.integers(0, 10**30),
    "channel_avg_views": st.floats(0, 1e308) | st.integers(0, 10**30),
    "channel_video_count": st.integers(1, 10**18) | st.floats(1, 1e300).map(math.floor),
    "published_at": st.none() | st.datetimes(datetime(1970, 1, 2), datetime(2099, 12, 30)).map(
        lambda d: d.replace(tzinfo=UTC)),
    "days_since_publish": st.none() | st.floats(1e-300, 3650),
    "definition": st.none() | st.sampled_from(["hd", "sd", "HD "]),
    "made_for_kids": st.none() | st.booleans(),
    "default_language": st.none() | st.text(max_size=10),
})


@pytest.mark.parametrize("model_type", ["ensemble", "deep_learning"])
def test_extreme_valid_input_gives_finite_non_negative_predictions(bundle, model_type):
    if model_type == "deep_learning" and bundle[1] is not None:
        pytest.skip(bundle[1])

    @SETTINGS
    @given(arguments=VALID)
    @example(arguments={**CALL, "duration_seconds": 1e308, "channel_avg_views": 1e308,
                        "channel_video_count": 10**18, "days_since_publish": 5e-324})
    def check(arguments: dict[str, Any]) -> None:
        _call({**arguments, "model_type": model_type}, bundle[0])

    check()


def test_batch_with_arbitrary_cells_raises_only_named_value_errors(bundle):
    rows = pd.DataFrame([{**BODY, "duration_seconds": value} for value in (600, None, math.nan)])
    assert (predict.predict_batch(rows, artifacts_dir=bundle[0])["predicted_views"] >= 0).all()
    for column, value in [("duration_seconds", math.inf), ("title", math.nan), ("tags", 5),
                          ("channel_video_count", 10**400), ("published_at", "soon"), ("made_for_kids", "maybe")]:
        bad = rows.astype(object)
        bad.loc[2, column] = value
        with pytest.raises(ValueError, match=rf"^rows\[2\]\.{column}:"):
            predict.predict_batch(bad, artifacts_dir=bundle[0])


# ------------------------------------------------------------------------------------------- damaged bundles
def _clean_error(error: BaseException) -> None:
    """An ArtifactError raised on its own: no chained traceback from torch / pickle internals."""
    assert isinstance(error, artifacts.ArtifactError), repr(error)
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def _torch_loader(folder: Path, manifest: dict[str, Any]) -> Any:
    import torch

    return torch.load(folder / DEEP_FILE, map_location="cpu", weights_only=True)


def test_truncated_pt_is_a_clear_error(bundle, tmp_path, monkeypatch):
    import torch

    folder = _copy(bundle[0], tmp_path)
    manifest = json.loads((folder / artifacts.MANIFEST_FILE).read_text())
    pt = folder / DEEP_FILE
    if bundle[1] is not None:  # no deep model yet: a real checkpoint listed in the manifest, read by torch.load
        torch.save({"model_args": {}, "state_dict": {"w": torch.ones(64, 64)}}, pt)
        manifest["files"][DEEP_FILE] = {"sha256": artifacts.sha256_file(pt), "bytes": pt.stat().st_size}
        manifest["models"] = ["ensemble", "deep_learning"]
        family = FAMILIES["deep_learning"]
        monkeypatch.setitem(FAMILIES, "deep_learning", dataclasses.replace(family, load=_torch_loader))
    pt.write_bytes(pt.read_bytes()[: pt.stat().st_size // 2])
    (folder / artifacts.MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(artifacts.ArtifactError, match=r"video_performance_model\.pt does not match its sha256"):
        predict.predict_performance(**BODY, model_type="deep_learning", artifacts_dir=folder)
    # Even with the manifest "fixed" to the truncated file's hash, torch's own error does not escape.
    manifest["files"][DEEP_FILE]["sha256"] = artifacts.sha256_file(pt)
    (folder / artifacts.MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(artifacts.ArtifactError, match=r"cannot load .*video_performance_model\.pt") as caught:
        predict.predict_performance(**BODY, model_type="deep_learning", artifacts_dir=folder)
    _clean_error(caught.value)
    assert predict.predict_performance(**BODY, artifacts_dir=folder)["predicted_views"] > 0  # ensemble still works


@pytest.mark.parametrize("name", [ENSEMBLE_FILE, FEATURES_FILE])
def test_corrupted_pkl_is_a_clear_error(bundle, tmp_path, name):
    folder = _copy(bundle[0], tmp_path)
    path = folder / name
    data = bytearray(path.read_bytes())
    data[len(data) // 3: len(data) // 3 + 64] = os.urandom(64)
    path.write_bytes(bytes(data))
    with pytest.raises(artifacts.ArtifactError, match=rf"{name} does not match its sha256"):
        predict.predict_performance(**BODY, artifacts_dir=folder)
    manifest = json.loads((folder / artifacts.MANIFEST_FILE).read_text())
    manifest["files"][name]["sha256"] = artifacts.sha256_file(path)  # a corrupt file the manifest vouches for
    (folder / artifacts.MANIFEST_FILE).write_text(json.dumps(manifest))
    path.write_bytes(path.read_bytes()[:100])
    manifest["files"][name]["sha256"] = artifacts.sha256_file(path)
    (folder / artifacts.MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(artifacts.ArtifactError, match=rf"cannot unpickle .*{name}") as caught:
        predict.predict_performance(**BODY, artifacts_dir=folder)
    _clean_error(caught.value)


def test_missing_or_broken_manifest_is_a_clear_error(bundle, tmp_path):
    folder = _copy(bundle[0], tmp_path)
    (folder / artifacts.MANIFEST_FILE).write_text('{"files": ')
    with pytest.raises(artifacts.ArtifactError, match="manifest.json is not valid JSON"):
        predict.predict_performance(**BODY, artifacts_dir=folder)
    (folder / artifacts.MANIFEST_FILE).unlink()
    with pytest.raises(artifacts.ArtifactError, match="manifest.json is missing; train first"):
        predict.predict_performance(**BODY, artifacts_dir=folder)


KILLED_SAVE = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r})
    from pathlib import Path
    from videoperf.models import artifacts
    from videoperf.serving import bundle

    target = Path(sys.argv[1])
    def copy(name, die=False):
        data = (target / name).read_bytes()
        def write(path):
            with open(path, "wb") as handle:
                handle.write(data[: len(data) // 2] if die else data)
                handle.flush()
                if die:
                    os._exit(17)  # killed half-way through the second file
        return write
    names = [bundle.FEATURES_FILE, "video_performance_ensemble.pkl"]
    artifacts.write_bundle(target, {{n: copy(n, die=i == 1) for i, n in enumerate(names)}}, {{"note": "new"}},
                           known=bundle.bundle_files())
""")


def test_save_killed_half_way_leaves_the_previous_bundle(bundle, tmp_path):
    folder = _copy(bundle[0], tmp_path)
    before = predict.predict_performance(**BODY, artifacts_dir=folder)
    manifest_before = (folder / artifacts.MANIFEST_FILE).read_text()
    script = tmp_path / "killed_save.py"
    script.write_text(KILLED_SAVE.format(root=str(ROOT)))
    done = subprocess.run([sys.executable, str(script), str(folder)], capture_output=True, timeout=120)
    assert done.returncode == 17, done.stderr.decode()[-2000:]
    assert (folder / artifacts.MANIFEST_FILE).read_text() == manifest_before
    artifacts.verify_bundle(folder)
    bundle_module.clear_cache()  # a fresh process's view
    assert predict.predict_performance(**BODY, artifacts_dir=folder) == before


def test_swap_is_one_atomic_exchange(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "a").write_text("old")
    (new / "a").write_text("new")
    if not artifacts._exchange(new, old):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here; the two-rename fallback is used")
    assert (old / "a").read_text() == "new" and (new / "a").read_text() == "old"


# ---------------------------------------------------------------------------------- foreign library versions
def _with_libraries(folder: Path, **versions: str) -> None:
    manifest = json.loads((folder / artifacts.MANIFEST_FILE).read_text())
    manifest["libraries"].update({name.replace("_", "-"): v for name, v in versions.items()})
    (folder / artifacts.MANIFEST_FILE).write_text(json.dumps(manifest))


def test_other_minor_version_of_a_model_library_is_refused_naming_both(bundle, tmp_path, monkeypatch):
    installed = artifacts.library_versions()
    folder = _copy(bundle[0], tmp_path)
    _with_libraries(folder, scikit_learn="1.0.2")
    with pytest.raises(artifacts.ArtifactError, match=rf"scikit-learn 1\.0\.2 \(bundle\) vs "
                                                      rf"{re.escape(installed['scikit-learn'])} \(installed\)"):
        predict.predict_performance(**BODY, artifacts_dir=folder)
    monkeypatch.setenv(artifacts.ALLOW_MISMATCH_ENV, "1")
    with pytest.warns(artifacts.LibraryVersionWarning, match="scikit-learn 1.0.2"):
        assert predict.predict_performance(**BODY, artifacts_dir=folder)["predicted_views"] > 0


def test_library_checks_follow_the_model_used(bundle, tmp_path):
    installed = artifacts.library_versions()
    folder = _copy(bundle[0], tmp_path)
    _with_libraries(folder, lightgbm="3.3.5", torch="1.13.1")
    predict.load_bundle(folder)  # the shared files only need scikit-learn ...
    with pytest.raises(artifacts.ArtifactError,  # ... the ensemble needs lightgbm
                       match=rf"lightgbm 3\.3\.5 \(bundle\) vs {re.escape(installed['lightgbm'])} \(installed\)"):
        predict.predict_performance(**BODY, artifacts_dir=folder)
    manifest = json.loads((folder / artifacts.MANIFEST_FILE).read_text())
    with pytest.raises(artifacts.ArtifactError, match=re.escape("torch 1.13.1 (bundle) vs")):
        artifacts.check_library_versions(manifest, FAMILIES["deep_learning"].libraries, folder)


def test_other_patch_release_is_a_warning_naming_both():
    with pytest.warns(artifacts.LibraryVersionWarning, match=r"scikit-learn 1\.9\.0 \(bundle\) vs 1\.9\.1"):
        notes = artifacts.check_library_versions({"libraries": {"scikit-learn": "1.9.0"}}, SHARED_LIBRARIES,
                                                 installed={"scikit-learn": "1.9.1"})
    assert len(notes) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert artifacts.check_library_versions({"libraries": {"torch": "2.13.0+cpu"}}, ("torch",),
                                                installed={"torch": "2.13.0"}) == []


def test_library_not_installed_is_refused():
    manifest = {"libraries": {"catboost": "1.2.10", "scikit-learn": "1.9.1"}}
    installed = {"scikit-learn": "1.9.1"}
    with pytest.raises(artifacts.ArtifactError, match=r"catboost 1\.2\.10 \(bundle\) is not installed"):
        artifacts.check_library_versions(manifest, FAMILIES["ensemble"].libraries, installed=installed)
    assert artifacts.check_library_versions(manifest, SHARED_LIBRARIES, installed=installed) == []


# ------------------------------------------------------------------------------------------------- threads
def test_bundle_loads_once_under_many_threads(bundle, tmp_path, monkeypatch):
    folder = _copy(bundle[0], tmp_path)
    verified, loaded = [], []
    real_verify, family = artifacts.verify_bundle, FAMILIES["ensemble"]

    def slow_verify(*args: Any, **kwargs: Any) -> dict[str, Any]:
        verified.append(1)
        threading.Event().wait(0.05)  # widen the race window
        return real_verify(*args, **kwargs)

    def counting_loader(*args: Any) -> Any:
        loaded.append(1)
        return family.load(*args)

    monkeypatch.setattr(artifacts, "verify_bundle", slow_verify)
    monkeypatch.setitem(FAMILIES, "ensemble", dataclasses.replace(family, load=counting_loader))
    barrier, results, errors = threading.Barrier(16), [], []

    def work() -> None:
        try:
            barrier.wait()
            results.append((predict.load_bundle(folder), predict.predict_performance(**BODY, artifacts_dir=folder)))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(results) == 16
    assert len(verified) == 1 and len(loaded) == 1
    assert len({id(b) for b, _ in results}) == 1 and all(r == results[0][1] for _, r in results)
