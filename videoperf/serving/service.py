"""REST service: the FastAPI app factory and ``serve`` (uvicorn); its bodies are in ``service_schemas``.

    videoperf serve [--host 127.0.0.1] [--port 8000] [--artifacts DIR]

It predicts through ``videoperf.serving.predictions`` and ``videoperf.serving.bundle``, as the Python API does, so an
answer over HTTP equals ``videoperf.predict_performance`` for the same arguments.

Endpoints (JSON in, JSON out):

* ``GET /health`` - ``{"status": "ok", "models": [...]}``, or 503 ``{"status": "unavailable"}``; never needs a key;
* ``GET /model`` - the bundle's manifest (models, library versions recorded and installed, training data
  fingerprint, training window, metrics, config, file hashes);
* ``POST /predict`` - one video, the arguments of ``predict.predict_performance`` (``PredictRequest``); returns its
  result dict (``predicted_views``, ``views_lo`` / ``views_hi``, ...). Concurrent calls share model passes
  (``predictions.predict_calls``, see ``_MicroBatcher``), equal to one call each up to float rounding;
* ``POST /predict/batch`` - ``{"model_type": ..., "items": [...]}`` with at most ``MAX_BATCH_ITEMS`` videos;
  returns ``{"model_type", "count", "predictions": [...]}``, one row of ``predict.predict_batch`` per item
  (an item's latest observation as ``observed_days``, ``observed_views``, optional ``observed_likes``,
  ``observed_comments``);
* ``POST /trajectory`` - the arguments of ``predict.predict_trajectory`` (``TrajectoryRequest``: a video,
  optional ``observed`` and ``ages``); returns its result (``points`` with views, interval and stage per age).
* ``POST /typical`` - the arguments of ``typical.typical_performance`` (``TypicalRequest``; ``data`` a path the
  server can read; ``"use_bundle": true`` makes the service's bundle give the curve's shape and prior, as
  ``artifacts_dir`` does); returns its
  result (``points`` with p30 / p50 / p70 per age, and the video's views, percentile and ranks when asked).

``/predict`` takes ``observed`` too (a list of ``{"days_since_publish", "views", "likes", "comments"}``): the
forecast from observed days (``predict.predict_performance(observed=...)``). Requests without it take the same
path as before.

Security and bounds: binds to 127.0.0.1 unless told otherwise. When ``VIDEOPERF_API_KEY`` is set, every request
but ``/health`` must carry it in the ``X-API-Key`` header (compared in constant time), else 401. Bodies over
``MAX_BODY_BYTES`` get 413; strings and lists are bounded by the limits of ``videoperf.serving.rules``.

A body is validated by the request model of ``predict_performance`` (``videoperf.serving.request``), so a bad one
gets the message a Python call gets. Errors: 422 ``{"detail": [{"loc": ["body", field], "msg": "<field>: <reason>",
"type"}]}``; 401 / 413 / 503 ``{"detail": message}``
(503: artifacts missing or unusable, e.g. not trained yet, altered, or written by other library versions).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from videoperf.models import artifacts as _artifacts
from videoperf.plain import jsonable
from videoperf.serving import predictions as _predictions
from videoperf.serving.bundle import load_bundle, resolve_folder
from videoperf.serving.request import OBSERVED_COLUMNS, BatchRow
from videoperf.serving.service_schemas import (
    BatchRequest,
    BatchResponse,
    ModelInfo,
    Prediction,
    PredictRequest,
    TrajectoryRequest,
    TypicalRequest,
    invalid_body,
)
from videoperf.serving.typical import typical_performance

logger = logging.getLogger(__name__)

API_KEY_ENV = "VIDEOPERF_API_KEY"
API_KEY_HEADER = "X-API-Key"
MAX_BODY_BYTES = 4 * 1024 * 1024
OPEN_PATHS = ("/health",)

# ----------------------------------------------------------------------------------------------- errors
_FIELD = re.compile(r"^(?:rows\[(\d+)\]\.)?([A-Za-z_]+)\b")


def _field_location(message: str, batch: bool) -> list[str | int]:
    """``"rows[3].title: ..."`` -> ``["body", "items", 3, "title"]``; ``"title: ..."`` -> ``["body", "title"]``."""
    match = _FIELD.match(message)
    if match is None:
        return ["body"]
    row, name = match.groups()
    if not batch:
        return ["body", name]
    if row is None:
        return ["body", name if name == "model_type" else "items"]
    return ["body", "items", int(row), name]


def _error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _failure(error: Exception, batch: bool = False) -> JSONResponse:
    """The HTTP answer to an exception of the predict path."""
    if isinstance(error, _artifacts.ArtifactError):
        return _error(503, str(error))
    if isinstance(error, ValueError):
        message = str(error)
        return _error(422, [{"loc": _field_location(message, batch), "msg": message, "type": "value_error"}])
    if isinstance(error, NotImplementedError):
        return _error(501, str(error))
    logger.exception("prediction failed")
    return _error(500, "internal error; see the server log")


# ------------------------------------------------------------------------------------------- middleware
class _Guard:
    """Pure ASGI middleware: API key (constant time) and body size, before anything reads the request."""

    def __init__(self, app: Callable[..., Awaitable[None]], api_key: str | None, max_body: int) -> None:
        self.app = app
        self.key = api_key.encode() if api_key else None
        self.max_body = max_body

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.key is not None and scope["path"] not in OPEN_PATHS:
            given = headers.get(API_KEY_HEADER.lower().encode(), b"")
            if not hmac.compare_digest(given, self.key):
                detail = f"missing or wrong API key (send it in the {API_KEY_HEADER} header)"
                await _error(401, detail, {"WWW-Authenticate": "APIKey"})(scope, receive, send)
                return
        declared = headers.get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_body:
            await _error(413, f"request body over {self.max_body} bytes")(scope, receive, send)
            return
        body, more = bytearray(), True
        while more:  # read it all (bounded), so a chunked body cannot exceed the limit either
            message = await receive()
            if message["type"] != "http.request":
                return  # client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                await _error(413, f"request body over {self.max_body} bytes")(scope, receive, send)
                return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


# ------------------------------------------------------------------------------------------ micro-batching
class _MicroBatcher:
    """Concurrent ``/predict`` calls share model passes (``predictions.predict_calls``).

    No added wait: a lone request is predicted at once; requests arriving while a pass runs queue up and
    go together in the next one (at most ``max_items``, ``max_active`` passes at a time). A pass over n
    rows costs little more than one row, so throughput under load grows with the concurrency. The service
    runs one pass at a time: two small passes side by side contend for the interpreter lock and each takes
    longer than one pass of both groups (measured: 16 clients on 2 cores, groups of ~2 rows and 16 ms a
    pass with two, see docs/architecture.md).
    """

    def __init__(self, predict_group: Callable[[list[PredictRequest], str], list[Any]],
                 run: Callable[..., Awaitable[Any]], max_active: int, max_items: int = 256) -> None:
        self.predict_group, self.run = predict_group, run
        self.max_active, self.max_items = max_active, max_items
        self.pending: list[tuple[PredictRequest, asyncio.Future]] = []
        self.active = 0
        self.tasks: set[asyncio.Task] = set()

    async def submit(self, call: PredictRequest) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.pending.append((call, future))
        if self.active < self.max_active:
            self.active += 1
            task = asyncio.create_task(self._drain())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self.pending:
                batch, self.pending = self.pending[:self.max_items], self.pending[self.max_items:]
                groups: dict[str, list[tuple[PredictRequest, asyncio.Future]]] = {}
                for call, future in batch:
                    groups.setdefault(call.model_type, []).append((call, future))
                for model_type, members in groups.items():
                    calls = [call for call, _ in members]
                    try:
                        results = await self.run(self.predict_group, calls, model_type)
                    except Exception as error:  # noqa: BLE001 - every caller gets it, mapped to a status
                        results = [error] * len(members)
                    for (_, future), result in zip(members, results):
                        if future.done():  # the client went away
                            continue
                        if isinstance(result, BaseException):
                            future.set_exception(result)
                        else:
                            future.set_result(result)
        finally:
            self.active -= 1


# ------------------------------------------------------------------------------------------------- app
def _records(frame: Any) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-safe dicts (NaN -> null, NumPy scalars -> Python)."""
    return [jsonable(row) for row in frame.to_dict("records")]


