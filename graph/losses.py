"""Which loss can train which network on which data: the one compatibility rule.

Validation asks it with what the design declares (before any data is read), the trainer with
the loaded data; both report its problems word for word, and the trainer shapes targets by
:func:`target_form`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from .catalog import fmt_shape
from .summary import counted

REGRESSION_LOSSES = ("mse", "l1", "huber")


@dataclass(frozen=True)
class LossProblem:
    severity: str  # "error" or "warning"
    code: str  # "loss", "classes" or "targets"
    message: str
    fix: str | None = None


def target_form(loss: str, task: str, width: int, classes: int | None) -> str | None:
    """How targets are fed to ``loss``: ``indices`` (class numbers), ``binary`` (0/1 for one
    output on two classes), ``onehot`` or ``values``; None when the output cannot fit."""
    if task != "classification":
        return "values"
    if loss == "cross_entropy":
        return "indices"
    if width == 1 and classes == 2:
        return "binary"
    return "onehot" if width == classes else None


def loss_problems(loss: str, task: str, out_shape: Sequence[int] | None,
                  classes: int | None = None, targets: int | None = None,
                  dataset: str = "the dataset") -> list[LossProblem]:
    """Problems of training an output of ``out_shape`` with ``loss`` on a ``task`` dataset of
    ``classes`` classes (or ``targets`` regression targets); unknown facts are not checked."""
    if task == "regression":
        if loss == "cross_entropy":
            return [LossProblem("error", "loss", f"cross_entropy needs classes but {dataset} is "
                                "a regression dataset", "use the mse, l1 or huber loss")]
        width = math.prod(out_shape) if out_shape is not None else None
        if width is not None and targets is not None and width != targets:
            return [LossProblem("error", "targets", f"the network outputs {counted(width, 'value')} "
                                f"per sample but {dataset} has {counted(targets, 'target')}",
                                f"end the network with a Linear of {targets} features")]
        return []
    out: list[LossProblem] = []
    width = math.prod(out_shape) if out_shape is not None else 0
    if not classes or out_shape is None:
        pass
    elif loss == "cross_entropy":
        if len(out_shape) != 1 or width != classes:
            out.append(LossProblem(
                "error", "classes", f"the network outputs {fmt_shape(tuple(out_shape))} but "
                f"{dataset} has {classes} classes (cross-entropy needs {classes} scores per "
                "sample)", f"end the network with a Linear of {classes} features"))
    elif target_form(loss, task, width, classes) is None:
        out.append(LossProblem(
            "error", "classes", f"the {loss} loss needs {classes} outputs per sample (or 1 for "
            f"two classes), but the network outputs {width}",
            f"end the network with a Linear of {classes} features"))
    if loss in REGRESSION_LOSSES:
        out.append(LossProblem("warning", "loss", f"{loss} is a regression loss but {dataset} "
                               "is a classification dataset", "use the cross_entropy loss"))
    return out
