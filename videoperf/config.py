"""Typed configuration read from ``model_config.json``.

Every tunable number of the pipeline lives in that file. It is read into frozen dataclasses so a typo
fails loudly: an unknown key, a missing key or a value of the wrong type raises ``ValueError`` naming
the dotted path of the offending key (``presets.fast.ensemble.lightgbm``), never a warning.

The speed presets are written as one complete ``base_preset`` and, under ``presets``, what each speed changes
in it (nested objects merge key by key), so the file shows how ``fast``, ``balanced`` and ``full`` differ;
``Config.presets`` holds them resolved.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
# Configured relative paths (artifacts, cache, outputs) live in the checkout when the package runs from one
# (an editable install), else in the working folder: an installed package's folder is no place for them.
PROJECT_ROOT = PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").is_file() else Path.cwd()
DEFAULT_CONFIG_PATH = PACKAGE_DIR / "model_config.json"
SPEEDS = ("fast", "balanced", "full")


@dataclass(frozen=True)
class PathsConfig:
    artifacts_dir: str
    cache_dir: str
    outputs_dir: str


@dataclass(frozen=True)
class DataConfig:
    n_synthetic_videos: int
    synthetic_seed: int
    # The simulator's last publishing day (YYYY-MM-DD); null: today (UTC), so that a model trained on the
    # simulation is as fresh as one trained on a new export.
    synthetic_end: str | None = None

    def __post_init__(self) -> None:
        if self.synthetic_end is not None:
            try:
                date.fromisoformat(self.synthetic_end)
            except ValueError:
                raise ValueError(f"data.synthetic_end: expected a YYYY-MM-DD date or null, got "
                                 f"{self.synthetic_end!r}") from None


@dataclass(frozen=True)
class PredictionConfig:
    default_days_since_publish: float
    interval_coverage: float
    # A prediction for a video published further past the training data than this logs a warning: the
    # rolling-origin backtest (benchmarks/backtest.py) measured accuracy up to three months ahead.
    backtested_model_age_days: float


@dataclass(frozen=True)
class ValidationConfig:
    n_splits: int
    min_train_fraction: float


@dataclass(frozen=True)
class TrainingConfig:
    # A training video weighs 0.5 ** (days it was published before the training cut / half-life) in every learner's
    # fit (the deep model: in its row sampling); 0 = all videos alike, the default: on the rolling-origin backtest
    # 60 days helped the ensemble at one origin and hurt it at another (benchmarks/results/backtest_fast_recency).
    recency_half_life_days: float
    # What the views head learns: ``absolute`` log views, ``channel_relative``: log views minus the channel's as-of
    # level (``channel_history.channel_level``), which carries from the trending chart's sample to a channel's
    # whole uploads, or ``auto`` (default): relative for a trending chart, absolute for channel uploads
    # (``channel_history.resolve_views_target``; the reasons in docs/your_channel.md).
    views_target: str = "auto"


@dataclass(frozen=True)
class FeatureConfig:
    tfidf_max_features: int
    title_svd_components: int
    tag_svd_components: int
    min_document_frequency: int
    max_categories: int
    max_languages: int
    target_encoding_smoothing: float
    channel_stats_mask_fraction: float
    month_min_span_days: int  # month of year is a feature only when the training videos span this many days
    # Feature families (``videoperf.features.builder.FEATURE_FAMILIES``) computed but given to no model: the
    # rolling-origin backtest showed the target encodings drifting (better without them two and three months ahead).
    excluded_families: tuple[str, ...]


@dataclass(frozen=True)
class EnsembleConfig:
    max_train_rows: int
    # Base learners the stack fits (names of ``videoperf.models.ensemble.stacking.LEARNERS``): ``fast`` fits the two the
    # five-learner stack weighted most (fewer trees to walk for every predicted row); ``balanced`` and ``full`` all.
    learners: tuple[str, ...]
    xgboost: dict[str, Any]
    lightgbm: dict[str, Any]
    catboost: dict[str, Any]
    hist_gradient_boosting: dict[str, Any]
    random_forest: dict[str, Any]
    ridge_alpha: float


@dataclass(frozen=True)
class DeepConfig:
    """The deep multi-task model (``videoperf.models.deep.network`` / ``videoperf.models.deep.training``).

    ``encoder``: "minilm", "tiny", "auto" or a local Hugging Face folder; ``trainable_encoder_layers``: 0 keeps
    the encoder frozen with cached embeddings, n fine-tunes the top n layers, -1 (or >= depth) everything,
    for ``finetune_epochs`` after the frozen phase's ``epochs``; ``max_minutes`` bounds the whole fit;
    ``mixed_precision``: bfloat16 autocast for the encoder where the CPU supports it (about 2x faster).
    """

    encoder: str
    max_train_rows: int
    max_text_length: int
    trainable_encoder_layers: int
    hidden_dim: int
    dropout: float
    epochs: int
    batch_size: int
    learning_rate: float
    encoder_learning_rate: float
    weight_decay: float
    patience: int
    max_minutes: float
    finetune_epochs: int
    validation_fraction: float
    embedding_batch_size: int
    mixed_precision: bool


@dataclass(frozen=True)
class PresetConfig:
    features: FeatureConfig
    ensemble: EnsembleConfig
    deep: DeepConfig


@dataclass(frozen=True)
class Config:
    seed: int
    paths: PathsConfig
    data: DataConfig
    prediction: PredictionConfig
    validation: ValidationConfig
    training: TrainingConfig
    presets: dict[str, PresetConfig] = field(default_factory=dict)

    def preset(self, speed: str) -> PresetConfig:
        """The settings of one speed preset; ``ValueError`` for an unknown name."""
        if speed not in self.presets:
            raise ValueError(f"speed: unknown preset {speed!r}; choose one of {sorted(self.presets)}")
        return self.presets[speed]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    """Validate (and lightly coerce int -> float) one value against a type annotation."""
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
        _, value_type = typing.get_args(annotation)
        return {key: _check_type(item, value_type, f"{where}.{key}") for key, item in value.items()}
    if origin is tuple:  # a JSON list of one type: tuple[X, ...]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
        item_type = typing.get_args(annotation)[0]
        return tuple(_check_type(item, item_type, f"{where}[{i}]") for i, item in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            try:
                return _check_type(value, option, where)
            except ValueError:
                continue
        raise ValueError(f"{where}: {value!r} does not match {annotation}")
    if annotation is Any:
        return value
    if annotation is type(None):
        if value is not None:
            raise ValueError(f"{where}: expected null")
        return value
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation in (int, float) and isinstance(value, bool):
        raise ValueError(f"{where}: expected {annotation.__name__}, got a boolean")
    if not isinstance(value, annotation):
        raise ValueError(f"{where}: expected {annotation.__name__}, got {type(value).__name__} {value!r}")
    return value


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'config'}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where or 'config'}: unknown key(s) {unknown}; allowed: {sorted(names)}")
    missing = sorted(f.name for f in dataclasses.fields(cls) if f.name not in data and f.default is dataclasses.MISSING
                     and f.default_factory is dataclasses.MISSING)
    if missing:
        raise ValueError(f"{where or 'config'}: missing key(s) {missing}")
    kwargs = {name: _check_type(value, hints[name], f"{where}.{name}" if where else name)
              for name, value in data.items()}
    return cls(**kwargs)


def _merge(base: dict[str, Any], override: Any, where: str) -> dict[str, Any]:
    """``base`` with ``override`` laid over it, nested objects key by key (what a speed preset changes)."""
    if not isinstance(override, dict):
        raise ValueError(f"{where}: expected an object, got {type(override).__name__}")
    out = dict(base)
    for key, value in override.items():
        out[key] = (_merge(base[key], value, f"{where}.{key}") if isinstance(base.get(key), dict)
                    else value)
    return out


def config_from_dict(data: dict[str, Any]) -> Config:
    """Build a validated ``Config`` from a plain dict (the parsed JSON): each speed preset is ``base_preset``
    with that speed's overrides."""
    if not isinstance(data, dict):
        raise ValueError(f"config: expected an object, got {type(data).__name__}")
    data = dict(data)
    if "base_preset" not in data:
        raise ValueError("config: missing key(s) ['base_preset'] (the preset every speed starts from)")
    base = data.pop("base_preset")
    if not isinstance(base, dict):
        raise ValueError(f"base_preset: expected an object, got {type(base).__name__}")
    if isinstance(data.get("presets"), dict):
        data["presets"] = {speed: _merge(base, override, f"presets.{speed}")
                           for speed, override in data["presets"].items()}
    config = _build(Config, data, "")
    missing = [speed for speed in SPEEDS if speed not in config.presets]
    if missing:
        raise ValueError(f"presets: missing speed preset(s) {missing}")
    return config


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate ``model_config.json`` (or another file in the same schema)."""
    path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    if not path.is_file():
        raise ValueError(f"config path: {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"config path: {path} is not valid JSON ({error})") from error
    return config_from_dict(data)


def chosen_path(given: str | Path | None, configured: str | Path) -> Path:
    """The path a caller gave (relative to the working folder), else the configured one (``resolve_path``)."""
    return Path(given).expanduser() if given is not None else resolve_path(configured)


def resolve_path(path: str | Path) -> Path:
    """A configured relative path is relative to the project root, not the working directory."""
    path = Path(path)
    return path if path.is_absolute() else PROJECT_ROOT / path
