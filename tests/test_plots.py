"""Every figure of videoperf.notebook.plots has a title and labelled axes, drawn from small simulated inputs."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from videoperf.lifecycle.targets import build_targets  # noqa: E402
from videoperf.notebook import plots  # noqa: E402


def figure_problems(fig) -> list[str]:
    """What a reader would miss: a figure title, an axis label (colour bars included)."""
    problems = []
    titles = [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes]
    if not any(t.strip() for t in titles):
        problems.append("no title")
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        name = ax.get_label() or ax.get_title() or "axes"
        if ax.get_label() == "<colorbar>":
            if not (ax.get_ylabel() or ax.get_xlabel()).strip():
                problems.append(f"{name}: colour bar without a label")
            continue
        for axis, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
            if not label.strip():
                problems.append(f"{name}: no {axis} label")
    return problems


@pytest.fixture(scope="module")
def targets(synthetic_snapshots):
    return build_targets(synthetic_snapshots)


def _predictions(n: int = 120, seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    actual = np.exp(rng.normal(10, 2, n))
    ensemble = pd.DataFrame({"actual_views": actual, "predicted_views": actual * np.exp(rng.normal(0, 0.8, n))})
    ensemble["views_lo"], ensemble["views_hi"] = ensemble["predicted_views"] / 4, ensemble["predicted_views"] * 4
    deep = pd.DataFrame({"actual_views": actual, "predicted_views": actual * np.exp(rng.normal(0, 1.0, n)),
                         "actual_lifecycle_stage": rng.choice(["growth", "peak", "decay", None], n),
                         "predicted_lifecycle_stage": rng.choice(["growth", "decay"], n),
                         "actual_time_to_peak_days": np.where(rng.random(n) < 0.5, rng.gamma(2, 1, n), np.nan),
                         "predicted_time_to_peak_days": rng.gamma(2, 1, n),
                         "actual_decay_rate": rng.gamma(2, 0.2, n), "predicted_decay_rate": rng.gamma(2, 0.2, n)})
    return {"ensemble": ensemble, "deep_learning": deep}


def _history(epochs: int = 6) -> pd.DataFrame:
    frame = pd.DataFrame({"epoch": np.arange(1, epochs + 1)})
    for task in ("total", "log_views", "like_ratio", "lifecycle_stage", "time_to_peak_days", "decay_rate"):
        frame[f"train_{task}"] = np.linspace(2, 1, epochs)
        frame[f"valid_{task}"] = np.linspace(2.2, 1.4, epochs)
    return frame


def _figures(snapshots, targets):
    predictions = _predictions()
    categories = pd.Series(np.random.default_rng(1).choice(["Music", "Gaming", None], 120))
    importance = pd.Series([0.5, 0.3, 0.2], index=["a", "b", "c"], name="lightgbm")
    deep = predictions["deep_learning"]
    return {
        "views_distribution": plots.views_distribution(snapshots),
        "lifecycle_examples": plots.lifecycle_examples(targets, n_videos=6, seed=3),
        "feature_importance": plots.feature_importance(importance),
        "training_curves": plots.training_curves(_history()),
        "predicted_vs_actual": plots.predicted_vs_actual(predictions),
        "residuals_by_category": plots.residuals_by_category(predictions, categories),
        "interval_calibration": plots.interval_calibration(predictions["ensemble"]),
        "stage_confusion": plots.stage_confusion(deep["actual_lifecycle_stage"], deep["predicted_lifecycle_stage"]),
        "lifecycle_timing": plots.lifecycle_timing(deep),
        "backtest_horizons": plots.backtest_horizons(_backtest_cells()),
        "observed_forecasts": plots.observed_forecasts(_observed_examples()),
        "typical_band": plots.typical_band(_typical_example()),
    }


def _typical_example() -> dict:
    """What ``report.typical_example`` returns, drawn by hand: a band, a video observed up to 3 days."""
    ages = np.geomspace(1, 90, 12)
    views = 1e3 * np.log1p(ages)
    points = [{"days_since_publish": a, "p30": v * 0.6, "p50": v, "p70": v * 1.5, "views": v * 1.2,
               "views_lo": v * 0.9, "views_hi": v * 1.6, "observed": a <= 3} for a, v in zip(ages, views)]
    typical = {"points": points, "uploads_used": 10, "rank_now": {"rank": 3, "of": 11, "days_since_publish": 3.0}}
    return {"typical": typical, "observed": pd.DataFrame({"age_days": [3.0], "views": [1.2e3 * np.log1p(3.0)]}),
            "title": "video"}


def _observed_examples(n: int = 3) -> list[dict]:
    """What ``report.observed_examples`` returns, drawn by hand: observations used, later ones, a trajectory."""
    ages = np.geomspace(0.25, 60, 20)
    out = []
    for i in range(n):
        views = 1e4 * (i + 1) * np.log1p(ages)
        points = [{"days_since_publish": a, "views": v, "views_lo": v * 0.7, "views_hi": v * 1.4, "stage": "decay"}
                  for a, v in zip(ages, views)]
        out.append({"video_id": f"v{i}", "title": f"video {i}",
                    "used": pd.DataFrame({"age_days": ages[:2], "views": views[:2]}),
                    "later": pd.DataFrame({"age_days": ages[5:9], "views": views[5:9]}),
                    "trajectory": {"points": points, "last_observed_days": float(ages[1])}})
    return out


def _backtest_cells() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    rows = [{"origin": origin, "months_ahead": k, "history": "live", "model": model, "log_r2": rng.uniform(0.6, 0.9),
             "bias": rng.normal(0, 0.05), "coverage": np.nan if model == "channel_mean" else rng.uniform(0.75, 0.85)}
            for origin in ("2026-02-01", "2026-03-01") for k in (1, 2, 3)
            for model in ("ensemble", "deep_learning", "channel_mean", "global_mean")]
    return pd.DataFrame(rows)


def test_every_figure_has_a_title_and_labelled_axes(synthetic_snapshots, targets):
    figures = _figures(synthetic_snapshots, targets)
    try:
        public = {name for name in dir(plots) if not name.startswith("_") and callable(getattr(plots, name))
                  and getattr(getattr(plots, name), "__module__", "") == plots.__name__}
        assert public <= set(figures), f"figures not checked here: {sorted(public - set(figures))}"
        problems = {name: figure_problems(fig) for name, fig in figures.items()}
        assert not any(problems.values()), problems
    finally:
        plt.close("all")


def test_the_checker_catches_a_missing_label():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [1, 2])
    ax.set_xlabel("x (units)")
    try:
        assert figure_problems(fig) == ["no title", "axes: no y label"]
    finally:
        plt.close(fig)


def test_training_curves_has_one_panel_per_task_with_both_splits():
    fig = plots.training_curves(_history())
    try:
        panels = [ax for ax in fig.axes if ax.get_visible() and ax.lines]
        assert len(panels) == 6
        assert {ax.get_title() for ax in panels} == {title for title, _ in plots.TASK_LOSSES.values()}
        # A training and a validation line on every panel, not twelve on one.
        assert all(len([line for line in ax.lines if len(line.get_xdata()) > 1]) == 2 for ax in panels)
    finally:
        plt.close(fig)
