"""Multi-head self-attention as ONNX exporters write it out → one MultiheadSelfAttention.

An exporter writes ``nn.MultiheadAttention`` as its steps: the input projection (one MatMul by
an E×3E constant, or three by E×E), reshapes and transposes that fold the batch into the heads,
the scores, Softmax, the weighted sum, the output projection, and the shape arithmetic those
reshapes need. No design layer takes a tensor whose batch is folded into the heads, so the
whole region is recognised at once, by structure and then by behaviour:

1. from each Softmax, the MatMul of two computed tensors before it (the scores) and the one
   after it (the weighted sum); back from their operands, through reshaping and scaling only,
   the projections (MatMul or Gemm by a constant), all reading one tensor; forward from the
   weighted sum the output projection, and the reshapes after it;
2. the region is run with onnxruntime on random inputs, with two batch sizes: its output is the
   first value after the output projection with the input's sample shape and the batch on one
   axis, the heads are read off the scores' size, and it must equal ``nn.MultiheadAttention``
   with the projections' weights.

Nothing is matched by node names or one exporter's node order; a mask, a causal flag or
anything else that changes the result fails the comparison, and the nodes are then converted
one by one (and listed as unsupported where they cannot be).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .builder import ConversionError, DesignBuilder, Tensor

# Ops that carry the projected tensors to the scores without mixing positions of one head
# with another's weights: reshaping, scaling by a number, the bias, casts.
MOVES = {"Reshape", "Transpose", "Squeeze", "Unsqueeze", "Gather", "Slice", "Split", "Mul",
         "Div", "Add", "Cast", "Identity", "Flatten"}
AFTER_OUTPUT = {"Add", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Flatten"}
SHAPE_READERS = {"Shape", "Size"}
TRIAL_BATCHES = (2, 3)
MAX_STEPS = 32


@dataclass
class Region:
    """One attention's nodes: ``source`` is the value every projection reads."""

    source: str
    softmax: Any
    projections: tuple[Any, Any, Any]  # query, key, value (one node three times when fused)
    out_projection: Any
    candidates: list[str]  # values after the output projection, in order
    nodes: list[Any] = field(default_factory=list)  # every node the last candidate needs
    graph_nodes: list[Any] = field(default_factory=list)  # the whole graph's
    graph_outputs: set[str] = field(default_factory=set)


class Graph:
    """What the search needs of an ONNX graph: producers, readers, constants."""

    def __init__(self, graph, constants: set[str]):
        self.graph = graph
        self.producer = {o: n for n in graph.node for o in n.output if o}
        self.readers: dict[str, list] = {}
        for node in graph.node:
            for name in node.input:
                self.readers.setdefault(name, []).append(node)
        self.outputs = {o.name for o in graph.output}
        self.constant = set(constants)
        self.data: set[str] = set()  # values that depend on an input's values (not its shape)
        inputs = {i.name for i in graph.input} - self.constant
        self.data |= inputs
        for node in graph.node:
            if node.op_type == "Constant" or all(n in self.constant for n in node.input if n):
                self.constant.update(o for o in node.output if o)
            elif node.op_type not in SHAPE_READERS and any(n in self.data for n in node.input):
                self.data.update(o for o in node.output if o)

    def data_inputs(self, node) -> list[str]:
        return [n for n in node.input if n in self.data]

    def data_readers(self, name: str) -> list:
        return [r for r in self.readers.get(name, []) if r.op_type not in SHAPE_READERS]

    def projection_of(self, name: str):
        """Back from ``name`` through MOVES to a MatMul/Gemm by a constant: that node."""
        for _ in range(MAX_STEPS):
            node = self.producer.get(name)
            if node is None:
                return None
            ins = self.data_inputs(node)
            if node.op_type in ("MatMul", "Gemm") and ins == [node.input[0]] \
                    and node.input[1] in self.constant:
                return node
            if node.op_type not in MOVES or len(ins) != 1:
                return None
            name = ins[0]
        return None


