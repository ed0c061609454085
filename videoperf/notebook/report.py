"""Small tables and steps the notebook shows: data overview, target coverage, splits, scores, metrics file.

The notebook calls these so that its cells stay short; none of them fits a model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from videoperf.config import resolve_path
from videoperf.data.sources import load_data
from videoperf.data.splits import forward_chaining_splits, split_by_date
from videoperf.data.synthetic import generate_synthetic
from videoperf.notebook.run_settings import RunSettings
from videoperf.plain import plain

# Without a SPLIT_DATE the test set is the latest-published share of videos.
DEFAULT_TEST_FRACTION = 0.2


def load_source(settings: RunSettings) -> pd.DataFrame:
    """The canonical snapshots of the notebook's DATA_SOURCE (the simulator at its size and seed, its calendar
    ending on ``data.synthetic_end``: today unless configured)."""
    if settings.source == "synthetic":
        raw, _ = generate_synthetic(settings.n_synthetic_videos, settings.seed,
                                    end=settings.config.data.synthetic_end)
        return load_data(raw)
    return load_data(settings.source)


def describe_data(snapshots: pd.DataFrame) -> pd.DataFrame:
    """One-column overview: sizes, time span, observations per video, what loading dropped."""
    per_video = snapshots.groupby("video_id").size()
    report = snapshots.attrs.get("load_report", {})
    rows = {
        "format": report.get("format", "?"),
        "raw rows": report.get("raw_rows", "?"),
        "daily snapshots": len(snapshots),
        "videos": int(per_video.size),
        "channels": int(snapshots["channel_id"].nunique()),
        "published from": str(snapshots["published_at"].min().date()),
        "published to": str(snapshots["published_at"].max().date()),
        "observations per video (median)": float(per_video.median()),
        "videos with >= 3 observations": f"{(per_video >= 3).mean():.1%}",
        "median views at last observation": float(snapshots.groupby("video_id")["views"].last().median()),
        "rows dropped": sum(report.get("dropped", {}).values()),
    }
    rows.update({f"  dropped: {reason}": count for reason, count in report.get("dropped", {}).items()})
    return pd.DataFrame({"value": pd.Series(rows, dtype=object)})


def target_coverage(targets: pd.DataFrame) -> pd.DataFrame:
    """How many videos / observations each target is defined for (missing targets are never filled)."""
    per_video = targets.groupby("video_id").agg(
        stage=("lifecycle_stage", lambda s: s.notna().any()), like_ratio=("like_ratio", "first"),
        time_to_peak_days=("time_to_peak_days", "first"), decay_rate=("decay_rate", "first"))
    n_videos = len(per_video)
    table = pd.DataFrame({
        "videos": [n_videos, int(per_video["stage"].sum()), int(per_video["like_ratio"].notna().sum()),
                   int(per_video["time_to_peak_days"].notna().sum()), int(per_video["decay_rate"].notna().sum())],
        "median": [float(targets["log_views"].median()), math.nan, float(per_video["like_ratio"].median()),
                   float(per_video["time_to_peak_days"].median()), float(per_video["decay_rate"].median())],
    }, index=["log views", "lifecycle stage", "like ratio", "time to peak (days)", "decay rate (per day)"])
    table["share of videos"] = (table["videos"] / n_videos).map("{:.1%}".format)
    return table


def split_train_test(snapshots: pd.DataFrame, settings: RunSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train on videos published before the split date, test on the rest (the latest 20% without one)."""
    split_date = settings.split_date
    if split_date is None:
        published = snapshots.groupby("video_id")["published_at"].min().sort_values()
        split_date = published.iloc[int(len(published) * (1 - DEFAULT_TEST_FRACTION))]
    return split_by_date(snapshots, split_date)


def split_summary(train: pd.DataFrame, test: pd.DataFrame, settings: RunSettings) -> pd.DataFrame:
    """The train / test boundary and the forward-chaining folds inside the training videos."""
    rows = [{"part": "train", "videos": train["video_id"].nunique(), "rows": len(train),
             "published from": train["published_at"].min(), "published to": train["published_at"].max()},
            {"part": "test", "videos": test["video_id"].nunique(), "rows": len(test),
             "published from": test["published_at"].min(), "published to": test["published_at"].max()}]
    validation = settings.config.validation
    for k, (fit_rows, valid_rows) in enumerate(forward_chaining_splits(train, validation.n_splits,
                                                                       validation.min_train_fraction)):
        valid = train.iloc[valid_rows]
        rows.append({"part": f"fold {k}: fit on {train.iloc[fit_rows]['video_id'].nunique()} videos, validate on",
                     "videos": valid["video_id"].nunique(), "rows": len(valid),
                     "published from": valid["published_at"].min(), "published to": valid["published_at"].max()})
    table = pd.DataFrame(rows).set_index("part")
    for column in ("published from", "published to"):
        table[column] = table[column].dt.strftime("%Y-%m-%d %H:%M")
    return table


