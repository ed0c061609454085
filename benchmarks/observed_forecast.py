"""Forecasting views from a video's first observed days: the lifecycle curve conditioned on them vs Szabo-Huberman.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/observed_forecast.py \
        [--data ../shared/data/youtube_trending_api/trending_2025-12-10_2026-05-31.parquet] [--split-date 2026-04-15]

Split by publish date (``videoperf.data.splits.split_by_date``; the training side keeps only observations made
before the date). Everything is fitted on the training videos: the curve's shape prior (their hindsight fits), the
level prior, Szabo-Huberman's ``beta`` and both forecasters' conformal intervals. The level prior (ln peak daily
views) is the channel's as-of level, not the model ensemble: ``a + b * channel_mean_residual`` where the residual is
each earlier video's log views minus the prior-shape curve at its age (``videoperf.features.channel_history``, from
every observation made strictly before the video's publish time: live history), with ``a, b`` and the prior sd fitted on
the training videos; a channel without history gets the training mean and its sd.

Every test video with more than K observations is forecast at each of its later observations from its first K
(K = 0: before publishing, from the prior curve alone). Cells: K x days ahead of the last observation used (K = 0:
the age). Both forecasters are scored on the same (video, observation) pairs; the last-age rows score each video
once, at its last observed age, as ``model_update.py evaluate --observed K`` is to.

The recommended forecaster (``videoperf.forecasting.shape_select.ShapeByK``) takes the curve's shape per K as chosen on
the training side alone (``choose_shapes``): the default is the shape whose fits to the first halves of the training
series forecast their later halves better; a K switches to the other shape only where, on an inner split of the
training videos (the last ``--inner-days`` before the split, forecast by forecasters fitted on the earlier ones),
its forecasts are better by more than 2 standard errors of the per-video paired difference and in log-MAE over
the pairs. Its rows on the test split are those of the chosen shape's section (the same forecasters, fitted the same
way).

Writes ``benchmarks/results/observed_forecast.json`` and ``observed_forecast.md``.
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

ROOT = Path(__file__).resolve().parents[1]

from common import CACHE_COLUMNS, load_snapshots  # noqa: E402,F401

from videoperf.features.channel_history import ChannelHistory  # noqa: E402
from videoperf.forecasting.curve_forecaster import CurveForecaster  # noqa: E402
from videoperf.forecasting.intervals import HORIZON_LABELS, horizon_bin  # noqa: E402
from videoperf.forecasting.series import first_k, forecast_pairs  # noqa: E402
from videoperf.forecasting.shape_select import choose_by_k, default_shape  # noqa: E402
from videoperf.forecasting.szabo_huberman import SzaboHuberman  # noqa: E402
from videoperf.lifecycle.curve import (  # noqa: E402
    SHAPES,
    empirical_prior,
    fit_with_empirical_prior,
    intervals_from_snapshots,
    unit_cumulative,
)

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "youtube_trending_api" / "trending_2025-12-10_2026-05-31.parquet"
KS = (0, 1, 2, 3, 5)


def channel_level_prior(snapshots: pd.DataFrame, videos: pd.DataFrame, age_curve: Any) -> np.ndarray:
    """Each video's channel as-of residual level (NaN without history), from ``snapshots`` before its publish."""
    history = ChannelHistory(snapshots, age_curve=age_curve)
    return history.stats(videos["channel_id"], videos["published_at"])["channel_mean_residual"].to_numpy(float)


def video_table(snapshots: pd.DataFrame, video_ids: np.ndarray) -> pd.DataFrame:
    """``channel_id, published_at`` per video, in the order of ``video_ids``."""
    first = snapshots.groupby("video_id", sort=False)[["channel_id", "published_at"]].first()
    return first.loc[video_ids].reset_index()