def find_regions(graph, constants: set[str]) -> list[Region]:
    """Every candidate self-attention region of ``graph`` (structure only, see step 1)."""
    g = Graph(graph, constants)
    regions = []
    for softmax in graph.node:
        if softmax.op_type != "Softmax":
            continue
        region = _region_around(g, softmax)
        if region is not None:
            region.nodes = _needed_nodes(g, region.source, region.candidates[-1])
            if region.nodes is not None:
                region.graph_nodes, region.graph_outputs = list(graph.node), g.outputs
                regions.append(region)
    return regions


def _region_around(g: Graph, softmax) -> Region | None:
    scores = _walk_back_to(g, softmax.input[0], "MatMul")
    weighted = _walk_forward_to(g, softmax.output[0], lambda n: n.op_type == "MatMul")
    if scores is None or weighted is None or len(g.data_inputs(scores)) != 2 \
            or len(g.data_inputs(weighted)) != 2:
        return None
    value_operand = [n for n in weighted.input if n not in _chain_names(g, softmax)]
    operands = [scores.input[0], scores.input[1]] + value_operand[:1]
    projections = tuple(g.projection_of(name) for name in operands)
    if len(value_operand) != 1 or any(p is None for p in projections):
        return None
    sources = {p.input[0] for p in projections}
    out = _walk_forward_to(g, weighted.output[0], lambda n: n.op_type in ("MatMul", "Gemm")
                           and n.input[1] in g.constant)
    if len(sources) != 1 or out is None or out.input[0] not in g.data:
        return None
    candidates = [out.output[0]]
    while len(candidates) < MAX_STEPS:
        readers = g.data_readers(candidates[-1])
        if len(readers) != 1 or readers[0].op_type not in AFTER_OUTPUT \
                or len(g.data_inputs(readers[0])) != 1 or candidates[-1] in g.outputs:
            break
        candidates.append(readers[0].output[0])
    return Region(sources.pop(), softmax, projections, out, candidates)


def _walk_back_to(g: Graph, name: str, op_type: str):
    for _ in range(MAX_STEPS):
        node = g.producer.get(name)
        if node is None:
            return None
        if node.op_type == op_type:
            return node
        ins = g.data_inputs(node)
        if node.op_type not in MOVES or len(ins) != 1:
            return None
        name = ins[0]
    return None


def _walk_forward_to(g: Graph, name: str, stop):
    for _ in range(MAX_STEPS):
        readers = g.data_readers(name)
        if len(readers) != 1:
            return None
        node = readers[0]
        if stop(node):
            return node
        if node.op_type not in MOVES or len(g.data_inputs(node)) != 1:
            return None
        name = node.output[0]
    return None


def _chain_names(g: Graph, softmax) -> set[str]:
    """Values from the Softmax to the weighted sum (the attention weights and their casts)."""
    names, name = {softmax.output[0]}, softmax.output[0]
    for _ in range(MAX_STEPS):
        readers = g.data_readers(name)
        if len(readers) != 1 or readers[0].op_type == "MatMul":
            break
        name = readers[0].output[0]
        names.add(name)
    return names


def _needed_nodes(g: Graph, source: str, output: str) -> list | None:
    """The nodes computing ``output`` from ``source`` and constants, in graph order; None
    when it also reads another computed value."""
    needed, stack, seen = set(), [output], set()
    while stack:
        name = stack.pop()
        if name in seen or name == source or not name:
            continue
        seen.add(name)
        node = g.producer.get(name)
        if node is None:
            if name in g.constant:
                continue
            return None
        needed.add(id(node))
        stack.extend(node.input)
    return [n for n in g.graph.node if id(n) in needed]


# ---- step 2: run it, and build the layer -------------------------------------------------------


