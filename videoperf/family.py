"""What a model family is: the one description that training, the bundle and inference read.

Each family declares itself once, in its own module (``videoperf.ensemble_family``, ``videoperf.deep_family``),
as a ``ModelFamily``; ``videoperf.registry`` lists them. Nothing else names a family's file, libraries or
functions. A family's module imports its training code inside ``fit`` only, so that predicting never imports
training modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from videoperf.pipeline import TrainContext

Writer = Callable[[Path], None]


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

    @property
    def files(self) -> tuple[str, ...]:
        """Every file the family writes into a bundle, its model file first."""
        return (self.artifact, *self.extra_files)
