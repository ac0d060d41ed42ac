"""Convert a ``torch.export`` program (ATen operators) into a design.

Used for ``.pt2`` files and for ``nn.Module`` classes from Python files (exported here with a
dynamic batch), always inside the child process of :mod:`.child`, since both run code. Each
layer is named after the module that called the operator (``layer1.0.conv1``); parameters and
buffers become its weights.
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import fx

from .builder import ConversionError, DesignBuilder, Imported, Tensor, UnsupportedModel
from .folds import fold_joined_last_steps
from .patterns import (Expanded, VectorNorm, channels_layer_norm, class_token, einsum_matmul,
                       layer_scale, normalized, scale_factor,
                       select, shifted)
from .registry import Registry
from .torch_attention import ABSORBED, COMPOSITES, Group, convert_module, module_groups

ATEN_OPS = Registry("ATen")
BATCH = "N"


@dataclass(frozen=True)
class Const:
    """A parameter, buffer or constant tensor of the program (``buffer``: computed from a
    buffer, so a layer holding it starts frozen, as the source never trains it)."""

    value: torch.Tensor
    buffer: bool = False
    name: str = ""  # the source's tensor (``cls_token``), when it is one of its own


class ZerosWithBatch:
    """``torch.zeros`` of a size holding the batch: an RNN's default initial state."""


@dataclass(frozen=True)
class Sequence:
    """The whole-sequence output of a recurrent layer (batch first)."""

    tensor: Tensor


class Context:
    def __init__(self, node: fx.Node, env: dict[fx.Node, Any], builder: DesignBuilder,
                 uses: Callable[[fx.Node], int]):
        self.node, self.env, self.builder, self._uses = node, env, builder, uses
        self.name = module_name(node)

    def value(self, arg: Any) -> Any:
        """A node argument with graph nodes replaced by what they converted to."""
        if isinstance(arg, fx.Node):
            return self.env[arg]
        if isinstance(arg, (list, tuple)):
            return [self.value(a) for a in arg]
        return arg

    def arg(self, i: int, default: Any = None) -> Any:
        args = self.node.args
        if i < len(args):
            return self.value(args[i])
        return default

    def kwarg(self, i: int, name: str, default: Any = None) -> Any:
        if name in self.node.kwargs:
            return self.value(self.node.kwargs[name])
        return self.arg(i, default)

    def tensor(self, i: int) -> Tensor:
        value = self.arg(i)
        if isinstance(value, Sequence):
            value = value.tensor
        if not isinstance(value, Tensor):
            raise ConversionError(f"argument {i} must be computed by the network")
        if value.shape is None:
            raise ConversionError("its input comes from an unsupported operator")
        return value

    def weight(self, i: int, name: str | None = None) -> torch.Tensor | None:
        value = self.kwarg(i, name) if name else self.arg(i)
        if value is None:
            return None
        if not isinstance(value, Const):
            raise ConversionError(f"argument {i} must be a parameter of the model")
        return value.value

    def uses(self) -> int:
        return self._uses(self.node)

    def layer(self, type_id: str, params: dict[str, Any], inputs, weights=None) -> Tensor:
        return self.builder.layer(type_id, self.name, params, inputs, weights)


def module_name(node: fx.Node) -> str:
    """The path of the module that called ``node`` (``layer1.0.conv1``), else the node's name."""
    stack = [v for v in (node.meta.get("nn_module_stack") or {}).values()
             if isinstance(v, tuple) and v and v[0] and not str(v[0]).startswith("_empty")]
    if not stack:
        return node.name
    if len(stack) >= 2 and str(stack[-2][1]).rsplit(".", 1)[-1] in COMPOSITES:
        return str(stack[-2][0])
    return str(stack[-1][0])


# ---- the import -----------------------------------------------------------------------------


def import_program(program: torch.export.ExportedProgram, name: str,
                   placeholders: bool = False) -> Imported:
    builder = DesignBuilder(name)
    sig = program.graph_signature
    consts = {**sig.inputs_to_parameters, **sig.inputs_to_buffers,
              **getattr(sig, "inputs_to_lifted_tensor_constants", {})}
    tensors = {**program.state_dict, **program.constants}
    env: dict[fx.Node, Any] = {}
    users = {n: len(n.users) for n in program.graph.nodes}
    nodes = list(program.graph.nodes)
    groups = module_groups(nodes)
    params = {n: (consts[n.name], tensors[consts[n.name]].detach()) for n in nodes
              if n.op == "placeholder" and n.name in consts}
    for node in nodes:
        if node in env:  # computed with its module's group
            continue
        if node in groups:
            _convert_group(groups[node], env, builder, params, lambda n: users[n])
        elif node.op == "placeholder":
            if node.name in consts:
                env[node] = Const(params[node][1], node.name in sig.inputs_to_buffers,
                                  params[node][0])
            else:
                env[node] = _user_input(builder, node)
        elif node.op == "call_function":
            env[node] = _convert(node, env, builder, lambda n: users[n])
        elif node.op == "output":
            for i, out in enumerate(node.args[0]):
                value = env[out]
                if isinstance(value, Sequence):
                    value = value.tensor
                if not isinstance(value, Tensor):
                    raise ConversionError(f"output {i} is not computed from the inputs")
                builder.output(value, f"out_{i}" if len(node.args[0]) > 1 else "out")
    if builder.unmapped and not placeholders:
        raise UnsupportedModel(name, builder.unmapped)
    fold_joined_last_steps(builder)
    return builder.finish(name)


def _convert_group(group: Group, env: dict, builder: DesignBuilder, params, uses) -> None:
    """A recognised module's operators as one layer; when it does not fit, the modules inside
    it (down to single operators), or, for an attention call, a placeholder naming it."""
    try:
        env.update(convert_module(group, env, builder, params))
    except ConversionError as exc:
        if group.kind == "attention":
            _attention_placeholder(group, env, builder, str(exc))
        else:
            inner = module_groups(group.nodes, group.level + 1)
            for node in group.nodes:
                if node in inner:
                    _convert_group(inner[node], env, builder, params, uses)
                elif node not in env:
                    env[node] = _convert(node, env, builder, uses)
    for node in group.nodes:  # sizes the exporter computed once here and reuses elsewhere
        if str(node.target) == "aten.sym_size.int" and node.args[1] == 0:
            env[node] = BATCH


