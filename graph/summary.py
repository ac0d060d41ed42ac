"""Per-layer summary of a design: shapes, parameters, MACs and a memory estimate."""
from __future__ import annotations

from dataclasses import dataclass

from .catalog import CATALOG, fmt_shape, prod
from .design import Design
from .settings import TRAINING_PARAMS
from .shapes import Inference, infer

BYTES_PER_VALUE = 4  # float32


@dataclass(frozen=True)
class Row:
    node_id: str
    name: str
    type: str
    shape: str
    params: int
    macs: int


@dataclass(frozen=True)
class Summary:
    rows: list[Row]
    total_params: int
    total_macs: int
    batch_size: int
    param_bytes: int
    activation_bytes: int  # forward activations kept for backward, at ``batch_size``

    @property
    def training_bytes(self) -> int:
        """Parameters, their gradients, two Adam moments and the activations."""
        return 4 * self.param_bytes + self.activation_bytes

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
            f"{human_bytes(summary.param_bytes)} ×4 for gradients and Adam, plus activations at "
            f"batch {summary.batch_size}), more than the {human_bytes(memory.bytes)} of "
            f"{memory.label}")


def export_memory_problem(summary: Summary, memory: MemoryBudget) -> str | None:
    """Why exporting cannot fit in ``memory`` (with the estimate), or None when it can."""
    if summary.export_bytes <= memory.bytes:
        return None
    return (f"exporting needs about {human_bytes(summary.export_bytes)} (the weights, "
            f"{human_bytes(summary.param_bytes)}, twice: the model and the copy it is checked "
            f"against), more than the {human_bytes(memory.bytes)} of {memory.label}")


def summarize(design: Design, inference: Inference | None = None) -> Summary:
    inference = inference or infer(design)
    batch = batch_size(design)
    rows = []
    activations = 0
    rank = {nid: i for i, nid in enumerate(inference.order)}
    for node in sorted(design.nodes, key=lambda n: rank.get(n.id, len(rank))):
        shape = inference.shapes.get(node.id)
        layer = CATALOG.get(node.type)
        rows.append(Row(node.id, node.name, layer.label if layer else node.type, fmt_shape(shape),
                        inference.params.get(node.id, 0), inference.macs.get(node.id, 0)))
        if shape is not None and not (layer and layer.is_sink):
            activations += prod(shape)
    total_params = inference.total_params
    return Summary(rows, total_params, inference.total_macs, batch,
                   total_params * BYTES_PER_VALUE, activations * batch * BYTES_PER_VALUE)


def batch_size(design: Design) -> int:
    """The design's batch size, or the default one while the setting is invalid (validation
    reports it): the estimate never fails on a bad setting."""
    param = next(p for p in TRAINING_PARAMS if p.name == "batch_size")
    value = design.training.get("batch_size", param.default)
    return param.default if param.check(value) else value


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
