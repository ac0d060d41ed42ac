"""Everything checked before a run starts: settings, device, data, and the design against the
data. Each step raises :class:`TrainingError` with a readable message."""
from __future__ import annotations

import math
import os
import random
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from graph import metrics as M
from graph.design import Design
from graph.settings import check_training, default_training
from graph.shapes import Inference, infer
from graph.validate import ERROR, Diagnostic, Report, validate

from .. import devices
from ..data import DataError, DataInfo, LoadedData, Normalization, load_data
from ..preflight import ResourceError, check_training_fits
from ..runs import RunError, load_run
from .control import TrainingError

RESUMABLE_OVERRIDES = ("epochs", "device", "diagnostics_every")


def resolve_training(training: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
                     ) -> dict[str, Any]:
    """Defaults, then the design's training settings, then ``overrides``."""
    out = default_training()
    out.update(training)
    out.update(overrides or {})
    return out


def selected_metrics(settings: Mapping[str, Any], task: str) -> list[str]:
    """The metrics reported each epoch: accuracy always for classification, MAE/RMSE/R² always
    for regression, plus those asked for that fit the task (and the early-stopping one)."""
    return M.selected(str(settings.get("metrics", "")),
                      str(settings.get("early_stopping_metric", "none")), task)


def resume_settings(resume: Path, overrides: Mapping[str, Any]
                    ) -> tuple[Design, dict[str, Any], dict[str, Any]]:
    """The design, resolved settings and config of the run in ``resume``, checked: it has a
    ``last`` checkpoint and ``overrides`` change only :data:`RESUMABLE_OVERRIDES`."""
    try:
        run = load_run(resume)
    except RunError as exc:
        raise TrainingError("run", str(exc)) from None
    if not run.folder.resumable:
        raise TrainingError("run", f"{resume}: no 'last' checkpoint to resume from")
    training = run.config.get("training")
    if not isinstance(training, dict) or not isinstance(run.config.get("data"), dict):
        raise TrainingError("run", f"{run.folder.file(run.folder.CONFIG)}: damaged (no training "
                            "or data settings)")
    changed = [k for k in overrides if k not in RESUMABLE_OVERRIDES
               and overrides[k] != training.get(k)]
    if changed:
        raise TrainingError("settings", "cannot change " + ", ".join(changed) + " when "
                            "resuming (only " + ", ".join(RESUMABLE_OVERRIDES) + ")")
    design = run.design
    design.set_data(run.config["data"])
    return design, resolve_training(training, overrides), run.config


def check_settings(settings: Mapping[str, Any]) -> None:
    problems = check_training(settings)
    if problems:
        raise TrainingError("settings", "; ".join(f"training setting {k} {p}"
                                                  for k, p in problems))


def resolve_device(settings: Mapping[str, Any]) -> tuple[torch.device, str, list[str]]:
    """The device, the precision it can run and any warning about the change."""
    try:
        device = devices.resolve_device(settings["device"])
    except devices.DeviceError as exc:
        raise TrainingError("device", str(exc)) from None
    precision, warn = devices.effective_precision(device, settings["precision"])
    return device, precision, [warn] if warn else []


def check_memory(design: Design, device: torch.device, inference: Inference | None = None
                 ) -> None:
    """Refuse, before anything is allocated, a design whose training cannot fit in the memory
    of ``device`` (the estimate is in the message)."""
    try:
        check_training_fits(design, {"device": str(device)}, inference)
    except ResourceError as exc:
        raise TrainingError("resources", str(exc)) from None


def input_dtype(design: Design) -> str:
    inputs = design.inputs()
    if len(inputs) != 1:
        raise TrainingError("design", f"training needs exactly one Input layer; this design "
                            f"has {len(inputs)}")
    return inputs[0].resolved_params()["dtype"]