def _attention_placeholder(group: Group, env: dict, builder: DesignBuilder, reason: str) -> None:
    inside = set(group.nodes)
    inputs = [env[a] for a in dict.fromkeys(a for n in group.nodes for a in n.all_input_nodes)
              if a not in inside and isinstance(env.get(a), Tensor)]
    outputs = [n for n in group.nodes if any(u not in inside for u in n.users)
               and isinstance(n.meta.get("val"), torch.Tensor)]
    value = builder.placeholder("nn.MultiheadAttention", group.path, inputs, group.path, reason)
    shape = tuple(outputs[-1].meta["val"].shape[1:]) if outputs else None
    env.update({n: ABSORBED for n in group.nodes})
    env[outputs[-1] if outputs else group.nodes[-1]] = Tensor(value.node, shape)


def _folded(node: fx.Node, env) -> Const | None:
    """An operation on constants and numbers only (``self.pe[:, :x.size(1)]``) → its value,
    computed now; None for any other."""
    values = [env.get(a) for a in node.all_input_nodes]
    if not any(isinstance(v, Const) for v in values) or not all(
            isinstance(v, Const) or (isinstance(v, (int, float)) and not isinstance(v, bool))
            for v in values) or not isinstance(node.target, torch._ops.OpOverload):
        return None
    plain = lambda n: env[n].value if isinstance(env[n], Const) else env[n]  # noqa: E731
    try:
        with torch.no_grad():
            value = node.target(*fx.map_arg(node.args, plain), **fx.map_arg(node.kwargs, plain))
    except (RuntimeError, TypeError, ValueError, IndexError):
        return None
    if not isinstance(value, torch.Tensor):
        return None
    consts = [v for v in values if isinstance(v, Const)]
    return Const(value, any(c.buffer for c in consts), consts[0].name)


def _user_input(builder: DesignBuilder, node: fx.Node) -> Tensor:
    val = node.meta.get("val")
    shape = tuple(val.shape)[1:]
    if not all(isinstance(d, int) for d in shape):
        raise ConversionError(f"input {node.name}: only the batch dimension may vary")
    dtype = "int64" if val.dtype in (torch.int64, torch.int32) else "float32"
    return builder.input(node.name, shape, dtype)


def _convert(node: fx.Node, env, builder: DesignBuilder, uses) -> Any:
    op = "getitem" if node.target is operator.getitem else str(node.target)
    folded = _folded(node, env)
    if folded is not None:
        return folded
    converter = ATEN_OPS.fetch(op)
    ctx = Context(node, env, builder, uses)
    try:
        if converter is None:
            raise ConversionError(f"{op} has no layer yet")
        return converter.convert(ctx)
    except ConversionError as exc:
        inputs = [v for v in (env.get(a) for a in node.all_input_nodes) if isinstance(v, Tensor)]
        value = builder.placeholder(op, ctx.name, inputs, f"{ctx.name} ({source_line(node) or node.name})",
                                    str(exc))
        val = node.meta.get("val")
        shape = tuple(val.shape)[1:] if isinstance(val, torch.Tensor) else None
        ok = shape is not None and all(isinstance(d, int) for d in shape)
        return Tensor(value.node, shape if ok else None)


TORCH_DIR = Path(torch.__file__).resolve().parent
STACK_FRAME = re.compile(r'File "([^"]+)", line (\d+), in [^\n]*\n\s*([^\n]*)')


def source_line(node: fx.Node) -> str:
    """Where the user's code called ``node``: ``nets.py:71: x = (x - self.mean) / self.std``
    (the innermost frame torch.export recorded outside torch itself); empty when none."""
    frames = STACK_FRAME.findall(str(node.meta.get("stack_trace") or ""))
    own = [f for f in frames if not Path(f[0]).is_relative_to(TORCH_DIR)] or frames
    if not own:
        return ""
    file, line, code = own[-1]
    code = code.strip()
    return f"{Path(file).name}:{line}: {code[:80]}{'…' if len(code) > 80 else ''}"


# ---- plumbing: sizes, tuples, no-ops ----------------------------------------------------------


@ATEN_OPS.register("aten.sym_size.int")
def _sym_size(ctx: Context):
    x, dim = ctx.tensor(0), ctx.arg(1)
    return BATCH if dim == 0 else x.shape[dim - 1]


@ATEN_OPS.register("getitem")
def _getitem(ctx: Context):
    value, index = ctx.arg(0), ctx.arg(1)
    if isinstance(value, (list, tuple)) and isinstance(value[index], Indices) and ctx.node.users:
        raise ConversionError("the indices of max(dim) (argmax) have no layer: use its values, "
                              "x.max(dim)[0] or x.amax(dim)")
    if isinstance(value, (list, tuple)):
        return value[index]
    raise ConversionError("indexing a value that is not a tuple")


@ATEN_OPS.register("aten.zeros.default")
def _zeros(ctx: Context):
    size = ctx.arg(0)
    if BATCH in size:
        return ZerosWithBatch()
    return Const(torch.zeros([int(s) for s in size]))


for _op in ("aten.contiguous.default", "aten.clone.default", "aten.alias.default",
            "aten.detach.default"):
    ATEN_OPS.register(_op)(lambda ctx: ctx.arg(0))


# ---- layers -----------------------------------------------------------------------------------


@ATEN_OPS.register("aten.linear.default")
def _linear(ctx: Context):
    return ctx.builder.linear(ctx.name, ctx.tensor(0), ctx.weight(1), ctx.weight(2))


