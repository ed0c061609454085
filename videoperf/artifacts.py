"""The saved model bundle: atomic writing, a manifest of hashes, and verified loading.

Files (names are part of the contract, DESIGN.md):

* ``video_performance_ensemble.pkl`` - the stacking ensemble (``videoperf.ensemble.StackingEnsemble``);
* ``video_performance_model.pt`` - the deep multi-task model, written by the deep-learning step when trained;
* ``numeric_scaler.pkl`` - the fitted feature pipeline and numeric scaler both models share;
* ``stage_encoder.pkl`` - the ``LabelEncoder`` of lifecycle stages;
* ``manifest.json`` - sha256 and size of every file, the models present, library versions, config, data
  fingerprint, metrics.

A bundle is written into a temporary folder next to the target and then renamed into place, so a reader
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
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ENSEMBLE_FILE = "video_performance_ensemble.pkl"
DEEP_FILE = "video_performance_model.pt"
FEATURES_FILE = "numeric_scaler.pkl"
STAGE_FILE = "stage_encoder.pkl"
MANIFEST_FILE = "manifest.json"
BUNDLE_FILES = (ENSEMBLE_FILE, DEEP_FILE, FEATURES_FILE, STAGE_FILE, MANIFEST_FILE)
MODEL_FILES = {"ensemble": ENSEMBLE_FILE, "deep_learning": DEEP_FILE}
SHARED_FILES = (FEATURES_FILE, STAGE_FILE)
MANIFEST_VERSION = 1
_LIBRARIES = ("numpy", "pandas", "scipy", "scikit-learn", "lightgbm", "xgboost-cpu", "xgboost", "catboost", "torch",
              "transformers")


# The libraries whose objects are pickled in a bundle: None = the shared files, else per model family.
MODEL_LIBRARIES: dict[str | None, tuple[str, ...]] = {
    None: ("scikit-learn",), "ensemble": ("scikit-learn", "lightgbm", "xgboost", "catboost"),
    "deep_learning": ("torch",)}
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


def write_bundle(target: str | Path, writers: dict[str, Callable[[Path], None]], manifest: dict[str, Any]) -> Path:
    """Write the files of ``writers`` ({file name: function writing that path}) and ``manifest.json`` atomically.

    ``manifest`` holds the descriptive part (config, data fingerprint, metrics, ...); this function adds
    the file hashes, the models present and the library versions. Returns the bundle folder.
    """
    target = Path(target).resolve()
    unknown = sorted(name for name in writers if name not in BUNDLE_FILES or name == MANIFEST_FILE)
    if unknown:
        raise ValueError(f"writers: {unknown} are not bundle files; expected some of {list(BUNDLE_FILES[:-1])}")
    missing = [name for name in SHARED_FILES if name not in writers]
    if missing:
        raise ValueError(f"writers: a bundle needs {missing}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        for name, write in writers.items():
            write(staging / name)
        files = {name: {"sha256": sha256_file(staging / name), "bytes": (staging / name).stat().st_size}
                 for name in sorted(writers)}
        full = {**manifest, "manifest_version": MANIFEST_VERSION,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "models": [model for model, name in MODEL_FILES.items() if name in writers],
                "files": files, "libraries": library_versions()}
        text = json.dumps(_clean(full), indent=2, default=_json_default, allow_nan=False)
        (staging / MANIFEST_FILE).write_text(text + "\n")
        if target.exists():
            for item in target.iterdir():  # keep what is not ours (README.md, .gitignore, ...)
                if item.name not in BUNDLE_FILES and not (staging / item.name).exists():
                    (shutil.copytree if item.is_dir() else shutil.copy2)(item, staging / item.name)
        _swap(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("wrote bundle %s (%s)", target, ", ".join(sorted(writers)))
    return target


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


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN / infinity become null (strict JSON has no NaN), NumPy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(key): _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The parsed manifest; ``ArtifactError`` when the folder or the manifest is absent or unreadable."""
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    if not folder.is_dir():
        raise ArtifactError(f"artifacts: folder {folder} does not exist; train first "
                            f"(python model_update.py train --data SOURCE --speed fast --artifacts {folder})")
    if not path.is_file():
        raise ArtifactError(f"artifacts: {path} is missing; train first "
                            f"(python model_update.py train --data SOURCE --speed fast --artifacts {folder})")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtifactError(f"artifacts: {path} is not valid JSON ({error})") from error
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ArtifactError(f"artifacts: {path} has no 'files' table")
    return manifest


def verify_bundle(folder: str | Path, required: tuple[str, ...] = SHARED_FILES) -> dict[str, Any]:
    """Check that every file of the manifest (and every ``required`` one) is present with its recorded hash.

    Returns the manifest. Nothing is unpickled here; call this before loading any file.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    check_library_versions(manifest, None, folder)
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
        return pickle.loads(data)
    except Exception as error:  # a class renamed or a library missing since the bundle was written
        logger.debug("unpickling %s failed", path, exc_info=True)
        raise ArtifactError(f"artifacts: cannot unpickle {path} ({type(error).__name__}: {error}); it was written "
                            f"by other code or libraries, retrain the bundle") from None


def _release(version: str) -> tuple[int, ...]:
    """``"2.13.0+cpu"`` -> ``(2, 13, 0)``."""
    match = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def check_library_versions(manifest: dict[str, Any], model: str | None = None, folder: str | Path = "",
                           installed: dict[str, str] | None = None) -> list[str]:
    """Compare the library versions recorded in ``manifest`` with the installed ones, for the libraries of
    ``model`` (``None``: the shared files; see ``MODEL_LIBRARIES``).

    Another patch release: a ``LibraryVersionWarning``. Another major / minor release, or a recorded library
    that is not installed: ``ArtifactError`` naming both versions (a warning instead when the environment
    variable ``VIDEOPERF_ALLOW_VERSION_MISMATCH=1``). Returns the messages that were warned about.
    """
    recorded = manifest.get("libraries") or {}
    installed = library_versions() if installed is None else installed
    minor, patch = [], []
    for library in MODEL_LIBRARIES.get(model, ()):
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
