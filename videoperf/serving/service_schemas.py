"""The REST service's bodies: requests built on ``videoperf.serving.request``, and the responses.

A body is validated by the same rules as a call of ``predict.predict_performance``; a broken one gets 422 with the
same message (``invalid_body``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from videoperf.serving.request import Ages, BatchRow, ModelType, PredictionRequest, named_errors

MAX_BATCH_ITEMS = 1000


def _at_most_batch_items(items: Any) -> Any:
    if isinstance(items, list) and len(items) > MAX_BATCH_ITEMS:
        raise ValueError(f"at most {MAX_BATCH_ITEMS} items, got {len(items)}")
    return items


class PredictRequest(PredictionRequest):
    """``POST /predict``: one video and the model to use; ``observed``: its observations so far, if published."""

    model_type: ModelType = "ensemble"


class TrajectoryRequest(PredictRequest):
    """``POST /trajectory``: a video, its observations (optional) and the ages in days (default 0.25 ... 365)."""

    ages: Ages = None


class TypicalRequest(BaseModel):
    """``POST /typical``: the arguments of ``typical_performance``; ``data`` is a path the server can read."""

    model_config = ConfigDict(extra="forbid")

    data: str = Field(min_length=1, max_length=4096, description="the channel's uploads export: a file or folder")
    channel_id: str = Field(min_length=1, max_length=200)
    ages: list[float] | None = Field(None, max_length=1000)
    recent: int = 10
    video_id: str | None = Field(None, max_length=200)
    observed: list[dict[str, Any]] | None = Field(None, max_length=10000)
    use_bundle: bool = Field(False, description="the service's bundle gives the curve shape and prior")


class BatchRequest(BaseModel):
    """``POST /predict/batch``: up to ``MAX_BATCH_ITEMS`` videos, one model."""

    model_config = ConfigDict(extra="forbid")

    model_type: ModelType = "ensemble"
    # Counted before the items are validated: an oversized body costs no per-item work.
    items: Annotated[list[BatchRow], BeforeValidator(_at_most_batch_items), Field(max_length=MAX_BATCH_ITEMS)]


class Prediction(BaseModel):
    """The result of ``predict_performance``; other model outputs (deep model heads) pass through."""

    model_config = ConfigDict(extra="allow")

    predicted_views: float
    views_lo: float | None = None
    views_hi: float | None = None
    interval_coverage: float | None = None
    model_type: str
    days_since_publish: float
    published_at: str
    model_age_days: float | None = Field(None, description="published_at minus the end of the training data, days")


class BatchPrediction(BaseModel):
    """One row of ``predict_batch``."""

    model_config = ConfigDict(extra="allow")

    video_id: str | None = None
    predicted_views: float
    views_lo: float | None = None
    views_hi: float | None = None
    days_since_publish: float
    model_age_days: float | None = None


class BatchResponse(BaseModel):
    model_type: str
    count: int
    predictions: list[BatchPrediction]


class ModelInfo(BaseModel):
    """The manifest of the loaded bundle (all its keys), plus the installed library versions."""

    model_config = ConfigDict(extra="allow")

    models: list[str]
    created_at: str | None = None
    libraries: dict[str, str]
    installed_libraries: dict[str, str]
    data: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None


def invalid_body(error: RequestValidationError) -> JSONResponse:
    """422 ``{"detail": [{"loc": ["body", field, ...], "msg": "<field>: <reason>", "type"}]}``, one per error."""
    detail = [{"loc": loc, "msg": message, "type": kind} for loc, message, kind in named_errors(error.errors(), "body")]
    return JSONResponse({"detail": detail}, status_code=422)
