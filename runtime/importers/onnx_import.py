"""Import an ONNX model as a design: parsed as data with the ``onnx`` package, nothing runs.

Values flowing through the graph are one of three kinds:

* :class:`~.builder.Tensor` — computed by a design layer (the batch is symbolic);
* ``numpy.ndarray`` — a constant (initializer, ``Constant``, or folded from constants);
* :class:`Dims` — a shape vector whose entries may be the batch size (``Shape(x)`` and the
  arithmetic exporters build around it for ``Reshape``), resolved without running anything.

Each converter in :data:`ONNX_OPS` maps one operator pattern onto catalog layers; initializers
become the layers' weights. Self-attention written out as its steps is found and mapped as a
whole first (:mod:`.onnx_attention`). After import the design is checked against onnxruntime on random
inputs (see :func:`import_onnx`).
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from graph.catalog import CATALOG, ShapeError

from .builder import ConversionError, DesignBuilder, Imported, Tensor, Unmapped, UnsupportedModel
from .folds import fold_joined_last_steps
from .onnx_attention import convert_region, find_regions
from .patterns import (Expanded, VectorNorm, channels_layer_norm, class_token, einsum_matmul,
                       layer_scale, normalized, scale_factor,
                       select, shifted)
from .registry import Registry

ONNX_OPS = Registry("ONNX")
BATCH = "N"
ABSORBED = object()  # an intermediate value of a pattern folded into one layer


@dataclass(frozen=True)
class Dims:
    """A shape vector (or one entry of it when ``scalar``); ``BATCH`` stands for the batch."""

    values: tuple[Any, ...]
    scalar: bool = False


class ZerosWithBatch:
    """``ConstantOfShape`` of a shape holding the batch: zeros, as RNN initial states are."""

    def __init__(self, value: float):
        self.value = value


class Context:
    """What a converter sees of one ONNX node."""

    def __init__(self, node, env: dict[str, Any], builder: DesignBuilder, opset: int,
                 uses: dict[str, int], consumers: dict[str, list] | None = None,
                 planned: dict[str, Any] | None = None, producers: dict[str, Any] | None = None,
                 fixed_batch: int | None = None):
        self.node, self.env, self.builder, self.opset, self._uses = node, env, builder, opset, uses
        self.fixed_batch = fixed_batch  # the batch size every input is declared with, if fixed
        self.consumers = consumers if consumers is not None else {}
        self.producers = producers if producers is not None else {}
        self.planned = planned if planned is not None else {}  # outputs a pattern already made
        self.attrs = {a.name: _attr(a) for a in node.attribute}
        self.name = layer_name(node.name, node.op_type, node.output[0] if node.output else "")

    def only_reader(self, value_name: str, op_type: str):
        """The one node reading ``value_name`` when it is an ``op_type`` (and nothing else,
        not even a graph output, reads that value), else None."""
        readers = self.consumers.get(value_name, [])
        if len(readers) == 1 and readers[0].op_type == op_type and self._uses.get(value_name) == 1:
            return readers[0]
        return None

    def read_once(self, value_name: str) -> bool:
        return self._uses.get(value_name) == 1

    def constant_of(self, node, other_than: str) -> np.ndarray | None:
        """``node``'s constant operand (the input that is not ``other_than``), if it has one."""
        names = [n for n in node.input if n != other_than]
        value = self.env.get(names[0]) if len(names) == 1 else None
        return value if isinstance(value, np.ndarray) else None

    def absorb(self, nodes, result: Any) -> Any:
        """Nodes after this one that a pattern has folded in: the last one's output is
        ``result``; the others' outputs are read by nothing but the pattern."""
        for node in nodes[:-1]:
            self.planned[node.output[0]] = ABSORBED
        self.planned[nodes[-1].output[0]] = result
        return result

    def arg(self, i: int) -> Any:
        names = self.node.input
        return self.env[names[i]] if i < len(names) and names[i] else None

    def tensor(self, i: int) -> Tensor:
        value = self.arg(i)
        if not isinstance(value, Tensor):
            raise ConversionError(f"input {i} must be computed by the network, not a constant")
        if value.shape is None:
            raise ConversionError("its input comes from an unsupported operator")
        return value

    def const(self, i: int) -> np.ndarray:
        value = self.arg(i)
        if not isinstance(value, np.ndarray):
            raise ConversionError(f"input {i} must be a constant (an initializer)")
        return value

    def weight(self, i: int) -> torch.Tensor:
        return torch.from_numpy(np.array(self.const(i), dtype=np.float32))

    def uses(self, output: int = 0) -> int:
        return self._uses.get(self.node.output[output], 0)

    def layer(self, type_id: str, params: dict[str, Any], inputs: Sequence[Tensor],
              weights: dict[str, torch.Tensor] | None = None) -> Tensor:
        return self.builder.layer(type_id, self.name, params, inputs, weights)


def layer_name(onnx_name: str, op_type: str, output: str = "") -> str:
    """``/layer1/layer1.0/conv1/Conv`` → ``layer1.0.conv1``; a name that is no module path
    (CNTK's ``Convolution28``, MXNet's ``resnetv15_conv0_fwd``) as it is. A node named only by
    its operator (``Gemm_3``) or not at all gets its op type, after its output when that is a
    word (Caffe2 names only outputs: ``conv1_1``) and with it when a number (``gemm_23``), so
    that no two unnamed layers share a name (read as one module called twice)."""
    if "/" in onnx_name:
        parts = [p for p in onnx_name.strip("/").split("/")[:-1] if p]
        kept = [p for i, p in enumerate(parts) if not (i + 1 < len(parts)
                                                       and parts[i + 1].startswith(p + "."))]
        return ".".join(kept) or op_type.lower()
    if onnx_name and not re.fullmatch(rf"{re.escape(op_type)}(_\d+)?", onnx_name):
        return onnx_name.replace(".", "_")
    if re.search("[A-Za-z]", output):
        return re.sub(r"[./:]", "_", output)
    return f"{op_type.lower()}_{output}" if output else op_type.lower()


def _attention_name(region) -> str:
    """The module holding every projection of an attention (``blocks.0.attn`` for its ``qkv``
    and ``proj``), else ``attention``."""
    paths = [layer_name(n.name, "attention").split(".")
             for n in (*region.projections, region.out_projection) if n is not None]
    common = []
    for parts in zip(*paths):
        if len(set(parts)) > 1:
            break
        common.append(parts[0])
    return ".".join(common) or "attention"


def _attr(a) -> Any:
    import onnx

    value = onnx.helper.get_attribute_value(a)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value)
    return list(value) if isinstance(value, (list, tuple)) else value


# ---- the import -----------------------------------------------------------------------------


def import_onnx(path: str | os.PathLike, placeholders: bool = False, verify: bool = True) -> Imported:
    """Convert the ONNX model at ``path``; raises :class:`UnsupportedModel` listing every
    operator it cannot map unless ``placeholders`` (then they become placeholder nodes)."""
    import onnx

    path = Path(path)
    try:
        model = onnx.load(str(path))
        model = onnx.shape_inference.infer_shapes(model)
    except Exception as exc:  # a broken or foreign file: protobuf and onnx raise many kinds
        raise ConversionError(f"{path}: not a readable ONNX model ({exc})") from None
    if not model.graph.node and not model.graph.input:  # protobuf reads any empty file
        raise ConversionError(f"{path}: empty or not an ONNX model (it holds no graph)")
    opset = _opset(model)
    builder = DesignBuilder(model.graph.name if model.graph.name not in ("", "main_graph", "torch_jit")
                            else path.stem)
    env = _convert_graph(model, builder, opset)
    if builder.unmapped and not placeholders:
        raise UnsupportedModel(str(path), builder.unmapped)
    fold_joined_last_steps(builder)
    imported = builder.finish(str(path))
    if verify and not imported.unmapped:
        source = path if opset >= OLDEST_OPSET else _upgraded(model, env, path, opset)
        imported.max_diff = _compare_with_onnxruntime(source, imported)
    if opset < OLDEST_OPSET:
        imported.notes.append(f"{path.name} uses opset {opset}, older than onnxruntime runs: it "
                              f"was checked upgraded to opset {OLDEST_OPSET} by onnx's version "
                              "converter")
    return imported


OLDEST_OPSET = 7  # the oldest opset onnxruntime runs: older files are checked upgraded to it


def _opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def _upgraded(model, env: dict[str, Any], path: Path, opset: int) -> bytes:
    """``model`` (older than :data:`OLDEST_OPSET`, its legacy attributes such as ``is_test``
    and ``consumed_inputs`` read by the converters) upgraded to that opset for onnxruntime by
    onnx's version converter, given the shapes the import found (its adapters need them)."""
    import onnx
    from onnx import version_converter

    model = onnx.ModelProto.FromString(model.SerializeToString())
    known = {v.name for v in list(model.graph.value_info) + list(model.graph.input)
             + list(model.graph.output)}
    for name, value in env.items():
        if isinstance(value, Tensor) and value.shape is not None and name not in known:
            dims = list(value.shape)
            dims.insert(value.batch_axis, 1)  # the converter wants sizes; dropped after it
            model.graph.value_info.append(onnx.helper.make_tensor_value_info(
                name, onnx.TensorProto.FLOAT, dims))
    for inp in model.graph.input:  # a batch of 1 too: the check then runs sample by sample
        dims = inp.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1
    try:
        upgraded = version_converter.convert_version(model, OLDEST_OPSET)
        del upgraded.graph.value_info[:]
        return upgraded.SerializeToString()
    except Exception as exc:  # the converter raises RuntimeError and its own kinds per adapter
        raise ConversionError(f"{path}: opset {opset} is older than onnxruntime runs, and onnx's "
                              f"version converter cannot upgrade it to opset {OLDEST_OPSET} to "
                              f"check the import ({str(exc).splitlines()[0][:200]})") from None


