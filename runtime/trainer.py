"""The headless training engine: a generator of plain, JSON-ready progress events.

    from runtime.trainer import Control, train
    control = Control()                      # request_stop() / pause() / resume(), thread-safe
    for event in train(design, run_dir="runs/demo", control=control):
        print(event["event"], event)

Every event is a dict of JSON types with ``"event"`` (its kind) and ``"time"`` (seconds since the
run started). Epochs are counted from 1; ``step`` counts optimizer steps done so far.

``stage``        ``stage``: "checking settings", "loading data", "compiling", "preparing"
``start``        ``run_dir``, ``design``, ``device``, ``device_name``, ``precision``, ``task``,
                 ``classes`` (names), ``sample_shape``, ``parameters``, ``epochs``,
                 ``steps_per_epoch``, ``total_steps``, ``batch_size``, ``sizes`` (train/val/test),
                 ``metrics``, ``monitor`` (metric deciding "best"), ``seed``, ``resumed``,
                 ``start_epoch``, ``start_step``, ``warnings`` (list of text)
``step``         ``step``, ``epoch``, ``batch``, ``batches``, ``loss`` (mean since the last step
                 event), ``lr``, ``samples_per_s``, ``eta_s``; sent at most every
                 ``step_interval`` seconds
``epoch``        ``epoch``, ``step``, ``train_loss``, ``val_loss`` and ``val_<metric>`` (e.g.
                 ``val_accuracy``, ``val_f1``, ``val_mae``; None without a validation split),
                 ``lr``, ``duration_s``, ``samples_per_s``, ``improved``, ``best`` ({metric, value,
                 epoch})
``diagnostics``  ``step``, ``epoch``, ``layers``: [{``node``, ``name``, ``type``, ``grad_norm``,
                 ``act_mean``, ``act_std``, ``dead_fraction`` (``dead_units`` layers: ReLU)}] every
                 ``diagnostics_every`` steps (hooks are attached on those steps only)
``checkpoint``   ``kind`` ("best" or "last"), ``path``, ``epoch``, ``step``; written at most
                 every ``checkpoint_interval`` seconds, and always at the end of a run
``paused``, ``resumed``   ``step``, ``epoch``
``error``        ``kind`` ("settings", "device", "data", "design", "nonfinite", "run",
                 "internal"), ``message``; design errors add ``diagnostics`` [{severity, code,
                 message, node, name, fix}], non-finite losses add ``node``, ``layer``, ``step``
``end``          ``status`` ("completed", "stopped", "early_stopped", "failed"),
                 ``epochs_completed``, ``step``, ``best``, ``duration_s``, ``run_dir``

The last event is always ``end``. Files written to the run folder are described in
:mod:`runtime.runs`. A distributed (DDP) run plugs in through :class:`Parallel`: it wraps the
model, shards the sample order by rank and averages the reported training loss.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import random
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from graph.catalog import CATALOG
from graph.design import Design
from graph.settings import check_training, default_training
from graph.validate import ERROR, Diagnostic, Report, validate

from . import devices
from .compiler import Compiled, compile_design
from .data import DataError, DataInfo, IndexSampler, LoadedData, Normalization, load_data
from .metrics import (HIGHER_IS_BETTER, ClassificationMeter, RegressionMeter)
from .runs import (RunError, RunWriter, default_run_dir, json_safe, load_run, load_training_state,
                   load_weights, save_training_state, save_weights)

RESUMABLE_OVERRIDES = ("epochs", "device", "diagnostics_every")
STATUSES = ("completed", "stopped", "early_stopped", "failed")


class TrainingError(Exception):
    """A problem that ends a run before or during training; becomes an ``error`` event."""

    def __init__(self, kind: str, message: str, **extra: Any):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.extra = extra


class Control:
    """Stop, pause and resume requests, safe to call from any thread.

    The trainer honours them between two steps. For a trainer in a child process, build the
    control with :meth:`for_processes` and pass it to the child: the events are shared.
    """

    def __init__(self, stop_event: Any = None, run_event: Any = None):
        self._stop = stop_event if stop_event is not None else threading.Event()
        self._run = run_event if run_event is not None else threading.Event()
        self._run.set()

    @classmethod
    def for_processes(cls, context: Any = None) -> "Control":
        ctx = context or multiprocessing.get_context()
        return cls(ctx.Event(), ctx.Event())

    def request_stop(self) -> None:
        self._stop.set()
        self._run.set()  # wake a paused trainer so it can stop

    def pause(self) -> None:
        if not self._stop.is_set():
            self._run.clear()

    def resume(self) -> None:
        self._run.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._run.is_set()

    def wait_while_paused(self) -> None:
        while not self._run.wait(0.5):
            pass


@dataclass
class Parallel:
    """How this process takes part in a distributed run (defaults: a single process).

    ``wrap_model`` receives the compiled module on its device and returns the module to train
    (e.g. ``DistributedDataParallel``); checkpoints always save the unwrapped module.
    ``all_reduce_mean`` averages a tensor over all ranks (the reported training loss).
    """

    rank: int = 0
    world_size: int = 1
    wrap_model: Callable[[nn.Module], nn.Module] | None = None
    all_reduce_mean: Callable[[torch.Tensor], torch.Tensor] | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


# ---- settings -----------------------------------------------------------------------------


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
    asked = [m.strip() for m in str(settings.get("metrics", "")).split(",") if m.strip()]
    stop = settings.get("early_stopping_metric", "none")
    if stop not in ("none", "val_loss"):
        asked.append(stop[4:])
    if task == "classification":
        keep = ["accuracy"] + [m for m in ("top5", "precision", "recall", "f1") if m in asked]
    else:
        keep = ["mae", "rmse", "r2"]
    return keep


# ---- losses and evaluation ------------------------------------------------------------------


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


def make_meter(info: DataInfo, device: torch.device) -> ClassificationMeter | RegressionMeter:
    if info.task == "classification":
        return ClassificationMeter(info.num_classes or 2, device)
    norm = info.normalization
    width = math.prod(info.target_shape or (1,))
    scale = shift = None
    if norm.target_mean is not None:
        scale = torch.tensor(norm.target_std, dtype=torch.float64)
        shift = torch.tensor(norm.target_mean, dtype=torch.float64)
    return RegressionMeter(width, device, scale, shift)


def evaluate_split(model: nn.Module, split: Any, loss_fn: LossFn, info: DataInfo,
                   device: torch.device, precision: str = "fp32", batch_size: int = 256,
                   limit_batches: int | None = None) -> dict[str, Any]:
    """Loss and metrics of ``model`` over a whole split (the model is left as it was found).

    Classification adds the per-class report and the confusion matrix; regression MAE, RMSE and
    R² in the data's own units.
    """
    was_training = model.training
    model.eval()
    n = 0
    try:
        with torch.inference_mode(), devices.autocast(device, precision):
            meter = make_meter(info, device)
            loss_sum = torch.zeros((), device=device,
                                   dtype=torch.float32 if device.type == "mps" else torch.float64)
            for i, (x, y) in enumerate(split.sequential(batch_size)):
                if limit_batches is not None and i >= limit_batches:
                    break
                out = first_output(model(x)).float()
                loss_sum += loss_fn(out, y) * len(y)
                meter.update(out, y)
                n += len(y)
            loss = loss_sum.item() / n if n else float("nan")
    finally:
        model.train(was_training)
    result = (meter.compute(info.class_names) if isinstance(meter, ClassificationMeter)
              else meter.compute())
    result["loss"] = loss
    result["samples"] = n
    return result


# ---- learning-rate schedule ---------------------------------------------------------------


class LRSchedule:
    """Warm-up plus one of none/step/cosine/onecycle (stepped per batch) or plateau (per epoch).

    Step decay counts epochs; cosine anneals to zero over the steps after warm-up; onecycle uses
    ``torch.optim.lr_scheduler.OneCycleLR`` (its warm-up share follows ``warmup_epochs``);
    plateau multiplies the rate by ``gamma`` when the monitored metric stalls for half the
    early-stopping patience.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, settings: Mapping[str, Any],
                 steps_per_epoch: int, epochs: int, monitor_mode: str = "min"):
        from torch.optim import lr_scheduler as sched

        self.kind = settings["schedule"]
        spe = steps_per_epoch
        total = max(1, spe * epochs)
        warm = min(settings["warmup_epochs"] * spe, total - 1) if settings["warmup_epochs"] else 0
        self.warmup_steps = warm
        self.steps = 0
        self.per_step: Any = None
        self.plateau: Any = None
        gamma, step_size = settings["gamma"], settings["step_size"]
        if self.kind == "onecycle":
            pct = warm / total if warm else 0.3
            self.per_step = sched.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups],
                                             total_steps=total, pct_start=min(max(pct, 1e-3), 0.999))
            return
        if self.kind == "plateau":
            self.plateau = sched.ReduceLROnPlateau(optimizer, mode=monitor_mode, factor=gamma,
                                                   patience=max(1, settings["patience"] // 2))

        def factor(step: int) -> float:
            f = min(1.0, (step + 1) / warm) if warm else 1.0
            if self.kind == "step":
                f *= gamma ** ((step // spe) // step_size)
            elif self.kind == "cosine" and step >= warm:
                progress = (step - warm) / max(1, total - warm)
                f *= 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
            return f

        if self.kind in ("step", "cosine") or warm:
            self.per_step = sched.LambdaLR(optimizer, factor)

    def step_batch(self) -> None:
        self.steps += 1
        if self.per_step is not None and (self.plateau is None or self.steps <= self.warmup_steps):
            self.per_step.step()

    def step_epoch(self, value: float | None) -> None:
        if self.plateau is not None and self.steps >= self.warmup_steps and value is not None \
                and math.isfinite(value):
            self.plateau.step(value)

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps,
                "per_step": self.per_step.state_dict() if self.per_step is not None else None,
                "plateau": self.plateau.state_dict() if self.plateau is not None else None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.steps = int(state.get("steps", 0))
        if self.per_step is not None and state.get("per_step") is not None:
            self.per_step.load_state_dict(state["per_step"])
        if self.plateau is not None and state.get("plateau") is not None:
            self.plateau.load_state_dict(state["plateau"])


def make_optimizer(params: list[nn.Parameter], settings: Mapping[str, Any],
                   device: torch.device) -> tuple[torch.optim.Optimizer, list[str]]:
    """The optimizer a design asks for (fused kernels where torch has them for the device)."""
    warnings = []
    name, lr, wd = settings["optimizer"], settings["lr"], settings["weight_decay"]
    momentum = settings["momentum"]
    fast: dict[str, Any] = {"fused": True} if device.type in ("cpu", "cuda") else {}
    if name == "sgd":
        nesterov = settings["nesterov"]
        if nesterov and momentum == 0:
            warnings.append("Nesterov momentum needs momentum > 0; using plain SGD")
            nesterov = False
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov,
                               weight_decay=wd, **fast), warnings
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, **fast), warnings
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, **fast), warnings
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=wd,
                                   foreach=True), warnings
    raise TrainingError("settings", f"unknown optimizer {name!r}")


