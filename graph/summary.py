"""Per-layer summary of a design: shapes, parameters, MACs and a memory estimate.

Block instances are groups: their row carries the totals of every copy, and ``children`` holds
one row per copy (``layer1.0``, ``layer1.1`` …; none when there is one copy) whose children are
the inner layers, recursively. :func:`summary_dict` is the JSON form of ``main.py summary
--json``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .catalog import fmt_shape, prod
from .design import Design
from .settings import TRAINING_PARAMS
from .shapes import Expansion, Inference, infer

BYTES_PER_VALUE = 4  # float32


@dataclass(frozen=True)
class Row:
    node_id: str
    name: str
    type: str
    shape: str
    params: int
    macs: int
    layers: int = 1  # leaf layers in the row (a group: all of its copies)
    children: tuple["Row", ...] = field(default=())  # a block instance's copies or layers
    repeat: int = 1

    @property
    def is_group(self) -> bool:
        return bool(self.children)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "shape": self.shape,
                               "params": self.params, "macs": self.macs, "layers": self.layers}
        if self.children:
            out["repeat"] = self.repeat
            out["children"] = [c.to_dict() for c in self.children]
        return out


@dataclass(frozen=True)
class Summary:
    rows: list[Row]
    total_params: int
    total_macs: int
    batch_size: int
    param_bytes: int
    activation_bytes: int  # forward activations kept for backward, at ``batch_size``
    total_layers: int = 0  # leaf layers after expanding every block
    nodes: int = 0  # top-level nodes
    total_matmul_macs: int = 0  # the part in convolutions, linear layers and matmuls
    frozen_params: int = 0  # parameters of layers (and blocks) switched to not trainable

    @property
    def trainable_params(self) -> int:
        return self.total_params - self.frozen_params

    @property
    def trainable_bytes(self) -> int:
        return self.trainable_params * BYTES_PER_VALUE

    @property
    def training_bytes(self) -> int:
        """Parameters, the trainable ones' gradients and two Adam moments, and the
        activations (frozen layers have neither gradients nor optimizer state)."""
        return self.param_bytes + 3 * self.trainable_bytes + self.activation_bytes

    @property
    def groups(self) -> list[Row]:
        """The rows of block instances."""
        return [r for r in self.rows if r.is_group]

    @property
    def export_bytes(self) -> int:
        """The weights twice: the model and the reloaded copy an export is checked against."""
        return 2 * self.param_bytes


@dataclass(frozen=True)
class MemoryBudget:
    """What a device can hold: ``label`` says whose memory it is ("RAM", "cuda:0 (…) memory")."""

    label: str
    bytes: int


MEMORY_FIX = "use fewer or smaller layers, or a smaller batch size"


def training_memory_problem(summary: Summary, memory: MemoryBudget) -> str | None:
    """Why training cannot fit in ``memory`` (with the estimate), or None when it can."""
    if summary.training_bytes <= memory.bytes:
        return None
    return (f"training needs about {human_bytes(summary.training_bytes)} (weights "
            f"{human_bytes(summary.param_bytes)}, 3× the trainable ones for gradients and Adam, "
            f"plus activations at batch {summary.batch_size}), more than the "
            f"{human_bytes(memory.bytes)} of {memory.label}")


def export_memory_problem(summary: Summary, memory: MemoryBudget) -> str | None:
    """Why exporting cannot fit in ``memory`` (with the estimate), or None when it can."""
    if summary.export_bytes <= memory.bytes:
        return None
    return (f"exporting needs about {human_bytes(summary.export_bytes)} (the weights, "
            f"{human_bytes(summary.param_bytes)}, twice: the model and the copy it is checked "
            f"against), more than the {human_bytes(memory.bytes)} of {memory.label}")


def batch_size(design: Design) -> int:
    """The design's batch size, or the default one while the setting is invalid (validation
    reports it): the estimate never fails on a bad setting."""
    param = next(p for p in TRAINING_PARAMS if p.name == "batch_size")
    value = design.training.get("batch_size", param.default)
    return param.default if param.check(value) else value


def summarize(design: Design, inference: Inference | None = None, rows: bool = True) -> Summary:
    """The summary of ``design`` (its shapes ``inference`` when already inferred); without
    ``rows`` only the totals and the memory estimate (the per-layer rows are left empty)."""
    inference = inference or infer(design)
    batch = batch_size(design)
    table = _rows(design, inference, "") if rows else []
    activations = _activations(design, inference)
    total_params = inference.total_params
    frozen = sum(inference.params.get(n.id, 0) for n in design.nodes if not n.trainable)
    return Summary(table, total_params, inference.total_macs, batch,
                   total_params * BYTES_PER_VALUE, activations * batch * BYTES_PER_VALUE,
                   inference.total_layers, len(design), inference.total_matmul_macs,
                   frozen)


def _rows(design: Design, inference: Inference, prefix: str) -> list[Row]:
    rank = {nid: i for i, nid in enumerate(inference.order)}
    rows = []
    for node in sorted(design.nodes, key=lambda n: rank.get(n.id, len(rank))):
        if node.id in inference.absent or (prefix and inference.layers.get(node.id, 1) == 0
                                           and node.id not in inference.expansions):
            continue  # an absent inner layer, or a block body's port
        layer = design.layer_of(node)
        copies = inference.expansions.get(node.id, [])
        children = _copy_rows(design, node.name, prefix, copies)
        rows.append(Row(node.id, prefix + node.name, layer.label if layer else node.type,
                        fmt_shape(inference.shapes.get(node.id)), inference.params.get(node.id, 0),
                        inference.macs.get(node.id, 0), inference.layers.get(node.id, 1),
                        children, len(copies) or 1))
    return rows


def _copy_rows(design: Design, name: str, prefix: str, copies: list[Expansion]) -> tuple[Row, ...]:
    if not copies:
        return ()
    if len(copies) == 1:
        body = design.blocks[copies[0].block].body
        return tuple(_rows(body, copies[0].inference, f"{prefix}{name}."))
    out = []
    for i, copy in enumerate(copies):
        body = design.blocks[copy.block].body
        label = f"{prefix}{name}.{i}"
        out.append(Row("", label, copy.block, fmt_shape(copy.outputs[0]), copy.params, copy.macs,
                       copy.layers, tuple(_rows(body, copy.inference, label + "."))))
    return tuple(out)


def _activations(design: Design, inference: Inference) -> int:
    """Values of every leaf layer's output per sample (block instances expanded)."""
    total = 0
    for node in design.nodes:
        copies = inference.expansions.get(node.id)
        if copies:
            total += sum(_activations(design.blocks[c.block].body, c.inference) for c in copies)
            continue
        shape = inference.shapes.get(node.id)
        layer = design.layer_of(node)
        if (shape is not None and inference.layers.get(node.id, 1) and node.id not in
                inference.absent and not (layer and layer.is_sink)):
            total += prod(shape)
    return total


def summary_dict(design: Design, summary: Summary, valid: bool) -> dict[str, Any]:
    """The summary as one JSON-ready object (exact integers)."""
    return {
        "name": design.name,
        "valid": valid,
        "params": summary.total_params,
        "trainable_params": summary.trainable_params,
        "frozen_params": summary.frozen_params,
        "macs": summary.total_macs,
        "matmul_macs": summary.total_matmul_macs,
        "layers": summary.total_layers,
        "nodes": summary.nodes,
        "param_bytes": summary.param_bytes,
        "activation_bytes": summary.activation_bytes,
        "batch_size": summary.batch_size,
        "rows": [r.to_dict() for r in summary.rows],
        "groups": [{"name": r.name, "block": r.type, "repeat": r.repeat, "params": r.params,
                    "macs": r.macs, "layers": r.layers, "shape": r.shape} for r in summary.groups],
    }


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` with its noun in the right number: "1 run", "3 runs", "2 GPUs"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def human_count(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def human_bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} B"
