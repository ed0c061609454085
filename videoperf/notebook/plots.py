"""Figures for the notebook and reports, drawn with seaborn in one style. Each returns a matplotlib Figure.

They never compute a metric the evaluation does not also report: they only draw what they are given.
Every figure has a title and every axis a label with its unit; ``tests/test_plots.py`` checks it.
Views span six orders of magnitude, so they are drawn on log axes in views (not as log10 numbers).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import matplotlib as mpl
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

STAGES = ("growth", "peak", "decay")
STAGE_COLOURS = {"growth": "#2a9d8f", "peak": "#e9c46a", "decay": "#e76f51"}
SPLIT_COLOURS = {"training": "#457b9d", "validation": "#e76f51"}
MODEL_COLOURS = ("#457b9d", "#e76f51", "#2a9d8f", "#8d99ae")
# The loss of each deep-model task, as its facet's y label (videoperf.models.deep.losses: TASK_LIKELIHOOD).
TASK_LOSSES = {
    "total": ("all tasks", "uncertainty-weighted total loss"),
    "log_views": ("views", "MSE of log(1 + views)"),
    "like_ratio": ("like ratio", "MAE of logit(like ratio)"),
    "lifecycle_stage": ("lifecycle stage", "cross-entropy (nats)"),
    "time_to_peak_days": ("time to peak", "MAE of log(1 + days)"),
    "decay_rate": ("decay rate", "MAE of asinh(rate / 0.1)"),
}
# One look for every figure; applied while a figure is built, so importing this module changes nothing else.
STYLE = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.85),
         "axes.titleweight": "bold", "figure.titleweight": "bold", "figure.titlesize": 13,
         "axes.prop_cycle": plt.cycler(color=MODEL_COLOURS)}


def _styled(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Build the figure inside the module's style (``STYLE``), then restore those settings only.

    Not ``plt.rc_context``: it restores every setting, including the interactive mode that the first figure's
    switch to Jupyter's inline backend turns on, and later figures would then never be shown.
    """
    @functools.wraps(draw)
    def wrapper(*args: object, **kwargs: object) -> Figure:
        saved = {key: mpl.rcParams[key] for key in STYLE}
        mpl.rcParams.update(STYLE)
        try:
            return draw(*args, **kwargs)
        finally:
            mpl.rcParams.update(saved)
    return wrapper


_COUNT = mticker.FuncFormatter(lambda value, _: f"{value:,.0f}")


def _short(views: float) -> str:
    """A view count in a few characters: 850, 12k, 3.4M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if views >= size:
            return f"{views / size:.2g}{suffix}" if views < 10 * size else f"{views / size:.0f}{suffix}"
    return f"{views:.0f}"


def _finish(fig: Figure, title: str) -> Figure:
    fig.suptitle(title)
    fig.tight_layout()
    return fig


@_styled
def views_distribution(snapshots: pd.DataFrame) -> Figure:
    """Histogram of views at each video's last observation, and of video age at that observation."""
    last = snapshots.sort_values("observed_at").groupby("video_id").tail(1)
    age = (last["observed_at"] - last["published_at"]).dt.total_seconds() / 86400
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    sns.histplot(x=last["views"].clip(lower=1).to_numpy(float), bins=50, log_scale=True, ax=axes[0],
                 color=MODEL_COLOURS[0])
    axes[0].set(xlabel="views at last observation (log scale)", ylabel="videos", title="Views")
    sns.histplot(x=age.clip(upper=30).to_numpy(float), bins=50, ax=axes[1], color="#8d99ae")
    axes[1].set(xlabel="age at last observation (days, capped at 30)", ylabel="videos", title="Age when last seen")
    return _finish(fig, "The data: every video at its last observation")


