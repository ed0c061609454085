"""The saved model bundle as one object: ``Bundle.save`` and ``Bundle.load`` side by side, lazy model loading and
``predict_frame``. The Python API, the command line and the REST service all predict through it.

Files (the family files are declared by each family, ``videoperf.models.registry``):

* ``feature_pipeline.pkl`` - the fitted ``FeatureBuilder`` every family reads its inputs from;
* ``video_performance_ensemble.pkl`` - the stacking ensemble, when trained;
* ``video_performance_model.pt``, ``numeric_scaler.pkl``, ``stage_encoder.pkl`` - the deep model's weights, the
  scaler of its numeric inputs and the encoder that decodes its stage head, when trained;
* ``observed_forecaster.pkl`` - the forecaster from observed days (``videoperf.forecasting.forecaster``), fitted on the
  training videos' series; read on first use by a request with observations or a trajectory;
* ``calibration.pkl`` - per model type, a ``calibration.ChannelCalibration`` to the user's channels, when
  ``videoperf calibrate`` was run (retraining drops it);
* ``manifest.json`` - sha256 and size of every file, the models present, library versions, the settings training
  used, data fingerprint, training window, metrics.

Every file a bundle holds is read by inference (``tests/test_artifacts.py`` shows it). Writing is atomic and
loading checks every hash before anything is unpickled (``videoperf.models.artifacts``). The library versions of the
shared file are checked on load, a family's on its first use; a family's model is loaded on first use, once per
bundle (thread-safe). ``load_bundle`` keeps one bundle per folder and reloads it when its manifest changes. A large
batch is predicted in row chunks, two at a time (``videoperf.serving.batches``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from videoperf.config import load_config, resolve_path
from videoperf.models import artifacts
from videoperf.models.family import ModelFamily, threads_for_prediction
from videoperf.models.registry import FAMILIES
from videoperf.models.survivors import (
    SurvivorAges,
    on_chart_flags,
    read_with_survivors,
    requests_at_ages,
    snapshot_ages,
    snapshots_at_ages,
)
from videoperf.serving import batches

if TYPE_CHECKING:
    from videoperf.features.builder import FeatureBuilder
    from videoperf.features.content_columns import Columns
    from videoperf.training.pipeline import TrainedModels

logger = logging.getLogger("videoperf.predict")

FEATURES_FILE = "feature_pipeline.pkl"
CALIBRATION_FILE = "calibration.pkl"  # {model type: calibration.ChannelCalibration}, from videoperf.calibrate
OBSERVED_FILE = "observed_forecaster.pkl"  # forecasting.ObservedForecaster (forecasting.OBSERVED_FILE)
MANIFEST_FILE = artifacts.MANIFEST_FILE
SHARED_FILES = (FEATURES_FILE,)
SHARED_LIBRARIES = ("scikit-learn",)  # what unpickling the feature pipeline needs
ARTIFACTS_ENV = "VIDEOPERF_ARTIFACTS"
_DAY_NS = 86400e9


def bundle_files() -> tuple[str, ...]:
    """Every file name a bundle may hold: the shared file, each family's files, the manifest."""
    return (*SHARED_FILES, *(name for family in FAMILIES.values() for name in family.files), CALIBRATION_FILE,
            OBSERVED_FILE, MANIFEST_FILE)


