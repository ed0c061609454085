"""The README example's lifecycle curve per model family (videoperf.serving.family_curve) against the families' raw
per-age predictions: views at 0.25 ... 365 days, the two families' ratio at 7 and 30 days, the stage (issue 13,
"What it must show" points 2 and 4).

A prediction depends on the publish time (hour and weekday are features), so the example is measured at one fixed
publish time (the day after the training data ends, noon UTC) and, for the spread, at 8 publish hours of that day.

    .venv/bin/python benchmarks/family_curves.py --bundle /work/bundles/fast_whole
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from videoperf.lifecycle.curve import DEFAULT_SHAPE  # noqa: E402
from videoperf.plain import plain  # noqa: E402
from videoperf.serving.bundle import Bundle  # noqa: E402
from videoperf.serving.family_curve import (  # noqa: E402
    age_weights,
    curve_prediction,
    fit_family_curves,
    headless_prior,
    trained_ages,
)
from videoperf.serving.request import parse_request  # noqa: E402

AGES = [0.25, 1.0, 3.0, 7.0, 14.0, 30.0, 60.0, 180.0, 365.0]
FAMILIES = ("ensemble", "deep_learning")
EXAMPLE = dict(title="Amazing makeup tutorial for beginners", tags=["makeup", "tutorial", "beauty", "beginner"],
               categories=["Lifestyle", "Fashion"], duration_seconds=600, channel_avg_views=50000,
               channel_video_count=25)
RATIO_BAR = 2.0


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file, then a rename)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _raw(bundle: Bundle, request: dict[str, Any], model_type: str) -> pd.DataFrame:
    """The family's own prediction at each age (one row per age), as before the curve."""
    rows = {key: [value] * len(AGES) for key, value in request.items()}
    rows["age_days"] = list(AGES)
    out = bundle.predict_frame(rows, model_type)
    frame = pd.DataFrame({"age": AGES, "views": out["predicted_views"].to_numpy()})
    if "predicted_lifecycle_stage" in out:
        frame["stage"] = out["predicted_lifecycle_stage"].to_numpy()
    return frame


def measure(bundle: Bundle, published_at: str) -> dict[str, Any]:
    """Curves and raw predictions of both families for the example published at ``published_at``."""
    request = parse_request({**EXAMPLE, "published_at": published_at}).row(7.0)
    out: dict[str, Any] = {"published_at": published_at, "families": {}}
    for model_type in FAMILIES:
        curve = curve_prediction(bundle, request, AGES, model_type)
        out["families"][model_type] = {
            "curve": curve.frame.to_dict("list"), "time_to_peak_days": curve.time_to_peak_days,
            "decay_rate_per_day": curve.decay_rate, "power_alpha": float(curve.curve.decay[0]),
            "raw": _raw(bundle, request, model_type).to_dict("list")}
    views = {m: dict(zip(AGES, out["families"][m]["curve"]["views"])) for m in FAMILIES}
    raw = {m: dict(zip(AGES, out["families"][m]["raw"]["views"])) for m in FAMILIES}
    out["ratio_deep_over_ensemble"] = {str(a): views["deep_learning"][a] / views["ensemble"][a] for a in (7.0, 30.0)}
    out["raw_ratio_deep_over_ensemble"] = {str(a): raw["deep_learning"][a] / raw["ensemble"][a] for a in (7.0, 30.0)}
    ratios = out["ratio_deep_over_ensemble"].values()
    out["point2_ratio_met"] = bool(all(1 / RATIO_BAR <= r <= RATIO_BAR for r in ratios))
    stages = {m: dict(zip(AGES, out["families"][m]["curve"]["stage"])) for m in FAMILIES}
    out["point4_stage_met"] = {m: bool(stages[m][0.25] in ("growth", "peak") and stages[m][14.0] == "decay")
                               for m in FAMILIES}
    return out


