"""Training of ``VideoPerformanceNet``: sampling, time-ordered early stopping, masked multi-task loss.

``fit_deep_model(rows, numeric, config)`` takes one row per training observation (``training_rows``:
the snapshot columns joined with the ``build_targets`` columns, the stage as of each observation) and its
numeric feature matrix (pre-publication features + age as the horizon, e.g. ``FeatureBuilder`` output),
and returns the trained model, the fitted numeric scaler and stage encoder (for ``numeric_scaler.pkl`` /
``stage_encoder.pkl``) and the per-epoch history (``train_*`` / ``valid_*`` loss per task, for plots).

* Sampling: at most ``max_train_rows`` rows, drawn without replacement with probability proportional to
  1 / (rows of the video), so every video weighs about the same, as in evaluation (one row per video),
  and the rows spread over as many videos (texts) as possible.
* Validation: the latest-published ``validation_fraction`` of the sampled videos (time-ordered, whole
  videos), never trained on; early stopping on its joint loss (the uncertainty-weighted negative
  log-likelihood), best epoch restored, ``patience`` epochs without improvement stop, and so does the
  ``max_minutes`` budget of the whole fit, embedding included (checked after every batch; the first
  epoch always completes).
* Two phases ("linear probing then fine-tuning", Kumar et al., 2022). Phase 1 (every preset): the encoder
  is frozen, each distinct text is embedded once (``EmbeddingCache`` under ``cache_dir``, shared across
  runs and presets) and only the fusion MLP and heads train, ``epochs`` at most, at ``learning_rate``.
  That is the whole of the fast preset. Phase 2 (``trainable_encoder_layers != 0``): the top layers
  (-1: all) are unfrozen and everything trains at ``encoder_learning_rate`` for ``finetune_epochs`` at
  most. Starting the fine-tuning from trained heads keeps random-head gradients from distorting the
  pretrained features, and since the best validation state over both phases is kept, fine-tuning can
  only replace the frozen model when it does better on the validation fold.
* Reproducible from ``seed``: row sampling, initialisation, shuffling and dropout all derive from it.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from videoperf.config import DeepConfig
from videoperf.lifecycle.targets import build_targets
from videoperf.models.deep.network import (
    DEFAULT_MONOTONE_FEATURES,
    SURFACE_FEATURES,
    TASKS,
    VideoPerformanceNet,
    encode_targets,
    stage_label_encoder,
)
from videoperf.models.deep.text_encoders import video_texts
from videoperf.models.intervals import ConformalIntervals, interval_groups
from videoperf.progress import progress as progress_bar

logger = logging.getLogger(__name__)

# Kendall et al.: how each task's likelihood turns a loss L and log-variance s into a term.
_GAUSSIAN, _LAPLACE, _CATEGORICAL = "gaussian", "laplace", "categorical"
TASK_LIKELIHOOD = {"log_views": _GAUSSIAN, "like_ratio": _LAPLACE, "lifecycle_stage": _CATEGORICAL,
                   "time_to_peak_days": _LAPLACE, "decay_rate": _LAPLACE}
ROW_COLUMNS = ("video_id", "published_at", "title", "tags", "categories")
KEYS = ["video_id", "observed_at"]
AS_OF_TARGETS = ("like_ratio", "lifecycle_stage", "time_to_peak_days", "decay_rate")
# The five task log-variances are nuisance parameters that should track the current losses: at the heads'
# learning rate they lag by many epochs, and the validation total then mostly measures their drift.
LOG_VAR_LR_SCALE = 10.0


@dataclass
class DeepFitResult:
    """What ``fit_deep_model`` returns; ``history`` has one dict per epoch (for loss-curve plots)."""

    model: VideoPerformanceNet
    numeric_scaler: Any
    stage_encoder: Any
    history: list[dict[str, float]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def as_of_targets(snapshots: pd.DataFrame) -> pd.DataFrame:
    """The lifecycle targets each observation gets when its video's series ends there, in row order.

    ``build_targets`` labels an observation with hindsight: a peak is confirmed by later, lower points, the
    time to peak may lie after the observation, the like ratio is the one at the video's last observation.
    A prediction is for "now" (an age), and evaluation scores each test video at its last observation,
    where hindsight and as-of coincide. So the model learns the as-of targets: for every observation, the
    ``build_targets`` output (the lifecycle rules themselves) of the series truncated at it. Then the
    stage is ``growth`` (no confirmed peak yet) or ``decay`` (past one), never ``peak`` (which only a later
    point can confirm); time to peak is known only once the peak is confirmed (and is <= the age); the
    decay rate is fitted on the points so far; the like ratio is the current one. Columns:
    ``AS_OF_TARGETS``.
    """
    snaps = snapshots.reset_index(drop=True)
    order = snaps.sort_values(KEYS, kind="stable").index.to_numpy()
    grouped = snaps.loc[order].groupby("video_id", sort=False)
    position = pd.Series(grouped.cumcount().to_numpy(), index=order).sort_index().to_numpy()
    length = pd.Series(grouped["video_id"].transform("size").to_numpy(), index=order).sort_index().to_numpy()
    out = pd.DataFrame({col: np.full(len(snaps), np.nan) for col in AS_OF_TARGETS})
    out["lifecycle_stage"] = pd.Series([None] * len(snaps), dtype=object)
    for k in range(1, int(length.max(initial=0)) + 1):
        part = snaps[(position < k) & (length >= k)]
        # tail(1), not last(): last() would skip a missing value and return an earlier observation's.
        last = build_targets(part).groupby("video_id", sort=False).tail(1).set_index("video_id")
        at_k = np.flatnonzero(position == k - 1)
        values = last.reindex(snaps["video_id"].iloc[at_k])
        for col in AS_OF_TARGETS:
            out.loc[at_k, col] = values[col].to_numpy()
    return out


def training_rows(snapshots: pd.DataFrame) -> pd.DataFrame:
    """Snapshot rows (same order, fresh index) joined with their targets, ready for ``fit_deep_model``.

    The lifecycle targets are the as-of ones (``as_of_targets``); the hindsight ones of ``build_targets``
    are kept as ``<target>_hindsight``. Row ``i`` is row ``i`` of ``snapshots``, so positions chosen here
    (e.g. by ``sample_rows``) are the ``rows`` of ``FeatureBuilder.fit_transform(snapshots, rows)``.
    """
    snaps = snapshots.reset_index(drop=True)
    targets = build_targets(snaps).drop(columns=["views"])
    rows = snaps.merge(targets, on=KEYS, how="left", validate="one_to_one")
    as_of = as_of_targets(snaps)
    for col in AS_OF_TARGETS:
        rows[f"{col}_hindsight"] = rows[col]
        rows[col] = as_of[col].to_numpy()
    return rows


def task_losses(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per-task mean loss over the rows whose target is known (MSE, L1 or cross-entropy); 0 when none is."""
    losses = {}
    for task in TASKS:
        target, output = targets[task], outputs[task]
        known = target >= 0 if task == "lifecycle_stage" else torch.isfinite(target)
        if not bool(known.any()):
            losses[task] = output.sum() * 0.0  # keeps the graph, contributes nothing
            continue
        # Index the known rows first: a NaN target must never enter the arithmetic (NaN * 0 is NaN).
        if task == "lifecycle_stage":
            losses[task] = F.cross_entropy(output[known], target[known])
        elif TASK_LIKELIHOOD[task] == _GAUSSIAN:
            losses[task] = F.mse_loss(output[known], target[known])
        else:
            losses[task] = F.l1_loss(output[known], target[known])
    return losses


