"""Tables as a person reads them: the run's settings, numbers rounded for reading, example predictions.

The notebook keeps its numeric tables (``metrics`` is written to ``metrics.json`` as computed) and shows
``readable(table)``, a copy of strings: thousands separators for views and counts, three decimals for scores.
Strings render the same in JupyterLab, in an HTML export and in a plain-text view of the executed notebook,
which a pandas Styler does not (its text form is an object address).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from videoperf.config import PROJECT_ROOT
from videoperf.lifecycle.targets import STAGES
from videoperf.notebook.report import DEFAULT_TEST_FRACTION
from videoperf.notebook.run_settings import RunSettings

MISSING = "–"
# Counts of seconds and kilobytes read better with one decimal than with three.
ONE_DECIMAL_HINTS = ("seconds", "kB")


def format_number(value: Any, one_decimal: bool = False) -> str:
    """One value as text: integers and anything >= 100 with thousands separators, scores with 3 decimals.

    A non-zero value below 0.001 keeps 3 significant digits (a stage probability of 0.0002 is not 0.000).
    Anything that is not a number is returned as ``str(value)``; None and NaN as a dash.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 100 or (value.is_integer() and abs(value) >= 1):
        return f"{value:,.0f}"
    if one_decimal:
        return f"{value:.1f}"
    if value != 0 and abs(value) < 0.001:
        return f"{value:.3g}"
    return f"{value:.3f}"


def readable(table: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """A copy of ``table`` with every number formatted by ``format_number`` (the index is kept)."""
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        one_decimal = any(hint in str(column) for hint in ONE_DECIMAL_HINTS)
        out[column] = [format_number(value, one_decimal) for value in frame[column].tolist()]
    return out


def settings_table(settings: RunSettings) -> pd.DataFrame:
    """The run at a glance: what is trained on what, where it goes, and the main sizes of the chosen preset.

    Every value is kept short: pandas cuts a cell past 50 characters in the notebook's display.
    """
    preset = settings.config.preset(settings.speed)
    ensemble, deep, features = preset.ensemble, preset.deep, preset.features
    source = (f"synthetic: {settings.n_synthetic_videos:,} simulated videos" if settings.source == "synthetic"
              else settings.source)
    split = (f"published on or after {settings.split_date.date()}" if settings.split_date is not None
             else f"latest {DEFAULT_TEST_FRACTION:.0%} by publish time")
    artifacts = Path(settings.artifacts_dir)
    if artifacts.is_relative_to(PROJECT_ROOT):
        artifacts = artifacts.relative_to(PROJECT_ROOT)
    # the sizes of the learners the preset fits (``fast``: two of the five)
    sizes = {"xgboost": ("xgb", ensemble.xgboost.get("n_estimators")),
             "lightgbm": ("lgbm", ensemble.lightgbm.get("n_estimators")),
             "catboost": ("cat", ensemble.catboost.get("iterations")),
             "hist_gradient_boosting": ("hgb", ensemble.hist_gradient_boosting.get("max_iter"))}
    rounds = dict(sizes[name] for name in ensemble.learners if name in sizes)
    encoder = "frozen" if deep.trainable_encoder_layers == 0 else f"top {deep.trainable_encoder_layers} layer(s) tuned"
    rows = {
        "speed preset": settings.speed,
        "data source": source,
        "models": ", ".join(settings.models),
        "seed": str(settings.seed),
        "test videos": split,
        "artifacts folder": str(artifacts),
        "log messages": "INFO and up (VERBOSE)" if settings.verbose else "warnings and errors only",
        "text features": (f"TF-IDF ≤ {features.tfidf_max_features:,} terms, SVD {features.title_svd_components} "
                          f"title + {features.tag_svd_components} tag"),
        "ensemble": f"{len(ensemble.learners)} learners, ≤ {ensemble.max_train_rows:,} training rows",
        "boosting rounds": ", ".join(f"{name} {size}" for name, size in rounds.items() if size is not None),
        "random forest": (f"{ensemble.random_forest.get('n_estimators', '?')} trees"
                          if "random_forest" in ensemble.learners else "not fitted"),
        "deep encoder": f"{deep.encoder}, {encoder}",
        "deep training": f"≤ {deep.epochs} epochs + {deep.finetune_epochs} fine-tuning, batch {deep.batch_size}",
        "deep limits": f"≤ {deep.max_train_rows:,} rows, ≤ {deep.max_minutes:g} min, hidden {deep.hidden_dim}",
    }
    return pd.DataFrame({"setting": pd.Series(rows)})


def predictions_table(results: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """``{model: predict_performance(...)}`` as one small readable table: rows = outputs, columns = models.

    Rows a model does not predict (the ensemble's lifecycle stage) show a dash; rows no model has are dropped.
    """
    coverage = next((r["interval_coverage"] for r in results.values() if r.get("interval_coverage")), None)
    interval = f"{coverage:.0%} interval" if coverage else "interval"
    rows = (("predicted views", "predicted_views"), (f"{interval}: low", "views_lo"),
            (f"{interval}: high", "views_hi"), ("like ratio", "predicted_like_ratio"),
            ("lifecycle stage", "lifecycle_stage"), ("time to peak (days)", "time_to_peak_days"),
            ("decay rate (per day)", "decay_rate"))
    columns = {}
    for model, result in results.items():
        values = {label: result.get(key) for label, key in rows}
        probabilities = result.get("stage_probabilities") or {}
        values.update({f"P({stage})": probabilities.get(stage) for stage in STAGES})
        values["days since publish"] = result.get("days_since_publish")
        columns[model] = values
    frame = pd.DataFrame(columns)
    return readable(frame.loc[frame.notna().any(axis=1)])
