"""Lifecycle target rules measured against the simulator's truth, plus how the simulator compares with real data.

    .venv/bin/python benchmarks/lifecycle_accuracy.py [--videos 20000] [--seeds 0 1 2] [--real PATH]

Prints, for the default rules and simple ablations (no noise tolerance, no decay-line correction): stage
accuracy on the observations of videos with >= 3 days, time to peak within 1 day, median relative error of
the decay rate, and how many videos get each target. With real data (default: ../shared/data beside the
repository, skipped when absent) it also prints the target counts and timing on the real export, and the
observable statistics (stage patterns, rate ratios, first age, fitted decay) of real vs simulated series
that the simulator's lifecycle parameters were calibrated on. On the 2-core dev box, wrap in
``flock /tmp/videoperf-heavy.lock``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic  # noqa: E402
from videoperf.lifecycle.targets import build_targets, score_against_truth  # noqa: E402

DEFAULT_REAL = ROOT.parent / "shared" / "data" / "youtube_trending_api" / "trending_2025-12-10_2026-05-31.parquet"
VARIANTS = {
    "default rules": {},
    "no noise tolerance": {"peak_tolerance": 0.0},
    "tolerance 10%": {"peak_tolerance": 0.10},
    "no decay-line correction": {"decay_line_tol": -np.inf},
}


def canonical(raw: pd.DataFrame) -> pd.DataFrame:
    """Per video and UTC day the latest fetch (what the project loader produces), with the columns needed."""
    df = raw.loc[:, ["video_id", "fetched_at", "published_at", "views", "likes"]].copy()
    for col in ("fetched_at", "published_at"):
        df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
    for col in ("views", "likes"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["day"] = df["fetched_at"].dt.floor("D")
    df = df.sort_values("fetched_at", kind="stable").groupby(["video_id", "day"], sort=False).tail(1)
    return df.drop(columns="day").rename(columns={"fetched_at": "observed_at"}).reset_index(drop=True)


def observables(targets: pd.DataFrame) -> dict[str, object]:
    """Statistics of the observed series only (no truth), comparable between real and simulated data."""
    videos = targets.groupby("video_id").head(1)
    n_obs = videos["n_observations"]
    pos = targets.groupby("video_id").cumcount()
    long = targets[targets["n_observations"] >= 4]
    rate_by_pos = long.groupby(pos[long.index])["daily_rate"].median()
    patterns = (targets[targets["n_observations"] >= 3].groupby("video_id")["lifecycle_stage"]
                .agg(lambda s: "".join(str(x)[0] for x in s.iloc[:3])).value_counts(normalize=True))
    first_age = targets.groupby("video_id")["age_days"].first()
    return {
        "days >=3 / >=7": f"{(n_obs >= 3).mean():.2f} / {(n_obs >= 7).mean():.2f}",
        "first age q25/50/75": first_age.quantile([0.25, 0.5, 0.75]).round(2).tolist(),
        "median rate, days 2-4 / day 1": (rate_by_pos.iloc[1:4] / rate_by_pos.iloc[0]).round(2).tolist(),
        "first-3 stage patterns": {k: round(v, 2) for k, v in patterns.head(4).items()},
        "time to peak q25/50/75": videos["time_to_peak_days"].quantile([0.25, 0.5, 0.75]).round(2).tolist(),
        "decay rate q25/50/75": videos["decay_rate"].quantile([0.25, 0.5, 0.75]).round(2).tolist(),
        "share with stage / ttp / decay": [round(videos[c].notna().mean(), 2) for c in
                                           ("lifecycle_stage", "time_to_peak_days", "decay_rate")],
    }


def simulator_section(n_videos: int, seeds: list[int]) -> pd.DataFrame:
    """Scores of each rule variant against the truth, averaged over seeds; prints per-length accuracy."""
    rows = []
    for seed in seeds:
        started = time.perf_counter()
        raw, truth = generate_synthetic(n_videos, seed, end=REAL_EXPORT_END)
        snaps = canonical(raw)
        print(f"seed {seed}: simulated {n_videos:,} videos, {len(raw):,} raw rows, {len(snaps):,} daily "
              f"snapshots in {time.perf_counter() - started:.1f} s")
        for name, kwargs in VARIANTS.items():
            targets = build_targets(snaps, **kwargs)
            rows.append({"variant": name, "seed": seed, **score_against_truth(targets, truth.snapshots, truth.videos)})
            if name == "default rules" and seed == seeds[0]:
                keys = ["video_id", "observed_at"]
                obs = targets.merge(truth.snapshots[[*keys, "stage"]], on=keys)
                labelled = obs[obs["lifecycle_stage"].notna()]
                correct = labelled["lifecycle_stage"] == labelled["stage"]
                by_len = correct.groupby(labelled["n_observations"].clip(upper=8)).agg(["mean", "size"])
                print("stage accuracy by number of observations (8 = 8+):")
                print(by_len.rename(columns={"mean": "accuracy", "size": "observations"}).round(3).to_string())
                print("confusion (rows truth, columns derived):")
                print(pd.crosstab(labelled["stage"], labelled["lifecycle_stage"]).to_string())
    table = pd.DataFrame(rows).groupby("variant", sort=False).mean(numeric_only=True).drop(columns="seed")
    cols = ["stage_accuracy_min_days", "stage_accuracy_all_labelled", "time_to_peak_within_1_day",
            "time_to_peak_mae_days", "decay_rate_median_rel_error", "n_videos_with_stage",
            "n_videos_with_time_to_peak", "n_videos_with_decay_rate"]
    return table[cols]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=20000, help="simulated videos per seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL, help="real trending export (parquet)")
    args = parser.parse_args(argv)
    pd.set_option("display.width", 160)

    print("== Simulator truth ==")
    print(simulator_section(args.videos, args.seeds).round(3).T.to_string())

    if not args.real.is_file():
        print(f"\n(real data not found at {args.real}: skipping the real-data section)")
        return
    print("\n== Real export ==")
    raw = pd.read_parquet(args.real, columns=["video_id", "fetched_at", "published_at", "views", "likes"])
    snaps = canonical(raw)
    started = time.perf_counter()
    real = build_targets(snaps)
    elapsed = time.perf_counter() - started
    videos = real.groupby("video_id").head(1)
    print(f"{len(snaps):,} daily snapshots of {len(videos):,} videos; build_targets {elapsed:.2f} s")
    for col in ("lifecycle_stage", "time_to_peak_days", "decay_rate", "like_ratio"):
        print(f"  videos with {col}: {int(videos[col].notna().sum()):,}")
    print("  observations by stage:", real["lifecycle_stage"].value_counts(dropna=False).to_dict())

    sim_raw, _ = generate_synthetic(args.videos, args.seeds[0], end=REAL_EXPORT_END)
    comparison = pd.DataFrame({"real": observables(real), "simulated": observables(build_targets(canonical(sim_raw)))})
    print("\n== Observable statistics, real vs simulated ==")
    print(comparison.to_string())


if __name__ == "__main__":
    main()