@_styled
def lifecycle_examples(targets: pd.DataFrame, n_videos: int = 6, min_observations: int = 5, seed: int = 0
                       ) -> Figure:
    """Lifecycle curves of a few videos: observed daily views by stage, the derived peak and decay.

    The dashed vertical line is the derived time to peak, the dotted line the derived decay rate over the
    decay observations (straight on the log axis).
    """
    counts = targets.groupby("video_id")["age_days"].size()
    candidates = counts[counts >= min_observations].index
    if len(candidates) == 0:
        candidates = counts.sort_values(ascending=False).index[:n_videos]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(np.asarray(candidates), size=min(n_videos, len(candidates)), replace=False)
    n_cols = 3
    n_rows = max(1, int(np.ceil(len(chosen) / n_cols)))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(12, 3.3 * n_rows), squeeze=False)
    for ax, video_id in zip(axes.ravel(), chosen):
        series = targets[targets["video_id"] == video_id].sort_values("age_days")
        rate = series["daily_rate"].clip(lower=1)
        ax.plot(series["age_days"], rate, color="#adb5bd", zorder=1)
        sns.scatterplot(x=series["age_days"], y=rate, hue=series["lifecycle_stage"], palette=STAGE_COLOURS,
                        hue_order=STAGES, s=40, ax=ax, legend=ax is axes[0, 0], zorder=2)
        peak, decay = series["time_to_peak_days"].iloc[0], series["decay_rate"].iloc[0]
        if np.isfinite(peak):
            ax.axvline(peak, color="#6c757d", linestyle="--", lw=1)
        after = series[series["lifecycle_stage"] == "decay"]
        if np.isfinite(decay) and len(after) >= 2:
            # The rate is a least-squares slope of log rate, so its line passes through the points' centre.
            ages = np.linspace(after["age_days"].min(), after["age_days"].max(), 30)
            centre_age, centre_log = after["age_days"].mean(), np.log(after["daily_rate"].clip(lower=1)).mean()
            ax.plot(ages, np.exp(centre_log - decay * (ages - centre_age)), color="#e76f51", linestyle=":", lw=1.8)
        peak_text = f"peak {peak:.1f} d" if np.isfinite(peak) else "no peak located"
        decay_text = f"decay {decay:.2f}/d" if np.isfinite(decay) else "no decay rate"
        ax.set_yscale("log")
        ax.set_ylim(bottom=float(rate.min()) / 2)  # the decay line may run far below the last observation
        ax.set(xlabel="age (days)", ylabel="views per day (log scale)", title=f"{peak_text}, {decay_text}")
    if len(chosen):
        axes[0, 0].legend(title="stage")
    for ax in axes.ravel()[len(chosen):]:
        ax.axis("off")
    return _finish(fig, "Lifecycle of example videos: observed daily views, derived peak (dashed) and decay (dotted)")


@_styled
def feature_importance(importance: pd.Series, top: int = 25) -> Figure:
    """Horizontal bars of the largest importances (shares of the learner's total gain)."""
    top_items = importance.sort_values(ascending=False).head(top)
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(top_items) + 1.4))
    sns.barplot(x=top_items.to_numpy(), y=top_items.index.astype(str), color=MODEL_COLOURS[0], ax=ax)
    name = importance.name or "tree learner"
    ax.set(xlabel="share of total gain", ylabel="feature")
    return _finish(fig, f"Feature importance ({name}, top {len(top_items)})")


@_styled
def training_curves(history: pd.DataFrame) -> Figure:
    """Deep model loss per epoch, one panel per task, training against validation.

    ``history`` has an ``epoch`` column and ``train_<task>`` / ``valid_<task>`` columns.
    """
    curves = [c for c in history.columns if c.startswith(("train_", "valid_"))]
    long = history.melt(id_vars="epoch", value_vars=curves, var_name="curve", value_name="loss")
    long["split"] = np.where(long["curve"].str.startswith("train_"), "training", "validation")
    long["task"] = long["curve"].str.split("_", n=1).str[1]
    tasks = [task for task in TASK_LOSSES if task in set(long["task"])] + sorted(set(long["task"]) - set(TASK_LOSSES))
    grid = sns.relplot(long, x="epoch", y="loss", hue="split", col="task", col_order=tasks, col_wrap=3,
                       kind="line", marker="o", palette=SPLIT_COLOURS, height=2.6, aspect=1.35,
                       facet_kws={"sharey": False, "sharex": True})
    for task, ax in grid.axes_dict.items():
        title, unit = TASK_LOSSES.get(task, (task, "loss"))
        ax.set(title=title, xlabel="epoch", ylabel=unit)
    sns.move_legend(grid, "upper center", bbox_to_anchor=(0.5, 0.94), ncol=2, title=None, frameon=False)
    fig = _finish(grid.figure, "Deep model training: loss per epoch by task (lower is better)")
    fig.subplots_adjust(top=0.82)  # room for the legend under the title
    return fig


