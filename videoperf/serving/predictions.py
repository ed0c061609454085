"""Requests in, results out: the Python API, the command line and the REST service all predict through here.

Each function checks ``model_type`` and the request (``videoperf.serving.request``; a batch:
``videoperf.serving.batch_checks``; bad input: a ``ValueError`` naming the argument), loads the bundle
(``bundle.load_bundle``: cached per folder), runs one model pass (``Bundle.predict_frame``) and returns plain Python
values (``videoperf.plain``).

Observations of a published video (``observed=`` in a call, the ``observed_*`` columns of a batch) replace the
views and interval by the bundle's forecaster from observed days (``Bundle.observed_forecaster``,
``videoperf.forecasting.forecaster``), read only when some request has observations; ``trajectory`` gives the views at
many ages. Requests without observations take exactly the path they took before.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from videoperf.plain import plain
from videoperf.serving import batch_checks, rules
from videoperf.serving.batches import GC_PAUSE_ROWS, collector_paused
from videoperf.serving.bundle import Bundle, load_bundle
from videoperf.serving.request import PredictionRequest, parse_request

Arguments = Mapping[str, Any] | PredictionRequest

# The evaluation tables say predicted_<target>; a single prediction names the target itself.
_RENAMED = {f"predicted_{target}": target for target in ("lifecycle_stage", "time_to_peak_days", "decay_rate")}


def predict_one(model_type: str, arguments: Arguments, artifacts_dir: str | os.PathLike | None = None
                ) -> dict[str, Any]:
    """What ``predict.predict_performance(**arguments, model_type=model_type)`` returns; ``arguments`` may be a
    request already validated."""
    model_type = rules.checked(rules.check_model_type, model_type, "model_type")
    request = parse_request(arguments)
    bundle = load_bundle(artifacts_dir)
    row = request.row(bundle.default_days)
    predicted = bundle.predict_frame(_columns([row]), model_type)
    result = _result(_records(predicted)[0], row, model_type, bundle)
    if request.observed is not None:
        _with_observed([result], [row], [request.series()], bundle)
    return result


def predict_calls(calls: list[Arguments], model_type: str, artifacts_dir: str | os.PathLike | None = None
                  ) -> list[dict[str, Any] | ValueError]:
    """``predict_one`` for many calls (dicts of its arguments, or requests) in one model pass; a bad call gets its
    ``ValueError`` in its place and does not fail the others."""
    model_type = rules.checked(rules.check_model_type, model_type, "model_type")
    out: list[dict[str, Any] | ValueError] = []
    valid: list[tuple[int, PredictionRequest]] = []
    for i, call in enumerate(calls):
        try:
            valid.append((i, parse_request(call)))
            out.append(ValueError("unset"))
        except ValueError as error:
            out.append(error)
    if not valid:
        return out
    bundle = load_bundle(artifacts_dir)
    rows = [(i, request.row(bundle.default_days)) for i, request in valid]
    predicted = bundle.predict_frame(_columns([row for _, row in rows]), model_type)
    for (i, row), record in zip(rows, _records(predicted)):
        out[i] = _result(record, row, model_type, bundle)
    chosen = [(i, row, request.series()) for (i, row), (_, request) in zip(rows, valid)
              if request.observed is not None]
    if chosen:
        try:
            _with_observed([out[i] for i, _, _ in chosen], [row for _, row, _ in chosen],
                           [series for _, _, series in chosen], bundle)
        except ValueError as error:  # a bundle without the forecaster: every call with observations fails
            for i, _, _ in chosen:
                out[i] = error
    return out


def predict_rows(rows: pd.DataFrame | str | os.PathLike, model_type: str,
                 artifacts_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """What ``predict.predict_batch`` returns: one row per request row (a DataFrame, a CSV or a parquet file)."""
    model_type = rules.checked(rules.check_model_type, model_type, "model_type")
    rows = read_rows(rows)
    bundle = load_bundle(artifacts_dir)
    # A missing publish time is the time of the call, the same for every chunk the bundle checks
    check = partial(batch_checks.check_rows, default_days=bundle.default_days, now=pd.Timestamp.now(tz="UTC"))
    with collector_paused(len(rows) >= GC_PAUSE_ROWS):  # see ``batches.collector_paused``
        if rows.empty:
            batch_checks.check_rows(rows, bundle.default_days)  # a missing column is still reported
            return pd.DataFrame(columns=["predicted_views", "views_lo", "views_hi"])
        # A calibrated bundle offsets each channel it was calibrated to by its own amount.
        channels = rows["channel_id"].reset_index(drop=True) if "channel_id" in rows else None
        requests, predicted = bundle.check_and_predict(rows.reset_index(drop=True), model_type, check, channels)
        predicted = predicted.reset_index(drop=True)
    if "video_id" in rows:
        predicted.insert(0, "video_id", rows["video_id"].to_numpy())
    predicted["days_since_publish"] = requests["age_days"].to_numpy()
    observed = batch_checks.check_observed_rows(rows)
    if observed is not None:
        predicted = _rows_with_observed(predicted, requests, observed, bundle)
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
    """Validated requests (``VideoRequest.row``, all with the same keys) as columns: what
    ``Bundle.predict_frame`` reads, without building a DataFrame for a handful of rows."""
    return {key: [request[key] for request in requests] for key in requests[0]}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``frame.to_dict("records")`` from its columns' arrays (far cheaper for a few rows)."""
    columns = {name: frame[name].to_numpy() for name in frame.columns}
    return [{name: values[i] for name, values in columns.items()} for i in range(len(frame))]


