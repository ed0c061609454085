"""Load test of the REST service: N requests from C concurrent clients over loopback, latency and throughput.

    flock /tmp/videoperf-heavy.lock .venv/bin/python benchmarks/service_load.py [--requests 2000] [--concurrency 16]

Starts ``python predict.py serve`` on a free 127.0.0.1 port in a subprocess (with an API key, so the check is
on the measured path), waits for ``/health``, warms up, then sends ``--requests`` ``POST /predict`` calls
(varied videos from the simulator) from ``--concurrency`` concurrent keep-alive clients. Bounded: at most
``--requests`` calls and ``--max-seconds`` of wall time, loopback only. Reports p50 / p90 / p99 / max latency,
requests per second and every non-200 answer or transport error; also a few ``/predict/batch`` calls and the
in-process latency of ``predict_performance`` for reference. Writes ``benchmarks/results/service_load.json``.
Exit status 1 when any request failed or the time bound was hit.

Bundle: ``--artifacts DIR`` (trained there first when it holds no bundle), or (default) a ``fast``-preset
ensemble trained in a temporary folder on ``--n-videos`` simulated videos (the real preset, not the tiny
test one). ``--no-micro-batch`` measures the server with one model call per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# This checkout first, before any installed videoperf: the script also runs inside an older checkout to compare.
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TQDM_DISABLE", "1")


def _simulate(n: int, seed: int) -> tuple[Any, Any]:
    """The simulator on the real export's calendar, in this checkout or an older one (``speed_ab.py`` runs this
    script in both; before the package layout the simulator lived in ``videoperf.synthetic``)."""
    try:
        from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic
    except ImportError:
        from videoperf.synthetic import generate_synthetic  # an older checkout: its calendar was fixed

        return generate_synthetic(n, seed=seed)
    return generate_synthetic(n, seed=seed, end=REAL_EXPORT_END)


def request_bodies(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` varied ``/predict`` bodies from simulated videos (titles, tags, categories, channels)."""
    raw, _ = _simulate(max(50, min(n, 500)), seed)
    videos = raw.drop_duplicates("video_id").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    bodies = []
    for i in range(n):
        video = videos.iloc[i % len(videos)]
        tags = [t.strip() for t in str(video.get("tags", "") or "").split(",") if t.strip()][:20]
        count = int(rng.integers(0, 500))
        bodies.append({
            "title": str(video["title"])[:200], "tags": tags, "categories": [str(video["category_name"])],
            "duration_seconds": float(rng.uniform(30, 3600)), "channel_video_count": count,
            "channel_avg_views": None if count == 0 else float(10 ** rng.uniform(2, 7)),
            "published_at": f"2026-0{1 + i % 5}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
            "days_since_publish": float(rng.uniform(0.5, 60)),
        })
    return bodies


def train_bundle(folder: Path, n_videos: int, speed: str, seed: int, model_type: str = "ensemble") -> float:
    import model_update
    from videoperf.data.synthetic import REAL_EXPORT_END, generate_synthetic

    start = time.perf_counter()
    raw, _ = generate_synthetic(n_videos, seed=seed, end=REAL_EXPORT_END)
    model_update.train(raw, speed, folder, models=(model_type,), progress=False)
    return time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentiles(latencies: list[float]) -> dict[str, float]:
    ms = np.asarray(latencies) * 1000
    if ms.size == 0:
        return {}
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p90_ms": round(float(np.percentile(ms, 90)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2), "max_ms": round(float(ms.max()), 2),
            "mean_ms": round(float(ms.mean()), 2)}


async def load(url: str, key: str, bodies: list[dict[str, Any]], concurrency: int, deadline: float
               ) -> dict[str, Any]:
    """Send every body once from ``concurrency`` workers sharing a queue; stop at ``deadline``."""
    import httpx

    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    failures: list[str] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty() and time.monotonic() < deadline:
            body = queue.get_nowait()
            start = time.perf_counter()
            try:
                response = await client.post("/predict", json=body)
                elapsed = time.perf_counter() - start
                if response.status_code != 200 or not response.json().get("predicted_views", -1) >= 0:
                    failures.append(f"{response.status_code}: {response.text[:200]}")
                latencies.append(elapsed)
            except httpx.HTTPError as error:
                failures.append(f"{type(error).__name__}: {error}")

    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, limits=limits, timeout=30) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return {"completed": len(latencies), "errors": len(failures), "error_samples": failures[:5],
            "wall_seconds": round(wall, 2), "requests_per_second": round(len(latencies) / wall, 1),
            "latency": percentiles(latencies), "timed_out": not queue.empty()}


