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
import weakref
from collections.abc import Mapping
from itertools import chain, repeat
from typing import Any

import numpy as np
from scipy import sparse

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


# --------------------------------------------------------------------------------------------------- TF-IDF + SVD
# ``svd.transform(vectorizer.transform(documents))`` validates its input and analyses every document again on each
# call, although the content encoder has their tokens already. These compute the same numbers from the tokens:
# the vectoriser's vocabulary lookup, then TfidfTransformer's arithmetic (float32 counts, log + 1, times idf, l2
# row norms by scikit-learn's own kernel) and the SVD's sparse product by SciPy.

DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


def title_term_ids(vectorizer: Any, titles: list[str], words: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """``(document, vocabulary id)`` of every term a fitted ``TfidfVectorizer``'s analyzer yields for ``titles``
    and its vocabulary holds; ``words``: the ``\\w\\w+`` runs of each lower-cased title.

    With the default word settings and ``ngram_range=(1, 2)`` the analyzer's terms are those words (its token
    pattern finds the same runs) and their bigrams, which are looked up as pairs of word codes
    (``_bigram_table``) rather than built as strings; any other configuration goes through the analyzer."""
    default = (vectorizer.analyzer == "word" and vectorizer.lowercase and vectorizer.preprocessor is None
               and vectorizer.tokenizer is None and vectorizer.stop_words is None
               and vectorizer.strip_accents is None and vectorizer.token_pattern == DEFAULT_TOKEN_PATTERN
               and vectorizer.vocabulary is None  # a given vocabulary may hold terms of any length
               and tuple(vectorizer.ngram_range) == (1, 2))
    if not default:
        analyze = vectorizer.build_analyzer()
        return term_ids(vectorizer.vocabulary_, [analyze(title) for title in titles])
    codes, unigram, pairs, pair_ids = _bigram_table(vectorizer)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    word = np.fromiter(map(codes.get, chain.from_iterable(words), repeat(-1)), dtype=np.int64,
                       count=int(lengths.sum()))
    docs = np.repeat(np.arange(len(words), dtype=np.int64), lengths)
    ids = np.where(word >= 0, unigram[word], -1)
    # A bigram is two consecutive words of one title, both in some vocabulary term.
    pair = (docs[1:] == docs[:-1]) & (word[1:] >= 0) & (word[:-1] >= 0)
    key = word[:-1][pair] * len(codes) + word[1:][pair]
    at = np.minimum(np.searchsorted(pairs, key), len(pairs) - 1)
    found = pairs[at] == key if len(pairs) else np.zeros(len(key), dtype=bool)
    known = ids >= 0
    return (np.concatenate([docs[known], docs[:-1][pair][found]]),
            np.concatenate([ids[known], pair_ids[at[found]]]))


def term_ids(vocabulary: Mapping[str, int], terms: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """``(document, vocabulary id)`` of every term of ``terms`` (one list per document) in ``vocabulary``."""
    lengths = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
    ids = np.fromiter(map(vocabulary.get, chain.from_iterable(terms), repeat(-1)), dtype=np.int64,
                      count=int(lengths.sum()))
    docs = np.repeat(np.arange(len(terms), dtype=np.int64), lengths)
    known = ids >= 0
    return docs[known], ids[known]


def tfidf_svd(vectorizer: Any, svd: Any, docs: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """``svd.transform(vectorizer.transform(documents))`` of ``n`` documents from the ``(document, vocabulary id)``
    of their terms (``title_term_ids``, ``term_ids``), bit for bit.

    Counting is vectorised: (document, term) keys are sorted and counted at once, which is also the CSR order the
    library's ``sort_indices`` produces."""
    width = len(vectorizer.vocabulary_)
    keys, counts = np.unique(docs * width + ids, return_counts=True)
    rows, columns = np.divmod(keys, width)
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    data = counts.astype(vectorizer.dtype)
    if vectorizer.sublinear_tf:
        np.log(data, data)
        data += 1.0
    if vectorizer.use_idf:
        data *= vectorizer.idf_[columns]
    matrix = sparse.csr_matrix((data, columns.astype(np.int32), indptr), shape=(n, width))
    if vectorizer.norm == "l2":
        l2_normalize_rows(matrix)
    elif vectorizer.norm is not None:
        from sklearn.preprocessing import normalize

        matrix = normalize(matrix, norm=vectorizer.norm, copy=False)
    return matrix @ _components_t(svd)


def l2_normalize_rows(matrix: sparse.csr_matrix) -> None:
    """``sklearn.preprocessing.normalize(matrix, copy=False)`` without its input validation: its own kernel."""
    from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

    inplace_csr_row_normalize_l2(matrix)


def _bigram_table(vectorizer: Any) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray]:
    """The title vocabulary as word codes, made once per fitted vectoriser: ``(code of each word of any term,
    vocabulary id of each code's unigram or -1, sorted codes of the bigrams, their vocabulary ids)``."""
    table = _BIGRAMS.get(vectorizer)
    if table is not None and table[0] is vectorizer.vocabulary_:
        return table[1]
    vocabulary = vectorizer.vocabulary_
    codes: dict[str, int] = {}
    for term in vocabulary:
        for part in term.split(" "):
            codes.setdefault(part, len(codes))
    unigram = np.full(len(codes), -1, dtype=np.int64)
    keys, ids = [], []
    for term, index in vocabulary.items():
        parts = term.split(" ")
        if len(parts) == 1:
            unigram[codes[term]] = index
        else:
            keys.append(codes[parts[0]] * len(codes) + codes[parts[1]])
            ids.append(index)
    order = np.argsort(np.asarray(keys, dtype=np.int64), kind="stable")
    result = (codes, unigram, np.asarray(keys, dtype=np.int64)[order], np.asarray(ids, dtype=np.int64)[order])
    _BIGRAMS[vectorizer] = (vocabulary, result)
    return result


def _components_t(svd: Any) -> np.ndarray:
    """``svd.components_.T`` in C order, made once per fitted SVD: SciPy's sparse product copies a transposed
    view into C order on every call, the same numbers either way."""
    copy = _TRANSPOSED.get(svd)
    if copy is None or copy[0] is not svd.components_:
        copy = _TRANSPOSED[svd] = (svd.components_, np.ascontiguousarray(svd.components_.T))
    return copy[1]


# Kept beside the SVDs and vectorisers, not on them: a pickled pipeline holds what was fitted and nothing else.
_TRANSPOSED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_BIGRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# ----------------------------------------------------------------------------------------------------------- torch


def cpu_supports_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 products natively on this CPU (torch has no public question for it)."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def tensor_version(tensor: Any) -> int:
    """The tensor's version counter: torch increments it on every in-place change (no public accessor)."""
    return int(tensor._version)
