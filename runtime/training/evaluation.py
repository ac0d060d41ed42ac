"""Loss and metrics of a model over a split, during training and for a finished run."""
from __future__ import annotations

import math
import os
from typing import Any, Sequence

import torch
from torch import nn

from graph.metrics import metric_names

from .. import devices
from ..data import DataError, DataInfo, Normalization, load_data
from ..metrics import ClassificationMeter, RegressionMeter
from ..events import json_safe
from ..runs import RunError, load_run
from .control import TrainingError
from .losses import LossFn, first_output
from .setup import resolve_training


# Evaluation keeps no activations for a backward pass, so its batches may be far larger than
# training's: a batch's inputs may take up to this many bytes (at most MAX_EVAL_BATCH samples).
EVAL_BATCH_BYTES = 2 << 20
MAX_EVAL_BATCH = 4096


def evaluation_batch_size(train_batch: int, sample_numel: int) -> int:
    """Samples per evaluation batch: 4× the training batch (up to 1024), more for small
    samples (a small validation split then runs in one forward pass)."""
    by_bytes = EVAL_BATCH_BYTES // max(1, 4 * sample_numel)
    return max(train_batch, min(MAX_EVAL_BATCH, max(min(1024, 4 * train_batch), by_bytes)))


def make_meter(info: DataInfo, device: torch.device, metrics: Sequence[str] | None = None
               ) -> ClassificationMeter | RegressionMeter:
    """The meter of ``info``'s task; ``metrics`` (default: all) may leave top-5 uncounted."""
    if info.task == "classification":
        topk = 5 if metrics is None or "top5" in metrics else 0
        return ClassificationMeter(info.num_classes or 2, device, topk=topk)
    norm = info.normalization
    width = math.prod(info.target_shape or (1,))
    scale = shift = None
    if norm.target_mean is not None:
        scale = torch.tensor(norm.target_std, dtype=torch.float64)
        shift = torch.tensor(norm.target_mean, dtype=torch.float64)
    return RegressionMeter(width, device, scale, shift)


def evaluate_split(model: nn.Module, split: Any, loss_fn: LossFn, info: DataInfo,
                   device: torch.device, precision: str = "fp32", batch_size: int = 256,
                   limit_batches: int | None = None, shard: tuple[int, int] | None = None,
                   all_reduce_sum: Any = None, metrics: Sequence[str] | None = None,
                   details: bool = True) -> dict[str, Any]:
    """Loss and metrics of ``model`` over a whole split (the model is left as it was found).

    Classification adds (``details``: a training epoch does without them) the per-class report
    and the confusion matrix; regression MAE, RMSE and R² in the data's own units. In a
    distributed run each rank passes its ``shard`` (start, stop) of the split and
    ``all_reduce_sum``: the sums of all shards make the result, the same on every rank.
    ``metrics`` (names of :data:`graph.metrics.METRICS`; default all) may leave out those not
    wanted that cost extra work (top-5).
    """
    was_training = model.training
    model.eval()
    n = 0
    try:
        with torch.inference_mode(), devices.autocast(device, precision):
            meter = make_meter(info, device, metrics)
            loss_sum = torch.zeros((), device=device,
                                   dtype=torch.float32 if device.type == "mps" else torch.float64)
            for i, (x, y) in enumerate(_batches(split, batch_size, shard)):
                if limit_batches is not None and i >= limit_batches:
                    break
                out = first_output(model(x)).float()
                loss_sum.add_(loss_fn(out, y), alpha=len(y))
                meter.update(out, y)
                n += len(y)
            if all_reduce_sum is not None:
                meter.reduce(all_reduce_sum)
                loss_sum = all_reduce_sum(loss_sum)
                n = int(all_reduce_sum(torch.tensor(n, device=device)).item())
            loss = loss_sum.item() / n if n else float("nan")
    finally:
        model.train(was_training)
    result = (meter.compute(info.class_names, details) if isinstance(meter, ClassificationMeter)
              else meter.compute())
    result["loss"] = loss
    result["samples"] = n
    return result


def _batches(split: Any, batch_size: int, shard: tuple[int, int] | None):
    if shard is None:
        return split.sequential(batch_size)
    start, stop = shard
    return split.batches(torch.arange(start, stop), batch_size,
                         -(-(stop - start) // batch_size))


def evaluate_run(run_dir: str | os.PathLike, checkpoint: str = "best", split: str = "test",
                 device: str = "cpu", batch_size: int = 256) -> dict[str, Any]:
    """Loss and metrics of a saved run on its test (or validation) split.

    Classification: accuracy, macro precision/recall/F1, the per-class report and the confusion
    matrix. Regression: MAE, RMSE and R² in the data's units. Raises :class:`TrainingError`
    (kinds ``run``, ``data``, ``device``) with a readable message.
    """
    if split not in ("test", "val", "train"):
        raise TrainingError("settings", f"unknown split {split!r} (use test, val or train)")
    try:
        run = load_run(run_dir)
        if not run.has_checkpoint(checkpoint) and not (checkpoint == "best"
                                                       and run.has_checkpoint("last")):
            raise RunError(f"{run_dir}: no {checkpoint!r} checkpoint (was the run stopped before "
                           "its first epoch ended?)")
        dev = devices.resolve_device(device)
        found = run.checkpoint(checkpoint)
        compiled = run.build_model(found, dev)
    except RunError as exc:
        raise TrainingError("run", str(exc)) from None
    except devices.DeviceError as exc:
        raise TrainingError("device", str(exc)) from None
    config = run.config
    dataset = config.get("dataset", {})
    norm = Normalization.from_dict(dataset.get("normalization", {}))
    input_node = run.design.inputs()[0]
    try:
        data = load_data(config.get("data", run.design.data),
                         input_dtype=input_node.resolved_params()["dtype"],
                         base_dir=config.get("base_dir"), normalization=norm)
    except DataError as exc:
        raise TrainingError("data", str(exc)) from None
    info = data.info
    if dataset and (list(info.sample_shape) != list(dataset.get("sample_shape", []))
                    or info.class_names != dataset.get("class_names", info.class_names)):
        raise TrainingError("data", f"the data at {info.source} no longer matches the run "
                            f"(samples {list(info.sample_shape)}, classes {info.class_names})")
    part = data.split(split).to(dev)
    if len(part) == 0:
        raise TrainingError("data", f"this run has no {split} split (its {split}_fraction is 0)"
                            + ("; try --split val" if split == "test" else ""))
    settings = resolve_training(config.get("training", {}))
    out_node = run.design.outputs()[0]
    out_shape = tuple(compiled.report.inference.shapes[out_node.id])
    loss_fn = LossFn(settings["loss"], info, out_shape, settings["label_smoothing"])
    result = evaluate_split(compiled.module, part, loss_fn, info, dev, "fp32", batch_size)
    result.update({"run_dir": str(run.dir), "checkpoint": checkpoint, "split": split,
                   "task": info.task, "classes": info.class_names, "note": found.note})
    keep = ("loss", *metric_names(info.task))
    if info.task == "classification":
        keep += ("per_class", "confusion_matrix")
    return json_safe({k: v for k, v in result.items()
                      if k in keep or k in ("run_dir", "checkpoint", "split", "task", "classes",
                                            "samples", "note")})
