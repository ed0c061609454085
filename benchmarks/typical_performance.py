"""Does the typical-performance band mean what it says? Measured on the simulator's population, where every upload's
true curve is known.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/typical_performance.py [--channels 300] [--seed 1] \
        [--later 500] [--daily-days 28] [--split-date 2026-04-01]

One ground truth (``videoperf.data.population.generate_population``, the real export's calendar): every upload of
``--channels`` channels. Two exports of it, both read by ``load_data`` from files:

* ``monthly``: the channel-uploads export of monthly snapshots (``write_upload_snapshots``, format 3);
* ``daily``: the same folder plus one YouTube Reporting API ``channel_basic_a2`` CSV giving every upload's daily
  views for its first ``--daily-days`` UTC days (from the true curve), joined by video id (format 5).

Later uploads: uploads of channels with at least 20 uploads published on or after ``--split-date``; ``--later``
of them drawn at random (seed ``--seed``). For each, ``videoperf.typical_performance(export, channel, video_id=it)``
gives the band from the channel's 10 uploads published before it (the export holds every snapshot, as an
analyst's latest export does; the later upload's own rows do not enter the band), and the truth is the later
upload's true views at 1, 7 and 28 days:

(a), (b) the share between p30 and p70 (target 40% +- 5%) and below p50 (target 50% +- 5%), monthly and daily;
(c) the monthly export with the drawn later uploads seen only at 1 and 2 days (their rows replaced by two canonical
rows each from the true curve, all at once): each one's forecast rank at 28 days among the 10 uploads against its
true rank (true 28-day views of all 11),
within one place for at least 60%; and how often its 80% interval holds its true 28-day views.

Writes ``benchmarks/results/typical_performance.json`` and ``.md`` (the md from the json).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from videoperf import typical_performance
from videoperf.data.population import generate_population, write_upload_snapshots
from videoperf.data.sources import load_data
from videoperf.data.synthetic import REAL_EXPORT_END, _cumulative_views

RESULTS = Path(__file__).resolve().parent / "results"
AGES = (1.0, 7.0, 28.0)
MIN_UPLOADS = 20
DAY_S = 86400.0


def true_views(videos: pd.DataFrame, age: np.ndarray | float) -> np.ndarray:
    """The simulator's cumulative views of ``videos`` at ``age`` days (the generating curve, no noise)."""
    age = np.broadcast_to(np.asarray(age, dtype=float), (len(videos),))
    return _cumulative_views(np.maximum(age, 0.0), *(videos[c].to_numpy(float) for c in
                                                     ("peak_day", "growth_rate", "decay_rate", "peak_rate")))


def daily_report(videos: pd.DataFrame, days: int) -> pd.DataFrame:
    """A ``channel_basic_a2`` table: each upload's views on each of its first ``days`` UTC days (publish day first),
    the differences of the floored true cumulative views at the day boundaries."""
    pub = videos["published_at"]
    day0 = pub.dt.floor("D")
    rows = []
    for k in range(days + 1):
        start = day0 + pd.Timedelta(days=k)
        ages = [((start + pd.Timedelta(days=d) - pub).dt.total_seconds().to_numpy() / DAY_S) for d in (0, 1)]
        increments = np.floor(true_views(videos, ages[1])) - np.floor(true_views(videos, ages[0]))
        rows.append(pd.DataFrame({"date": start.dt.strftime("%Y%m%d"), "channel_id": videos["channel_id"],
                                  "video_id": videos["video_id"], "views": increments.astype(np.int64)}))
    return pd.concat(rows, ignore_index=True)


def seen_twice(export: pd.DataFrame, later: pd.DataFrame) -> pd.DataFrame:
    """``export`` with the rows of every ``later`` upload replaced by its true views at 1 and 2 days (canonical
    rows). All at once: one export for every question (a band may then hold another drawn upload, seen at 1 and 2
    days too, as a recent upload is), so the export's shape choice is made once, not once per question."""
    own = export[export["video_id"].isin(later["video_id"])].drop_duplicates("video_id").set_index("video_id")
    own = own.loc[later["video_id"]].reset_index()
    rows = []
    for day in (1.0, 2.0):
        rows.append(own.assign(observed_at=later["published_at"].to_numpy() + pd.Timedelta(days=day),
                               views=np.floor(true_views(later, day))))
    return pd.concat([export[~export["video_id"].isin(later["video_id"])], *rows], ignore_index=True)


