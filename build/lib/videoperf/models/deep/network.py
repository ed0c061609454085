"""Deep multi-task model: a transformer text encoder fused with scaled numeric features, five heads.

``VideoPerformanceNet`` pools the encoded ``"title [SEP] tags [SEP] categories"`` text, joins it with the
standardised numeric features and their missing indicators in a shared MLP, and predicts log views, like ratio,
lifecycle stage, time to peak and decay rate, each on its natural scale (``decode_outputs`` maps back). The
features that move with ``channel_avg_views`` reach the views head only through a monotone gated term, so more
channel views never lower the prediction. Task losses are weighted by learned uncertainties. The checkpoint holds
``model_args`` beside the weights; ``VideoPerformanceNet.load`` rebuilds the model. Why: ``docs/design_notes.md``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from videoperf.lifecycle.targets import STAGES
from videoperf.models.deep.embedding_cache import EmbeddingCache
from videoperf.models.deep.text_encoders import TextEncoder, load_encoder, one_thread_for
from videoperf.models.intervals import ConformalIntervals

logger = logging.getLogger(__name__)

TASKS: tuple[str, ...] = ("log_views", "like_ratio", "lifecycle_stage", "time_to_peak_days", "decay_rate")
# Every numeric feature that moves with ``channel_avg_views`` (``videoperf.features.channel_history`` /
# ``features``), with its direction: +1 rises with it, -1 falls (the gap is mean log views - log average).
DEFAULT_MONOTONE_FEATURES: dict[str, int] = {"channel_log_avg_views": 1, "channel_vs_category": 1,
                                             "channel_avg_vs_tags": 1, "channel_log_gap": -1}
# Surface statistics of the raw title (``features.py``) that change with casing or spacing. The encoder reads
# the normalised title anyway, so leaving them out keeps predictions invariant to casing and whitespace
# whoever builds the numeric features.
SURFACE_FEATURES: tuple[str, ...] = ("title_upper_ratio", "title_chars", "title_non_ascii_ratio", "tags_in_title")
DECAY_SCALE = 0.1
LIKE_RATIO_EPS = 1e-4
NUMERIC_CLIP = 10.0
ENCODER_PREFIX = "text_encoder."
SCALING_BUFFERS = ("numeric_mean", "numeric_scale")


def stage_label_encoder():
    """The sklearn ``LabelEncoder`` of the three stages (fitted on all three, whatever the data holds)."""
    from sklearn.preprocessing import LabelEncoder

    return LabelEncoder().fit(list(STAGES))


def encode_targets(targets: pd.DataFrame, stage_classes: Sequence[str]) -> dict[str, np.ndarray]:
    """Targets on the heads' scales, NaN (stage: -1) where missing. ``targets`` has ``build_targets`` columns."""
    missing = [col for col in TASKS if col not in targets]
    if missing:
        raise ValueError(f"targets: missing column(s) {missing}")
    ratio = pd.to_numeric(targets["like_ratio"], errors="coerce").to_numpy(float)
    ratio = np.clip(ratio, LIKE_RATIO_EPS, 1 - LIKE_RATIO_EPS)
    ttp = pd.to_numeric(targets["time_to_peak_days"], errors="coerce").to_numpy(float)
    index = {label: i for i, label in enumerate(stage_classes)}
    stage = np.array([index.get(label, -1) if isinstance(label, str) else -1 for label in targets["lifecycle_stage"]],
                     dtype=np.int64)
    return {
        "log_views": np.array(pd.to_numeric(targets["log_views"], errors="coerce"), dtype=float),
        "like_ratio": np.log(ratio) - np.log1p(-ratio),
        "lifecycle_stage": stage,
        "time_to_peak_days": np.log1p(np.clip(ttp, 0, None)),
        "decay_rate": np.arcsinh(pd.to_numeric(targets["decay_rate"], errors="coerce").to_numpy(float) / DECAY_SCALE),
    }