def _result(predicted: dict[str, Any], request: dict[str, Any], model_type: str, bundle: Bundle) -> dict[str, Any]:
    """One prediction as a JSON-ready dict: targets by name, stage probabilities grouped, the request's facts."""
    out = {key: plain(value) for key, value in predicted.items()}
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


# ------------------------------------------------------------------------------------- observed days
DEFAULT_TRAJECTORY_AGES = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 14.0, 21.0, 30.0, 45.0, 60.0, 90.0, 120.0,
                           180.0, 270.0, 365.0)
_VIDEO_COLUMNS = ("channel_avg_views", "channel_video_count", "categories", "duration_seconds", "published_at")


def _video_columns(requests: list[dict[str, Any]]) -> dict[str, Any]:
    """What the forecaster reads of validated requests, as columns."""
    return {name: [request[name] for request in requests] for name in _VIDEO_COLUMNS}


def _forecast(bundle: Bundle, videos: dict[str, Any], series: list[dict[str, np.ndarray]],
              ages: list[np.ndarray]) -> Any:
    """The forecaster's ``Forecast`` of video i (row i of the columns ``videos``) at ``ages[i]`` from its
    observations ``series[i]`` (non-empty)."""
    from videoperf.lifecycle.curve import intervals_from_arrays

    forecaster = bundle.observed_forecaster()
    sizes = [len(s["days"]) for s in series]
    observed = intervals_from_arrays(np.repeat(np.arange(len(series)), sizes),
                                     np.concatenate([s["days"] for s in series]),
                                     np.concatenate([s["views"] for s in series]))
    videos = dict(videos)
    for name in ("channel_avg_views", "channel_video_count", "duration_seconds"):
        videos[name] = np.asarray(videos[name], dtype=float)
    first_likes = np.array([s["likes"][0] for s in series], dtype=float)
    video = np.repeat(np.arange(len(series)), [len(a) for a in ages])
    return forecaster.forecast(observed, first_likes, videos, video, np.concatenate(ages))


def _basis(forecaster: Any, used: int) -> str:
    return (f"lifecycle curve ({forecaster.shape_for(used)}) conditioned on {used} observation(s); shape and level "
            "prior fitted on the training videos' series (videoperf.forecasting)")


def _with_observed(results: list[dict[str, Any]], requests: list[dict[str, Any]],
                   series: list[dict[str, np.ndarray]], bundle: Bundle) -> None:
    """Replace the views and interval of each result by the forecast from its observations (in place); the
    model's own prediction stays as ``prior_predicted_views`` / ``prior_views_lo`` / ``prior_views_hi``."""
    for result in results:
        for key, prior in (("predicted_views", "prior_predicted_views"), ("views_lo", "prior_views_lo"),
                           ("views_hi", "prior_views_hi")):
            if key in result:
                result[prior] = result[key]
    seen = [i for i, s in enumerate(series) if len(s["days"])]
    for i in set(range(len(results))) - set(seen):
        results[i].update({"observed_used": 0, "forecast_basis": "model (no observations)"})
    if not seen:
        return
    forecaster = bundle.observed_forecaster()
    ages = [np.array([requests[i]["age_days"]]) for i in seen]
    found = _forecast(bundle, _video_columns([requests[i] for i in seen]), [series[i] for i in seen], ages)
    stages = found.curves.stage(np.concatenate(ages))
    for j, i in enumerate(seen):
        used = int(found.used[j])
        results[i].update({
            "predicted_views": float(found.point[j]), "views_lo": float(found.lo[j]), "views_hi": float(found.hi[j]),
            "interval_coverage": forecaster.coverage, "observed_used": used,
            "last_observed_days": float(found.last_age[j]), "last_observed_views": float(found.last_views[j]),
            "curve_stage": stages[j], "curve_time_to_peak_days": float(found.curves.time_to_peak[j]),
            "forecast_basis": _basis(forecaster, used)})


