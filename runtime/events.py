"""The trainer's progress events, defined once (pure Python: the app reads them without
loading PyTorch).

Each kind is a frozen dataclass; the trainer yields them, the run folder's ``metrics.jsonl`` and
the app's worker protocol (:mod:`runtime.worker`) carry them as one JSON object per line
(:meth:`Event.to_dict`), and the app reads them back with :func:`parse_event`. An event also
reads like the JSON object it becomes (``event["loss"]``, ``event.get("val_f1")``), so code that
only needs a value does not care which form it holds.

Every event has ``event`` (its kind) and ``time`` (seconds since the run started). Epochs are
counted from 1; ``step`` counts optimizer steps done so far (with the ``accumulate`` setting,
each adds up that many batches; ``batch`` counts batches). The last event of a run is always
:class:`End`.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Iterator

import math


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as None, tuples as lists and NumPy scalars as Python
    numbers (for strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "dtype") and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return json_safe(value.item())  # a NumPy (or 0-d tensor) scalar
    return value


@dataclass(frozen=True, eq=False)
class Event(Mapping):
    """Base of every event: ``EVENT`` names the kind on the wire."""

    EVENT: ClassVar[str] = ""
    FLAT: ClassVar[str | None] = None  # a dict field whose items sit at the top level
    time: float

    def to_dict(self) -> dict[str, Any]:
        """The event as a strict-JSON-ready dict (non-finite numbers become None)."""
        wire = self.__dict__.get("_wire")
        if wire is None:
            wire = {"event": self.EVENT}
            for f in fields(self):
                value = getattr(self, f.name)
                if f.name == self.FLAT:
                    wire.update(value)
                else:
                    wire[f.name] = value
            wire = json_safe(wire)
            object.__setattr__(self, "_wire", wire)
        return wire

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)

    # Mapping: an event reads like its JSON object.
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"


@dataclass(frozen=True, eq=False)
class Stage(Event):
    """A preparation stage began: "checking settings", "loading data", "compiling",
    "preparing"."""

    EVENT: ClassVar[str] = "stage"
    stage: str


@dataclass(frozen=True, eq=False)
class Start(Event):
    """Training starts (or resumes): everything the app shows about the run."""

    EVENT: ClassVar[str] = "start"
    run_dir: str | None
    design: str
    device: str
    device_name: str
    precision: str
    task: str
    classes: list[str]
    sample_shape: list[int]
    parameters: int
    epochs: int
    steps_per_epoch: int
    total_steps: int
    batch_size: int
    sizes: dict[str, int]  # train / val / test
    metrics: list[str]
    monitor: str  # the metric deciding "best"
    seed: int
    resumed: bool
    start_epoch: int
    start_step: int
    warnings: list[str]  # what differs from what the user asked for, and why
    notes: list[str] = field(default_factory=list)  # what reading the data skipped, and such
    accumulate: int = 1  # batches per optimizer step
    compile: bool = False  # torch.compile asked for (a Notice follows if it cannot run)


@dataclass(frozen=True, eq=False)
class Step(Event):
    """Progress within an epoch, at most every ``step_interval`` seconds. ``loss`` is the mean
    since the last step event."""

    EVENT: ClassVar[str] = "step"
    step: int
    epoch: int
    batch: int
    batches: int
    loss: float
    lr: float
    samples_per_s: float
    eta_s: float | None


@dataclass(frozen=True, eq=False)
class Epoch(Event):
    """An epoch ended. ``metrics`` holds ``val_<metric>`` values (None without a validation
    split); on the wire they sit beside the other fields."""

    EVENT: ClassVar[str] = "epoch"
    FLAT: ClassVar[str | None] = "metrics"
    epoch: int
    epochs: int
    step: int
    train_loss: float
    val_loss: float | None
    lr: float
    duration_s: float
    samples_per_s: float | None
    improved: bool
    best: dict[str, Any]  # {metric, value, epoch}
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Diagnostics(Event):
    """Per-layer statistics: ``layers`` holds {node, name, type, grad_norm, act_mean, act_std,
    dead_fraction (layers whose catalog entry counts dead units)}."""

    EVENT: ClassVar[str] = "diagnostics"
    step: int
    epoch: int
    layers: list[dict[str, Any]]


@dataclass(frozen=True, eq=False)
class Checkpoint(Event):
    """A checkpoint was written: ``kind`` is "best" or "last"."""

    EVENT: ClassVar[str] = "checkpoint"
    kind: str
    path: str
    epoch: int
    step: int


@dataclass(frozen=True, eq=False)
class Notice(Event):
    """Something the run works around, said once (torch.compile cannot run here)."""

    EVENT: ClassVar[str] = "warning"
    message: str


@dataclass(frozen=True, eq=False)
class _Hold(Event):
    """Where a pause holds the run: after ``step`` optimizer steps, in ``epoch``."""

    step: int
    epoch: int


class Paused(_Hold):
    """The run holds between two steps until it is resumed or stopped."""

    EVENT: ClassVar[str] = "paused"


class Resumed(_Hold):
    """The run goes on from the step it paused at."""

    EVENT: ClassVar[str] = "resumed"


@dataclass(frozen=True, eq=False)
class Error(Event):
    """The run failed. ``kind``: settings, device, data, design, nonfinite, run, internal.
    ``details`` (on the wire beside the other fields): design errors add ``diagnostics``
    [{severity, code, message, node, name, fix}], non-finite losses ``node``, ``layer``,
    ``step`` and ``epoch``."""

    EVENT: ClassVar[str] = "error"
    FLAT: ClassVar[str | None] = "details"
    kind: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class End(Event):
    """The run ended: ``status`` is completed, stopped, early_stopped or failed."""

    EVENT: ClassVar[str] = "end"
    status: str
    epochs_completed: int
    step: int
    best: dict[str, Any]
    duration_s: float
    run_dir: str | None


KINDS: dict[str, type[Event]] = {cls.EVENT: cls for cls in (
    Stage, Start, Step, Epoch, Diagnostics, Checkpoint, Notice, Paused, Resumed, Error, End)}


def parse_event(obj: Any) -> Event:
    """An event from its JSON object; ValueError when it is not one."""
    if not isinstance(obj, dict):
        raise ValueError("an event is a JSON object")
    cls = KINDS.get(obj.get("event"))  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"unknown event {obj.get('event')!r}")
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in obj.items() if k in names}
    if cls.FLAT:
        values[cls.FLAT] = {k: v for k, v in obj.items() if k not in names and k != "event"}
    missing = [f.name for f in fields(cls) if f.name not in values and f.name != cls.FLAT
               and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise ValueError(f"{cls.EVENT} event without {', '.join(missing)}")
    return cls(**values)
