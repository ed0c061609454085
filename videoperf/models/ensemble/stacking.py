"""Stacking ensemble for log views with conformal prediction intervals.

Base learners (the preset's ``learners``, every setting from the speed preset; 2 threads each): XGBoost, LightGBM
and CatBoost (each skipped with a logged note when its package is missing), HistGradientBoosting and a
RandomForest bounded by ``max_features`` / ``max_samples`` / ``max_depth``. ``fast`` fits XGBoost (400 trees) and
LightGBM (200) only: on the whole export the five-learner stack weighted XGBoost and LightGBM 0.38 and 0.53,
HistGradientBoosting 0.10 and the other two 0, and every learner kept costs its tree walks on every predicted row;
on the training folds before the first backtest origin the two-learner stack scored as the five did
(``docs/architecture.md``, "Fourth pass").

A Ridge meta-learner with non-negative weights combines the learners' out-of-fold (OOF) predictions from the
forward-chaining folds: each fold's learners are fitted on earlier videos and predict the next block, so the
meta-learner learns how much to trust each learner on *new* videos, never on rows it was fitted on. Only the
learners it gives a weight are refitted on every row and kept (``models_``): one with weight 0 cannot change a
prediction, and a bundle should not load (or a user's machine import) a library whose output it multiplies by 0.

Intervals: split-conformal (``videoperf.models.intervals``) on the stack's held-out residuals, the meta-learner
itself cross-fitted over the folds, per group of rows (channel history known or not x age bucket).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge

from videoperf.config import EnsembleConfig
from videoperf.library_internals import (
    BoostedTrees,
    FloatTrees,
    ForestTrees,
    boosting_arrays,
    forest_arrays,
    xgboost_arrays,
)
from videoperf.lifecycle.metrics import mae, r2, spearman
from videoperf.models.intervals import ConformalIntervals, interval_groups
from videoperf.progress import progress as progress_bar

logger = logging.getLogger(__name__)

LEARNERS = ("xgboost", "lightgbm", "catboost", "hist_gradient_boosting", "random_forest")
N_JOBS = 2
# Below this many rows, a prediction spread over threads costs more than the trees themselves: every learner
# predicts on one thread.
SMALL_BATCH = 2000
# Up to this many rows a learner's trees are walked as flat arrays (``videoperf.library_internals``): below, its own
# call costs more than the trees (Python per tree, or fixed work per call); above, the flat walk is the slower one.
FLAT_TREE_ROWS = 16
XGB_FLAT_ROWS = 8


def _optional(module: str) -> Any | None:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def make_learner(name: str, params: dict[str, Any], seed: int = 0) -> Any | None:
    """An unfitted base learner with the preset's ``params``; ``None`` (logged) if its package is missing."""
    params = dict(params)
    if name == "xgboost":
        xgb = _optional("xgboost")
        if xgb is None:
            logger.warning("xgboost is not installed: the stack goes on without it")
            return None
        return xgb.XGBRegressor(**params, tree_method="hist", n_jobs=N_JOBS, random_state=seed, verbosity=0)
    if name == "lightgbm":
        lgb = _optional("lightgbm")
        if lgb is None:
            logger.warning("lightgbm is not installed: the stack goes on without it")
            return None
        return lgb.LGBMRegressor(**params, n_jobs=N_JOBS, random_state=seed, verbose=-1)
    if name == "catboost":
        cb = _optional("catboost")
        if cb is None:
            logger.warning("catboost is not installed: the stack goes on without it")
            return None
        return cb.CatBoostRegressor(**params, thread_count=N_JOBS, random_seed=seed, verbose=False,
                                    allow_writing_files=False)
    if name == "hist_gradient_boosting":
        return HistGradientBoostingRegressor(**params, random_state=seed)
    if name == "random_forest":
        return RandomForestRegressor(**params, n_jobs=N_JOBS, random_state=seed)
    raise ValueError(f"learner: unknown name {name!r}; choose from {list(LEARNERS)}")


@dataclass
class Fold:
    """One forward-chaining fold: features fitted on ``X_train``'s videos only, ``X_valid`` a later block."""

    X_train: pd.DataFrame
    y_train: np.ndarray
    X_valid: pd.DataFrame
    y_valid: np.ndarray
    w_train: np.ndarray | None = None  # per-row weights of the fold's training rows (recency), None = equal