class MonotoneScalar(nn.Module):
    """A function of k inputs that is non-decreasing in each: sum of non-negative-weight linear + tanh units."""

    def __init__(self, n_inputs: int, n_units: int = 8) -> None:
        super().__init__()
        self.linear = nn.Parameter(torch.zeros(n_inputs))
        self.scale_in = nn.Parameter(torch.zeros(n_inputs, n_units))
        self.shift = nn.Parameter(torch.linspace(-2, 2, n_units).repeat(n_inputs, 1))
        self.scale_out = nn.Parameter(torch.full((n_inputs, n_units), -3.0))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # softplus keeps every slope >= 0: the derivative in each input is a sum of non-negative terms.
        steps = torch.tanh(F.softplus(self.scale_in) * z.unsqueeze(-1) + self.shift)
        return (F.softplus(self.linear) * z).sum(-1) + (F.softplus(self.scale_out) * steps).sum((-1, -2))


class VideoPerformanceNet(nn.Module):
    """Text encoder + numeric features -> log views, like ratio, stage, time to peak, decay rate."""

    def __init__(self, *, encoder: str, numeric_names: Sequence[str], monotone_features: dict[str, int] | None = None,
                 missing_indicators: Sequence[str] = (), hidden_dim: int = 256, dropout: float = 0.1,
                 stage_classes: Sequence[str] = ("decay", "growth", "peak"), max_text_length: int = 48,
                 trainable_encoder_layers: int = 0, mixed_precision: bool = False, encoder_dim: int | None = None,
                 encoder_fingerprint: str = "", encoder_seed: int = 0) -> None:
        super().__init__()
        monotone_features = dict(monotone_features or {})
        for argument, names in (("monotone_features", monotone_features), ("missing_indicators", missing_indicators)):
            unknown = [name for name in names if name not in numeric_names]
            if unknown:
                raise ValueError(f"{argument}: {unknown} are not among the numeric features")
        if any(sign not in (1, -1) for sign in monotone_features.values()):
            raise ValueError(f"monotone_features: directions must be +1 or -1, got {monotone_features}")
        if sorted(stage_classes) != sorted(STAGES):
            raise ValueError(f"stage_classes: expected {sorted(STAGES)}, got {list(stage_classes)}")
        self.text_encoder: TextEncoder = load_encoder(encoder, max_text_length, mixed_precision, seed=encoder_seed)
        if encoder_dim is not None and encoder_dim != self.text_encoder.dim:
            raise ValueError(f"encoder: {encoder!r} gives {self.text_encoder.dim}-dim embeddings, "
                             f"the checkpoint expects {encoder_dim}")
        self.text_encoder.set_trainable_layers(trainable_encoder_layers)
        self.model_args: dict[str, Any] = {
            "encoder": self.text_encoder.name, "numeric_names": list(numeric_names),
            "monotone_features": {str(k): int(v) for k, v in monotone_features.items()},
            "missing_indicators": list(missing_indicators), "hidden_dim": int(hidden_dim), "dropout": float(dropout),
            "stage_classes": [str(label) for label in stage_classes], "max_text_length": int(max_text_length),
            "trainable_encoder_layers": int(trainable_encoder_layers), "mixed_precision": bool(mixed_precision),
            "encoder_dim": self.text_encoder.dim, "encoder_fingerprint": encoder_fingerprint,
            "encoder_seed": int(encoder_seed)}
        self.stage_classes = [str(label) for label in stage_classes]
        # Log-views intervals, calibrated after training (``fit_deep_model``) and saved beside the weights.
        self.intervals: ConformalIntervals | None = None
        self.numeric_names = list(numeric_names)
        self.monotone_index = [self.numeric_names.index(name) for name in monotone_features]
        self.free_index = [i for i in range(len(self.numeric_names)) if i not in self.monotone_index]
        self.missing_index = [self.numeric_names.index(name) for name in missing_indicators]
        n_free = len(self.free_index) + len(self.missing_index)
        n_mono, dim = len(self.monotone_index), self.text_encoder.dim
        self.register_buffer("monotone_signs", torch.tensor([float(s) for s in monotone_features.values()]))
        self.register_buffer("numeric_mean", torch.zeros(len(self.numeric_names)))
        self.register_buffer("numeric_scale", torch.ones(len(self.numeric_names)))
        self.text_norm = nn.LayerNorm(dim)
        self.text_proj = nn.Linear(dim, hidden_dim)
        self.trunk = nn.Sequential(
            nn.Linear(hidden_dim + n_free, hidden_dim), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout))
        self.dropout = nn.Dropout(dropout)
        self.views_head = nn.Linear(hidden_dim, 1)
        self.views_gate = nn.Linear(hidden_dim, 1)
        self.monotone = MonotoneScalar(n_mono) if n_mono else None
        side = 16 if n_mono else 0
        self.monotone_side = nn.Sequential(nn.Linear(n_mono, side), nn.GELU()) if n_mono else None
        self.like_head = nn.Linear(hidden_dim + side, 1)
        self.stage_head = nn.Linear(hidden_dim + side, len(STAGES))
        self.ttp_head = nn.Linear(hidden_dim + side, 1)
        self.decay_head = nn.Linear(hidden_dim + side, 1)
        # Kendall et al. task log-variances, one per task, in TASKS order.
        self.log_vars = nn.Parameter(torch.zeros(len(TASKS)))

    @property
    def encoder_frozen(self) -> bool:
        return self.model_args["trainable_encoder_layers"] == 0

    def set_numeric_scaling(self, mean: np.ndarray, scale: np.ndarray) -> None:
        """Copy a fitted scaler's ``mean_`` / ``scale_`` (training rows only) into the model."""
        scale = np.where(np.isfinite(scale) & (np.asarray(scale) > 0), scale, 1.0)
        self.numeric_mean.copy_(torch.as_tensor(np.nan_to_num(mean), dtype=torch.float32))
        self.numeric_scale.copy_(torch.as_tensor(scale, dtype=torch.float32))

    def scale_numeric(self, numeric: torch.Tensor) -> torch.Tensor:
        scaled = (numeric - self.numeric_mean) / self.numeric_scale
        return torch.nan_to_num(scaled, nan=0.0, posinf=NUMERIC_CLIP, neginf=-NUMERIC_CLIP).clamp(
            -NUMERIC_CLIP, NUMERIC_CLIP)

    def forward(self, text_embedding: torch.Tensor, numeric: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw head outputs (each task on its loss scale) from pooled text embeddings and unscaled numeric rows."""
        z = self.scale_numeric(numeric)
        # "unknown" (NaN, scaled to the mean) stays distinguishable from "average" through 0/1 indicators.
        missing = torch.isnan(numeric[:, self.missing_index]).float()
        text = self.dropout(F.gelu(self.text_proj(self.text_norm(text_embedding))))
        h = self.trunk(torch.cat([text, z[:, self.free_index], missing], dim=1))
        log_views = self.views_head(h).squeeze(-1)
        side = h
        if self.monotone is not None:
            mono = z[:, self.monotone_index] * self.monotone_signs  # every monotone input now rises with views
            log_views = log_views + F.softplus(self.views_gate(h)).squeeze(-1) * self.monotone(mono)
            side = torch.cat([h, self.monotone_side(mono)], dim=1)
        return {"log_views": log_views, "like_ratio": self.like_head(side).squeeze(-1),
                "lifecycle_stage": self.stage_head(side), "time_to_peak_days": self.ttp_head(side).squeeze(-1),
                "decay_rate": self.decay_head(side).squeeze(-1)}

    def numeric_matrix(self, numeric: np.ndarray | pd.DataFrame) -> np.ndarray:
        """A float32 (n, n_numeric) matrix; a DataFrame is reordered to ``numeric_names`` (missing -> error)."""
        if isinstance(numeric, pd.DataFrame):
            positions = numeric.columns.get_indexer(self.numeric_names)
            missing = [name for name, position in zip(self.numeric_names, positions) if position < 0]
            if missing:
                raise ValueError(f"numeric: missing feature column(s) {missing[:10]}")
            # Columns by position: selecting them by name builds a new frame, slower than the model for one row.
            numeric = numeric.to_numpy(dtype=np.float32, na_value=np.nan)[:, positions]
        numeric = np.array(numeric, dtype=np.float32)  # a writable copy, as torch wants
        if numeric.ndim != 2 or numeric.shape[1] != len(self.numeric_names):
            raise ValueError(f"numeric: expected shape (n, {len(self.numeric_names)}), got {numeric.shape}")
        return numeric

    def embed_texts(self, texts: Sequence[str], cache_dir: str | Path | None = None, batch_size: int = 128,
                    progress: bool = False, *, pretrained: bool | None = None) -> np.ndarray:
        """Pooled text embeddings; through the on-disk cache when a cache_dir is given and the encoder holds its
        pretrained weights (``pretrained``, default: the encoder is frozen; training says so before fine-tuning)."""
        if cache_dir is not None and (self.encoder_frozen if pretrained is None else pretrained):
            return EmbeddingCache(cache_dir, self.text_encoder).embed(texts, batch_size, progress)
        # A batch often repeats texts (one video asked about at several ages or histories): encode each once.
        unique, inverse = np.unique(np.asarray(list(texts), dtype=object), return_inverse=True)
        if len(unique) == len(texts):
            return self.text_encoder.embed(texts, batch_size, progress)
        return self.text_encoder.embed(list(unique), batch_size, progress)[inverse.reshape(-1)]

    @torch.inference_mode()
    def predict(self, texts: Sequence[str], numeric: np.ndarray | pd.DataFrame, *, embeddings: np.ndarray | None = None,
                cache_dir: str | Path | None = None, batch_size: int = 512, progress: bool = False
                ) -> dict[str, np.ndarray]:
        """Predictions on the original scales for video texts (``video_text``) and their numeric feature rows.

        Returns ``log_views``, ``views``, ``like_ratio`` (0..1), ``lifecycle_stage`` (labels),
        ``stage_probabilities`` ((n, 3), columns in ``stage_classes`` order), ``time_to_peak_days`` (>= 0)
        and ``decay_rate`` (per day).
        """
        numeric = self.numeric_matrix(numeric)
        with one_thread_for(len(numeric)):  # a few rows: one intra-op thread (``text_encoders.FEW_TEXTS``)
            return self._predict(texts, numeric, embeddings, cache_dir, batch_size, progress)

    def _predict(self, texts: Sequence[str], numeric: np.ndarray, embeddings: np.ndarray | None,
                 cache_dir: str | Path | None, batch_size: int, progress: bool) -> dict[str, np.ndarray]:
        if embeddings is None:
            if len(texts) != len(numeric):
                raise ValueError(f"texts: {len(texts)} texts for {len(numeric)} numeric rows")
            embeddings = self.embed_texts(texts, cache_dir=cache_dir, progress=progress)
        if len(embeddings) != len(numeric):
            raise ValueError(f"embeddings: {len(embeddings)} rows for {len(numeric)} numeric rows")
        was_training = self.training
        if was_training:  # switching walks every submodule: only when needed (a loaded model is in eval mode)
            self.eval()
        chunks = []
        for start in range(0, len(numeric), batch_size):
            chunks.append(self(torch.as_tensor(embeddings[start: start + batch_size], dtype=torch.float32),
                               torch.as_tensor(numeric[start: start + batch_size])))
        if was_training:
            self.train()
        raw = {task: torch.cat([chunk[task] for chunk in chunks]) if chunks else torch.zeros(0) for task in TASKS}
        if not chunks:
            raw["lifecycle_stage"] = torch.zeros((0, len(STAGES)))
        return decode_outputs(raw, self.stage_classes)

    def save(self, path: str | Path, include_scaling: bool = True) -> Path:
        """Write ``{"model_args", "state_dict", "intervals"}`` atomically; a frozen pretrained encoder is left out.

        ``include_scaling=False`` leaves out the numeric mean / scale too, for a bundle whose
        ``numeric_scaler.pkl`` holds them (``load(path, scaler=...)`` puts them back).
        """
        path = Path(path)
        state = self.state_dict()
        if self.encoder_frozen and self.model_args["encoder"] != "tiny":
            state = {key: value for key, value in state.items() if not key.startswith(ENCODER_PREFIX)}
            self.model_args["encoder_fingerprint"] = self.text_encoder.fingerprint()
        if not include_scaling:
            state = {key: value for key, value in state.items() if key not in SCALING_BUFFERS}
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        intervals = self.intervals.to_dict() if self.intervals is not None else None
        torch.save({"model_args": dict(self.model_args), "state_dict": state, "intervals": intervals}, temp)
        os.replace(temp, path)
        return path

    @classmethod
    def load(cls, path: str | Path, scaler: Any = None) -> VideoPerformanceNet:
        """Rebuild a saved model (``torch.load(weights_only=True)``), in eval mode.

        ``scaler``: the fitted ``StandardScaler`` of the numeric inputs (a bundle's ``numeric_scaler.pkl``); it
        sets the model's input scaling, and a checkpoint saved without one needs it.
        """
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"path: deep model checkpoint {path} does not exist")
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(checkpoint, dict) or not {"model_args", "state_dict"} <= set(checkpoint):
            raise ValueError(f"path: {path} is not a VideoPerformanceNet checkpoint (needs model_args, state_dict)")
        model = cls(**checkpoint["model_args"])
        state = checkpoint["state_dict"]
        stored_encoder = any(key.startswith(ENCODER_PREFIX) for key in state)
        if not stored_encoder:
            expected = checkpoint["model_args"].get("encoder_fingerprint", "")
            if expected and model.text_encoder.fingerprint() != expected:
                raise ValueError(f"path: the encoder {model.model_args['encoder']!r} on this machine differs from "
                                 "the one the checkpoint was trained with (weights hash mismatch)")
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [key for key in missing if (stored_encoder or not key.startswith(ENCODER_PREFIX))
                   and not (scaler is not None and key in SCALING_BUFFERS)]
        if missing or unexpected:
            raise ValueError(f"path: checkpoint {path} does not match the model (missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]})")
        if scaler is not None:
            fitted_on = [str(name) for name in getattr(scaler, "feature_names_in_", [])]
            if fitted_on != model.numeric_names:
                raise ValueError(f"scaler: fitted on {len(fitted_on)} other features than the model's "
                                 f"{len(model.numeric_names)} numeric inputs")
            model.set_numeric_scaling(scaler.mean_, scaler.scale_)
        intervals = checkpoint.get("intervals")
        model.intervals = ConformalIntervals.from_dict(intervals) if intervals else None
        return model.eval()


def decode_outputs(raw: dict[str, torch.Tensor], stage_classes: Sequence[str]) -> dict[str, np.ndarray]:
    """Map head outputs back to the targets' own scales (see the module docstring)."""
    probabilities = torch.softmax(raw["lifecycle_stage"].float(), dim=-1).numpy()
    log_views = raw["log_views"].float().numpy().astype(np.float64)
    labels = np.asarray(stage_classes, dtype=object)
    return {
        "log_views": log_views,
        "views": np.expm1(np.clip(log_views, 0, None)),
        "like_ratio": torch.sigmoid(raw["like_ratio"].float()).numpy().astype(np.float64),
        "lifecycle_stage": labels[probabilities.argmax(1)] if len(probabilities) else labels[:0],
        "stage_probabilities": probabilities.astype(np.float64),
        "time_to_peak_days": np.expm1(np.clip(raw["time_to_peak_days"].float().numpy(), 0, None)).astype(np.float64),
        "decay_rate": (DECAY_SCALE * np.sinh(raw["decay_rate"].float().numpy())).astype(np.float64),
    }