def _conv(n: int):
    def convert(ctx: Context):
        w, b = ctx.weight(1), ctx.weight(2)
        padding = ctx.arg(4, 0)
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ConversionError(f"padding={padding!r} has no layer yet")
        size = lambda v, d: [int(x) for x in (v if isinstance(v, (list, tuple)) else [v] * n)] \
            if v is not None else [d] * n  # noqa: E731
        weights = {"weight": w} if b is None else {"weight": w, "bias": b}
        params = {"out_channels": int(w.shape[0]), "kernel_size": [int(k) for k in w.shape[2:]],
                  "stride": size(ctx.arg(3), 1),
                  "padding": size(0 if isinstance(padding, str) else padding, 0),
                  "dilation": size(ctx.arg(5), 1), "groups": int(ctx.arg(6, 1)),
                  "bias": b is not None}
        if padding == "same":  # torch pads as the layer's same_padding does, the extra one after
            params["same_padding"] = True
        return ctx.layer(f"Conv{n}d", params, [ctx.tensor(0)], weights)

    return convert


ATEN_OPS.register("aten.conv1d.default", "aten.conv1d.padding")(_conv(1))
ATEN_OPS.register("aten.conv2d.default", "aten.conv2d.padding")(_conv(2))


@ATEN_OPS.register("aten.conv_transpose2d.input")
def _conv_transpose(ctx: Context):
    """``nn.ConvTranspose2d`` (weight: in × out/groups × kH × kW) → ConvTranspose2d."""
    w, b, groups = ctx.weight(1), ctx.weight(2), int(ctx.arg(6, 1))
    weights = {"weight": w} if b is None else {"weight": w, "bias": b}
    params = {"out_channels": int(w.shape[1]) * groups, "kernel_size": [int(k) for k in w.shape[2:]],
              "stride": _n(ctx.arg(3, 1), 2), "padding": _n(ctx.arg(4, 0), 2),
              "output_padding": _n(ctx.arg(5, 0), 2), "dilation": _n(ctx.arg(7, 1), 2),
              "groups": groups, "bias": b is not None}
    params = {k: [int(v) for v in vs] if isinstance(vs, list) else vs for k, vs in params.items()}
    return ctx.layer("ConvTranspose2d", params, [ctx.tensor(0)], weights)


def _bn_layer(ctx: Context, x: Tensor, w, b, mean, var, momentum, eps) -> Tensor:
    if w is None or b is None:
        raise ConversionError("BatchNorm without affine parameters")
    if mean is None:
        raise ConversionError("BatchNorm without running statistics")
    type_id = "BatchNorm2d" if len(x.shape) == 3 else "BatchNorm1d"
    weights = {"weight": w, "bias": b, "running_mean": mean, "running_var": var}
    return ctx.layer(type_id, {"eps": float(eps), "momentum": float(momentum or 0.1)}, [x], weights)


@ATEN_OPS.register("aten.batch_norm.default")
def _batch_norm(ctx: Context):
    return _bn_layer(ctx, ctx.tensor(0), ctx.weight(1), ctx.weight(2), ctx.weight(3),
                     ctx.weight(4), ctx.arg(6), ctx.arg(7))


@ATEN_OPS.register("aten._native_batch_norm_legit_no_training.default")
def _batch_norm_eval(ctx: Context):
    out = _bn_layer(ctx, ctx.tensor(0), ctx.weight(1), ctx.weight(2), ctx.weight(3),
                    ctx.weight(4), ctx.arg(5), ctx.arg(6))
    return [out, None, None]


@ATEN_OPS.register("aten.layer_norm.default")
def _layer_norm(ctx: Context):
    shape, w, b = ctx.arg(1), ctx.weight(2), ctx.weight(3)
    if w is None or b is None:
        raise ConversionError("LayerNorm without affine parameters")
    return ctx.layer("LayerNorm", {"normalized_dims": len(shape), "eps": float(ctx.arg(4, 1e-5))},
                     [ctx.tensor(0)], {"weight": w, "bias": b})


@ATEN_OPS.register("aten.group_norm.default")
def _group_norm(ctx: Context):
    w, b = ctx.weight(2), ctx.weight(3)
    weights = {} if w is None else {"weight": w, "bias": b}
    return ctx.layer("GroupNorm", {"num_groups": int(ctx.arg(1)), "eps": float(ctx.arg(4, 1e-5)),
                                   "affine": w is not None}, [ctx.tensor(0)], weights)


def _simple(type_id: str, params: Callable[[Context], dict] = lambda ctx: {}):
    def convert(ctx: Context):
        return ctx.layer(type_id, params(ctx), [ctx.tensor(0)])

    return convert


for _ops, _type in ((("aten.relu.default", "aten.relu_.default"), "ReLU"),
                    (("aten.tanh.default",), "Tanh"), (("aten.sigmoid.default",), "Sigmoid"),
                    (("aten.silu.default", "aten.silu_.default"), "SiLU"),
                    (("aten.abs.default",), "Abs")):
    ATEN_OPS.register(*_ops)(_simple(_type))
for _ops, _type in ((("aten.hardswish.default", "aten.hardswish_.default"), "Hardswish"),
                    (("aten.hardsigmoid.default", "aten.hardsigmoid_.default"), "Hardsigmoid"),
                    (("aten.mish.default", "aten.mish_.default"), "Mish")):
    ATEN_OPS.register(*_ops)(_simple(_type))


@ATEN_OPS.register("aten.hardtanh.default", "aten.hardtanh_.default")
def _hardtanh(ctx: Context):
    low, high = float(ctx.arg(1, -1.0)), float(ctx.arg(2, 1.0))
    if (low, high) == (0.0, 6.0):
        return ctx.layer("ReLU6", {}, [ctx.tensor(0)])
    return ctx.layer("Hardtanh", {"min_val": low, "max_val": high}, [ctx.tensor(0)])


ATEN_OPS.register("aten.softplus.default")(_simple("Softplus", lambda c: {
    "beta": float(c.arg(1, 1.0)), "threshold": float(c.arg(2, 20.0))}))
ATEN_OPS.register("aten.gelu.default")(_simple("GELU", lambda c: {
    "approximate": c.kwarg(1, "approximate", "none")}))