def shape_features(snapshots: pd.DataFrame, video_ids: np.ndarray, categories: pd.Index) -> np.ndarray:
    """Per video, what is known by its first observation besides its views: log((likes + 1) / (views + 1)) then,
    its first category (code in ``categories``, the training videos'; NaN if unseen), log duration, publish hour."""
    ordered = snapshots.sort_values("observed_at", kind="stable")
    first = ordered.groupby("video_id", sort=False)[["likes", "views", "categories", "duration_seconds",
                                                      "published_at"]].first().reindex(video_ids)
    code = categories.get_indexer(first_category(first["categories"])).astype(float)
    return np.column_stack([np.log((first["likes"].to_numpy(float) + 1) / (first["views"].to_numpy(float) + 1)),
                            np.where(code >= 0, code, np.nan),
                            np.log1p(pd.to_numeric(first["duration_seconds"], errors="coerce").to_numpy(float)),
                            first["published_at"].dt.hour.to_numpy(float)])


def first_category(categories: pd.Series) -> pd.Series:
    """The first category of each video's list ("" when it has none)."""
    return categories.map(lambda c: str(c[0]) if c is not None and len(c) else "")


def fit_level_prior(channel_residual: np.ndarray, fitted_level: np.ndarray) -> dict[str, float]:
    """``level ~ a + b * residual`` on videos with history, the mean without; residual sds of each."""
    ok = np.isfinite(fitted_level)
    has = ok & np.isfinite(channel_residual)
    b, a = np.polyfit(channel_residual[has], fitted_level[has], 1)
    sd_has = float(np.std(fitted_level[has] - (a + b * channel_residual[has])))
    none = ok & ~np.isfinite(channel_residual)
    mean_none = float(np.mean(fitted_level[none])) if none.any() else float(np.mean(fitted_level[ok]))
    sd_none = float(np.std(fitted_level[none])) if none.sum() > 1 else float(np.std(fitted_level[ok]))
    return {"a": float(a), "b": float(b), "sd_with_history": sd_has, "mean_without": mean_none,
            "sd_without": sd_none, "n_with_history": int(has.sum()), "n_without": int(none.sum())}


