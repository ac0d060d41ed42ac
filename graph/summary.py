"""Per-layer summary of a design: shapes, parameters, MACs and a memory estimate."""
from __future__ import annotations

from dataclasses import dataclass

from .catalog import CATALOG, fmt_shape, prod
from .design import Design
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


def summarize(design: Design, inference: Inference | None = None) -> Summary:
    inference = inference or infer(design)
    batch = int(design.training.get("batch_size", 1))
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


def human_count(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def human_bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"