def create_app(artifacts_dir: str | os.PathLike | None = None, *, api_key: str | None = None,
               max_concurrent: int | None = None, max_body: int = MAX_BODY_BYTES, micro_batch: bool = True
               ) -> FastAPI:
    """The FastAPI application.

    ``artifacts_dir``: default as the Python API (``bundle.resolve_folder``: ``VIDEOPERF_ARTIFACTS``, then
    ``model_config.json``).
    ``api_key``: default env ``VIDEOPERF_API_KEY`` (empty = no key). ``max_concurrent``: predictions running
    at once (default: the number of CPUs; the models use several threads each, more would only thrash).
    ``micro_batch``: concurrent ``/predict`` calls share model passes (``_MicroBatcher``); their results equal
    ``predict_performance`` up to float rounding (~1e-15 relative). False: one call per request, bit-exact.
    """
    import pandas as pd

    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
    limiter = anyio.CapacityLimiter(max_concurrent or os.cpu_count() or 2)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        try:  # warm up: verify and load the bundle once, so the first request is not the slow one
            bundle = await anyio.to_thread.run_sync(partial(load_bundle, artifacts_dir))
            for model_type in bundle.model_types:
                await anyio.to_thread.run_sync(partial(bundle.model, model_type))
        except (ValueError, NotImplementedError) as error:
            logger.warning("starting without a usable bundle (requests get 503 until one is trained): %s", error)
        yield

    app = FastAPI(title="Video performance prediction", version="1", lifespan=lifespan,
                  description=__doc__.split("\n\n")[0])
    app.add_exception_handler(RequestValidationError, lambda _, error: invalid_body(error))

    async def run(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(partial(function, *args, **kwargs), limiter=limiter)

    batcher = _MicroBatcher(partial(_predictions.predict_calls, artifacts_dir=artifacts_dir), run,
                            max_active=1) if micro_batch else None

    @app.get("/health")
    async def health() -> JSONResponse:
        """Liveness and whether a usable bundle is in place (no API key needed)."""
        try:
            bundle = await anyio.to_thread.run_sync(partial(load_bundle, artifacts_dir))
        except ValueError:
            return JSONResponse({"status": "unavailable", "detail": "model artifacts are missing or unusable"},
                                status_code=503)
        return JSONResponse({"status": "ok", "models": bundle.model_types})

    @app.get("/model", response_model=ModelInfo)
    async def model() -> Any:
        """The manifest of the bundle: models, library versions, training data fingerprint, metrics."""
        try:
            bundle = await anyio.to_thread.run_sync(partial(load_bundle, artifacts_dir))
        except ValueError as error:
            return _failure(error)
        return {**bundle.manifest, "installed_libraries": _artifacts.library_versions()}

    @app.post("/predict", response_model=Prediction, response_model_exclude_unset=True)
    async def predict_one(request: PredictRequest) -> Any:
        """One video: the arguments of ``predict_performance``; returns its result."""
        try:
            if batcher is not None:
                result = await batcher.submit(request)
            else:
                result = await run(_predictions.predict_one, request.model_type, request, artifacts_dir)
        except Exception as error:  # noqa: BLE001 - every failure gets its HTTP status in _failure
            return _failure(error)
        # Already plain JSON values (``predictions``); a response object skips re-validating it against
        # ``Prediction``, which stays the documented schema.
        return JSONResponse(result)

    @app.post("/predict/batch", response_model=BatchResponse, response_model_exclude_unset=True)
    async def predict_many(request: BatchRequest) -> Any:
        """Up to ``MAX_BATCH_ITEMS`` videos with one model; one row of ``predict_batch`` per item."""
        # Items already pass the rules; the batch checks them again, as they check any table, at little cost.
        rows = pd.DataFrame([item.model_dump() for item in request.items], columns=list(BatchRow.model_fields))
        for column in ("video_id", *OBSERVED_COLUMNS):
            if rows[column].isna().all():
                rows = rows.drop(columns=column)
        try:
            frame = await run(_predictions.predict_rows, rows, request.model_type, artifacts_dir)
        except Exception as error:  # noqa: BLE001
            return _failure(error, batch=True)
        predictions = _records(frame)
        return {"model_type": request.model_type, "count": len(predictions), "predictions": predictions}

    @app.post("/trajectory")
    async def trajectory(request: TrajectoryRequest) -> Any:
        """The views, 80% interval and stage at each age (``predict_trajectory``), with or without observations."""
        try:
            result = await run(_predictions.trajectory, request.model_type, request, request.ages, artifacts_dir)
        except Exception as error:  # noqa: BLE001
            return _failure(error)
        return JSONResponse(jsonable(result))

    @app.post("/typical")
    async def typical(request: TypicalRequest) -> Any:
        """A channel's typical views by age from its uploads export, and one video against them."""
        try:
            arguments = request.model_dump()
            # Without ``use_bundle`` the answer is the Python call's without ``artifacts_dir``: from the export alone.
            bundle_dir = resolve_folder(artifacts_dir) if arguments.pop("use_bundle") else None
            result = await run(typical_performance, **arguments, artifacts_dir=bundle_dir)
        except Exception as error:  # noqa: BLE001
            return _failure(error)
        return JSONResponse(result)

    app.add_middleware(_Guard, api_key=key, max_body=max_body)
    app.state.api_key_required = key is not None
    return app


# ---------------------------------------------------------------------------------------------- serving
@contextlib.contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` with uvicorn in a daemon thread on a free loopback port (tests, benchmarks); yields the URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))  # bound here, so there is no race for the port
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def serve(host: str = "127.0.0.1", port: int = 8000, artifacts_dir: str | os.PathLike | None = None,
          max_concurrent: int | None = None, micro_batch: bool = True, log_level: str = "info") -> int:
    """``videoperf serve``: run the service with uvicorn (loopback unless ``host`` says otherwise)."""
    import uvicorn

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(Path(artifacts_dir) if artifacts_dir else None, max_concurrent=max_concurrent,
                     micro_batch=micro_batch)
    if host not in ("127.0.0.1", "localhost", "::1") and not app.state.api_key_required:
        logger.warning("serving on %s without an API key: set %s to require one", host, API_KEY_ENV)
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False, limit_concurrency=256,
                timeout_keep_alive=5)
    return 0