def _views_pairs(predictions: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Actual and predicted views of every model, stacked, with the log10 residual."""
    parts = []
    for model, frame in predictions.items():
        actual = frame["actual_views"].clip(lower=1).to_numpy(float)
        predicted = frame["predicted_views"].clip(lower=1).to_numpy(float)
        parts.append(pd.DataFrame({"model": model, "actual": actual, "predicted": predicted,
                                   "residual": np.log10(predicted) - np.log10(actual)}))
    return pd.concat(parts, ignore_index=True)


@_styled
def predicted_vs_actual(predictions: Mapping[str, pd.DataFrame]) -> Figure:
    """Predicted against actual views on the test videos, one hexbin panel per model (log axes)."""
    pairs = _views_pairs(predictions)
    models = list(predictions)
    fig, axes = plt.subplots(1, len(models), figsize=(5.4 * len(models), 4.8), squeeze=False)
    low, high = float(pairs[["actual", "predicted"]].min().min()), float(pairs[["actual", "predicted"]].max().max())
    for ax, model in zip(axes.ravel(), models):
        part = pairs[pairs["model"] == model]
        cells = ax.hexbin(part["actual"], part["predicted"], gridsize=40, bins="log", cmap="viridis", mincnt=1,
                          xscale="log", yscale="log")
        ax.plot([low, high], [low, high], color="crimson", lw=1, label="perfect prediction")
        ax.set(xlabel="actual views (log scale)", ylabel="predicted views (log scale)", title=model)
        ax.legend(loc="upper left")
        bar = fig.colorbar(cells, ax=ax, label="test videos per cell", format=_COUNT)
        bar.ax.yaxis.set_minor_formatter(mticker.NullFormatter())
    return _finish(fig, "Predicted against actual views on the test videos")


@_styled
def residuals_by_category(predictions: Mapping[str, pd.DataFrame], categories: pd.Series, top: int = 12) -> Figure:
    """Median and middle 50% of the log10 residual (predicted / actual) per category, for every model."""
    pairs = _views_pairs(predictions)
    pairs["category"] = np.tile(categories.fillna("unknown").astype(str).to_numpy(), len(predictions))
    order = list(pairs["category"].value_counts().index[:top])
    shown = pairs[pairs["category"].isin(order)]
    fig, ax = plt.subplots(figsize=(11, 4.4))
    sns.pointplot(shown, x="category", y="residual", hue="model", order=order, estimator="median",
                  errorbar=("pi", 50), dodge=0.4, linestyle="none", marker="o", ax=ax)
    ax.axhline(0, color="crimson", lw=1)
    plt.setp(ax.get_xticklabels(), rotation=35, ha="right", rotation_mode="anchor")
    ax.set(xlabel="first category of the video (most frequent first)",
           ylabel="log10(predicted / actual views)")
    return _finish(fig, "Residuals by category: median and middle 50% of test videos (0 = exact)")


@_styled
def interval_calibration(predictions: pd.DataFrame, nominal: float = 0.8, n_bins: int = 8) -> Figure:
    """Share of test videos inside their prediction interval, per bin of predicted views, against the nominal level."""
    frame = predictions.dropna(subset=["views_lo", "views_hi"])
    inside = (frame["actual_views"] >= frame["views_lo"]) & (frame["actual_views"] <= frame["views_hi"])
    bins = pd.qcut(np.log10(frame["predicted_views"].clip(lower=1)), q=n_bins, duplicates="drop")
    coverage = inside.groupby(bins, observed=True).mean()
    labels = [f"{_short(10 ** iv.left)}–{_short(10 ** iv.right)}" for iv in coverage.index]
    fig, ax = plt.subplots(figsize=(9, 4))
    sns.barplot(x=labels, y=coverage.to_numpy(), color="#2a9d8f", ax=ax)
    ax.axhline(nominal, color="crimson", lw=1, label=f"nominal {nominal:.0%}")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right", rotation_mode="anchor")
    ax.set(ylim=(0, 1), xlabel="predicted views (bins with equal numbers of test videos)",
           ylabel="share inside the interval")
    ax.legend(loc="lower right")
    return _finish(fig, f"{nominal:.0%} prediction interval: coverage {inside.mean():.2f} overall")


@_styled
def stage_confusion(actual: pd.Series, predicted: pd.Series) -> Figure:
    """Row-normalised confusion matrix of lifecycle stages, with counts."""
    known = actual.notna() & predicted.notna()
    table = pd.crosstab(actual[known], predicted[known]).reindex(index=STAGES, columns=STAGES, fill_value=0)
    share = table.div(table.sum(axis=1).replace(0, 1), axis=0)
    labels = np.array([[f"{share.iat[i, j]:.2f}\n({table.iat[i, j]})" for j in range(3)] for i in range(3)])
    fig, ax = plt.subplots(figsize=(5.4, 4.4))
    sns.heatmap(share, annot=labels, fmt="", cmap="Blues", vmin=0, vmax=1, ax=ax,
                cbar_kws={"label": "share of the actual stage's videos"})
    ax.set(xlabel="predicted stage", ylabel="actual stage")
    return _finish(fig, "Lifecycle stage at the last observation")


@_styled
def lifecycle_timing(predictions: pd.DataFrame) -> Figure:
    """Predicted against actual time to peak and decay rate, for the test videos where they are known."""
    panels = (("time_to_peak_days", "time to peak", "days"), ("decay_rate", "decay rate", "per day"))
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.4))
    for ax, (target, title, unit) in zip(axes, panels):
        actual, predicted = predictions[f"actual_{target}"], predictions[f"predicted_{target}"]
        known = actual.notna() & predicted.notna()
        sns.scatterplot(x=actual[known], y=predicted[known], s=22, alpha=0.6, color=MODEL_COLOURS[1], ax=ax)
        if known.any():
            low = float(min(actual[known].min(), predicted[known].min()))
            high = float(max(actual[known].max(), predicted[known].max()))
            ax.plot([low, high], [low, high], color="crimson", lw=1, label="perfect prediction")
            ax.legend(loc="upper left")
        ax.set(xlabel=f"actual {title} ({unit})", ylabel=f"predicted {title} ({unit})",
               title=f"{title}: {int(known.sum())} test videos")
    return _finish(fig, "Deep model: predicted against actual lifecycle timing")


BACKTEST_LABELS = {"ensemble": "ensemble", "deep_learning": "deep model", "channel_mean": "channel mean"}


@_styled
def backtest_horizons(cells: pd.DataFrame, nominal: float = 0.8) -> Figure:
    """Accuracy, bias and interval coverage by months ahead of the training cut (``backtest.cells_frame`` rows
    of one channel-history mode): one line per model through the mean over origins, a dot per origin."""
    cells = cells[cells["model"].isin(list(BACKTEST_LABELS))].assign(
        model=lambda f: f["model"].map(BACKTEST_LABELS))
    panels = (("log_r2", "log-views R²", "accuracy"), ("bias", "mean log error (log views)", "bias"),
              ("coverage", f"share inside the {nominal:.0%} interval", "interval coverage"))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, (metric, label, title) in zip(axes, panels):
        data = cells.dropna(subset=[metric])
        if data.empty:
            ax.set(xlabel="months after the training cut", ylabel=label, title=f"{title}: not measured")
            continue
        sns.lineplot(data=data, x="months_ahead", y=metric, hue="model", marker="o", errorbar=None, ax=ax,
                     legend=ax is axes[0])
        sns.stripplot(data=data, x="months_ahead", y=metric, hue="model", native_scale=True, dodge=False,
                      alpha=0.45, size=4, legend=False, ax=ax)
        if metric == "bias":
            ax.axhline(0.0, color="crimson", lw=1)
        if metric == "coverage":
            ax.axhline(nominal, color="crimson", lw=1)
        ax.set(xlabel="months after the training cut", ylabel=label, title=title,
               xticks=sorted(data["months_ahead"].unique()))
    return _finish(fig, "Rolling-origin backtest: how the models hold up after training")


@_styled
def observed_forecasts(examples: list[dict[str, object]]) -> Figure:
    """Forecasts from observed days (``report.observed_examples``): the observations used (black), the forecast
    and its interval band, and what was observed later (orange), one panel per video, on log axes."""
    n_cols = 2
    n_rows = max(1, int(np.ceil(len(examples) / n_cols)))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(11, 3.4 * n_rows), squeeze=False)
    for ax, example in zip(axes.ravel(), examples):
        points = pd.DataFrame(example["trajectory"]["points"])
        # Up to the last observation the forecast holds the last observed views: drawn from there on only.
        points = points[points["days_since_publish"] >= example["trajectory"].get("last_observed_days", 0.0)]
        ax.fill_between(points["days_since_publish"], points["views_lo"], points["views_hi"], color="#457b9d",
                        alpha=0.2, lw=0, label="80% interval")
        ax.plot(points["days_since_publish"], points["views"], color="#457b9d", lw=1.8, label="forecast")
        used, later = example["used"], example["later"]
        ax.scatter(used["age_days"], used["views"], color="black", s=30, zorder=3, label="observed (used)")
        ax.scatter(later["age_days"], later["views"], color="#e76f51", s=22, zorder=3, label="observed later")
        _log_axes(ax)
        ax.set(xlabel="age (days)", ylabel="views", title=str(example["title"])[:48])
    if examples:
        axes[0, 0].legend(loc="lower right", fontsize=8)
    for ax in axes.ravel()[len(examples):]:
        ax.axis("off")
    return _finish(fig, "Forecast from the first observed days (black), 80% band, and what came later")


def _log_axes(ax: plt.Axes) -> None:
    """Log age and views axes with plain tick labels (days as numbers, views as counts)."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(_COUNT)
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda value, _: f"{value:g}"))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(mticker.NullFormatter())


