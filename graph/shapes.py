"""Shape inference: every node's output shape, parameter count and MACs, in one pass.

Runs after every edit, so it is a single walk in topological order over plain dicts. Nodes whose
inputs are missing or broken get no shape and no error of their own (validation reports the
cause where it is); a node whose rule refuses its inputs gets an error pinned to it.

Block instances (see :mod:`graph.blocks`) are inferred by inferring their body once per copy with
the copy's arguments and input shapes; each result is cached on the block definition per
``(arguments, input shapes)``, so a block repeated a thousand times with the same shapes is
inferred once, and an edit inside a block re-infers only that. An error inside a block is
pinned to the instance and names the inner layer by its path (``layer3.0 › conv2``).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Mapping

from . import layers as _layers  # noqa: F401  (fills the catalog)
from .blocks import PATH_SEPARATOR, BlockDef, BlockError, bind_params, present
from .catalog import CATALOG, LayerType, Shape, ShapeError, fmt_shape
from .design import Design, Edge, Node


@dataclass
class NodeError:
    message: str
    fix: str | None = None
    port: str | None = None
    path: tuple[str, ...] = ()  # inside a block instance: copy label, inner names …
    param: str | None = None

    @property
    def text(self) -> str:
        """The message with its place inside a block (``layer3.0 › conv2: …``)."""
        return f"{PATH_SEPARATOR.join(self.path)}: {self.message}" if self.path else self.message


@dataclass
class Expansion:
    """One copy of a block instance: the body inferred with ``args`` and the copy's inputs."""

    block: str
    args: dict[str, int]
    inference: "Inference"
    outputs: list[Shape]  # one per output port, in port order
    params: int
    macs: int
    layers: int
    matmul_macs: int = 0


@dataclass
class Inference:
    shapes: dict[str, Shape] = field(default_factory=dict)  # node id → (first) output shape
    input_shapes: dict[str, list[Shape]] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    macs: dict[str, int] = field(default_factory=dict)
    matmul_macs: dict[str, int] = field(default_factory=dict)  # convolutions and matmuls only
    errors: dict[str, NodeError] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # topological order of the acyclic part
    port_shapes: dict[str, dict[str, Shape]] = field(default_factory=dict)  # several outputs
    layers: dict[str, int] = field(default_factory=dict)  # leaf layers per node (blocks: all)
    expansions: dict[str, list[Expansion]] = field(default_factory=dict)  # instance → copies
    absent: set[str] = field(default_factory=set)  # inner nodes whose "when" is false
    bound: dict[str, dict[str, Any]] = field(default_factory=dict)  # params after binding

    @property
    def total_params(self) -> int:
        return sum(self.params.values())

    @property
    def total_macs(self) -> int:
        return sum(self.macs.values())

    @property
    def total_matmul_macs(self) -> int:
        return sum(self.matmul_macs.values())

    @property
    def total_layers(self) -> int:
        return sum(self.layers.values())

    def edge_shape(self, edge: Edge) -> Shape | None:
        ports = self.port_shapes.get(edge.src)
        if ports is not None:
            return ports.get(edge.src_port)
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


