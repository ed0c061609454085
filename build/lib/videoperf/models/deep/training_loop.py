"""The deep model's epochs: shuffled batches, optimiser steps, validation losses, early stopping on the validation
joint loss with the best state kept over every phase, and the time budget."""

from __future__ import annotations

import copy
import logging
import math
import time
from typing import Any

import numpy as np
import torch

from videoperf.config import DeepConfig
from videoperf.models.deep.losses import task_losses, weighted_total
from videoperf.models.deep.network import TASKS, VideoPerformanceNet
from videoperf.progress import progress as progress_bar

logger = logging.getLogger(__name__)

# The five task log-variances are nuisance parameters that should track the current losses: at the heads'
# learning rate they lag by many epochs, and the validation total then mostly measures their drift.
LOG_VAR_LR_SCALE = 10.0


def make_optimizer(model: VideoPerformanceNet, learning_rate: float, weight_decay: float,
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


def batch_embeddings(model: VideoPerformanceNet, text_input: Any, index: np.ndarray) -> torch.Tensor:
    """Text embeddings of rows ``index``: from the frozen embeddings (a tensor) or, fine-tuning, by the encoder from
    ``(token ids of the distinct texts, text of each row)``."""
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


@torch.no_grad()
def evaluate_losses(model: VideoPerformanceNet, text_input: Any, numeric: torch.Tensor,
                    targets: dict[str, np.ndarray], index: np.ndarray, batch_size: int) -> dict[str, float]:
    """Mean per-task losses and the joint weighted loss over ``index`` (batch means weighted by known rows)."""
    model.eval()
    sums = dict.fromkeys(TASKS, 0.0)
    counts = dict.fromkeys(TASKS, 0)
    for start in range(0, len(index), batch_size):
        batch = index[start: start + batch_size]
        target = _tensors(targets, batch)
        outputs = model(batch_embeddings(model, text_input, batch), numeric[batch])
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


class TrainingLoop:
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
            outputs = model(batch_embeddings(model, text_input, batch), self.numeric[batch])
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
            valid = evaluate_losses(model, text_input, self.numeric, self.targets, self.valid_pos, max(batch_size, 256))
            row.update({f"valid_{k}": v for k, v in valid.items()})
        weights = torch.exp(-model.log_vars.detach().clamp(-6.0, 6.0))
        row.update({f"weight_{task}": float(weights[i]) for i, task in enumerate(TASKS)})
        row["seconds"] = round(time.perf_counter() - started, 2)
        self.history.append(row)
        logger.info("deep %s epoch %d: train %.4f valid %.4f (%.1fs)", phase, epoch, row["train_total"],
                    row.get("valid_total", math.nan), row["seconds"])
        return row