def oof_table(trained: Any) -> pd.DataFrame:
    """Out-of-fold log-views scores of every base learner and of the stack."""
    return oof_scores(trained.reports)


def oof_scores(reports: dict[str, Any]) -> pd.DataFrame:
    """``oof_table`` from the training reports (``TrainedModels.reports``, or ``oof`` of a training result)."""
    report = reports.get("ensemble")
    if not report:
        return pd.DataFrame()
    rows = dict(report["learners"])
    rows["stack (Ridge)"] = report["stack"]
    table = pd.DataFrame(rows).T
    return table[[c for c in ("r2", "mae", "spearman", "weight", "fit_seconds") if c in table]]


def ensemble_importance(trained: Any) -> pd.Series:
    """Gain importance of the stack's best tree learner, normalised to sum to 1."""
    model = trained.models.get("ensemble")
    if model is None:
        return pd.Series(dtype=float)
    for name in ("lightgbm", "xgboost", "catboost", "random_forest"):
        learner = model.models_.get(name)
        values = getattr(learner, "feature_importances_", None)
        if values is not None:
            values = np.asarray(values, dtype=float)
            return pd.Series(values / max(values.sum(), 1e-12), index=model.feature_names_, name=name)
    return pd.Series(dtype=float)


def write_metrics(metrics: pd.DataFrame, settings: RunSettings, extra: dict[str, Any] | None = None) -> Path:
    """Record the evaluation metrics (models and baselines) to ``ARTIFACTS_DIR/metrics.json``."""
    payload = {
        "speed": settings.speed, "data_source": settings.source, "models": list(settings.models),
        "seed": settings.seed, "split_date": None if settings.split_date is None else str(settings.split_date.date()),
        "metrics": {model: {name: plain(value) for name, value in column.items()}
                    for model, column in metrics.to_dict().items()},
        **(extra or {}),
    }
    path = Path(settings.artifacts_dir) / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    tmp.replace(path)
    return path


def deep_history(trained: Any) -> pd.DataFrame:
    """Per-epoch training and validation losses of the deep model (empty when it was not trained)."""
    history = trained.reports.get("deep_learning", {}).get("history", [])
    frame = pd.DataFrame(history)
    if frame.empty:
        return pd.DataFrame({"epoch": []})
    if "epoch" not in frame:
        frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    keep = ["epoch"] + [c for c in frame.columns if c.startswith(("train_", "valid_"))]
    return frame[keep]


def manifest_summary(bundle: str | Path) -> pd.DataFrame:
    """The files of a written bundle with their size and hash prefix, from its manifest."""
    folder = Path(bundle)
    manifest = json.loads((folder / "manifest.json").read_text())
    files = manifest.get("files", {})
    rows = []
    for name, info in files.items():
        digest = info.get("sha256", "") if isinstance(info, dict) else str(info)
        rows.append({"file": name, "kB": round((folder / name).stat().st_size / 1024, 1), "sha256": digest[:16]})
    rows.append({"file": "manifest.json", "kB": round((folder / "manifest.json").stat().st_size / 1024, 1),
                 "sha256": "(lists the others)"})
    return pd.DataFrame(rows).set_index("file")


def backtest_cells(settings: RunSettings, snapshots: pd.DataFrame) -> pd.DataFrame:
    """The backtest cells the notebook plots (live channel history).

    With ``BACKTEST_ORIGINS`` the backtest runs on the notebook's own data (ensemble and deep model at the
    notebook's speed); without, the committed real-data backtest of that speed (``benchmarks/results``) is read.
    """
    from videoperf.evaluation import backtest

    if settings.backtest_origins:
        result = backtest.run_backtest(snapshots, settings.backtest_origins, settings.speed, settings.models,
                                       config=settings.config, histories=("live",))
    else:
        folder = resolve_path("benchmarks/results")
        path = next((folder / f"backtest_{speed}.json" for speed in (settings.speed, "fast")
                     if (folder / f"backtest_{speed}.json").is_file()), None)
        if path is None:
            raise FileNotFoundError(f"no committed backtest in {folder}; set BACKTEST_ORIGINS to run one")
        result = json.loads(path.read_text())
    cells = backtest.cells_frame(result)
    return cells[cells["history"] == "live"].reset_index(drop=True)



