"""What a model family is: the one description that training, the bundle and inference read.

Each family declares itself once, in its own module (``videoperf.models.ensemble.family``,
``videoperf.models.deep.family``),
as a ``ModelFamily``; ``videoperf.models.registry`` lists them. Nothing else names a family's file, libraries or
functions. A family's module imports its training code inside ``fit`` only, so that predicting never imports
training modules.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from videoperf.config import Config, PresetConfig

if TYPE_CHECKING:
    import pandas as pd

    from videoperf.features.builder import FeatureBuilder, TrainingFeatures
    from videoperf.features.content import ContentEncoder

Writer = Callable[[Path], None]


@dataclass(frozen=True)
class TrainSettings:
    """What one training run uses; build it with ``resolve``."""

    config: Config
    speed: str
    preset: PresetConfig
    models: tuple[str, ...]
    seed: int
    progress: bool = True

    def manifest(self) -> dict[str, Any]:
        """The settings as the bundle's manifest records them (``config`` section)."""
        return {"speed": self.speed, "models": list(self.models), "seed": self.seed,
                "preset": dataclasses.asdict(self.preset), "validation": dataclasses.asdict(self.config.validation),
                "prediction": dataclasses.asdict(self.config.prediction)}



@dataclass
class TrainContext:
    """Everything a model family's ``fit`` may use."""

    snapshots: pd.DataFrame          # training snapshots, prepared (sorted, fresh index)
    settings: TrainSettings
    features: FeatureBuilder         # fitted on ``snapshots``
    training: TrainingFeatures       # point-in-time features of every row of ``snapshots``
    content: ContentEncoder          # fitted on the training videos; the folds' builders reuse it




@dataclass(frozen=True)
class ModelFamily:
    """One model family.

    * ``name``: the ``model_type`` callers pass;
    * ``artifact``: its model file in a bundle; ``extra_files``: the other files it writes (``files``: all);
    * ``libraries``: the libraries its files need, version-checked before they are loaded;
    * ``fit(ctx) -> (model, report)`` on a ``pipeline.TrainContext``;
    * ``predict(model, X, rows) -> DataFrame`` with ``predicted_views`` (+ ``views_lo`` / ``views_hi`` and other
      ``predicted_*``) for feature rows ``X`` of the request / snapshot rows ``rows``;
    * ``save(model) -> {file name: writer}``, one writer per file of ``files``;
    * ``load(folder, manifest) -> model``, called once the bundle's hashes are verified.
    """

    name: str
    artifact: str
    libraries: tuple[str, ...]
    fit: Callable[[TrainContext], tuple[Any, dict[str, Any]]]
    predict: Callable[[Any, pd.DataFrame, pd.DataFrame], pd.DataFrame]
    save: Callable[[Any], dict[str, Writer]]
    load: Callable[[Path, dict[str, Any]], Any]
    extra_files: tuple[str, ...] = ()
    # A family whose ``predict`` spends its time in libraries that release the GIL, and predicts each row on its
    # own, can take large batches as row chunks this many at a time, each on one thread (``prediction_threads``;
    # ``bundle.Bundle.predict_frame``). 1: one call, the libraries' own threading.
    concurrent_chunks: int = 1
    # Its table has columns besides the views that depend on the row's age (stage, like ratio, shape heads).
    age_columns: bool = False

    @property
    def files(self) -> tuple[str, ...]:
        """Every file the family writes into a bundle, its model file first."""
        return (self.artifact, *self.extra_files)


_THREADS = threading.local()


def prediction_threads() -> int | None:
    """Threads a family's ``predict`` may use in this thread (``None``: the libraries' defaults)."""
    return getattr(_THREADS, "count", None)


@contextmanager
def threads_for_prediction(count: int | None) -> Iterator[None]:
    """Within the block, ``prediction_threads()`` is ``count`` (in this thread only)."""
    previous = prediction_threads()
    _THREADS.count = count
    try:
        yield
    finally:
        _THREADS.count = previous
