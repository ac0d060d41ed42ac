"""Compile a valid design to a ``torch.fx.GraphModule``.

One submodule per layer node, named after the node (sanitized to a unique Python identifier),
so the generated ``forward`` reads one line per layer. Inputs become ``forward``'s arguments in
design order; one Output returns a tensor, several return a tuple. Branches that reach no
Output are left out.

A block instance (see :mod:`graph.blocks`) compiles to one module per copy: a plain chain body
whose layers are named 0, 1 … to an ``nn.Sequential`` (as torchvision's ``downsample``), any other
body to a :class:`BlockModule` subclass named after the block whose submodules are named after
the inner nodes; a Repeat ×N is an ``nn.Sequential`` of the copies. Module paths therefore
follow the design's hierarchy: ``layer1.0.conv1.weight``.

A layer named as a module path (``downs.0``, ``encoder.conv``; in a block also ``0``: see
:func:`module_names`) is registered at that path, in containers made for it — an
``nn.ModuleList`` where their items are ``0, 1 …`` in order, else an ``nn.ModuleDict`` — as a
``ModuleList`` called in a loop is in the source it was imported from (``downs.0.weight``).
"""
from __future__ import annotations

import builtins
import functools
import keyword
import operator
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from graph.catalog import CATALOG, LayerType, Shape
from graph.design import Design
from graph.shapes import Expansion, Inference
from graph.validate import Report, validate

from . import modules as custom_modules

RESERVED = {"self", "torch", "nn", "fx", "forward", "input", "inputs", "output", "training",
            "device", "dtype", "type", "float", "half", "cuda", "cpu", "to", "eval", "train",
            "parameters", "buffers", "children", "modules", "state_dict", "graph", "code"}


class CompileError(ValueError):
    """The design is not valid; ``report`` holds the diagnostics."""

    def __init__(self, report: Report, design: Design):
        self.report = report
        lines = [d.format(design) for d in report.errors]
        super().__init__("the design has errors:\n  " + "\n  ".join(lines))


@dataclass
class Compiled:
    module: fx.GraphModule
    report: Report
    input_nodes: list[str]  # node ids, in forward's argument order
    output_nodes: list[str]
    idents: dict[str, str]  # node id → identifier used in the code (its variable)
    paths: dict[str, str]  # node id → its module's path (``downs.0``; else its identifier)

    def modules_by_node(self) -> dict[str, nn.Module]:
        """The module of every compiled layer and block instance, by node id, in forward order."""
        targets = {str(n.target) for n in self.module.graph.nodes if n.op == "call_module"}
        return {nid: self.module.get_submodule(path) for nid, path in self.paths.items()
                if path in targets}

    @property
    def input_shapes(self) -> list[Shape]:
        return [self.report.inference.shapes[n] for n in self.input_nodes]


MAX_IDENTIFIER = 40


def identifier(name: str, taken: set[str]) -> str:
    """A valid, unique, harmless Python identifier for a user-given node name.

    Only ASCII letters, digits and ``_`` survive (accents are dropped: ``über`` → ``uber``);
    keywords, builtins and every attribute of ``nn.Module``/``GraphModule`` (``apply``,
    ``zero_grad`` …) get a trailing ``_`` so a submodule can never shadow them.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ident = re.sub(r"\W+", "_", ascii_name, flags=re.ASCII).strip("_").lower()
    ident = ident[:MAX_IDENTIFIER].rstrip("_") or "layer"
    if ident[0].isdigit():
        ident = "l_" + ident
    if (keyword.iskeyword(ident) or keyword.issoftkeyword(ident) or ident in RESERVED
            or hasattr(builtins, ident) or hasattr(fx.GraphModule, ident)
            or ident in _graph_module_fields()):
        ident = ident + "_"
    base, i = ident, 2
    while ident in taken:
        ident = f"{base}_{i}"
        i += 1
    taken.add(ident)
    return ident


@functools.cache
def _graph_module_fields() -> frozenset[str]:
    """The attributes a GraphModule sets on itself (``meta``, ``training`` …), which its class
    does not have: a submodule of that name could not be assigned."""
    return frozenset(vars(fx.GraphModule(nn.Module(), fx.Graph())))


_INDEX = re.compile(r"0|[1-9][0-9]*")


def _module_part(part: str, first: bool, in_block: bool) -> bool:
    """Whether ``part`` can name a submodule as it is: an index (not first at the top level,
    where the model's attributes are identifiers) or an identifier that shadows nothing (in a
    container, none of its methods either)."""
    if _INDEX.fullmatch(part):
        return in_block or not first
    return identifier(part, set()) == part and (first or not (
        hasattr(nn.ModuleDict, part) or hasattr(nn.ModuleList, part)))


def module_names(network: Design, ids: list[str], in_block: bool
                 ) -> tuple[dict[str, str], dict[str, str]]:
    """``(identifiers, paths)`` of the nodes ``ids`` of ``network``, in order: each node's
    unique Python identifier (:func:`identifier`, its variable in the code) and the path of its
    module. A layer named as a module path — parts that are identifiers or indices joined by
    dots (``downs.0``), or, in a block, one index (``0``) — and always present (no condition)
    has that path unless an earlier node's name or path is it, holds it or is held by it; any
    other node's path is its identifier."""
    idents: dict[str, str] = {}
    paths: dict[str, str] = {}
    taken: set[str] = set()  # identifiers, and the first part of every path
    leaves: set[str] = set()
    containers: set[str] = set()
    for nid in ids:
        node = network.node(nid)
        parts = node.name.split(".")
        held = {".".join(parts[:k]) for k in range(1, len(parts))}
        if (_is_module_path(network, node, parts, in_block) and node.name not in leaves | containers
                and not held & leaves and (parts[0] in containers or parts[0] not in taken)):
            paths[nid] = node.name
            leaves.add(node.name)
            containers |= held
            taken.add(parts[0])
        idents[nid] = identifier(node.name, taken)
    return idents, {nid: paths.get(nid, idents[nid]) for nid in ids}