class Bundle:
    """A verified bundle: the feature pipeline loaded, each family's model on first use."""

    def __init__(self, folder: Path, manifest: dict[str, Any], features: FeatureBuilder,
                 calibration: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        self.manifest = manifest
        self.features = features
        # {model type: ChannelCalibration} from ``videoperf.calibrate``; predictions of those types use it.
        self.calibration = calibration or {}
        # What population the models describe (``population.training_population``); old bundles: unknown.
        self.population = str((manifest.get("population") or {}).get("name", "unknown"))
        # How a chart-trained bundle reads ordinary uploads past the age its chart's survivors describe.
        self.survivors = SurvivorAges.from_dict(manifest.get("survivor_ages"))
        prediction = manifest.get("config", {}).get("prediction", {})
        self.default_days = float(prediction.get("default_days_since_publish", 7.0))
        self.coverage = float(prediction.get("interval_coverage", 0.8))
        # Model ages the rolling-origin backtest measured; a prediction further out logs a warning, once per bundle:
        # a service or a loop of calls would otherwise repeat it on every call.
        self.backtested_days = float(prediction.get("backtested_model_age_days", 90.0))
        self._age_warned = False
        self._age_lock = threading.Lock()  # not ``_lock``: that one is held while a model loads
        observed_to = manifest.get("training_window", {}).get("observed_to")
        # The last observation the models were trained on.
        self.training_cut = pd.Timestamp(observed_to) if observed_to else None
        self._models: dict[str, Any] = {}
        self._lock = threading.Lock()

    @staticmethod
    def save(trained: TrainedModels, folder: str | os.PathLike, extra_metrics: dict[str, Any] | None = None
             ) -> Path:
        """Write ``trained`` as a bundle into ``folder`` (atomically, with the manifest); returns the folder."""
        writers = {FEATURES_FILE: artifacts.write_pickle(trained.features)}
        for name, model in trained.models.items():
            writers.update(FAMILIES[name].save(model))
        observed = getattr(trained, "observed", None)
        if observed is not None:
            writers[OBSERVED_FILE] = artifacts.write_pickle(observed)
        manifest = {
            "speed": trained.settings.speed,
            "models": list(trained.models),
            "config": trained.settings.manifest(),
            "data": trained.fingerprint,
            "training_window": trained.features.training_window_,
            "population": trained.population or {"name": "unknown"},
            "views_target": trained.settings.config.training.views_target,
            "feature_names": trained.features.feature_names,
            "metrics": {"oof": trained.reports, **(extra_metrics or {})},
            "training_seconds": trained.seconds,
            "observed_forecaster": observed.describe() if observed is not None else None,
            "survivor_ages": trained.survivors.to_dict() if trained.survivors is not None else None,
        }
        return artifacts.write_bundle(folder, writers, manifest, known=bundle_files())

    @classmethod
    def load(cls, folder: str | os.PathLike) -> Bundle:
        """Verify every hash of ``folder``'s manifest, then load the feature pipeline (models wait for first use)."""
        folder = Path(folder)
        # Hashing every file (C, without the interpreter lock) runs beside importing the modules the feature
        # pipeline unpickles into (Python: scikit-learn, SciPy): on two cores it costs a fresh process no time.
        # Importing our own modules trusts nothing; nothing is unpickled before every hash is checked.
        with ThreadPoolExecutor(1, thread_name_prefix="videoperf-verify") as pool:
            verified = pool.submit(artifacts.verify_bundle, folder, required=SHARED_FILES, libraries=SHARED_LIBRARIES)
            import videoperf.features.builder  # noqa: F401
            manifest = verified.result()
        calibration = (artifacts.load_pickle(folder, CALIBRATION_FILE, manifest)
                       if CALIBRATION_FILE in manifest["files"] else None)
        return cls(folder, manifest, artifacts.load_pickle(folder, FEATURES_FILE, manifest), calibration)

    @staticmethod
    def save_calibration(folder: str | os.PathLike, calibration: dict[str, Any], description: dict[str, Any]
                         ) -> Path:
        """Store ``{model type: ChannelCalibration}`` in the bundle of ``folder`` (atomically, hashed in the
        manifest, which records ``description`` under ``calibration``); returns the folder."""
        manifest = artifacts.verify_bundle(folder)
        population = {**(manifest.get("population") or {"name": "unknown"}), "calibrated_to": description["to"]}
        return artifacts.update_bundle(folder, {CALIBRATION_FILE: artifacts.write_pickle(calibration)},
                                       {"calibration": description, "population": population}, known=bundle_files())

    def population_label(self, model_type: str) -> str:
        """The population ``model_type``'s predictions are calibrated to: ``trending_chart``, ``channel_uploads``,
        ..., with ``(calibrated to ...)`` when ``videoperf calibrate`` fitted it to the user's channels."""
        if model_type not in self.calibration:
            return self.population
        return f"{self.population} (calibrated to {self.manifest.get('calibration', {}).get('to', 'your channels')})"

    def observed_forecaster(self) -> Any:
        """The ``forecasting.ObservedForecaster`` (loaded on first use; ``ValueError`` naming ``observed`` when the
        bundle predates it or its training data had too few series)."""
        forecaster = self._models.get(OBSERVED_FILE)
        if forecaster is not None:
            return forecaster
        if OBSERVED_FILE not in self.manifest["files"]:
            raise ValueError(f"observed: the bundle in {self.folder} has no forecaster from observed days "
                             f"({OBSERVED_FILE}; bundles trained before it existed, or on too few series, lack it); "
                             "retrain it (videoperf train --data SOURCE --artifacts DIR) to use "
                             "observations")
        with self._lock:
            if OBSERVED_FILE not in self._models:
                self._models[OBSERVED_FILE] = artifacts.load_pickle(self.folder, OBSERVED_FILE, self.manifest)
            return self._models[OBSERVED_FILE]

    @property
    def model_types(self) -> list[str]:
        """The model families this bundle holds."""
        return list(self.manifest.get("models", []))

    def model(self, model_type: str) -> Any:
        """The loaded model of ``model_type`` (loaded on first use; ``ValueError`` when the bundle lacks it)."""
        model = self._models.get(model_type)
        if model is not None:
            return model
        with self._lock:
            if model_type not in self._models:
                self._models[model_type] = self._load_model(model_type)
            return self._models[model_type]

    def _load_model(self, model_type: str) -> Any:
        family = FAMILIES[model_type]
        if family.artifact not in self.manifest["files"]:
            raise ValueError(f"model_type: the bundle in {self.folder} has no {model_type} model "
                             f"({family.artifact}); train it with --models {model_type}")
        artifacts.check_library_versions(self.manifest, family.libraries, self.folder,
                                         installed=_installed_libraries())
        try:
            return family.load(self.folder, self.manifest)
        except (artifacts.ArtifactError, NotImplementedError):
            raise
        except Exception as error:  # torch / pickle internals: report the file, not their traceback
            raise artifacts.ArtifactError(
                f"artifacts: cannot load {self.folder / family.artifact} ({type(error).__name__}: "
                f"{error}); retrain the bundle") from None

    # -------------------------------------------------------------------------------------------- predict
    def predict_frame(self, requests: Columns, model_type: str, channel_ids: pd.Series | None = None
                      ) -> pd.DataFrame:
        """Predictions for validated request rows (``VideoRequest.row``, ``batch_checks.check_rows``), one row
        each, with ``model_age_days``, ``population`` and ``calibrated``.

        ``requests``: a DataFrame, or a mapping of column -> values (one request or a few: no DataFrame needed).
        ``channel_ids``: the rows' channels, for a calibration's per-channel offsets (without them, or for a
        channel it was not fitted on, its overall offset)."""
        return self._predict(requests, model_type, channel_ids, check=None)[1]

    def check_and_predict(self, rows: pd.DataFrame, model_type: str, check: Callable[..., pd.DataFrame],
                          channel_ids: pd.Series | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(check(rows), predict_frame(check(rows)))`` for a batch of unvalidated request rows.

        ``check(chunk, first_row=i)`` validates rows (``batch_checks.check_rows``; ``first_row`` numbers them in its
        messages). A large batch is checked chunk by chunk in the threads that predict it: the checks are Python
        and would otherwise run alone while the other core waits. The result is the same either way."""
        return self._predict(rows, model_type, channel_ids, check)

    def _predict(self, rows: Columns, model_type: str, channel_ids: pd.Series | None,
                 check: Callable[..., pd.DataFrame] | None) -> tuple[Columns, pd.DataFrame]:
        model = self.model(model_type)
        family = FAMILIES[model_type]
        n = len(rows) if isinstance(rows, pd.DataFrame) else len(rows["published_at"])
        if n < 2 * batches.CHUNK_ROWS or family.concurrent_chunks < 2:
            with batches.collector_paused(n >= batches.GC_PAUSE_ROWS):
                requests = rows if check is None else check(rows, first_row=0)
                out = self._predict_rows(family, model, requests)
        else:
            # Row chunks, two (``concurrent_chunks``) at a time, each on one thread: one chunk's learners (C code,
            # the GIL released) run while the next one's checks and features (Python) are computed, so both cores
            # work. Only one thread at a time computes checks and features (``python_part``): two threads in Python
            # at once would take turns on the GIL with a core idle, finish together and start their learners
            # together, in lock-step, every chunk; the lock sets them apart by one chunk's features, and because
            # the features take less time than the learners they do not meet again (2.5 -> 1.9 s on 100,000 rows).
            # Rows are checked and predicted independently, so the chunks change no result.
            bounds = batches.chunk_bounds(n)
            work = partial(self._check_and_predict_rows, family, model, check, threading.Lock())
            with batches.collector_paused(True), ThreadPoolExecutor(family.concurrent_chunks,
                                                                      thread_name_prefix="videoperf-rows") as pool:
                parts = list(pool.map(work, [(batches.row_slice(rows, a, b), a)
                                             for a, b in zip(bounds[:-1], bounds[1:])]))
            requests = rows if check is None else batches.concat_checked([checked for checked, _ in parts])
            out = pd.concat([predicted for _, predicted in parts], ignore_index=True)
        calibration = self.calibration.get(model_type)
        if calibration is not None:
            from videoperf.models.calibration import calibrate_frame  # scikit-learn: only for a calibrated bundle

            out = calibrate_frame(out, calibration, channel_ids, np.asarray(requests["age_days"], dtype=float),
                                  np.asarray(requests["channel_video_count"], dtype=float))
        # The three columns in one frame, joined once (three insertions cost more than the model for one row)
        extra = pd.DataFrame({"model_age_days": self.model_age_days(requests["published_at"]),
                              "population": [self.population_label(model_type)] * len(out),
                              "calibrated": np.full(len(out), calibration is not None)}, index=out.index)
        return requests, pd.concat([out, extra], axis=1)

    def _check_and_predict_rows(self, family: ModelFamily, model: Any,
                                check: Callable[..., pd.DataFrame] | None,
                                python_part: threading.Lock, chunk: tuple[Columns, int]
                                ) -> tuple[Columns, pd.DataFrame]:
        rows, first_row = chunk
        with python_part:
            requests = rows if check is None else check(rows, first_row=first_row)
        return requests, self._predict_rows(family, model, requests, threads=1, python_part=python_part)

    def _predict_rows(self, family: ModelFamily, model: Any, requests: Columns, threads: int | None = None,
                      python_part: threading.Lock | None = None) -> pd.DataFrame:
        """The family's table for validated rows, ordinary uploads read past the survivors' cap
        (``videoperf.models.survivors``)."""
        def predict(rows: Columns) -> pd.DataFrame:
            with python_part or nullcontext():
                X = self.features.transform_videos(rows)
            with threads_for_prediction(threads):
                return family.predict(model, X, rows)

        return read_with_survivors(self.survivors, predict, requests, np.asarray(requests["age_days"], dtype=float),
                                   on_chart_flags(requests), requests_at_ages, family.age_columns)

    def predict_observed(self, snapshots: pd.DataFrame, model_type: str, history: pd.DataFrame | None = None,
                         calibrated: bool = True, every_observation: bool = False, on_chart: bool | None = None
                         ) -> pd.DataFrame:
        """Predictions for the videos of canonical ``snapshots`` (e.g. a channel-uploads export), each at its last
        observed age (``every_observation``: at every one), with channel history as of its publish time from
        ``history`` (default: ``snapshots``). ``on_chart``: whether the rows are chart rows (default: whether
        ``snapshots`` was read from a trending export).

        One row per video (observation): ``video_id``, ``channel_id``, ``published_at``, ``age_days``,
        ``actual_views``, ``predicted_views`` (and the interval); ``calibrated=False`` leaves out the calibration.
        """
        from videoperf.data.population import training_population
        from videoperf.lifecycle.metrics import last_observation

        model, family = self.model(model_type), FAMILIES[model_type]
        last = (snapshots if every_observation else last_observation(snapshots)).reset_index(drop=True)
        observed = (history if history is not None else snapshots).sort_values(["video_id", "observed_at"])
        history_table = self.features.channel_history(observed.reset_index(drop=True))
        X = self.features.transform(last, history=history_table)
        if on_chart is None:
            on_chart = training_population(snapshots)["name"] == "trending_chart"
        ages = snapshot_ages(last)
        out = read_with_survivors(self.survivors, lambda rows: family.predict(
            model, X if rows is last else self.features.transform(rows, history=history_table), rows),
            last, ages, np.full(len(last), bool(on_chart)), snapshots_at_ages, family.age_columns)
        calibration = self.calibration.get(model_type) if calibrated else None
        if calibration is not None:
            from videoperf.models.calibration import calibrate_frame

            out = calibrate_frame(out, calibration, last["channel_id"], ages, self.channel_counts(X))
        front = pd.DataFrame({"video_id": last["video_id"].to_numpy(), "channel_id": last["channel_id"].to_numpy(),
                              "published_at": last["published_at"].to_numpy(), "age_days": ages,
                              "actual_views": last["views"].to_numpy(float)})
        front["channel_video_count"] = self.channel_counts(X)
        return pd.concat([front, out[[c for c in ("predicted_views", "views_lo", "views_hi") if c in out]]], axis=1)

    @staticmethod
    def channel_counts(X: pd.DataFrame) -> np.ndarray:
        """How many earlier videos each feature row's channel had (``channel_log_count`` is its log1p)."""
        return np.expm1(X["channel_log_count"].to_numpy(float))

    def model_age_days(self, published_at: pd.Series | list) -> np.ndarray:
        """Days from the training cut to each publish time; the first time one is past what the backtest measured,
        a warning (once per loaded bundle)."""
        if self.training_cut is None:
            return np.full(len(published_at), np.nan)
        if isinstance(published_at, list) and all(isinstance(v, pd.Timestamp) and v.tzinfo for v in published_at):
            stamps = np.array([v.value for v in published_at], dtype=np.int64)  # epoch ns, as below
        else:
            stamps = pd.to_datetime(published_at, utc=True).to_numpy("datetime64[ns]").astype(np.int64)
        age = (stamps - self.training_cut.value) / _DAY_NS
        if not self._age_warned and (age > self.backtested_days).any():
            with self._age_lock:
                first, self._age_warned = not self._age_warned, True
            if first:
                logger.warning("%s: predictions for videos published up to %.0f days after the training data ends "
                               "(%s); the backtest measured accuracy up to %.0f days: retrain on recent data "
                               "(videoperf train). Said once for this bundle; every prediction reports "
                               "its model_age_days", self.folder, float(age.max()), self.training_cut.isoformat(),
                               self.backtested_days)
        return age


@lru_cache(maxsize=1)
def _installed_libraries() -> dict[str, str]:
    """The installed library versions, read once per process (package metadata is slow to read)."""
    return artifacts.library_versions()


# ---------------------------------------------------------------------------------------------- cache
_CACHE: dict[str, tuple[int, Bundle]] = {}
_CACHE_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _configured_folder() -> str:
    return load_config().paths.artifacts_dir


def resolve_folder(artifacts_dir: str | os.PathLike | None = None) -> Path:
    """``artifacts_dir`` (relative to the working folder), else ``$VIDEOPERF_ARTIFACTS``, else the configured
    ``paths.artifacts_dir`` (relative to the project root)."""
    if artifacts_dir is None:
        artifacts_dir = os.environ.get(ARTIFACTS_ENV)
    if artifacts_dir is not None and not isinstance(artifacts_dir, (str, os.PathLike)):
        raise ValueError(f"artifacts_dir: expected a folder path, got {type(artifacts_dir).__name__}")
    return Path(artifacts_dir).expanduser() if artifacts_dir is not None else resolve_path(_configured_folder())


def load_bundle(artifacts_dir: str | os.PathLike | None = None) -> Bundle:
    """The verified bundle of ``artifacts_dir`` (``resolve_folder``): loaded once per process and folder
    (thread-safe), reloaded when its manifest changes (a retrained bundle is picked up)."""
    folder = resolve_folder(artifacts_dir)
    try:
        stamp = (folder / MANIFEST_FILE).stat().st_mtime_ns
    except FileNotFoundError:
        stamp = -1
    key = str(folder)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is None or cached[0] != stamp:
            cached = (stamp, Bundle.load(folder))
            _CACHE[key] = cached
    return cached[1]


def clear_cache() -> None:
    """Forget every loaded bundle (the next ``load_bundle`` reads from disk, as a fresh process would)."""
    with _CACHE_LOCK:
        _CACHE.clear()
