"""The Python prediction API: one video before or after publishing, its trajectory, many calls in one pass
(a table of videos: ``videoperf.predict_batch``, which can also run on Dask).

Every entry point (these functions, the command line, the REST service) predicts through
``videoperf.serving.predictions`` with one saved bundle per artifacts folder, loaded once per process.
Bad input raises ``ValueError`` naming the argument and the reason (the rules of
``videoperf.serving.request.PredictionRequest``).
"""

from __future__ import annotations

import os
from typing import Any

from videoperf.serving import predictions as _predictions
from videoperf.serving.request import OPTIONAL_FACTS

__all__ = ["OPTIONAL_FACTS", "predict_many", "predict_performance", "predict_trajectory"]


def predict_performance(title: str, tags: list[str] | None, categories: list[str] | None,
                        duration_seconds: float | None, channel_avg_views: float, channel_video_count: int,
                        model_type: str = "ensemble", *, channel_median_views: float | None = None,
                        published_at: Any = None, days_since_publish: float | None = None,
                        artifacts_dir: str | os.PathLike | None = None, observed: list[dict[str, float]] | None = None,
                        **facts: Any) -> dict[str, Any]:
    """Predicted performance of one video ``days_since_publish`` days after ``published_at``.

    ``channel_avg_views`` / ``channel_video_count``: the channel's average views over its earlier videos and how
    many it has (0 = a new channel); ``channel_median_views`` (optional): their median views, which sets a
    channel-relative bundle's level where a few hits would lift the average. ``published_at``: default now (UTC).
    ``days_since_publish``: default from ``model_config.json``. Optional facts (unknown when absent):
    ``default_language``, ``audio_language``, ``definition`` ("hd" / "sd"), ``caption_available``,
    ``licensed_content``, ``made_for_kids``, ``is_live``, ``on_chart`` (the video is on the trending chart at that
    age: a chart-trained bundle then answers as for its chart's videos; default an ordinary upload).

    Returns ``predicted_views`` with the interval ``views_lo`` / ``views_hi`` (``interval_coverage`` of new
    videos fall inside); the deep model adds its other targets. ``model_age_days``: ``published_at`` minus the
    end of the training data (accuracy by model age: docs/results.md, "Model age and when to retrain").

    ``observed``: a published video's observations so far, any number at any ages, e.g.
    ``[{"days_since_publish": 1.0, "views": 52000, "likes": 1800, "comments": 90}, ...]`` (likes / comments
    optional). The views and interval then come from the lifecycle curve conditioned on them
    (``videoperf.forecasting.forecaster``; never below the last observed views) and the result adds ``observed_used``,
    ``last_observed_days`` / ``last_observed_views``, ``curve_stage``, ``curve_time_to_peak_days``,
    ``forecast_basis`` and the model's own prediction as ``prior_predicted_views`` / ``prior_views_lo`` /
    ``prior_views_hi``. A bundle trained before this existed raises a ``ValueError`` naming ``observed``.
    """
    arguments = dict(title=title, tags=tags, categories=categories, duration_seconds=duration_seconds,
                     channel_avg_views=channel_avg_views, channel_video_count=channel_video_count,
                     channel_median_views=channel_median_views, published_at=published_at,
                     days_since_publish=days_since_publish, observed=observed, **facts)
    return _predictions.predict_one(model_type, arguments, artifacts_dir)


def predict_trajectory(title: str, tags: list[str] | None, categories: list[str] | None,
                       duration_seconds: float | None, channel_avg_views: float, channel_video_count: int,
                       model_type: str = "ensemble", *, channel_median_views: float | None = None,
                       published_at: Any = None, observed: list[dict[str, float]] | None = None,
                       ages: list[float] | None = None, artifacts_dir: str | os.PathLike | None = None,
                       **facts: Any) -> dict[str, Any]:
    """The video's views at each age of ``ages`` (days; default 0.25 ... 365) with the 80% interval and the stage.

    Returns ``points``: ``[{"days_since_publish", "views", "views_lo", "views_hi", "stage"}, ...]`` by age, with
    ``observed_used``, ``basis``, the curve's ``time_to_peak_days`` and, with observations,
    ``last_observed_days`` / ``last_observed_views``. Views never decrease with age and are never below the last
    observed views. Without ``observed`` the points come from one lifecycle curve fitted to the model's
    predictions at the ages its training data covers (``videoperf.serving.family_curve``), so views, stage, time to peak
    and decay agree; the arguments are those of ``predict_performance``.
    """
    arguments = dict(title=title, tags=tags, categories=categories, duration_seconds=duration_seconds,
                     channel_avg_views=channel_avg_views, channel_video_count=channel_video_count,
                     channel_median_views=channel_median_views, published_at=published_at, observed=observed,
                     **facts)
    return _predictions.trajectory(model_type, arguments, ages, artifacts_dir)


def predict_many(calls: list[dict[str, Any]], model_type: str = "ensemble", *,
                 artifacts_dir: str | os.PathLike | None = None) -> list[dict[str, Any] | ValueError]:
    """``predict_performance`` for many calls (dicts of its keyword arguments) in one model pass.

    Item i is what ``predict_performance(**calls[i], model_type=model_type)`` returns (equal up to float
    rounding: the models compute a batch in another order than one row), or the ``ValueError`` it would
    raise; one bad call does not fail the others. The REST service groups concurrent requests this way.
    """
    return _predictions.predict_calls(calls, model_type, artifacts_dir)