def convert_region(region: Region, env: dict[str, Any], builder: DesignBuilder, model,
                   name: str) -> dict[str, Any]:
    """The region as one MultiheadSelfAttention fed by ``env[region.source]``: the values to
    plan (its output → the layer, every other value it computes from the source → ``absorbed``).
    Raises ConversionError saying why when the region is not exactly self-attention."""
    x = env.get(region.source)
    if not isinstance(x, Tensor) or x.shape is None or len(x.shape) != 2:
        raise ConversionError("its input is not a computed sequence (steps × features)")
    projections = _attention_weights(region, env)
    if projections is None:
        raise ConversionError("its projections do not fit nn.MultiheadAttention (queries, keys "
                              "and values of one width; biases on all of them or none)")
    weights, bias, first_output = projections
    runs = [_run(model, region, env, x, batch) for batch in TRIAL_BATCHES]
    if any(run is None for run in runs):
        raise ConversionError("onnxruntime cannot run that part of the graph on its own")
    chosen = _pick_output(region.candidates[first_output:], x, runs)
    if chosen is None:
        raise ConversionError("no value after its output projection has the input's shape")
    output, axis = chosen
    sample, outputs = runs[0]
    heads, rest = divmod(outputs[region.softmax.output[0]].size, TRIAL_BATCHES[0] * x.shape[0] ** 2)
    if rest or heads < 1 or x.shape[1] % heads:
        raise ConversionError("its scores are not one steps × steps matrix per head")
    expected = _reference(weights, bias, heads, sample, x.batch_axis, axis)
    got = outputs[output]
    if expected.shape != got.shape or not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
        raise ConversionError("it computes something other than nn.MultiheadAttention with these "
                              "weights (a mask, a bias on the scores, another scale …)")
    absorbed = _absorbed(region, output)
    if absorbed is None:
        raise ConversionError("a value inside it (the attention weights?) is also read elsewhere")
    layer = builder.layer("MultiheadSelfAttention", name, {"num_heads": heads, "bias": bias},
                          [x.moved(0)], {f"attn.{k}": v for k, v in weights.items()})
    return {**absorbed, output: layer.moved(axis)}


def _matrix(node, env) -> tuple[torch.Tensor, bool]:
    """A MatMul's or Gemm's constant as torch's (out, in) weight, and whether a Gemm adds C."""
    w = torch.from_numpy(np.array(env[node.input[1]], dtype=np.float32))
    if w.dim() != 2:
        raise ConversionError("a projection by a constant of rank ≠ 2")
    if node.op_type == "MatMul":
        return w.t(), False
    attrs = {a.name: a for a in node.attribute}
    alpha = attrs["alpha"].f if "alpha" in attrs else 1.0
    beta = attrs["beta"].f if "beta" in attrs else 1.0
    if (attrs["transA"].i if "transA" in attrs else 0) or alpha != 1.0 or beta != 1.0:
        raise ConversionError("a Gemm other than x·Wᵀ + b")
    return (w if "transB" in attrs and attrs["transB"].i else w.t()), len(node.input) > 2 \
        and bool(node.input[2])


def _projection(region: Region, node, env) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """A projection's weight, its bias (Gemm's C, or a constant vector added right after) and
    how many values after it the bias is added (0 or 1)."""
    weight, has_c = _matrix(node, env)
    if has_c:
        c = np.array(env[node.input[2]], dtype=np.float32).reshape(-1)
        return weight, torch.from_numpy(np.broadcast_to(c, (weight.shape[0],)).copy()), 0
    after = _readers(region, node.output[0])
    if len(after) == 1 and after[0].op_type == "Add":
        other = [n for n in after[0].input if n != node.output[0]]
        const = env.get(other[0]) if len(other) == 1 else None
        if isinstance(const, np.ndarray) and const.size == weight.shape[0]:
            return weight, torch.from_numpy(np.array(const, np.float32).reshape(-1)), 1
    return weight, None, 0


def _attention_weights(region: Region, env) -> tuple[dict, bool, int] | None:
    """nn.MultiheadAttention's tensors from the projections; None when they do not fit it."""
    q, k, v = region.projections
    if q is k is v:
        weight, in_bias, _ = _projection(region, q, env)
    elif len({id(q), id(k), id(v)}) == 3:
        parts = [_projection(region, p, env) for p in (q, k, v)]
        weight = torch.cat([p[0] for p in parts])
        biases = [p[1] for p in parts]
        in_bias = torch.cat(biases) if all(b is not None for b in biases) else None
        if in_bias is None and any(b is not None for b in biases):
            return None
    else:
        return None
    out_weight, out_bias, first_output = _projection(region, region.out_projection, env)
    width = out_weight.shape[0]
    if tuple(weight.shape) != (3 * width, width) or tuple(out_weight.shape) != (width, width) \
            or (in_bias is None) != (out_bias is None):
        return None
    weights = {"in_proj_weight": weight, "out_proj.weight": out_weight}
    if in_bias is not None:
        weights.update({"in_proj_bias": in_bias, "out_proj.bias": out_bias})
    return weights, in_bias is not None, first_output


