"""The trainer's progress events, defined once.

Each kind is a frozen dataclass; the trainer yields them, the run folder's ``metrics.jsonl`` and
the app's worker protocol (:mod:`runtime.worker`) carry them as one JSON object per line
(:meth:`Event.to_dict`), and the app reads them back with :func:`parse_event`. An event also
reads like the JSON object it becomes (``event["loss"]``, ``event.get("val_f1")``), so code that
only needs a value does not care which form it holds.

Every event has ``event`` (its kind) and ``time`` (seconds since the run started). Epochs are
counted from 1; ``step`` counts optimizer steps done so far. The last event of a run is always
:class:`End`.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Iterator

from ..runs import json_safe


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
    warnings: list[str]


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
class Paused(Event):
    EVENT: ClassVar[str] = "paused"
    step: int
    epoch: int


@dataclass(frozen=True, eq=False)
class Resumed(Event):
    EVENT: ClassVar[str] = "resumed"
    step: int
    epoch: int


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
    Stage, Start, Step, Epoch, Diagnostics, Checkpoint, Paused, Resumed, Error, End)}


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
    missing = [f.name for f in fields(cls) if f.name not in values and f.name != cls.FLAT]
    if missing:
        raise ValueError(f"{cls.EVENT} event without {', '.join(missing)}")
    return cls(**values)
