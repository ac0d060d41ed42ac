"""The training loss, with targets shaped for it, and the network output losses read."""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from graph.losses import loss_problems, target_form

from ..data import DataInfo
from .control import TrainingError


class LossFn:
    """The training loss, with targets shaped for it once (class indices, one-hot or values)."""

    def __init__(self, name: str, info: DataInfo, out_shape: tuple[int, ...],
                 label_smoothing: float = 0.0):
        self.name = name
        self.label_smoothing = label_smoothing
        self.classes = info.num_classes or 0
        width = math.prod(out_shape) if out_shape else 1
        targets = math.prod(info.target_shape or (1,)) if info.task == "regression" else None
        errors = [p for p in loss_problems(name, info.task, out_shape or (1,), info.num_classes,
                                           targets, info.name) if p.severity == "error"]
        form = target_form(name, info.task, width, info.num_classes)
        if errors or form is None:
            problem = errors[0] if errors else None
            raise TrainingError("design", f"{problem.message}; {problem.fix}" if problem
                                else f"the {name} loss cannot train this output")
        self.target = form
        self._fn = {"mse": F.mse_loss, "l1": F.l1_loss, "huber": F.huber_loss,
                    "bce_with_logits": F.binary_cross_entropy_with_logits}.get(name)

    def __call__(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.target == "indices":
            return F.cross_entropy(out, y, label_smoothing=self.label_smoothing)
        if self.target == "onehot":
            y = F.one_hot(y, self.classes).to(out.dtype)
        y = y.to(out.dtype).reshape(out.shape)
        return self._fn(out, y)


def first_output(out: Any) -> torch.Tensor:
    """Losses and metrics read the first Output of the network."""
    return out[0] if isinstance(out, (tuple, list)) else out