def _rows_with_observed(predicted: pd.DataFrame, requests: pd.DataFrame, observed: dict[str, np.ndarray],
                        bundle: Bundle) -> pd.DataFrame:
    """``predict_rows``' table with the rows that carry an observation forecast from it (one observation each)."""
    has = np.isfinite(observed["observed_days"])
    predicted["prior_predicted_views"] = predicted["predicted_views"].to_numpy()
    predicted["observed_days"] = observed["observed_days"]
    predicted["observed_views"] = observed["observed_views"]
    predicted["observed_used"] = has.astype(int)
    if not has.any():
        return predicted
    rows = np.flatnonzero(has)
    videos = {name: [values[i] for i in rows] for name, values in
              ((name, requests[name].tolist()) for name in _VIDEO_COLUMNS)}
    series = [{"days": observed["observed_days"][i:i + 1], "views": observed["observed_views"][i:i + 1],
               "likes": observed["observed_likes"][i:i + 1]} for i in rows]
    ages = requests["age_days"].to_numpy(float)[rows]
    found = _forecast(bundle, videos, series, [ages[j:j + 1] for j in range(len(rows))])
    for column, values in (("predicted_views", found.point), ("views_lo", found.lo), ("views_hi", found.hi)):
        if column in predicted:
            predicted[column] = predicted[column].astype(float)
            predicted.loc[rows, column] = values
    return predicted


def trajectory(model_type: str, arguments: Arguments, ages: Any = None,
               artifacts_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """What ``predict.predict_trajectory`` returns: views, 80% interval and stage at each age in ``ages``.

    With observations (``arguments["observed"]``) from the forecaster from observed days; without, from one
    lifecycle curve fitted to the model's predictions at the ages its training data covers
    (``videoperf.serving.family_curve``): views, stage, time to peak and decay agree, and past those ages views
    follow the curve's decay. Views never decrease with age and are never below the last observed views. The
    request's ``days_since_publish``, if any, plays no part."""
    model_type = rules.checked(rules.check_model_type, model_type, "model_type")
    grid = rules.checked(rules.check_ages, DEFAULT_TRAJECTORY_AGES if ages is None else ages, "ages")
    request = parse_request(arguments)
    bundle = load_bundle(artifacts_dir)
    row, series = request.row(bundle.default_days), request.series()
    out: dict[str, Any] = {"model_type": model_type, "published_at": row["published_at"].isoformat(),
                           "interval_coverage": bundle.coverage,
                           "model_age_days": plain(bundle.model_age_days([row["published_at"]])[0]),
                           "population": bundle.population_label(model_type)}
    if series is not None and len(series["days"]):
        forecaster = bundle.observed_forecaster()
        found = _forecast(bundle, _video_columns([row]), [series], [grid])
        point, lo, hi = found.point, found.lo, found.hi
        stage = found.curves.stage(grid)
        used = int(found.used[0])
        out.update({"observed_used": used, "last_observed_days": float(found.last_age[0]),
                    "last_observed_views": float(found.last_views[0]),
                    "time_to_peak_days": float(found.curves.time_to_peak[0]),
                    "interval_coverage": forecaster.coverage, "basis": _basis(forecaster, used)})
    else:
        from videoperf.serving.family_curve import curve_prediction

        found = curve_prediction(bundle, row, grid, model_type)
        frame = found.frame
        point, lo, hi = (frame[col].to_numpy(float) for col in ("views", "views_lo", "views_hi"))
        stage = list(frame["stage"])
        out.update({"observed_used": 0, "time_to_peak_days": found.time_to_peak_days,
                    "decay_rate_per_day": found.decay_rate,
                    "basis": f"{model_type}: one lifecycle curve fitted to its predictions at the trained ages"})
    point = np.maximum.accumulate(point)
    lo, hi = np.maximum.accumulate(np.minimum(lo, point)), np.maximum.accumulate(np.maximum(hi, point))
    out["points"] = [{"days_since_publish": float(a), "views": float(p), "views_lo": plain(lo_), "views_hi": plain(hi_),
                      "stage": plain(s)} for a, p, lo_, hi_, s in zip(grid, point, lo, hi, stage)]
    return out