def _is_module_path(network: Design, node, parts: list[str], in_block: bool) -> bool:
    layer = network.layer_of(node)
    return (not (node.when or layer.is_source or layer.is_sink)
            and (len(parts) > 1 or in_block and bool(_INDEX.fullmatch(node.name)))
            and all(_module_part(p, i == 0, in_block) for i, p in enumerate(parts)))


def flat_spelling(key: str) -> str:
    """A state_dict key with its module path read as one identifier, as designs spelled
    layers named as paths before they were registered there (``downs_0.weight``, a block's
    ``l_0.weight``): equal for ``downs.0.weight`` and those."""
    return re.sub(r"(?:^|(?<=[._]))l_(?=\d)", "", key.lower()).replace(".", "_")


def module_tree(modules: dict[str, Any]) -> dict[str, Any]:
    """``modules`` (path → value, in order) as nested dicts, one per container
    (``{"downs": {"0": …, "1": …}, "pool": …}``)."""
    tree: dict[str, Any] = {}
    for path, value in modules.items():
        *holders, last = path.split(".")
        branch = tree
        for part in holders:
            branch = branch.setdefault(part, {})
        branch[last] = value
    return tree


def is_module_list(branch: dict[str, Any]) -> bool:
    """Whether a container's items are ``0, 1 …`` in order (an ``nn.ModuleList``; else an
    ``nn.ModuleDict``)."""
    return list(branch) == [str(i) for i in range(len(branch))]


def place_modules(parent: nn.Module, modules: dict[str, nn.Module]) -> list[str]:
    """Register ``modules`` (path → module, in order) on ``parent``, in the containers their
    paths need; returns the names of the containers made directly on ``parent``."""
    def build(branch: dict[str, Any]) -> nn.Module:
        items = {k: build(v) if isinstance(v, dict) else v for k, v in branch.items()}
        return nn.ModuleList(items.values()) if is_module_list(items) else nn.ModuleDict(items)

    made = []
    for name, value in module_tree(modules).items():
        parent.add_module(name, build(value) if isinstance(value, dict) else value)
        made += [name] if isinstance(value, dict) else []
    return made


