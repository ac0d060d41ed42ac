"""Shape inference: every node's output shape, parameter count and MACs, in one pass.

Runs after every edit, so it is a single walk in topological order over plain dicts. Nodes whose
inputs are missing or broken get no shape and no error of their own (validation reports the
cause where it is); a node whose rule refuses its inputs gets an error pinned to it.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Mapping

from . import layers as _layers  # noqa: F401  (fills the catalog)
from .catalog import CATALOG, Shape, ShapeError, fmt_shape
from .design import Design, Edge


@dataclass
class NodeError:
    message: str
    fix: str | None = None
    port: str | None = None


@dataclass
class Inference:
    shapes: dict[str, Shape] = field(default_factory=dict)  # node id → output shape
    input_shapes: dict[str, list[Shape]] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    macs: dict[str, int] = field(default_factory=dict)
    errors: dict[str, NodeError] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # topological order of the acyclic part

    @property
    def total_params(self) -> int:
        return sum(self.params.values())

    @property
    def total_macs(self) -> int:
        return sum(self.macs.values())

    def edge_shape(self, edge: Edge) -> Shape | None:
        return self.shapes.get(edge.src)


def topological_order(design: Design) -> tuple[list[str], set[str]]:
    """Kahn's algorithm, keeping insertion order among ready nodes. Returns the order and the
    ids left over (those on or behind a cycle)."""
    indegree = {n.id: 0 for n in design.nodes}
    children: dict[str, list[str]] = {n.id: [] for n in design.nodes}
    for e in design.edges:
        if e.src in indegree and e.dst in indegree:
            indegree[e.dst] += 1
            children[e.src].append(e.dst)
    ready = deque(nid for nid, d in indegree.items() if d == 0)
    order: list[str] = []
    while ready:
        nid = ready.popleft()
        order.append(nid)
        for child in children[nid]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return order, set(indegree) - set(order)


def infer(design: Design, input_shapes: Mapping[str, Shape] | None = None) -> Inference:
    """Infer shapes; ``input_shapes`` (node id → shape) overrides Input nodes' declared shape."""
    result = Inference()
    order, _ = topological_order(design)
    result.order = order
    incoming: dict[str, list[Edge]] = {}
    for e in design.edges:
        incoming.setdefault(e.dst, []).append(e)
    for nid in order:
        node = design.node(nid)
        layer = CATALOG.get(node.type)
        if layer is None:
            result.errors[nid] = NodeError(f"unknown layer type {node.type!r}")
            continue
        problems = layer.check_params(node.params)
        if problems:
            name, msg = problems[0]
            result.errors[nid] = NodeError(f"{name} {msg}")
            continue
        params = layer.resolve(node.params)
        ins: list[Shape] = []
        complete = True
        for port in layer.inputs:
            links = [e for e in incoming.get(nid, ()) if e.dst_port == port.name]
            if not links or len(links) < port.min_links or len(links) > port.max_links:
                complete = False
                break
            for e in links:
                shape = result.shapes.get(e.src)
                if shape is None:
                    complete = False
                    break
                ins.append(shape)
        if not complete:
            continue
        if input_shapes and nid in input_shapes:
            params = dict(params, shape=list(input_shapes[nid]))
        try:
            out = tuple(int(d) for d in layer.shape(params, ins))
            result.params[nid] = int(layer.count_params(params, ins))
            result.macs[nid] = int(layer.macs(params, ins, out))
        except ShapeError as exc:
            result.errors[nid] = NodeError(str(exc), exc.fix, exc.port)
            continue
        except (ArithmeticError, ValueError, TypeError, KeyError, IndexError) as exc:
            result.errors[nid] = NodeError(f"cannot compute the output shape: {exc}")
            continue
        too_large = _too_large(out, result.params[nid])
        if too_large:
            result.errors[nid] = NodeError(too_large)
            continue
        result.input_shapes[nid] = ins
        result.shapes[nid] = out
    return result


MAX_ELEMENTS = 2**63 - 1  # a tensor's element count is an int64 in torch


def _too_large(out: Shape, params: int) -> str | None:
    """Why a layer's output or weights cannot exist as tensors (element count over int64)."""
    elements = 1
    for d in out:
        elements *= d
    if elements > MAX_ELEMENTS:
        return f"its output {fmt_shape(out)} has more elements than a tensor can hold (2⁶³ − 1)"
    if params > MAX_ELEMENTS:
        return f"its {params:.3g} parameters are more than a tensor can hold (2⁶³ − 1)"
    return None


def describe(inference: Inference, node_id: str) -> str:
    """``1×8×8 → 16×8×8`` for tooltips."""
    ins = inference.input_shapes.get(node_id, [])
    out = inference.shapes.get(node_id)
    left = ", ".join(fmt_shape(s) for s in ins)
    return f"{left} → {fmt_shape(out)}" if ins else fmt_shape(out)