def _readers(region: Region, name: str) -> list:
    """The region's nodes reading ``name``'s values (not only its shape)."""
    return [n for n in region.nodes if name in n.input and n.op_type not in SHAPE_READERS]


def _run(model, region: Region, env, x: Tensor, batch: int):
    """The region on a random input with ``batch`` samples: (that input, every candidate's
    and the Softmax's value), or None when onnxruntime cannot run it."""
    import onnx
    import onnxruntime
    from onnx import helper, numpy_helper

    shape = list(x.shape)
    shape.insert(x.batch_axis, batch)
    sample = np.random.default_rng(batch).standard_normal(shape).astype(np.float32)
    produced = {o for n in region.nodes for o in n.output}
    needed = {i for n in region.nodes for i in n.input if i and i not in produced} - {region.source}
    if not all(isinstance(env.get(n), np.ndarray) for n in needed):
        return None
    names = list(region.candidates) + [region.softmax.output[0]]
    graph = helper.make_graph(
        list(region.nodes), "attention",
        [helper.make_tensor_value_info(region.source, onnx.TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names],
        [numpy_helper.from_array(np.asarray(env[n]), n) for n in sorted(needed)])
    sub = helper.make_model(graph, opset_imports=list(model.opset_import),
                            ir_version=model.ir_version)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(sub.SerializeToString(), options,
                                               providers=["CPUExecutionProvider"])
        values = session.run(names, {region.source: sample})
    except Exception:  # onnxruntime raises its own kinds for graphs it cannot run
        return None
    return sample, dict(zip(names, values))


def _pick_output(candidates: list[str], x: Tensor, runs) -> tuple[str, int] | None:
    """The first candidate with the input's sample shape and the batch on one axis."""
    for name in candidates:
        first, second = (tuple(run[1][name].shape) for run in runs)
        moved = [a for a, (d, e) in enumerate(zip(first, second)) if d != e]
        if len(first) == len(second) == 3 and len(moved) == 1 \
                and (first[moved[0]], second[moved[0]]) == TRIAL_BATCHES \
                and first[:moved[0]] + first[moved[0] + 1:] == x.shape:
            return name, moved[0]
    return None


def _reference(weights: dict, bias: bool, heads: int, sample: np.ndarray, batch_axis: int,
               out_axis: int) -> np.ndarray:
    """``nn.MultiheadAttention`` with ``weights`` on ``sample`` (batch at ``batch_axis``),
    its output with the batch at ``out_axis``."""
    width = weights["out_proj.weight"].shape[0]
    attention = torch.nn.MultiheadAttention(width, heads, bias=bias, batch_first=True)
    attention.load_state_dict(weights)
    x = torch.from_numpy(sample).movedim(batch_axis, 0)
    with torch.no_grad():
        out = attention.eval()(x, x, x, need_weights=False)[0]
    return out.movedim(0, out_axis).numpy()


def _absorbed(region: Region, output: str) -> dict[str, Any] | None:
    """Every value the region computes from its source up to ``output`` → ABSORBED; None
    when one of them is read outside (then the steps are not one layer)."""
    from .onnx_import import ABSORBED

    inside, depends = set(), {region.source}
    cut = _upstream(region, output)
    for node in region.nodes:
        if id(node) in cut and any(n in depends for n in node.input):
            inside.add(id(node))
            depends.update(o for o in node.output if o)
    values = {o for n in region.nodes if id(n) in inside for o in n.output if o}
    for node in region.graph_nodes:
        if id(node) not in inside and any(n in values - {output} for n in node.input):
            return None
    if output not in values or values & region.graph_outputs - {output}:
        return None
    return {name: ABSORBED for name in values - {output}}


def _upstream(region: Region, output: str) -> set[int]:
    """ids of the region's nodes ``output`` depends on."""
    producer = {o: n for n in region.nodes for o in n.output if o}
    found, stack = set(), [output]
    while stack:
        node = producer.get(stack.pop())
        if node is not None and id(node) not in found:
            found.add(id(node))
            stack.extend(node.input)
    return found