def observed_examples(test: pd.DataFrame, observed: pd.DataFrame, artifacts_dir: str | Path, k: int = 2,
                      n_videos: int = 4, model_type: str = "ensemble", seed: int = 0) -> list[dict[str, Any]]:
    """A few test videos with more than ``k`` + 2 observations, each forecast from its first ``k`` by the saved
    bundle (``predict.predict_trajectory`` through ``videoperf.serving.predictions``), with what was observed later.

    ``observed``: every snapshot a deployed system has (the channel statistics of each video as of its publish
    time come from it). Each item: ``video_id``, ``title``, ``used`` and ``later`` (``age_days``, ``views``) and
    the ``trajectory``."""
    from videoperf.serving.bundle import load_bundle
    from videoperf.serving.predictions import trajectory
    from videoperf.training.pipeline import prepare_snapshots

    series = prepare_snapshots(test)
    series = series.assign(age_days=(series["observed_at"] - series["published_at"]).dt.total_seconds() / 86400.0)
    series = series[series["age_days"] > 0]
    sizes = series.groupby("video_id").size()
    candidates = np.asarray(sizes.index[sizes > k + 2])
    if not len(candidates):
        raise ValueError(f"test: no video has more than {k + 2} observations")
    chosen = np.random.default_rng(seed).choice(candidates, size=min(n_videos, len(candidates)), replace=False)
    history = load_bundle(artifacts_dir).features.channel_history(prepare_snapshots(observed))
    out = []
    for video_id in chosen:
        rows = series[series["video_id"] == video_id]
        first = rows.iloc[0]
        stats = history.stats([first["channel_id"]], [first["published_at"]]).iloc[0]
        request = {"title": first["title"], "tags": list(first["tags"]), "categories": list(first["categories"]),
                   "duration_seconds": _number_or_none(first["duration_seconds"]),
                   "channel_avg_views": _number_or_none(stats["channel_avg_views"]),
                   "channel_video_count": float(stats["channel_video_count"]), "published_at": first["published_at"],
                   "observed": [{"days_since_publish": float(r.age_days), "views": float(r.views),
                                 "likes": _number_or_none(r.likes)} for r in rows.iloc[:k].itertuples()]}
        ages = np.geomspace(0.25, max(30.0, 2.0 * float(rows["age_days"].max())), 40)
        out.append({"video_id": video_id, "title": first["title"], "used": rows.iloc[:k][["age_days", "views"]],
                    "later": rows.iloc[k:][["age_days", "views"]],
                    "trajectory": trajectory(model_type, request, list(ages), artifacts_dir)})
    return out


def _number_or_none(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def typical_example(export: str | Path | pd.DataFrame, recent: int = 10) -> dict[str, Any]:
    """The busiest channel of a channel-uploads ``export`` and its latest upload against its ``recent`` uploads
    before it (``videoperf.typical_performance`` at 30 ages from 1 to 90 days), with that upload's observations
    (``age_days``, ``views``): what ``plots.typical_band`` draws; ``table``: every fifth age of its points."""
    from videoperf.data.sources import as_snapshots
    from videoperf.serving.typical import typical_performance

    snapshots = as_snapshots(export)
    channel = snapshots.groupby("channel_id")["video_id"].nunique().idxmax()
    mine = snapshots[snapshots["channel_id"].eq(channel)]
    video_id = mine.sort_values("published_at", kind="stable")["video_id"].iloc[-1]
    ages = np.round(np.geomspace(1.0, 90.0, 30), 3)
    result = typical_performance(snapshots, channel, ages=list(ages), recent=recent, video_id=video_id)
    rows = mine[mine["video_id"].eq(video_id)]
    observed = pd.DataFrame({"age_days": (rows["observed_at"] - rows["published_at"]).dt.total_seconds() / 86400.0,
                             "views": rows["views"].astype(float)})
    table = pd.DataFrame(result["points"]).iloc[::5].set_index("days_since_publish")
    return {"typical": result, "observed": observed, "title": str(rows["title"].iloc[0]), "table": table}