ATEN_OPS.register("aten.leaky_relu.default", "aten.leaky_relu_.default")(_simple(
    "LeakyReLU", lambda c: {"negative_slope": float(c.arg(1, 0.01))}))
ATEN_OPS.register("aten.elu.default", "aten.elu_.default")(_simple(
    "ELU", lambda c: {"alpha": float(c.arg(1, 1.0))}))
ATEN_OPS.register("aten.dropout.default", "aten.dropout_.default")(_simple(
    "Dropout", lambda c: {"p": float(c.arg(1, 0.5))}))
ATEN_OPS.register("aten.feature_dropout.default", "aten.feature_dropout_.default")(_simple(
    "Dropout2d", lambda c: {"p": float(c.arg(1, 0.5))}))


def _dim_param(ctx: Context, x: Tensor, i: int) -> int:
    dim = int(ctx.arg(i, 0)) % x.rank
    if dim == 0:
        raise ConversionError("an operation across the batch")
    return dim - 1


for _op, _type in (("aten.softmax.int", "Softmax"), ("aten._softmax.default", "Softmax"),
                   ("aten.log_softmax.int", "LogSoftmax"), ("aten._log_softmax.default", "LogSoftmax")):
    ATEN_OPS.register(_op)(_simple(_type, lambda c: {"dim": _dim_param(c, c.tensor(0), 1)}))


def _pool(kind: str, n: int):
    def convert(ctx: Context):
        kernel = [int(k) for k in _n(ctx.arg(1), n)]
        stride = _n(ctx.arg(2) or kernel, n)
        params = {"kernel_size": kernel, "stride": [int(s) for s in stride],
                  "padding": [int(p) for p in _n(ctx.arg(3, 0), n)]}
        if kind == "Max":
            if [int(d) for d in _n(ctx.arg(4, 1), n)] != [1] * n:
                raise ConversionError("dilated pooling")
            params["ceil_mode"] = bool(ctx.arg(5, False))
        else:
            if ctx.arg(6) is not None:
                raise ConversionError("average pooling with a divisor override")
            params["ceil_mode"] = bool(ctx.arg(4, False))
            params["count_include_pad"] = bool(ctx.arg(5, True))
        return ctx.layer(f"{kind}Pool{n}d", params, [ctx.tensor(0)])

    return convert


def _n(value: Any, n: int) -> list:
    return list(value) * (n if len(value) == 1 else 1) if isinstance(value, (list, tuple)) else [value] * n


ATEN_OPS.register("aten.max_pool1d.default")(_pool("Max", 1))
ATEN_OPS.register("aten.max_pool2d.default")(_pool("Max", 2))
ATEN_OPS.register("aten.avg_pool2d.default")(_pool("Avg", 2))


def _adaptive_pool(kind: str, n: int):
    """``F.adaptive_avg_pool2d(x, 1)`` … → AdaptiveAvgPool2d …; a max pool also returns its
    indices, which have no layer."""
    def convert(ctx: Context):
        size = [int(s) for s in _n(ctx.arg(1), n)]
        out = ctx.layer(f"Adaptive{kind}Pool{n}d", {"output_size": size if n > 1 else size[0]},
                        [ctx.tensor(0)])
        return [out, Indices()] if kind == "Max" else out

    return convert


for _n_dims in (1, 2):
    ATEN_OPS.register(f"aten.adaptive_avg_pool{_n_dims}d.default")(_adaptive_pool("Avg", _n_dims))
    ATEN_OPS.register(f"aten.adaptive_max_pool{_n_dims}d.default")(_adaptive_pool("Max", _n_dims))


@ATEN_OPS.register("aten.upsample_nearest2d.vec", "aten.upsample_nearest1d.vec",
                   "aten.upsample_bilinear2d.vec")
def _upsample(ctx: Context):
    """``F.interpolate``/``nn.Upsample`` by one whole factor on every axis (bilinear with
    or without align_corners) → Upsample."""
    x = ctx.tensor(0)
    bilinear = "bilinear" in str(ctx.node.target)
    size, factors = ctx.arg(1), ctx.arg(3 if bilinear else 2)
    corners = {"align_corners": True} if bilinear and ctx.arg(2) else {}
    if factors is None and size is not None:
        factors = [int(o) / int(i) for o, i in zip(size, x.shape[1:])]
    factors = [float(f) for f in factors or []]
    if not factors or len(set(factors)) != 1 or not factors[0].is_integer():
        raise ConversionError(f"upsampling by {factors or size} (Upsample takes one whole factor "
                              "for every axis, e.g. scale_factor=2)")
    return ctx.layer("Upsample", {"scale_factor": int(factors[0]),
                                  "mode": "bilinear" if bilinear else "nearest", **corners}, [x])


@ATEN_OPS.register("aten.mean.dim")
def _mean(ctx: Context):
    """Mean over every position: GlobalAvgPool (a Flatten(start_dim=1) before it is folded in),
    or AdaptiveAvgPool2d(1) when the dims are kept."""
    x = ctx.tensor(0)
    dims = sorted(int(d) % x.rank for d in ctx.arg(1))
    keep = bool(ctx.arg(2, False))
    if dims == list(range(2, x.rank)) and not keep:
        node = ctx.builder.node_of(x)
        if node.type == "Flatten" and node.params.get("start_dim") == 1 and x.rank == 3 \
                and ctx.builder.reads_nothing_yet(x) and len(ctx.node.args[0].users) == 1:
            name, x = ctx.builder.remove(node.id)
        return ctx.layer("GlobalAvgPool", {}, [x])
    if dims == [2, 3] and keep and x.rank == 4:
        return ctx.layer("AdaptiveAvgPool2d", {"output_size": 1}, [x])
    return _reduce(ctx, "Mean")