def infer(design: Design, input_shapes: Mapping[str, Shape] | None = None,
          args: Mapping[str, int] | None = None, _active: tuple[str, ...] = ()) -> Inference:
    """Infer shapes; ``input_shapes`` (node id → shape) overrides Input nodes' declared shape;
    ``args`` are the argument values for a block body (default: the body's defaults)."""
    result = Inference()
    order, _ = topological_order(design)
    result.order = order
    env = design.arguments if args is None else args
    is_body = bool(_active) or design.blocks.owner is not design
    for nid in order:
        node = design.node(nid)
        layer = CATALOG.get(node.type) or design.blocks.layer_type(node.type)
        if layer is None:
            result.errors[nid] = NodeError(f"unknown layer type {node.type!r}")
            continue
        params = _bound(layer, node, env, result, is_body)
        if params is None:
            continue
        ins = _gather_inputs(design, nid, layer, result)
        if ins is None:
            continue
        if node.when and _absent(node, layer, env, ins, result):
            continue
        if input_shapes and nid in input_shapes:
            params = dict(params, shape=list(input_shapes[nid]))
        try:
            if node.type in design.blocks and node.type not in CATALOG:
                _infer_instance(design, node, layer, params, ins, result, _active)
            else:
                out = _layer_shape(layer, params, ins)
                result.params[nid] = int(layer.count_params(params, ins))
                too_large = _too_large(out if len(layer.outputs) < 2 else out[0],
                                       result.params[nid])
                if too_large:
                    raise ShapeError(too_large)
                result.macs[nid] = int(layer.macs(params, ins, out))
                result.matmul_macs[nid] = int(layer.matmul_macs(params, ins, out))
                if len(layer.outputs) > 1:  # one shape per output port
                    result.port_shapes[nid] = dict(zip((p.name for p in layer.outputs), out))
                    out = out[0]
                result.shapes[nid] = out
                port_of_body = is_body and (layer.is_source or layer.is_sink)
                result.layers[nid] = 0 if port_of_body else 1
        except _InnerError as exc:
            result.errors[nid] = exc.error
            continue
        except ShapeError as exc:
            result.errors[nid] = NodeError(str(exc), exc.fix, exc.port)
            continue
        except (ArithmeticError, ValueError, TypeError, KeyError, IndexError) as exc:
            result.errors[nid] = NodeError(f"cannot compute the output shape: {exc}")
            continue
        result.input_shapes[nid] = ins
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


def _layer_shape(layer: LayerType, params: dict[str, Any], ins: list[Shape]):
    """The output shape, or for a layer with several outputs a tuple of them."""
    out = layer.shape(params, ins)
    if len(layer.outputs) > 1:
        return tuple(tuple(int(d) for d in shape) for shape in out)
    return tuple(int(d) for d in out)


def _bound(layer: LayerType, node: Node, env: Mapping[str, int], result: Inference,
           is_body: bool) -> dict[str, Any] | None:
    """The node's resolved params with expressions evaluated (inside a block body: a top-level
    design has no arguments), or None after noting an error."""
    params = node.params
    if is_body and any(isinstance(v, (str, list, dict)) for v in params.values()):
        try:
            params = bind_params(layer, params, env)
        except BlockError as exc:
            name = exc.where.split(".", 1)[-1]
            result.errors[node.id] = NodeError(f"{name}: {exc.reason}", param=name)
            return None
        result.bound[node.id] = params
    problems = layer.check_params(params)
    if problems:
        name, msg = problems[0]
        result.errors[node.id] = NodeError(f"{name} {msg}", param=name)
        return None
    return layer.resolve(params)


def _gather_inputs(design: Design, nid: str, layer: LayerType,
                   result: Inference) -> list[Shape] | None:
    """The shapes arriving at each input port in port order, or None when one is missing."""
    ins: list[Shape] = []
    for port in layer.inputs:
        links = design.in_edges(nid, port.name)
        if not links or len(links) < port.min_links or len(links) > port.max_links:
            return None
        for e in links:
            shape = result.edge_shape(e)
            if shape is None:
                return None
            ins.append(shape)
    return ins


def _absent(node: Node, layer: LayerType, env: Mapping[str, int], ins: list[Shape],
            result: Inference) -> bool:
    """Apply a false "when": the node passes its input through. True when it is absent."""
    try:
        if present(node, env):
            return False
    except BlockError as exc:
        result.errors[node.id] = NodeError(f"when: {exc.reason}")
        return True
    if len(layer.inputs) != 1 or len(layer.outputs) != 1 or len(ins) != 1:
        result.errors[node.id] = NodeError("only a layer with one input and one output can be "
                                           "absent (its \"when\" is false)")
        return True
    result.absent.add(node.id)
    result.shapes[node.id] = ins[0]
    result.input_shapes[node.id] = ins
    result.params[node.id] = result.macs[node.id] = result.layers[node.id] = 0
    return True


class _InnerError(Exception):
    def __init__(self, error: NodeError) -> None:
        super().__init__(error.text)
        self.error = error


