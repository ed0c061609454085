"""The prediction request: one pydantic model for the Python API, the command line and REST.

``VideoRequest`` is one video as known before publishing; ``PredictionRequest`` adds a published video's
observations so far; ``BatchRow`` is one row of a batch (an id and the latest observation). Every field is checked
by its rule in ``videoperf.serving.rules``; ``parse_request`` raises a broken rule as
``ValueError("<argument>: <reason>")``, and the REST service answers 422 with the same message (``named_errors``).
The batch checks (``videoperf.serving.batch_checks``) apply the same rules column by column, and the command
line's per-fact options, ``OPTIONAL_FACTS`` and the batch's columns all come from these models.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from videoperf.models.registry import MODEL_TYPES
from videoperf.serving import rules


class _Group:
    """Marks the fields of one group in their annotations (see ``fields_of``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


FACT = _Group("optional fact")
LATEST_OBSERVATION = _Group("latest observation")


def _check(rule: Callable[..., Any], schema: Any) -> PlainValidator:
    """``rule`` as the field's validator; ``schema`` is what the JSON schema shows it accepts."""
    return PlainValidator(rule, json_schema_input_type=schema)


def _average_views(value: Any, info: ValidationInfo) -> float | None:
    return rules.check_average_views(value, info.data.get("channel_video_count"))


def _median_views(value: Any, info: ValidationInfo) -> float | None:
    return rules.check_median_views(value, info.data.get("channel_video_count"))


def _in_order(observations: list[Observation] | None) -> list[Observation] | None:
    """Observations by age, checked as a series (one per age, views never falling)."""
    if not observations:
        return observations
    observations = sorted(observations, key=lambda o: o.days_since_publish)
    rules.check_series(np.array([o.days_since_publish for o in observations]),
                       np.array([o.views for o in observations]))
    return observations


_Text = Annotated[str, Field(max_length=rules.MAX_TEXT_CHARS)]
_Number = Annotated[float, Field(ge=0)]
_Days = Annotated[float, Field(gt=0, le=rules.MAX_DAYS)]
Title = Annotated[str, _check(rules.check_title, _Text)]
Texts = Annotated[list[str], _check(rules.check_strings,
                                    Annotated[list[_Text], Field(max_length=rules.MAX_LIST_ITEMS)] | None)]
Seconds = Annotated[float | None, _check(rules.check_duration, _Number | None)]
VideoCount = Annotated[float, _check(rules.check_video_count, Annotated[int, Field(ge=0)])]
AverageViews = Annotated[float | None, _check(_average_views, _Number | None)]
MedianViews = Annotated[float | None, _check(_median_views, _Number | None)]
PublishTime = Annotated[datetime | None, _check(rules.check_timestamp, datetime | None)]
Days = Annotated[float | None, _check(rules.check_days, _Days | None)]
Count = Annotated[float | None, _check(rules.check_count, _Number | None)]
Language = Annotated[str | None, _check(rules.check_language, _Text | None), FACT]
Definition = Annotated[str | None, _check(rules.check_definition, Literal[rules.DEFINITIONS] | None), FACT]
Flag = Annotated[bool | None, _check(rules.check_flag, bool | None), FACT]
ModelType = Annotated[str, _check(rules.check_model_type, Literal[MODEL_TYPES])]
Ages = Annotated[list[float] | None, _check(lambda ages: None if ages is None else rules.check_ages(ages).tolist(),
                                            Annotated[list[_Days], Field(max_length=rules.MAX_TRAJECTORY_AGES)]
                                            | None)]


class VideoRequest(BaseModel):
    """One video as known before publishing (``None``: not known). Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Title
    tags: Texts = Field(default_factory=list)
    categories: Texts = Field(default_factory=list)
    duration_seconds: Seconds = None
    # Before the average: whether the average may be missing depends on it.
    channel_video_count: VideoCount = Field(description="how many videos the channel has (0 = new channel)")
    channel_avg_views: AverageViews = Field(description="average views of the channel's earlier videos "
                                                        "(null for a new channel)")
    channel_median_views: MedianViews = Field(None, description="median views of the channel's earlier videos "
                                                                "(optional: its typical video, which the average's "
                                                                "hits do not move)")
    published_at: PublishTime = Field(None, description="ISO date / time; default now (UTC)")
    days_since_publish: Days = Field(None, description="the age to predict at, in days; default from the bundle")
    default_language: Language = Field(None, description="language code of the title, such as en")
    audio_language: Language = Field(None, description="language code of the audio")
    definition: Definition = Field(None, description="hd or sd")
    caption_available: Flag = Field(None, description="true or false")
    licensed_content: Flag = Field(None, description="true or false")
    made_for_kids: Flag = Field(None, description="true or false")
    is_live: Flag = Field(None, description="true or false")
    on_chart: Flag = Field(None, description="true if the video is on the trending chart at this age: a chart-"
                                             "trained bundle then answers as its videos still charting have it; "
                                             "default: an ordinary upload")

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = data.keys() - cls.model_fields.keys()
            if unknown:
                raise rules.RuleError(f"unknown argument; optional facts are {list(OPTIONAL_FACTS)}",
                                      at=(str(sorted(unknown, key=str)[0]),))
        return data

    def row(self, default_days: float, now: pd.Timestamp | None = None) -> dict[str, Any]:
        """The video as one row of the columns the features read: not known as NaN (``None`` for text), the age
        as ``age_days`` (``default_days`` when not given), a missing publish time as ``now`` (default: now)."""
        count, average, median = self.channel_video_count, self.channel_avg_views, self.channel_median_views
        if self.published_at is not None:
            now = self.published_at
        elif now is None:
            now = pd.Timestamp.now(tz="UTC")
        out = {"title": self.title, "tags": self.tags, "categories": self.categories,
               "duration_seconds": math.nan if self.duration_seconds is None else self.duration_seconds,
               "channel_avg_views": math.nan if count == 0 or average is None else average,
               "channel_video_count": count,
               # the median's log stands in for the mean log views of the channel's videos (``channel_history``)
               "channel_mean_log_views": math.nan if count == 0 or median is None else math.log1p(median),
               "published_at": now,
               "age_days": float(default_days) if self.days_since_publish is None else self.days_since_publish,
               "default_language": self.default_language, "audio_language": self.audio_language,
               "definition": self.definition}
        for name in FLAG_FACTS:
            value = getattr(self, name)
            out[name] = math.nan if value is None else float(value)
        return out


class Observation(BaseModel):
    """A published video's cumulative counts at one age (likes and comments optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days_since_publish: Annotated[float, _check(rules.check_observed_age, _Days)]
    views: Annotated[float, _check(rules.check_views, _Number)]
    likes: Count = None
    comments: Count = None

    _known_keys = model_validator(mode="before")(rules.check_observation_keys)


Observations = Annotated[Annotated[list[Observation], Field(max_length=rules.MAX_OBSERVATIONS)] | None,
                         BeforeValidator(rules.check_observations), AfterValidator(_in_order)]


class PredictionRequest(VideoRequest):
    """A video and, once published, its observations so far (any number, any ages; ``[]``: none yet)."""

    observed: Observations = Field(None, description="observations so far, e.g. "
                                                     "[{\"days_since_publish\": 1, \"views\": 52000}]")

    def series(self) -> dict[str, np.ndarray] | None:
        """The observations as arrays ``days``, ``views``, ``likes``, ``comments`` by age (NaN: not given)."""
        if self.observed is None:
            return None
        table = np.array([[o.days_since_publish, o.views, math.nan if o.likes is None else o.likes,
                           math.nan if o.comments is None else o.comments] for o in self.observed],
                         dtype=float).reshape(-1, 4)
        return {"days": table[:, 0], "views": table[:, 1], "likes": table[:, 2], "comments": table[:, 3]}


class BatchRow(VideoRequest):
    """One row of a batch: a video, an id echoed back, and its latest observation if published."""

    video_id: Annotated[str, Field(max_length=64)] | None = None
    observed_days: Annotated[float | None, _check(rules.check_days, _Days | None), LATEST_OBSERVATION] = None
    observed_views: Annotated[Count, LATEST_OBSERVATION] = None
    observed_likes: Annotated[Count, LATEST_OBSERVATION] = None
    observed_comments: Annotated[Count, LATEST_OBSERVATION] = None

    @model_validator(mode="after")
    def _whole_observation(self) -> BatchRow:
        if (self.observed_days is None) != (self.observed_views is None):
            which = "observed_views" if self.observed_views is None else "observed_days"
            raise rules.RuleError(OBSERVATION_NEEDS_BOTH, at=(which,))
        return self


def fields_of(model: type[BaseModel], group: _Group) -> tuple[str, ...]:
    """The names of ``model``'s fields marked ``group``, in order."""
    return tuple(name for name, field in model.model_fields.items() if group in field.metadata)


def field_rule(name: str) -> Callable[[Any], Any]:
    """The rule ``BatchRow`` checks field ``name`` with."""
    return next(check.func for check in BatchRow.model_fields[name].metadata if isinstance(check, PlainValidator))


OPTIONAL_FACTS = fields_of(VideoRequest, FACT)
FLAG_FACTS = tuple(name for name in OPTIONAL_FACTS if field_rule(name) is rules.check_flag)
REQUIRED_FIELDS = tuple(name for name, field in VideoRequest.model_fields.items() if field.is_required())
OBSERVED_COLUMNS = fields_of(BatchRow, LATEST_OBSERVATION)
OBSERVATION_NEEDS_BOTH = "missing; an observation needs both observed_days and observed_views"

Request = TypeVar("Request", bound=VideoRequest)


def parse_request(arguments: Mapping[str, Any] | VideoRequest, model: type[Request] = PredictionRequest
                  ) -> Request:
    """``arguments`` (a dict of them, or a request already validated) as a validated ``model``; a broken rule
    raises ``ValueError("<argument>: <reason>")`` for the first one."""
    try:
        return model.model_validate(arguments)
    except ValidationError as error:
        raise ValueError(named_errors(error.errors(include_url=False))[0][1]) from None


def named_errors(errors: list[Any], root: str | None = None) -> list[tuple[list[str | int], str, str]]:
    """``(loc, "<argument>: <reason>", type)`` of each of pydantic's ``errors``. ``root``: a first element of
    every ``loc`` that names no argument (FastAPI's ``"body"``); kept in ``loc``, left out of the message."""
    out = []
    for error in errors:
        loc = tuple(error["loc"])
        head = loc[:1] if root is not None and loc[:1] == (root,) else ()
        cause = (error.get("ctx") or {}).get("error")
        where = (*loc[len(head):], *getattr(cause, "at", ()))
        if error["type"] == "value_error" and cause is not None:
            reason = str(cause)
        else:
            reason = {"missing": "required", "extra_forbidden": "unknown argument"}.get(error["type"], error["msg"])
        name = rules.place(where) if where and isinstance(where[0], str) else root or "arguments"
        out.append(([*head, *where], f"{name}: {reason}", error["type"]))
    return out