def layer_class(layer: LayerType, params: dict[str, Any] | None = None,
                in_shapes: list[Shape] | None = None) -> type[nn.Module]:
    """The module class built for ``params`` on ``in_shapes`` (without them: the usual one)."""
    name = layer.torch_class if params is None else layer.module_class(params, in_shapes or [])
    cls = getattr(custom_modules, name, None) or getattr(nn, name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise LookupError(f"no torch module {name!r} for {layer.type_id}")
    return cls


def build_layer(layer: LayerType, params: dict[str, Any], in_shapes: list[Shape]) -> nn.Module:
    """The torch module of one layer, constructed from its declaration."""
    return layer_class(layer, params, in_shapes)(**layer.torch_kwargs(params, in_shapes))


def compile_design(design: Design, report: Report | None = None) -> Compiled:
    """Compile ``design``; raises :class:`CompileError` when validation finds errors."""
    report = report or validate(design)
    if not report.ok:
        raise CompileError(report, design)
    inference = report.inference
    outputs = [n.id for n in design.outputs()]
    needed = _feeding(design, outputs)
    inputs = [n.id for n in design.inputs()]
    idents, paths = module_names(design, [nid for nid in inference.order
                                          if nid in needed or nid in inputs], in_block=False)

    modules: dict[str, nn.Module] = {}  # module path → module, in forward order
    graph = fx.Graph()
    env: dict[tuple[str, str], fx.Node] = {}  # (node id, output port) → value
    for nid in inputs:
        env[_key(design, nid)] = graph.placeholder(idents[nid])
    for nid in inference.order:
        if nid not in needed:
            continue
        layer = design.layer_of(design.node(nid))
        if layer.is_source or layer.is_sink:
            continue
        args = tuple(env[(e.src, e.src_port)]
                     for port in layer.inputs for e in design.in_edges(nid, port.name))
        modules[paths[nid]] = build_node(design, nid, inference)
        value = graph.call_module(paths[nid], args)
        value.meta["netwright_node"] = nid
        _bind_outputs(graph, env, nid, layer, value)
    results = [env[(e.src, e.src_port)] for o in outputs for e in design.in_edges(o)[:1]]
    graph.output(results[0] if len(results) == 1 else tuple(results))
    module = graph_module(modules, graph)
    _plain_call(module)
    return Compiled(module, report, inputs, outputs, idents, paths)


class _ReusingGraphModule(fx.GraphModule):
    """A ``GraphModule`` whose code is generated once per graph structure: its first
    ``recompile`` reuses the ``forward`` generated for an identical graph (see
    :func:`graph_module`), as Python compiles a hand-written class once; later ones — after
    an edit of the graph — generate it as usual."""

    def __init__(self, modules: dict[str, nn.Module], graph: fx.Graph, code: Any) -> None:
        self.__dict__["_netwright_reuse"] = code  # read by the recompile the constructor runs
        root = nn.Module()
        containers = place_modules(root, modules)
        super().__init__(root, graph, class_name="NetwrightModel")
        for name in containers:  # fx copies them as plain Modules: keep the lists and dicts
            setattr(self, name, getattr(root, name))

    def recompile(self) -> Any:
        reuse = self.__dict__.pop("_netwright_reuse", None)
        if reuse is None:
            before = dict(vars(self))
            python_code = super().recompile()
            set_now = {k: v for k, v in vars(self).items() if before.get(k, _UNSET) is not v}
            self.__dict__["_netwright_generated"] = (python_code, type(self).forward, set_now)
            return python_code
        python_code, forward, attributes = reuse
        vars(self).update(attributes)  # the code, its line map … (what recompile sets)
        type(self).forward = forward
        return python_code


_UNSET = object()
_GENERATED: dict[tuple, Any] = {}  # graph structure → (python code, forward, attributes)
MAX_GENERATED = 64


def graph_module(modules: dict[str, nn.Module], graph: fx.Graph) -> fx.GraphModule:
    """``fx.GraphModule(modules, graph)``, with the code of an earlier identical graph: fx
    generates and ``exec``s the source of every new GraphModule (~0.2–0.4 ms), the same
    source each time a design is compiled again (each training run, each export)."""
    key = tuple((n.op, n.name, str(n.target), repr(n.args), repr(n.kwargs)) for n in graph.nodes)
    module = _ReusingGraphModule(modules, graph, _GENERATED.get(key))
    generated = module.__dict__.pop("_netwright_generated", None)
    if generated is not None:
        if len(_GENERATED) >= MAX_GENERATED:
            _GENERATED.pop(next(iter(_GENERATED)))
        _GENERATED[key] = generated
    return module


def _feeding(design: Design, outputs: list[str]) -> set[str]:
    """``outputs`` and every node some path leads from into one of them."""
    found, todo = set(outputs), list(outputs)
    while todo:
        for edge in design.in_edges(todo.pop()):
            if edge.src not in found:
                found.add(edge.src)
                todo.append(edge.src)
    return found


def _plain_call(module: fx.GraphModule) -> None:
    """Let the model be called as any ``nn.Module`` is. ``torch.fx`` wraps ``__call__`` of
    each generated class, only to print the generated line an exception came from; the two
    extra Python calls cost ~2 µs per call, a percent or two of a small network's step."""
    cls = type(module)
    if cls is not fx.GraphModule and "__call__" in vars(cls):
        del cls.__call__


def _key(design: Design, nid: str) -> tuple[str, str]:
    layer = design.layer_of(design.node(nid))
    return nid, layer.outputs[0].name


def _bind_outputs(graph: fx.Graph, env: dict, nid: str, layer: LayerType, value: fx.Node) -> None:
    """Record a node's value per output port (a tuple's items when it has several)."""
    if len(layer.outputs) == 1:
        env[(nid, layer.outputs[0].name)] = value
        return
    for k, port in enumerate(layer.outputs):
        env[(nid, port.name)] = graph.call_function(operator.getitem, (value, k))


def build_node(design: Design, nid: str, inference: Inference) -> nn.Module:
    """The module of one node: a layer with its (argument-bound) params, or a block instance."""
    copies = inference.expansions.get(nid)
    if copies is not None:
        return instance_module(design, design.node(nid), copies)
    node = design.node(nid)
    layer = CATALOG[node.type]
    params = layer.resolve(inference.bound.get(nid, node.params))
    return build_layer(layer, params, inference.input_shapes[nid])


def instance_module(design: Design, node, copies: list[Expansion]) -> nn.Module:
    """One module per copy; several copies run in sequence."""
    modules = [copy_module(design, c) for c in copies]
    if len(modules) == 1:
        return modules[0]
    if len(design.layer_of(node).inputs) == 1:
        return nn.Sequential(*modules)
    return Chain(*modules)


def copy_module(design: Design, copy: Expansion) -> nn.Module:
    """The module of one copy of a block: an ``nn.Sequential`` for a plain chain, else a
    :class:`BlockModule` subclass named after the block."""
    body = design.blocks[copy.block].body
    inference = copy.inference
    chain = chain_order(body, inference)
    if chain is not None:
        return nn.Sequential(*(build_node(body, nid, inference) for nid in chain))
    _idents, paths = body_names(body)
    modules: dict[str, nn.Module] = {}
    for node in body.nodes:  # registered in node order: the state_dict follows the design
        layer = body.layer_of(node)
        if not (layer.is_source or layer.is_sink or node.id in inference.absent):
            modules[paths[node.id]] = build_node(body, node.id, inference)
    plan = block_plan(body, inference, paths)
    return block_class(copy.block)(modules, *plan)


def body_names(body: Design) -> tuple[dict[str, str], dict[str, str]]:
    """:func:`module_names` of a block body's nodes, in node order."""
    return module_names(body, [n.id for n in body.nodes], in_block=True)


def module_path(compiled: Compiled, design: Design, location: list[tuple[str, int]]) -> str:
    """The state_dict prefix of the layer at ``location``: ``(node id, copy)`` steps from the
    top-level design into nested block bodies (``layer1.0.conv1``), as compiled above."""
    parts = [compiled.paths[location[0][0]]]
    body, inference = design, compiled.report.inference
    for k, (nid, copy) in enumerate(location):
        if k:
            chain = chain_order(body, inference)
            if chain is not None:
                parts.append(str(chain.index(nid)))
            else:
                parts.append(body_names(body)[1][nid])
        copies = inference.expansions.get(nid)
        if copies is None:
            continue
        if len(copies) > 1:
            parts.append(str(copy))
        body, inference = design.blocks[copies[copy].block].body, copies[copy].inference
    return ".".join(parts)


def chain_order(body: Design, inference: Inference) -> list[str] | None:
    """The inner layers of a body in order when it is one Input → layers → one Output path of
    one-input, one-output layers named by their index (``0``, ``1`` …, as in an
    ``nn.Sequential``; absent ones skipped); else None. Layers with other names keep them as
    submodule names (torchvision's ``InvertedResidual.conv``)."""
    inputs, outputs = body.inputs(), body.outputs()
    if len(inputs) != 1 or len(outputs) != 1 or len(body.edges) != len(body) - 1:
        return None
    order, current = [], inputs[0].id
    while True:
        nexts = body.out_edges(current)
        if len(nexts) != 1:
            return None
        current = nexts[0].dst
        if current == outputs[0].id:
            return order
        layer = body.layer_of(body.node(current))
        if len(layer.inputs) != 1 or len(layer.outputs) != 1 or len(body.in_edges(current)) != 1:
            return None
        if not body.node(current).name.isdigit():
            return None
        if current not in inference.absent:
            order.append(current)


Ref = tuple[str, int]  # (value name, output index or -1 for a single output)


def block_plan(body: Design, inference: Inference, idents: dict[str, str]
               ) -> tuple[list[str], list[tuple[str, tuple[Ref, ...]]], list[Ref]]:
    """``(input names, steps, output refs)`` for :class:`BlockModule`: each step runs the
    submodule of that name (``idents``: the nodes' module paths) on the referenced values; an
    absent node forwards its input."""
    alias: dict[str, Ref] = {}

    def ref(edge) -> Ref:
        if edge.src in alias:
            return alias[edge.src]
        layer = body.layer_of(body.node(edge.src))
        index = -1 if len(layer.outputs) == 1 else layer.outputs.index(
            layer.output_port(edge.src_port))
        return idents[edge.src], index

    inputs = [idents[n.id] for n in body.inputs()]
    steps = []
    for nid in inference.order:
        layer = body.layer_of(body.node(nid))
        if layer.is_source or layer.is_sink:
            continue
        srcs = tuple(ref(e) for e in body.in_edges(nid))
        if nid in inference.absent:
            alias[nid] = srcs[0]
        else:
            steps.append((idents[nid], srcs))
    outputs = [ref(body.in_edges(n.id)[0]) for n in body.outputs()]
    return inputs, steps, outputs


class BlockModule(nn.Module):
    """One copy of a block: its layers as submodules named after the nodes, run in order.

    ``steps`` lists ``(submodule path, input refs)``; a ref is ``(value name, index)``, the
    index picking one output of a submodule with several (-1: the value itself).
    """

    def __init__(self, modules: dict[str, nn.Module], inputs: list[str],
                 steps: list[tuple[str, tuple[Ref, ...]]], outputs: list[Ref]) -> None:
        super().__init__()
        place_modules(self, modules)  # named as the nodes: the plan's names start with _
        self._inputs, self._steps, self._outputs = list(inputs), list(steps), list(outputs)

    def forward(self, *xs: torch.Tensor):
        env: dict[str, Any] = dict(zip(self._inputs, xs))
        for name, refs in self._steps:
            module = self._modules[name] if "." not in name else self.get_submodule(name)
            env[name] = module(*(_pick(env, r) for r in refs))
        outs = [_pick(env, r) for r in self._outputs]
        return outs[0] if len(outs) == 1 else tuple(outs)


def _pick(env: dict[str, Any], ref: Ref) -> Any:
    value = env[ref[0]]
    return value if ref[1] < 0 else value[ref[1]]


_BLOCK_CLASSES: dict[str, type[BlockModule]] = {}


def block_class(name: str) -> type[BlockModule]:
    """A :class:`BlockModule` subclass called ``name`` (so ``print(model)`` reads as the design)."""
    ident = re.sub(r"\W", "_", name, flags=re.ASCII) or "Block"
    if ident not in _BLOCK_CLASSES:
        _BLOCK_CLASSES[ident] = type(ident, (BlockModule,), {"__doc__": f"Block {ident}."})
    return _BLOCK_CLASSES[ident]


class Chain(nn.Module):
    """Copies of a block with several inputs run in sequence: output k feeds input k."""

    def __init__(self, *copies: nn.Module) -> None:
        super().__init__()
        for i, module in enumerate(copies):
            self.add_module(str(i), module)

    def forward(self, *xs: torch.Tensor):
        for module in self._modules.values():
            xs = module(*xs)
        return xs


def example_inputs(compiled: Compiled, design: Design, batch: int = 2,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    """Random inputs matching each Input node (token ids for int64 inputs)."""
    out = []
    for nid in compiled.input_nodes:
        params = design.node(nid).resolved_params()
        shape = (batch, *params["shape"])
        if params["dtype"] == "int64":
            vocab = _smallest_vocabulary(design, nid)
            out.append(torch.randint(0, vocab, shape, generator=generator))
        else:
            out.append(torch.randn(shape, generator=generator))
    return tuple(out)


def _smallest_vocabulary(design: Design, input_id: str) -> int:
    sizes = [design.node(e.dst).resolved_params()["num_embeddings"] for e in design.out_edges(input_id)
             if design.node(e.dst).type == "Embedding"]
    return min(sizes) if sizes else 2


def compile_structure(design: Design, report: Report | None = None) -> Compiled:
    """Compile ``design`` on the meta device: the module's structure and code, no weights
    allocated (what the code views and the ``code`` command need; instant for any size)."""
    with torch.device("meta"):
        return compile_design(design, report)