async def load_raw(url: str, key: str, bodies: list[dict[str, Any]], concurrency: int, deadline: float
                   ) -> dict[str, Any]:
    """``load`` with a minimal HTTP/1.1 keep-alive client on asyncio streams (``--client raw``).

    httpx spends ~3 ms of CPU per request (measured on this machine: more than the server's HTTP handling and
    the model together), and the clients share the server's two cores; this client spends a fraction of that,
    so the latency measured is the server's rather than the load generator's."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    failures: list[str] = []

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while not queue.empty() and time.monotonic() < deadline:
                body = json.dumps(queue.get_nowait()).encode()
                head = (f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\nX-API-Key: {key}\r\n\r\n").encode()
                start = time.perf_counter()
                writer.write(head + body)
                await writer.drain()
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                payload = await reader.readexactly(length)
                elapsed = time.perf_counter() - start
                status = int(status_line.split()[1]) if status_line else 0
                if status != 200 or not json.loads(payload).get("predicted_views", -1) >= 0:
                    failures.append(f"{status}: {payload[:200]!r}")
                latencies.append(elapsed)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            failures.append(f"{type(error).__name__}: {error}")
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    return {"completed": len(latencies), "errors": len(failures), "error_samples": failures[:5],
            "wall_seconds": round(wall, 2), "requests_per_second": round(len(latencies) / wall, 1),
            "latency": percentiles(latencies), "timed_out": not queue.empty()}


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the server at {url} was not ready within {timeout:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=600, help="bound on the measured phase")
    parser.add_argument("--artifacts", default=None, help="bundle to serve (default: train one here)")
    parser.add_argument("--n-videos", type=int, default=1500, help="simulated videos for the default bundle")
    parser.add_argument("--speed", default="fast")
    parser.add_argument("--max-concurrent", type=int, default=None, help="server: predictions at once")
    parser.add_argument("--no-micro-batch", action="store_true", help="server: one model call per request")
    parser.add_argument("--model-type", default="ensemble", choices=("ensemble", "deep_learning"),
                        help="the model every request asks for (the default bundle is trained with it)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--client", default="httpx", choices=("httpx", "raw"),
                        help="load generator: httpx (as before) or a minimal asyncio HTTP/1.1 client (``load_raw``)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "service_load.json"))
    args = parser.parse_args()
    if not 0 < args.requests <= 100_000 or not 0 < args.concurrency <= 256:
        parser.error("--requests must be in 1..100000 and --concurrency in 1..256")
    import httpx

    import predict

    with tempfile.TemporaryDirectory(prefix="service-load-") as scratch:
        folder = Path(args.artifacts) if args.artifacts else Path(scratch) / "artifacts"
        trained = not (folder / "manifest.json").is_file()
        train_seconds = None
        if trained:
            train_seconds = round(train_bundle(folder, args.n_videos, args.speed, args.seed, args.model_type), 1)
        bodies = [{**body, "model_type": args.model_type} for body in request_bodies(args.requests, args.seed + 1)]
        predict.predict_performance(**bodies[0], artifacts_dir=folder)  # load once
        in_process = []
        for body in bodies[:200]:
            start = time.perf_counter()
            predict.predict_performance(**body, artifacts_dir=folder)
            in_process.append(time.perf_counter() - start)

        key, port = secrets.token_urlsafe(24), free_port()
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "predict.py", "serve", "--host", "127.0.0.1", "--port", str(port),
                   "--artifacts", str(folder), "--log-level", "warning"]
        if args.max_concurrent:
            command += ["--max-concurrent", str(args.max_concurrent)]
        if args.no_micro_batch:
            command += ["--no-micro-batch"]
        log = open(Path(scratch) / "server.log", "w")  # noqa: SIM115 - closed in finally
        server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log,
                                  env={**os.environ, "VIDEOPERF_API_KEY": key})
        try:
            wait_ready(url, server)
            headers = {"X-API-Key": key}
            assert httpx.post(f"{url}/predict", json=bodies[0]).status_code == 401  # the key is enforced
            generate = load_raw if args.client == "raw" else load
            asyncio.run(generate(url, key, bodies[:50], args.concurrency, time.monotonic() + 60))  # warm-up
            result = asyncio.run(generate(url, key, bodies, args.concurrency, time.monotonic() + args.max_seconds))
            batch_latencies = []
            for i in range(10):
                items = [{k: v for k, v in body.items() if k != "model_type"}  # the batch names it once
                         for body in bodies[i * 100:(i + 1) * 100] or bodies[:100]]
                start = time.perf_counter()
                response = httpx.post(f"{url}/predict/batch", json={"model_type": args.model_type, "items": items},
                                      headers=headers, timeout=60)
                batch_latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    result["errors"] += 1
                    result["error_samples"].append(f"batch {response.status_code}: {response.text[:200]}")
            manifest = httpx.get(f"{url}/model", headers=headers).json()
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()

    summary = {
        "command": " ".join(["benchmarks/service_load.py", *sys.argv[1:]]),
        "requests": args.requests, "concurrency": args.concurrency, "model_type": args.model_type,
        "client": args.client, **result,
        "batch_100_items": {**percentiles(batch_latencies), "calls": len(batch_latencies)},
        "in_process_predict_performance": percentiles(in_process),
        "bundle": {"artifacts": args.artifacts if not trained else
                   f"trained here: {args.n_videos} simulated videos, {args.speed} preset, {args.model_type}",
                   "train_seconds": train_seconds, "models": manifest.get("models"), "speed": manifest.get("speed")},
        "server": {"max_concurrent": args.max_concurrent or os.cpu_count(), "api_key": True,
                   "micro_batch": not args.no_micro_batch},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: summary[k] for k in ("completed", "errors", "requests_per_second", "latency",
                                              "batch_100_items", "in_process_predict_performance")}, indent=2))
    return 0 if result["errors"] == 0 and not result["timed_out"] and result["completed"] == args.requests else 1


if __name__ == "__main__":
    sys.exit(main())