def _as_matrix(X: pd.DataFrame | np.ndarray, names: list[str]) -> np.ndarray:
    """A writable float32 matrix in training column order (learners are fitted on plain arrays, which keeps
    single-row prediction free of per-call DataFrame checks)."""
    if isinstance(X, pd.DataFrame):
        same_order = len(X.columns) == len(names) and all(a == b for a, b in zip(X.columns, names))
        matrix = (X if same_order else X[names]).to_numpy(dtype=np.float32)
    else:
        matrix = np.asarray(X, np.float32)
    return matrix if matrix.flags.writeable and matrix.flags.c_contiguous else np.array(matrix, order="C")


def _training_matrix(X: pd.DataFrame, names: list[str]) -> np.ndarray:
    """``_as_matrix`` with columns that are entirely unknown set to 0: such a column carries nothing to learn
    (e.g. duration in the Kaggle schema), and HistGradientBoosting cannot bin it."""
    matrix = _as_matrix(X, names)
    empty = ~np.isfinite(matrix).any(axis=0)
    if empty.any():
        matrix = matrix.copy()
        matrix[:, empty] = 0.0
    return matrix


def _scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {"r2": r2(y, pred), "mae": mae(y, pred), "spearman": spearman(y, pred)}


class StackingEnsemble:
    """Base learners + Ridge meta-learner on OOF predictions + conformal intervals (log-views space)."""

    def __init__(self, config: EnsembleConfig, seed: int = 0, coverage: float = 0.8,
                 learners: Sequence[str] | None = None) -> None:
        if not 0.0 < coverage < 1.0:
            raise ValueError(f"coverage: must be in (0, 1), got {coverage!r}")
        learners = tuple(config.learners if learners is None else learners)
        unknown = [name for name in learners if name not in LEARNERS]
        if unknown or not learners or len(set(learners)) < len(learners):
            raise ValueError(f"learners: expected distinct names from {list(LEARNERS)}, got {list(learners)}")
        self.config = config
        self.seed = seed
        self.coverage = coverage
        self.learners = learners
        self.report_: dict[str, Any] = {}

    def _prototypes(self) -> dict[str, Any]:
        out = {}
        for name in self.learners:
            learner = make_learner(name, getattr(self.config, name), self.seed)
            if learner is not None:
                out[name] = learner
        if not out:
            raise RuntimeError("ensemble: no base learner is available")
        return out

    def fit(self, folds: Sequence[Fold], X: pd.DataFrame, y: np.ndarray, progress: bool = True,
            sample_weight: np.ndarray | None = None) -> StackingEnsemble:
        """Fit on ``X, y`` (rows weighted by ``sample_weight``) after collecting OOF predictions from ``folds``
        (see the module docstring)."""
        y = np.asarray(y, dtype=float)
        if not folds:
            raise ValueError("folds: the stack needs at least one forward-chaining fold")
        prototypes = self._prototypes()
        names = list(prototypes)
        self.feature_names_ = list(X.columns)
        skipped = [name for name in self.learners if name not in prototypes]
        timings = dict.fromkeys(names, 0.0)
        oof_parts, y_parts, group_parts, fold_ids = [], [], [], []
        steps = progress_bar(total=len(names) * (len(folds) + 1), desc="ensemble", unit="fit", enabled=progress)
        for k, fold in enumerate(folds):
            preds = np.empty((len(fold.X_valid), len(names)))
            X_train = _training_matrix(fold.X_train, self.feature_names_)
            X_valid = _as_matrix(fold.X_valid, self.feature_names_)
            for j, name in enumerate(names):
                start = time.perf_counter()
                model = clone(prototypes[name]).fit(X_train, fold.y_train, sample_weight=fold.w_train)
                preds[:, j] = model.predict(X_valid)
                timings[name] += time.perf_counter() - start
                logger.debug("fold %d %s: %.1f s", k + 1, name, time.perf_counter() - start)
                steps.set_postfix_str(f"fold {k + 1}/{len(folds)} {name}")
                steps.update()
            logger.info("fold %d: %d training rows, %d held-out rows", k + 1, len(fold.X_train), len(fold.X_valid))
            oof_parts.append(preds)
            y_parts.append(np.asarray(fold.y_valid, dtype=float))
            group_parts.append(interval_groups(fold.X_valid))
            fold_ids.append(np.full(len(fold.X_valid), k))
        oof, y_oof = np.vstack(oof_parts), np.concatenate(y_parts)
        groups, fold_id = np.concatenate(group_parts), np.concatenate(fold_ids)

        self.meta_ = Ridge(alpha=self.config.ridge_alpha, positive=True).fit(oof, y_oof)
        stacked_oof = self._cross_fitted_meta(oof, y_oof, fold_id)
        self.intervals_ = ConformalIntervals(self.coverage).fit(y_oof - stacked_oof, groups)

        self.learner_names_ = names  # the meta-learner's columns, in order
        weighted = [name for name, weight in zip(names, self.meta_.coef_) if weight != 0.0]
        steps.total = len(names) * len(folds) + len(weighted)
        self.models_ = {}
        matrix = _training_matrix(X, self.feature_names_)
        for name in weighted:
            start = time.perf_counter()
            self.models_[name] = clone(prototypes[name]).fit(matrix, y, sample_weight=sample_weight)
            timings[name] += time.perf_counter() - start
            steps.set_postfix_str(f"final {name}")
            steps.update()
        steps.close()

        self.report_ = {
            "learners": {name: {**_scores(y_oof, oof[:, j]), "weight": float(self.meta_.coef_[j]),
                                "fit_seconds": round(timings[name], 2), "kept": name in self.models_}
                         for j, name in enumerate(names)},
            "stack": {**_scores(y_oof, stacked_oof), "intercept": float(self.meta_.intercept_)},
            "skipped_learners": skipped,
            "oof_rows": int(len(y_oof)), "folds": len(folds), "train_rows": int(len(y)),
            "intervals": {"coverage_target": self.coverage,
                          "oof_coverage": self.intervals_.covered(y_oof, stacked_oof, groups)},
        }
        best = max(names, key=lambda n: self.report_["learners"][n]["r2"])
        logger.info("OOF log-views R2: %s; stack %.4f",
                    ", ".join(f"{n} {self.report_['learners'][n]['r2']:.4f}" for n in names),
                    self.report_["stack"]["r2"])
        if self.report_["stack"]["r2"] < self.report_["learners"][best]["r2"]:
            logger.info("the stack does not beat its best member (%s) out of fold", best)
        return self

    def _cross_fitted_meta(self, oof: np.ndarray, y: np.ndarray, fold_id: np.ndarray) -> np.ndarray:
        """Meta-predictions for each fold from a Ridge fitted on the other folds: honest stack residuals."""
        out = np.empty(len(y))
        folds = np.unique(fold_id)
        for k in folds:
            held = fold_id == k
            meta = self.meta_ if len(folds) == 1 else Ridge(alpha=self.config.ridge_alpha, positive=True).fit(
                oof[~held], y[~held])
            out[held] = meta.predict(oof[held])
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_tree_arrays", None)  # rebuilt from the learners on first use
        state.pop("_one_thread_xgboost", None)
        state.pop("_xgboost_flat", None)
        return state

    def _small_batch_trees(self) -> dict[str, ForestTrees | BoostedTrees]:
        """The forest's and the histogram booster's trees as flat arrays (``library_internals``), built once."""
        arrays = self.__dict__.get("_tree_arrays")
        if arrays is None:
            built = {"random_forest": forest_arrays(self.models_.get("random_forest")),
                     "hist_gradient_boosting": boosting_arrays(self.models_.get("hist_gradient_boosting"))}
            arrays = self._tree_arrays = {name: trees for name, trees in built.items() if trees is not None}
        return arrays

    def _xgboost_one_thread(self, model: Any) -> Any:
        """A copy of the XGBoost booster set to one thread (built once; changing the shared one's threads per call
        would race with concurrent predictions). Threads only split rows, so its predictions are the same."""
        booster = self.__dict__.get("_one_thread_xgboost")
        if booster is None:
            booster = model.get_booster().copy()
            booster.set_param({"nthread": 1})
            self._one_thread_xgboost = booster
        return booster

    def _xgboost_tiny_batch(self, model: Any) -> FloatTrees | None:
        """XGBoost's trees as flat arrays for batches of at most ``XGB_FLAT_ROWS`` rows (``library_internals``:
        bit for bit XGBoost's float32 predictions; XGBoost's own call has more fixed work than walking its trees
        for a row). The trees are read from the booster's JSON on the second small call, not the first: a process
        that predicts once (the command line) does not pay for reading them."""
        flat = self.__dict__.get("_xgboost_flat")
        if flat is None:  # the first small call: XGBoost predicts; the next builds the arrays
            self._xgboost_flat = "next"
            return None
        if flat == "next":
            flat = self._xgboost_flat = xgboost_arrays(model) or False
        return flat or None

    def base_predictions(self, X: pd.DataFrame | np.ndarray, n_threads: int | None = None,
                         skip: frozenset[str] = frozenset()) -> np.ndarray:
        """One column per base learner (the meta-learner's inputs).

        ``n_threads=1``: every learner on one thread (the bundle predicts large batches as chunks, two at a
        time); ``None``: the libraries' own threading. Small batches always run on one thread: starting threads
        for a few rows costs more than the rows. Learners named in ``skip``, or not kept (weight 0), are not run:
        their column is 0."""
        matrix = _as_matrix(X, self.feature_names_)
        one = len(matrix) < SMALL_BATCH or n_threads == 1
        trees = self._small_batch_trees() if len(matrix) <= FLAT_TREE_ROWS else {}
        columns = []
        for name in self._learner_names():
            model = self.models_.get(name)
            if name in skip or model is None:
                columns.append(np.zeros(len(matrix)))
            elif name in trees:
                columns.append(trees[name].predict(matrix))
            elif name == "lightgbm" and one:
                columns.append(model.booster_.predict(matrix, num_threads=1))
            elif name == "xgboost" and len(matrix) <= XGB_FLAT_ROWS and (flat := self._xgboost_tiny_batch(model)):
                columns.append(flat.predict(matrix))
            elif name == "xgboost" and one:
                columns.append(self._xgboost_one_thread(model).inplace_predict(
                    matrix, iteration_range=_xgboost_iterations(model), predict_type="value",
                    missing=model.missing, validate_features=False))
            elif name == "catboost" and one:
                columns.append(model.predict(matrix, thread_count=1))
            elif name == "hist_gradient_boosting" and one:
                with one_openmp_thread():
                    columns.append(_in_row_chunks(model.predict, matrix))
            elif name == "random_forest" and one and hasattr(model, "estimators_"):
                columns.append(_forest_in_order(model, matrix))
            elif name == "hist_gradient_boosting":
                columns.append(_in_row_chunks(model.predict, matrix))
            else:
                columns.append(model.predict(matrix))
        return np.column_stack(columns)

    def unweighted_learners(self) -> frozenset[str]:
        """Base learners whose meta-learner weight is exactly 0 (the weights are non-negative, so a learner the
        stack does not trust gets 0): their predictions cannot change the stack's, so ``predict`` skips them."""
        return frozenset(name for name, weight in zip(self._learner_names(), self.meta_.coef_) if weight == 0.0)

    def _learner_names(self) -> list[str]:
        # Bundles saved before ``learner_names_`` kept every learner, in the meta-learner's order.
        return self.__dict__.get("learner_names_") or list(self.models_)

    def predict(self, X: pd.DataFrame | np.ndarray, n_threads: int | None = None) -> np.ndarray:
        """Predicted log1p(views).

        A learner with weight 0 is not run and its column is 0 instead of its (finite) prediction: 0 times
        either is 0, so the product below, and every prediction, is bit for bit what running it would give."""
        base = self.base_predictions(X, n_threads, skip=self.unweighted_learners())
        return base @ self.meta_.coef_ + self.meta_.intercept_  # Ridge.predict without its input checks

    def predict_interval(self, X: pd.DataFrame, n_threads: int | None = None
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(prediction, lower, upper)`` in log1p(views); the interval covers ``coverage`` of new videos."""
        pred = self.predict(X, n_threads)
        lo, hi = self.intervals_.bounds(interval_groups(X))
        return pred, pred + lo, pred + hi


# HistGradientBoosting walks all rows tree by tree; past a few thousand rows the rows fall out of the CPU cache
# for every tree. Row chunks keep them in it (2-3x faster on 100,000 rows); each row's sum is the same.
HGB_CHUNK_ROWS = 4096


def _in_row_chunks(predict: Any, matrix: np.ndarray, rows: int = HGB_CHUNK_ROWS) -> np.ndarray:
    if len(matrix) <= rows:
        return predict(matrix)
    return np.concatenate([predict(matrix[start:start + rows]) for start in range(0, len(matrix), rows)])


def one_openmp_thread() -> AbstractContextManager[Any]:
    """A context in which OpenMP code started from this thread (HistGradientBoosting) runs on one thread.

    threadpoolctl is scikit-learn's documented way to set it; OpenMP keeps the setting per calling thread, so
    concurrent chunks do not change each other's. The libraries are looked up once: that costs more than a small
    prediction."""
    return _openmp_libraries().limit(limits=1, user_api="openmp")


@cache
def _openmp_libraries() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _xgboost_iterations(model: Any) -> tuple[int, int]:
    """The trees ``XGBRegressor.predict`` uses: up to the best iteration when early stopping found one, else all."""
    try:
        return 0, model.best_iteration + 1
    except AttributeError:  # no early stopping
        return 0, 0


def _forest_in_order(forest: Any, matrix: np.ndarray) -> np.ndarray:
    """``RandomForestRegressor.predict`` on one thread: the trees' predictions summed in order, then averaged
    (what scikit-learn computes with ``n_jobs=1``; with threads only the order of the sum can differ)."""
    total = np.zeros(len(matrix))
    for tree in forest.estimators_:
        total += tree.predict(matrix, check_input=False)
    total /= len(forest.estimators_)
    return total
