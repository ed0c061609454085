"""Rolling-origin backtest of both models on the real trending export (``videoperf.evaluation.backtest``).

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/backtest.py --speed fast

For each origin (default 2026-02-01, 2026-03-01, 2026-04-01) both models are trained on every observation
made before it, then the videos published in each following calendar month are scored on their own, each at
its last observed age, with live and frozen channel history. With ``--speed fast`` a LightGBM feature ablation
(and recency weighting) runs per origin too. ``--month-min-span-days 0`` forces the month-of-year feature back
on, to measure what dropping it bought.

Writes ``benchmarks/results/backtest_<speed>[_<tag>].json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from common import DEFAULT_DATA, machine, peak_memory_mb, plain  # noqa: E402

MODELS = ("ensemble", "deep_learning")


def main() -> int:
    from videoperf.config import load_config
    from videoperf.data.sources import load_data
    from videoperf.evaluation import backtest
    from videoperf.evaluation.live_level import LevelSettings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--speed", default="fast", choices=("fast", "balanced", "full"))
    parser.add_argument("--origins", default=",".join(backtest.DEFAULT_ORIGINS), help="comma-separated dates")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--ablation", action=argparse.BooleanOptionalAction, default=None,
                        help="feature ablation per origin (default: with --speed fast only)")
    parser.add_argument("--month-min-span-days", type=int, default=None,
                        help="override features.month_min_span_days (0 = month of year always on)")
    parser.add_argument("--recency-half-life-days", type=float, default=None,
                        help="override training.recency_half_life_days (0 = no recency weighting)")
    parser.add_argument("--excluded-families", default=None,
                        help="override features.excluded_families (comma-separated; \"\" = every family used)")
    parser.add_argument("--views-target", default=None, choices=("absolute", "channel_relative"),
                        help="override training.views_target")
    parser.add_argument("--tag", default="", help="suffix of the output files, for a variant")
    parser.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--rescore", metavar="JSON", help="recompute the summary, checks and markdown of a saved "
                        "report from its cells (no training), e.g. after a change to how cells are summarised")
    args = parser.parse_args()
    if args.rescore:
        return rescore(Path(args.rescore))
    if not Path(args.data).exists():
        sys.exit(f"--data: {args.data} not found; this benchmark needs ../shared/data beside the repository")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("videoperf.data.sources").setLevel(logging.ERROR)

    config = load_config()
    if args.month_min_span_days is not None:
        presets = {name: dataclasses.replace(p, features=dataclasses.replace(
            p.features, month_min_span_days=args.month_min_span_days)) for name, p in config.presets.items()}
        config = dataclasses.replace(config, presets=presets)
    if args.excluded_families is not None:
        excluded = tuple(f for f in args.excluded_families.split(",") if f)
        presets = {name: dataclasses.replace(p, features=dataclasses.replace(p.features, excluded_families=excluded))
                   for name, p in config.presets.items()}
        config = dataclasses.replace(config, presets=presets)
    if args.recency_half_life_days is not None:
        config = dataclasses.replace(config, training=dataclasses.replace(
            config.training, recency_half_life_days=args.recency_half_life_days))
    if args.views_target is not None:
        config = dataclasses.replace(config, training=dataclasses.replace(
            config.training, views_target=args.views_target))
    start = time.perf_counter()
    snapshots = load_data(args.data)
    ablation = args.ablation if args.ablation is not None else args.speed == "fast"
    models = tuple(m for m in args.models.split(",") if m)
    report: dict[str, Any] = backtest.run_backtest(snapshots, args.origins.split(","), args.speed, models,
                                                   config=config, ablation=ablation)
    report.update({"data": args.data, "models": list(models), "machine": machine(),
                   "peak_memory_mb": round(peak_memory_mb()), "total_seconds": round(time.perf_counter() - start, 1),
                   "month_min_span_days": config.preset(args.speed).features.month_min_span_days,
                   "recency_half_life_days": config.training.recency_half_life_days,
                   "views_target": config.training.views_target,
                   "excluded_families": list(config.preset(args.speed).features.excluded_families),
                   "live_level": dataclasses.asdict(LevelSettings()),
                   "checks": backtest.checks(report, models)})
    name = f"backtest_{args.speed}{'_' + args.tag if args.tag else ''}"
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=2, default=plain) + "\n")
    from results_table import backtest_markdown

    (out / f"{name}.md").write_text(backtest_markdown(report))
    print(backtest_markdown(report))
    print("checks:", report["checks"])
    return 0


def rescore(path: Path) -> int:
    """Summary, model-age decay, checks and markdown of a saved report, from its stored cells."""
    from results_table import backtest_markdown

    from videoperf.evaluation import backtest

    report = json.loads(path.read_text())
    report["summary"] = backtest.summary(report)
    report["model_age_decay"] = {m: backtest.model_age_decay(report, m) for m in report["models"]}
    report["ablation_summary"] = backtest.ablation_summary(report)
    report["checks"] = backtest.checks(report, report["models"])
    path.write_text(json.dumps(report, indent=2, default=plain) + "\n")
    path.with_suffix(".md").write_text(backtest_markdown(report))
    print("checks:", report["checks"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
