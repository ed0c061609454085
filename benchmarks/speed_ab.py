"""Before / after on the same machine state: the latency steps of ``speed.py`` run alternately with two checkouts.

    .venv/bin/python benchmarks/speed_ab.py --before-tree /tmp/old-checkout --artifacts /work/bundles/fast_whole

On a shared machine other work changes every figure from one minute to the next, so comparing with a run made
earlier says little. This runs each step (``speed.py --child``: cold start, warm single calls, ``predict_batch``;
``service_load.py``) with the older checkout (``--before-tree``, e.g. ``git worktree add /tmp/old <commit>``) and
with this one, alternately, ``--rounds`` times, on the same bundle, and keeps each step's median over the rounds
with the load average when it started. The REST steps run this checkout's ``service_load.py`` against both
servers (copied into the other checkout for the run), with httpx and with the minimal client. Writes
``<out-dir>/<out-name>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def child(tree: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(tree / "benchmarks" / "speed.py"), "--child", *args], cwd=tree,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{tree}: speed.py --child {args} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def service(tree: Path, folder: str, requests: int, client: str) -> dict[str, Any]:
    """This checkout's ``service_load.py`` (same load generator for both) against ``tree``'s server: the script is
    copied into ``tree`` for the run, as it serves the code of the folder it sits in."""
    script = tree / "benchmarks" / "_service_load_ab.py"
    shutil.copyfile(ROOT / "benchmarks" / "service_load.py", script)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            out = Path(scratch) / "service.json"
            subprocess.run([sys.executable, str(script), "--artifacts", folder, "--requests", str(requests),
                            "--client", client, "--out", str(out)], cwd=tree, capture_output=True, text=True)
            if not out.is_file():
                raise RuntimeError(f"{tree}: service_load.py failed")
            result = json.loads(out.read_text())
    finally:
        script.unlink(missing_ok=True)
    return {"p50_ms": result["latency"]["p50_ms"], "p99_ms": result["latency"]["p99_ms"],
            "requests_per_second": result["requests_per_second"], "errors": result["errors"]}


STEPS = {
    "cold ensemble, s": (lambda t, a: child(t, "cold", a.artifacts, "ensemble"), "seconds"),
    "warm ensemble median, ms": (lambda t, a: child(t, "warm", a.artifacts, "ensemble", str(a.calls)), "median_ms"),
    "warm deep median, ms": (lambda t, a: child(t, "warm", a.artifacts, "deep_learning", str(a.calls // 2)),
                             "median_ms"),
    "batch ensemble, rows/s": (lambda t, a: child(t, "batch", a.artifacts, "ensemble", str(a.batch_rows)),
                               "rows_per_second"),
    "REST p50 / p99 / requests per second (16 clients, httpx)": (
        lambda t, a: service(t, a.artifacts, a.requests, "httpx"), ("p50_ms", "p99_ms", "requests_per_second")),
    "REST p50 / p99 / requests per second (16 clients, minimal client)": (
        lambda t, a: service(t, a.artifacts, a.requests, "raw"), ("p50_ms", "p99_ms", "requests_per_second")),
}


def _pick(value: dict[str, Any], key: str | tuple[str, ...]) -> Any:
    return [value[k] for k in key] if isinstance(key, tuple) else value[key]


def _show(values: list[Any]) -> str:
    """Median over the rounds (of each part, for a p50 / p99 / rps triple)."""
    if isinstance(values[0], list):
        return " / ".join(f"{statistics.median(part):,g}" for part in zip(*values))
    return f"{statistics.median(values):,g}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before-tree", required=True, help="a checkout of the code before the change")
    parser.add_argument("--artifacts", required=True, help="the bundle both checkouts predict with")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results" / "archive"))
    parser.add_argument("--out-name", default="speed_ab")
    args = parser.parse_args()
    trees = {"before": Path(args.before_tree).resolve(), "after": ROOT}
    if not (trees["before"] / "benchmarks" / "speed.py").is_file():
        parser.error(f"--before-tree: no benchmarks/speed.py in {trees['before']}")
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {step: {"before": [], "after": []} for step in STEPS}
    for round_ in range(args.rounds):
        for step, (run, key) in STEPS.items():
            for label in (("before", "after") if round_ % 2 == 0 else ("after", "before")):
                load = round(os.getloadavg()[0], 2)
                value = run(trees[label], args)
                runs[step][label].append({"value": _pick(value, key), "load_1min": load})
                print(f"round {round_ + 1} {step} {label}: {_pick(value, key)} (load {load})", flush=True)
    summary = {step: {label: _show([r["value"] for r in runs[step][label]]) for label in trees} for step in STEPS}
    report = {"artifacts": args.artifacts, "before_tree": str(trees["before"]), "rounds": args.rounds,
              "batch_rows": args.batch_rows, "runs": runs, "median": summary, "cpus": os.cpu_count()}
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.out_name}.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [f"# Before / after, alternating runs on one machine state (`{args.artifacts}`)", "",
             "| step | before (median) | after (median) | load average (1 min) at each run |", "|---|---|---|---|"]
    for step in STEPS:
        loads = ", ".join(str(r["load_1min"]) for label in trees for r in runs[step][label])
        lines.append(f"| {step} | {summary[step]['before']} | {summary[step]['after']} | {loads} |")
    (out / f"{args.out_name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