def _convert_graph(model, builder: DesignBuilder, opset: int) -> dict[str, Any]:
    """Convert every node; returns what each ONNX value became."""
    from onnx import numpy_helper

    graph = model.graph
    env: dict[str, Any] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    shapes = _value_shapes(graph)
    for inp in graph.input:
        if inp.name in env:
            continue
        shape, dtype = _input_shape(inp)
        env[inp.name] = builder.input(inp.name, shape, dtype)
    uses: dict[str, int] = {}
    consumers: dict[str, list] = {}
    producers = {name: node for node in graph.node for name in node.output if name}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
            consumers.setdefault(name, []).append(node)
    for out in graph.output:
        uses[out.name] = uses.get(out.name, 0) + 1
    planned: dict[str, Any] = {}
    fixed_batch = _fixed_batch(graph, env)
    for node in graph.node:  # constants first, so patterns can read those that come later
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            _convert_node(node, env, builder, opset, uses, shapes)
    attention = _attention_regions(graph, env)
    hints: dict[int, str] = {}  # id of a node in a region that is not plain attention → why
    for node in graph.node:
        if node.output and all(name in planned for name in node.output if name):
            env.update({name: planned[name] for name in node.output if name})
            continue
        for region in attention.pop(id(node), []):
            try:
                planned.update(convert_region(region, env, builder, model,
                                              _attention_name(region)))
            except ConversionError as exc:
                hints.update({id(n): f"it looks like self-attention, but {exc}" for n in region.nodes})
        if node.output and all(name in planned for name in node.output if name):
            env.update({name: planned[name] for name in node.output if name})
            continue
        listed = len(builder.unmapped)
        _convert_node(node, env, builder, opset, uses, shapes, consumers, planned, producers,
                      fixed_batch)
        if len(builder.unmapped) > listed and id(node) in hints:
            last = builder.unmapped[-1]
            builder.unmapped[-1] = Unmapped(last.op, last.place, f"{last.reason}; {hints[id(node)]}")
    for out in graph.output:
        value = env.get(out.name)
        if not isinstance(value, Tensor):
            raise ConversionError(f"output {out.name} is a constant, not computed from an input")
        if value.batch_axis != 0:
            raise ConversionError(f"output {out.name} does not have the batch first")
        builder.output(value, out.name)
    return env


def _attention_regions(graph, env) -> dict[int, list]:
    """Self-attention regions (:mod:`.onnx_attention`) keyed by the id of their first node
    that reads the source: where the conversion tries them."""
    constants = {n for n, v in env.items() if isinstance(v, np.ndarray)}
    out: dict[int, list] = {}
    for region in find_regions(graph, constants):
        first = next((n for n in region.nodes if region.source in n.input), None)
        if first is not None:
            out.setdefault(id(first), []).append(region)
    return out


def _convert_node(node, env, builder: DesignBuilder, opset: int, uses, shapes, consumers=None,
                  planned=None, producers=None, fixed_batch=None) -> None:
    place = node.name or f"{node.op_type} → {', '.join(node.output)}"
    converter = ONNX_OPS.fetch(node.op_type, opset) if node.domain in ("", "ai.onnx") else None
    ctx = Context(node, env, builder, opset, uses, consumers, planned, producers, fixed_batch)
    try:
        if node.input and _shape_only(node, env):  # shape arithmetic around the batch
            outputs = _fold_with_batch(node, env, opset)
        elif converter is None or (node.input and _all_constant(node, env)):  # constants fold
            if _all_constant(node, env):
                outputs = _fold(node, env, opset)
            else:
                op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
                raise ConversionError(f"no converter for {op} (opset {opset})")
        else:
            outputs = converter.convert(ctx)
    except ConversionError as exc:
        inputs = [env[n] for n in node.input if n and isinstance(env.get(n), Tensor)]
        op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        value = builder.placeholder(op, ctx.name, inputs, place, str(exc))
        outputs = [Tensor(value.node, shapes.get(name)) for name in node.output]
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    for name, value in zip(node.output, outputs):
        if name:
            env[name] = value


def _fixed_batch(graph, env) -> int | None:
    """The batch size when every input declares the same fixed one (CNTK's and Caffe2's
    files say 1), else None: a Reshape to ``[1, …]`` then keeps that batch first."""
    sizes = set()
    for inp in graph.input:
        dims = inp.type.tensor_type.shape.dim
        if isinstance(env.get(inp.name), np.ndarray) or not dims:
            continue
        sizes.add(int(dims[0].dim_value) if dims[0].HasField("dim_value") else None)
    return sizes.pop() if len(sizes) == 1 else None


def _value_shapes(graph) -> dict[str, tuple[int, ...] | None]:
    """Sample shapes (batch-first, batch dropped) ONNX shape inference found for each value."""
    out = {}
    for info in list(graph.value_info) + list(graph.output):
        dims = info.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims[1:]):
            out[info.name] = tuple(int(d.dim_value) for d in dims[1:])
    return out


def _input_shape(inp) -> tuple[tuple[int, ...], str]:
    import onnx

    ttype = inp.type.tensor_type
    dims = ttype.shape.dim
    if not dims:
        raise ConversionError(f"input {inp.name} has no shape")
    rest = dims[1:]
    if not all(d.HasField("dim_value") and d.dim_value > 0 for d in rest):
        raise ConversionError(f"input {inp.name}: only the first (batch) dimension may vary; "
                              f"re-export with fixed sizes for the others")
    integer = ttype.elem_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32)
    return tuple(int(d.dim_value) for d in rest), "int64" if integer else "float32"


def _all_constant(node, env) -> bool:
    return all(isinstance(env.get(n), np.ndarray) for n in node.input if n)


def _fold(node, env, opset: int) -> list[np.ndarray]:
    """Evaluate an operator on constants with onnx's reference implementation (numpy)."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    names = [n for n in node.input if n]
    inputs = [onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(env[n].dtype),
                                                 env[n].shape) for n in names]
    outputs = [onnx.helper.make_empty_tensor_value_info(n) for n in node.output if n]
    graph = onnx.helper.make_graph([node], "fold", inputs, outputs)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    try:
        return list(ReferenceEvaluator(model).run(None, {n: env[n] for n in names}))
    except Exception as exc:  # the reference evaluator raises whatever numpy raises
        raise ConversionError(f"cannot evaluate {node.op_type} on constants ({exc})") from None


def _compare_with_onnxruntime(path: Path | bytes, imported: Imported) -> float:
    """Largest difference between onnxruntime and the imported design on random inputs;
    ``path`` is the file, or the serialized model when it was upgraded."""
    import onnxruntime

    from ..compiler import compile_design, example_inputs
    from ..export import load_weights

    compiled = compile_design(imported.design)
    load_weights(compiled.module, imported.weights, imported.source)
    module = compiled.module.eval()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(path if isinstance(path, bytes) else str(path),
                                               options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own kinds (Fail, InvalidGraph …)
        raise ConversionError(f"{Path(imported.source).name}: onnxruntime cannot run the file, so "
                              f"the import cannot be checked against it "
                              f"({str(exc).splitlines()[0][:300]})") from None
    fixed = {d[0] for d in (i.shape for i in session.get_inputs()) if d and isinstance(d[0], int)}
    chunk = fixed.pop() if len(fixed) == 1 else 0  # a file declaring batch 1 runs one by one
    inputs = example_inputs(compiled, imported.design, 3 * (chunk or 1), torch.Generator().manual_seed(0))
    expected = _run_in_chunks(session, [x.numpy() for x in inputs], chunk)
    with torch.no_grad():
        actual = module(*inputs)
    actual = [actual] if isinstance(actual, torch.Tensor) else list(actual)
    return max(float(np.abs(np.asarray(e, np.float64) - a.double().numpy()).max())
               for e, a in zip(expected, actual))


def _run_in_chunks(session, inputs: list[np.ndarray], chunk: int) -> list[np.ndarray]:
    """The session's outputs for ``inputs``, fed ``chunk`` samples at a time (all when 0)."""
    names = [i.name for i in session.get_inputs()]
    size = chunk or len(inputs[0])
    runs = [session.run(None, {n: x[i:i + size] for n, x in zip(names, inputs)})
            for i in range(0, len(inputs[0]), size)]
    return [np.concatenate(parts) for parts in zip(*runs)]


# ---- shape arithmetic: Shape, Gather, Unsqueeze, Concat … on Dims and constants --------------


def _as_dims(value: Any) -> Dims | None:
    if isinstance(value, Dims):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.ndim <= 1:
        return Dims(tuple(int(v) for v in value.reshape(-1)), value.ndim == 0)
    return None


def _dims_out(values: Sequence[Any], scalar: bool = False) -> Any:
    """Dims while the batch is in them; a plain int64 array otherwise."""
    if BATCH in values:
        return Dims(tuple(values), scalar)
    array = np.array(values, dtype=np.int64)
    return array.reshape(()) if scalar else array


BATCH_SIZES = (7919, 104729)  # two sizes no sample dimension has: the batch in shape arithmetic
_SIZED_BY_VALUE = {"ConstantOfShape", "Expand", "Tile", "Range", "Resize", "Upsample"}


def _shape_only(node, env) -> bool:
    """Every input a constant or a shape vector holding the batch (and one of them that),
    and the result no tensor sized by it: arithmetic on sizes, evaluated as such."""
    values = [env.get(n) for n in node.input if n]
    return (node.op_type not in _SIZED_BY_VALUE and node.domain in ("", "ai.onnx")
            and any(isinstance(v, Dims) for v in values)
            and all(isinstance(v, (Dims, np.ndarray)) for v in values))