def apply_level_prior(prior: dict[str, float], channel_residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    has = np.isfinite(channel_residual)
    mean = np.where(has, prior["a"] + prior["b"] * np.nan_to_num(channel_residual), prior["mean_without"])
    sd = np.where(has, prior["sd_with_history"], prior["sd_without"])
    return mean, sd


def _cell(actual: np.ndarray, point: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> dict[str, float]:
    err = np.abs(np.log1p(point) - np.log1p(actual))
    return {"log_mae": float(err.mean()), "coverage_80": float(np.mean((actual >= lo) & (actual <= hi))),
            "median_log_width": float(np.median(np.log1p(hi) - np.log1p(lo)))}


def evaluate(snaps: pd.DataFrame, split_date: str, shape: str = "exp") -> dict[str, Any]:
    """Both forecasters with the curve ``shape`` on the split (see the module docstring); ``"errors"``: per K, the
    curve's (video id, absolute log error) of every pair, for ``choose_shapes`` (not written out)."""
    from videoperf.data.splits import split_by_date

    started = time.perf_counter()
    train, test = split_by_date(snaps, split_date)
    iv_tr, iv_te = intervals_from_snapshots(train), intervals_from_snapshots(test)
    hindsight, _ = fit_with_empirical_prior(iv_tr, shape)
    shape_prior = empirical_prior(hindsight)
    tp, dec = np.exp(shape_prior.log_tp_mean), np.exp(shape_prior.log_decay_mean)

    def age_curve(age: np.ndarray) -> np.ndarray:
        return np.log(unit_cumulative(age, tp, dec, shape))

    vt_tr, vt_te = video_table(train, iv_tr.video_ids), video_table(test, iv_te.video_ids)
    res_tr = channel_level_prior(train, vt_tr, age_curve)
    res_te = channel_level_prior(snaps, vt_te, age_curve)  # live: every observation before each publish time
    level_prior = fit_level_prior(res_tr, hindsight["log_level"].to_numpy(float))
    mean_tr, sd_tr = apply_level_prior(level_prior, res_tr)
    mean_te, sd_te = apply_level_prior(level_prior, res_te)
    fit_started = time.perf_counter()
    known = pd.Index(sorted(first_category(train.groupby("video_id")["categories"].first()).unique()))
    feat_tr, feat_te = shape_features(train, iv_tr.video_ids, known), shape_features(test, iv_te.video_ids, known)
    curve = CurveForecaster(shape).fit(iv_tr, mean_tr, sd_tr, hindsight=hindsight, features=feat_tr)
    sh = SzaboHuberman().fit(iv_tr)
    fit_seconds = time.perf_counter() - fit_started

    cells: list[dict[str, Any]] = []
    last_age_rows: list[dict[str, Any]] = []
    errors: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for k in KS:
        pairs = forecast_pairs(iv_te, k)
        observed = first_k(iv_te, k)
        video, target = pairs["video"].to_numpy(), pairs["target_age"].to_numpy()
        actual = pairs["target_views"].to_numpy()
        c_point, c_lo, c_hi = curve.predict(observed, mean_te, sd_te, video, target, k, features=feat_te)
        if k > 0:
            s_point, s_lo, s_hi = sh.predict(pairs["last_age"].to_numpy(), pairs["last_views"].to_numpy(), target, k)
        horizon = horizon_bin(target - pairs["last_age"].to_numpy())
        errors[k] = (iv_te.video_ids[video], np.abs(np.log1p(c_point) - np.log1p(actual)))
        for h in [*range(len(HORIZON_LABELS)), None]:
            sel = np.ones(len(pairs), bool) if h is None else horizon == h
            if not sel.any():
                continue
            row = {"k": k, "days_ahead": "all" if h is None else HORIZON_LABELS[h], "n_pairs": int(sel.sum()),
                   "n_videos": int(len(np.unique(video[sel]))),
                   "curve": _cell(actual[sel], c_point[sel], c_lo[sel], c_hi[sel])}
            if k > 0:
                row["szabo_huberman"] = _cell(actual[sel], s_point[sel], s_lo[sel], s_hi[sel])
                row["reduction_vs_sh"] = 1 - row["curve"]["log_mae"] / row["szabo_huberman"]["log_mae"]
            cells.append(row)
        last = np.r_[video[1:] != video[:-1], True] if len(video) else np.zeros(0, bool)
        row = {"k": k, "n_videos": int(last.sum()), "curve": _cell(actual[last], c_point[last], c_lo[last], c_hi[last])}
        if k > 0:
            row["szabo_huberman"] = _cell(actual[last], s_point[last], s_lo[last], s_hi[last])
            row["reduction_vs_sh"] = 1 - row["curve"]["log_mae"] / row["szabo_huberman"]["log_mae"]
        last_age_rows.append(row)
    return {"shape": shape, "split_date": split_date, "n_train_videos": int(len(iv_tr.video_ids)),
            "n_test_videos": int(len(iv_te.video_ids)), "shape_prior": shape_prior.__dict__,
            "level_prior": level_prior, "cells": cells, "last_age": last_age_rows,
            "fit_seconds": round(fit_seconds, 1), "seconds": round(time.perf_counter() - started, 1),
            "errors": errors}


def choose_shapes(snaps: pd.DataFrame, split_date: str, inner_days: int) -> dict[str, Any]:
    """The shape per K, chosen on the training side of the split only (``videoperf.forecasting.shape_select``): the
    default is the shape with the better held-out fit of the training series' later halves; each K then takes the shape
    whose forecasts on an inner split (the training videos published in the last ``inner_days`` days before the
    split, forecast by forecasters fitted on those before) are better by more than 2 standard errors and in
    log-MAE, else the default."""
    from videoperf.data.splits import split_by_date

    train, _ = split_by_date(snaps, split_date)
    default, heldout = default_shape(intervals_from_snapshots(train))
    inner_date = str((pd.Timestamp(split_date) - pd.Timedelta(days=inner_days)).date())
    inner = {shape: evaluate(train, inner_date, shape) for shape in SHAPES}
    chosen, stats = choose_by_k({shape: r["errors"] for shape, r in inner.items()}, default)
    return {"default_shape": default, "heldout_views_log_mae": heldout, "inner_split_date": inner_date,
            "inner_days": inner_days, "shape_by_k": chosen, "per_k": stats,
            "inner_n_test_videos": inner[default]["n_test_videos"]}


def _fmt(cell: dict[str, float] | None) -> tuple[str, str]:
    return ("-", "-") if cell is None else (f"{cell['log_mae']:.3f}", f"{cell['coverage_80']:.2f}")


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Forecasts from observed days: lifecycle curve vs Szabo-Huberman", "",
             f"Command: `{report['command']}`."]
    if "selection" in report:
        lines += ["", *_selection_section(report)]
    for r in report["results"].values():
        lines += ["", *_shape_section(report, r)]
    return "\n".join(lines) + "\n"


def _selection_section(report: dict[str, Any]) -> list[str]:
    sel = report["selection"]
    heldout = ", ".join(f"{k} {v:.4f}" for k, v in sel["heldout_views_log_mae"].items())
    lines = ["## Recommended: the curve's shape per K, chosen on the training videos", "",
             f"Default shape `{sel['default_shape']}`: the better held-out views log-MAE on the later halves of the "
             f"training series ({heldout}). Inner split {sel['inner_split_date']} (the last {sel['inner_days']} days "
             f"of the training window, {sel['inner_n_test_videos']:,} inner test videos): each K keeps the default "
             "unless the other shape's forecasts are better both by more than 2 standard errors of the per-video "
             "paired difference and in log-MAE over the pairs (`shape_select.choose_by_k`). Nothing of "
             "the test split is used.", "",
             "| K | inner log-MAE " + " | inner log-MAE ".join(SHAPES) + " | difference (SE) | chosen |",
             "|---|" + "---|" * len(SHAPES) + "---|---|"]
    for k, st in sel["per_k"].items():
        diff = next((v for key, v in st.items() if key.endswith(f"_minus_{sel['default_shape']}")), None)
        d = "-" if diff is None else f"{diff['mean_per_video']:+.4f} ({diff['se']:.4f})"
        lines.append(f"| {k} | " + " | ".join(f"{st['log_mae'][s]:.4f}" for s in SHAPES) + f" | {d} | "
                     f"`{st['chosen']}` |")
    lines += ["", "On the test split, each K's rows are those of its chosen shape's section below (the same "
              "forecaster, `videoperf.forecasting.shape_select.ShapeByK`):", "",
              "| K | shape | days ahead | pairs | curve log-MAE | SH log-MAE | curve vs SH | curve cov. | SH cov. |",
              "|---|---|---|---|---|---|---|---|---|"]
    for row in report["recommended"]["cells"]:
        c_mae, c_cov = _fmt(row["curve"])
        s_mae, s_cov = _fmt(row.get("szabo_huberman"))
        red = f"{-row['reduction_vs_sh']:+.0%}" if "reduction_vs_sh" in row else "-"
        label = f"**{row['days_ahead']}**" if row["days_ahead"] == "all" else row["days_ahead"]
        lines.append(f"| {row['k']} | `{row['shape']}` | {label} | {row['n_pairs']:,} | {c_mae} | {s_mae} | {red} | "
                     f"{c_cov} | {s_cov} |")
    return lines


def recommended(results: dict[str, dict[str, Any]], shape_by_k: dict[int, str]) -> dict[str, Any]:
    """Per K the rows of the chosen shape's results."""
    cells: list[dict[str, Any]] = []
    last: list[dict[str, Any]] = []
    for k in KS:
        r = results[shape_by_k[k]]
        cells += [{**row, "shape": shape_by_k[k]} for row in r["cells"] if row["k"] == k]
        last += [{**row, "shape": shape_by_k[k]} for row in r["last_age"] if row["k"] == k]
    return {"shape_by_k": {str(k): v for k, v in shape_by_k.items()}, "cells": cells, "last_age": last}


def _shape_section(report: dict[str, Any], r: dict[str, Any]) -> list[str]:
    lines = [f"## Curve shape `{r['shape']}`", "",
             f"Data: {report['data']}; split {r['split_date']}: "
             f"{r['n_train_videos']:,} training videos, {r['n_test_videos']:,} test videos.", "",
             "Level prior (K = 0 and the curve's level before its observations): the channel's as-of level from "
             "`videoperf.features.channel_history` (live history), not the model ensemble.", "",
             "Every later observation of every test video with more than K observations, forecast from its first K. "
             "log-MAE of log1p views; coverage of the 80% interval.", "",
             "| K | days ahead | pairs | videos | curve log-MAE | SH log-MAE | curve vs SH | curve cov. | SH cov. |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in r["cells"]:
        c_mae, c_cov = _fmt(row["curve"])
        s_mae, s_cov = _fmt(row.get("szabo_huberman"))
        red = f"{-row['reduction_vs_sh']:+.0%}" if "reduction_vs_sh" in row else "-"
        label = f"**{row['days_ahead']}**" if row["days_ahead"] == "all" else row["days_ahead"]
        lines.append(f"| {row['k']} | {label} | {row['n_pairs']:,} | {row['n_videos']:,} | {c_mae} | {s_mae} | {red} | "
                     f"{c_cov} | {s_cov} |")
    lines += ["", "Each video once, at its last observed age (as `evaluate --observed K`):", "",
              "| K | videos | curve log-MAE | SH log-MAE | curve vs SH | curve cov. | SH cov. |",
              "|---|---|---|---|---|---|---|"]
    for row in r["last_age"]:
        c_mae, c_cov = _fmt(row["curve"])
        s_mae, s_cov = _fmt(row.get("szabo_huberman"))
        red = f"{-row['reduction_vs_sh']:+.0%}" if "reduction_vs_sh" in row else "-"
        lines.append(f"| {row['k']} | {row['n_videos']:,} | {c_mae} | {s_mae} | {red} | {c_cov} | {s_cov} |")
    lines += ["", f"Fitting both forecasters: {r['fit_seconds']} s; this shape's whole run {r['seconds']} s "
              "(2-core shared machine)."]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="a load_data source")
    parser.add_argument("--split-date", default="2026-04-15")
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=SHAPES)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--cache", type=Path, default=None,
                        help="parquet of the loaded snapshots' needed columns: read when present, else written")
    parser.add_argument("--video-fraction", type=float, default=1.0, help="use this share of the videos only")
    parser.add_argument("--inner-days", type=int, default=30,
                        help="the shape per K is chosen on the training videos of the last this many days before "
                             "the split (0: no choice, only the fixed shapes' sections)")
    args = parser.parse_args(argv)
    snaps = load_snapshots(args.data, args.cache, args.video_fraction)
    selection = choose_shapes(snaps, args.split_date, args.inner_days) if args.inner_days > 0 else None
    shapes = list(dict.fromkeys([*args.shapes, *(selection["shape_by_k"].values() if selection else [])]))
    results = {shape: evaluate(snaps, args.split_date, shape) for shape in shapes}
    for r in results.values():
        r.pop("errors")
    command = "python benchmarks/observed_forecast.py " + " ".join(argv if argv is not None else sys.argv[1:])
    report = {"command": command,
              "data": Path(args.data).name + ("" if args.video_fraction >= 1 else
                                              f" (a {args.video_fraction:.0%} sample of its videos)"),
              "video_fraction": args.video_fraction, "results": results}
    if selection is not None:
        report["selection"] = selection
        report["recommended"] = recommended(results, selection["shape_by_k"])
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "observed_forecast.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out_dir / "observed_forecast.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