def weighted_total(losses: dict[str, torch.Tensor], log_vars: torch.Tensor,
                   present: dict[str, bool]) -> torch.Tensor:
    """The uncertainty-weighted sum (Kendall et al.) over the tasks present in the batch."""
    total = log_vars.sum() * 0.0
    for i, task in enumerate(TASKS):
        if not present[task]:
            continue
        s = log_vars[i].clamp(-6.0, 6.0)
        if TASK_LIKELIHOOD[task] == _LAPLACE:
            total = total + torch.exp(-s) * losses[task] + s
        else:  # Gaussian: 0.5 exp(-s) MSE + 0.5 s; categorical (Kendall's approximation): exp(-s) CE + 0.5 s
            scale = 0.5 if TASK_LIKELIHOOD[task] == _GAUSSIAN else 1.0
            total = total + scale * torch.exp(-s) * losses[task] + 0.5 * s
    return total


def sample_rows(video_ids: np.ndarray, max_rows: int, seed: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Sorted positions of at most ``max_rows`` rows, weight 1 / (rows of the video) times ``weights`` (e.g.
    recency), without replacement."""
    n = len(video_ids)
    if n <= max_rows:
        return np.arange(n)
    codes, counts = np.unique(video_ids, return_inverse=True, return_counts=True)[1:]
    weight = 1.0 / counts[codes]
    if weights is not None:
        weight = weight * np.asarray(weights, dtype=float)
    # Efraimidis-Spirakis: the max_rows largest u^(1/w) are a weighted sample without replacement.
    keys = np.log(np.random.default_rng(seed).random(n)) / weight
    return np.sort(np.argpartition(-keys, max_rows - 1)[:max_rows])


def time_ordered_split(rows: pd.DataFrame, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions of (train, validation): validation = the latest-published ``fraction`` of the videos."""
    published = rows.groupby("video_id", sort=False)["published_at"].min()
    order = published.reset_index().sort_values(["published_at", "video_id"], kind="stable")["video_id"]
    n_valid = int(round(len(order) * fraction)) if len(order) > 4 else 0
    valid_ids = set(order.iloc[len(order) - n_valid:]) if n_valid else set()
    is_valid = rows["video_id"].isin(valid_ids).to_numpy()
    return np.flatnonzero(~is_valid), np.flatnonzero(is_valid)


def _numeric_frame(numeric: np.ndarray | pd.DataFrame, names: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    if isinstance(numeric, pd.DataFrame):
        names = list(numeric.columns) if names is None else list(names)
        return numeric[names].to_numpy(dtype=np.float32, na_value=np.nan), [str(name) for name in names]
    matrix = np.asarray(numeric, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"numeric: expected a 2-D matrix, got shape {matrix.shape}")
    names = [f"x{i}" for i in range(matrix.shape[1])] if names is None else [str(name) for name in names]
    if len(names) != matrix.shape[1]:
        raise ValueError(f"numeric_names: {len(names)} names for {matrix.shape[1]} columns")
    return matrix, names


def fit_deep_model(rows: pd.DataFrame, numeric: np.ndarray | pd.DataFrame, config: DeepConfig, *,
                   numeric_names: Sequence[str] | None = None, monotone_features: dict[str, int] | None = None,
                   exclude_features: Sequence[str] = SURFACE_FEATURES, seed: int = 42,
                   cache_dir: str | Path | None = None, progress: bool = True, coverage: float = 0.8
                   ) -> DeepFitResult:
    """Train a ``VideoPerformanceNet`` on training rows and their numeric features (see the module docstring).

    ``monotone_features`` ({name: +1 or -1}) default: the ``DEFAULT_MONOTONE_FEATURES`` found among the numeric
    ones (what ``channel_avg_views`` feeds). Columns with missing values in training get missing indicators.
    ``exclude_features`` (default: the casing/spacing-sensitive title statistics) are not model inputs.
    ``coverage``: of the log-views interval, calibrated on the validation videos (the latest published).
    """
    from sklearn.preprocessing import StandardScaler

    missing = [col for col in (*ROW_COLUMNS, *TASKS) if col not in rows]
    if missing:
        raise ValueError(f"rows: missing column(s) {missing}")
    matrix, names = _numeric_frame(numeric, numeric_names)
    used = [i for i, name in enumerate(names) if name not in set(exclude_features)]
    matrix, names = matrix[:, used], [names[i] for i in used]
    if len(matrix) != len(rows):
        raise ValueError(f"numeric: {len(matrix)} rows for {len(rows)} training rows")
    if monotone_features is None:
        monotone_features = {name: DEFAULT_MONOTONE_FEATURES[name] for name in names
                             if name in DEFAULT_MONOTONE_FEATURES}
        if not monotone_features:
            logger.warning("no channel-views feature among the numeric ones: no monotone direction constraint")
    started = time.perf_counter()
    torch.manual_seed(seed)
    rows = rows.reset_index(drop=True)
    keep = sample_rows(rows["video_id"].to_numpy(), config.max_train_rows, seed)
    rows_given = len(rows)
    rows, matrix = rows.iloc[keep].reset_index(drop=True), matrix[keep]
    train_pos, valid_pos = time_ordered_split(rows, config.validation_fraction)

    # Training rows only (NaNs are ignored by the fit); fitted on a frame so it records its feature names.
    scaler = StandardScaler().fit(pd.DataFrame(matrix[train_pos], columns=names))
    stage_encoder = stage_label_encoder()
    model = VideoPerformanceNet(
        encoder=config.encoder, numeric_names=names, monotone_features=monotone_features,
        missing_indicators=[name for i, name in enumerate(names) if np.isnan(matrix[:, i]).any()],
        hidden_dim=config.hidden_dim, dropout=config.dropout, stage_classes=list(stage_encoder.classes_),
        max_text_length=config.max_text_length, trainable_encoder_layers=config.trainable_encoder_layers,
        mixed_precision=config.mixed_precision, encoder_seed=seed)
    model.set_numeric_scaling(scaler.mean_, scaler.scale_)
    targets = encode_targets(rows, model.stage_classes)
    _init_head_biases(model, {task: values[train_pos] for task, values in targets.items()})

    texts = video_texts(rows)
    embed_started = time.perf_counter()
    # Phase 1 always trains on the frozen pretrained encoder's (cached) embeddings; see the module docstring.
    embeddings = torch.as_tensor(model.embed_texts(texts, cache_dir, config.embedding_batch_size, progress,
                                                   pretrained=True))
    embed_seconds = time.perf_counter() - embed_started
    numeric_tensor = torch.as_tensor(matrix)
    loop = _Loop(model, numeric_tensor, targets, train_pos, valid_pos, config, seed, progress,
                 deadline=started + 60.0 * config.max_minutes)
    loop.run(embeddings, _optimizer(model, config.learning_rate, config.weight_decay, encoder=False),
             config.epochs, "frozen")
    if not model.encoder_frozen and config.finetune_epochs > 0 and not loop.out_of_time:
        loop.restore_best()  # fine-tune from the best frozen-phase state, not from its last (overfitted) epoch
        unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        tokens = (model.text_encoder.token_ids(list(unique)), inverse)
        loop.run(tokens, _optimizer(model, config.encoder_learning_rate, config.weight_decay, encoder=True),
                 config.finetune_epochs, "finetune")
    loop.restore_best()
    model.intervals = _calibrate_intervals(model, texts, embeddings, matrix, names, targets["log_views"], valid_pos,
                                           coverage, fine_tuned=loop.best_phase == "finetune")
    info = {"epochs_run": len(loop.history), "best_epoch": loop.best_epoch, "best_phase": loop.best_phase,
            "best_valid_total": loop.best_score, "stopped": loop.stopped,
            "rows_given": int(rows_given), "rows_used": int(len(rows)),
            "train_rows": int(len(train_pos)), "valid_rows": int(len(valid_pos)),
            "train_videos": int(rows["video_id"].iloc[train_pos].nunique()),
            "valid_videos": int(rows["video_id"].iloc[valid_pos].nunique()),
            "embedding_seconds": round(embed_seconds, 2), "seconds": round(time.perf_counter() - started, 2),
            "monotone_features": dict(monotone_features), "encoder": model.model_args["encoder"]}
    return DeepFitResult(model.eval(), scaler, stage_encoder, loop.history, info)


def _calibrate_intervals(model: VideoPerformanceNet, texts: list[str], embeddings: torch.Tensor, matrix: np.ndarray,
                         names: list[str], log_views: np.ndarray, valid_pos: np.ndarray, coverage: float,
                         fine_tuned: bool) -> ConformalIntervals | None:
    """Conformal log-views intervals from the validation videos' residuals (None without validation rows).

    The validation videos are the latest published of the training data, so they are the most recent block:
    their residuals are what the model does on videos after everything it was fitted on.
    """
    known = valid_pos[np.isfinite(log_views[valid_pos])]
    if len(known) == 0:
        return None
    # After fine-tuning the cached frozen embeddings no longer match the encoder.
    emb = None if fine_tuned else embeddings[known].numpy()
    predicted = model.predict([texts[i] for i in known], matrix[known], embeddings=emb)["log_views"]
    groups = interval_groups(pd.DataFrame(matrix[known], columns=names))
    return ConformalIntervals(coverage).fit(log_views[known] - predicted, groups)


def _init_head_biases(model: VideoPerformanceNet, targets: dict[str, np.ndarray]) -> None:
    """Start each regression head at its training mean / median and the stage head at the class priors."""
    with torch.no_grad():
        for task, head, centre in (("log_views", model.views_head, np.nanmean),
                                   ("like_ratio", model.like_head, np.nanmedian),
                                   ("time_to_peak_days", model.ttp_head, np.nanmedian),
                                   ("decay_rate", model.decay_head, np.nanmedian)):
            values = targets[task][np.isfinite(targets[task])]
            if len(values):
                head.bias.fill_(float(centre(values)))
        stages = targets["lifecycle_stage"][targets["lifecycle_stage"] >= 0]
        if len(stages):
            prior = np.bincount(stages, minlength=len(model.stage_classes)) + 1.0
            model.stage_head.bias.copy_(torch.as_tensor(np.log(prior / prior.sum()), dtype=torch.float32))


def _batch_embeddings(model: VideoPerformanceNet, text_input: Any, index: np.ndarray) -> torch.Tensor:
    if isinstance(text_input, torch.Tensor):
        return text_input[index]
    token_ids, inverse = text_input
    return model.text_encoder(*model.text_encoder.pad([token_ids[i] for i in inverse[index]]))


def _tensors(targets: dict[str, np.ndarray], index: np.ndarray) -> dict[str, torch.Tensor]:
    return {task: torch.as_tensor(values[index]) if task == "lifecycle_stage"
            else torch.as_tensor(values[index], dtype=torch.float32) for task, values in targets.items()}


def _present(batch_targets: dict[str, torch.Tensor]) -> dict[str, bool]:
    return {task: bool((value >= 0).any()) if task == "lifecycle_stage" else bool(torch.isfinite(value).any())
            for task, value in batch_targets.items()}


def _optimizer(model: VideoPerformanceNet, learning_rate: float, weight_decay: float,
               encoder: bool) -> torch.optim.Optimizer:
    """AdamW over the fusion network and heads (+ the encoder's trainable layers when ``encoder``)."""
    encoder_ids = {id(p) for p in model.text_encoder.parameters()}
    heads = [p for name, p in model.named_parameters()
             if id(p) not in encoder_ids and name != "log_vars" and p.requires_grad]
    if encoder:
        heads += [p for p in model.text_encoder.parameters() if p.requires_grad]
    return torch.optim.AdamW([
        {"params": heads, "lr": learning_rate, "weight_decay": weight_decay},
        {"params": [model.log_vars], "lr": learning_rate * LOG_VAR_LR_SCALE, "weight_decay": 0.0}])


@torch.no_grad()
def _evaluate(model: VideoPerformanceNet, text_input: Any, numeric: torch.Tensor, targets: dict[str, np.ndarray],
              index: np.ndarray, batch_size: int) -> dict[str, float]:
    """Mean per-task losses and the joint weighted loss over ``index`` (batch means weighted by known rows)."""
    model.eval()
    sums = dict.fromkeys(TASKS, 0.0)
    counts = dict.fromkeys(TASKS, 0)
    for start in range(0, len(index), batch_size):
        batch = index[start: start + batch_size]
        target = _tensors(targets, batch)
        outputs = model(_batch_embeddings(model, text_input, batch), numeric[batch])
        losses = task_losses(outputs, target)
        for task in TASKS:
            known = int((target[task] >= 0).sum() if task == "lifecycle_stage" else torch.isfinite(target[task]).sum())
            sums[task] += float(losses[task]) * known
            counts[task] += known
    means = {task: sums[task] / counts[task] if counts[task] else math.nan for task in TASKS}
    present = {task: counts[task] > 0 for task in TASKS}
    total = weighted_total({task: torch.tensor(0.0 if math.isnan(value) else value) for task, value in means.items()},
                           model.log_vars, present)
    return {"total": float(total), **means}


class _Loop:
    """Epochs with early stopping on the validation joint loss; the best state over all phases wins."""

    def __init__(self, model: VideoPerformanceNet, numeric: torch.Tensor, targets: dict[str, np.ndarray],
                 train_pos: np.ndarray, valid_pos: np.ndarray, config: DeepConfig, seed: int, progress: bool,
                 deadline: float) -> None:
        self.model, self.numeric, self.targets = model, numeric, targets
        self.train_pos, self.valid_pos, self.config, self.progress = train_pos, valid_pos, config, progress
        self.generator = torch.Generator().manual_seed(seed)
        self.deadline = deadline
        self.history: list[dict[str, Any]] = []
        self.best_score, self.best_state, self.best_epoch, self.best_phase = math.inf, None, 0, ""
        self.stopped, self.out_of_time = "epochs", False

    def run(self, text_input: Any, optimizer: torch.optim.Optimizer, epochs: int, phase: str) -> None:
        with progress_bar(total=epochs, desc=f"deep model ({phase} encoder)", unit="epoch",
                          enabled=self.progress) as bar:
            self._run(text_input, optimizer, epochs, phase, bar)

    def _run(self, text_input: Any, optimizer: torch.optim.Optimizer, epochs: int, phase: str, bar: Any) -> None:
        stale = 0
        for epoch in range(1, epochs + 1):
            row = self._epoch(text_input, optimizer, epoch, epochs, phase)
            bar.update()
            score = row.get("valid_total", row["train_total"])
            if score < self.best_score - 1e-4:
                self.best_score, self.best_epoch, self.best_phase, stale = score, len(self.history), phase, 0
                self.best_state = copy.deepcopy(self.model.state_dict())
            else:
                stale += 1
            if self.out_of_time or time.perf_counter() > self.deadline:
                self.stopped, self.out_of_time = "max_minutes", True
                return
            if stale >= self.config.patience:
                self.stopped = "early_stopping"
                return
        self.stopped = "epochs"

    def restore_best(self) -> None:
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    def _epoch(self, text_input: Any, optimizer: torch.optim.Optimizer, epoch: int, epochs: int,
               phase: str) -> dict[str, Any]:
        model, batch_size = self.model, self.config.batch_size
        started = time.perf_counter()
        model.train()
        order = self.train_pos[torch.randperm(len(self.train_pos), generator=self.generator).numpy()]
        sums, n_batches = dict.fromkeys((*TASKS, "total"), 0.0), 0
        bar = progress_bar(range(0, len(order), batch_size), desc=f"deep {phase} epoch {epoch}/{epochs}",
                           unit="batch", enabled=self.progress, transient=True)
        for start in bar:
            batch = order[start: start + batch_size]
            if len(batch) < 2:
                continue
            target = _tensors(self.targets, batch)
            outputs = model(_batch_embeddings(model, text_input, batch), self.numeric[batch])
            losses = task_losses(outputs, target)
            total = weighted_total(losses, model.log_vars, _present(target))
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            n_batches += 1
            for task in TASKS:
                sums[task] += float(losses[task].detach())
            sums["total"] += float(total.detach())
            bar.set_postfix(loss=f"{float(total.detach()):.3f}", refresh=False)
            # The first epoch of a fit always completes: a model that saw part of its data is no model.
            if self.history and time.perf_counter() > self.deadline:
                self.out_of_time = True
                break
        bar.close()
        row: dict[str, Any] = {"epoch": len(self.history) + 1, "phase": phase,
                               **{f"train_{k}": v / max(n_batches, 1) for k, v in sums.items()}}
        if len(self.valid_pos):
            valid = _evaluate(model, text_input, self.numeric, self.targets, self.valid_pos, max(batch_size, 256))
            row.update({f"valid_{k}": v for k, v in valid.items()})
        weights = torch.exp(-model.log_vars.detach().clamp(-6.0, 6.0))
        row.update({f"weight_{task}": float(weights[i]) for i, task in enumerate(TASKS)})
        row["seconds"] = round(time.perf_counter() - started, 2)
        self.history.append(row)
        logger.info("deep %s epoch %d: train %.4f valid %.4f (%.1fs)", phase, epoch, row["train_total"],
                    row.get("valid_total", math.nan), row["seconds"])
        return row
