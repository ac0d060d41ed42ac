"""Attention modules in a ``torch.export`` program → one catalog layer each.

``torch.export`` writes a module's ``forward`` out as ATen operators, and each operator keeps
the stack of modules that called it (``nn_module_stack``). The operators of one call of a
module whose ``forward`` is torch's own are recognised together, outermost first:

* a Transformer encoder stack (``nn.TransformerEncoder`` without a final norm, or Netwright's
  ``TransformerEncoderStack``) whose operators are all its layers', chained → TransformerEncoder;
* ``nn.TransformerEncoderLayer`` → TransformerEncoderLayer;
* ``nn.MultiheadAttention(x, x, x)`` → MultiheadSelfAttention.

Their settings (heads, feed-forward width, activation, norm order, eps, dropout, bias) are read
off the operators, and the tensors keep the source's names (``layers.0.self_attn.in_proj_weight``).
A module that does not fit (a mask, a final norm, a key other than the query…) raises
:class:`ConversionError`; the caller then converts the groups inside it, down to single operators.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import fx

from .builder import ConversionError, DesignBuilder, Tensor

ABSORBED = object()  # a value computed inside a recognised module
LEVELS = ("stack", "layer", "attention")  # outermost first
COMPOSITES = {"SelfAttention", "CrossAttention"}  # Netwright modules wrapping one torch
# module (``attn``)
TORCH_STACK = "torch.nn.modules.transformer.TransformerEncoder"
TORCH_LAYER = "torch.nn.modules.transformer.TransformerEncoderLayer"
ENCODER_WEIGHTS = ("self_attn.in_proj_weight", "self_attn.out_proj.weight", "linear1.weight",
                   "linear2.weight", "norm1.weight", "norm2.weight")
ENCODER_BIASES = ("self_attn.in_proj_bias", "self_attn.out_proj.bias", "linear1.bias",
                  "linear2.bias", "norm1.bias", "norm2.bias")
ACTIVATIONS = {"aten.relu.default": "relu", "aten.gelu.default": "gelu"}

Parameters = Mapping[fx.Node, tuple[str, torch.Tensor]]  # placeholder → (state_dict name, tensor)


@dataclass
class Group:
    """The operators of one call of a recognised module, in program order."""

    level: int  # index into LEVELS
    path: str  # the module's path (``encoder.layers.0``)
    nodes: list[fx.Node]

    @property
    def kind(self) -> str:
        return LEVELS[self.level]


def class_name(kind: Any) -> str:
    return f"{kind.__module__}.{kind.__qualname__}" if isinstance(kind, type) else str(kind)


def _stack(node: fx.Node) -> list[tuple[str, str]]:
    return [(str(v[0]), class_name(v[1])) for v in (node.meta.get("nn_module_stack") or {}).values()
            if isinstance(v, tuple) and len(v) == 2]


def _level(cls: str) -> int | None:
    if cls == TORCH_STACK or cls.rsplit(".", 1)[-1] == "TransformerEncoderStack":
        return 0
    if cls == TORCH_LAYER:
        return 1
    if cls.endswith("MultiheadAttention"):
        return 2
    return None


def module_groups(nodes: list[fx.Node], level: int = 0) -> dict[fx.Node, Group]:
    """First operator → its group, for the outermost recognised module at ``level`` or
    deeper around each operator of ``nodes``."""
    found: dict[tuple[str, int], list[fx.Node]] = {}
    for node in nodes:
        if node.op != "call_function":
            continue
        for path, cls in _stack(node):
            at = _level(cls)
            if at is not None and at >= level:
                found.setdefault((path, at), []).append(node)
                break
    return {members[0]: Group(at, path, members) for (path, at), members in found.items()}


def convert_module(group: Group, env: dict, builder: DesignBuilder,
                   params: Parameters) -> dict[fx.Node, Any]:
    """The group as one layer: its output node → that layer's output, every other node →
    ABSORBED. Adds nothing to ``builder`` when it raises :class:`ConversionError`."""
    if group.kind == "stack":
        return _convert_stack(group, env, builder, params)
    layer = _encoder_layer(group, params)
    if group.kind == "layer":
        return _add(group, env, builder, "TransformerEncoderLayer", group.path, layer)
    return _add(group, env, builder, "MultiheadSelfAttention", _attention_name(group), layer)


# ---- reading a module's settings off its operators ----------------------------------------------


@dataclass
class Reading:
    """What a module call computes from: its input, output and layer settings and weights."""

    source: fx.Node
    output: fx.Node
    params: dict[str, Any]
    weights: dict[str, torch.Tensor]


def _boundary(group: Group, params: Parameters) -> tuple[fx.Node, fx.Node, dict[str, torch.Tensor]]:
    """The one tensor the group reads, the one it returns, and its parameters by local name."""
    inside = set(group.nodes)
    outside = {a for n in group.nodes for a in n.all_input_nodes if a not in inside}
    sources = [a for a in outside if a not in params and isinstance(a.meta.get("val"), torch.Tensor)]
    outputs = [n for n in group.nodes if any(u not in inside for u in n.users)
               and isinstance(n.meta.get("val"), torch.Tensor)]
    if len(sources) != 1 or len(outputs) != 1:
        raise ConversionError("attention over different query, key and value tensors has no "
                              "layer yet (only self-attention)")
    weights = {params[a][0][len(group.path) + 1:]: params[a][1] for a in outside if a in params}
    return sources[0], outputs[0], weights


def _attention_settings(group: Group, source: fx.Node) -> int:
    """The head count of the group's one unmasked, batch-first scaled dot-product attention."""
    sdpa = [n for n in group.nodes if "scaled_dot_product_attention" in str(n.target)]
    if len(sdpa) != 1 or any(a is not None for a in sdpa[0].args[3:4]) \
            or sdpa[0].kwargs.get("attn_mask") is not None or sdpa[0].kwargs.get("is_causal"):
        raise ConversionError("attention with a mask, or returning its weights")
    query = sdpa[0].args[0].meta["val"]  # (batch, heads, steps, head size)
    steps = source.meta["val"].shape[1] if source.meta["val"].dim() == 3 else None
    if not isinstance(query.shape[2], int) or query.shape[2] != steps:
        raise ConversionError("attention over sequence-first tensors (batch_first=False)")
    return int(query.shape[1])


