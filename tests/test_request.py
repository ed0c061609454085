"""The request model (serving.request): the one list of fields, its messages, what derives from it."""

from __future__ import annotations

import math
from itertools import chain

import pandas as pd
import pytest

from videoperf.cli import parser
from videoperf.serving import predict, rules, service_schemas
from videoperf.serving.batch_checks import check_rows
from videoperf.serving.request import (
    OPTIONAL_FACTS,
    REQUIRED_FIELDS,
    BatchRow,
    PredictionRequest,
    parse_request,
)

VIDEO = dict(title=" Top 10 goals ", tags=["football ", " "], categories=None, duration_seconds=300,
             channel_avg_views=None, channel_video_count=0, published_at="2026-03-02T10:00:00+01:00")


def test_everything_else_reads_the_fields_from_the_model():
    assert OPTIONAL_FACTS == ("default_language", "audio_language", "definition", "caption_available",
                              "licensed_content", "made_for_kids", "is_live", "on_chart") == predict.OPTIONAL_FACTS
    assert REQUIRED_FIELDS == ("title", "channel_video_count", "channel_avg_views")
    facts = [f"--{name.replace('_', '-')}" for name in OPTIONAL_FACTS]
    args = parser().parse_args(["predict", "--title", "x", *chain.from_iterable(zip(facts, OPTIONAL_FACTS))])
    assert [getattr(args, name) for name in OPTIONAL_FACTS] == list(OPTIONAL_FACTS)
    for body in (service_schemas.PredictRequest, service_schemas.TrajectoryRequest):
        assert list(body.model_fields)[:len(PredictionRequest.model_fields)] == list(PredictionRequest.model_fields)
    assert service_schemas.BatchRequest.model_fields["items"].annotation == list[BatchRow]
    rows = pd.DataFrame([{**VIDEO, "video_id": "a", "channel_id": "c"}])
    assert check_rows(rows).attrs["ignored_columns"] == ["channel_id"]


def test_a_valid_request_is_normalised_once():
    request = parse_request(VIDEO)
    assert request.title == "Top 10 goals" and request.tags == ["football"] and request.categories == []
    assert request.published_at == pd.Timestamp("2026-03-02T09:00:00Z") and parse_request(request) is request
    row = request.row(7.0)
    assert row["age_days"] == 7.0 and math.isnan(row["channel_avg_views"]) and math.isnan(row["made_for_kids"])
    batch = check_rows(pd.DataFrame([VIDEO]), 7.0, now=pd.Timestamp("2026-01-01", tz="UTC"))
    assert {key: batch[key].iloc[0] for key in ("title", "tags", "age_days")} == {
        key: row[key] for key in ("title", "tags", "age_days")}


@pytest.mark.parametrize("change, message", [
    ({"colour": "red"}, "colour: unknown argument; optional facts are ["),
    ({"channel_video_count": None}, "channel_video_count: expected a number, got NoneType None"),
    ({"observed": [{"days_since_publish": 2, "views": 9}, {"days_since_publish": 1, "views": 10}]},
     "observed: views decrease with age (10 at day 1, then 9 at day 2)"),
    ({"observed": [{"days_since_publish": 1, "views": 9, "shares": 1}]}, "observed[0].shares: unknown key"),
    ({"observed": [{"views": 9}]}, "observed[0].days_since_publish: required"),
])
def test_a_broken_rule_is_a_plain_value_error_naming_the_argument(change, message):
    with pytest.raises(ValueError) as raised:
        parse_request({**VIDEO, **change})
    assert type(raised.value) is ValueError and str(raised.value).startswith(message)


def test_a_missing_argument_and_a_wrong_shape_are_named_too():
    with pytest.raises(ValueError, match=r"^channel_video_count: required$"):
        parse_request({"title": "x"})
    with pytest.raises(ValueError, match=r"^arguments: "):
        parse_request(["not", "a", "dict"])
    with pytest.raises(ValueError, match=r"^ages\[1\]: must be in \(0, 3650\] days, got 0.0$"):
        rules.checked(rules.check_ages, [1, 0], "ages")
