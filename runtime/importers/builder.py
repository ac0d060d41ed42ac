"""Build a design from converted operators, one catalog layer at a time.

Converters call :meth:`DesignBuilder.layer` with a catalog type, its params, the input tensors
and the layer's weights under their torch names (``weight``, ``bias``, ``weight_ih_l0`` …).
Each layer's output shape comes from its catalog declaration, so a converter that maps an
operator wrongly fails right there. :meth:`DesignBuilder.finish` lays the nodes out, compiles
the design and loads the weights strictly: every tensor of the compiled model must come from
the source.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import torch

from graph.catalog import CATALOG, ShapeError, fmt_shape
from graph.design import Design, Edge, Node, same_value
from graph.layout import layered_positions
from graph.settings import DATASETS, default_data
from graph.summary import counted

from ..compiler import CompileError, compile_design, identifier

class ConversionError(ValueError):
    """One source operator that cannot be mapped onto catalog layers (the reason says why)."""


@dataclass(frozen=True)
class Tensor:
    """A tensor computed by the design: the output of ``node``. ``shape`` excludes the batch,
    which sits at ``batch_axis`` of the source's tensor (ONNX's LSTM wants it second)."""

    node: str
    shape: tuple[int, ...] | None  # None after a placeholder: unknown
    batch_axis: int = 0
    port: str = "out"

    @property
    def rank(self) -> int:
        return len(self.shape or ()) + 1

    def moved(self, batch_axis: int) -> "Tensor":
        return Tensor(self.node, self.shape, batch_axis, self.port)


@dataclass(frozen=True)
class Unmapped:
    """A source operator the import could not map: its type, where it is, and why."""

    op: str
    place: str
    reason: str


class UnsupportedModel(ValueError):
    """The source uses operators Netwright cannot map; ``unmapped`` lists each occurrence."""

    def __init__(self, source: str, unmapped: Sequence[Unmapped]):
        self.source, self.unmapped = source, list(unmapped)
        super().__init__(f"{source}: cannot import, {describe_unmapped(unmapped)}\n"
                         "(import with placeholders to bring these in as nodes marked as errors)")


def describe_unmapped(unmapped: Sequence[Unmapped]) -> str:
    """``3 unsupported operators: Erf ×2 (at /gelu/Erf, /gelu_1/Erf: reason), …``."""
    groups: dict[str, list[Unmapped]] = collections.defaultdict(list)
    for item in unmapped:
        groups[item.op].append(item)
    parts = []
    for op, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        places = ", ".join(i.place for i in items[:4]) + (" …" if len(items) > 4 else "")
        parts.append(f"  {op} ×{len(items)} at {places}: {items[0].reason}")
    return f"{counted(len(unmapped), 'unsupported operator')}:\n" + "\n".join(parts)


@dataclass
class Imported:
    """A converted model: the design, its initial weights (keyed as the compiled model's
    state_dict), and every operator that could not be mapped (placeholders in the design)."""

    design: Design
    weights: dict[str, torch.Tensor]
    unmapped: list[Unmapped] = field(default_factory=list)
    source: str = ""
    max_diff: float | None = None  # against the source model on random inputs, when checked
    paths: dict[str, str] = field(default_factory=dict)  # node id → source module path
    notes: list[str] = field(default_factory=list)  # said to the user (why it stayed flat …)


class DesignBuilder:
    """Accumulates nodes, links and weights; see the module docstring."""

    def __init__(self, name: str) -> None:
        self.design = Design(name)
        self.weights: dict[str, dict[str, torch.Tensor]] = {}
        self.unmapped: list[Unmapped] = []
        self.shapes: dict[str, tuple[int, ...] | None] = {}  # node id → its output's shape
        self.paths: dict[str, str] = {}  # node id → the name it was given (a module path)
        self._taken: set[str] = set()

    # ---- nodes ------------------------------------------------------------------------------

    def input(self, name: str, shape: Sequence[int], dtype: str = "float32") -> Tensor:
        node = self._add("Input", name, {"shape": [int(d) for d in shape], "dtype": dtype})
        self.shapes[node] = tuple(int(d) for d in shape)
        return Tensor(node, self.shapes[node])

    def output(self, value: Tensor, name: str) -> None:
        node = self._add("Output", name, {})
        self._link(value, node, "in")

    def layer(self, type_id: str, name: str, params: Mapping[str, Any], inputs: Sequence[Tensor],
              weights: Mapping[str, torch.Tensor] | None = None) -> Tensor | list[Tensor]:
        """Add one catalog layer fed by ``inputs`` (batch first) and return its output (one
        per output port, in port order, for a layer with several)."""
        layer = CATALOG[type_id]
        problems = layer.check_params(params)
        if problems:
            raise ConversionError(f"{type_id} cannot take {problems[0][0]} {problems[0][1]}")
        shapes = [self._batch_first(t, type_id) for t in inputs]
        if len(set(inputs)) < len(inputs) and layer.inputs and layer.inputs[0].variadic:
            raise ConversionError(f"{type_id} of a tensor with itself (such as x·x): a link "
                                  "joins two layers once")
        if any(s is None for s in shapes):
            raise ConversionError("its input comes from an unsupported operator")
        try:
            shape = layer.shape(layer.resolve(params), shapes)
        except ShapeError as exc:
            raise ConversionError(f"as {type_id}: {exc}") from None
        node = self._add(type_id, name, dict(params))
        port = layer.inputs[0].name if layer.inputs else "in"
        for i, value in enumerate(inputs):
            self._link(value, node, port if layer.inputs[0].variadic else layer.inputs[i].name)
        self.weights[node] = {k: v.detach().clone().contiguous() for k, v in (weights or {}).items()}
        if len(layer.outputs) > 1:
            self.shapes[node] = None  # per port: each Tensor carries its own shape
            return [Tensor(node, tuple(s), port=port.name) for s, port in zip(shape, layer.outputs)]
        self.shapes[node] = tuple(shape)
        return Tensor(node, tuple(shape))

    def linear(self, name: str, x: Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> Tensor:
        """A Linear over the last axis; a sample of rank > 2 (ConvNeXt's channels-last maps) is
        reshaped to rows and back around it, which moves no value."""
        weights = {"weight": weight} if bias is None else {"weight": weight, "bias": bias}
        params = {"out_features": int(weight.shape[0]), "bias": bias is not None}
        if x.shape is None or len(x.shape) <= 2:
            return self.layer("Linear", name, params, [x], weights)
        rows = self.layer("Reshape", f"{name}_rows", {"shape": [_count(x.shape[:-1]), x.shape[-1]]}, [x])
        out = self.layer("Linear", name, params, [rows], weights)
        return self.layer("Reshape", f"{name}_back", {"shape": [*x.shape[:-1], int(weight.shape[0])]},
                          [out])

    def placeholder(self, op: str, name: str, inputs: Iterable[Tensor], place: str,
                    reason: str) -> Tensor:
        """An ``Unsupported`` node standing for ``op`` (an error until replaced)."""
        self.unmapped.append(Unmapped(op, place, reason))
        node = self._add("Unsupported", name, {"operator": op, "reason": reason[:300]})
        for value in inputs:
            self._link(value, node, "in")
        self.shapes[node] = None
        return Tensor(node, None)

    def node_of(self, value: Tensor):
        return self.design.node(value.node)

    def name_of(self, node_id: str) -> str:
        return self.design.node(node_id).name

    def remove(self, node_id: str) -> tuple[str, Tensor]:
        """Drop a layer nothing reads yet (a pattern absorbed it): its name and its input."""
        edge = self.design.in_edges(node_id)[0]
        self._taken.discard(self.name_of(node_id))
        name = self.paths.pop(node_id, None) or self.name_of(node_id)
        self.design.remove_node(node_id)
        self.weights.pop(node_id, None)
        self.shapes.pop(node_id, None)
        return name, Tensor(edge.src, self.shapes[edge.src], port=edge.src_port)

    def reads_nothing_yet(self, value: Tensor) -> bool:
        return not self.design.out_edges(value.node)

    def update(self, value: Tensor, params: Mapping[str, Any],
               weights: Mapping[str, torch.Tensor] | None = None) -> Tensor:
        """Change the params (and add weights) of the layer that computed ``value``, which
        nothing consumes yet (a fused pattern: MatMul then Add → one Linear with a bias)."""
        node = self.design.node(value.node)
        if self.design.out_edges(node.id):
            raise ConversionError(f"{node.name} is read elsewhere, so it cannot be fused")
        params = {**node.params, **params}
        ins = [self.shapes[e.src] for e in self.design.in_edges(node.id)]
        layer = node.layer
        try:
            shape = layer.shape(layer.resolve(params), ins)
        except ShapeError as exc:
            raise ConversionError(f"as {node.type}: {exc}") from None
        self.design.set_params(node.id, _non_default(layer, params))
        self.weights[node.id].update({k: v.detach().clone().contiguous()
                                      for k, v in (weights or {}).items()})
        self.shapes[node.id] = tuple(shape)
        return Tensor(node.id, tuple(shape))

    def _add(self, type_id: str, name: str, params: dict[str, Any]) -> str:
        layer = CATALOG[type_id]
        node = Node(self.design.new_id(), type_id, identifier(name or type_id.lower(), self._taken),
                    _non_default(layer, params), version=layer.version)
        self.design.add_node(node)
        self.paths[node.id] = name
        return node.id

    def _link(self, value: Tensor, node: str, port: str) -> None:
        self.design.add_edge(Edge(value.node, node, value.port, port))

    def _batch_first(self, value: Tensor, type_id: str) -> tuple[int, ...] | None:
        if value.shape is not None and self.shapes.get(value.node) not in (None, value.shape):
            raise ConversionError(f"reads {self.name_of(value.node)} before a pattern changed it")
        if value.batch_axis != 0:
            raise ConversionError(f"{type_id} needs the batch first, here it is axis "
                                  f"{value.batch_axis} of {fmt_shape(value.shape)}")
        return value.shape

    # ---- the result ---------------------------------------------------------------------------

    def finish(self, source: str) -> Imported:
        """Lay out, pick matching data settings, and key the weights as the compiled model."""
        design = self.design
        _lay_out(design)
        _pick_dataset(design)
        by_name = {design.node(nid).name: tensors for nid, tensors in self.weights.items()}
        notes = self._shared_module_notes()
        if self.unmapped:  # cannot compile: keep the weights under the node names
            weights = {f"{name}.{k}": v for name, tensors in by_name.items() for k, v in tensors.items()}
            return Imported(design, weights, list(self.unmapped), source, paths=dict(self.paths),
                            notes=notes)
        try:
            compiled = compile_design(design)
        except CompileError as exc:
            raise ConversionError(f"the imported design does not validate: {exc}") from None
        weights = {f"{compiled.paths[nid]}.{k}": v for nid, tensors in self.weights.items()
                   if nid in compiled.paths for k, v in tensors.items()}
        own = compiled.module.state_dict()
        for key, value in own.items():
            if key.endswith("num_batches_tracked") and key not in weights:
                weights[key] = torch.zeros_like(value)
        missing, unexpected = sorted(set(own) - set(weights)), sorted(set(weights) - set(own))
        if missing or unexpected:
            raise ConversionError(f"weights do not fit the design (missing {missing[:4]}, "
                                  f"unexpected {unexpected[:4]})")
        for key, value in weights.items():
            if value.shape != own[key].shape:
                raise ConversionError(f"weight {key} has shape {tuple(value.shape)}, the layer "
                                      f"needs {tuple(own[key].shape)}")
            weights[key] = value.to(own[key].dtype)
        return Imported(design, weights, [], source, paths=dict(self.paths), notes=notes)

    def _shared_module_notes(self) -> list[str]:
        """A module with weights that the source calls several times comes in as that many
        layers, each with a copy of the weights: said, since they then train apart."""
        uses = collections.Counter(self.paths[nid] for nid, tensors in self.weights.items()
                                   if tensors and self.paths.get(nid))
        return [f"{path} is called {n} times: it comes in as {n} layers, each with its own copy "
                f"of the weights (counted {n} times, and trained apart)"
                for path, n in uses.items() if n > 1]


def _non_default(layer, params: Mapping[str, Any]) -> dict[str, Any]:
    """Only the params that differ from the layer's defaults, as a person would have set them."""
    defaults = layer.defaults()
    return {k: v for k, v in params.items() if k not in defaults or not same_value(defaults[k], v)}


def _lay_out(design: Design) -> None:
    for node_id, position in layered_positions(design, origin=(0.0, 0.0)).items():
        design.node(node_id).position = position


def _pick_dataset(design: Design) -> None:
    """A built-in dataset whose samples fit the Input and whose classes fit the output, else
    an image folder of that size or arrays the user chooses (the import never picks data the
    network does not fit)."""
    from graph.shapes import infer

    inputs, outputs = design.inputs(), design.outputs()
    if len(inputs) != 1:  # several inputs: arrays the user provides, one per input
        design.set_data({**default_data(), "name": "npz", "options": DATASETS["npz"].resolve({})})
        return
    shape = tuple(inputs[0].resolved_params()["shape"])  # a default shape is left out of params
    out = infer(design).shapes.get(outputs[0].id) if outputs else None
    width = out[-1] if out and len(out) == 1 else None
    fits = []
    for spec in DATASETS.values():
        for options in ({}, {"as_images": False}):
            opts = spec.resolve(options)
            if spec.kind != "file" and spec.sample_shape(opts) == shape \
                    and (width is None or spec.classes(opts) == width):
                fits.append((spec.name, opts))
    if fits:
        name, opts = fits[0]
        design.set_data({**default_data(), "name": name, "options": opts})
    elif len(shape) == 3 and shape[0] in (1, 3):
        opts = DATASETS["images"].resolve({"size": list(shape[1:]),
                                           "color": "grayscale" if shape[0] == 1 else "rgb"})
        design.set_data({**default_data(), "name": "images", "options": opts})
    else:  # any other shape: arrays the user provides
        design.set_data({**default_data(), "name": "npz", "options": DATASETS["npz"].resolve({})})


def _count(dims: Sequence[int]) -> int:
    out = 1
    for d in dims:
        out *= int(d)
    return out
