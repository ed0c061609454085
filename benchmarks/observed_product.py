"""The product's forecasts from observed days on a time split: ``model_update.py evaluate --observed K``, recorded.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/observed_product.py \
        --data ../shared/data/youtube_trending_api/trending_2025-12-10_2026-05-31.parquet --split-date 2026-04-15 \
        [--speed fast] [--models ensemble] [--observed 1,2,3,5]

Runs ``model_update.evaluate`` exactly as ``python model_update.py evaluate --data D --split-date S --speed fast
--models ensemble --observed 1,2,3,5`` does (the bundle's ``videoperf.forecasting.forecaster.ObservedForecaster``,
fitted on the training side only, its shape per K chosen there too; every test video with more than K observations
forecast
at its last observed age from its first K, beside Szabo-Huberman fitted on the same training videos) and writes
``benchmarks/results/observed_product.json`` and ``.md``: per K the log-MAE (log1p views) and 80% coverage of both,
the same by days ahead of the last observation used, and what the forecaster chose (``describe()``).
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

import videoperf  # noqa: E402
from videoperf.forecasting.intervals import HORIZON_LABELS, horizon_bin  # noqa: E402
from videoperf.plain import plain  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "youtube_trending_api" / "trending_2025-12-10_2026-05-31.parquet"


def _cell(actual: np.ndarray, point: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> dict[str, float]:
    return {"log_mae": float(np.mean(np.abs(np.log1p(point) - np.log1p(actual)))),
            "coverage_80": float(np.mean((actual >= lo) & (actual <= hi))),
            "median_width": float(np.median(np.log1p(hi) - np.log1p(lo)))}


def rows_of(table: pd.DataFrame, k: int) -> list[dict[str, Any]]:
    """Per days-ahead bucket and overall: the curve's and Szabo-Huberman's log-MAE and coverage on ``table`` (the
    ``curve`` table of ``evaluation.observed_tables``: one row per video, at its last observed age)."""
    actual = table["actual_views"].to_numpy(float)
    horizon = horizon_bin(table["age_days"].to_numpy(float) - table["observed_days"].to_numpy(float))
    out = []
    for h in [*range(len(HORIZON_LABELS)), None]:
        sel = np.ones(len(table), bool) if h is None else horizon == h
        if not sel.any():
            continue
        part = table[sel]
        curve = _cell(actual[sel], *(part[c].to_numpy(float) for c in ("predicted_views", "views_lo", "views_hi")))
        sh = _cell(actual[sel], *(part[c].to_numpy(float) for c in ("sh_predicted_views", "sh_views_lo",
                                                                      "sh_views_hi")))
        out.append({"k": k, "days_ahead": "all" if h is None else HORIZON_LABELS[h], "videos": int(sel.sum()),
                    "curve": curve, "szabo_huberman": sh, "reduction_vs_sh": 1 - curve["log_mae"] / sh["log_mae"]})
    return out


def markdown(report: dict[str, Any]) -> str:
    """The results as markdown."""
    forecaster = report["forecaster"]
    lines = ["# Forecasts from observed days through the product (`model_update.py evaluate --observed K`)", "",
             f"Command: `{report['command']}` (the same as `{report['cli']}`).", "",
             f"Data: {report['data']}; split {report['split_date']}: {report['test_videos']:,} test videos; "
             f"{forecaster['training_videos']:,} training videos' series fit the forecaster. Each test video with "
             "more than K observations is forecast at its last observed age from its first K; log-MAE of log1p "
             "views; coverage and median width (log1p views) of the 80% interval. Szabo-Huberman is fitted on the "
             "same training videos.", "",
             f"Curve shape per K, chosen on the training side only ({forecaster['shape_selection']['method']}"
             + (f", inner split {forecaster['shape_selection']['inner_split_date']}"
                if "inner_split_date" in forecaster["shape_selection"] else "")
             + f"; default `{forecaster['shape']}`): "
             + ", ".join(f"K={k} `{s}`" for k, s in forecaster["shape_by_k"].items()) + ".", "",
             "| K | days ahead | videos | curve log-MAE | SH log-MAE | curve vs SH | curve cov. | SH cov. "
             "| curve width | SH width |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        label = f"**{row['days_ahead']}**" if row["days_ahead"] == "all" else row["days_ahead"]
        lines.append(f"| {row['k']} | {label} | {row['videos']:,} | {row['curve']['log_mae']:.3f} | "
                     f"{row['szabo_huberman']['log_mae']:.3f} | {-row['reduction_vs_sh']:+.1%} | "
                     f"{row['curve']['coverage_80']:.2f} | {row['szabo_huberman']['coverage_80']:.2f} | "
                     f"{row['curve']['median_width']:.3f} | {row['szabo_huberman']['median_width']:.3f} |")
    lines += ["", f"Whole evaluation (training the {', '.join(report['models'])} and the forecaster, predicting): "
              f"{report['seconds']:.0f} s on the shared 2-core machine."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="a load_data source")
    parser.add_argument("--split-date", default="2026-04-15")
    parser.add_argument("--speed", default="fast", choices=("fast", "balanced", "full"))
    parser.add_argument("--models", default="ensemble")
    parser.add_argument("--observed", default="1,2,3,5", help="K or comma-separated Ks")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--name", default="observed_product", help="file stem of the results")
    args = parser.parse_args(argv)
    ks = [int(k) for k in args.observed.split(",")]
    started = time.perf_counter()
    result = videoperf.evaluate(data=args.data, split_date=args.split_date, speed=args.speed,
                                   models=args.models, observed=ks, progress=False)
    rows = [row for found in result["observed"] for row in rows_of(found["table"], found["k"])]
    cli = (f"videoperf evaluate --data {args.data} --split-date {args.split_date} --speed {args.speed} "
           f"--models {args.models} --observed {args.observed}")
    report = {"command": "python benchmarks/observed_product.py " + " ".join(argv if argv is not None
                                                                             else sys.argv[1:]),
              "cli": cli, "data": Path(args.data).name, "split_date": args.split_date, "speed": args.speed,
              "models": args.models.split(","), "test_videos": result["test_videos"],
              "forecaster": result["trained"].observed.describe(), "rows": rows,
              "metrics_by_k": {str(found["k"]): found["metrics"].to_dict() for found in result["observed"]},
              "seconds": round(time.perf_counter() - started, 1)}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{args.name}.json").write_text(json.dumps(plain(report), indent=2) + "\n")
    (args.out_dir / f"{args.name}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
