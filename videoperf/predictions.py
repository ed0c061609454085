"""Requests in, results out: ``predict.py``, its command line and the REST service all predict through here.

Each function checks ``model_type`` first, then loads the bundle (``bundle.load_bundle``: cached per folder),
validates the input with ``videoperf.inputs`` (bad input: a ``ValueError`` naming the argument), runs one model
pass (``Bundle.predict_frame``) and returns plain Python values (``videoperf.plain``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from videoperf import inputs
from videoperf.bundle import GC_PAUSE_ROWS, Bundle, collector_paused, load_bundle
from videoperf.plain import plain

# The evaluation tables say predicted_<target>; a single prediction names the target itself.
_RENAMED = {f"predicted_{target}": target for target in ("lifecycle_stage", "time_to_peak_days", "decay_rate")}


def predict_one(model_type: str, arguments: dict[str, Any], artifacts_dir: str | os.PathLike | None = None
                ) -> dict[str, Any]:
    """What ``predict.predict_performance(**arguments, model_type=model_type)`` returns."""
    model_type = inputs.check_model_type(model_type)
    bundle = load_bundle(artifacts_dir)
    request = inputs.check_request(**arguments, default_days=bundle.default_days)
    predicted = bundle.predict_frame(_columns([request]), model_type)
    return _result(_records(predicted)[0], request, model_type, bundle)


def predict_calls(calls: list[dict[str, Any]], model_type: str, artifacts_dir: str | os.PathLike | None = None
                  ) -> list[dict[str, Any] | ValueError]:
    """``predict_one`` for many calls (dicts of its arguments) in one model pass; a bad call gets its
    ``ValueError`` in its place and does not fail the others."""
    model_type = inputs.check_model_type(model_type)
    bundle = load_bundle(artifacts_dir)
    out: list[dict[str, Any] | ValueError] = []
    valid: list[tuple[int, dict[str, Any]]] = []
    for i, call in enumerate(calls):
        try:
            valid.append((i, inputs.check_request(**call, default_days=bundle.default_days)))
            out.append(ValueError("unset"))
        except ValueError as error:
            out.append(error)
        except TypeError as error:  # a required argument missing, or not a dict of arguments
            out.append(ValueError(f"arguments: {error}"))
    if valid:
        predicted = bundle.predict_frame(_columns([request for _, request in valid]), model_type)
        for (i, request), row in zip(valid, _records(predicted)):
            out[i] = _result(row, request, model_type, bundle)
    return out


def predict_rows(rows: pd.DataFrame | str | os.PathLike, model_type: str,
                 artifacts_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """What ``predict.predict_batch`` returns: one row per request row (a DataFrame, a CSV or a parquet file)."""
    model_type = inputs.check_model_type(model_type)
    rows = read_rows(rows)
    bundle = load_bundle(artifacts_dir)
    with collector_paused(len(rows) >= GC_PAUSE_ROWS):  # see ``bundle.collector_paused``
        requests = inputs.check_rows(rows, bundle.default_days)
        if requests.empty:
            return pd.DataFrame(columns=["predicted_views", "views_lo", "views_hi"])
        # A calibrated bundle offsets each channel it was calibrated to by its own amount.
        channels = rows["channel_id"].reset_index(drop=True) if "channel_id" in rows else None
        predicted = bundle.predict_frame(requests, model_type, channels).reset_index(drop=True)
    if "video_id" in rows:
        predicted.insert(0, "video_id", rows["video_id"].to_numpy())
    predicted["days_since_publish"] = requests["age_days"].to_numpy()
    return predicted


def read_rows(rows: pd.DataFrame | str | os.PathLike) -> pd.DataFrame:
    """A request table from a DataFrame or a CSV / parquet path; ``ValueError`` naming ``rows`` otherwise."""
    if isinstance(rows, (str, os.PathLike)):
        path = Path(rows)
        if not path.is_file():
            raise ValueError(f"rows: {path} is not a file")
        if path.suffix.lower() in (".parquet", ".pq"):
            rows = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv":
            rows = pd.read_csv(path, keep_default_na=True)
        else:
            raise ValueError(f"rows: {path} is neither a CSV nor a parquet file")
    if not isinstance(rows, pd.DataFrame):
        raise ValueError(f"rows: expected a DataFrame or a CSV / parquet path, got {type(rows).__name__}")
    return rows


def _columns(requests: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Validated requests (``inputs.check_request``, all with the same keys) as columns: what
    ``Bundle.predict_frame`` reads, without building a DataFrame for a handful of rows."""
    return {key: [request[key] for request in requests] for key in requests[0]}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame.to_dict("records")`` from its columns' arrays (far cheaper for a few rows)."""
    columns = {name: frame[name].to_numpy() for name in frame.columns}
    return [{name: values[i] for name, values in columns.items()} for i in range(len(frame))]


def _result(row: dict[str, Any], request: dict[str, Any], model_type: str, bundle: Bundle) -> dict[str, Any]:
    """One prediction as a JSON-ready dict: targets by name, stage probabilities grouped, the request's facts."""
    out = {key: plain(value) for key, value in row.items()}
    if "views_lo" in out:
        out["interval_coverage"] = bundle.coverage
    for old, new in _RENAMED.items():
        if old in out:
            out[new] = out.pop(old)
    probabilities = {key.removeprefix("probability_"): out.pop(key) for key in list(out)
                     if key.startswith("probability_")}
    if probabilities:
        out["stage_probabilities"] = probabilities
    out.update({"model_type": model_type, "days_since_publish": float(request["age_days"]),
                "published_at": request["published_at"].isoformat()})
    return out