def _encoder_layer(group: Group, params: Parameters) -> Reading:
    """An ``nn.TransformerEncoderLayer`` (or, at the attention level, an
    ``nn.MultiheadAttention``) call read as the catalog layer's params and weights."""
    source, output, weights = _boundary(group, params)
    heads = _attention_settings(group, source)
    if group.kind == "attention":
        return _attention_reading(source, output, weights, heads)
    expected = set(ENCODER_WEIGHTS) | (set(ENCODER_BIASES) if "linear1.bias" in weights else set())
    if set(weights) != expected:
        raise ConversionError(f"an encoder layer with {sorted(weights)}")
    activations = [n for n in group.nodes if str(n.target) in ACTIVATIONS]
    norms = [n for n in group.nodes if str(n.target) == "aten.layer_norm.default"]
    rates = {float(n.args[1]) for n in group.nodes if str(n.target) == "aten.dropout.default"}
    if len(activations) != 1 or activations[0].kwargs.get("approximate", "none") != "none":
        raise ConversionError("an encoder layer whose activation is neither ReLU nor GELU")
    eps = {float(n.args[4]) if len(n.args) > 4 else 1e-5 for n in norms}
    if len(norms) != 2 or len(eps) != 1 or len(rates) > 1:
        raise ConversionError("an encoder layer with norms or dropouts that differ")
    first = next((n for n in norms if params.get(n.args[2], ("",))[0].endswith("norm1.weight")), None)
    if first is None:
        raise ConversionError("an encoder layer whose first norm is not its norm1")
    return Reading(source, output, {
        "num_heads": heads, "dim_feedforward": int(weights["linear1.weight"].shape[0]),
        "dropout": rates.pop() if rates else 0.0,
        "activation": ACTIVATIONS[str(activations[0].target)],
        "norm_first": first.args[0] is source, "layer_norm_eps": eps.pop(),
        "bias": "linear1.bias" in weights}, weights)


def _attention_reading(source: fx.Node, output: fx.Node, weights: dict[str, torch.Tensor],
                       heads: int) -> Reading:
    if set(weights) - {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}:
        raise ConversionError(f"attention with {sorted(weights)} (separate key/value sizes "
                              "or added bias_k/bias_v) has no layer")
    bias = "in_proj_bias" in weights
    if bias != ("out_proj.bias" in weights):
        raise ConversionError("attention with a bias on only some projections")
    return Reading(source, output, {"num_heads": heads, "bias": bias},
                   {f"attn.{k}": v for k, v in weights.items()})


def _attention_name(group: Group) -> str:
    """An attention layer's name: its module path, or that of the Netwright module wrapping it
    (``SelfAttention``), so exported designs come back with their node names."""
    stack = _stack(group.nodes[0])
    at = [p for p, _ in stack].index(group.path)
    if at > 0 and stack[at - 1][1].rsplit(".", 1)[-1] in COMPOSITES:
        return stack[at - 1][0]
    return group.path


def _convert_stack(group: Group, env: dict, builder: DesignBuilder, params: Parameters) -> dict:
    """Encoder layers called one after the other and nothing else → one TransformerEncoder."""
    layers = [g for g in module_groups(group.nodes, 1).values() if g.kind == "layer"]
    if not layers or sum(len(g.nodes) for g in layers) != len(group.nodes):
        raise ConversionError("an encoder stack with operators outside its layers")
    readings = [_encoder_layer(g, params) for g in layers]
    chained = all(b.source is a.output for a, b in zip(readings, readings[1:]))
    inside = set(group.nodes)
    if not chained or any(r.params != readings[0].params for r in readings) \
            or any(u not in inside for r in readings[:-1] for u in r.output.users):
        raise ConversionError("encoder layers that differ or are not called in a row")
    prefix = {g.path: g.path[len(group.path) + 1:] for g in layers}
    if any(not local.startswith("layers.") for local in prefix.values()):
        raise ConversionError("an encoder stack whose layers are not its 'layers'")
    weights = {f"{prefix[g.path]}.{k}": v for g, r in zip(layers, readings) for k, v in r.weights.items()}
    reading = Reading(readings[0].source, readings[-1].output,
                      {**readings[0].params, "num_layers": len(layers)}, weights)
    return _add(group, env, builder, "TransformerEncoder", group.path, reading)


def _add(group: Group, env: dict, builder: DesignBuilder, type_id: str, name: str,
         reading: Reading) -> dict[fx.Node, Any]:
    x = env.get(reading.source)
    if not isinstance(x, Tensor) or x.shape is None:
        raise ConversionError("its input comes from an unsupported operator")
    if tuple(reading.output.meta["val"].shape[1:]) != x.shape:
        raise ConversionError("attention over sequence-first tensors (batch_first=False)")
    out: dict[fx.Node, Any] = {n: ABSORBED for n in group.nodes}
    out[reading.output] = builder.layer(type_id, name or type_id.lower(), reading.params, [x],
                                        reading.weights)
    return out