def _infer_instance(design: Design, node: Node, layer: LayerType, params: dict[str, Any],
                    ins: list[Shape], result: Inference, active: tuple[str, ...]) -> None:
    """Infer every copy of a block instance and record totals, shapes and expansions."""
    block = design.blocks[node.type]
    if block.name in active:
        raise ShapeError(f"block {block.name} uses itself (through "
                         f"{' → '.join(active + (block.name,))})")
    first = params.get("first") or {}
    unknown = sorted(set(first).difference(block.args))
    if unknown:
        raise ShapeError(f"first: {unknown[0]!r} is not an argument of {block.name}")
    repeat = params["repeat"]
    if repeat > 1 and len(layer.inputs) != len(layer.outputs):
        raise ShapeError(f"repeating {block.name} needs as many outputs as inputs "
                         f"({len(layer.inputs)} in, {len(layer.outputs)} out)")
    base = {a: params[a] for a in block.args}
    copies: list[Expansion] = []
    shapes = ins
    for i in range(repeat):
        label = f"{node.name}.{i}" if repeat > 1 else node.name
        copy = expand(block, {**base, **first} if i == 0 and first else base, shapes,
                      active + (block.name,))
        if isinstance(copy, NodeError):
            raise _InnerError(NodeError(copy.message, copy.fix, None, (label,) + copy.path,
                                        copy.param))
        copies.append(copy)
        shapes = copy.outputs
    last = copies[-1].outputs
    result.shapes[node.id] = last[0]
    if len(last) > 1:
        result.port_shapes[node.id] = {p.name: s for p, s in zip(layer.outputs, last)}
    result.params[node.id] = sum(c.params for c in copies)
    result.macs[node.id] = sum(c.macs for c in copies)
    result.matmul_macs[node.id] = sum(c.matmul_macs for c in copies)
    result.layers[node.id] = sum(c.layers for c in copies)
    result.expansions[node.id] = copies


def expand(block: BlockDef, args: dict[str, int], ins: list[Shape],
           active: tuple[str, ...] = ()) -> Expansion | NodeError:
    """The body of ``block`` inferred for ``args`` and input shapes ``ins`` (cached), or the
    first error inside it (its ``path`` names the inner layer)."""
    key = (tuple(sorted(args.items())), tuple(ins))
    cached = block.cache.get(key)
    if cached is not None:
        return cached
    body = block.body
    inputs = body.inputs()
    if len(inputs) != len(ins):
        return NodeError(f"block {block.name} has {len(inputs)} inputs but receives {len(ins)}")
    inference = infer(body, {n.id: s for n, s in zip(inputs, ins)}, args, active)
    outcome: Expansion | NodeError
    error = _first_error(body, inference)
    if error is not None:
        outcome = error
    else:
        outs = [inference.shapes[n.id] for n in body.outputs()]
        outcome = Expansion(block.name, dict(args), inference, outs, inference.total_params,
                            inference.total_macs, inference.total_layers,
                            inference.total_matmul_macs)
    block.cache[key] = outcome
    return outcome


def _first_error(body: Design, inference: Inference) -> NodeError | None:
    for nid in inference.order:
        error = inference.errors.get(nid)
        if error is not None:
            return NodeError(error.message, error.fix, None, (body.node(nid).name,) + error.path,
                             error.param)
    if not body.outputs():
        return NodeError(f"block {body.name} has no Output layer")
    for node in body.outputs():
        if node.id not in inference.shapes:
            return _missing_shape(body, inference, node)
    return None


def _missing_shape(body: Design, inference: Inference, output: Node) -> NodeError:
    """Why an Output of a body got no shape: the first node before it with an open input."""
    seen, stack = {output.id}, [output.id]
    while stack:
        nid = stack.pop()
        node = body.node(nid)
        layer = body.layer_of(node)
        for port in layer.inputs if layer else ():
            links = body.in_edges(nid, port.name)
            if len(links) < port.min_links:
                return NodeError("its input is not connected", path=(node.name,))
            for e in links:
                if e.src not in seen:
                    seen.add(e.src)
                    stack.append(e.src)
    return NodeError("is on a cycle or not connected to the block's inputs",
                     path=(output.name,))


def describe(inference: Inference, node_id: str) -> str:
    """``1×8×8 → 16×8×8`` for tooltips."""
    ins = inference.input_shapes.get(node_id, [])
    out = inference.shapes.get(node_id)
    left = ", ".join(fmt_shape(s) for s in ins)
    return f"{left} → {fmt_shape(out)}" if ins else fmt_shape(out)
