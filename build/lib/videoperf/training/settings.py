"""The settings of one training run, resolved once at its entry point and passed down.

``resolve(speed, models, seed, config)`` checks every choice (an unknown speed or model family is a ``ValueError``
naming the argument) and returns a frozen ``TrainSettings``: the configuration, the speed preset it selects, the
model families, the seed actually used (``config.seed`` unless one is given) and whether to show progress.
Everything below the entry points (``pipeline.train_models``, each family's ``fit``, ``Bundle.save``) reads this
one object, and ``manifest()`` is what the bundle records as used.
"""

from __future__ import annotations

from collections.abc import Sequence

from videoperf.config import Config, load_config
from videoperf.models.family import TrainSettings
from videoperf.models.registry import check_models


def resolve(speed: str = "fast", models: Sequence[str] | str = ("ensemble",), seed: int | None = None,
            config: Config | None = None, progress: bool = True) -> TrainSettings:
    """Check and resolve a run's choices once; ``config`` default: ``model_config.json``."""
    config = config if config is not None else load_config()
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed: must be an integer, got {seed!r}")
    return TrainSettings(config=config, speed=speed, preset=config.preset(speed), models=check_models(models),
                         seed=config.seed if seed is None else seed, progress=bool(progress))