def _reduce(ctx: Context, type_id: str) -> Tensor:
    """A mean, sum or max over sample dims → Mean/Sum/Max."""
    x, dims = ctx.tensor(0), ctx.arg(1)
    if not dims:
        raise ConversionError(f"{type_id.lower()} over every dim, the batch too")
    dims = sorted(int(d) % x.rank for d in dims)
    if 0 in dims:
        raise ConversionError(f"{type_id.lower()} across the batch")
    if ctx.kwarg(3, "dtype") is not None:
        raise ConversionError(f"{type_id.lower()} into another dtype")
    return ctx.layer(type_id, {"dims": [d - 1 for d in dims], "keepdim": bool(ctx.arg(2, False))}, [x])


ATEN_OPS.register("aten.sum.dim_IntList")(lambda ctx: _reduce(ctx, "Sum"))


class Indices:
    """The indices ``max(dim)`` returns beside its values (argmax): no layer computes them."""


@ATEN_OPS.register("aten.max.dim")
def _max_dim(ctx: Context):
    """``x.max(dim=2)[0]`` (max over time) → Max; its indices have no layer."""
    x = ctx.tensor(0)
    dim = _dim_param(ctx, x, 1)
    return [ctx.layer("Max", {"dims": [dim], "keepdim": bool(ctx.arg(2, False))}, [x]), Indices()]
ATEN_OPS.register("aten.amax.default")(lambda ctx: _reduce(ctx, "Max"))


# ---- reshaping and merging ----------------------------------------------------------------------


@ATEN_OPS.register("aten.flatten.using_ints")
def _flatten(ctx: Context):
    x = ctx.tensor(0)
    start, end = int(ctx.arg(1, 0)) % x.rank, int(ctx.arg(2, -1)) % x.rank
    if start == 0:
        raise ConversionError("flattening the batch into the sample")
    return ctx.layer("Flatten", {"start_dim": start - 1, "end_dim": end - 1 if end < x.rank - 1 else -1},
                     [x])


@ATEN_OPS.register("aten.view.default", "aten.reshape.default", "aten._unsafe_view.default")
def _reshape(ctx: Context):
    x, shape = ctx.tensor(0), list(ctx.arg(1))
    if not shape or shape[0] not in (BATCH, -1) or BATCH in shape[1:]:
        raise ConversionError(f"a reshape to {shape} that does not keep the batch first")
    rest = [int(d) for d in shape[1:]]
    if rest == [-1] or (len(rest) == 1 and rest[0] == _numel(x.shape)):
        return ctx.layer("Flatten", {}, [x])
    return ctx.layer("Reshape", {"shape": rest}, [x])


