"""Training orchestration: the shared feature pipeline, then every requested model family.

``train_models(snapshots, settings)`` fits the ``FeatureBuilder`` on the training snapshots and then each model
family of ``settings.models`` (``videoperf.models.registry``: every family's ``fit`` gets the same ``TrainContext``).
The result, ``TrainedModels``, is what ``Bundle.save`` writes and ``evaluation`` predicts with.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

import pandas as pd

from videoperf.config import Config
from videoperf.data.population import training_population
from videoperf.data.sources import data_fingerprint
from videoperf.features.builder import FeatureBuilder, TrainingFeatures, video_table
from videoperf.features.channel_history import ChannelHistory, resolve_views_target
from videoperf.features.content import ContentEncoder
from videoperf.forecasting.forecaster import ObservedForecaster
from videoperf.models.family import TrainContext, TrainSettings
from videoperf.models.registry import FAMILIES
from videoperf.models.survivors import SurvivorAges

logger = logging.getLogger(__name__)


def prepare_snapshots(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Snapshots sorted by video and time with a fresh index (the order ``build_targets`` returns), without the
    rows whose views are only relative (``views_anchored`` False: daily reports tied to no total, whose level is
    unknown), which neither train nor score a model of views."""
    if "views_anchored" in snapshots and (relative := snapshots["views_anchored"].eq(False)).any():
        logger.warning("%d snapshot(s) of %d video(s) have relative views (daily reports tied to no total view "
                       "count): left out", int(relative.sum()), snapshots.loc[relative, "video_id"].nunique())
        snapshots = snapshots[~relative]
    return snapshots.sort_values(["video_id", "observed_at"], kind="stable").reset_index(drop=True)


@dataclass
class TrainedModels:
    """The result of ``train_models``: the fitted features, the fitted families and their reports."""

    features: FeatureBuilder
    training: TrainingFeatures       # point-in-time features and channel history of the training rows (not saved)
    models: dict[str, object]
    reports: dict[str, dict[str, object]]
    settings: TrainSettings
    fingerprint: dict[str, object]
    seconds: float = 0.0
    population: dict[str, object] | None = None  # ``population.training_population`` of the training data
    observed: object | None = None   # ``forecasting.ObservedForecaster`` (None: too few series to fit one)
    survivors: SurvivorAges | None = None  # how a chart's survivors are read for ordinary uploads (chart data only)

    @property
    def history(self) -> ChannelHistory:
        """The channel history of the training snapshots (frozen at the training cut)."""
        return self.training.history

    @property
    def seed(self) -> int:
        """The seed training used."""
        return self.settings.seed

    @property
    def speed(self) -> str:
        return self.settings.speed

    @property
    def config(self) -> Config:
        return self.settings.config


def train_models(snapshots: pd.DataFrame, settings: TrainSettings, *, observed_forecaster: bool = True
                 ) -> TrainedModels:
    """Fit the shared feature pipeline and every model family of ``settings`` on training snapshots, and the
    forecaster from observed days that a bundle carries (``observed_forecaster=False``: not wanted, as in a
    backtest that scores the models alone)."""
    start = time.perf_counter()
    population = training_population(snapshots)  # before anything that could drop the load report
    settings = with_views_target(settings, str(population["name"]))
    snapshots = prepare_snapshots(snapshots)
    fingerprint = data_fingerprint(snapshots)
    logger.info("training on %d snapshots of %d videos (%s preset)", len(snapshots), fingerprint["videos"],
                settings.speed)
    videos, _ = video_table(snapshots)
    content = ContentEncoder(settings.preset.features, settings.seed).fit(videos)
    features = FeatureBuilder(settings.preset.features, settings.seed)
    training = features.fit_training(snapshots, content=content)
    ctx = TrainContext(snapshots, settings, features, training, content)
    fitted, reports = {}, {}
    for name in settings.models:
        fitted[name], reports[name] = FAMILIES[name].fit(ctx)
    observed = fit_observed(ctx) if observed_forecaster else None
    survivors = (SurvivorAges.fit(snapshots, coverage=settings.config.prediction.interval_coverage)
                 if population["name"] == "trending_chart" else None)
    return TrainedModels(features, training, fitted, reports, settings, fingerprint,
                         round(time.perf_counter() - start, 1), population, observed, survivors)


def with_views_target(settings: TrainSettings, population: str) -> TrainSettings:
    """``settings`` with ``training.views_target`` resolved for the training data's population (``auto``)."""
    training = settings.config.training
    target = resolve_views_target(training.views_target, population)
    if target == training.views_target:
        return settings
    config = dataclasses.replace(settings.config, training=dataclasses.replace(training, views_target=target))
    return dataclasses.replace(settings, config=config)


def fit_observed(ctx: TrainContext) -> ObservedForecaster | None:
    """The forecaster from observed days (``videoperf.forecasting.forecaster``) on the training videos' series; None
    (and a warning) when they are too few to fit it, so that such a bundle predicts as before and refuses
    ``observed=``."""
    start = time.perf_counter()
    try:
        forecaster = ObservedForecaster(coverage=ctx.settings.config.prediction.interval_coverage,
                                        seed=ctx.settings.seed).fit(ctx.snapshots, ctx.training.history)
    except ValueError as error:
        logger.warning("no forecaster from observed days: %s", error)
        return None
    logger.info("forecaster from observed days fitted on %d videos in %.1f s", forecaster.n_videos_,
                time.perf_counter() - start)
    return forecaster
