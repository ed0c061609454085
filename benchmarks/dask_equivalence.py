"""Benchmark: the Dask path against the single-machine path on the real export (issue 16, points 1 and 2).

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/dask_equivalence.py [--data PATH] [--split-date D]

The export is written as a folder of parquet partitions (consecutive row ranges, outside the repository), then:

1. canonical snapshots and targets: ``load_data`` + ``build_targets`` on the file, and the Dask path on the folder
   (a LocalCluster of 2 workers): equal row for row?
2. a `fast` ensemble evaluated on the time split both ways (``model_update.evaluate`` with and without
   ``cluster``, live history and level): the training rows' features (max difference) and every test metric
   (difference). The cluster's XGBoost and LightGBM train on every row, one machine's on the preset's sample, so
   the single-machine run is also scored with those two learners refit in one process on the same rows with the
   same arguments (``dask_training.refit_in_process``): that is the like-for-like comparison of the cluster path;
3. batch scoring: the test videos' requests as partitions, ``predict_batch`` with and without the cluster (max
   relative difference), with the bundle the Dask run trained (kept for ``benchmarks/scale.py``).

Writes benchmarks/results/dask_equivalence.json and .md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

from common import DEFAULT_DATA, machine, peak_memory_mb  # noqa: E402

import videoperf  # noqa: E402
from videoperf.data.sources import load_data  # noqa: E402
from videoperf.data.splits import split_by_date  # noqa: E402
from videoperf.distributed import data as dask_data  # noqa: E402
from videoperf.distributed.cluster import open_client  # noqa: E402
from videoperf.distributed.training import refit_in_process  # noqa: E402
from videoperf.evaluation.holdout import baseline_tables, metrics_table, predict_under, test_rows  # noqa: E402
from videoperf.lifecycle.targets import build_targets  # noqa: E402
from videoperf.serving.bundle import Bundle  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
METRIC_TOLERANCE = 0.005


def write_partitions(source: Path, folder: Path, n_parts: int) -> int:
    """The export as ``n_parts`` parquet files of consecutive rows (its own order kept)."""
    raw = pd.read_parquet(source)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for k, rows in enumerate(np.array_split(np.arange(len(raw)), n_parts)):
        raw.iloc[rows].to_parquet(folder / f"part-{k:03d}.parquet", index=False)
    return len(raw)


def frames_equal(left: pd.DataFrame, right: pd.DataFrame) -> dict[str, object]:
    """Whether two tables are equal (values and dtypes), and if not, where."""
    try:
        pd.testing.assert_frame_equal(left, right)
        return {"equal": True, "rows": int(len(left))}
    except AssertionError as error:
        return {"equal": False, "rows": [int(len(left)), int(len(right))], "difference": str(error)[:500]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--split-date", default="2026-04-15")
    parser.add_argument("--work", default="/tmp/videoperf-dask", help="scratch folder (partitions, bundle)")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--memory-limit", default="6GiB", help="per worker")
    parser.add_argument("--out", default=str(RESULTS / "dask_equivalence.json"))
    args = parser.parse_args()
    work = Path(args.work)
    folder = work / "real_parts"
    raw_rows = write_partitions(Path(args.data), folder, args.partitions)
    result: dict[str, object] = {"data": Path(args.data).name, "raw_rows": raw_rows, "partitions": args.partitions,
                                 "split_date": args.split_date, "speed": "fast", "models": ["ensemble"],
                                 "cluster": f"LocalCluster, 2 workers x 1 thread, memory limit {args.memory_limit} "
                                            "each", "machine": machine()}

    start = time.perf_counter()
    single = load_data(args.data)
    single_targets = build_targets(single)
    single_train, single_test = split_by_date(single, args.split_date)
    result["single_load_targets_seconds"] = round(time.perf_counter() - start, 1)

    with open_client("local", memory_limit=args.memory_limit) as client:
        start = time.perf_counter()
        canonical = client.persist(dask_data.load_snapshots(folder))
        dask_canonical = dask_data.collect(canonical)
        dask_targets = dask_data.collect(dask_data.targets(canonical))
        result["dask_load_targets_seconds"] = round(time.perf_counter() - start, 1)
        result["canonical"] = frames_equal(dask_canonical, single)
        result["targets"] = frames_equal(dask_targets, single_targets)
        Path(args.out).with_suffix(".partial.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        del dask_canonical, dask_targets
        client.cancel(canonical)

        start = time.perf_counter()
        alone = videoperf.evaluate(data=single, split_date=args.split_date, speed="fast", models="ensemble",
                                      progress=False)
        result["single_evaluate_seconds"] = round(time.perf_counter() - start, 1)
        start = time.perf_counter()
        dist = videoperf.evaluate(data=str(folder), split_date=args.split_date, speed="fast", models="ensemble",
                                     progress=False, cluster=client)
        result["dask_evaluate_seconds"] = round(time.perf_counter() - start, 1)

        # Training rows' features: the single run's (fit_training) against the Dask path's, per partition.
        expected = alone["trained"].training.rows()
        train_side, _ = dask_data.split(dask_data.load_snapshots(folder), args.split_date)
        rows = dask_data.collect(dask_data.feature_rows(train_side, dist["trained"].features))
        names = alone["trained"].features.feature_names
        same_names = names == dist["trained"].features.feature_names
        diff = np.abs(rows[names].to_numpy(float) - expected.to_numpy(float))
        finite = np.isfinite(diff)
        nan_same = bool((np.isnan(rows[names].to_numpy(float)) == np.isnan(expected.to_numpy(float))).all())
        result["features"] = {"rows": int(len(expected)), "columns": len(names), "same_columns": same_names,
                              "max_abs_difference": float(diff[finite].max()) if finite.any() else 0.0,
                              "missing_values_in_the_same_places": nan_same}
        del expected

        # One machine with the cluster's training rows: XGBoost and LightGBM refit in this process on every row.
        trained = alone["trained"]
        rows = dask_data.collect(dask_data.feature_rows(
            train_side, trained.features, trained.settings.config.training.recency_half_life_days,
            pd.Timestamp(single_train["observed_at"].max())))
        start = time.perf_counter()
        refit_seconds = refit_in_process(trained, rows)
        del rows
        last, last_targets = test_rows(single_test)
        tables, channels = predict_under(trained, last, last_targets, single, ["live"])
        same_rows = metrics_table(tables["live"], baseline_tables(single_train, last, last_targets,
                                                                  history=channels["live"]))
        result["single_same_rows_seconds"] = round(time.perf_counter() - start, 1)
        result["single_same_rows_fit_seconds"] = refit_seconds

        metrics = {}
        for metric in alone["metrics"].index:
            a, d = alone["metrics"].loc[metric, "ensemble"], dist["metrics"].loc[metric, "ensemble"]
            b = same_rows.loc[metric, "ensemble"]
            if all(v is not None and np.isfinite(v) for v in (a, b, d)):
                metrics[metric] = {"single": float(a), "single_same_rows": float(b), "dask": float(d),
                                   "difference": float(d - a), "difference_same_rows": float(d - b)}
        log_metrics = {k: v for k, v in metrics.items() if k.startswith("views_log") or k in (
            "views_spearman", "interval_coverage")}
        result["test_videos"] = {"single": alone["test_videos"], "dask": dist["test_videos"]}
        result["history"] = {"single": alone["history"], "dask": dist["history"]}
        result["metrics"] = metrics
        result["metrics_within_tolerance"] = {
            "tolerance": METRIC_TOLERANCE,
            "log_scale_metrics": all(abs(v["difference"]) <= METRIC_TOLERANCE for v in log_metrics.values()),
            "log_scale_metrics_same_rows": all(abs(v["difference_same_rows"]) <= METRIC_TOLERANCE
                                               for v in log_metrics.values()),
            "checked": sorted(log_metrics)}
        result["baselines_equal"] = bool(alone["metrics"][["global_mean", "channel_mean"]].equals(
            dist["metrics"][["global_mean", "channel_mean"]]))
        result["distributed_training"] = dist["oof"]["ensemble"]["distributed"]
        Path(args.out).with_suffix(".partial.json").write_text(json.dumps(result, indent=2, default=str) + "\n")

        # Batch scoring of partitions with and without the cluster, with the bundle the Dask run trained.
        bundle = Bundle.save(dist["trained"], work / "bundle")
        requests = work / "requests"
        shutil.rmtree(requests, ignore_errors=True)
        requests.mkdir()
        _, test_side = dask_data.split(dask_data.load_snapshots(folder), args.split_date)
        channels = dask_data.by_channel(test_side, args.partitions)
        dask_data.write_parquet(channels.map_partitions(dask_data.request_rows, meta=dask_data.request_rows(
            channels._meta)), requests)
        scored = work / "scored"
        shutil.rmtree(scored, ignore_errors=True)
        start = time.perf_counter()
        summary = videoperf.predict_batch(requests, artifacts_dir=bundle, cluster=client, output=scored)
        cluster_seconds = time.perf_counter() - start
    start = time.perf_counter()
    on_one = pd.concat([videoperf.predict_batch(file, artifacts_dir=bundle) for file in sorted(requests.glob("*"))
                        if len(pd.read_parquet(file))], ignore_index=True)
    one_seconds = time.perf_counter() - start
    on_cluster = pd.concat([pd.read_parquet(file) for file in sorted(scored.glob("*.parquet"))], ignore_index=True)
    relative = {column: float(np.max(np.abs(on_cluster[column] - on_one[column]) / np.maximum(on_one[column], 1.0)))
                for column in ("predicted_views", "views_lo", "views_hi")}
    result["batch_scoring"] = {"rows": summary["rows"], "partitions": summary["partitions"],
                               "same_order": bool((on_cluster["video_id"].to_numpy() ==
                                                   on_one["video_id"].to_numpy()).all()),
                               "max_relative_difference": relative,
                               "cluster_seconds": round(cluster_seconds, 1),
                               "one_process_seconds": round(one_seconds, 1),
                               "bundle": str(bundle)}
    result["client_peak_memory_mb"] = round(peak_memory_mb())
    Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n")
    Path(args.out).with_suffix(".partial.json").unlink(missing_ok=True)
    Path(args.out).with_suffix(".md").write_text(markdown(result))
    print(markdown(result))


def markdown(r: dict) -> str:
    """The result as a short markdown report."""
    lines = [f"# Dask path vs single machine, {r['data']} ({r['raw_rows']:,} raw rows in {r['partitions']} "
             f"parquet partitions)", "",
             f"Cluster: {r['cluster']}; {r['machine']['cpus']} cores. Split {r['split_date']}, `fast` ensemble.", "",
             "| check | result |", "|---|---|",
             f"| canonical snapshots equal row for row | {r['canonical']['equal']} ({r['canonical']['rows']} rows) |",
             f"| targets equal row for row | {r['targets']['equal']} |",
             f"| training features: max abs difference ({r['features']['rows']:,} rows x "
             f"{r['features']['columns']} columns) | {r['features']['max_abs_difference']:.2e} |",
             f"| baselines' test metrics equal | {r['baselines_equal']} |",
             f"| ensemble's log-scale test metrics within {r['metrics_within_tolerance']['tolerance']}, one machine "
             f"with the same training rows | {r['metrics_within_tolerance']['log_scale_metrics_same_rows']} |",
             f"| the same, one machine with the preset's sample (the default) | "
             f"{r['metrics_within_tolerance']['log_scale_metrics']} |",
             f"| batch scoring, {r['batch_scoring']['rows']:,} requests in {r['batch_scoring']['partitions']} "
             f"partitions: max relative difference | "
             f"{max(r['batch_scoring']['max_relative_difference'].values()):.2e} |", "",
             "| ensemble test metric | one machine | one machine, same rows | Dask | Dask - one machine | "
             "Dask - same rows |", "|---|---|---|---|---|---|"]
    for name, m in r["metrics"].items():
        lines.append(f"| {name} | {m['single']:.4f} | {m['single_same_rows']:.4f} | {m['dask']:.4f} | "
                     f"{m['difference']:+.4f} | {m['difference_same_rows']:+.4f} |")
    d = r["distributed_training"]
    n_rows = d["learners_on_all_rows"]["xgboost"]["rows"]
    lines += ["", f"On the cluster XGBoost and LightGBM trained on all {n_rows:,} "
              f"training rows ({d['row_weight']}); {', '.join(d['learners_on_sample'])} on the preset's "
              f"{d['sample']['max_train_rows']:,}-row sample of the {d['sample']['videos']:,} training videos, "
              "as on one machine. \"One machine, same rows\": the single-machine run with its XGBoost and LightGBM "
              "refit in one process on the same rows with the same arguments and weights "
              f"({r['single_same_rows_fit_seconds']} s); both paths score with history "
              f"{r['history']['single']} / {r['history']['dask']}.", "",
              f"Seconds: load + targets {r['single_load_targets_seconds']} (one process) vs "
              f"{r['dask_load_targets_seconds']} (cluster); evaluate {r['single_evaluate_seconds']} vs "
              f"{r['dask_evaluate_seconds']}; batch scoring {r['batch_scoring']['one_process_seconds']} vs "
              f"{r['batch_scoring']['cluster_seconds']}.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
