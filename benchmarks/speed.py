"""Speed and memory of training and serving both model types, each step in its own fresh process.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/speed.py [--speed fast] [--artifacts DIR]

Steps (each reports its wall time and the peak memory of its process):

* ``train``: ``model_update.train`` of both models on the whole real parquet at ``--speed``, with an empty
  text-embedding cache (what a first run costs); skipped when ``--artifacts`` names an existing bundle;
* ``load``: importing ``predict`` and loading the bundle (hashes checked, both models rebuilt);
* ``cold``: a fresh process's first ``predict_performance`` call per model type (import + load + predict);
* ``warm``: single-call latency per model type after loading (a new title every call, so the deep model
  runs its text encoder each time: no cache of texts helps it); the first 3 calls are not counted (they load
  the bundle and build the lazily built parts: the flat trees, XGBoost's on the second call);
* ``batch``: ``predict_batch`` throughput per model type;
* ``profile``: CPU time (``time.thread_time``, one thread) per step of warm ensemble calls and of a batch in
  chunks, and the text encoder's share of a warm deep-model call (the hot-path profile of ``docs/architecture.md``);
* ``service``: ``benchmarks/service_load.py`` against ``predict.py serve`` per model type (16 clients).

Writes ``benchmarks/results/speed.json`` and ``speed.md`` (``--out-dir`` / ``--out-name``), and the training step also
to ``train_<speed>.json`` (``--only-train`` stops there: the cost of a preset on the whole file). Each step records
the machine's load average when it started (other work on a shared machine slows every figure down).
``--before OLD.json`` adds a before / after table against an earlier run, with the issue-14 targets.

The issue-14 measurement (whole-export ``fast`` bundle trained here, 100,000 batch rows, compared with the run
before the hot-path work):

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/speed.py --batch-rows 100000 \
        --before benchmarks/results/archive/speed_before_issue14_pt3.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
# This checkout first, before any installed videoperf: the script also runs inside an older checkout to compare.
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

from common import DEFAULT_DATA, TRAIN_GOAL_MINUTES, machine, peak_memory_mb  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd

CALL = dict(title="Amazing makeup tutorial for beginners", tags=["makeup", "tutorial", "beauty", "beginner"],
            categories=["Lifestyle", "Fashion"], duration_seconds=600, channel_avg_views=50000,
            channel_video_count=25, model_type="ensemble")


def batch_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` varied requests (titles, tags, categories, durations, channel stats, ages)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    words = np.array("official music video highlights vlog minecraft news live tutorial review trailer episode "
                     "makeup recipe challenge funny best new full song reaction update".split())
    categories = ["Music", "Gaming", "Entertainment", "Sports", "News & Politics", "Howto & Style", "Comedy"]
    titles = [" ".join(rng.choice(words, size=rng.integers(3, 9))).title() for _ in range(n)]
    tags = [list(rng.choice(words, size=rng.integers(0, 8), replace=False)) for _ in range(n)]
    return pd.DataFrame({
        "video_id": [f"v{i}" for i in range(n)], "title": titles, "tags": tags,
        "categories": [[categories[i]] for i in rng.integers(0, len(categories), n)],
        "duration_seconds": rng.lognormal(5.5, 1.2, n).round(), "channel_avg_views": rng.lognormal(11, 2, n),
        "channel_video_count": rng.integers(0, 60, n), "days_since_publish": rng.uniform(0.2, 30, n),
        "published_at": pd.Timestamp("2026-05-01", tz="UTC") + pd.to_timedelta(rng.uniform(0, 30, n), unit="D"),
    })


# ----------------------------------------------------------------------------- steps (run in a child)
def step_train(data: str, folder: str, speed: str) -> dict[str, Any]:
    import dataclasses

    import model_update
    from videoperf.config import load_config
    from videoperf.models.registry import MODEL_TYPES

    config = load_config()
    with tempfile.TemporaryDirectory(prefix="videoperf-cold-") as cache:
        config = dataclasses.replace(config, paths=dataclasses.replace(config.paths, cache_dir=cache))
        start = time.perf_counter()
        result = model_update.train(data, speed, folder, models=MODEL_TYPES, progress=False, config=config)
        seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 1), "videos": result["data"]["videos"],
            "goal_minutes": TRAIN_GOAL_MINUTES[speed], "within_goal": seconds <= 60 * TRAIN_GOAL_MINUTES[speed]}


def step_load(folder: str) -> dict[str, Any]:
    start = time.perf_counter()
    import predict
    from videoperf.models.registry import MODEL_TYPES  # imported by predict already: free

    imported = time.perf_counter()
    bundle = predict.load_bundle(folder)
    for model_type in MODEL_TYPES:
        bundle.model(model_type)
    end = time.perf_counter()
    return {"import_s": round(imported - start, 2), "load_s": round(end - imported, 2),
            "seconds": round(end - start, 2)}


def step_cold(folder: str, model_type: str) -> dict[str, Any]:
    start = time.perf_counter()
    import predict

    value = predict.predict_performance(**{**CALL, "model_type": model_type}, artifacts_dir=folder)
    assert value["predicted_views"] >= 0
    return {"seconds": round(time.perf_counter() - start, 2)}


def step_warm(folder: str, model_type: str, calls: int) -> dict[str, Any]:
    import numpy as np
    from service_load import request_bodies

    import predict

    bodies = request_bodies(calls + 3, seed=5)
    latencies = []
    for i, body in enumerate(bodies):
        body = {**body, "title": f"{body['title']} {i}"}  # never a text the encoder has seen
        start = time.perf_counter()
        predict.predict_performance(**body, model_type=model_type, artifacts_dir=folder)
        if i >= 3:  # the first calls load the bundle and warm allocators
            latencies.append(1000 * (time.perf_counter() - start))
    ms = np.asarray(latencies)
    return {"calls": calls, "median_ms": round(float(np.median(ms)), 2),
            "p90_ms": round(float(np.percentile(ms, 90)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}


BATCH_REPEATS = 3  # ensemble batches timed after the first; the deep model's (minutes) is timed once


def step_batch(folder: str, model_type: str, rows: int) -> dict[str, Any]:
    """``predict_batch`` of ``rows`` rows: the first call in the process, then (ensemble) the median of
    ``BATCH_REPEATS`` more, the throughput of a process that scores batch after batch."""
    import numpy as np

    import predict

    predict.load_bundle(folder).model(model_type)
    frame = batch_rows(rows, seed=3)
    times = []
    for _ in range(1 + (BATCH_REPEATS if model_type == "ensemble" else 0)):
        start = time.perf_counter()
        out = predict.predict_batch(frame, model_type, artifacts_dir=folder)
        times.append(time.perf_counter() - start)
        assert len(out) == rows
    seconds = float(np.median(times[1:])) if len(times) > 1 else times[0]
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds),
            "first_call_seconds": round(times[0], 2), "first_call_rows_per_second": round(rows / times[0]),
            "repeat_seconds": [round(t, 3) for t in times[1:]]}


def step_profile(folder: str, calls: int, rows: int) -> dict[str, Any]:
    """Where a warm call and a batch spend their CPU time (``time.thread_time`` around each step, one thread).

    Ensemble: ``calls`` single calls with new titles, each also taken apart step by step (request checks, content
    features, the rest of the features, each base learner as the call runs it, the stack with its intervals and
    frame; ``request and result`` is the whole call minus those). Batch: ``rows`` rows in chunks of
    ``batches.CHUNK_ROWS``, one thread, per step. Deep model: its text encoder's share of a warm call."""
    import logging

    from service_load import request_bodies

    import predict
    from videoperf.features.channel_history import relative_inputs
    from videoperf.models.deep.video_text import video_text
    from videoperf.models.ensemble.stacking import (
        _as_matrix,
        _forest_in_order,
        _in_row_chunks,
        _xgboost_iterations,
        one_openmp_thread,
    )
    from videoperf.models.registry import FAMILIES
    from videoperf.serving import batches
    from videoperf.serving import predictions as calls_module
    from videoperf.serving.batch_checks import check_rows
    from videoperf.serving.request import parse_request

    logging.disable(logging.WARNING)  # the model-age warning (once per bundle)
    clock = time.thread_time
    bundle = predict.load_bundle(folder)
    model, family = bundle.model("ensemble"), FAMILIES["ensemble"]
    skipped = model.unweighted_learners()
    target = getattr(model, "views_target_", "absolute")
    bodies = request_bodies(calls + 20, seed=5)
    for body in bodies[:20]:  # warm: lazily built parts (flat trees, token lookups)
        predict.predict_performance(**body, artifacts_dir=folder)
    spent: dict[str, float] = {}

    def add(step: str, start: float) -> None:
        spent[step] = spent.get(step, 0.0) + clock() - start

    for i, body in enumerate(bodies[20:]):
        body = {**body, "title": f"{body['title']} {i}"}
        start = clock()
        predict.predict_performance(**body, artifacts_dir=folder)
        add("whole call", start)
        start = clock()
        columns = calls_module._columns([parse_request(body).row(bundle.default_days)])
        add("request checks", start)
        start = clock()
        bundle.features.content_.transform(columns, ["category", "language"])
        add("content features", start)
        start = clock()
        X = bundle.features.transform_videos(columns)
        add("features", start)
        start = clock()
        family.predict(model, X, columns)
        add("learners + stack + intervals + frame", start)
        matrix = _as_matrix(relative_inputs(X, target), model.feature_names_)
        for name, learner in model.models_.items():
            if name in skipped:
                continue
            start = clock()
            if name == "xgboost":
                model._xgboost_tiny_batch(learner).predict(matrix)
            elif name == "lightgbm":
                learner.booster_.predict(matrix, num_threads=1)
            elif name in model._small_batch_trees():
                model._small_batch_trees()[name].predict(matrix)
            else:
                learner.predict(matrix)
            add(f"learner: {name}", start)
    per_call = {step: 1000 * value / calls for step, value in spent.items()}
    learners = sum(v for k, v in per_call.items() if k.startswith("learner: "))
    warm = {"whole call": per_call["whole call"], "request checks": per_call["request checks"],
            "content features": per_call["content features"],
            "other features": per_call["features"] - per_call["content features"],
            **{k: v for k, v in per_call.items() if k.startswith("learner: ")},
            "stack, intervals, prediction frame": per_call["learners + stack + intervals + frame"] - learners}
    warm["request and result (the rest)"] = per_call["whole call"] - sum(
        v for k, v in warm.items() if k != "whole call")
    # Batch, one thread, chunk by chunk as the bundle cuts it.
    frame = batch_rows(rows, seed=3)
    batch: dict[str, float] = {}
    start = clock()
    requests = check_rows(frame, bundle.default_days)
    batch["validation"] = clock() - start
    for first in range(0, rows, batches.CHUNK_ROWS):
        chunk = requests.iloc[first: first + batches.CHUNK_ROWS]
        start = clock()
        X = bundle.features.transform_videos(chunk)
        batch["features"] = batch.get("features", 0.0) + clock() - start
        matrix = _as_matrix(relative_inputs(X, target), model.feature_names_)
        for name, learner in model.models_.items():
            if name in skipped:
                continue
            start = clock()
            if name == "xgboost":
                model._xgboost_one_thread(learner).inplace_predict(
                    matrix, iteration_range=_xgboost_iterations(learner), predict_type="value",
                    missing=learner.missing, validate_features=False)
            elif name == "lightgbm":
                learner.booster_.predict(matrix, num_threads=1)
            elif name == "catboost":
                learner.predict(matrix, thread_count=1)
            elif name == "hist_gradient_boosting":
                with one_openmp_thread():
                    _in_row_chunks(learner.predict, matrix)
            else:
                _forest_in_order(learner, matrix)
            batch[f"learner: {name}"] = batch.get(f"learner: {name}", 0.0) + clock() - start
    # Deep model: the text encoder's part of a warm call (a new text each time).
    deep = bundle.model("deep_learning") if "deep_learning" in bundle.model_types else None
    deep_part: dict[str, float] = {}
    if deep is not None:
        encoder = deep.net.text_encoder
        from videoperf.models.deep.text_encoders import one_thread_for

        for i, body in enumerate(bodies[20: 20 + max(calls // 4, 10)]):
            body = {**body, "title": f"{body['title']} deep {i}"}
            start = clock()
            predict.predict_performance(**body, model_type="deep_learning", artifacts_dir=folder)
            add("deep whole call", start)
            text = video_text(f"{body['title']} again", body.get("tags") or [], body.get("categories") or [])
            start = clock()
            with one_thread_for(1):
                encoder.embed([text])
            add("deep text encoder", start)
        n_deep = max(calls // 4, 10)
        deep_part = {"whole call": 1000 * spent["deep whole call"] / n_deep,
                     "text encoder (one new text)": 1000 * spent["deep text encoder"] / n_deep}
    return {"calls": calls, "batch_rows": rows, "skipped_learners": sorted(skipped),
            "warm_ensemble_cpu_ms": {k: round(v, 3) for k, v in warm.items()},
            "batch_ensemble_cpu_s": {k: round(v, 3) for k, v in batch.items()},
            "warm_deep_cpu_ms": {k: round(v, 3) for k, v in deep_part.items()}}


STEPS = {"train": step_train, "load": step_load, "cold": step_cold, "warm": step_warm, "batch": step_batch,
         "profile": step_profile}


# ------------------------------------------------------------------------------------ orchestration
LOAD_AVERAGES: dict[str, list[float]] = {}


def _note_load(label: str) -> None:
    LOAD_AVERAGES[label] = [round(value, 2) for value in os.getloadavg()]


def run_child(step: str, *args: Any) -> dict[str, Any]:
    """Run one step in a fresh interpreter; its last stdout line is its JSON result."""
    _note_load(" ".join([step, *map(str, args[1:2])]))
    command = [sys.executable, __file__, "--child", step, *map(str, args)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"step {step} {args} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{step} {' '.join(map(str, args[1:]))}: {result}", flush=True)
    return result


def run_service(folder: str, model_type: str, requests: int, client: str = "httpx") -> dict[str, Any]:
    _note_load(f"service {model_type} ({client})")
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "service.json"
        command = [sys.executable, str(ROOT / "benchmarks" / "service_load.py"), "--artifacts", folder,
                   "--requests", str(requests), "--model-type", model_type, "--out", str(out), "--client", client]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if not out.is_file():
            raise RuntimeError(f"service_load.py ({model_type}) failed:\n{done.stderr[-3000:]}")
        result = json.loads(out.read_text())
        if done.returncode != 0:  # errors, a timeout or missing answers: recorded, and said loudly
            print(f"WARNING: service_load.py ({model_type}) exited with {done.returncode}: "
                  f"{result['errors']} errors, timed out: {result['timed_out']}", flush=True)
    summary = {"client": client, "requests": result["requests"], "concurrency": result["concurrency"],
               "errors": result["errors"],
               "completed": result["completed"], "timed_out": result["timed_out"],
               "requests_per_second": result["requests_per_second"], "latency": result["latency"]}
    print(f"service {model_type} ({client}): {summary}", flush=True)
    return summary


# Issue 14's targets on the whole-export fast bundle: (label, how to read it from a report, target, higher is better).
TARGETS = [
    ("warm `predict_performance` median, ensemble (ms)", lambda r: r["warm"]["ensemble"]["median_ms"], 5.0, False),
    ("warm `predict_performance` median, deep model (ms)", lambda r: r["warm"]["deep_learning"]["median_ms"], 15.0,
     False),
    ("`predict_batch` throughput, ensemble (rows/s)", lambda r: r["batch"]["ensemble"]["rows_per_second"], 50_000,
     True),
    ("`predict_batch` throughput, ensemble, the process's first batch (rows/s)",
     lambda r: r["batch"]["ensemble"]["first_call_rows_per_second"], None, True),
    ("import + first ensemble prediction, fresh process (s)", lambda r: r["cold"]["ensemble"]["seconds"], 1.5, False),
    ("REST p99 with 16 clients, ensemble, httpx load generator (ms)",
     lambda r: r["service"]["ensemble"]["latency"]["p99_ms"], 50.0, False),
    ("REST p50, ensemble, httpx load generator (ms)", lambda r: r["service"]["ensemble"]["latency"]["p50_ms"], None,
     False),
    ("REST requests per second, ensemble, httpx load generator",
     lambda r: r["service"]["ensemble"]["requests_per_second"], None, True),
    ("REST p99 with 16 clients, ensemble, minimal client (ms)",
     lambda r: r["service_raw_client"]["ensemble"]["latency"]["p99_ms"], 50.0, False),
    ("REST p50, ensemble, minimal client (ms)", lambda r: r["service_raw_client"]["ensemble"]["latency"]["p50_ms"],
     None, False),
    ("REST requests per second, ensemble, minimal client",
     lambda r: r["service_raw_client"]["ensemble"]["requests_per_second"], None, True),
    ("`predict_batch` throughput, deep model (rows/s)", lambda r: r["batch"]["deep_learning"]["rows_per_second"],
     None, True),
]


def comparison(before: dict[str, Any], after: dict[str, Any], before_name: str) -> list[str]:
    """A before / after table of the issue-14 figures with their targets."""
    lines = [f"## Before / after (before: `{before_name}`)", "",
             "| measurement | before | after | target | met |", "|---|---|---|---|---|"]
    for label, read, target, higher in TARGETS:
        try:
            new = read(after)
        except (KeyError, TypeError):
            continue
        try:
            old = f"{read(before):,g}"
        except (KeyError, TypeError):
            old = "(not measured)"
        met = "" if target is None else ("yes" if (new >= target if higher else new <= target) else "no")
        shown = "" if target is None else (f">= {target:,g}" if higher else f"<= {target:,g}")
        lines.append(f"| {label} | {old} | {new:,g} | {shown} | {met} |")
    loads = after.get("load_average") or {}
    if loads:
        lines += ["", "Load average (1, 5, 15 min) when each step started: "
                  + "; ".join(f"{step}: {', '.join(map(str, values))}" for step, values in loads.items()) + "."]
    return lines


def markdown(report: dict[str, Any], before: dict[str, Any] | None = None, before_name: str = "") -> str:
    from results_table import speed_table

    lines = [f"# Speed and memory ({report['bundle']})", "", f"Machine: {report['machine']['cpus']} CPUs, "
             f"{report['machine']['platform']}.", "", *speed_table(report)]
    if before is not None:
        lines += ["", *comparison(before, report, before_name)]
    if report.get("profile"):
        lines += ["", *profile_lines(report["profile"])]
    return "\n".join(lines) + "\n"


def profile_lines(profile: dict[str, Any]) -> list[str]:
    """The ``profile`` step as markdown: CPU per step of a warm call and of a batch, with shares."""
    warm = profile["warm_ensemble_cpu_ms"]
    whole = warm["whole call"]
    lines = [f"## Where the CPU time goes (`time.thread_time`, one thread; {profile['calls']} warm calls, "
             f"{profile['batch_rows']:,} batch rows)", "",
             f"Learners the stack gives weight 0, not run: {', '.join(profile['skipped_learners']) or 'none'}.", "",
             "| warm single ensemble call | CPU ms | share |", "|---|---|---|"]
    lines += [f"| {step} | {value:.3f} | {100 * value / whole:.0f}% |" for step, value in warm.items()
              if step != "whole call"]
    lines.append(f"| whole call | {whole:.3f} | 100% |")
    batch = profile["batch_ensemble_cpu_s"]
    total = sum(batch.values())
    lines += ["", "| ensemble batch, one thread | CPU s | share |", "|---|---|---|"]
    lines += [f"| {step} | {value:.3f} | {100 * value / total:.0f}% |" for step, value in batch.items()]
    lines.append(f"| total | {total:.3f} | 100% |")
    deep = profile.get("warm_deep_cpu_ms") or {}
    if deep:
        lines += ["", f"Warm deep-model call: {deep['whole call']:.1f} ms of CPU, of which its text encoder on one "
                  f"new text {deep['text encoder (one new text)']:.1f} ms."]
    return lines


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        step, args = sys.argv[2], sys.argv[3:]
        typed = [int(a) if a.isdigit() else a for a in args]
        result = STEPS[step](*typed)
        result["peak_mb"] = round(peak_memory_mb())
        print(json.dumps(result))
        return 0
    # Not at the top: the steps above time importing the package in a fresh process.
    from videoperf.models.registry import MODEL_TYPES

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--speed", default="fast", choices=list(TRAIN_GOAL_MINUTES))
    parser.add_argument("--artifacts", default=None, help="an existing bundle: skip the training step")
    parser.add_argument("--calls", type=int, default=200, help="warm single calls per model type")
    parser.add_argument("--batch-rows", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=1000, help="service requests per model type")
    parser.add_argument("--only-train", action="store_true",
                        help="only time the training step (writes train_<speed>.json, not speed.json)")
    parser.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--out-name", default="speed", help="file names: <out-name>.json and <out-name>.md")
    parser.add_argument("--before", default=None, help="an earlier speed JSON to compare with in the markdown")
    parser.add_argument("--keep-bundle", default=None, metavar="DIR",
                        help="train into DIR (a new folder) and keep the bundle there afterwards")
    args = parser.parse_args()
    before = None
    if args.before is not None:
        if not Path(args.before).is_file():
            sys.exit(f"--before: {args.before} is not a file")
        before = json.loads(Path(args.before).read_text())
    if args.only_train and args.artifacts:
        parser.error("--only-train times training: it cannot reuse --artifacts")
    if args.artifacts is None and not Path(args.data).exists():
        sys.exit(f"--data: {args.data} not found; pass --artifacts DIR or put ../shared/data beside the repository")
    if args.artifacts is not None and not (Path(args.artifacts) / "manifest.json").is_file():
        sys.exit(f"--artifacts: no bundle (manifest.json) in {args.artifacts}")
    if args.keep_bundle is not None and (args.artifacts or Path(args.keep_bundle).exists()):
        parser.error("--keep-bundle: give a folder that does not exist yet, without --artifacts")
    scratch = tempfile.TemporaryDirectory(prefix="videoperf-speed-")
    folder = args.artifacts or args.keep_bundle or str(Path(scratch.name) / "artifacts")
    report: dict[str, Any] = {"speed": args.speed, "machine": machine()}
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if args.artifacts is None:
        report["train"] = run_child("train", args.data, folder, args.speed)
        report["bundle"] = f"trained here on `{Path(args.data).name}`, `{args.speed}` preset"
        train_report = {"speed": args.speed, "data": args.data, "machine": report["machine"], **report["train"]}
        (out / f"train_{args.speed}.json").write_text(json.dumps(train_report, indent=2) + "\n")
        if args.only_train:
            scratch.cleanup()
            return 0 if report["train"]["within_goal"] else 1
    else:
        report["bundle"] = f"`{args.artifacts}`"
    report["load"] = run_child("load", folder)
    report["cold"] = {m: run_child("cold", folder, m) for m in MODEL_TYPES}
    report["warm"] = {m: run_child("warm", folder, m, args.calls) for m in MODEL_TYPES}
    report["batch"] = {m: run_child("batch", folder, m, args.batch_rows) for m in MODEL_TYPES}
    if "ensemble" in MODEL_TYPES:
        report["profile"] = run_child("profile", folder, args.calls, min(args.batch_rows, 20_000))
    report["service"] = {m: run_service(folder, m, args.requests) for m in MODEL_TYPES}
    # The httpx load generator costs ~3 ms of CPU per request on the server's own two cores; the minimal client
    # (``service_load.load_raw``) measures the server with far less of that.
    report["service_raw_client"] = {m: run_service(folder, m, args.requests, "raw") for m in MODEL_TYPES}
    report["load_average"] = dict(LOAD_AVERAGES)
    if args.before is not None:
        report["before"] = args.before
    scratch.cleanup()
    text = markdown(report, before, args.before or "")
    (out / f"{args.out_name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{args.out_name}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
