"""Small-batch prediction of fitted tree ensembles without their per-tree Python loops.

HistGradientBoosting predicts tree by tree in Python (200 trees: ~4 ms for one row) and a RandomForest spreads
a few rows over threads (tens of ms). ``TreeArrays`` flattens the fitted trees into NumPy arrays once and walks
every tree at the same time, level by level: for a handful of rows that is a few dozen vectorised steps. The
rules are the libraries' own (a missing value goes where the split sent missing values in training, otherwise
``value <= threshold`` goes left), so the leaves reached are the same; only the order of summing the leaf
values of a boosted model differs (the last bits of a float64).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class TreeArrays:
    """Every tree of one fitted ensemble as flat arrays; ``leaf_values(X)`` is (n_trees, n_rows)."""

    def __init__(self, feature: list[np.ndarray], threshold: list[np.ndarray], left: list[np.ndarray],
                 right: list[np.ndarray], missing_left: list[np.ndarray], leaf: list[np.ndarray],
                 value: list[np.ndarray]) -> None:
        offsets = np.cumsum([0, *(len(f) for f in feature[:-1])])
        self.roots = offsets.astype(np.int64)
        self.feature = np.concatenate(feature).astype(np.int64)
        self.threshold = np.concatenate(threshold).astype(np.float64)
        # Children as positions in the flat arrays; a leaf points to itself, so finished trees stay put.
        own = np.arange(len(self.feature))
        self.leaf = np.concatenate(leaf).astype(bool)
        self.left = np.where(self.leaf, own, np.concatenate([lo + o for lo, o in zip(left, offsets)]))
        self.right = np.where(self.leaf, own, np.concatenate([hi + o for hi, o in zip(right, offsets)]))
        self.missing_left = np.concatenate(missing_left).astype(bool)
        self.value = np.concatenate(value).astype(np.float64)
        self.feature[self.leaf] = 0

    def leaf_values(self, X: np.ndarray) -> np.ndarray:
        """The value of the leaf each row reaches in each tree, shape (n_trees, n_rows)."""
        rows = np.arange(len(X))[None, :]
        node = np.repeat(self.roots[:, None], len(X), axis=1)
        while True:
            if self.leaf[node].all():
                return self.value[node]
            x = X[rows, self.feature[node]]
            go_left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])


def forest_arrays(forest: Any) -> TreeArrays | None:
    """A fitted scikit-learn RandomForestRegressor's trees (``None`` for anything else)."""
    trees = [estimator.tree_ for estimator in getattr(forest, "estimators_", [])]
    if not trees or any(tree.n_outputs != 1 for tree in trees):
        return None
    return TreeArrays([t.feature for t in trees], [t.threshold for t in trees], [t.children_left for t in trees],
                      [t.children_right for t in trees],
                      [getattr(t, "missing_go_to_left", np.zeros(t.node_count, bool)) for t in trees],
                      [t.children_left == -1 for t in trees], [t.value[:, 0, 0] for t in trees])


def boosting_arrays(model: Any) -> TreeArrays | None:
    """A fitted HistGradientBoostingRegressor's trees (``None`` when it has categorical splits, several trees per
    iteration or a link other than the identity: then its own ``predict`` is used)."""
    predictors = getattr(model, "_predictors", None)
    if not predictors or any(len(per_iteration) != 1 for per_iteration in predictors):
        return None
    if type(model._loss.link).__name__ != "IdentityLink":
        return None
    nodes = [per_iteration[0].nodes for per_iteration in predictors]
    if any(n["is_categorical"].any() for n in nodes):
        return None
    return TreeArrays([n["feature_idx"] for n in nodes], [n["num_threshold"] for n in nodes],
                      [n["left"].astype(np.int64) for n in nodes], [n["right"].astype(np.int64) for n in nodes],
                      [n["missing_go_to_left"] for n in nodes], [n["is_leaf"] for n in nodes],
                      [n["value"] for n in nodes])