# ---- per-layer probes -----------------------------------------------------------------------


@dataclass
class LayerRef:
    ident: str
    node: str
    name: str
    type: str
    module: nn.Module


def layer_refs(compiled: Compiled, design: Design) -> list[LayerRef]:
    """The network's layers in forward order, each with its node id and name."""
    children = dict(compiled.module.named_children())
    out = []
    for nid, ident in compiled.idents.items():
        if ident in children:
            node = design.node(nid)
            out.append(LayerRef(ident, nid, node.name, node.type, children[ident]))
    return out


class _Hooks:
    """Forward hooks on every layer for one pass, removed on exit."""

    def __init__(self, layers: list[LayerRef], hook: Callable[[LayerRef, Any], None]):
        self.layers, self.hook, self.handles = layers, hook, []

    def __enter__(self) -> "_Hooks":
        for ref in self.layers:
            self.handles.append(ref.module.register_forward_hook(
                lambda mod, args, out, ref=ref: self.hook(ref, out)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


def _activation_stats(ref: LayerRef, out: Any, into: dict[str, torch.Tensor]) -> None:
    out = first_output(out)
    if not isinstance(out, torch.Tensor) or not out.is_floating_point():
        return
    with torch.no_grad():
        o = out.detach().float()
        nan = torch.tensor(float("nan"), device=o.device)
        std = o.std() if o.numel() > 1 else nan
        dead = nan
        if ref.type in CATALOG and CATALOG[ref.type].dead_units and o.dim() > 1:
            dead = (o.reshape(o.shape[0], -1) <= 0).all(dim=0).float().mean()
        into[ref.ident] = torch.stack([o.mean(), std, dead])


def _grad_norm(module: nn.Module) -> torch.Tensor | None:
    grads = [p.grad.detach().float() for p in module.parameters() if p.grad is not None]
    if not grads:
        return None
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def locate_nonfinite(model: nn.Module, layers: list[LayerRef], x: torch.Tensor,
                     device: torch.device, precision: str) -> LayerRef | None:
    """Run one forward pass on ``x`` and return the first layer whose output is not finite."""
    bad: list[LayerRef] = []

    def check(ref: LayerRef, out: Any) -> None:
        out = first_output(out)
        if not bad and isinstance(out, torch.Tensor) and out.is_floating_point() \
                and not bool(torch.isfinite(out).all()):
            bad.append(ref)

    with torch.no_grad(), devices.autocast(device, precision), _Hooks(layers, check):
        model(x)
    return bad[0] if bad else None


# ---- the trainer ---------------------------------------------------------------------------


class Trainer:
    """One training run. :meth:`run` is the event generator; see the module docs.

    ``design`` is trained with its own settings, changed by ``overrides`` (training settings).
    ``resume`` continues the run in that folder from its ``last`` checkpoint (only
    :data:`RESUMABLE_OVERRIDES` may change). ``data`` may hold already-loaded data.
    ``limit_batches`` caps training and validation batches per epoch (quick smoke runs).
    Checkpoints are written at most every ``checkpoint_interval`` seconds (the best weights wait
    in memory meanwhile) and always when the run ends, stops or fails.
    """

    def __init__(self, design: Design | None = None, *, run_dir: str | os.PathLike | None = None,
                 overrides: Mapping[str, Any] | None = None, resume: str | os.PathLike | None = None,
                 control: Control | None = None, data: LoadedData | None = None,
                 design_path: str | os.PathLike | None = None, runs_root: str | os.PathLike = "runs",
                 step_interval: float = 0.25, limit_batches: int | None = None,
                 parallel: Parallel | None = None, write_files: bool = True,
                 checkpoint_interval: float = 30.0):
        self.design = design.copy() if design is not None else None  # never touch the caller's
        self.run_dir = Path(run_dir) if run_dir else None
        self.overrides = dict(overrides or {})
        self.resume = Path(resume) if resume else None
        self.control = control or Control()
        self.data = data
        self.design_path = Path(design_path) if design_path else None
        self.runs_root = runs_root
        self.step_interval = step_interval
        self.limit_batches = limit_batches
        self.parallel = parallel or Parallel()
        self.write_files = write_files and self.parallel.is_main
        self.writer: RunWriter | None = None
        self.checkpoint_interval = checkpoint_interval
        self._best_pending: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None
        self._t0 = self._last_write = time.perf_counter()
        self.status = "failed"

    # ---- events ----

    def _event(self, name: str, /, **fields: Any) -> dict[str, Any]:
        event = json_safe({"event": name, "time": round(time.perf_counter() - self._t0, 4),
                           **fields})
        if self.writer is not None:
            self.writer.event(event)
        return event

    def _log(self, line: str) -> None:
        if self.writer is not None:
            self.writer.log(line)

    # ---- the generator ----

    def run(self) -> Iterator[dict[str, Any]]:
        self._t0 = time.perf_counter()
        self.best: dict[str, Any] = {"metric": None, "value": None, "epoch": None}
        self.epochs_done = 0
        self.step = 0
        message = None
        try:
            yield from self._run()
        except TrainingError as exc:
            message = exc.message
            self.status = "failed"
            self._log(f"error ({exc.kind}): {exc.message}")
            yield from self._flush_best()
            yield self._event("error", kind=exc.kind, message=exc.message, **exc.extra)
        except GeneratorExit:
            self.status = "stopped"
            self._write_best()
            self._finish("the consumer closed the event stream")
            raise
        except Exception as exc:  # anything unexpected still ends the run cleanly
            message = f"internal error ({type(exc).__name__}): {exc}"
            if self.writer is not None:
                message += f" (details in {self.run_dir / 'log.txt'})"
            self.status = "failed"
            self._log("internal error:\n" + traceback.format_exc())
            yield from self._flush_best()
            yield self._event("error", kind="internal", message=message)
        end = self._event("end", status=self.status, epochs_completed=self.epochs_done,
                          step=self.step, best=self.best,
                          duration_s=round(time.perf_counter() - self._t0, 3),
                          run_dir=str(self.run_dir) if self.writer else None)
        self._finish(message)
        yield end

    def _finish(self, message: str | None) -> None:
        if self.writer is None:
            return
        self.writer.status(status=self.status, epochs_completed=self.epochs_done, step=self.step,
                           best=self.best, message=message)
        self._log(f"run ended: {self.status}")
        self.writer.close()
        self.writer = None

    def _prepare(self) -> Iterator[dict[str, Any]]:
        """Settings, device, data, validation and compilation; raises TrainingError."""
        yield self._event("stage", stage="checking settings")
        resume_state = None
        if self.resume is not None:
            try:
                run = load_run(self.resume)
            except RunError as exc:
                raise TrainingError("run", str(exc)) from None
            if not (self.resume / "checkpoints" / "last" / "state.json").exists():
                raise TrainingError("run", f"{self.resume}: no 'last' checkpoint to resume from")
            changed = [k for k in self.overrides if k not in RESUMABLE_OVERRIDES
                       and self.overrides[k] != run.config["training"].get(k)]
            if changed:
                raise TrainingError("settings", "cannot change " + ", ".join(changed) + " when "
                                    "resuming (only " + ", ".join(RESUMABLE_OVERRIDES) + ")")
            self.design = run.design
            self.design.set_data(run.config.get("data", self.design.data))
            self.settings = resolve_training(run.config["training"], self.overrides)
            self.run_dir = self.resume
            resume_state = run.config
            base_dir = run.config.get("base_dir")
        else:
            if self.design is None:
                raise TrainingError("run", "no design to train")
            self.settings = resolve_training(self.design.training, self.overrides)
            base_dir = str(self.design_path.parent) if self.design_path else None
        self.base_dir = base_dir
        design = self.design
        design.set_training(dict(self.settings))
        problems = check_training(self.settings)
        if problems:
            raise TrainingError("settings", "; ".join(f"training setting {k} {p}"
                                                      for k, p in problems))
        s = self.settings
        try:
            self.device = devices.resolve_device(s["device"])
        except devices.DeviceError as exc:
            raise TrainingError("device", str(exc)) from None
        self.precision, warn = devices.effective_precision(self.device, s["precision"])
        self.warnings = [warn] if warn else []

        inputs = design.inputs()
        if len(inputs) != 1:
            raise TrainingError("design", f"training needs exactly one Input layer; this design "
                                f"has {len(inputs)}")
        input_dtype = inputs[0].resolved_params()["dtype"]

        yield self._event("stage", stage="loading data")
        if self.data is None:
            norm = None
            if resume_state is not None and "dataset" in resume_state:
                norm = Normalization.from_dict(resume_state["dataset"].get("normalization", {}))
            try:
                self.data = load_data(design.data, input_dtype=input_dtype, base_dir=base_dir,
                                      normalization=norm)
            except DataError as exc:
                raise TrainingError("data", str(exc)) from None
            except MemoryError:
                raise TrainingError("data", "the dataset does not fit in memory") from None
        info = self.data.info
        self.info = info

        yield self._event("stage", stage="compiling")
        report = validate(design, data_shape=info.sample_shape, data_classes=info.num_classes,
                          data_task=info.task)
        extra = self._check_against_data(report, input_dtype)
        errors = report.errors + extra
        if errors:
            raise TrainingError(
                "design", "the design does not fit the data:\n  " + "\n  ".join(
                    d.format(design) for d in errors),
                diagnostics=[_diagnostic_dict(d, design) for d in errors])
        self._seed(s["seed"])
        self.compiled = compile_design(design, report)
        out_node = design.outputs()[0]
        out_shape = tuple(report.inference.shapes[out_node.id])
        self.loss_fn = LossFn(s["loss"], info, out_shape, s["label_smoothing"])
        self.metrics = selected_metrics(s, info.task)
        stop = s["early_stopping_metric"]
        if stop != "none" and stop != "val_loss":
            fits = stop[4:] in (("accuracy", "f1") if info.task == "classification"
                                else ("mae", "r2"))
            if not fits:
                raise TrainingError("settings", f"early stopping on {stop} does not fit a "
                                    f"{info.task} dataset")
        if info.sizes["val"] == 0:
            self.monitor = "train_loss"
            if stop != "none":
                self.warnings.append(f"no validation split (val_fraction is 0): early stopping "
                                     f"on {stop} is off")
                stop = "none"
        else:
            self.monitor = stop if stop != "none" else "val_loss"
        self.early_stopping = stop != "none"
        self.monitor_higher = HIGHER_IS_BETTER[self.monitor.split("_", 1)[1]]
        for m in [m.strip() for m in s["metrics"].split(",") if m.strip()]:
            if m not in self.metrics and not (info.task == "regression" and m == "accuracy"):
                self.warnings.append(f"metric {m} does not apply to {info.task}; skipped")

    def _check_against_data(self, report: Report, input_dtype: str) -> list[Diagnostic]:
        """Checks validation cannot make without the loaded data."""
        out: list[Diagnostic] = []
        info = self.info
        node = self.design.inputs()[0]
        if info.x_dtype == "int64" and input_dtype != "int64":  # pragma: no cover - loader decides
            out.append(Diagnostic(ERROR, "data-dtype", "the data holds token ids but this Input "
                                  "takes float32", node.id, param="dtype"))
        outputs = self.design.outputs()
        if not report.ok or not outputs:
            return out
        shape = report.inference.shapes.get(outputs[0].id)
        loss = self.settings["loss"]
        if shape is not None and info.task == "regression":
            want = math.prod(info.target_shape or (1,))
            if math.prod(shape) != want:
                src = self.design.in_edges(outputs[0].id)
                out.append(Diagnostic(
                    ERROR, "targets", f"the network outputs {math.prod(shape)} value(s) per "
                    f"sample but {info.name} has {want} target(s)",
                    src[0].src if src else outputs[0].id,
                    fix=f"end the network with a Linear of {want} features"))
        if shape is not None and info.task == "classification" and loss != "cross_entropy":
            width = math.prod(shape)
            if not (width == info.num_classes or (width == 1 and info.num_classes == 2)):
                out.append(Diagnostic(
                    ERROR, "classes", f"the {loss} loss needs {info.num_classes} outputs per "
                    f"sample (or 1 for two classes), but the network outputs {width}",
                    outputs[0].id))
        return out

    def _seed(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        if self.device.type == "cuda":
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False

    def _config(self) -> dict[str, Any]:
        return {
            "design_name": self.design.name,
            "design_file": str(self.design_path) if self.design_path else None,
            "base_dir": self.base_dir,
            "training": self.settings,
            "data": self.design.data,
            "dataset": self.info.to_dict(),
            "device": str(self.device),
            "precision": self.precision,
            "torch_version": torch.__version__,
            "world_size": self.parallel.world_size,  # processes of a distributed run
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }

    def _run(self) -> Iterator[dict[str, Any]]:
        yield from self._prepare()
        s, info, device = self.settings, self.info, self.device
        yield self._event("stage", stage="preparing")

        # Run folder (only once everything has been checked).
        if self.write_files:
            if self.run_dir is None:
                stem = self.design_path.stem if self.design_path else self.design.name
                self.run_dir = default_run_dir(stem, self.runs_root)
            try:
                self.writer = RunWriter(self.run_dir, resume=self.resume is not None)
            except (RunError, OSError) as exc:
                raise TrainingError("run", str(exc)) from None
            if self.resume is None:
                self.writer.write_design(self.design)
                self.writer.write_config(self._config())
            else:
                config = load_run(self.run_dir).config
                config["training"] = self.settings
                self.writer.write_config(config)
            self.writer.status(status="running", epochs_completed=0, step=0)

        # Model, data on the device, optimizer, schedule.
        model = self.compiled.module.to(device)
        train_model = self.parallel.wrap_model(model) if self.parallel.wrap_model else model
        self.layers = layer_refs(self.compiled, self.design)
        data = self.data.to(device)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise TrainingError("design", "the network has no trainable parameters (add a "
                                "Linear or Conv layer)")
        bs = s["batch_size"]
        sampler = IndexSampler(len(data.train), shuffle=True, seed=s["seed"],
                               rank=self.parallel.rank, world_size=self.parallel.world_size)
        spe = sampler.num_batches(bs)
        if self.limit_batches:
            spe = min(spe, self.limit_batches)
        epochs = s["epochs"]
        optimizer, warn = make_optimizer(params, s, device)
        self.warnings += warn
        schedule = LRSchedule(optimizer, s, spe, epochs,
                              "max" if self.monitor_higher else "min")
        scaler = devices.grad_scaler(device, self.precision)

        start_epoch, start_batch, partial = 0, 0, (0.0, 0)
        bad_epochs = 0
        if self.resume is not None:
            try:
                weights = load_weights(self.run_dir, "last")
                model.load_state_dict(weights)
                state, parts, restore_rng = load_training_state(self.run_dir)
                optimizer.load_state_dict(parts["optimizer"])
                schedule.load_state_dict(parts["scheduler"])
                if scaler is not None and parts.get("scaler"):
                    scaler.load_state_dict(parts["scaler"])
            except (RunError, KeyError, ValueError, RuntimeError) as exc:
                raise TrainingError("run", f"{self.run_dir}: cannot resume ({exc})") from None
            start_epoch, start_batch = int(state["epoch"]), int(state["batch"])
            partial = (float(state.get("loss_sum", 0.0)), int(state.get("loss_batches", 0)))
            self.step = int(state["step"])
            self.best = state.get("best", self.best)
            bad_epochs = int(state.get("bad_epochs", 0))
            self.epochs_done = start_epoch
            restore_rng()
        if start_epoch >= epochs:
            raise TrainingError("settings", f"the run already finished {start_epoch} epochs; "
                                f"pass a larger epochs setting (e.g. --epochs {start_epoch + 10}) "
                                "to train further")

        eval_bs = max(bs, min(1024, 4 * bs))
        n_params = sum(p.numel() for p in params)
        self._log(f"training {self.design.name} on {device} ({self.precision}); {info.name}: "
                  f"{info.sizes}; {n_params:,} parameters")
        for w in self.warnings:
            self._log(f"warning: {w}")
        yield self._event(
            "start", run_dir=str(self.run_dir) if self.run_dir else None,
            design=self.design.name, device=str(device), device_name=devices.device_name(device),
            precision=self.precision, task=info.task, classes=info.class_names,
            sample_shape=list(info.sample_shape), parameters=n_params, epochs=epochs,
            steps_per_epoch=spe, total_steps=spe * epochs, batch_size=bs, sizes=info.sizes,
            metrics=self.metrics, monitor=self.monitor, seed=s["seed"],
            resumed=self.resume is not None, start_epoch=start_epoch + 1, start_step=self.step,
            warnings=self.warnings)

        control = self.control
        diag_every = s["diagnostics_every"]
        grad_clip = s["grad_clip"]
        # On the CPU reading a loss costs nothing (nothing runs ahead), so each step's loss is
        # read and checked at once; on accelerators losses add up on the device and are read
        # only for events, so the host never waits for the device mid-epoch.
        host_losses = device.type == "cpu"
        amp = devices.autocast(device, self.precision)
        cast = self.precision != "fp32"
        total_steps = spe * epochs
        session_start_step = self.step
        session_t0 = self._last_write = time.perf_counter()
        paused_time = 0.0

        # The step-event window runs across epochs, so small datasets whose epochs last less
        # than ``step_interval`` still report a per-step loss curve.
        window: Any = 0.0 if host_losses else torch.zeros((), device=device)
        window_batches = window_samples = 0
        window_t0 = time.perf_counter()
        for epoch in range(start_epoch, epochs):
            epoch_t0 = time.perf_counter()
            train_model.train()
            order = sampler.order(epoch)
            loss_sum: Any = partial[0] if epoch == start_epoch else 0.0
            if not host_losses:
                loss_sum = torch.tensor(loss_sum, device=device)
            loss_batches = partial[1] if epoch == start_epoch else 0
            first = start_batch if epoch == start_epoch else 0
            b = first
            for x, y in data.train.batches(order, bs, spe, start=first):
                if control.paused:
                    yield self._event("paused", step=self.step, epoch=epoch + 1)
                    p0 = time.perf_counter()
                    control.wait_while_paused()
                    paused_time += time.perf_counter() - p0
                    window_t0 = time.perf_counter()
                    window_samples = 0
                    if not control.stop_requested:
                        yield self._event("resumed", step=self.step, epoch=epoch + 1)
                if control.stop_requested:
                    yield from self._flush_best()
                    yield from self._save_last(model, optimizer, schedule, scaler, epoch, b,
                                               loss_sum, loss_batches, bad_epochs)
                    self.status = "stopped"
                    return
                diag = bool(diag_every) and (self.step + 1) % diag_every == 0
                stats: dict[str, torch.Tensor] = {}
                hooks = _Hooks(self.layers, lambda ref, out: _activation_stats(ref, out, stats)) \
                    if diag else None
                if hooks:
                    hooks.__enter__()
                try:
                    with amp:
                        out = first_output(train_model(x))
                        loss = self.loss_fn(out.float() if cast else out, y)
                finally:
                    if hooks:
                        hooks.__exit__()
                if host_losses:
                    value = loss.item()
                    if not math.isfinite(value):
                        self._nonfinite(model, x, value, epoch)
                for p in params:  # optimizer.zero_grad(set_to_none=True), minus its overhead
                    p.grad = None
                if scaler is not None:
                    scaler.scale(loss).backward()
                    if grad_clip or diag:
                        scaler.unscale_(optimizer)
                    if grad_clip:
                        torch.nn.utils.clip_grad_norm_(params, grad_clip)
                    grad_stats = self._grad_stats() if diag else None
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    if grad_clip:
                        torch.nn.utils.clip_grad_norm_(params, grad_clip)
                    grad_stats = self._grad_stats() if diag else None
                    optimizer.step()
                schedule.step_batch()
                self.step += 1
                b += 1
                if host_losses:
                    loss_sum += value
                    window += value
                else:
                    detached = loss.detach()
                    loss_sum += detached
                    window += detached
                loss_batches += 1
                window_batches += 1
                window_samples += len(y)
                if diag:
                    yield self._event("diagnostics", step=self.step, epoch=epoch + 1,
                                      layers=self._diag_rows(stats, grad_stats))
                now = time.perf_counter()
                if now - window_t0 >= self.step_interval:
                    mean = float(window) / window_batches
                    if not math.isfinite(mean):
                        self._nonfinite(model, x, window, epoch)
                    elapsed = now - session_t0 - paused_time
                    done = self.step - session_start_step
                    yield self._event(
                        "step", step=self.step, epoch=epoch + 1, batch=b, batches=spe, loss=mean,
                        lr=optimizer.param_groups[0]["lr"],
                        samples_per_s=window_samples / (now - window_t0),
                        eta_s=elapsed / done * (total_steps - self.step) if done else None)
                    window = 0.0 if host_losses else window.zero_()
                    window_batches = window_samples = 0
                    window_t0 = now

            # ---- end of epoch ----
            if self.parallel.all_reduce_mean is not None:
                loss_sum = self.parallel.all_reduce_mean(torch.as_tensor(loss_sum, device=device))
            train_loss = float(loss_sum) / max(1, loss_batches)
            if not math.isfinite(train_loss):
                self._nonfinite(model, x, loss_sum, epoch)
            train_time = time.perf_counter() - epoch_t0
            metrics: dict[str, Any] = {"train_loss": train_loss}
            if len(data.val):
                result = evaluate_split(train_model, data.val, self.loss_fn, info, device,
                                        self.precision, eval_bs, self.limit_batches)
                metrics["val_loss"] = result["loss"]
                for m in self.metrics:
                    metrics[f"val_{m}"] = result.get(m)
            else:
                metrics["val_loss"] = None
                for m in self.metrics:
                    metrics[f"val_{m}"] = None
            value = metrics.get(self.monitor)
            schedule.step_epoch(value)
            self.epochs_done = epoch + 1
            improved = value is not None and math.isfinite(value) and (
                self.best["value"] is None
                or (value > self.best["value"] if self.monitor_higher else value < self.best["value"]))
            if improved:
                self.best = {"metric": self.monitor, "value": value, "epoch": epoch + 1}
                bad_epochs = 0
            else:
                bad_epochs += 1
            samples = (loss_batches - (partial[1] if epoch == start_epoch else 0)) * bs
            yield self._event(
                "epoch", epoch=epoch + 1, epochs=epochs, step=self.step, **metrics,
                lr=optimizer.param_groups[0]["lr"],
                duration_s=round(time.perf_counter() - epoch_t0, 4),
                samples_per_s=samples / train_time if train_time > 0 else None,
                improved=improved, best=self.best)
            self._log(f"epoch {epoch + 1}/{epochs}: " + ", ".join(
                f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float)))
            if improved and self.writer is not None:
                self._best_pending = (
                    {k: v.detach().clone() for k, v in model.state_dict().items()},
                    {"epoch": epoch + 1, "step": self.step, **self.best})
            early_stop = self.early_stopping and bad_epochs >= s["patience"]
            final = epoch + 1 == epochs or early_stop or control.stop_requested
            if final or time.perf_counter() - self._last_write >= self.checkpoint_interval:
                yield from self._flush_best()
                yield from self._save_last(model, optimizer, schedule, scaler, epoch + 1, 0,
                                           None, 0, bad_epochs)
            if early_stop:
                self._log(f"early stopping: {self.monitor} did not improve for {bad_epochs} "
                          "epochs")
                self.status = "early_stopped"
                return
            if control.stop_requested and epoch + 1 < epochs:
                self.status = "stopped"
                return
        self.status = "completed"

    def _save_last(self, model: nn.Module, optimizer: torch.optim.Optimizer,
                   schedule: LRSchedule, scaler: Any, epoch: int, batch: int,
                   loss_sum: torch.Tensor | float | None, loss_batches: int,
                   bad_epochs: int) -> Iterator[dict[str, Any]]:
        """The ``last`` checkpoint: weights plus everything needed to continue exactly here
        (``epoch`` is 0-based, ``batch`` the next batch to run in it)."""
        if self.writer is None:
            return
        path = save_weights(self.run_dir, "last", model, {})
        parts = {"optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict()}
        if scaler is not None:
            parts["scaler"] = scaler.state_dict()
        save_training_state(self.run_dir, {
            "epoch": epoch, "batch": batch, "step": self.step,
            "loss_sum": float(loss_sum) if loss_sum is not None else 0.0,
            "loss_batches": loss_batches, "best": self.best, "bad_epochs": bad_epochs,
        }, parts)
        self.writer.status(status="running", epochs_completed=self.epochs_done, step=self.step,
                           best=self.best)
        self._last_write = time.perf_counter()
        yield self._event("checkpoint", kind="last", path=str(path), epoch=self.epochs_done,
                          step=self.step)

    def _write_best(self) -> dict[str, Any] | None:
        """Write the best weights waiting in memory; returns their checkpoint event."""
        if self._best_pending is None or self.writer is None:
            return None
        state, info = self._best_pending
        self._best_pending = None
        path = save_weights(self.run_dir, "best", state, info)
        return self._event("checkpoint", kind="best", path=str(path), epoch=info["epoch"],
                           step=info["step"])

    def _flush_best(self) -> Iterator[dict[str, Any]]:
        event = self._write_best()
        if event is not None:
            yield event

    def _grad_stats(self) -> dict[str, torch.Tensor]:
        out = {}
        for ref in self.layers:
            norm = _grad_norm(ref.module)
            if norm is not None:
                out[ref.ident] = norm
        return out

    def _diag_rows(self, stats: Mapping[str, torch.Tensor],
                   grads: Mapping[str, torch.Tensor] | None) -> list[dict[str, Any]]:
        nan = torch.tensor(float("nan"), device=self.device)
        rows = []
        for ref in self.layers:
            act = stats.get(ref.ident)
            act = act if act is not None else torch.stack([nan, nan, nan])
            grad = (grads or {}).get(ref.ident, nan)
            rows.append(torch.cat([act.to(self.device), grad.reshape(1).to(self.device)]))
        values = torch.stack(rows).tolist() if rows else []  # one host sync for all layers
        return [{"node": ref.node, "name": ref.name, "type": ref.type, "grad_norm": v[3],
                 "act_mean": v[0], "act_std": v[1], "dead_fraction": v[2]}
                for ref, v in zip(self.layers, values)]

    def _nonfinite(self, model: nn.Module, x: torch.Tensor, loss: torch.Tensor | float,
                   epoch: int) -> None:
        value = float(loss)
        culprit = locate_nonfinite(model, self.layers, x, self.device, self.precision)
        where = f"at step {self.step + 1} (epoch {epoch + 1})"
        if culprit is not None:
            params_bad = any(not bool(torch.isfinite(p).all()) for p in culprit.module.parameters())
            detail = f"the first non-finite output comes from layer {culprit.name!r} ({culprit.type})"
            if params_bad:
                detail += ("; its weights are already non-finite, so an earlier update diverged"
                           if self.step else "; its weights are not finite")
        else:
            detail = "every layer's output is finite, so the loss itself overflowed"
        raise TrainingError(
            "nonfinite", f"the loss became {value} {where}: {detail}. Try a lower learning rate, "
            "gradient clipping (grad_clip) or normalization layers.",
            node=culprit.node if culprit else None, layer=culprit.name if culprit else None,
            step=self.step + 1, epoch=epoch + 1)


def _diagnostic_dict(d: Diagnostic, design: Design) -> dict[str, Any]:
    name = design.node(d.node).name if d.node and design.has_node(d.node) else None
    return {"severity": d.severity, "code": d.code, "message": d.message, "node": d.node,
            "name": name, "fix": d.fix}


def train(design: Design | None = None, **options: Any) -> Iterator[dict[str, Any]]:
    """Train ``design`` and yield progress events (see the module docs and :class:`Trainer`)."""
    return Trainer(design, **options).run()


# ---- evaluation of a finished run ------------------------------------------------------------


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
        compiled = run.build_model(checkpoint, dev)
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
                   "task": info.task, "classes": info.class_names})
    if info.task == "classification":
        keep = ("loss", "accuracy", "top5", "precision", "recall", "f1", "per_class",
                "confusion_matrix")
    else:
        keep = ("loss", "mae", "rmse", "r2")
    return json_safe({k: v for k, v in result.items()
                      if k in keep or k in ("run_dir", "checkpoint", "split", "task", "classes",
                                            "samples")})