def real_videos(bundle: Bundle, data: str, n_videos: int, seed: int) -> dict[str, Any]:
    """Beyond the example: ``n_videos`` real videos charted on 3 or more days, each predicted by both families at
    the trained ages (its own first snapshot's content and channel history as of its publish time), one curve
    per family. Measured: the share of videos whose two families agree within a factor of 2 at days 7 and 30
    (curve and raw), the log-MAE at the videos' observed ages (curve and raw; in-sample for a whole-export bundle),
    the stage at 6 h and 14 d."""
    from videoperf.data.sources import load_data
    from videoperf.models.registry import FAMILIES as REGISTRY

    snaps = load_data(data).sort_values(["video_id", "observed_at"]).reset_index(drop=True)
    counts = snaps.groupby("video_id").size()
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(counts.index[counts >= 3].to_numpy(), size=n_videos, replace=False))
    obs = snaps[snaps["video_id"].isin(chosen)].reset_index(drop=True)
    first = obs.groupby("video_id", sort=True).head(1).reset_index(drop=True)
    ages = trained_ages(bundle)
    rows = first.loc[first.index.repeat(len(ages))].reset_index(drop=True)
    rows["observed_at"] = rows["published_at"] + pd.to_timedelta(np.tile(ages, len(first)), unit="D")
    history = bundle.features.channel_history(snaps)
    X = bundle.features.transform(rows, history=history)
    obs_age = ((obs["observed_at"] - obs["published_at"]).dt.total_seconds() / 86400.0).to_numpy()
    code = pd.Index(first["video_id"]).get_indexer(obs["video_id"])
    X_obs = bundle.features.transform(obs, history=history)
    actual = np.log1p(obs["views"].to_numpy(float))
    out: dict[str, Any] = {"data": data, "videos": int(len(first)), "observations": int(len(obs)), "seed": seed,
                           "note": "in-sample when the bundle was trained on the same export"}
    views: dict[str, dict[str, np.ndarray]] = {}
    for model_type in FAMILIES:
        family = REGISTRY[model_type]
        model = bundle.model(model_type)
        fc = fit_family_curves(family.predict(model, X, rows), ages, age_weights=age_weights(bundle),
                               prior=headless_prior(bundle, DEFAULT_SHAPE))
        curve_obs = np.log1p(np.exp(fc.curves.log_level[code]) * _unit(fc, code, obs_age))
        raw_obs = np.log1p(family.predict(model, X_obs, obs)["predicted_views"].to_numpy(float))
        grid_rows = first.loc[first.index.repeat(2)].reset_index(drop=True)
        grid_rows["observed_at"] = grid_rows["published_at"] + pd.to_timedelta(np.tile([7.0, 30.0], len(first)),
                                                                                unit="D")
        raw_grid = family.predict(model, bundle.features.transform(grid_rows, history=history), grid_rows)
        stage6h = fc.curves.stage(np.full(len(first), 0.25))
        stage14 = fc.curves.stage(np.full(len(first), 14.0))
        views[model_type] = {"curve": fc.curves.views(np.array([[7.0], [30.0]])),
                             "raw": raw_grid["predicted_views"].to_numpy(float).reshape(len(first), 2).T}
        out[model_type] = {
            "log_mae_curve": float(np.mean(np.abs(curve_obs - actual))),
            "log_mae_raw": float(np.mean(np.abs(raw_obs - actual))),
            "median_time_to_peak_days": float(np.median(fc.curves.time_to_peak)),
            "median_decay_rate_per_day": float(np.median(fc.curves.decay_rate())),
            "share_growth_or_peak_at_6h": float(np.isin(stage6h, ["growth", "peak"]).mean()),
            "share_decay_at_14d": float((stage14 == "decay").mean()),
            "median_views_365_over_30": float(np.median(fc.curves.views(365.0) / fc.curves.views(30.0))),
        }
    for kind in ("curve", "raw"):
        ratio = views["deep_learning"][kind] / np.maximum(views["ensemble"][kind], 1.0)
        for j, day in enumerate((7, 30)):
            out[f"{kind}_share_within_2x_day{day}"] = float(np.mean((ratio[j] >= 0.5) & (ratio[j] <= 2.0)))
            out[f"{kind}_median_ratio_day{day}"] = float(np.median(ratio[j]))
    return out


def _unit(fc: Any, code: np.ndarray, age: np.ndarray) -> np.ndarray:
    from videoperf.lifecycle.curve import unit_cumulative

    return unit_cumulative(age, fc.curves.time_to_peak[code], fc.curves.decay[code], fc.curves.shape)


