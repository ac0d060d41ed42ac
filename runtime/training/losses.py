"""The training loss, with targets shaped for it, and the network output losses read."""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

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
        self.target = "values"
        if info.task == "classification":
            if name == "cross_entropy":
                self.target = "indices"
            elif width == 1 and self.classes == 2:
                self.target = "binary"
            elif width == self.classes:
                self.target = "onehot"
            else:
                raise TrainingError(
                    "design", f"the {name} loss on {self.classes} classes needs an output of "
                    f"{self.classes} values (or 1 for two classes), but the network outputs "
                    f"{width}")
        elif name == "cross_entropy":
            raise TrainingError("design", "cross_entropy needs classes, but the data is a "
                                "regression dataset; use the mse, l1 or huber loss")
        elif width != math.prod(info.target_shape or (1,)):
            raise TrainingError(
                "design", f"the network outputs {width} value(s) per sample but the dataset has "
                f"{math.prod(info.target_shape or (1,))} target(s); end the network with a "
                f"Linear of {math.prod(info.target_shape or (1,))} features")
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
