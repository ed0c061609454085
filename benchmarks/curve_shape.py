"""Which lifecycle-curve shape fits real series, and how well the curve recovers the simulator's truth.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/curve_shape.py \
        [--data ../shared/data/youtube_trending_api/trending_2025-12-10_2026-05-31.parquet] [--min-days 6]

1. Real export (``videoperf.data.sources.load_data``): every video charted on at least ``--min-days`` days. Each shape
   of ``videoperf.lifecycle.curve.SHAPES`` is fitted (MAP, its shape prior estimated from the same first halves) to the
   first half of each series and scored on the held-out later half: log-MAE of the views there (forecast anchored on
   the last fitted observation, ``v_last + R (S(t) - S(t_last))``) and MAE of the later log interval rates.
2. Simulator (``videoperf.data.synthetic``, exponential by construction): the ``"exp"`` curve fitted to each video's
   whole series and to its first K observations; time-to-peak and decay MAE against the truth beside the median
   baseline (every video gets the true values' median); stage macro-F1 by age bucket of the curve's stage at every
   observation against the true stage, read three ways (the observation's interval, a one-day window, a fixed 50%
   band); median relative error of the views at twice the last observed age from K observations.

Writes ``benchmarks/results/curve_shape.json`` and ``curve_shape.md``.
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

from videoperf.forecasting.curve_forecaster import CurveForecaster  # noqa: E402
from videoperf.forecasting.series import first_k  # noqa: E402
from videoperf.forecasting.shape_select import default_shape, split_halves  # noqa: E402
from videoperf.lifecycle.curve import (  # noqa: E402
    SHAPES,
    Intervals,
    ShapePrior,
    curves_of,
    empirical_prior,
    fit_intervals,
    intervals_from_arrays,
    intervals_from_snapshots,
    stage_at,
    stage_in_band,
    unit_cumulative,
)
from videoperf.lifecycle.metrics import classification_metrics  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "youtube_trending_api" / "trending_2025-12-10_2026-05-31.parquet"
AGE_BUCKETS = (1.0, 3.0, 7.0, 14.0)
AGE_LABELS = ("<=1", "1-3", "3-7", "7-14", ">14")
WEAK = ShapePrior(log_tp_sd=3.0, log_decay_sd=3.0)


def real_shapes(iv: Intervals, min_days: int) -> dict[str, Any]:
    """Held-out fit error of each shape on the real series (see the module docstring)."""
    head, held, _ = split_halves(iv, min_days)
    fitted_videos = np.unique(head.video)
    last_age = np.full(len(iv.video_ids), np.nan)
    last_views = np.full(len(iv.video_ids), np.nan)
    is_last = np.r_[head.video[1:] != head.video[:-1], True]
    last_age[head.video[is_last]] = head.end[is_last]
    last_views[head.video[is_last]] = head.end_views[is_last]
    out: dict[str, Any] = {"n_videos": int(len(fitted_videos)), "n_held_out_observations": int(held.sum()),
                           "shapes": {}}
    for shape in SHAPES:
        started = time.perf_counter()
        prior = empirical_prior(fit_intervals(head, shape, WEAK, 3))
        fits = fit_intervals(head, shape, prior, 3)
        seconds = time.perf_counter() - started
        c = curves_of(fits, shape)
        v = iv.video[held]
        t = iv.end[held]
        scale = np.exp(c.log_level[v])
        grow = scale * (unit_cumulative(t, c.time_to_peak[v], c.decay[v], shape)
                        - unit_cumulative(last_age[v], c.time_to_peak[v], c.decay[v], shape))
        point = last_views[v] + np.maximum(grow, 0.0)
        err = np.abs(np.log1p(point) - np.log1p(iv.end_views[held]))
        span = iv.end[held] - iv.start[held]
        with np.errstate(divide="ignore", invalid="ignore"):
            rate_pred = np.log(scale * (unit_cumulative(iv.end[held], c.time_to_peak[v], c.decay[v], shape)
                                        - unit_cumulative(iv.start[held], c.time_to_peak[v], c.decay[v], shape)) / span)
        rate_err = np.abs(rate_pred - iv.log_rate[held])
        ahead = iv.end[held] - last_age[v]
        by_ahead = {label: float(np.nanmean(err[np.searchsorted(AGE_BUCKETS, ahead) == i]))
                    for i, label in enumerate(AGE_LABELS) if (np.searchsorted(AGE_BUCKETS, ahead) == i).any()}
        out["shapes"][shape] = {
            "views_log_mae": float(np.nanmean(err)), "views_log_mae_by_days_ahead": by_ahead,
            "log_rate_mae": float(np.nanmean(rate_err[np.isfinite(rate_err)])),
            "log_rate_median_ae": float(np.nanmedian(rate_err[np.isfinite(rate_err)])),
            "in_sample_rmse_median": float(fits["rmse"].median()),
            "prior": prior.__dict__, "fit_seconds": round(seconds, 1),
        }
    best = min(out["shapes"], key=lambda s: out["shapes"][s]["views_log_mae"])
    out["best_by_views_log_mae"] = best
    return out


def _recovery(fits: pd.DataFrame, videos: pd.DataFrame, label: str, shape: str) -> dict[str, Any]:
    merged = fits.merge(videos[["video_id", "peak_day", "decay_rate"]], on="video_id")
    merged = merged[merged["log_level"].notna()]
    # The curve's decay rate per day (lam for "exp"; the power law's one day after its peak).
    merged = merged.assign(decay=curves_of(merged, shape).decay_rate())
    med_tp, med_dec = videos["peak_day"].median(), videos["decay_rate"].median()
    tp_mae = float((merged["time_to_peak"] - merged["peak_day"]).abs().mean())
    tp_base = float((merged["peak_day"] - med_tp).abs().mean())
    dec_mae = float((merged["decay"] - merged["decay_rate"]).abs().mean())
    dec_base = float((merged["decay_rate"] - med_dec).abs().mean())
    return {"fit": label, "n_videos": int(len(merged)), "time_to_peak_mae": tp_mae,
            "time_to_peak_median_baseline": tp_base, "time_to_peak_reduction": 1 - tp_mae / tp_base,
            "decay_mae": dec_mae, "decay_median_baseline": dec_base,
            "decay_reduction": 1 - dec_mae / dec_base}


def simulator(n_videos: int, seed: int) -> dict[str, Any]:
    """Truth recovery of the curve on the simulator, its shape chosen on the training half (module docstring)."""
    from videoperf.data.synthetic import REAL_EXPORT_END, _cumulative_views, generate_synthetic

    _, truth = generate_synthetic(n_videos, seed, end=REAL_EXPORT_END)
    snaps = truth.snapshots
    iv = intervals_from_arrays(snaps["video_id"].to_numpy(), snaps["age_days"].to_numpy(), snaps["views"].to_numpy())
    videos = truth.videos
    # The first half by publish time is the training half: the shape is chosen on it (held-out later halves).
    order = np.argsort(videos["published_at"].to_numpy(), kind="stable")
    train_ids = set(videos["video_id"].to_numpy()[order[: n_videos // 2]])
    in_train = np.isin(iv.video_ids, list(train_ids))
    train_rows = in_train[iv.video]
    tr = intervals_from_arrays(iv.video_ids[iv.video[train_rows]], iv.end[train_rows], iv.end_views[train_rows])
    te = intervals_from_arrays(iv.video_ids[iv.video[~train_rows]], iv.end[~train_rows], iv.end_views[~train_rows])
    shape, heldout = default_shape(tr)
    prior = empirical_prior(fit_intervals(iv, shape, WEAK, 2))
    fits = fit_intervals(iv, shape, prior, 2)
    recovery = [_recovery(fits, videos, "whole series, >= 2 intervals", shape),
                _recovery(fits[fits["n_used"] >= 3], videos, "whole series, >= 3 intervals", shape)]
    # From the first K observations only (the level from the observations, the shape prior from the fits).
    fc = CurveForecaster(shape).fit(tr)
    truth_te = videos.set_index("video_id").loc[te.video_ids]
    counts = np.bincount(te.video, minlength=len(te.video_ids))
    twice: dict[str, Any] = {}
    forecast_stage: dict[str, Any] = {}
    te_keys = pd.DataFrame({"video_id": te.video_ids[te.video], "age_days": te.end})
    te_stage = te_keys.merge(snaps[["video_id", "age_days", "stage"]], on=["video_id", "age_days"],
                             how="left")["stage"].to_numpy()
    te_pos = np.arange(len(te.video)) - np.searchsorted(te.video, te.video)
    for k in (1, 2, 3, 5):
        obs = first_k(te, k)
        # The stage at every later observation, read off the curve conditioned on the first k (the band of its
        # interval), against the truth.
        c_k = fc.condition(obs, fc.global_level_, fc.level_sd_)
        later = te_pos >= k
        code_k = te.video[later]
        pred = stage_at(te.end[later], c_k.time_to_peak[code_k], np.maximum(te.end[later] - te.start[later], 1e-9))
        b_k = np.searchsorted(AGE_BUCKETS, te.end[later])
        forecast_stage[str(k)] = {label: (classification_metrics(te_stage[later][b_k == i], pred[b_k == i])["macro_f1"]
                                          if (b_k == i).sum() >= 30 else None) for i, label in enumerate(AGE_LABELS)}
        fits_k = fit_intervals(obs, shape, fc.prior_, 1, np.full(len(te.video_ids), fc.global_level_),
                               np.full(len(te.video_ids), fc.level_sd_))
        recovery.append(_recovery(fits_k[counts >= k], videos, f"first {k} observations (test half)", shape))
        chosen = np.flatnonzero(counts >= k)
        is_last = np.r_[obs.video[1:] != obs.video[:-1], True]
        last_age = np.full(len(te.video_ids), np.nan)
        last_age[obs.video[is_last]] = obs.end[is_last]
        target = 2 * last_age[chosen]
        point, lo, hi = fc.predict(obs, fc.global_level_, fc.level_sd_, chosen, target, k)
        tv = truth_te.iloc[chosen]
        true = _cumulative_views(target, tv["peak_day"].to_numpy(), tv["growth_rate"].to_numpy(),
                                 tv["decay_rate"].to_numpy(), tv["peak_rate"].to_numpy())
        twice[str(k)] = {"n_videos": int(len(chosen)),
                         "median_rel_error": float(np.median(np.abs(point - true) / true)),
                         "coverage_80": float(np.mean((true >= lo) & (true <= hi)))}
    code = iv.video
    c = curves_of(fits, shape)
    ok = np.isfinite(c.log_level[code])
    keys = pd.DataFrame({"video_id": iv.video_ids[code], "age_days": iv.end})
    true_stage = keys.merge(snaps[["video_id", "age_days", "stage"]], on=["video_id", "age_days"], how="left")["stage"]
    bucket = np.searchsorted(AGE_BUCKETS, iv.end)
    readings = {"band of the observation's interval (the rule)": stage_at(iv.end, c.time_to_peak[code],
                                                                           np.maximum(iv.end - iv.start, 1e-9)),
                "one-day band at every observation": stage_at(iv.end, c.time_to_peak[code]),
                "50% band (stage_in_band)": stage_in_band(iv.end, c.time_to_peak[code], c.decay[code], shape)}
    stage = {name: {label: classification_metrics(true_stage[ok & (bucket == i)], pred[ok & (bucket == i)])["macro_f1"]
                    for i, label in enumerate(AGE_LABELS)} for name, pred in readings.items()}
    return {"n_videos": n_videos, "seed": seed, "shape": shape, "heldout_views_log_mae": heldout,
            "n_fitted": int(fits["log_level"].notna().sum()),
            "recovery": recovery, "stage_macro_f1_by_age": stage, "views_at_twice_last_age": twice,
            "forecast_stage_macro_f1_by_age": forecast_stage}


def markdown(report: dict[str, Any]) -> str:
    real = report.get("real")
    lines = ["# Lifecycle curve: shape on real series, truth recovery on the simulator", "",
             f"Command: `{report['command']}`", ""]
    if real:
        lines += [f"## Real export ({real['data']})", "",
                  f"{real['n_videos']:,} videos charted on >= {real['min_days']} days; each shape fitted to the first "
                  "half of each series (>= 3 observations), scored on the "
                  f"{real['n_held_out_observations']:,} held-out later observations.", "",
                  "| shape | views log-MAE | " + " | ".join(f"ahead {a}" for a in AGE_LABELS)
                  + " | log-rate MAE | log-rate median AE | fit s |",
                  "|---|---|" + "---|" * len(AGE_LABELS) + "---|---|---|"]
        for shape, r in real["shapes"].items():
            ahead = " | ".join(f"{r['views_log_mae_by_days_ahead'].get(a, float('nan')):.4f}" for a in AGE_LABELS)
            lines.append(f"| {shape} | {r['views_log_mae']:.4f} | {ahead} | {r['log_rate_mae']:.3f} | "
                         f"{r['log_rate_median_ae']:.3f} | {r['fit_seconds']} |")
        lines += ["", f"Best by held-out views log-MAE: **{real['best_by_views_log_mae']}**.", ""]
    sim = report["simulator"]
    heldout = ", ".join(f"{k} {v:.4f}" for k, v in sim.get("heldout_views_log_mae", {}).items())
    lines += [f"## Simulator ({sim['n_videos']:,} videos, seed {sim['seed']})", "",
              f"Curve shape `{sim.get('shape', 'exp')}`, chosen on the training half (the first half by publish time) "
              f"by held-out views log-MAE on its series' later halves ({heldout}; `forecasting.shape_select`).", "",
              "| fit | videos | time-to-peak MAE | median baseline | reduction | decay MAE | median baseline "
              "| reduction |",
              "|---|---|---|---|---|---|---|---|"]
    for r in sim["recovery"]:
        lines.append(f"| {r['fit']} | {r['n_videos']:,} | {r['time_to_peak_mae']:.3f} | "
                     f"{r['time_to_peak_median_baseline']:.3f} | {r['time_to_peak_reduction']:.0%} | "
                     f"{r['decay_mae']:.3f} | "
                     f"{r['decay_median_baseline']:.3f} | {r['decay_reduction']:.0%} |")
    lines += ["", "Stage macro-F1 by age (days) against the true stage of every observation:", "",
              "| stage read | " + " | ".join(AGE_LABELS) + " |", "|---|" + "---|" * len(AGE_LABELS)]
    for name, row in sim["stage_macro_f1_by_age"].items():
        lines.append(f"| {name} | " + " | ".join(f"{row[a]:.3f}" for a in AGE_LABELS) + " |")
    if "forecast_stage_macro_f1_by_age" in sim:
        lines += ["", "Stage macro-F1 by age at every later observation of the test half, read off the curve "
                  "conditioned on the first K observations (`CurveForecaster.condition`, the band of each "
                  "observation's interval):", "",
                  "| K | " + " | ".join(AGE_LABELS) + " |", "|---|" + "---|" * len(AGE_LABELS)]
        for k, row in sim["forecast_stage_macro_f1_by_age"].items():
            lines.append(f"| {k} | " + " | ".join("-" if row[a] is None else f"{row[a]:.3f}" for a in AGE_LABELS)
                         + " |")
    lines += ["", "Views at twice the last observed age from the first K observations (test half), against the "
              "noise-free true curve; the intervals are calibrated for observed views, and the forecast is anchored "
              "on the last observed views, which carry the simulator's accumulated increment noise, so their "
              "coverage of the noise-free truth is not their nominal 80%:", "",
              "| K | videos | median relative error | 80% coverage |", "|---|---|---|---|"]
    for k, r in sim["views_at_twice_last_age"].items():
        lines.append(f"| {k} | {r['n_videos']:,} | {r['median_rel_error']:.3f} | {r['coverage_80']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="a load_data source; 'none' skips the real part")
    parser.add_argument("--min-days", type=int, default=6)
    parser.add_argument("--sim-videos", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--cache", type=Path, default=None,
                        help="parquet of the loaded snapshots' needed columns: read when present, else written")
    parser.add_argument("--video-fraction", type=float, default=1.0, help="use this share of the videos only")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"command": "python benchmarks/curve_shape.py " + " ".join(argv or sys.argv[1:])}
    if args.data != "none":
        snaps = load_snapshots(args.data, args.cache, args.video_fraction)
        real = real_shapes(intervals_from_snapshots(snaps), args.min_days)
        name = Path(args.data).name + ("" if args.video_fraction >= 1 else
                                       f" (a {args.video_fraction:.0%} sample of its videos)")
        report["real"] = {"data": name, "video_fraction": args.video_fraction, "min_days": args.min_days, **real}
    report["simulator"] = simulator(args.sim_videos, args.seed)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "curve_shape.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out_dir / "curve_shape.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
