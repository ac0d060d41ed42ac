"""Compile a valid design to a ``torch.fx.GraphModule``.

One submodule per layer node, named after the node (sanitized to a unique Python identifier),
so the generated ``forward`` reads one line per layer. Inputs become ``forward``'s arguments in
design order; one Output returns a tensor, several return a tuple. Branches that reach no
Output are left out.
"""
from __future__ import annotations

import builtins
import keyword
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import networkx as nx
import torch
from torch import fx, nn

from graph.catalog import CATALOG, LayerType, Shape
from graph.design import Design
from graph.validate import Report, to_networkx, validate

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
    idents: dict[str, str]  # node id → identifier used in the code

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
            or hasattr(builtins, ident) or hasattr(fx.GraphModule, ident)):
        ident = ident + "_"
    base, i = ident, 2
    while ident in taken:
        ident = f"{base}_{i}"
        i += 1
    taken.add(ident)
    return ident


def layer_class(layer: LayerType) -> type[nn.Module]:
    cls = getattr(custom_modules, layer.torch_class, None) or getattr(nn, layer.torch_class, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise LookupError(f"no torch module {layer.torch_class!r} for {layer.type_id}")
    return cls


def build_layer(layer: LayerType, params: dict[str, Any], in_shapes: list[Shape]) -> nn.Module:
    """The torch module of one layer, constructed from its declaration."""
    return layer_class(layer)(**layer.torch_kwargs(params, in_shapes))


def compile_design(design: Design, report: Report | None = None) -> Compiled:
    """Compile ``design``; raises :class:`CompileError` when validation finds errors."""
    report = report or validate(design)
    if not report.ok:
        raise CompileError(report, design)
    inference = report.inference
    g = to_networkx(design)
    outputs = [n.id for n in design.outputs()]
    needed = set(outputs).union(*(nx.ancestors(g, o) for o in outputs))
    inputs = [n.id for n in design.inputs()]
    taken: set[str] = set()
    idents = {nid: identifier(design.node(nid).name, taken) for nid in inference.order
              if nid in needed or nid in inputs}

    root = nn.Module()
    graph = fx.Graph()
    env: dict[str, fx.Node] = {}
    for nid in inputs:
        env[nid] = graph.placeholder(idents[nid])
    for nid in inference.order:
        if nid not in needed:
            continue
        node = design.node(nid)
        if node.layer.is_source or node.layer.is_sink:
            continue
        layer = CATALOG[node.type]
        args = tuple(env[e.src] for e in design.in_edges(nid))
        module = build_layer(layer, node.resolved_params(), inference.input_shapes[nid])
        root.add_module(idents[nid], module)
        env[nid] = graph.call_module(idents[nid], args)
        env[nid].meta["netwright_node"] = nid
    results = [env[design.in_edges(o)[0].src] for o in outputs]
    graph.output(results[0] if len(results) == 1 else tuple(results))
    graph.lint()
    module = fx.GraphModule(root, graph, class_name="NetwrightModel")
    return Compiled(module, report, inputs, outputs, idents)


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