def load_training_data(design: Design, dtype: str, base_dir: str | None,
                       resume_config: Mapping[str, Any] | None) -> LoadedData:
    """The design's dataset; a resumed run keeps the normalization it was trained with."""
    norm = None
    if resume_config is not None and "dataset" in resume_config:
        norm = Normalization.from_dict(resume_config["dataset"].get("normalization", {}))
    try:
        return load_data(design.data, input_dtype=dtype, base_dir=base_dir, normalization=norm)
    except DataError as exc:
        raise TrainingError("data", str(exc)) from None
    except MemoryError:
        raise TrainingError("data", "the dataset does not fit in memory") from None


def check_design(design: Design, info: DataInfo, settings: Mapping[str, Any],
                 dtype: str, inference: Inference | None = None) -> Report:
    """Validate ``design`` (its shapes ``inference`` when already inferred) against the
    loaded data; every error ends the run."""
    targets = math.prod(info.target_shape or (1,)) if info.task == "regression" else None
    report = validate(design, data_shape=info.sample_shape, data_classes=info.num_classes,
                      data_task=info.task, data_targets=targets, inference=inference)
    errors = report.errors + check_against_data(design, info, dtype)
    if errors:
        raise TrainingError(
            "design", "the design does not fit the data:\n  " + "\n  ".join(
                d.format(design) for d in errors),
            diagnostics=[diagnostic_dict(d, design) for d in errors])
    return report


def check_against_data(design: Design, info: DataInfo, dtype: str) -> list[Diagnostic]:
    """Checks validation cannot make without the loaded data."""
    node = design.inputs()[0]
    if info.x_dtype == "int64" and dtype != "int64":  # pragma: no cover - loader decides
        return [Diagnostic(ERROR, "data-dtype", "the data holds token ids but this Input takes "
                           "float32", node.id, param="dtype")]
    return []


def output_shape(design: Design, report: Report) -> tuple[int, ...]:
    out_node = design.outputs()[0]
    return tuple(report.inference.shapes[out_node.id])


def monitoring(settings: Mapping[str, Any], info: DataInfo
               ) -> tuple[str, bool, bool, list[str]]:
    """``(monitor, higher_is_better, early_stopping, warnings)``: the metric that decides the
    best epoch and whether early stopping watches it."""
    stop = settings["early_stopping_metric"]
    warnings = []
    if stop != "none" and stop != "val_loss":
        metric = M.METRICS.get(stop[4:])
        if metric is None or not metric.stoppable or metric.task != info.task:
            raise TrainingError("settings", f"early stopping on {stop} does not fit a "
                                f"{info.task} dataset")
    if info.sizes["val"] == 0:
        monitor = "train_loss"
        if stop != "none":
            warnings.append(f"no validation split (val_fraction is 0): early stopping "
                            f"on {stop} is off")
            stop = "none"
    else:
        monitor = stop if stop != "none" else "val_loss"
    return monitor, M.higher_is_better(monitor), stop != "none", warnings


def metric_warnings(settings: Mapping[str, Any], metrics: list[str], task: str) -> list[str]:
    asked = [m.strip() for m in settings["metrics"].split(",") if m.strip()]
    return [f"metric {m} does not apply to {task}; skipped" for m in asked
            if m not in metrics and not (task == "regression" and m == "accuracy")]


def seed_everything(seed: int, device: torch.device, deterministic: bool = True) -> None:
    """Seed every generator the run draws from; on CUDA, ``deterministic`` keeps cuDNN to its
    deterministic algorithms, else lets it time them and take the fastest (benchmark mode)."""
    random.seed(seed)
    np.random.seed(seed)
    if device.type == "cpu":  # all a CPU run draws from; torch.manual_seed would also queue
        torch.default_generator.manual_seed(seed)  # every accelerator's seed (~0.4 ms)
    else:
        torch.manual_seed(seed)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = deterministic
        torch.backends.cudnn.benchmark = not deterministic


def diagnostic_dict(d: Diagnostic, design: Design) -> dict[str, Any]:
    name = design.node(d.node).name if d.node and design.has_node(d.node) else None
    return {"severity": d.severity, "code": d.code, "message": d.message, "node": d.node,
            "name": name, "fix": d.fix}


def base_dir_of(design_path: str | os.PathLike | None) -> str | None:
    """Relative data paths are read from the design's folder."""
    return str(Path(design_path).parent) if design_path else None
