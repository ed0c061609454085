"""Figures for the notebook and reports. Each function takes plain tables and returns a matplotlib Figure.

They never compute a metric the evaluation does not also report: they only draw what they are given.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

STAGE_COLOURS = {"growth": "#2a9d8f", "peak": "#e9c46a", "decay": "#e76f51"}
STAGES = ("growth", "peak", "decay")


def views_distribution(snapshots: pd.DataFrame) -> Figure:
    """Histogram of log10 views at each video's last observation, and of video age at that observation."""
    last = snapshots.sort_values("observed_at").groupby("video_id").tail(1)
    age = (last["observed_at"] - last["published_at"]).dt.total_seconds() / 86400
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    axes[0].hist(np.log10(last["views"].clip(lower=1)), bins=60, color="#457b9d")
    axes[0].set(xlabel="log10 views at last observation", ylabel="videos", title="Views span orders of magnitude")
    axes[1].hist(age.clip(upper=30), bins=60, color="#8d99ae")
    axes[1].set(xlabel="age at last observation (days, clipped at 30)", ylabel="videos", title="Age when last seen")
    fig.tight_layout()
    return fig


def lifecycle_examples(targets: pd.DataFrame, n_videos: int = 6, min_observations: int = 5, seed: int = 0
                       ) -> Figure:
    """Daily view rate against age for a few videos, each point coloured by its derived stage."""
    counts = targets.groupby("video_id")["age_days"].size()
    candidates = counts[counts >= min_observations].index
    if len(candidates) == 0:
        candidates = counts.sort_values(ascending=False).index[:n_videos]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(np.asarray(candidates), size=min(n_videos, len(candidates)), replace=False)
    n_cols = 3
    n_rows = max(1, int(np.ceil(len(chosen) / n_cols)))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(12, 3.2 * n_rows), squeeze=False)
    for ax, video_id in zip(axes.ravel(), chosen):
        series = targets[targets["video_id"] == video_id].sort_values("age_days")
        ax.plot(series["age_days"], series["daily_rate"], color="#adb5bd", zorder=1)
        for stage, colour in STAGE_COLOURS.items():
            part = series[series["lifecycle_stage"] == stage]
            ax.scatter(part["age_days"], part["daily_rate"], color=colour, label=stage, zorder=2, s=28)
        peak, decay = series["time_to_peak_days"].iloc[0], series["decay_rate"].iloc[0]
        ax.set_title(f"{video_id}  peak≈{peak:.1f} d  decay≈{decay:.2f}/d", fontsize=9)
        ax.set(xlabel="age (days)", ylabel="views per day")
    for ax in axes.ravel()[len(chosen):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def predicted_vs_actual(predictions: pd.DataFrame, columns: Sequence[str] = ("predicted_views",)) -> Figure:
    """Scatter of predicted against actual log views, one panel per prediction column."""
    fig, axes = plt.subplots(1, len(columns), figsize=(5.2 * len(columns), 4.6), squeeze=False)
    actual = np.log10(predictions["actual_views"].clip(lower=1))
    for ax, column in zip(axes.ravel(), columns):
        predicted = np.log10(predictions[column].clip(lower=1))
        ax.hexbin(actual, predicted, gridsize=45, bins="log", cmap="viridis", mincnt=1)
        low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
        ax.plot([low, high], [low, high], color="crimson", lw=1)
        ax.set(xlabel="actual log10 views", ylabel="predicted log10 views", title=column)
    fig.tight_layout()
    return fig


def residuals_by_category(predictions: pd.DataFrame, categories: pd.Series, column: str = "predicted_views",
                          top: int = 12) -> Figure:
    """Box plot of log10 residuals (predicted / actual) for the most frequent categories."""
    residual = np.log10(predictions[column].clip(lower=1)) - np.log10(predictions["actual_views"].clip(lower=1))
    frame = pd.DataFrame({"category": categories.to_numpy(), "residual": residual.to_numpy()})
    order = frame["category"].value_counts().index[:top]
    data = [frame.loc[frame["category"] == name, "residual"].to_numpy() for name in order]
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(order) + 1), order, rotation=35, ha="right")
    ax.axhline(0, color="crimson", lw=1)
    ax.set(ylabel="log10 predicted / actual", title="Residuals by category (test videos)")
    fig.tight_layout()
    return fig


def stage_confusion(actual: pd.Series, predicted: pd.Series) -> Figure:
    """Row-normalised confusion matrix of lifecycle stages, with counts."""
    known = actual.notna() & predicted.notna()
    table = pd.crosstab(actual[known], predicted[known]).reindex(index=STAGES, columns=STAGES, fill_value=0)
    share = table.div(table.sum(axis=1).replace(0, 1), axis=0)
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.imshow(share.to_numpy(), cmap="Blues", vmin=0, vmax=1)
    for i in range(3):
        for j in range(3):
            ax.text(j, i, f"{share.iat[i, j]:.2f}\n({table.iat[i, j]})", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(3), STAGES)
    ax.set_yticks(range(3), STAGES)
    ax.set(xlabel="predicted", ylabel="actual", title="Lifecycle stage")
    fig.tight_layout()
    return fig


def feature_importance(importance: pd.Series, top: int = 25) -> Figure:
    """Horizontal bars of the largest importances."""
    top_items = importance.sort_values(ascending=False).head(top)[::-1]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(top_items) + 1.2))
    ax.barh(top_items.index.astype(str), top_items.to_numpy(), color="#457b9d")
    ax.set(xlabel="importance", title="Feature importance")
    fig.tight_layout()
    return fig


def interval_calibration(predictions: pd.DataFrame, nominal: float = 0.8, n_bins: int = 8) -> Figure:
    """Empirical coverage of the prediction interval per bin of predicted views, against its nominal level."""
    frame = predictions.dropna(subset=["views_lo", "views_hi"])
    inside = (frame["actual_views"] >= frame["views_lo"]) & (frame["actual_views"] <= frame["views_hi"])
    bins = pd.qcut(np.log10(frame["predicted_views"].clip(lower=1)), q=n_bins, duplicates="drop")
    coverage = inside.groupby(bins, observed=True).mean()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.bar(range(len(coverage)), coverage.to_numpy(), color="#2a9d8f")
    ax.axhline(nominal, color="crimson", lw=1, label=f"nominal {nominal:.0%}")
    ax.set_xticks(range(len(coverage)), [f"{iv.left:.1f}–{iv.right:.1f}" for iv in coverage.index], rotation=30)
    ax.set(ylim=(0, 1), xlabel="predicted log10 views (bin)", ylabel="coverage",
           title=f"Interval coverage: {inside.mean():.2f} overall")
    ax.legend()
    fig.tight_layout()
    return fig


def training_curves(history: pd.DataFrame) -> Figure:
    """Loss per epoch for each task; ``history`` has an ``epoch`` column and one column per curve."""
    curves = [c for c in history.columns if c != "epoch"]
    fig, ax = plt.subplots(figsize=(8, 4))
    for column in curves:
        ax.plot(history["epoch"], history[column], marker="o", label=column,
                linestyle="--" if column.startswith("valid") else "-")
    ax.set(xlabel="epoch", ylabel="loss", title="Deep model training")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
