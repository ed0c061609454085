"""Bundle storage: atomic writing, a manifest of hashes, verified loading, library version checks.

Which files a bundle holds and what they mean is ``videoperf.serving.bundle``'s business; this module only stores and
checks them. A bundle is written into a temporary folder next to the target and then renamed into place, so a reader
never sees half a bundle; files in the target that are not part of a bundle (``README.md``) are carried
over. On Linux the new folder and the old one are exchanged in one system call (``renameat2``), so even a
crash at that instant leaves one complete bundle in place. Loading checks every hash of the manifest *before*
anything is unpickled (a pickle runs code), and a missing or altered file fails with a ``ValueError`` naming it.

Library versions: a bundle records the versions it was written with. Loading compares them with the installed
ones for the libraries its pickles need (``check_library_versions``): another patch release is a warning,
another major or minor release (or a library no longer installed) is refused with both versions named, unless
``VIDEOPERF_ALLOW_VERSION_MISMATCH=1`` downgrades that to a warning.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import io
import json
import logging
import os
import pickle
import platform
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from videoperf.plain import jsonable

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
MANIFEST_VERSION = 2  # 2: the feature pipeline in its own file, the deep model's scaler and stage encoder beside it
_LIBRARIES = ("numpy", "pandas", "scipy", "scikit-learn", "lightgbm", "xgboost-cpu", "xgboost", "catboost", "torch",
              "transformers")
_ALIASES = {"xgboost": ("xgboost", "xgboost-cpu")}
ALLOW_MISMATCH_ENV = "VIDEOPERF_ALLOW_VERSION_MISMATCH"


class ArtifactError(ValueError):
    """A bundle that is missing, incomplete or altered (a ``ValueError``, so callers can catch either)."""


class LibraryVersionWarning(UserWarning):
    """A bundle written by another release of a model library than the installed one."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries a bundle depends on (absent ones are left out)."""
    out = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def write_pickle(obj: Any) -> Callable[[Path], None]:
    """A writer for ``write_bundle`` that pickles ``obj``."""
    def write(path: Path) -> None:
        with open(path, "wb") as handle:
            pickle.dump(obj, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return write


def write_bundle(target: str | Path, writers: dict[str, Callable[[Path], None]], manifest: dict[str, Any], *,
                 known: Collection[str]) -> Path:
    """Write the files of ``writers`` ({file name: function writing that path}) and ``manifest.json`` atomically.

    ``known``: every file name a bundle may hold; a writer for another name is refused, and files of the target
    with a known name that are not rewritten (an old model) are dropped, others (``README.md``) carried over.
    ``manifest`` holds the descriptive part (models, settings, data fingerprint, metrics, ...); this function
    adds the file hashes and the library versions. Returns the bundle folder.
    """
    target = Path(target).resolve()
    unknown = sorted(name for name in writers if name not in known or name == MANIFEST_FILE)
    if unknown:
        expected = sorted(name for name in known if name != MANIFEST_FILE)
        raise ValueError(f"writers: {unknown} are not bundle files; expected some of {expected}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with _staged(target) as staging:
        for name, write in writers.items():
            write(staging / name)
        full = {**manifest, "manifest_version": MANIFEST_VERSION,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "files": _file_entries(staging, writers), "libraries": library_versions()}
        _write_manifest(staging, full)
        if target.exists():
            for item in target.iterdir():  # keep what is not ours (README.md, .gitignore, ...)
                if item.name not in known and not (staging / item.name).exists():
                    _copy(item, staging)
    logger.info("wrote bundle %s (%s)", target, ", ".join(sorted(writers)))
    return target


@contextmanager
def _staged(target: Path) -> Iterator[Path]:
    """A fresh folder beside ``target`` to fill in the block; it takes ``target``'s place atomically (``_swap``)
    when the block ends, and is removed if the block fails."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield staging
        _swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _file_entries(folder: Path, names: Collection[str]) -> dict[str, dict[str, Any]]:
    """The manifest's entry (sha256, size) of each file ``names`` of ``folder``, by name."""
    return {name: {"sha256": sha256_file(folder / name), "bytes": (folder / name).stat().st_size}
            for name in sorted(names)}


def _copy(item: Path, folder: Path) -> None:
    """A file or folder copied into ``folder`` under its own name."""
    (shutil.copytree if item.is_dir() else shutil.copy2)(item, folder / item.name)


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """The manifest as strict JSON (no NaN), in ``folder``."""
    text = json.dumps(jsonable(manifest), indent=2, default=str, allow_nan=False)
    (folder / MANIFEST_FILE).write_text(text + "\n")


def update_bundle(folder: str | Path, writers: dict[str, Callable[[Path], None]], changes: dict[str, Any], *,
                  known: Collection[str]) -> Path:
    """Add or replace the files of ``writers`` in the existing bundle ``folder``, atomically, and lay ``changes``
    over its manifest (the new files' hashes added; the recorded library versions, which the other files were
    written with, kept). The bundle is verified first: an altered bundle is not re-signed.
    """
    folder = Path(folder).resolve()
    manifest = verify_bundle(folder)
    unknown = sorted(name for name in writers if name not in known or name == MANIFEST_FILE)
    if unknown:
        raise ValueError(f"writers: {unknown} are not bundle files")
    with _staged(folder) as staging:
        for item in folder.iterdir():
            if item.name not in writers and item.name != MANIFEST_FILE:
                _copy(item, staging)
        for name, write in writers.items():
            write(staging / name)
        files = {**manifest["files"], **_file_entries(staging, writers)}
        full = {**manifest, **changes, "files": dict(sorted(files.items())),
                "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _write_manifest(staging, full)
    logger.info("updated bundle %s (%s)", folder, ", ".join(sorted(writers)))
    return folder


def _exchange(first: Path, second: Path) -> bool:
    """Swap two directories atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), str(second))


def _swap(staging: Path, target: Path) -> None:
    """Put ``staging`` in place of ``target``: one atomic exchange where the OS has it, else two renames on
    one file system; the old bundle is removed last."""
    os.chmod(staging, 0o755)
    if not target.exists():
        os.replace(staging, target)
        return
    if _exchange(staging, target):  # readers see the old bundle or the new one, never none
        shutil.rmtree(staging, ignore_errors=True)  # ``staging`` now holds the old bundle
        return
    old = target.with_name(f".{target.name}.old-{os.getpid()}-{time.time_ns()}")
    os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The parsed manifest; ``ArtifactError`` when the folder or the manifest is absent or unreadable."""
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    if not folder.is_dir():
        raise ArtifactError(f"artifacts: folder {folder} does not exist; train first "
                            f"(videoperf train --data SOURCE --speed fast --artifacts {folder})")
    if not path.is_file():
        raise ArtifactError(f"artifacts: {path} is missing; train first "
                            f"(videoperf train --data SOURCE --speed fast --artifacts {folder})")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtifactError(f"artifacts: {path} is not valid JSON ({error})") from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ArtifactError(f"artifacts: {path} has no 'files' table")
    return manifest


def verify_bundle(folder: str | Path, required: Collection[str] = (), libraries: Collection[str] = ()
                  ) -> dict[str, Any]:
    """Check that every file of the manifest (and every ``required`` one) is present with its recorded hash, and
    the recorded versions of ``libraries`` (``check_library_versions``).

    Returns the manifest. Nothing is unpickled here; call this before loading any file.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    check_library_versions(manifest, libraries, folder)
    files = manifest["files"]
    for name in required:
        if name not in files:
            raise ArtifactError(f"artifacts: {name} is not in {folder / MANIFEST_FILE}; the bundle lacks it")
    for name, entry in files.items():
        path = folder / name
        if not path.is_file():
            raise ArtifactError(f"artifacts: {path} is missing (listed in the manifest)")
        if not isinstance(entry, dict) or "sha256" not in entry:
            raise ArtifactError(f"artifacts: the manifest entry of {name} has no sha256")
        if sha256_file(path) != entry["sha256"]:
            raise ArtifactError(f"artifacts: {path} does not match its sha256 in the manifest "
                                f"(altered or corrupted); retrain or restore the bundle")
    return manifest


# Where each module of the flat layout (bundles written before the subpackages) lives now: their pickles name
# classes by the old module path.
MOVED_MODULES = {
    "videoperf.fast_trees": "videoperf.library_internals",
    "videoperf.data": "videoperf.data.sources",
    "videoperf.api_export": "videoperf.data.api_export",
    "videoperf.synthetic": "videoperf.data.synthetic",
    "videoperf.population": "videoperf.data.population",
    "videoperf.validation": "videoperf.data.splits",
    "videoperf.sampling": "videoperf.data.sampling",
    "videoperf.lifecycle": "videoperf.lifecycle.targets",
    "videoperf.curve": "videoperf.lifecycle.curve",
    "videoperf.metrics": "videoperf.lifecycle.metrics",
    "videoperf.channel_history": "videoperf.features.channel_history",
    "videoperf.content_features": "videoperf.features.content",
    "videoperf.target_encoding": "videoperf.features.target_encoding",
    "videoperf.features": "videoperf.features.builder",
    "videoperf.family": "videoperf.models.family",
    "videoperf.registry": "videoperf.models.registry",
    "videoperf.intervals": "videoperf.models.intervals",
    "videoperf.calibration": "videoperf.models.calibration",
    "videoperf.artifacts": "videoperf.models.artifacts",
    "videoperf.ensemble": "videoperf.models.ensemble.stacking",
    "videoperf.ensemble_family": "videoperf.models.ensemble.family",
    "videoperf.deep": "videoperf.models.deep.network",
    "videoperf.deep_family": "videoperf.models.deep.family",
    "videoperf.deep_training": "videoperf.models.deep.training",
    "videoperf.text_encoders": "videoperf.models.deep.text_encoders",
    "videoperf.bert_inference": "videoperf.models.deep.bert_inference",
    "videoperf.observed": "videoperf.forecasting.observed",
    "videoperf.observed_intervals": "videoperf.forecasting.intervals",
    "videoperf.shape_select": "videoperf.forecasting.shape_select",
    "videoperf.forecasting": "videoperf.forecasting.forecaster",
    "videoperf.pipeline": "videoperf.training.pipeline",
    "videoperf.settings": "videoperf.training.settings",
    "videoperf.evaluation": "videoperf.evaluation.holdout",
    "videoperf.backtest": "videoperf.evaluation.backtest",
    "videoperf.live_level": "videoperf.evaluation.live_level",
    "videoperf.bundle": "videoperf.serving.bundle",
    "videoperf.inputs": "videoperf.serving.rules",
    "videoperf.predictions": "videoperf.serving.predictions",
    "videoperf.service": "videoperf.serving.service",
    "videoperf.family_curve": "videoperf.serving.family_curve",
    "videoperf.cluster": "videoperf.distributed.cluster",
    "videoperf.dask_data": "videoperf.distributed.data",
    "videoperf.dask_training": "videoperf.distributed.training",
    "videoperf.dask_scoring": "videoperf.distributed.scoring",
    "videoperf.report": "videoperf.notebook.report",
    "videoperf.tables": "videoperf.notebook.tables",
    "videoperf.plots": "videoperf.notebook.plots",
    "videoperf.run_settings": "videoperf.notebook.run_settings",
}


# Classes and functions whose module was split since: (module, name) -> (module, name) now, looked up after
# ``MOVED_MODULES`` so that
# pickles of the flat layout find them too.
MOVED_NAMES = {
    ("videoperf.forecasting.observed", "CurveForecaster"):
        ("videoperf.forecasting.curve_forecaster", "CurveForecaster"),
    ("videoperf.forecasting.observed", "SzaboHuberman"): ("videoperf.forecasting.szabo_huberman", "SzaboHuberman"),
    # Forecasters pickled before ``videoperf.forecasting.intervals`` existed name its class by an older alias.
    ("videoperf.forecasting.observed", "_Conformal"): ("videoperf.forecasting.intervals", "CellConformal"),
    ("videoperf.features.content", "tag_tokens"): ("videoperf.features.content_tokens", "tag_tokens"),
}


class _Unpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that finds classes of earlier layouts at their new homes."""

    def find_class(self, module: str, name: str) -> Any:
        module = MOVED_MODULES.get(module, module)
        module, name = MOVED_NAMES.get((module, name), (module, name))
        return super().find_class(module, name)


def load_pickle(folder: str | Path, name: str, manifest: dict[str, Any]) -> Any:
    """Unpickle one file of a bundle already checked by ``verify_bundle`` (re-checks that file's hash)."""
    path = Path(folder) / name
    entry = manifest["files"].get(name)
    if entry is None:
        raise ArtifactError(f"artifacts: {name} is not in the manifest of {folder}")
    if not path.is_file():
        raise ArtifactError(f"artifacts: {path} is missing (listed in the manifest)")
    data = path.read_bytes()
    # Hash the very bytes that get unpickled: the file cannot change between the check and the load.
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ArtifactError(f"artifacts: {path} does not match its sha256 in the manifest (altered or corrupted)")
    try:
        return _Unpickler(io.BytesIO(data)).load()
    except Exception as error:  # a class renamed or a library missing since the bundle was written
        logger.debug("unpickling %s failed", path, exc_info=True)
        raise ArtifactError(f"artifacts: cannot unpickle {path} ({type(error).__name__}: {error}); it was written "
                            f"by other code or libraries, retrain the bundle") from None


def _release(version: str) -> tuple[int, ...]:
    """``"2.13.0+cpu"`` -> ``(2, 13, 0)``."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def check_library_versions(manifest: dict[str, Any], libraries: Collection[str], folder: str | Path = "",
                           installed: dict[str, str] | None = None) -> list[str]:
    """Compare the library versions recorded in ``manifest`` with the installed ones, for ``libraries`` (what the
    files about to be loaded need: ``bundle.SHARED_LIBRARIES``, a family's ``libraries``).

    Another patch release: a ``LibraryVersionWarning``. Another major / minor release, or a recorded library
    that is not installed: ``ArtifactError`` naming both versions (a warning instead when the environment
    variable ``VIDEOPERF_ALLOW_VERSION_MISMATCH=1``). Returns the messages that were warned about.
    """
    recorded = manifest.get("libraries") or {}
    installed = library_versions() if installed is None else installed
    minor, patch = [], []
    for library in libraries:
        names = _ALIASES.get(library, (library,))
        saved = next((str(recorded[n]) for n in names if n in recorded), None)
        if saved is None:  # not installed when the bundle was written, so not used by it
            continue
        current = next((installed[n] for n in names if n in installed), None)
        if current is None:
            minor.append(f"{library} {saved} (bundle) is not installed")
        elif _release(current)[:2] != _release(saved)[:2]:
            minor.append(f"{library} {saved} (bundle) vs {current} (installed)")
        elif _release(current) != _release(saved):
            patch.append(f"{library} {saved} (bundle) vs {current} (installed)")
    where = f" {folder}" if folder else ""
    if minor and os.environ.get(ALLOW_MISMATCH_ENV) != "1":
        raise ArtifactError(f"artifacts:{where} was written with other library versions: {'; '.join(minor)}. "
                            f"Retrain the bundle or install the recorded versions "
                            f"(set {ALLOW_MISMATCH_ENV}=1 to load it anyway)")
    messages = [f"artifacts:{where} written with {item}" for item in minor + patch]
    for message in messages:
        logger.warning("%s", message)
        warnings.warn(message, LibraryVersionWarning, stacklevel=2)
    return messages
