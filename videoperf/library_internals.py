"""The one module that reaches past the public API of scikit-learn, XGBoost and torch.

Every other module uses the libraries through their public API (``tests/test_architecture.py`` checks it). What
is here either reads what a library does not expose (a histogram booster's trees, a tensor's version counter,
the CPU's bfloat16 support) or computes a public call's result faster for the sizes predictions come in: fitted
tree ensembles walked as flat arrays, and TF-IDF + SVD of tokens computed once. Each shortcut is pinned by a test
to the public API's result on the pinned library versions (``tests/test_hot_path.py``, ``tests/test_ensemble.py``),
so an upgrade that changes either side fails a test instead of changing predictions. What each one is worth, and
how that was measured, is in ``docs/library_internals.md``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

# ----------------------------------------------------------------------------------------------- tree ensembles
# Tree by tree in Python (HistGradientBoosting), over threads (RandomForest) or through a call with fixed costs
# (XGBoost), a few rows cost far more than their trees. Walking every tree at once, level by level, is a few dozen
# vectorised steps. The rules are the libraries' own (a missing value goes where the split sent missing values in
# training, otherwise ``value <= threshold`` goes left), so the same leaves are reached.


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


class ForestTrees:
    """A random forest's prediction: the mean of the leaves its trees reach."""

    def __init__(self, trees: TreeArrays) -> None:
        self.trees = trees

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.mean(self.trees.leaf_values(X), axis=0)


class BoostedTrees:
    """A histogram booster's prediction: its baseline plus the sum of its trees' leaves (summed in another order
    than scikit-learn's: the last bits of a float64 may differ)."""

    def __init__(self, trees: TreeArrays, baseline: float) -> None:
        self.trees = trees
        self.baseline = baseline

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.baseline + self.trees.leaf_values(X).sum(axis=0)


def forest_arrays(forest: Any) -> ForestTrees | None:
    """A fitted scikit-learn RandomForestRegressor's trees (``None`` for anything else)."""
    trees = [estimator.tree_ for estimator in getattr(forest, "estimators_", [])]
    if not trees or any(tree.n_outputs != 1 for tree in trees):
        return None
    return ForestTrees(TreeArrays(
        [t.feature for t in trees], [t.threshold for t in trees], [t.children_left for t in trees],
        [t.children_right for t in trees], [getattr(t, "missing_go_to_left", np.zeros(t.node_count, bool))
                                            for t in trees],
        [t.children_left == -1 for t in trees], [t.value[:, 0, 0] for t in trees]))


def boosting_arrays(model: Any) -> BoostedTrees | None:
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
    trees = TreeArrays([n["feature_idx"] for n in nodes], [n["num_threshold"] for n in nodes],
                       [n["left"].astype(np.int64) for n in nodes], [n["right"].astype(np.int64) for n in nodes],
                       [n["missing_go_to_left"] for n in nodes], [n["is_leaf"] for n in nodes],
                       [n["value"] for n in nodes])
    return BoostedTrees(trees, model._baseline_prediction.ravel()[0])


class FloatTrees:
    """An XGBoost regressor's trees as ``TreeArrays``, predicting as XGBoost does: in float32, the base score
    first, then each tree's leaf value added in tree order (``predict(X)`` is bit for bit XGBoost's)."""

    def __init__(self, trees: TreeArrays, base_score: np.float32) -> None:
        self.trees = trees
        self.base_score = np.float32(base_score)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """float32 predictions of float32 rows ``X``."""
        leaves = self.trees.leaf_values(X).astype(np.float32)  # the leaves are float32 values: exact
        stacked = np.concatenate([np.full((1, len(X)), self.base_score, np.float32), leaves])
        return np.cumsum(stacked, axis=0, dtype=np.float32)[-1]  # a running sum: XGBoost's order of additions


def xgboost_arrays(model: Any) -> FloatTrees | None:
    """A fitted ``xgboost.XGBRegressor``'s trees (``None`` when it is not a plain one-output tree booster with
    numerical splits and NaN as missing, or was early-stopped: then XGBoost predicts).

    XGBoost goes left when ``value < split`` (float32): for float32 inputs that is ``value <= the largest float32
    below split``, which is the ``TreeArrays`` rule. Every number is read from the booster's JSON, whose floats
    are written in the shortest form that reads back as the same float32."""
    try:
        booster = model.get_booster()
        if not np.isnan(model.missing) or booster.attr("best_iteration") is not None:
            return None
        learner = json.loads(booster.save_raw("json"))["learner"]
    except Exception:  # not an XGBoost model, or one saved differently: its own predict is used
        return None
    params, gbm = learner["learner_model_param"], learner["gradient_booster"]
    if (gbm.get("name") != "gbtree" or learner["objective"]["name"] != "reg:squarederror"
            or params.get("num_target", "1") != "1" or params.get("num_class", "0") != "0"):
        return None
    trees = gbm["model"]["trees"]
    base = [float(v) for v in str(params["base_score"]).strip("[]").split(",")]
    if len(base) != 1 or not trees or any(t["categories_nodes"] or any(t["split_type"]) for t in trees):
        return None
    if int(gbm["model"]["gbtree_model_param"].get("num_parallel_tree", "1")) != 1:
        return None
    feature, threshold, left, right, missing_left, leaf, value = [], [], [], [], [], [], []
    for tree in trees:
        children_left = np.asarray(tree["left_children"], np.int64)
        split = np.asarray(tree["split_conditions"], np.float32)
        is_leaf = children_left == -1
        feature.append(np.asarray(tree["split_indices"], np.int64))
        threshold.append(np.where(is_leaf, 0.0, np.nextafter(split, np.float32(-np.inf))))
        left.append(children_left)
        right.append(np.asarray(tree["right_children"], np.int64))
        missing_left.append(np.asarray(tree["default_left"], bool))
        leaf.append(is_leaf)
        value.append(np.where(is_leaf, split, np.float32(0.0)))  # a leaf's split_condition is its value
    return FloatTrees(TreeArrays(feature, threshold, left, right, missing_left, leaf, value), np.float32(base[0]))
