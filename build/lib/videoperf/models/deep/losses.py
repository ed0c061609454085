"""The deep model's multi-task loss: per-task losses over the rows whose target is known, weighted by learnt task
uncertainties (Kendall et al.)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from videoperf.models.deep.network import TASKS

# Kendall et al.: how each task's likelihood turns a loss L and log-variance s into a term.
_GAUSSIAN, _LAPLACE, _CATEGORICAL = "gaussian", "laplace", "categorical"
TASK_LIKELIHOOD = {"log_views": _GAUSSIAN, "like_ratio": _LAPLACE, "lifecycle_stage": _CATEGORICAL,
                   "time_to_peak_days": _LAPLACE, "decay_rate": _LAPLACE}


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