def measure(exports: dict[str, pd.DataFrame], videos: pd.DataFrame, later: pd.DataFrame) -> dict[str, Any]:
    """Per mode and age: counts inside p30-p70 and below p50; for (c) the rank and interval checks."""
    by_id = videos.set_index("video_id")
    out: dict[str, Any] = {}
    for mode, export in exports.items():
        inside, below = np.zeros(len(AGES), int), np.zeros(len(AGES), int)
        used = []
        for _, video in later.iterrows():
            found = typical_performance(export, video["channel_id"], ages=list(AGES), video_id=video["video_id"])
            truth = true_views(pd.DataFrame([video] * len(AGES)), np.array(AGES))
            p30, p50, p70 = (np.array([p[k] for p in found["points"]]) for k in ("p30", "p50", "p70"))
            inside += (truth >= p30) & (truth <= p70)
            below += truth < p50
            used.append(found["uploads_used"])
        n = len(later)
        out[mode] = {"later_uploads": n, "uploads_used_mean": float(np.mean(used)),
                     "by_age": {f"{age:g}": {"n": n, "inside_p30_p70": int(inside[i]), "share_inside": inside[i] / n,
                                             "below_p50": int(below[i]), "share_below": below[i] / n}
                                for i, age in enumerate(AGES)}}
    within, exact, covered, n = 0, 0, 0, 0
    export = seen_twice(exports["monthly"], later)
    for _, video in later.iterrows():
        found = typical_performance(export, video["channel_id"], ages=[28.0], video_id=video["video_id"])
        uploads = by_id.loc[found["uploads"]]
        truth_28 = float(true_views(pd.DataFrame([video]), 28.0)[0])
        true_rank = 1 + int((true_views(uploads, 28.0) > truth_28).sum())
        forecast = next(r for r in found["forecast_rank"] if r["days_since_publish"] == 28.0)
        point = found["points"][0]
        within += abs(forecast["rank"] - true_rank) <= 1
        exact += forecast["rank"] == true_rank
        covered += point["views_lo"] <= truth_28 <= point["views_hi"]
        n += 1
    out["rank_from_two_days"] = {"later_uploads": n, "within_one_place": within, "share_within_one": within / n,
                                 "exact": exact, "share_exact": exact / n, "interval_28d_covered": covered,
                                 "share_interval_covered": covered / n}
    return out


def markdown(result: dict[str, Any]) -> str:
    """The md report, generated from the json."""
    s = result["settings"]
    lines = ["# Typical performance: does the band mean what it says?", "",
             f"Command: `{result['command']}` ({result['seconds']:.0f} s on this machine).", "",
             f"Data: the simulator's population (`generate_population({s['channels']}, seed={s['seed']}, "
             f"end={s['end']!r})`), {result['population']['uploads']:,} uploads of {s['channels']} channels, "
             f"{result['population']['channels_20']} channels with at least {MIN_UPLOADS} uploads; later uploads: "
             f"theirs published on or after {s['split_date']} ({result['population']['later_candidates']:,}), "
             f"{result['population']['later_drawn']:,} drawn at random. Exports read by `load_data`: `monthly` "
             f"(monthly snapshot files, format 3) and `daily` (the same plus a Reporting API `channel_basic_a2` CSV "
             f"of each upload's first {s['daily_days']} days of daily views, format 5). Each later upload's band: "
             "`typical_performance(export, channel, video_id=it)` (its 10 latest earlier uploads); truth: its true "
             "views at that age. Targets: 40% ± 5% between p30 and p70, 50% ± 5% below p50.", "",
             "| export | age (days) | later uploads | between p30 and p70 | below p50 |", "|---|---|---|---|---|"]
    for mode in ("monthly", "daily"):
        for age, row in result[mode]["by_age"].items():
            lines.append(f"| {mode} | {age} | {row['n']:,} | {row['share_inside']:.1%} ({row['inside_p30_p70']:,}) "
                         f"| {row['share_below']:.1%} ({row['below_p50']:,}) |")
    c = result["rank_from_two_days"]
    lines += ["", "Forecast rank at 28 days from two observations (the drawn later uploads seen at 1 and 2 days only, "
              "all at once, the monthly export otherwise; a band may hold another drawn upload, seen so too), "
              "against its true rank among the same uploads (true 28-day views of all; "
              "target: within one place for at least 60%):", "",
              "| later uploads | within one place | exact | 80% interval holds the true 28-day views |",
              "|---|---|---|---|",
              f"| {c['later_uploads']:,} | {c['share_within_one']:.1%} ({c['within_one_place']:,}) | "
              f"{c['share_exact']:.1%} ({c['exact']:,}) | {c['share_interval_covered']:.1%} "
              f"({c['interval_28d_covered']:,}) |", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the measurement and write the json and md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--later", type=int, default=500, help="later uploads drawn (all when fewer)")
    parser.add_argument("--daily-days", type=int, default=28)
    parser.add_argument("--split-date", default="2026-04-01")
    parser.add_argument("--name", default="typical_performance")
    args = parser.parse_args(argv)
    started = time.time()
    population = generate_population(args.channels, args.seed, end=REAL_EXPORT_END)
    videos = population.videos
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "uploads"
        write_upload_snapshots(population, folder)
        monthly = load_data(folder)
        daily_report(videos, args.daily_days).to_csv(folder / "channel_basic_a2_daily.csv", index=False)
        daily = load_data(folder)
    counts = videos.groupby("channel_id")["video_id"].transform("size")
    candidates = videos[(counts >= MIN_UPLOADS) & (videos["published_at"] >= pd.Timestamp(args.split_date, tz="UTC"))]
    later = candidates.sample(n=min(args.later, len(candidates)), random_state=args.seed).sort_values("published_at")
    result = {"settings": {**vars(args), "end": REAL_EXPORT_END, "ages": list(AGES)},
              "command": "python benchmarks/typical_performance.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "population": {"uploads": len(videos), "channels_20": int(videos.loc[counts >= MIN_UPLOADS,
                                                                                   "channel_id"].nunique()),
                             "later_candidates": len(candidates), "later_drawn": len(later),
                             "daily_series": daily.attrs.get("load_report", {}).get("daily_series")}}
    result.update(measure({"monthly": monthly, "daily": daily}, videos, later))
    result["seconds"] = time.time() - started
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2, default=float) + "\n")
    (RESULTS / f"{args.name}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
