"""A configuration small enough for unit tests: same code paths, tiny learners (seconds, not minutes)."""

from __future__ import annotations

import dataclasses

from videoperf.config import Config, load_config

TINY_LEARNERS = {
    "xgboost": {"n_estimators": 25, "max_depth": 4, "learning_rate": 0.2},
    "lightgbm": {"n_estimators": 25, "num_leaves": 15, "learning_rate": 0.2, "min_child_samples": 5},
    "catboost": {"iterations": 25, "depth": 4, "learning_rate": 0.2},
    "hist_gradient_boosting": {"max_iter": 25, "learning_rate": 0.2, "max_leaf_nodes": 15},
    "random_forest": {"n_estimators": 10, "max_features": 0.5, "max_samples": 0.5, "max_depth": 8},
}


TINY_DEEP = {"encoder": "tiny", "epochs": 2, "hidden_dim": 32, "batch_size": 64, "learning_rate": 0.003,
             "patience": 5, "max_minutes": 2.0, "mixed_precision": False, "max_train_rows": 5000,
             "trainable_encoder_layers": 0, "finetune_epochs": 0}


def tiny_config(max_train_rows: int = 4000, tiny_deep: bool = False) -> Config:
    """``model_config.json`` with every preset shrunk to tiny learners and text features (and, with
    ``tiny_deep``, the deep model to the random tiny encoder and two epochs)."""
    config = load_config()
    presets = {}
    for speed, preset in config.presets.items():
        features = dataclasses.replace(preset.features, tfidf_max_features=2000, title_svd_components=4,
                                       tag_svd_components=3, min_document_frequency=2)
        # every learner in every preset: the unit tests go through each learner's code (``fast`` fits two)
        ensemble = dataclasses.replace(preset.ensemble, max_train_rows=max_train_rows, learners=tuple(TINY_LEARNERS),
                                       **TINY_LEARNERS)
        deep = dataclasses.replace(preset.deep, **TINY_DEEP) if tiny_deep else preset.deep
        presets[speed] = dataclasses.replace(preset, features=features, ensemble=ensemble, deep=deep)
    return dataclasses.replace(config, presets=presets)