def markdown(report: dict[str, Any]) -> str:
    main = report["main"]
    lines = ["# Lifecycle curve per family: the README example (issue 13 points 2, 4)", "",
             f"Bundle `{report['bundle']}` (trained on {report['trained_on']}); published at {main['published_at']};"
             f" trained ages {report['trained_ages_days'][0]:.2f}-{report['trained_ages_days'][-1]:.2f} days "
             f"({len(report['trained_ages_days'])} ages). Command: `{report['command']}`.", ""]
    header = "| age (d) | " + " | ".join(f"{m} curve | {m} stage | {m} raw | {m} raw stage" for m in FAMILIES) + " |"
    lines += [header, "|" + "---|" * (1 + 4 * len(FAMILIES))]
    for j, age in enumerate(AGES):
        cells = []
        for m in FAMILIES:
            fam = main["families"][m]
            raw_stage = fam["raw"].get("stage", ["-"] * len(AGES))[j]
            cells += [f"{fam['curve']['views'][j]:,.0f}", fam["curve"]["stage"][j], f"{fam['raw']['views'][j]:,.0f}",
                      str(raw_stage)]
        lines.append(f"| {age:g} | " + " | ".join(cells) + " |")
    lines += ["", "| family | time to peak (d) | decay rate (/d, 1 d after peak) | power alpha |", "|---|---|---|---|"]
    for m in FAMILIES:
        fam = main["families"][m]
        lines.append(f"| {m} | {fam['time_to_peak_days']:.3f} | {fam['decay_rate_per_day']:.3f} | "
                     f"{fam['power_alpha']:.3f} |")
    r, raw = main["ratio_deep_over_ensemble"], main["raw_ratio_deep_over_ensemble"]
    lines += ["", f"Deep / ensemble views: day 7 {r['7.0']:.2f} (raw {raw['7.0']:.2f}), day 30 {r['30.0']:.2f} "
              f"(raw {raw['30.0']:.2f}). Point 2 (within a factor of {RATIO_BAR:g}): "
              f"**{'met' if main['point2_ratio_met'] else 'not met'}**. "
              "Point 4 (growth or peak at 6 h, decay at 14 d): "
              + ", ".join(f"{m} **{'met' if ok else 'not met'}**" for m, ok in main["point4_stage_met"].items()) + ".",
              "", "Across publish hours of the same day:", "",
              "| published at | ratio d7 | ratio d30 | point 2 | point 4 (ensemble, deep) |", "|---|---|---|---|---|"]
    for row in report["publish_hours"]:
        p4 = row["point4_stage_met"]
        ratio = row["ratio_deep_over_ensemble"]
        lines.append(f"| {row['published_at']} | {ratio['7.0']:.2f} | {ratio['30.0']:.2f} | "
                     f"{'met' if row['point2_ratio_met'] else 'not met'} | {p4['ensemble']}, {p4['deep_learning']} |")
    real = report.get("real_videos")
    if real:
        lines += ["", f"Real videos: {real['videos']} charted on 3+ days ({real['observations']} observations, "
                  f"seed {real['seed']}; {real['note']}).", "",
                  "| | within 2x at day 7 | within 2x at day 30 | median deep/ensemble d7 | d30 |",
                  "|---|---|---|---|---|"]
        for kind in ("curve", "raw"):
            lines.append(f"| {kind} | {real[kind + '_share_within_2x_day7']:.3f} | "
                         f"{real[kind + '_share_within_2x_day30']:.3f} | {real[kind + '_median_ratio_day7']:.2f} | "
                         f"{real[kind + '_median_ratio_day30']:.2f} |")
        lines += ["", "| family | log-MAE curve | log-MAE raw | median tp (d) | median decay (/d) | growth/peak at 6 h "
                  "| decay at 14 d | median V(365)/V(30) |", "|---|---|---|---|---|---|---|---|"]
        for m in FAMILIES:
            r = real[m]
            lines.append(f"| {m} | {r['log_mae_curve']:.3f} | {r['log_mae_raw']:.3f} | "
                         f"{r['median_time_to_peak_days']:.3f} | {r['median_decay_rate_per_day']:.3f} | "
                         f"{r['share_growth_or_peak_at_6h']:.3f} | {r['share_decay_at_14d']:.3f} | "
                         f"{r['median_views_365_over_30']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=Path("/work/bundles/fast_whole"))
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--data", default=None, help="the export the real-video section samples (omit: no section)")
    parser.add_argument("--videos", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    bundle = Bundle.load(args.bundle)
    day = (pd.Timestamp(bundle.manifest["training_window"]["observed_to"]).normalize() + pd.Timedelta(days=1))
    report: dict[str, Any] = {
        "command": "python benchmarks/family_curves.py --bundle " + str(args.bundle), "bundle": str(args.bundle),
        "trained_on": f"{bundle.manifest['data']['videos']} videos published "
                      f"{bundle.manifest['training_window']['published_from'][:10]} to "
                      f"{bundle.manifest['training_window']['published_to'][:10]} (speed "
                      f"{bundle.manifest.get('speed')})",
        "trained_ages_days": trained_ages(bundle).tolist(), "ages": AGES,
        "main": measure(bundle, (day + pd.Timedelta(hours=12)).isoformat()),
        "publish_hours": [measure(bundle, (day + pd.Timedelta(hours=h)).isoformat()) for h in range(0, 24, 3)],
    }
    report["publish_hours_point2_met"] = sum(r["point2_ratio_met"] for r in report["publish_hours"])
    if args.data:
        report["command"] += f" --data {args.data} --videos {args.videos} --seed {args.seed}"
        report["real_videos"] = real_videos(bundle, args.data, args.videos, args.seed)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    _write(args.out_dir / "family_curves.json", json.dumps(plain(report), indent=2) + "\n")
    _write(args.out_dir / "family_curves.md", markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