@_styled
def typical_band(example: dict[str, object]) -> Figure:
    """YouTube Studio's "typical performance" (``report.typical_example``): the channel's p30-p70 band of views by
    age (grey) with its p50, one video's views (observed up to its last observation, then forecast) and the
    forecast's 80% band, on log axes."""
    typical = example["typical"]
    points = pd.DataFrame(typical["points"])
    fig, ax = plt.subplots(figsize=(8, 4.2))
    age = points["days_since_publish"]
    ax.fill_between(age, points["p30"], points["p70"], color="#adb5bd", alpha=0.45, lw=0,
                    label=f"typical: p30-p70 of {typical['uploads_used']} recent uploads")
    ax.plot(age, points["p50"], color="#6c757d", lw=1.2, ls="--", label="typical: p50")
    seen, ahead = points[points["observed"]], points[~points["observed"]]
    ax.plot(seen["days_since_publish"], seen["views"], color="#1d3557", lw=2.2, label="this video (to its last "
            "observation)")
    ax.plot(ahead["days_since_publish"], ahead["views"], color="#457b9d", lw=1.8, ls=":", label="this video: forecast")
    ax.fill_between(ahead["days_since_publish"], ahead["views_lo"], ahead["views_hi"], color="#457b9d", alpha=0.18,
                    lw=0, label="forecast: 80% band")
    observed = example["observed"]
    ax.scatter(observed["age_days"], observed["views"], color="black", s=28, zorder=3, label="observed")
    _log_axes(ax)
    rank = typical["rank_now"]
    ax.set(xlabel="age (days since publishing)", ylabel="views",
           title=f"{str(example['title'])[:50]}: ranking {rank['rank']} of {rank['of']} now")
    ax.legend(loc="lower right", fontsize=8)
    return _finish(fig, "Typical performance: the channel's recent uploads (grey) and one video")
