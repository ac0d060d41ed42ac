"""The training loop: one :class:`Trainer` per run, a generator of progress events."""
from __future__ import annotations

import math
import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping, TypeVar

import torch
from torch import nn

from graph.design import Design

from .. import devices
from ..compiler import compile_design
from ..weights import (WeightsError, apply_training_flags, load_initial_weights, param_groups,
                       set_train_mode)
from ..data import IndexSampler, LoadedData
from ..paths import default_run_dir
from ..runs import RunError, RunFolder, RunWriter, load_weights_into
from .. import events as ev
from . import setup
from .control import Control, Parallel, TrainingError
from .evaluation import evaluate_split, evaluation_batch_size
from .losses import LossFn, first_output
from .optim import (LRSchedule, OptimizerStep, check_optimizer_state, make_optimizer,
                    match_state_layout)
from .probes import Activation, Hooks, activation_stats, diagnostic_rows, grad_stats, layer_refs, \
    nonfinite_error

E = TypeVar("E", bound=ev.Event)


@dataclass
class _Loop:
    """What the loop trains with, built once the run has been checked."""

    model: nn.Module  # the compiled module (checkpoints save this one)
    train_model: nn.Module  # the module the steps run (DDP-wrapped in a distributed run)
    params: list[nn.Parameter]
    data: LoadedData  # on the training device
    sampler: IndexSampler
    steps_per_epoch: int
    epochs: int
    batch_size: int
    optimizer: torch.optim.Optimizer
    schedule: LRSchedule
    scaler: Any
    host_losses: bool  # read each step's loss at once (CPU) or sum on the device
    amp: Any  # the autocast context of the run's precision (None: fp32, no autocast)
    accumulate: int = 1  # batches whose gradients add up to one optimizer step
    eager_model: nn.Module | None = None  # the uncompiled train_model while torch.compile is on trial
    memory_format: torch.memory_format | None = None  # channels_last for images on CUDA
    start_epoch: int = 0
    start_batch: int = 0
    partial: tuple[float, int] = (0.0, 0)  # loss sum and batches of a resumed epoch
    bad_epochs: int = 0
    step_optimizer: Any = None  # optimizer.step(), or its lean equivalent (OptimizerStep)
    no_sync: Any = None  # DDP's no_sync of train_model (None: a single process)

    def __post_init__(self) -> None:
        if self.step_optimizer is None:
            self.step_optimizer = OptimizerStep(self.optimizer)
        if self.no_sync is None:
            self.no_sync = getattr(self.train_model, "no_sync", None)

    def zero(self, value: float = 0.0) -> Any:
        return value if self.host_losses else torch.tensor(value, device=self.data.train.device)

    @property
    def updates_per_epoch(self) -> int:
        """Optimizer steps per epoch (the last may add up fewer batches)."""
        return -(-self.steps_per_epoch // self.accumulate)

    def cycle(self, batch: int) -> tuple[int, bool, bool]:
        """For the ``batch``-th batch of an epoch: how many batches its optimizer step adds up,
        and whether it is the first and the last of them."""
        start = batch - batch % self.accumulate
        size = min(self.accumulate, self.steps_per_epoch - start)
        return size, batch == start, batch + 1 == start + size


@dataclass
class _Epoch:
    """One epoch in progress (``index`` is 0-based)."""

    index: int
    t0: float
    loss_sum: Any
    loss_batches: int
    first_batch: int
    batch: int
    last_x: torch.Tensor | None = None


_SINGLE = (1, True, True)  # the accumulation cycle of a batch that is its own optimizer step
_NO_STATS: Mapping[str, Activation] = MappingProxyType({})  # a step without layer statistics


class _Window:
    """The step-event window: losses since the last ``step`` event. It runs across epochs, so
    small datasets whose epochs last less than ``step_interval`` still get a per-step curve."""

    def __init__(self, loop: _Loop):
        self.loop = loop
        self.loss: Any = loop.zero()
        self.batches = self.samples = 0
        self.t0 = time.perf_counter()

    def reset(self, now: float) -> None:
        self.loss = 0.0 if self.loop.host_losses else self.loss.zero_()
        self.batches = self.samples = 0
        self.t0 = now


class Trainer:
    """One training run. :meth:`run` is the event generator; see :mod:`runtime.training`.

    ``design`` is trained with its own settings, changed by ``overrides`` (training settings).
    ``resume`` continues the run in that folder from its ``last`` checkpoint (only
    :data:`~runtime.training.setup.RESUMABLE_OVERRIDES` may change). ``data`` may hold
    already-loaded data. ``limit_batches`` caps training and validation batches per epoch (quick
    smoke runs). Checkpoints are written at most every ``checkpoint_interval`` seconds (the best
    weights wait in memory meanwhile) and always when the run ends, stops or fails.
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
        self._notice = ""  # a warning for the next event (torch.compile fell back)
        self.status = "failed"

    # ---- events ----

    def _event(self, kind: type[E], /, **fields: Any) -> E:
        event = kind(time=round(time.perf_counter() - self._t0, 4), **fields)
        if self.writer is not None:
            self.writer.event(event.to_dict())
        return event

    def _log(self, line: str) -> None:
        if self.writer is not None:
            self.writer.log(line)

    # ---- the generator ----

    def run(self) -> Iterator[ev.Event]:
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
            yield self._event(ev.Error, kind=exc.kind, message=exc.message, details=exc.extra)
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
            yield self._event(ev.Error, kind="internal", message=message)
        end = self._event(ev.End, status=self.status, epochs_completed=self.epochs_done,
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

    def _run(self) -> Iterator[ev.Event]:
        yield from self._prepare()
        yield self._event(ev.Stage, stage="preparing")
        self._open_run_folder()
        loop = self._build_loop()
        if self.resume is not None:
            self._restore(loop)
        if loop.start_epoch >= loop.epochs:
            raise TrainingError("settings", f"the run already finished {loop.start_epoch} epochs; "
                                f"pass a larger epochs setting (e.g. --epochs "
                                f"{loop.start_epoch + 10}) to train further")
        yield self._start_event(loop)
        self._session = (self.step, time.perf_counter())  # for the ETA
        self._paused_time = 0.0
        self._last_write = time.perf_counter()
        window = _Window(loop)
        for epoch in range(loop.start_epoch, loop.epochs):
            state = self._begin_epoch(loop, epoch)
            if (yield from self._train_epoch(loop, state, window)):
                self.status = "stopped"
                return
            status = yield from self._end_epoch(loop, state)
            if status is not None:
                self.status = status
                return
        self.status = "completed"

    # ---- before the loop ----

    def _prepare(self) -> Iterator[ev.Event]:
        """Settings, device, data, validation and compilation; raises TrainingError."""
        yield self._event(ev.Stage, stage="checking settings")
        resume_config = None
        if self.resume is not None:
            self.design, self.settings, resume_config = setup.resume_settings(self.resume,
                                                                              self.overrides)
            self.run_dir = self.resume
            self.base_dir = resume_config.get("base_dir")
        else:
            if self.design is None:
                raise TrainingError("run", "no design to train")
            self.settings = setup.resolve_training(self.design.training, self.overrides)
            self.base_dir = setup.base_dir_of(self.design_path)
        design, s = self.design, self.settings
        design.set_training(dict(s))
        setup.check_settings(s)
        self.device, self.precision, self.warnings = setup.resolve_device(s)
        self.notes: list[str] = []  # said at the start, changing nothing the user asked for
        inference = setup.infer(design)  # the shapes, once: the memory check and validation
        setup.check_memory(design, self.device, inference)
        dtype = setup.input_dtype(design)

        yield self._event(ev.Stage, stage="loading data")
        if self.data is None:
            self.data = setup.load_training_data(design, dtype, self.base_dir, resume_config)
        info = self.info = self.data.info

        yield self._event(ev.Stage, stage="compiling")
        report = setup.check_design(design, info, s, dtype, inference)
        setup.seed_everything(s["seed"], self.device, s["deterministic"])
        self.compiled = compile_design(design, report)
        self._start_from_initial_weights(design)
        self.loss_fn = LossFn(s["loss"], info, setup.output_shape(design, report),
                              s["label_smoothing"])
        self.metrics = setup.selected_metrics(s, info.task)
        self.monitor, self.monitor_higher, self.early_stopping, warnings = \
            setup.monitoring(s, info)
        self.warnings += warnings + setup.metric_warnings(s, self.metrics, info.task)
        self.notes += [f"data: {note}" for note in info.notes]  # what reading skipped

    def _start_from_initial_weights(self, design: Design) -> None:
        """Load the design's initial weights (a fresh run only) and freeze what it freezes."""
        if self.resume is None:
            try:
                matching = load_initial_weights(self.compiled, design, self.base_dir)
            except WeightsError as exc:
                raise TrainingError("design", str(exc)) from None
            if matching is not None:
                self.notes.append(f"started from {design.initial_weights}: "
                                     f"{matching.describe()}")
        # Frozen BatchNorm layers keep their statistics: they stay in evaluation mode.
        self.frozen_norms = apply_training_flags(self.compiled, design)

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

    def _open_run_folder(self) -> None:
        """Create (or reopen) the run folder, only once everything has been checked."""
        if not self.write_files:
            return
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
            try:
                config = self.writer.folder.config()
            except RunError as exc:
                raise TrainingError("run", str(exc)) from None
            config["training"] = self.settings
            self.writer.write_config(config)
        for path in self.writer.removed:
            self._log(f"removed {path.name}, left by an interrupted write")
        self.writer.status(status="running", epochs_completed=0, step=0)

    def _build_loop(self) -> _Loop:
        """Model and data on the device, sample order, optimizer and schedule."""
        s, device = self.settings, self.device
        layout = devices.memory_format(device, self.info.sample_shape)
        model = self.compiled.module  # built on the CPU
        if device.type != "cpu" or layout is not None:
            model = model.to(device, memory_format=layout or torch.preserve_format)
        train_model = self.parallel.wrap_model(model) if self.parallel.wrap_model else model
        self.layers = layer_refs(self.compiled, self.design)
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise TrainingError("design", "the network has no trainable parameters (add a "
                                "Linear or Conv layer, or unfreeze one)")
        data = self.data.to(device)
        if self.parallel.world_size > 1:  # every rank needs samples of its own (else: say so)
            self.parallel.shard(len(data.train), "training")
            if len(data.val):
                self.parallel.shard(len(data.val), "validation")
        sampler = IndexSampler(len(data.train), shuffle=True, seed=s["seed"],
                               rank=self.parallel.rank, world_size=self.parallel.world_size)
        spe = sampler.num_batches(s["batch_size"])
        if self.limit_batches:
            spe = min(spe, self.limit_batches)
        optimizer, warn = make_optimizer(param_groups(self.compiled, self.design, s["lr"]), s, device)
        self.warnings += warn
        accumulate = min(s["accumulate"], spe)
        schedule = LRSchedule(optimizer, s, -(-spe // accumulate), s["epochs"],
                              "max" if self.monitor_higher else "min")
        eager = None
        if s["compile"]:
            eager, train_model = train_model, torch.compile(train_model)
        return _Loop(model, train_model, params, data, sampler, spe, s["epochs"],
                     s["batch_size"], optimizer, schedule,
                     devices.grad_scaler(device, self.precision), devices.reads_losses_at_once(device),
                     None if self.precision == "fp32" else devices.autocast(device, self.precision),
                     accumulate, eager, layout)

    def _restore(self, loop: _Loop) -> None:
        """Continue from the ``last`` checkpoint: weights, optimizer, schedule, RNG, position."""
        try:
            checkpoint = RunFolder(self.run_dir).checkpoint("last")
            load_weights_into(loop.model, checkpoint.weights(), str(checkpoint.dir))
            state, parts, restore_rng = checkpoint.training_state()
            check_optimizer_state(parts.get("optimizer"), loop.optimizer)
            loop.optimizer.load_state_dict(parts["optimizer"])
            match_state_layout(loop.optimizer)  # channels_last parameters: their state too
            loop.schedule.load_state_dict(parts["scheduler"])
            if loop.scaler is not None and parts.get("scaler"):
                loop.scaler.load_state_dict(parts["scaler"])
            loop.start_epoch, loop.start_batch = int(state["epoch"]), int(state["batch"])
            loop.partial = (float(state.get("loss_sum", 0.0)),
                            int(state.get("loss_batches", 0)))
            loop.bad_epochs = int(state.get("bad_epochs", 0))
            self.step = int(state["step"])
            best = state.get("best", self.best)
            restore_rng()
        except (RunError, KeyError, ValueError, TypeError, IndexError, RuntimeError) as exc:
            raise TrainingError("run", f"{self.run_dir}: cannot resume ({exc})") from None
        if not isinstance(best, dict) or not 0 <= loop.start_batch <= loop.steps_per_epoch:
            raise TrainingError("run", f"{checkpoint.dir}: cannot resume (damaged position)")
        self.best = best
        self.epochs_done = loop.start_epoch
        if checkpoint.note:
            self.warnings.append(checkpoint.note)

    def _start_event(self, loop: _Loop) -> ev.Start:
        info, device, s = self.info, self.device, self.settings
        n_params = sum(p.numel() for p in loop.params)
        self._log(f"training {self.design.name} on {device} ({self.precision}); {info.name}: "
                  f"{info.sizes}; {n_params:,} parameters")
        for w in self.warnings:
            self._log(f"warning: {w}")
        for note in self.notes:
            self._log(f"note: {note}")
        spe = loop.updates_per_epoch
        return self._event(
            ev.Start, run_dir=str(self.run_dir) if self.run_dir else None,
            design=self.design.name, device=str(device), device_name=devices.device_name(device),
            precision=self.precision, task=info.task, classes=info.class_names,
            sample_shape=list(info.sample_shape), parameters=n_params, epochs=loop.epochs,
            steps_per_epoch=spe, total_steps=spe * loop.epochs, batch_size=loop.batch_size,
            sizes=info.sizes, metrics=self.metrics, monitor=self.monitor, seed=s["seed"],
            resumed=self.resume is not None, start_epoch=loop.start_epoch + 1,
            start_step=self.step, warnings=self.warnings, notes=self.notes, accumulate=loop.accumulate,
            compile=loop.eager_model is not None)

    # ---- one epoch ----

    def _begin_epoch(self, loop: _Loop, epoch: int) -> _Epoch:
        resumed = epoch == loop.start_epoch
        first = loop.start_batch if resumed else 0
        return _Epoch(epoch, time.perf_counter(), loop.zero(loop.partial[0] if resumed else 0.0),
                      loop.partial[1] if resumed else 0, first, first)

    def _train_epoch(self, loop: _Loop, ep: _Epoch, window: _Window) -> Iterator[ev.Event]:
        """Run the batches of one epoch; returns True when a stop was requested."""
        set_train_mode(loop.train_model, self.frozen_norms)
        order = loop.sampler.order(ep.index)
        running, stopping = self.control.hot_checks
        diag_every = self.settings["diagnostics_every"]
        single, layout = loop.accumulate == 1, loop.memory_format
        for x, y in loop.data.train.batches(order, loop.batch_size, loop.steps_per_epoch,
                                            start=ep.first_batch):
            if not running():
                yield from self._pause(ep.index, window)
            cycle = _SINGLE if single else loop.cycle(ep.batch)
            last = cycle[2]
            if layout is not None:
                x = x.contiguous(memory_format=layout)
            if cycle[1] and stopping():  # between optimizer steps: resumes exactly
                yield from self._flush_best()
                yield from self._save_last(loop, ep.index, ep.batch, ep.loss_sum,
                                           ep.loss_batches)
                return True
            diag = bool(diag_every) and last and (self.step + 1) % diag_every == 0
            loss, stats, grads = self._step(loop, x, y, diag, ep.index, cycle)
            self.step += last
            ep.batch += 1
            ep.loss_sum += loss
            window.loss += loss
            ep.loss_batches += 1
            window.batches += 1
            window.samples += y.shape[0]  # (len() of a tensor costs µs)
            ep.last_x = x
            if self._notice:
                yield self._event(ev.Notice, message=self._notice)
                self._notice = ""
            if diag:
                yield self._event(ev.Diagnostics, step=self.step, epoch=ep.index + 1,
                                  layers=diagnostic_rows(self.layers, stats, grads, self.device))
            if time.perf_counter() - window.t0 >= self.step_interval:
                yield self._step_event(loop, ep, window)
        return False

    def _pause(self, epoch: int, window: _Window) -> Iterator[ev.Event]:
        control = self.control
        yield self._event(ev.Paused, step=self.step, epoch=epoch + 1)
        p0 = time.perf_counter()
        control.wait_while_paused()
        self._paused_time += time.perf_counter() - p0
        window.t0 = time.perf_counter()
        window.samples = 0
        if not control.stop_requested:
            yield self._event(ev.Resumed, step=self.step, epoch=epoch + 1)

    def _step(self, loop: _Loop, x: torch.Tensor, y: torch.Tensor, diag: bool, epoch: int,
              cycle: tuple[int, bool, bool] = (1, True, True)
              ) -> tuple[Any, Mapping[str, Activation], list[tuple[int, torch.Tensor]] | None]:
        """One batch: forward and backward, and the optimizer step when it is the last batch
        of its accumulation ``cycle`` (size, first, last). Returns the loss (a float on the
        CPU, a device tensor elsewhere) and, on diagnostics steps, activation and gradient
        statistics."""
        if diag:
            stats: dict[str, Activation] = {}
            with Hooks(self.layers, lambda ref, out: activation_stats(ref, out, stats)):
                loss = self._loss(loop, x, y)
        else:
            stats = _NO_STATS
            loss = self._loss(loop, x, y)
        if loop.host_losses:
            value = loss.item()
            if not math.isfinite(value):
                raise self._nonfinite(loop, x, value, epoch)
        grads = self._backward(loop, loss, diag, cycle)
        if cycle[2]:
            loop.schedule.step_batch()
        return (value if loop.host_losses else loss.detach()), stats, grads

    def _loss(self, loop: _Loop, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The forward pass and the loss of one batch (under the run's autocast)."""
        if loop.amp is None:
            return self.loss_fn(first_output(self._forward(loop, x)), y)
        with loop.amp:
            out = first_output(self._forward(loop, x))
            return self.loss_fn(out.float() if self.precision != "fp32" else out, y)

    def _forward(self, loop: _Loop, x: torch.Tensor) -> Any:
        """The model's output; the first call of a ``torch.compile``-d model compiles it, and
        where that fails the run goes on uncompiled and a ``warning`` event says why."""
        if loop.eager_model is None:
            return loop.train_model(x)
        try:
            out = loop.train_model(x)
        except Exception as exc:  # noqa: BLE001 - no compiler, an unsupported layer, …
            loop.train_model, loop.eager_model = loop.eager_model, None
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self._notice = (f"torch.compile cannot run here ({type(exc).__name__}: "
                            f"{reason[:300]}); training uncompiled")
            self._log(f"warning: {self._notice}")
            return loop.train_model(x)
        loop.eager_model = None  # compiled: nothing more to check
        return out

    def _backward(self, loop: _Loop, loss: torch.Tensor, diag: bool,
                  cycle: tuple[int, bool, bool] = (1, True, True)
                  ) -> dict[str, torch.Tensor] | None:
        size, first, last = cycle
        grad_clip = self.settings["grad_clip"]
        if first:
            for p in loop.params:  # optimizer.zero_grad(set_to_none=True), minus its overhead
                p.grad = None
        if size > 1:
            loss = loss / size  # the gradient of the mean over the whole cycle
        scaler, optimizer = loop.scaler, loop.optimizer
        if scaler is not None:
            loss = scaler.scale(loss)
        if last or loop.no_sync is None:
            loss.backward()
        else:
            with loop.no_sync():  # DDP: all-reduce once per cycle, on its last batch
                loss.backward()
        if not last:
            return None
        if scaler is not None and (grad_clip or diag):
            scaler.unscale_(optimizer)
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(loop.params, grad_clip)
        grads = grad_stats(self.layers) if diag else None
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        elif loop.host_losses or not loop.step_optimizer.skips_on_device:
            loop.step_optimizer()
        else:  # a non-finite loss, read later, must not have updated the weights by then
            loop.step_optimizer(torch.isfinite(loss.detach()).logical_not().float())
        return grads

    def _step_event(self, loop: _Loop, ep: _Epoch, window: _Window) -> ev.Event:
        """The ``step`` event of the window (sent once ``step_interval`` seconds have passed
        since the last one)."""
        now = time.perf_counter()
        mean = float(window.loss) / window.batches
        if not math.isfinite(mean):
            raise self._nonfinite(loop, ep.last_x, window.loss, ep.index)
        start_step, session_t0 = self._session
        elapsed = now - session_t0 - self._paused_time
        done = self.step - start_step
        total = loop.updates_per_epoch * loop.epochs
        event = self._event(
            ev.Step, step=self.step, epoch=ep.index + 1, batch=ep.batch,
            batches=loop.steps_per_epoch, loss=mean, lr=loop.optimizer.param_groups[0]["lr"],
            samples_per_s=window.samples / (now - window.t0),
            eta_s=elapsed / done * (total - self.step) if done else None)
        window.reset(now)
        return event

    def _end_epoch(self, loop: _Loop, ep: _Epoch) -> Iterator[ev.Event]:
        """Validation, the ``epoch`` event, checkpoints and early stopping; returns the final
        status when the run ends here, else None."""
        metrics, train_time = self._epoch_metrics(loop, ep)
        value = metrics.get(self.monitor)
        loop.schedule.step_epoch(value)
        self.epochs_done = ep.index + 1
        improved = value is not None and math.isfinite(value) and (
            self.best["value"] is None
            or (value > self.best["value"] if self.monitor_higher else value < self.best["value"]))
        if improved:
            self.best = {"metric": self.monitor, "value": value, "epoch": ep.index + 1}
            loop.bad_epochs = 0
        else:
            loop.bad_epochs += 1
        resumed = ep.index == loop.start_epoch
        samples = (ep.loss_batches - (loop.partial[1] if resumed else 0)) * loop.batch_size
        yield self._event(
            ev.Epoch, epoch=ep.index + 1, epochs=loop.epochs, step=self.step,
            train_loss=metrics["train_loss"], val_loss=metrics["val_loss"],
            metrics={k: v for k, v in metrics.items() if k not in ("train_loss", "val_loss")},
            lr=loop.optimizer.param_groups[0]["lr"],
            duration_s=round(time.perf_counter() - ep.t0, 4),
            samples_per_s=samples / train_time if train_time > 0 else None,
            improved=improved, best=self.best)
        if self.writer is not None:  # the line costs a little: only where it is kept
            self._log(f"epoch {ep.index + 1}/{loop.epochs}: " + ", ".join(
                f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float)))
        if improved and self.writer is not None:
            self._best_pending = (
                {k: v.detach().clone() for k, v in loop.model.state_dict().items()},
                {"epoch": ep.index + 1, "step": self.step, **self.best})
        early_stop = self.early_stopping and loop.bad_epochs >= self.settings["patience"]
        stop = self.control.stop_requested
        if ep.index + 1 == loop.epochs or early_stop or stop \
                or time.perf_counter() - self._last_write >= self.checkpoint_interval:
            yield from self._flush_best()
            yield from self._save_last(loop, ep.index + 1, 0, None, 0)
        if early_stop:
            self._log(f"early stopping: {self.monitor} did not improve for {loop.bad_epochs} "
                      "epochs")
            return "early_stopped"
        if stop and ep.index + 1 < loop.epochs:
            return "stopped"
        return None

    def _epoch_metrics(self, loop: _Loop, ep: _Epoch) -> tuple[dict[str, Any], float]:
        """Training loss (averaged over ranks) and validation loss and metrics of one epoch."""
        loss_sum = ep.loss_sum
        if self.parallel.all_reduce_mean is not None:
            loss_sum = self.parallel.all_reduce_mean(torch.as_tensor(loss_sum,
                                                                     device=self.device))
        train_loss = float(loss_sum) / max(1, ep.loss_batches)
        if not math.isfinite(train_loss):
            raise self._nonfinite(loop, ep.last_x, loss_sum, ep.index)
        train_time = time.perf_counter() - ep.t0
        metrics: dict[str, Any] = {"train_loss": train_loss, "val_loss": None}
        result: dict[str, Any] = {}
        if len(loop.data.val):
            eval_bs = evaluation_batch_size(loop.batch_size, math.prod(self.info.sample_shape))
            parallel, shard = self.parallel, None
            if parallel.all_reduce_sum is not None:  # each rank its part of the split
                shard = parallel.shard(len(loop.data.val), "validation")
                if parallel.sync_buffers is not None:
                    parallel.sync_buffers(loop.model)
            result = evaluate_split(loop.model, loop.data.val, self.loss_fn, self.info,
                                    self.device, self.precision, eval_bs, self.limit_batches,
                                    shard, parallel.all_reduce_sum, self.metrics, details=False)
            metrics["val_loss"] = result["loss"]
        for m in self.metrics:
            metrics[f"val_{m}"] = result.get(m)
        return metrics, train_time

    # ---- checkpoints ----

    def _save_last(self, loop: _Loop, epoch: int, batch: int,
                   loss_sum: torch.Tensor | float | None, loss_batches: int) -> Iterator[ev.Event]:
        """The ``last`` checkpoint: weights plus everything needed to continue exactly here
        (``epoch`` is 0-based, ``batch`` the next batch to run in it)."""
        if self.writer is None:
            return
        parts = {"optimizer": loop.optimizer.state_dict(),
                 "scheduler": loop.schedule.state_dict()}
        if loop.scaler is not None:
            parts["scaler"] = loop.scaler.state_dict()
        path = self.writer.save_last(loop.model, {
            "epoch": epoch, "batch": batch, "step": self.step,
            "loss_sum": float(loss_sum) if loss_sum is not None else 0.0,
            "loss_batches": loss_batches, "best": self.best, "bad_epochs": loop.bad_epochs,
        }, parts)
        self.writer.status(status="running", epochs_completed=self.epochs_done, step=self.step,
                           best=self.best)
        self._last_write = time.perf_counter()
        yield self._event(ev.Checkpoint, kind="last", path=str(path), epoch=self.epochs_done,
                          step=self.step)

    def _write_best(self) -> ev.Event | None:
        """Write the best weights waiting in memory; returns their checkpoint event."""
        if self._best_pending is None or self.writer is None:
            return None
        state, info = self._best_pending
        self._best_pending = None
        path = self.writer.save_weights("best", state, info, info["step"], info["epoch"])
        return self._event(ev.Checkpoint, kind="best", path=str(path), epoch=info["epoch"],
                           step=info["step"])

    def _flush_best(self) -> Iterator[ev.Event]:
        event = self._write_best()
        if event is not None:
            yield event

    def _nonfinite(self, loop: _Loop, x: torch.Tensor | None, loss: Any,
                   epoch: int) -> TrainingError:
        return nonfinite_error(loop.model, self.layers, x, loss, self.step, epoch, self.device,
                               self.precision)


def train(design: Design | None = None, **options: Any) -> Iterator[ev.Event]:
    """Train ``design`` and yield progress events (see :mod:`runtime.training`, :class:`Trainer`)."""
    return Trainer(design, **options).run()
