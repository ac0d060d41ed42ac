"""The metrics a run can report, declared once: name, task, direction and label.

Like the layer catalog, this is data. The training settings (which metrics to ask for, which
one early stopping may watch), the trainer (what it reports and which way is better), the
command line and the app all ask :data:`METRICS`; :mod:`runtime.metrics` computes each one
under the same name.
"""
from __future__ import annotations

from dataclasses import dataclass

CLASSIFICATION, REGRESSION = "classification", "regression"


@dataclass(frozen=True)
class Metric:
    """One metric. ``always``: reported for its task whether asked for or not; ``stoppable``:
    early stopping may watch it (``val_<name>``)."""

    name: str
    task: str  # CLASSIFICATION or REGRESSION
    higher_is_better: bool
    label: str  # for people: "macro F1", "R²"
    description: str
    always: bool = False
    stoppable: bool = False


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("accuracy", CLASSIFICATION, True, "accuracy", "share of samples classified right",
           always=True, stoppable=True),
    Metric("top5", CLASSIFICATION, True, "top-5 accuracy",
           "share of samples whose class is among the 5 highest scores (more than 5 classes)"),
    Metric("precision", CLASSIFICATION, True, "macro precision",
           "precision averaged over classes"),
    Metric("recall", CLASSIFICATION, True, "macro recall", "recall averaged over classes"),
    Metric("f1", CLASSIFICATION, True, "macro F1", "F1 score averaged over classes",
           stoppable=True),
    Metric("mae", REGRESSION, False, "MAE", "mean absolute error, in the data's units",
           always=True, stoppable=True),
    Metric("rmse", REGRESSION, False, "RMSE", "root mean squared error, in the data's units",
           always=True),
    Metric("r2", REGRESSION, True, "R²", "coefficient of determination, averaged over targets",
           always=True, stoppable=True),
)}

LOSS_LABEL = "loss"


def metric_names(task: str | None = None) -> tuple[str, ...]:
    """Every metric's name (of one task), in declaration order."""
    return tuple(m.name for m in METRICS.values() if task is None or m.task == task)


def stopping_choices() -> tuple[str, ...]:
    """What early stopping may watch: ``none``, the validation loss or a stoppable metric."""
    return ("none", "val_loss") + tuple(f"val_{m.name}" for m in METRICS.values()
                                        if m.stoppable)


def higher_is_better(key: str) -> bool:
    """For a metric name or a logged key (``val_f1``, ``train_loss``): is larger better?"""
    name = key.split("_", 1)[1] if key.startswith(("val_", "train_")) else key
    return name in METRICS and METRICS[name].higher_is_better


def label(key: str) -> str:
    """A metric's label for people (``val_r2`` → "val R²"); unknown keys read with spaces."""
    prefix, _, name = key.partition("_") if key.startswith(("val_", "train_")) else ("", "", key)
    text = METRICS[name].label if name in METRICS else name.replace("_", " ")
    return f"{prefix} {text}" if prefix else text


def selected(asked: str, early_stopping: str, task: str) -> list[str]:
    """The metrics an epoch reports for ``task``: those always on, plus those asked for in the
    comma-separated ``asked`` (and the one early stopping watches) that fit the task."""
    wanted = {m.strip() for m in asked.split(",") if m.strip()}
    if early_stopping.startswith("val_") and early_stopping != "val_loss":
        wanted.add(early_stopping[4:])
    return [m.name for m in METRICS.values() if m.task == task and (m.always or m.name in wanted)]