def _numel(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


MOVES_BATCH = ("{} that moves the batch (Netwright keeps it first: a recurrent layer with "
               "batch_first=False, or heads folded into the batch)")


@ATEN_OPS.register("aten.permute.default")
def _permute(ctx: Context):
    x, dims = ctx.tensor(0), [int(d) % ctx.tensor(0).rank for d in ctx.arg(1)]
    if dims[0] != 0:
        raise ConversionError(MOVES_BATCH.format("a permutation"))
    norm = ctx.node.args[0]
    alone = len(norm.users) == 1 and bool(norm.args) and isinstance(norm.args[0], fx.Node) \
        and len(norm.args[0].users) == 1
    merged = channels_layer_norm(ctx.builder, x, [d - 1 for d in dims[1:]], alone)
    return merged or ctx.layer("Permute", {"dims": [d - 1 for d in dims[1:]]}, [x])


@ATEN_OPS.register("aten.transpose.int")
def _transpose(ctx: Context):
    x = ctx.tensor(0)
    a, b = int(ctx.arg(1)) % x.rank, int(ctx.arg(2)) % x.rank
    if 0 in (a, b):
        raise ConversionError(MOVES_BATCH.format("a transpose"))
    dims = list(range(len(x.shape)))
    dims[a - 1], dims[b - 1] = dims[b - 1], dims[a - 1]
    return ctx.layer("Permute", {"dims": dims}, [x])


def own_name(ctx: Context, const: Const, key: str) -> str:
    """The source's name (``pos_embedding``, ``pos_encoder.pe``) of a tensor that an operator
    of its own module's ``forward`` turns into a layer holding it as ``key``; empty otherwise,
    and when that module is the layer itself (its tensor already named ``….key``)."""
    module = "" if ctx.name == ctx.node.name else ctx.name
    owner, _, local = const.name.rpartition(".")
    return const.name if const.name and owner == module and local != key else ""


def frozen_if_buffer(ctx: Context, out: Tensor, const: Const) -> Tensor:
    """``out``'s layer frozen when the tensor it holds was a buffer of the source."""
    if const.buffer:
        ctx.builder.design.set_training_flags(out.node, trainable=False)
    return out


def _merge(type_id: str):
    def convert(ctx: Context):
        a, b = ctx.arg(0), ctx.arg(1)
        if type_id == "Add" and isinstance(a, Const) and isinstance(b, Tensor):
            a, b = b, a
        if type_id == "Add" and isinstance(a, Tensor) and isinstance(b, Const) \
                and a.shape is not None and tuple(b.value.shape) == (1,) + a.shape and len(a.shape) == 2:
            return frozen_if_buffer(ctx, ctx.builder.layer(
                "PositionEmbedding", own_name(ctx, b, "embedding") or ctx.name, {}, [a], {"embedding": b.value}), b)
        if ctx.kwarg(2, "alpha", 1) != 1:
            raise ConversionError("add with alpha ≠ 1")
        if type_id == "Add" and isinstance(a, Tensor) and isinstance(b, (int, float)):
            return shifted(ctx.builder, ctx.name, a, float(b), len(ctx.node.args[0].users) == 1)
        if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
            raise ConversionError(f"{type_id} with a constant operand has no layer yet")
        return ctx.layer(type_id, {}, [a, b])

    return convert


ATEN_OPS.register("aten.add.Tensor", "aten.add_.Tensor")(_merge("Add"))


@ATEN_OPS.register("aten.linalg_vector_norm.default")
def _vector_norm(ctx: Context):
    x, order, dims = ctx.tensor(0), ctx.arg(1, 2), ctx.arg(2)
    if float(order) != 2 or not (isinstance(dims, list) and len(dims) == 1) \
            or not ctx.kwarg(3, "keepdim", False) or ctx.kwarg(4, "dtype") is not None:
        raise ConversionError("a vector norm has no layer (x / its L2 norm along one dim, as "
                              "F.normalize, maps: L2Normalize)")
    dim = int(dims[0]) % x.rank
    if dim == 0:
        raise ConversionError("a norm across the batch")
    return VectorNorm(x, dim - 1)


@ATEN_OPS.register("aten.clamp_min.default")
def _clamp_min(ctx: Context):
    """F.normalize's divisor: the norm, at least ``eps``. (Of any other tensor it has no layer:
    Hardtanh needs both bounds.)"""
    norm, eps = ctx.arg(0), ctx.arg(1)
    if not isinstance(norm, VectorNorm) or not isinstance(eps, (int, float)):
        raise ConversionError("clamp_min has no layer (only F.normalize's norm ≥ eps maps)")
    return norm.at_least(float(eps))


@ATEN_OPS.register("aten.mul.Tensor", "aten.mul_.Tensor", "aten.div.Tensor")
def _mul(ctx: Context):
    """Two computed tensors → Multiply; by a number → Scale; by a parameter of one factor
    per channel → LayerScale (ConvNeXt's layer scale); by its own L2 norm → L2Normalize."""
    a, b = ctx.arg(0), ctx.arg(1)
    divide = ctx.node.target is torch.ops.aten.div.Tensor
    if divide and isinstance(b, VectorNorm):
        return normalized(ctx.builder, ctx.name, a, b)
    if isinstance(a, Tensor) and isinstance(b, Tensor) and not divide:
        return ctx.layer("Multiply", {}, [a, b])
    x, other = (a, b) if isinstance(a, Tensor) else (b, a)
    if not isinstance(x, Tensor) or (divide and x is not a):
        raise ConversionError("dividing by a computed tensor has no layer yet")
    if isinstance(other, Const) and divide:
        raise constant_tensor("dividing by")
    if isinstance(other, (int, float)):
        return ctx.layer("Scale", {"factor": scale_factor(float(other), divide)}, [x])
    if isinstance(other, Const) and not divide:
        return layer_scale(ctx.builder, ctx.name, x, other.value)
    raise ConversionError("multiplying by this operand has no layer yet")


@ATEN_OPS.register("aten.matmul.default", "aten.bmm.default")
def _matmul(ctx: Context):
    """Of two computed tensors → MatMul (attention's scores and weighted sums)."""
    return ctx.layer("MatMul", {}, [ctx.tensor(0), ctx.tensor(1)])


@ATEN_OPS.register("aten.einsum.default")
def _einsum(ctx: Context):
    """``torch.einsum`` of two tensors that is a matrix product → Permute, MatMul."""
    operands = ctx.arg(1)
    if not (isinstance(operands, list) and len(operands) == 2
            and all(isinstance(t, Tensor) and t.shape is not None for t in operands)):
        raise ConversionError("einsum of other than two computed tensors has no layer")
    return einsum_matmul(ctx.builder, ctx.name, str(ctx.arg(0)), *operands)


@ATEN_OPS.register("aten.scaled_dot_product_attention.default")
def _sdpa(ctx: Context):
    """``F.scaled_dot_product_attention(q, k, v)`` outside ``nn.MultiheadAttention`` (no mask,
    no dropout) → its steps as layers, as the ONNX exporter writes them: q and kᵀ each scaled by
    √scale, MatMul, Softmax, MatMul by v."""
    q, k, v = ctx.tensor(0), ctx.tensor(1), ctx.tensor(2)
    mask, dropout, causal = ctx.kwarg(3, "attn_mask"), ctx.kwarg(4, "dropout_p", 0.0), \
        ctx.kwarg(5, "is_causal", False)
    if mask is not None or dropout or causal or ctx.kwarg(7, "enable_gqa", False):
        raise ConversionError("attention with a mask, dropout, a causal mask or grouped queries")
    scale = ctx.kwarg(6, "scale") or 1.0 / math.sqrt(q.shape[-1])
    root, build, name = math.sqrt(scale), ctx.builder, ctx.name
    dims = list(range(len(k.shape)))
    dims[-2:] = dims[-1], dims[-2]
    keys = build.layer("Permute", f"{name}_keys", {"dims": dims}, [k])
    scores = build.layer("MatMul", f"{name}_scores", {}, [
        build.layer("Scale", f"{name}_q", {"factor": root}, [q]),
        build.layer("Scale", f"{name}_k", {"factor": root}, [keys])])
    weights = build.layer("Softmax", f"{name}_softmax", {"dim": -1}, [scores])
    return build.layer("MatMul", name, {}, [weights, v])


def constant_tensor(verb: str) -> ConversionError:
    """Arithmetic with a buffer or parameter: no layer, and what to do when it normalizes."""
    from graph.settings import DATA_PARAMS

    normalize = next(p.title for p in DATA_PARAMS if p.name == "normalize")
    return ConversionError(f"{verb} a constant tensor (a buffer or parameter) has no layer yet; "
                           f"if it normalizes the inputs, remove it and turn on {normalize} in "
                           "the design's data settings")


@ATEN_OPS.register("aten.sub.Tensor", "aten.rsub.Scalar")
def _sub(ctx: Context):
    """x − y → Subtract; x − a number → Scale adding its negative; a number − x (rsub) →
    Scale by −1 adding it."""
    if ctx.kwarg(2, "alpha", 1) != 1:
        raise ConversionError("subtract with alpha ≠ 1")
    x, other = ctx.tensor(0), ctx.arg(1)
    if isinstance(other, Const):
        raise constant_tensor("subtracting")
    if isinstance(other, (int, float)):
        rsub = ctx.node.target is torch.ops.aten.rsub.Scalar
        return shifted(ctx.builder, ctx.name, x, float(other) if rsub else -float(other),
                       len(ctx.node.args[0].users) == 1, negate=rsub)
    return ctx.layer("Subtract", {}, [x, ctx.tensor(1)])


@ATEN_OPS.register("aten.prelu.default", "aten._prelu_kernel.default")
def _prelu(ctx: Context):
    w = ctx.weight(1)
    return ctx.layer("PReLU", {"per_channel": w.numel() > 1}, [ctx.tensor(0)], {"weight": w})


@ATEN_OPS.register("aten.pad.default", "aten.constant_pad_nd.default")
def _pad(ctx: Context):
    x, pads = ctx.tensor(0), [int(p) for p in ctx.arg(1)]
    if ctx.node.target is torch.ops.aten.pad.default:
        mode, value = ctx.arg(2, "constant"), ctx.arg(3)
    else:
        mode, value = "constant", ctx.arg(2)
    if any(p < 0 for p in pads) or len(pads) // 2 > len(x.shape):
        raise ConversionError("cropping (negative padding) or padding the batch")
    return ctx.layer("Pad", {"padding": pads, "mode": mode, "value": float(value or 0.0)}, [x])


@ATEN_OPS.register("aten.cat.default")
def _cat(ctx: Context):
    values = ctx.arg(0)
    token = class_token(ctx.builder, ctx.name, values, int(ctx.arg(1, 0)))
    if token is not None:
        return token
    if not all(isinstance(v, Tensor) for v in values):
        raise ConversionError("concatenating constants")
    if len(values) == 1:  # torch.cat([x]) is x (DenseNet's first layer)
        return values[0]
    dim = int(ctx.arg(1, 0)) % values[0].rank
    if dim == 0:
        raise ConversionError("concatenating along the batch")
    return ctx.layer("Concat", {"dim": dim - 1}, values)


@ATEN_OPS.register("aten.chunk.default")
def _chunk(ctx: Context):
    """``torch.chunk(x, 2, dim)`` → Chunk (ShuffleNetV2's channel split)."""
    x = ctx.tensor(0)
    if int(ctx.arg(1)) != 2:
        raise ConversionError(f"chunk into {ctx.arg(1)} parts (Chunk makes two)")
    return ctx.layer("Chunk", {"dim": _dim_param(ctx, x, 2)}, [x])


BROADCASTING = {"aten.mul.Tensor", "aten.mul_.Tensor", "aten.add.Tensor", "aten.add_.Tensor",
                "aten.sub.Tensor", "aten.div.Tensor"}


def _broadcast_only(ctx: Context, x: Tensor, size: list) -> bool:
    """``x.expand(size)`` only stretches size-1 axes, and only element-wise operations (which
    broadcast by themselves) read it: the expand moves nothing."""
    if len(size) != x.rank or not all(str(u.target) in BROADCASTING for u in ctx.node.users):
        return False
    return all(s in (-1, BATCH, d) or d == 1 for s, d in zip(size[1:], x.shape))


@ATEN_OPS.register("aten.expand_as.default")
def _expand_as(ctx: Context):
    """``s.expand_as(x)`` before ``x * s`` (squeeze-and-excitation) → s itself: the
    multiplication broadcasts it."""
    if isinstance(ctx.arg(0), VectorNorm):  # F.normalize's divisor, stretched over x
        return ctx.arg(0)
    value, like = ctx.tensor(0), ctx.tensor(1)
    if _broadcast_only(ctx, value, [BATCH, *like.shape]):
        return value
    raise ConversionError("expand_as has no layer (only before an element-wise operation, "
                          "which broadcasts by itself)")


@ATEN_OPS.register("aten.expand.default")
def _expand(ctx: Context):
    value, size = ctx.arg(0), ctx.arg(1)
    if isinstance(value, Tensor) and value.shape is not None and _broadcast_only(ctx, value, size):
        return value
    if isinstance(value, Const) and size and size[0] == BATCH and value.value.shape[0] == 1 \
            and all(int(s) in (-1, d) for s, d in zip(size[1:], value.value.shape[1:])):
        return Expanded(value.value, own_name(ctx, value, "token"))
    raise ConversionError("expanding a tensor has no layer (only a token repeated over the batch)")


@ATEN_OPS.register("aten.split_with_sizes.default", "aten.split.Tensor")
def _split(ctx: Context):
    """Two parts along one dim → Split (Chunk when it is torch.chunk's halves)."""
    x = ctx.tensor(0)
    dim = _dim_param(ctx, x, 2)
    n, sizes = x.shape[dim], ctx.arg(1)
    if isinstance(sizes, int):  # torch.split(x, size): parts of that size, the last smaller
        sizes = [min(sizes, n - i) for i in range(0, n, sizes)]
    if len(sizes) != 2:
        raise ConversionError(f"a split into {len(sizes)} parts (Split and Chunk make two)")
    if sizes[0] == -(-n // 2):
        return ctx.layer("Chunk", {"dim": dim}, [x])
    return ctx.layer("Split", {"dim": dim, "size": int(sizes[0])}, [x])


@ATEN_OPS.register("aten.slice.Tensor")
def _slice(ctx: Context):
    """``x[:, a:b:s]`` → Slice (a whole-axis slice is the input itself)."""
    x = ctx.tensor(0)
    dim = _dim_param(ctx, x, 1)
    n = x.shape[dim]
    start, end, step = ctx.arg(2), ctx.arg(3), int(ctx.arg(4, 1))
    kept = range(*slice(start, end, step).indices(n))
    if (kept.start, kept.stop, kept.step) == (0, n, 1):
        return x
    return ctx.layer("Slice", {"dim": dim, "start": kept.start,
                               "stop": kept.stop if kept.stop < n else 0, "step": kept.step}, [x])


@ATEN_OPS.register("aten.embedding.default")
def _embedding(ctx: Context):
    w, padding = ctx.weight(0), int(ctx.arg(2, -1))
    params = {"num_embeddings": int(w.shape[0]), "embedding_dim": int(w.shape[1])}
    if padding >= 0:  # torch.export writes padding_idx=-1 as it is, a negative one as its id
        params["padding_idx"] = padding
    return ctx.layer("Embedding", params, [ctx.tensor(1)], {"weight": w})


# ---- recurrent layers -----------------------------------------------------------------------------


def _recurrent(kind: str, nonlinearity: str = "tanh"):
    def convert(ctx: Context):
        x, hx, flat = ctx.tensor(0), ctx.arg(1), ctx.arg(2)
        has_biases, layers, dropout, _, bidirectional, batch_first = (ctx.arg(i) for i in range(3, 9))
        hx = hx if isinstance(hx, list) else [hx]
        if not all(isinstance(h, ZerosWithBatch) for h in hx):
            raise ConversionError(f"{kind} with a given initial state")
        if not batch_first:
            raise ConversionError(f"{kind} over sequence-first input (batch_first=False): "
                                  f"build it with batch_first=True and keep the batch first")
        if not all(isinstance(p, Const) for p in flat):
            raise ConversionError(f"{kind} weights must be parameters")
        dirs = 2 if bidirectional else 1
        per = 4 if has_biases else 2
        names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"][:per]
        weights = {}
        for layer in range(int(layers)):
            for d in range(dirs):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                for j, key in enumerate(names):
                    weights[f"{key}{suffix}"] = flat[(layer * dirs + d) * per + j].value
        if not has_biases:
            raise ConversionError(f"{kind} without biases has no layer option yet")
        hidden = int(weights["weight_hh_l0"].shape[1])
        params = {"hidden_size": hidden, "num_layers": int(layers), "bidirectional": bool(bidirectional),
                  "dropout": float(dropout), "return_sequence": True}
        if kind == "RNN":
            params["nonlinearity"] = nonlinearity
        out = ctx.builder.layer(kind, ctx.name, params, [x], weights)
        states = FinalStates(out, ctx.node, int(layers), dirs, hidden)
        return [Sequence(out), states] + ([CellStates()] if kind == "LSTM" else [])

    return convert


ATEN_OPS.register("aten.lstm.input")(_recurrent("LSTM"))
ATEN_OPS.register("aten.gru.input")(_recurrent("GRU"))
ATEN_OPS.register("aten.rnn_tanh.input")(_recurrent("RNN", "tanh"))
ATEN_OPS.register("aten.rnn_relu.input")(_recurrent("RNN", "relu"))


@dataclass(frozen=True)
class FinalStates:
    """An RNN's h_n (layers·directions × batch × hidden): its last layer's entries are steps
    of the whole-sequence output ``sequence`` (``rnn`` is the RNN's graph node)."""

    sequence: Tensor
    rnn: fx.Node
    layers: int
    dirs: int
    hidden: int


class CellStates:
    """An LSTM's c_n: no layer computes it."""


def _final_state(ctx: Context, states: FinalStates, index: int) -> Tensor:
    """``h_n[index]`` → the sequence's last step (forward) or first step (backward), that
    direction's half of the features; the RNN itself returns its last step when nothing else
    reads it and it runs one way."""
    count = states.layers * states.dirs
    if not -count <= index < count or index % count < count - states.dirs:
        raise ConversionError(f"h_n[{index}] is not the last layer's final state: only h_n[-1] "
                              f"(and h_n[-2], the forward one, when bidirectional) maps")
    backward = states.dirs == 2 and index % count == count - 1
    seq, build = states.sequence, ctx.builder
    sequence_read = any(u.args[1] == 0 and u.users for u in states.rnn.users)
    if states.dirs == 1 and not sequence_read and build.reads_nothing_yet(seq):
        return build.update(seq, {"return_sequence": False})
    step = select(build, ctx.name, seq, 0, 0 if backward else -1)
    if states.dirs == 1:
        return step
    start = states.hidden if backward else 0
    return build.layer("Slice", f"{ctx.name}_direction", {
        "dim": 0, "start": start, "stop": start + states.hidden if not backward else 0}, [step])


@ATEN_OPS.register("aten.squeeze.dim", "aten.squeeze.dims", "aten.squeeze.default")
def _squeeze(ctx: Context):
    """``x.squeeze(-1)``, ``x.squeeze()`` (sample dims of size 1; the batch stays) → Reshape,
    or Flatten when one dim is left; ``h_n.squeeze(0)`` of a one-layer, one-direction RNN →
    its last step."""
    value, dims = ctx.arg(0), ctx.arg(1)
    if isinstance(value, FinalStates) and dims in (0, [0]) and value.layers * value.dirs == 1:
        return _final_state(ctx, value, 0)
    x = ctx.tensor(0)
    dims = range(1, x.rank) if dims is None else [dims] if isinstance(dims, int) else dims
    dims = {int(d) % x.rank for d in dims}
    if 0 in dims:
        raise ConversionError("squeezing the batch dimension")
    rest = [size for i, size in enumerate(x.shape) if not (i + 1 in dims and size == 1)]
    if len(rest) == len(x.shape):
        return x
    if not rest:
        raise ConversionError("squeezing a sample down to one number per sample has no layer")
    if len(rest) == 1:
        return ctx.layer("Flatten", {}, [x])
    return ctx.layer("Reshape", {"shape": rest}, [x])


@ATEN_OPS.register("aten.select.int")
def _select(ctx: Context):
    """``output[:, -1]`` of a whole-sequence, one-direction RNN → the RNN's last step;
    ``h_n[-1]`` → the step it holds."""
    value = ctx.arg(0)
    if isinstance(value, FinalStates) and int(ctx.arg(1)) == 0:
        return _final_state(ctx, value, int(ctx.arg(2)))
    if isinstance(value, CellStates):
        raise ConversionError("an LSTM's cell state c_n has no layer: read h_n or the output")
    if isinstance(value, Sequence) and int(ctx.arg(1)) == 1:
        x = value.tensor
        node = ctx.builder.node_of(x)
        index = int(ctx.arg(2))
        if index in (-1, x.shape[0] - 1) and not node.params.get("bidirectional") \
                and ctx.builder.reads_nothing_yet(x) and len(ctx.node.args[0].users) == 1:
            return ctx.builder.update(x, {"return_sequence": False})
    x = ctx.tensor(0)
    return select(ctx.builder, ctx.name, x, _dim_param(ctx, x, 1), int(ctx.arg(2)))
