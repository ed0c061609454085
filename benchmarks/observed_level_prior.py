"""Which level prior the forecaster from observed days should use: what a request carries against the channel's
age-corrected level, on an inner split of the training side only.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/observed_level_prior.py \
        [--data ../shared/data/youtube_trending_api/trending_2025-12-10_2026-05-31.parquet] [--split-date 2026-04-15]

Only the videos published before ``--split-date`` are read (the test split is not touched); they are split again
``--inner-days`` before it. On the inner training videos each curve shape's hindsight fits give the level (ln peak
daily views) to predict; every video's channel statistics are as of its publish time (``ChannelHistory`` of the
training snapshots: live within the training window). Level priors compared (each fitted on the inner training
videos, each with the mean of the videos without channel history):

* ``avg``: ``a + b * log1p(channel_avg_views)`` (the product's, ``videoperf.forecasting.forecaster``);
* ``avg+count``: the same plus ``c * log1p(channel_video_count)`` (both are in every request);
* ``avg+count GBM``: gradient boosting on the two;
* ``residual``: ``a + b * channel_mean_residual``, the channel's earlier videos' log views minus the shape's prior
  curve at their ages (``benchmarks/observed_forecast.py``'s prior; a request does not carry it).

Two tables: the level's error on the inner test videos with channel history, and what matters, the forecast from
K observations at each inner test video's last observed age (``CurveForecaster`` with the product's shape features,
fitted on the inner training videos with that prior) against Szabo-Huberman. Writes
``benchmarks/results/observed_level_prior.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]

from common import DEFAULT_DATA, load_snapshots  # noqa: E402

from videoperf.data.splits import split_by_date  # noqa: E402
from videoperf.features.channel_history import ChannelHistory  # noqa: E402
from videoperf.forecasting.curve_forecaster import CurveForecaster  # noqa: E402
from videoperf.forecasting.forecast_inputs import first_category  # noqa: E402
from videoperf.forecasting.forecaster import ObservedForecaster  # noqa: E402
from videoperf.forecasting.series import first_k, forecast_pairs  # noqa: E402
from videoperf.forecasting.szabo_huberman import SzaboHuberman  # noqa: E402
from videoperf.lifecycle.curve import (  # noqa: E402
    SHAPES,
    empirical_prior,
    fit_with_empirical_prior,
    intervals_from_snapshots,
    unit_cumulative,
)

PRIORS = ("avg", "avg+count", "avg+count GBM", "residual")
KS = (1, 2, 3, 5)


def _inputs(stats: pd.DataFrame, prior: str) -> np.ndarray:
    avg = np.log1p(stats["channel_avg_views"].to_numpy(float))
    count = np.log1p(stats["channel_video_count"].to_numpy(float))
    if prior == "avg":
        return avg[:, None]
    if prior == "residual":
        return stats["channel_mean_residual"].to_numpy(float)[:, None]
    return np.column_stack([avg, count])


def fit_prior(prior: str, stats: pd.DataFrame, level: np.ndarray, seed: int = 0) -> Any:
    """A function ``stats -> (mean, sd)`` of the level prior ``prior`` fitted on ``level`` (NaN: not fitted)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    X = _inputs(stats, prior)
    has = (stats["channel_video_count"].to_numpy() > 0) & np.isfinite(X).all(axis=1)
    ok = np.isfinite(level)
    fit_rows = np.flatnonzero(ok & has)
    if prior.endswith("GBM"):
        model = HistGradientBoostingRegressor(max_iter=200, random_state=seed).fit(X[fit_rows], level[fit_rows])
        # The sd from half the rows predicted by a model of the other half (in-sample residuals are too small).
        half = np.random.default_rng(seed).permutation(len(fit_rows)) % 2 == 0
        other = HistGradientBoostingRegressor(max_iter=200, random_state=seed).fit(X[fit_rows[half]],
                                                                                    level[fit_rows[half]])
        sd_has = float(np.std(level[fit_rows[~half]] - other.predict(X[fit_rows[~half]])))
        predict = model.predict
    else:
        design = np.column_stack([np.ones(len(fit_rows)), X[fit_rows]])
        coef = np.linalg.lstsq(design, level[fit_rows], rcond=None)[0]

        def predict(Z: np.ndarray) -> np.ndarray:
            return np.column_stack([np.ones(len(Z)), Z]) @ coef

        sd_has = float(np.std(level[fit_rows] - predict(X[fit_rows])))
    none = ok & ~has
    mean_none, sd_none = float(np.mean(level[none])), float(np.std(level[none]))

    def apply(s: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        Z = _inputs(s, prior)
        h = (s["channel_video_count"].to_numpy() > 0) & np.isfinite(Z).all(axis=1)
        mean = np.full(len(Z), mean_none)
        if h.any():
            mean[h] = predict(Z[h])
        return mean, np.where(h, sd_has, sd_none), h

    return apply


def run(snaps: pd.DataFrame, split_date: str, inner_days: int) -> dict[str, Any]:
    """Both tables (module docstring) on the training side of ``split_date``."""
    train, _ = split_by_date(snaps, split_date)
    inner_date = str((pd.Timestamp(split_date) - pd.Timedelta(days=inner_days)).date())
    fit_side, test_side = split_by_date(train, inner_date)
    parts = {}
    for name, part in (("fit", fit_side), ("test", test_side)):
        iv = intervals_from_snapshots(part)
        first = part.sort_values("observed_at", kind="stable").drop_duplicates("video_id").set_index(
            "video_id").reindex(iv.video_ids)
        parts[name] = (iv, first)
    features = ObservedForecaster()
    features.categories_ = sorted(set(first_category(parts["fit"][1]["categories"].tolist())) - {""})

    def shape_features(first: pd.DataFrame) -> np.ndarray:
        return features.shape_features(first["likes"].to_numpy(float), first["views"].to_numpy(float),
                                       first["categories"].tolist(), first["duration_seconds"].to_numpy(float),
                                       first["published_at"])

    feats = {name: shape_features(first) for name, (_, first) in parts.items()}
    sh = SzaboHuberman().fit(parts["fit"][0])
    level_rows, forecast_rows = [], []
    for shape in SHAPES:
        hindsight, _ = fit_with_empirical_prior(parts["fit"][0], shape)
        test_hindsight, _ = fit_with_empirical_prior(parts["test"][0], shape)
        level = hindsight["log_level"].to_numpy(float)
        prior = empirical_prior(hindsight)
        tp, decay = np.exp(prior.log_tp_mean), np.exp(prior.log_decay_mean)
        history = ChannelHistory(train, age_curve=lambda a, tp=tp, d=decay, s=shape:
                                 np.log(unit_cumulative(a, tp, d, s)))
        stats = {name: history.stats(first["channel_id"].to_numpy(), first["published_at"].to_numpy())
                 for name, (_, first) in parts.items()}
        for name in PRIORS:
            apply = fit_prior(name, stats["fit"], level)
            mean_te, sd_te, has_te = apply(stats["test"])
            truth = test_hindsight["log_level"].to_numpy(float)
            known = has_te & np.isfinite(truth)
            err = truth[known] - mean_te[known]
            level_rows.append({"shape": shape, "prior": name, "videos": int(known.sum()),
                               "level_mae": float(np.mean(np.abs(err))), "level_sd": float(np.std(err))})
            mean_fit, sd_fit, _ = apply(stats["fit"])
            started = time.perf_counter()
            with threadpool_limits(limits=1, user_api="openmp"):  # small trees: threads only cost (forecasting)
                curve = CurveForecaster(shape).fit(parts["fit"][0], mean_fit, sd_fit, hindsight=hindsight,
                                                   features=feats["fit"])
            seconds = time.perf_counter() - started
            iv_te = parts["test"][0]
            for k in KS:
                pairs = forecast_pairs(iv_te, k)
                video = pairs["video"].to_numpy()
                last = pairs[np.r_[video[1:] != video[:-1], True]] if len(video) else pairs
                target = last["target_age"].to_numpy()
                actual = last["target_views"].to_numpy()
                point, lo, hi = curve.predict(first_k(iv_te, k), mean_te, sd_te, last["video"].to_numpy(), target, k,
                                              features=feats["test"])
                s_point, _, _ = sh.predict(last["last_age"].to_numpy(), last["last_views"].to_numpy(), target, k)
                c_mae = float(np.mean(np.abs(np.log1p(point) - np.log1p(actual))))
                s_mae = float(np.mean(np.abs(np.log1p(s_point) - np.log1p(actual))))
                forecast_rows.append({"shape": shape, "prior": name, "k": k, "videos": int(len(last)),
                                      "curve_log_mae": c_mae, "sh_log_mae": s_mae, "reduction_vs_sh": 1 - c_mae / s_mae,
                                      "coverage_80": float(np.mean((actual >= lo) & (actual <= hi))),
                                      "fit_seconds": round(seconds, 1)})
    return {"split_date": split_date, "inner_split_date": inner_date, "inner_days": inner_days,
            "inner_fit_videos": int(len(parts["fit"][0].video_ids)),
            "inner_test_videos": int(len(parts["test"][0].video_ids)), "level": level_rows, "forecast": forecast_rows}


def markdown(report: dict[str, Any]) -> str:
    """The results as markdown."""
    r = report["results"]
    lines = ["# Level priors for the forecaster from observed days (training side only)", "",
             f"Command: `{report['command']}`.", "",
             f"Data: {report['data']}, videos published before {r['split_date']} only; inner split "
             f"{r['inner_split_date']}: {r['inner_fit_videos']:,} videos fit, {r['inner_test_videos']:,} test.", "",
             "Level (ln peak daily views of the shape's hindsight curve) on the inner test videos with channel "
             "history:", "", "| shape | prior | videos | level MAE | level error sd |", "|---|---|---|---|---|"]
    lines += [f"| `{x['shape']}` | {x['prior']} | {x['videos']:,} | {x['level_mae']:.3f} | {x['level_sd']:.3f} |"
              for x in r["level"]]
    lines += ["", "Forecast from the first K observations at each inner test video's last observed age (log-MAE of "
              "log1p views; 80% coverage):", "",
              "| shape | prior | K | videos | curve log-MAE | SH log-MAE | curve vs SH | coverage |",
              "|---|---|---|---|---|---|---|---|"]
    lines += [f"| `{x['shape']}` | {x['prior']} | {x['k']} | {x['videos']:,} | {x['curve_log_mae']:.4f} | "
              f"{x['sh_log_mae']:.4f} | {-x['reduction_vs_sh']:+.1%} | {x['coverage_80']:.3f} |"
              for x in r["forecast"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="a load_data source")
    parser.add_argument("--split-date", default="2026-04-15", help="only videos published before it are read")
    parser.add_argument("--inner-days", type=int, default=30)
    parser.add_argument("--cache", type=Path, default=None,
                        help="parquet of the loaded snapshots' needed columns: read when present, else written")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    snaps = load_snapshots(args.data, args.cache)
    report = {"command": "python benchmarks/observed_level_prior.py " + " ".join(argv if argv is not None
                                                                                 else sys.argv[1:]),
              "data": Path(args.data).name, "results": run(snaps, args.split_date, args.inner_days)}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "observed_level_prior.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out_dir / "observed_level_prior.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