def _fold_with_batch(node, env, opset: int) -> list[Any]:
    """Shape arithmetic on the batch (Gather, Concat, Equal, Where, Mul … of ``Shape(x)``):
    evaluated for two batch sizes; an entry that follows the batch is the batch, one that
    stays put a constant; anything else (the batch times the heads …) cannot be resolved."""
    runs = []
    for size in BATCH_SIZES:
        values = {n: _realize(env[n], size) for n in node.input if n}
        runs.append(_fold(node, values, opset))
    outputs = []
    for first, second in zip(*runs):
        if first.shape == second.shape and np.array_equal(first, second):
            outputs.append(first)
            continue
        follows = (first == BATCH_SIZES[0]) & (second == BATCH_SIZES[1])
        if first.dtype.kind not in "iu" or first.ndim > 1 or first.shape != second.shape \
                or not np.all(follows | (first == second)):
            raise ConversionError(f"{node.op_type} computes a size from the batch size other "
                                  "than the batch itself (such as the batch times the heads)")
        entries = [BATCH if f else int(v) for f, v in zip(follows.reshape(-1), first.reshape(-1))]
        outputs.append(Dims(tuple(entries), first.ndim == 0))
    return outputs


def _realize(value: Any, batch: int) -> np.ndarray:
    if not isinstance(value, Dims):
        return value
    array = np.array([batch if v == BATCH else v for v in value.values], dtype=np.int64)
    return array.reshape(()) if value.scalar else array


@ONNX_OPS.register("Constant")
def _constant(ctx: Context):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if key in ctx.attrs:
            return np.array(ctx.attrs[key])
    raise ConversionError("unsupported Constant form")


@ONNX_OPS.register("Shape")
def _shape(ctx: Context):
    x = ctx.tensor(0)
    if x.shape is None:
        raise ConversionError("the shape of a placeholder's output is unknown")
    full = list(x.shape)
    full.insert(x.batch_axis, BATCH)
    start, end = ctx.attrs.get("start", 0), ctx.attrs.get("end", len(full))
    return _dims_out(full[slice(start, end)])


@ONNX_OPS.register("Gather")
def _gather(ctx: Context):
    data = ctx.arg(0)
    if isinstance(data, Tensor):
        return _gather_last_step(ctx, data)
    if isinstance(ctx.arg(1), Tensor):
        return _embedding(ctx, data)
    raise ConversionError("gathers from an unsupported value")


def _embedding(ctx: Context, table: Any) -> Tensor:
    """Rows of a constant table picked by computed token ids: an Embedding."""
    if not isinstance(table, np.ndarray) or table.ndim != 2 or ctx.attrs.get("axis", 0) != 0:
        raise ConversionError("gathers computed indices from something other than the rows "
                              "of a constant table")
    ids = ctx.tensor(1)
    params = {"num_embeddings": int(table.shape[0]), "embedding_dim": int(table.shape[1])}
    return ctx.layer("Embedding", params, [ids], {"weight": ctx.weight(0)})


@ONNX_OPS.register("Unsqueeze")
def _unsqueeze(ctx: Context):
    axes = ctx.attrs["axes"] if ctx.opset < 13 else list(ctx.const(1).reshape(-1))
    x = ctx.tensor(0)
    shape = list(x.shape)
    for axis in sorted(int(a) % (x.rank + len(axes)) for a in axes):
        if axis == 0:
            raise ConversionError("cannot insert a dimension before the batch")
        shape.insert(axis - 1, 1)
    return ctx.layer("Reshape", {"shape": shape}, [x])


@ONNX_OPS.register("Squeeze")
def _squeeze(ctx: Context):
    axes = ctx.attrs.get("axes") if ctx.opset < 13 else (
        list(ctx.const(1).reshape(-1)) if ctx.arg(1) is not None else None)
    value = ctx.arg(0)
    if isinstance(value, RecurrentOutput):
        if axes is None or [int(a) for a in axes] != [1] or value.directions != 1:
            raise ConversionError("only the single-direction axis of an RNN output can be squeezed")
        return value.sequence
    x = ctx.tensor(0)
    if axes is None:
        axes = [i + 1 for i, d in enumerate(x.shape) if d == 1]
    shape = [d for i, d in enumerate(x.shape) if (i + 1) not in {int(a) % x.rank for a in axes}]
    if 0 in {int(a) % x.rank for a in axes}:
        raise ConversionError("cannot squeeze the batch dimension")
    return ctx.layer("Reshape", {"shape": shape or [1]}, [x])


@ONNX_OPS.register("Concat")
def _concat(ctx: Context):
    values = [ctx.arg(i) for i in range(len(ctx.node.input))]
    rank = next((v.rank for v in values if isinstance(v, Tensor)), 1)
    axis = int(ctx.attrs["axis"]) % rank
    token = class_token(ctx.builder, ctx.name, values, axis)
    if token is not None:
        return token
    tensors = [ctx.tensor(i) for i in range(len(values))]
    if len(tensors) == 1:  # torch.cat([x]) is x (DenseNet's first layer)
        return tensors[0]
    if axis == 0:
        raise ConversionError("cannot concatenate along the batch")
    return ctx.layer("Concat", {"dim": axis - 1}, tensors)


@ONNX_OPS.register("Slice")
def _slice(ctx: Context) -> Tensor:
    """Constant starts/ends/steps → one Slice layer per sliced axis (positive steps only)."""
    x = ctx.tensor(0)
    if ctx.opset < 10:
        starts, ends = ctx.attrs["starts"], ctx.attrs["ends"]
        axes, steps = ctx.attrs.get("axes", range(len(starts))), [1] * len(starts)
    else:
        starts, ends = ctx.const(1).tolist(), ctx.const(2).tolist()
        axes = ctx.const(3).tolist() if ctx.arg(3) is not None else range(len(starts))
        steps = ctx.const(4).tolist() if ctx.arg(4) is not None else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = int(axis) % x.rank
        if axis == 0:
            raise ConversionError("slicing the batch")
        if step < 1:
            raise ConversionError(f"a slice with step {step} (Slice steps forward)")
        n = x.shape[axis - 1]
        kept = range(*slice(int(start), int(end), int(step)).indices(n))
        if (kept.start, kept.stop, kept.step) == (0, n, 1):
            continue
        stop = kept.stop if kept.stop < n else 0  # 0: to the end
        x = ctx.layer("Slice", {"dim": axis - 1, "start": kept.start, "stop": stop,
                                "step": kept.step}, [x])
    return x


@ONNX_OPS.register("Split")
def _split(ctx: Context):
    """Two parts along one axis → Chunk (halves, the first rounded up, as torch.chunk) or Split."""
    x = ctx.tensor(0)
    axis = int(ctx.attrs.get("axis", 0)) % x.rank
    if axis == 0:
        raise ConversionError("splitting the batch")
    n = x.shape[axis - 1]
    parts = len(ctx.node.output)
    if ctx.opset < 13:
        sizes = ctx.attrs.get("split")
    else:
        sizes = ctx.const(1).tolist() if ctx.arg(1) is not None else None
    if sizes is None:  # equal parts, the last smaller (opset 18's num_outputs)
        each = -(-n // parts)
        sizes = [min(each, n - i * each) for i in range(parts)]
    if len(sizes) != 2:
        raise ConversionError(f"a split into {len(sizes)} parts (Split and Chunk make two)")
    if sizes[0] == -(-n // 2):
        return ctx.layer("Chunk", {"dim": axis - 1}, [x])
    return ctx.layer("Split", {"dim": axis - 1, "size": int(sizes[0])}, [x])


@ONNX_OPS.register("Expand")
def _expand(ctx: Context):
    """A constant repeated over the batch (ViT's class token, before its Concat) → Expanded;
    a tensor expanded to its own shape is itself."""
    value, dims = ctx.arg(0), _as_dims(ctx.arg(1))
    if isinstance(value, VectorNorm):  # F.normalize's divisor, stretched over x
        return value
    if dims is None:
        raise ConversionError("expanding to a shape that is neither constant nor the input's")
    sizes = list(dims.values)
    if isinstance(value, np.ndarray) and sizes[:1] == [BATCH] and BATCH not in sizes[1:] \
            and value.ndim <= len(sizes) and (value.ndim < len(sizes) or value.shape[0] == 1):
        sample = np.broadcast_shapes(value.shape, tuple([1] + sizes[1:]))
        return Expanded(torch.from_numpy(np.broadcast_to(value, sample).astype(np.float32)))
    if isinstance(value, Tensor) and value.shape is not None and value.batch_axis == 0:
        own = (BATCH_SIZES[0],) + value.shape
        if np.broadcast_shapes(own, tuple(_realize(dims, BATCH_SIZES[0]).tolist())) == own:
            return value
    raise ConversionError("expanding a tensor has no layer (only a constant repeated over "
                          "the batch)")


@ONNX_OPS.register("ConstantOfShape")
def _constant_of_shape(ctx: Context):
    value = float(np.asarray(ctx.attrs.get("value", np.zeros(1))).reshape(-1)[0])
    dims = _as_dims(ctx.arg(0))
    if isinstance(dims, Dims) and BATCH in dims.values:
        return ZerosWithBatch(value)
    return np.full([int(d) for d in ctx.const(0).reshape(-1)], value, dtype=np.float32)


@ONNX_OPS.register("Cast", "Identity")
def _passthrough(ctx: Context):
    value = ctx.arg(0)
    if isinstance(value, np.ndarray) and ctx.node.op_type == "Cast":
        return _fold(ctx.node, ctx.env, ctx.opset)[0]
    return value


# ---- reshaping ------------------------------------------------------------------------------


@ONNX_OPS.register("Reshape")
def _reshape(ctx: Context):
    value = ctx.arg(0)
    if isinstance(value, JoinedDirections):
        target = _as_dims(ctx.arg(1))
        width = value.sequence.shape[-1]
        if target is None or len(target.values) != 3 or target.values[2] not in (-1, width):
            raise ConversionError("a reshape of a bidirectional RNN output that does not join "
                                  "its directions")
        return value.sequence
    x = ctx.tensor(0)
    target = _as_dims(ctx.arg(1) if ctx.opset >= 5 else np.array(ctx.attrs["shape"], np.int64))
    if target is None:
        raise ConversionError("the target shape is neither constant nor built from the input's shape")
    values = list(target.values)
    if x.batch_axis != 0 or not values:
        raise ConversionError("reshape moves the batch")
    fixed = ctx.fixed_batch is not None and values[0] == ctx.fixed_batch and BATCH not in values
    if values[0] in (BATCH, 0) or (values[0] == -1 and BATCH not in values) or fixed:
        rest = [x.shape[i] if v == 0 and ctx.attrs.get("allowzero", 0) == 0 else v
                for i, v in enumerate(values[1:])]
        if BATCH in rest:
            raise ConversionError("the batch appears twice in the target shape")
        if len(rest) == 2 and rest[1] == -1 and rest[0] == x.shape[0] and len(x.shape) > 2:
            return ctx.layer("Flatten", {"start_dim": 1}, [x])  # N×C×(…) — read by ReduceMean
        if len(rest) == 1 and rest[0] in (-1, int(np.prod(x.shape))):
            return ctx.layer("Flatten", {}, [x])
        return ctx.layer("Reshape", {"shape": [int(v) for v in rest]}, [x])
    raise ConversionError(f"the target shape {values} does not keep the batch first")


@ONNX_OPS.register("Flatten")
def _flatten(ctx: Context):
    x = ctx.tensor(0)
    axis = int(ctx.attrs.get("axis", 1)) % x.rank
    if axis != 1:
        raise ConversionError("Flatten must keep the batch as its own dimension (axis=1)")
    return ctx.layer("Flatten", {}, [x])


@ONNX_OPS.register("Transpose")
def _transpose(ctx: Context):
    value = ctx.arg(0)
    if isinstance(value, RecurrentOutput):
        if value.directions == 2 and [int(p) for p in ctx.attrs.get("perm", ())] == [0, 2, 1, 3]:
            return JoinedDirections(value.sequence)
        raise ConversionError("only the directions of an RNN output can move next to its features")
    x = ctx.tensor(0)
    perm = [int(p) for p in ctx.attrs.get("perm", range(x.rank)[::-1])]
    sample = [p for p in perm if p != x.batch_axis]
    order = sorted(sample)
    if sample == order:  # only the batch moves (sequence-first RNN layouts)
        return x.moved(perm.index(x.batch_axis))
    if x.batch_axis != 0 or perm[0] != 0:
        raise ConversionError("a transpose that moves the batch and the sample dims together")
    norm = ctx.producers.get(ctx.node.input[0])
    alone = norm is not None and ctx.read_once(ctx.node.input[0]) and ctx.read_once(norm.input[0])
    dims = [p - 1 for p in perm[1:]]
    return channels_layer_norm(ctx.builder, x, dims, alone) or ctx.layer("Permute", {"dims": dims}, [x])


# ---- dense, convolution, normalization ------------------------------------------------------


@ONNX_OPS.register("Gemm")
def _gemm(ctx: Context):
    """alpha·x·B + beta·C with constant B and C → Linear (alpha and beta folded into its
    weight and bias)."""
    x = ctx.tensor(0)
    a = ctx.attrs
    if a.get("transA", 0):
        raise ConversionError("Gemm with transA=1 reads its input as features × batch: no "
                              "layer takes the batch second; re-export with the batch first")
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    w = ctx.weight(1)
    w = w if a.get("transB", 0) else w.t()
    weights = {"weight": w * alpha if alpha != 1.0 else w}
    if ctx.arg(2) is not None and beta != 0.0:
        bias = ctx.weight(2)
        if bias.numel() not in (1, w.shape[0]) or bias.dim() > 2 or bias.shape[-1] not in (1, w.shape[0]):
            raise ConversionError(f"a Gemm bias of shape {tuple(bias.shape)} for {w.shape[0]} "
                                  "outputs (a Linear has one per output)")
        bias = bias.reshape(-1).expand(w.shape[0]).clone()
        weights["bias"] = bias * beta if beta != 1.0 else bias
    return ctx.layer("Linear", {"out_features": int(w.shape[0]), "bias": "bias" in weights},
                     [x], weights)


@ONNX_OPS.register("MatMul")
def _matmul(ctx: Context):
    """By a constant matrix → Linear (with the Add of a constant vector after it as its bias);
    of two computed tensors → MatMul (attention's scores and weighted sums)."""
    x, right = ctx.tensor(0), ctx.arg(1)
    if isinstance(right, Tensor):
        return ctx.layer("MatMul", {}, [x, ctx.tensor(1)])
    w = ctx.weight(1)
    if w.dim() != 2:
        raise ConversionError("MatMul by a constant of rank ≠ 2 has no layer")
    add = ctx.only_reader(ctx.node.output[0], "Add")
    bias = ctx.constant_of(add, ctx.node.output[0]) if add is not None else None
    if bias is not None and bias.size == w.shape[1] and bias.shape[-1] == w.shape[1]:
        out = ctx.builder.linear(ctx.name, x, w.t(), torch.from_numpy(
            np.array(bias, dtype=np.float32).reshape(-1)))
        return ctx.absorb([add], out)
    return ctx.builder.linear(ctx.name, x, w.t(), None)


def _conv_padding(ctx: Context, n: int) -> list[int]:
    """ConvTranspose's padding: even on both sides, given as ``pads``."""
    if ctx.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID", ""):
        raise ConversionError(f"auto_pad={ctx.attrs['auto_pad']} on a transposed convolution "
                              "(re-export with explicit pads)")
    pads = [int(p) for p in ctx.attrs.get("pads", [0] * (2 * n))]
    if pads[:n] != pads[n:]:
        raise ConversionError(f"asymmetric padding {pads}")
    return pads[:n]


def _onnx_pads(ctx: Context, spatial: Sequence[int], kernel: Sequence[int],
               strides: Sequence[int], dilations: Sequence[int]) -> list[tuple[int, int]]:
    """(before, after) padding of each spatial axis: the ``pads``, or what ``auto_pad`` makes
    of this input (SAME_UPPER puts the odd one after, SAME_LOWER before; VALID none)."""
    n = len(kernel)
    auto = ctx.attrs.get("auto_pad", "NOTSET") or "NOTSET"
    if auto == "NOTSET":
        pads = [int(p) for p in ctx.attrs.get("pads", [0] * (2 * n))]
        return [(pads[i], pads[i + n]) for i in range(n)]
    if auto == "VALID":
        return [(0, 0)] * n
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise ConversionError(f"auto_pad={auto} is not an ONNX padding")
    out = []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        total = max(0, (-(-size // s) - 1) * s + (k - 1) * d + 1 - size)
        less, more = total // 2, total - total // 2
        out.append((less, more) if auto == "SAME_UPPER" else (more, less))
    return out


def _conv_pad_params(ctx: Context, pads: list[tuple[int, int]]) -> dict[str, Any]:
    """Even pads → padding; SAME_UPPER → same_padding (it follows the input's size, as in the
    source); other uneven pads → padding_sides."""
    params: dict[str, Any] = {"padding": [before for before, _ in pads]}
    if all(before == after for before, after in pads):
        return params
    params["padding"] = [0] * len(pads)
    if ctx.attrs.get("auto_pad") == "SAME_UPPER":
        return {**params, "same_padding": True}
    return {**params, "padding_sides": [v for pad in pads for v in pad]}


@ONNX_OPS.register("Conv")
def _conv(ctx: Context):
    x, w = ctx.tensor(0), ctx.weight(1)
    n = w.dim() - 2
    if n not in (1, 2, 3):
        raise ConversionError(f"{n}-D convolution has no layer")
    weights = {"weight": w}
    if ctx.arg(2) is not None:
        weights["bias"] = ctx.weight(2)
    kernel = [int(k) for k in w.shape[2:]]
    strides = [int(s) for s in ctx.attrs.get("strides", [1] * n)]
    dilations = [int(d) for d in ctx.attrs.get("dilations", [1] * n)]
    pads = _onnx_pads(ctx, x.shape[1:], kernel, strides, dilations)
    params = {"out_channels": int(w.shape[0]), "kernel_size": kernel, "stride": strides,
              **_conv_pad_params(ctx, pads), "dilation": dilations,
              "groups": int(ctx.attrs.get("group", 1)), "bias": "bias" in weights}
    return ctx.layer(f"Conv{n}d", params, [x], weights)


@ONNX_OPS.register("ConvTranspose")
def _conv_transpose(ctx: Context):
    x, w = ctx.tensor(0), ctx.weight(1)
    if w.dim() != 4 or "output_shape" in ctx.attrs:
        raise ConversionError("only 2-D ConvTranspose without output_shape maps to a layer")
    groups = int(ctx.attrs.get("group", 1))
    weights = {"weight": w}
    if ctx.arg(2) is not None:
        weights["bias"] = ctx.weight(2)
    params = {"out_channels": int(w.shape[1]) * groups, "kernel_size": [int(k) for k in w.shape[2:]],
              "stride": [int(s) for s in ctx.attrs.get("strides", [1, 1])],
              "padding": _conv_padding(ctx, 2),
              "output_padding": [int(p) for p in ctx.attrs.get("output_padding", [0, 0])],
              "dilation": [int(d) for d in ctx.attrs.get("dilations", [1, 1])],
              "groups": groups, "bias": "bias" in weights}
    return ctx.layer("ConvTranspose2d", params, [x], weights)


@ONNX_OPS.register("BatchNormalization")
def _batch_norm(ctx: Context):
    """→ BatchNorm; the legacy ``is_test`` and ``consumed_inputs`` say nothing it needs."""
    x = ctx.tensor(0)
    if any(ctx.uses(i) for i in range(1, len(ctx.node.output))) or ctx.attrs.get("training_mode", 0):
        raise ConversionError("training-mode BatchNormalization (its statistics outputs are read)")
    if not ctx.attrs.get("spatial", 1) and len(x.shape) > 1:
        raise ConversionError("BatchNormalization with spatial=0 normalizes every position "
                              "apart; a BatchNorm layer keeps one mean per channel")
    type_id = "BatchNorm2d" if len(x.shape) == 3 else "BatchNorm1d"
    momentum = float(ctx.attrs.get("momentum", 0.9))
    weights = {"weight": ctx.weight(1), "bias": ctx.weight(2), "running_mean": ctx.weight(3),
               "running_var": ctx.weight(4)}
    params = {"eps": float(np.float32(ctx.attrs.get("epsilon", 1e-5))),
              "momentum": round(1.0 - momentum, 6)}
    return ctx.layer(type_id, params, [x], weights)


@ONNX_OPS.register("InstanceNormalization")
def _instance_norm(ctx: Context):
    """→ GroupNorm with one group per channel: the same statistics (each sample's channel over
    its positions) and one scale and shift per channel (the fast-neural-style models)."""
    x = ctx.tensor(0)
    eps = float(np.float32(ctx.attrs.get("epsilon", 1e-5)))
    group_norm = _torch_group_norm(ctx, x, eps)
    if group_norm is not None:
        return group_norm
    params = {"num_groups": int(x.shape[0]), "eps": eps}
    return ctx.layer("GroupNorm", params, [x], {"weight": ctx.weight(1), "bias": ctx.weight(2)})


def _torch_group_norm(ctx: Context, grouped: Tensor, eps: float) -> Tensor | None:
    """torch's ``nn.GroupNorm`` as it exports it — Reshape to N×G×… → InstanceNormalization
    (scale 1, shift 0) → Reshape back → Mul and Add of one constant per channel — → one
    GroupNorm of G groups; None when the nodes around are not that."""
    reshape = ctx.producers.get(ctx.node.input[0])
    back = ctx.only_reader(ctx.node.output[0], "Reshape")
    mul = back and ctx.only_reader(back.output[0], "Mul")
    add = mul and ctx.only_reader(mul.output[0], "Add")
    if add is None or reshape is None or reshape.op_type != "Reshape" \
            or not ctx.read_once(ctx.node.input[0]) or not ctx.builder.reads_nothing_yet(grouped) \
            or np.any(ctx.const(1) != 1) or np.any(ctx.const(2) != 0):
        return None
    source = ctx.env.get(reshape.input[0])
    if not isinstance(source, Tensor) or source.shape is None or len(source.shape) < 2:
        return None
    channels = (source.shape[0],) + (1,) * (len(source.shape) - 1)
    scale, shift = ctx.constant_of(mul, back.output[0]), ctx.constant_of(add, mul.output[0])
    if scale is None or shift is None or scale.shape[-len(channels):] != channels \
            or shift.shape[-len(channels):] != channels or scale.size != channels[0] \
            or shift.size != channels[0]:
        return None
    ctx.builder.remove(grouped.node)
    weights = {"weight": torch.from_numpy(np.array(scale, np.float32).reshape(-1)),
               "bias": torch.from_numpy(np.array(shift, np.float32).reshape(-1))}
    out = ctx.layer("GroupNorm", {"num_groups": int(grouped.shape[0]), "eps": eps}, [source], weights)
    return ctx.absorb([back, mul, add], out)


@ONNX_OPS.register("LayerNormalization", since=17)
def _layer_norm(ctx: Context):
    x = ctx.tensor(0)
    axis = int(ctx.attrs.get("axis", -1)) % x.rank
    if axis == 0:
        raise ConversionError("normalizing over the batch")
    weights = {"weight": ctx.weight(1)}
    if ctx.arg(2) is not None:
        weights["bias"] = ctx.weight(2)
    else:
        weights["bias"] = torch.zeros_like(weights["weight"])
    params = {"normalized_dims": x.rank - axis,
              "eps": float(np.float32(ctx.attrs.get("epsilon", 1e-5)))}
    return ctx.layer("LayerNorm", params, [x], weights)


@ONNX_OPS.register("LRN")
def _lrn(ctx: Context):
    """→ LocalResponseNorm (the same sum over neighbouring channels, for an odd size)."""
    size = int(ctx.attrs["size"])
    if size % 2 == 0:
        raise ConversionError(f"LRN over an even number of channels ({size}) centres its "
                              "window one channel later than LocalResponseNorm")
    params = {"size": size, "alpha": float(np.float32(ctx.attrs.get("alpha", 1e-4))),
              "beta": float(np.float32(ctx.attrs.get("beta", 0.75))),
              "k": float(np.float32(ctx.attrs.get("bias", 1.0)))}
    return ctx.layer("LocalResponseNorm", params, [ctx.tensor(0)])


# ---- enlarging: Upsample, Resize -------------------------------------------------------------

# (coordinate_transformation_mode, nearest_mode) pairs that pick, for a whole scale s, source
# entry ⌊i / s⌋ as the Upsample layer's nearest mode does; linear modes matching bilinear
# with align_corners off (half-pixel centres).
_NEAREST_GRIDS = {("asymmetric", "floor")} | {(grid, rounding) for grid in ("half_pixel", "pytorch_half_pixel")
                                              for rounding in ("round_prefer_floor", "round_prefer_ceil")}
_LINEAR_GRIDS = {"half_pixel", "pytorch_half_pixel"}


@ONNX_OPS.register("Upsample")
def _upsample(ctx: Context):
    """Upsample (opsets 7–9; scales an attribute, from 9 an input) samples an asymmetric grid."""
    scales = ctx.attrs.get("scales") if ctx.opset < 9 else ctx.const(1).reshape(-1).tolist()
    return _enlarged(ctx, scales, "asymmetric", "floor")


@ONNX_OPS.register("Resize", since=10)
def _resize_10(ctx: Context):
    """Resize-10: scales as an input, the grid as Upsample's."""
    return _enlarged(ctx, ctx.const(1).reshape(-1).tolist(), "asymmetric", "floor")


@ONNX_OPS.register("Resize", since=11)
def _resize(ctx: Context):
    """Resize by ``scales`` or to ``sizes`` → Upsample when that is a whole factor and the
    grid is one the layer samples."""
    x = ctx.tensor(0)
    if ctx.attrs.get("axes") is not None:
        raise ConversionError("Resize of chosen axes (re-export with scales for every axis)")
    scales = ctx.arg(2)
    if isinstance(scales, np.ndarray) and scales.size:
        factors = scales.reshape(-1).tolist()
    else:
        sizes = _as_dims(ctx.arg(3))
        if sizes is None:
            raise ConversionError("Resize to sizes that are not constant")
        full = (1,) + x.shape
        factors = [1.0 if i == 0 else v / full[i] for i, v in enumerate(sizes.values)]
    grid = ctx.attrs.get("coordinate_transformation_mode", "half_pixel")
    return _enlarged(ctx, factors, grid, ctx.attrs.get("nearest_mode", "round_prefer_floor"))


def _enlarged(ctx: Context, factors: Sequence[float], grid: str, rounding: str) -> Tensor:
    """The Upsample layer for these per-axis factors (batch and channels kept, one whole
    factor for the rest) in the node's mode on this sampling grid."""
    x = ctx.tensor(0)
    mode = ctx.attrs.get("mode", "nearest")
    factors = [float(f) for f in factors]
    spatial = set(factors[2:])
    if len(factors) != x.rank or factors[:2] != [1.0, 1.0] or len(spatial) != 1 \
            or not float(next(iter(spatial))).is_integer() or not 1 <= min(spatial) <= 16:
        raise ConversionError(f"scales {factors}: the Upsample layer enlarges every axis after "
                              "the channels by one whole factor (up to 16)")
    scale, corners = int(spatial.pop()), {}
    if mode == "nearest" and (grid, rounding) in _NEAREST_GRIDS:
        kind = "nearest"
    elif mode == "linear" and grid in _LINEAR_GRIDS | {"align_corners"} and x.rank == 4:
        kind, corners = "bilinear", {"align_corners": True} if grid == "align_corners" else {}
    else:
        raise ConversionError(f"{mode} resizing on the {grid} grid"
                              f"{f' ({rounding})' if mode == 'nearest' else ''} has no layer: Upsample "
                              "takes nearest (each entry repeated) or bilinear with half-pixel "
                              "centres or aligned corners (Resize, coordinate_transformation_mode"
                              "=half_pixel or align_corners)")
    if scale == 1:
        return x
    return ctx.layer("Upsample", {"scale_factor": scale, "mode": kind, **corners}, [x])


# ---- activations, pooling, merges -------------------------------------------------------------


def _simple(type_id: str, params: Callable[[Context], dict] = lambda ctx: {}):
    def convert(ctx: Context):
        return ctx.layer(type_id, params(ctx), [ctx.tensor(0)])

    convert.__doc__ = f"→ {type_id}"
    return convert


for _op, _type in (("Relu", "ReLU"), ("Tanh", "Tanh"), ("Sigmoid", "Sigmoid")):
    ONNX_OPS.register(_op)(_simple(_type))
ONNX_OPS.register("LeakyRelu")(_simple("LeakyReLU", lambda c: {
    "negative_slope": float(np.float32(c.attrs.get("alpha", 0.01)))}))
ONNX_OPS.register("Elu")(_simple("ELU", lambda c: {"alpha": float(c.attrs.get("alpha", 1.0))}))
ONNX_OPS.register("Gelu", since=20)(_simple("GELU", lambda c: {
    "approximate": c.attrs.get("approximate", "none")}))


for _op, _type in (("HardSwish", "Hardswish"), ("Mish", "Mish"), ("Softsign", "Softsign")):
    ONNX_OPS.register(_op)(_simple(_type))


@ONNX_OPS.register("Softplus")
def _softplus(ctx: Context):
    """Softplus; followed by Tanh and a Mul by its input (torch's Mish before opset 18) → Mish."""
    tanh = ctx.only_reader(ctx.node.output[0], "Tanh")
    times_x = tanh and ctx.only_reader(tanh.output[0], "Mul")
    if times_x and sorted(times_x.input) == sorted([ctx.node.input[0], tanh.output[0]]):
        return ctx.absorb([tanh, times_x], ctx.layer("Mish", {}, [ctx.tensor(0)]))
    return ctx.layer("Softplus", {}, [ctx.tensor(0)])


@ONNX_OPS.register("Abs")
def _abs(ctx: Context):
    """x / (1 + |x|) (torch's Softsign) → Softsign; else → Abs."""
    add = ctx.only_reader(ctx.node.output[0], "Add")
    one = add and ctx.constant_of(add, ctx.node.output[0])
    div = add and ctx.only_reader(add.output[0], "Div")
    if one is not None and one.size == 1 and float(one.reshape(())) == 1.0 and div \
            and list(div.input) == [ctx.node.input[0], add.output[0]]:
        return ctx.absorb([add, div], ctx.layer("Softsign", {}, [ctx.tensor(0)]))
    return ctx.layer("Abs", {}, [ctx.tensor(0)])


@ONNX_OPS.register("HardSigmoid")
def _hard_sigmoid(ctx: Context):
    alpha, beta = ctx.attrs.get("alpha", 0.2), ctx.attrs.get("beta", 0.5)
    if np.float32(alpha) != np.float32(1 / 6) or np.float32(beta) != np.float32(0.5):
        raise ConversionError(f"HardSigmoid with alpha={alpha}, beta={beta} (Hardsigmoid is "
                              "x/6 + 1/2)")
    return ctx.layer("Hardsigmoid", {}, [ctx.tensor(0)])


@ONNX_OPS.register("Clip")
def _clip(ctx: Context):
    """Clip to [0, 6] → ReLU6, to [0, ∞) → ReLU, else → Hardtanh; an L2 norm to [eps, ∞)
    is F.normalize's divisor."""
    if ctx.opset < 11:
        low, high = ctx.attrs.get("min"), ctx.attrs.get("max")
    else:
        low, high = (float(ctx.const(i).reshape(())) if ctx.arg(i) is not None else None
                     for i in (1, 2))
    if isinstance(ctx.arg(0), VectorNorm) and low is not None and high is None:
        return ctx.arg(0).at_least(low)
    x = ctx.tensor(0)
    if low == 0.0 and high is None:
        return ctx.layer("ReLU", {}, [x])
    if low is None or high is None:
        raise ConversionError("a clip with one bound (other than ReLU's)")
    if (low, high) == (0.0, 6.0):
        return ctx.layer("ReLU6", {}, [x])
    return ctx.layer("Hardtanh", {"min_val": float(low), "max_val": float(high)}, [x])


@ONNX_OPS.register("PRelu")
def _prelu(ctx: Context):
    x, slope = ctx.tensor(0), ctx.weight(1)
    if slope.numel() == 1:
        return ctx.layer("PReLU", {}, [x], {"weight": slope.reshape(1)})
    channel = (x.shape[0],) + (1,) * (len(x.shape) - 1)
    if tuple(slope.shape) in (channel, (1,) + channel) or (len(x.shape) == 1 and
                                                            tuple(slope.shape) == x.shape):
        return ctx.layer("PReLU", {"per_channel": True}, [x], {"weight": slope.reshape(-1)})
    raise ConversionError(f"PRelu slopes of shape {tuple(slope.shape)} (PReLU has one, or one "
                          "per channel)")


@ONNX_OPS.register("Pad", since=2)
def _pad_attributes(ctx: Context):
    """Pad before opset 11: the pads and the value as attributes."""
    pads = [int(p) for p in ctx.attrs["pads"]]
    return _padded(ctx, pads, float(ctx.attrs.get("value", 0.0)), None)


@ONNX_OPS.register("Pad", since=11)
def _pad(ctx: Context):
    x = ctx.tensor(0)
    pads = [int(p) for p in ctx.const(1).reshape(-1)]
    value = float(ctx.const(2).reshape(-1)[0]) if ctx.arg(2) is not None else 0.0
    axes = [int(a) % x.rank for a in ctx.const(3).reshape(-1)] if ctx.arg(3) is not None else None
    return _padded(ctx, pads, value, axes)


def _padded(ctx: Context, pads: list[int], value: float, axes: list[int] | None) -> Tensor:
    """ONNX pads (every axis' befores, then afters) → a Pad layer (torch's order)."""
    x = ctx.tensor(0)
    mode = {"constant": "constant", "reflect": "reflect", "edge": "replicate",
            "wrap": "circular"}.get(ctx.attrs.get("mode", "constant"))
    axes = axes if axes is not None else list(range(x.rank))
    if mode is None or any(p < 0 for p in pads):
        raise ConversionError(f"{ctx.attrs.get('mode')} padding or cropping (negative pads)")
    half = len(pads) // 2
    per_axis = {axis: (pads[i], pads[i + half]) for i, axis in enumerate(axes)}
    if per_axis.get(0, (0, 0)) != (0, 0):
        raise ConversionError("padding the batch")
    padded = [a for a in per_axis if per_axis[a] != (0, 0)]
    if not padded:
        return x
    torch_order = [p for axis in range(x.rank - 1, min(padded) - 1, -1)
                   for p in per_axis.get(axis, (0, 0))]
    return ctx.layer("Pad", {"padding": torch_order, "mode": mode, "value": value}, [x])


def _softmax(type_id: str):
    def convert(ctx: Context):
        x = ctx.tensor(0)
        default = -1 if ctx.opset >= 13 else 1
        axis = int(ctx.attrs.get("axis", default)) % x.rank
        if axis == 0:
            raise ConversionError(f"{ctx.node.op_type} across the batch")
        if ctx.opset >= 13 or math.prod(x.shape[axis:]) == 1:
            return ctx.layer(type_id, {"dim": axis - 1}, [x])
        return _coerced_softmax(ctx, type_id, x, axis)

    return convert


def _coerced_softmax(ctx: Context, type_id: str, x: Tensor, axis: int) -> Tensor:
    """Before opset 13 a softmax runs over every axis from ``axis`` on, taken as one: those
    joined by a Reshape, the softmax over them, and a Reshape back."""
    joined = list(x.shape[:axis - 1]) + [math.prod(x.shape[axis - 1:])]
    rows = ctx.builder.layer("Reshape", f"{ctx.name}_joined", {"shape": joined}, [x])
    out = ctx.layer(type_id, {"dim": len(joined) - 1}, [rows])
    return ctx.builder.layer("Reshape", f"{ctx.name}_back", {"shape": list(x.shape)}, [out])


ONNX_OPS.register("Softmax")(_softmax("Softmax"))
ONNX_OPS.register("LogSoftmax")(_softmax("LogSoftmax"))


@ONNX_OPS.register("Einsum")
def _einsum(ctx: Context):
    """Einsum of two tensors that is a matrix product → Permute, MatMul."""
    if len(ctx.node.input) != 2:
        raise ConversionError("einsum of other than two tensors has no layer")
    return einsum_matmul(ctx.builder, ctx.name, str(ctx.attrs.get("equation", "")),
                         ctx.tensor(0), ctx.tensor(1))


@ONNX_OPS.register("Dropout")
def _dropout(ctx: Context):
    ratio = ctx.attrs.get("ratio", 0.5) if ctx.opset < 12 else (
        float(ctx.const(1)) if ctx.arg(1) is not None else 0.5)
    return ctx.layer("Dropout", {"p": round(float(ratio), 6)}, [ctx.tensor(0)])


def _pool(kind: str):
    def convert(ctx: Context):
        x = ctx.tensor(0)
        kernel = [int(k) for k in ctx.attrs["kernel_shape"]]
        n = len(kernel)
        if n not in (1, 2, 3):
            raise ConversionError(f"{n}-D {kind.lower()} pooling has no layer")
        if [int(d) for d in ctx.attrs.get("dilations", [1] * n)] != [1] * n:
            raise ConversionError("dilated pooling")
        if len(ctx.node.output) > 1 and ctx.node.output[1]:
            raise ConversionError("pooling indices output")
        strides = [int(s) for s in ctx.attrs.get("strides", [1] * n)]
        pads = _onnx_pads(ctx, x.shape[1:], kernel, strides, [1] * n)
        params = {"kernel_size": kernel, "stride": strides, "ceil_mode": bool(ctx.attrs.get("ceil_mode", 0))}
        if kind == "Avg":
            params["count_include_pad"] = bool(ctx.attrs.get("count_include_pad", 0))
        type_id = f"{kind}Pool{n}d"
        fitted = _pool_as_torch(type_id, params, pads, x.shape)
        if fitted is not None:
            return ctx.layer(type_id, fitted, [x])
        return ctx.layer(type_id, {**params, "padding": [0] * n}, [_padded_for_pool(ctx, x, kind, params, pads)])

    return convert


def _pool_as_torch(type_id: str, params: dict[str, Any], pads: list[tuple[int, int]],
                   shape: tuple[int, ...]) -> dict[str, Any] | None:
    """The pooling layer's params for ONNX's (before, after) pads, or None when no padding
    and rounding of the layer gives the same windows. Uneven pads fit when padding by the
    ``before`` side (with ceil_mode on or off) yields as many windows: they then start where
    ONNX's do, and padding only ever adds positions that max and a mean without the padding
    ignore."""
    even = all(before == after for before, after in pads)
    if not even and (params["ceil_mode"] or params.get("count_include_pad")):
        return None
    onnx_out = tuple(_onnx_pool_size(size, k, s, pad, params["ceil_mode"])
                     for size, k, s, pad in zip(shape[1:], params["kernel_size"], params["stride"], pads))
    for ceil in ((params["ceil_mode"],) if even else (False, True)):
        candidate = {**params, "padding": [before for before, _ in pads], "ceil_mode": ceil}
        layer = CATALOG[type_id]
        try:
            if tuple(layer.shape(layer.resolve(candidate), [shape])[1:]) == onnx_out:
                return candidate
        except ShapeError:
            continue
    return None


def _onnx_pool_size(size: int, k: int, s: int, pad: tuple[int, int], ceil: bool) -> int:
    span = size + pad[0] + pad[1] - k
    return (-(-span // s) if ceil else span // s) + 1


def _padded_for_pool(ctx: Context, x: Tensor, kind: str, params: dict[str, Any],
                     pads: list[tuple[int, int]]) -> Tensor:
    """Uneven padding as a Pad layer before the pooling: the edge repeated for max pooling
    (exact while a window keeps one real position), zeros for a mean that counts them."""
    why = ""
    if params["ceil_mode"]:
        why = "ceil_mode"
    elif kind == "Avg" and not params["count_include_pad"]:
        why = "padding left out of the mean"
    elif any(max(pad) >= k for pad, k in zip(pads, params["kernel_size"])):
        why = "a side as wide as the window"
    if why:
        raise ConversionError(f"uneven padding {[list(p) for p in pads]} (before, after per axis) "
                              f"with {why}: no pooling layer computes it; re-export with even pads")
    order = [v for pad in reversed(pads) for v in pad]  # last axis first, as torch's F.pad
    mode = "replicate" if kind == "Max" else "constant"
    return ctx.builder.layer("Pad", f"{ctx.name}_pad", {"padding": order, "mode": mode}, [x])


ONNX_OPS.register("MaxPool")(_pool("Max"))
ONNX_OPS.register("AveragePool")(_pool("Avg"))


@ONNX_OPS.register("GlobalAveragePool")
def _global_avg_pool(ctx: Context):
    x = ctx.tensor(0)
    if len(x.shape) != 3:
        raise ConversionError("global pooling of non-image tensors")
    return ctx.layer("AdaptiveAvgPool2d", {"output_size": 1}, [x])


@ONNX_OPS.register("GlobalMaxPool")
def _global_max_pool(ctx: Context):
    """→ AdaptiveMaxPool1d/2d to one position (the positions kept as size-1 axes)."""
    x = ctx.tensor(0)
    if len(x.shape) not in (2, 3):
        raise ConversionError(f"global max pooling of a rank-{x.rank} tensor (the layers pool "
                              "C×L or C×H×W maps)")
    return ctx.layer(f"AdaptiveMaxPool{len(x.shape) - 1}d", {"output_size": 1}, [x])


@ONNX_OPS.register("ReduceMean")
def _reduce_mean(ctx: Context):
    """Mean over every position of a N×C×(…) tensor → GlobalAvgPool (the Flatten before it,
    read by nothing else, is folded in)."""
    x = ctx.tensor(0)
    axes = ctx.attrs.get("axes") if ctx.opset < 18 else (
        ctx.const(1).tolist() if ctx.arg(1) is not None else None)
    axes = sorted(int(a) % x.rank for a in (axes or range(x.rank)))
    keep = int(ctx.attrs.get("keepdims", 1))
    source = ctx.builder.node_of(x)
    if axes == list(range(2, x.rank)) and not keep:
        if source.type == "Flatten" and source.params.get("start_dim") == 1 \
                and ctx.builder.design.out_edges(source.id) == [] \
                and ctx._uses.get(ctx.node.input[0], 0) == 1:
            return _refold_global_pool(ctx, x)
        return ctx.layer("GlobalAvgPool", {}, [x])
    if axes == [2, 3] and keep and x.rank == 4:
        return ctx.layer("AdaptiveAvgPool2d", {"output_size": 1}, [x])
    return _reduce(ctx, "Mean")


def _reduce(ctx: Context, type_id: str) -> Tensor:
    """ReduceMean/Sum/Max over sample axes → Mean/Sum/Max."""
    x = ctx.tensor(0)
    from_input = ctx.opset >= (13 if type_id == "Sum" else 18)
    axes = (ctx.const(1).tolist() if ctx.arg(1) is not None else None) if from_input \
        else ctx.attrs.get("axes")
    if axes is None or ctx.attrs.get("noop_with_empty_axes", 0):
        raise ConversionError(f"{ctx.node.op_type} over every axis, the batch too")
    axes = sorted(int(a) % x.rank for a in axes)
    if 0 in axes:
        raise ConversionError(f"{ctx.node.op_type} across the batch")
    return ctx.layer(type_id, {"dims": [a - 1 for a in axes],
                               "keepdim": bool(ctx.attrs.get("keepdims", 1))}, [x])


ONNX_OPS.register("ReduceSum")(lambda ctx: _reduce(ctx, "Sum"))


@ONNX_OPS.register("ReduceL2")
def _reduce_l2(ctx: Context) -> VectorNorm:
    """The L2 norm along one sample axis, kept: F.normalize's divisor (see Div)."""
    x = ctx.tensor(0)
    axes = (ctx.const(1).tolist() if ctx.arg(1) is not None else None) if ctx.opset >= 18 \
        else ctx.attrs.get("axes")
    if not axes or len(axes) != 1 or not ctx.attrs.get("keepdims", 1) \
            or int(axes[0]) % x.rank == 0:
        raise ConversionError("an L2 norm has no layer (x divided by its L2 norm along one axis, "
                              "as F.normalize, maps: L2Normalize)")
    return VectorNorm(x, int(axes[0]) % x.rank - 1)
ONNX_OPS.register("ReduceMax")(lambda ctx: _reduce(ctx, "Max"))


def _refold_global_pool(ctx: Context, flat: Tensor) -> Tensor:
    """Flatten(start_dim=1) then a mean over its last axis is a GlobalAvgPool of its input."""
    name, source = ctx.builder.remove(flat.node)
    return ctx.builder.layer("GlobalAvgPool", name, {}, [source])


def _binary(type_id: str):
    def convert(ctx: Context):
        a, b = ctx.arg(0), ctx.arg(1)
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            return ctx.layer(type_id, {}, [ctx.tensor(0), ctx.tensor(1)])
        tensor, const = (a, b) if isinstance(a, Tensor) else (b, a)
        if not (isinstance(tensor, Tensor) and isinstance(const, np.ndarray)):
            raise ConversionError(f"{ctx.node.op_type} of values that are not tensors")
        if type_id == "Multiply":
            return _times_constant(ctx, tensor, const, divide=False)
        if type_id == "Add" and const.ndim >= 2 and tuple(const.shape[-2:]) == tensor.shape \
                and const.size == np.prod(tensor.shape):
            return ctx.layer("PositionEmbedding", {}, [ctx.tensor(0 if tensor is a else 1)],
                             {"embedding": torch.from_numpy(np.array(const, np.float32).reshape(
                                 (1,) + tensor.shape))})
        if type_id == "Add":
            return _plus_constant(ctx, tensor, const)
        raise ConversionError(f"{ctx.node.op_type} with a constant operand has no layer")

    return convert


@ONNX_OPS.register("Div")
def _div(ctx: Context):
    """x / √2 starting torch's exact GELU → GELU; x / (a power of two) → Scale; x / its L2
    norm → L2Normalize."""
    if isinstance(ctx.arg(1), VectorNorm):
        return normalized(ctx.builder, ctx.name, ctx.arg(0), ctx.arg(1))
    x, d = ctx.tensor(0), ctx.const(1)
    gelu = _erf_gelu(ctx, d)
    if gelu is not None:
        return gelu
    return _times_constant(ctx, x, d, divide=True)


@ONNX_OPS.register("Sub")
def _sub(ctx: Context):
    """Of two computed tensors → Subtract; x − a number → Scale adding its negative; a number
    − x → Scale by −1 adding it (both exact)."""
    a, b = ctx.arg(0), ctx.arg(1)
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return ctx.layer("Subtract", {}, [ctx.tensor(0), ctx.tensor(1)])
    x, const = (a, b) if isinstance(a, Tensor) else (b, a)
    if not isinstance(x, Tensor) or not isinstance(const, np.ndarray) or const.size != 1:
        raise ConversionError("subtracting a constant other than a number has no layer")
    number = float(np.float32(const.reshape(())))
    alone = ctx._uses.get(ctx.node.input[0 if x is a else 1]) == 1
    return shifted(ctx.builder, ctx.name, x, -number if x is a else number, alone,
                   negate=x is not a)


def _times_constant(ctx: Context, x: Tensor, const: np.ndarray, divide: bool) -> Tensor:
    """By one number → Scale; by one factor per channel or feature → LayerScale."""
    if const.size == 1:
        factor = scale_factor(float(np.asarray(const, np.float32).reshape(())), divide)
        return ctx.layer("Scale", {"factor": factor}, [x])
    if divide:
        raise ConversionError("dividing by a tensor of constants has no layer")
    return layer_scale(ctx.builder, ctx.name, x, torch.from_numpy(np.array(const, np.float32)))


def _erf_gelu(ctx: Context, divisor: np.ndarray) -> Tensor | None:
    """Div(x, √2) → Erf → Add 1 → Mul by x → Mul by ½ (any operand order), as torch exports
    ``nn.GELU()`` before opset 20, → one exact GELU layer."""
    source = ctx.node.input[0]
    if divisor.size != 1 or np.float32(divisor.reshape(())) != np.float32(math.sqrt(2.0)):
        return None
    erf = ctx.only_reader(ctx.node.output[0], "Erf")
    add = erf and ctx.only_reader(erf.output[0], "Add")
    one = add and ctx.constant_of(add, erf.output[0])
    times_x = add and ctx.only_reader(add.output[0], "Mul")
    half = times_x and ctx.only_reader(times_x.output[0], "Mul")
    if half is None or one is None or one.size != 1 or float(one.reshape(())) != 1.0 \
            or sorted(times_x.input) != sorted([source, add.output[0]]):
        return None
    factor = ctx.constant_of(half, times_x.output[0])
    if factor is None or factor.size != 1 or float(factor.reshape(())) != 0.5:
        return None
    out = ctx.layer("GELU", {}, [ctx.tensor(0)])
    return ctx.absorb([erf, add, times_x, half], out)


def _plus_constant(ctx: Context, x: Tensor, const: np.ndarray) -> Tensor:
    """A Linear's bias (MatMul then Add), a convolution's (Conv then Add of one number per
    channel, as CNTK writes it); a number added → Scale with that offset."""
    conv = _bias_into_conv(ctx, x, const)
    if conv is not None:
        return conv
    try:
        return _bias_into_linear(ctx, x, const)
    except ConversionError:
        if const.size != 1 or const.ndim > len(x.shape or ()) + 1:
            raise
    alone = ctx._uses.get(ctx.node.input[0 if isinstance(ctx.arg(0), Tensor) else 1]) == 1
    return shifted(ctx.builder, ctx.name, x, float(np.float32(const.reshape(()))), alone)


def _bias_into_conv(ctx: Context, x: Tensor, bias: np.ndarray) -> Tensor | None:
    """Conv without bias, read only by this Add of a C×1×… constant → the Conv's bias; None
    when the Add is not that."""
    node = ctx.builder.node_of(x)
    own = ctx.node.input[0] if isinstance(ctx.arg(0), Tensor) else ctx.node.input[1]
    channels = (x.shape[0],) + (1,) * (len(x.shape) - 1) if x.shape else ()
    shape = tuple(bias.shape)
    while len(shape) > len(channels) and shape[0] == 1:
        shape = shape[1:]
    if not node.type.startswith("Conv") or node.type.startswith("ConvTranspose") \
            or node.resolved_params()["bias"] or ctx.builder.design.out_edges(node.id) \
            or ctx._uses.get(own) != 1 or shape != channels or len(channels) < 2:
        return None
    values = torch.from_numpy(np.array(bias, np.float32).reshape(-1).copy())
    return ctx.builder.update(x, {"bias": True}, {"bias": values})


def _bias_into_linear(ctx: Context, x: Tensor, bias: np.ndarray) -> Tensor:
    """MatMul then Add of a constant vector → one Linear with a bias."""
    node = ctx.builder.node_of(x)
    if node.type != "Linear" or node.params.get("bias", True) or ctx.builder.design.out_edges(node.id) \
            or ctx._uses.get(ctx.node.input[0] if isinstance(ctx.arg(0), Tensor) else ctx.node.input[1]) != 1:
        raise ConversionError("adding a constant has no layer yet (only a Linear's bias)")
    width = x.shape[-1]
    if bias.size not in (1, width) or bias.ndim > 1 and bias.shape[:-1] != (1,) * (bias.ndim - 1):
        raise ConversionError(f"a bias of shape {bias.shape} for {width} features")
    values = torch.from_numpy(np.broadcast_to(bias.reshape(-1), (width,)).astype(np.float32).copy())
    return ctx.builder.update(x, {"bias": True}, {"bias": values})


ONNX_OPS.register("Add")(_binary("Add"))
ONNX_OPS.register("Mul")(_binary("Multiply"))


@ONNX_OPS.register("Sum", "Mean")
def _sum_or_mean(ctx: Context):
    """Of computed tensors → Add (any number of inputs); Mean → Add then Scale by 1/n."""
    tensors = [ctx.tensor(i) for i in range(len(ctx.node.input))]
    if len(tensors) == 1:
        return tensors[0]
    total = ctx.layer("Add", {}, tensors)
    if ctx.node.op_type == "Sum":
        return total
    return ctx.builder.layer("Scale", f"{ctx.name}_mean", {"factor": 1.0 / len(tensors)}, [total])


# ---- recurrent layers -------------------------------------------------------------------------


@dataclass(frozen=True)
class RecurrentOutput:
    """ONNX's Y of an RNN: steps × directions × batch × hidden; ``sequence`` is the design's
    view of it for one direction (steps × hidden, batch second)."""

    sequence: Tensor
    directions: int


_GATE_ORDER = {"LSTM": (0, 2, 3, 1), "GRU": (1, 0, 2), "RNN": (0,)}  # ONNX → torch gate order


def _recurrent(kind: str):
    def convert(ctx: Context):
        x = ctx.tensor(0)
        a = ctx.attrs
        if x.batch_axis != (0 if a.get("layout", 0) else 1) or len(x.shape) != 2:
            raise ConversionError(f"{kind} input must be steps × batch × features")
        hidden = int(a["hidden_size"])
        direction = a.get("direction", "forward")
        if direction not in ("forward", "bidirectional") or a.get("clip") or a.get("input_forget") or \
                (kind == "GRU" and a.get("linear_before_reset", 0) != 1):
            raise ConversionError(f"{kind} with {direction} direction, clip or coupled gates")
        activations = a.get("activations")
        if kind == "RNN" and activations not in (None, ["Tanh"], ["Relu"]):
            raise ConversionError(f"RNN activations {activations}")
        for i in range(4, len(ctx.node.input)):
            init = ctx.arg(i)
            if init is not None and not (isinstance(init, ZerosWithBatch) and init.value == 0) \
                    and not (isinstance(init, np.ndarray) and not init.any()):
                raise ConversionError(f"{kind} with a sequence-length input or nonzero initial state")
        if any(ctx.node.output[1:]) and any(ctx.uses(i) for i in range(1, len(ctx.node.output))):
            raise ConversionError(f"{kind}'s final-state outputs are read directly")
        order = _GATE_ORDER[kind]
        gates = len(order)
        directions = 2 if direction == "bidirectional" else 1
        weights = {}
        for d, suffix in list(enumerate(("", "_reverse")))[:directions]:
            weights.update(_recurrent_weights(ctx, d, suffix, order, hidden))
        params = {"hidden_size": hidden, "return_sequence": True,
                  "bidirectional": directions == 2}
        if kind == "RNN":
            params["nonlinearity"] = "relu" if activations == ["Relu"] else "tanh"
        seq = ctx.builder.layer(kind, ctx.name, params, [x.moved(0)], weights)
        return [RecurrentOutput(seq.moved(1), directions)]

    return convert


def _recurrent_weights(ctx: Context, direction: int, suffix: str, order: tuple[int, ...],
                       hidden: int) -> dict[str, torch.Tensor]:
    """One direction's ONNX W, R and B as torch's ``weight_ih_l0{suffix}`` … (gates reordered)."""
    gates = len(order)
    w, r = ctx.weight(1)[direction], ctx.weight(2)[direction]
    b = ctx.weight(3)[direction] if ctx.arg(3) is not None else torch.zeros(2 * gates * hidden)
    reorder = lambda t: torch.cat([t.chunk(gates)[g] for g in order])  # noqa: E731
    return {f"weight_ih_l0{suffix}": reorder(w), f"weight_hh_l0{suffix}": reorder(r),
            f"bias_ih_l0{suffix}": reorder(b[:gates * hidden]),
            f"bias_hh_l0{suffix}": reorder(b[gates * hidden:])}


@dataclass(frozen=True)
class JoinedDirections:
    """A bidirectional RNN's Y with the directions next to the features (steps × batch ×
    directions × hidden): a Reshape joining the last two is the design's sequence."""

    sequence: Tensor


for _kind in ("LSTM", "GRU", "RNN"):
    ONNX_OPS.register(_kind)(_recurrent(_kind))


def _gather_last_step(ctx: Context, x: Tensor) -> Tensor:
    """``output[:, -1]`` of a whole-sequence RNN that nothing else reads → the RNN returning
    its last step."""
    index = ctx.const(1)
    node = ctx.builder.node_of(x)
    axis = int(ctx.attrs.get("axis", 0)) % x.rank
    steps = x.shape[0] if x.shape else 0
    if (index.ndim == 0 and int(index) in (-1, steps - 1) and axis == 1 and x.batch_axis == 0
            and node.type in ("LSTM", "GRU", "RNN") and node.params.get("return_sequence")
            and not node.params.get("bidirectional")  # its last step joins two (see modules)
            and not ctx.builder.design.out_edges(node.id) and ctx.uses() >= 1):
        return ctx.builder.update(x, {"return_sequence": False})
    if index.ndim != 0 or axis == 0 or x.batch_axis != 0:
        raise ConversionError("gathering several indices, or along the batch, has no layer")
    return select(ctx.builder, ctx.name, x, axis - 1, int(index))
