"""Standalone PyTorch source for a compiled design.

:func:`python_source` writes one ``.py`` file that needs only ``torch`` (and the standard
library): the custom modules the network uses (copied from :mod:`runtime.modules`), a
``Model(nn.Module)`` with a no-argument constructor whose ``__init__`` builds every layer with
literal arguments from its catalog declaration, a ``forward`` with one line per layer, and
``INPUT_SHAPE`` / ``INPUT_DTYPE`` constants. Exported from a training run, it also carries how
the training data was prepared (``CLASSES``, ``preprocess`` for raw samples, ``postprocess`` to
turn regression outputs back into the data's units), so the model can be used elsewhere as it
was trained.

Nothing the user typed reaches the source as code: layer attributes and variables are the
sanitized identifiers of :func:`runtime.compiler.identifier`, constructor arguments are rendered
by :func:`literal` (numbers, booleans, text via ``repr``, tuples of those) and the design name
appears only in a comment, stripped to harmless characters.
"""
from __future__ import annotations

import inspect
import operator
import re
from typing import Any, Mapping

from torch import fx, nn

from graph.catalog import CATALOG, fmt_shape
from graph.design import Design

from . import modules as custom_modules
from .blockcode import (BlockClass, attribute_source, block_classes, instance_source,
                        members_source)
from .compiler import Chain, Compiled, layer_class, module_tree
from .pysource import call_source as _call
from .pysource import comment_text, literal

__all__ = ["python_source", "data_preparation_source", "literal"]



def _class_expr(cls: type[nn.Module]) -> str:
    custom = getattr(custom_modules, cls.__name__, None) is cls
    return cls.__name__ if custom else f"nn.{cls.__name__}"


def _custom_bases(cls: type[nn.Module]) -> list[type[nn.Module]]:
    """``cls`` after the classes of :mod:`runtime.modules` it derives from (``Recurrent``
    before ``RecurrentLSTM``), as its source needs them defined first."""
    return [base for base in reversed(cls.__mro__)
            if base.__module__ == custom_modules.__name__]


def python_source(design: Design, compiled: Compiled, weights_file: str = "model.safetensors",
                  dataset: Mapping[str, Any] | None = None) -> str:
    """The standalone source of ``compiled`` (see the module docstring); ``weights_file`` is
    the name of the safetensors file shown in the usage note; ``dataset`` is a run's data
    description (``config.json``'s ``dataset``), whose preparation steps are written out."""
    inference = compiled.report.inference
    classes = block_classes(design, inference)
    custom: list[type[nn.Module]] = [c for b in classes.values() for c in b.custom]
    init_lines, forward_lines, args, result = _model_lines(design, compiled, classes, custom)
    custom = list(dict.fromkeys(base for cls in custom for base in _custom_bases(cls)))
    shapes = [(None, *s) for s in compiled.input_shapes]
    dtypes = [f"torch.{design.node(n).resolved_params()['dtype']}" for n in compiled.input_nodes]
    if len(shapes) == 1:
        input_shape, input_dtype = literal(shapes[0]), dtypes[0]
    else:
        input_shape, input_dtype = literal(shapes), "(" + ", ".join(dtypes) + ")"

    title = comment_text(design.name) or "untitled"
    if not re.fullmatch(r"[\w.\-]+", weights_file, flags=re.ASCII):
        weights_file = "model.safetensors"
    parts = [
        f'"""PyTorch model exported by Netwright.\n\n'
        f"Needs only torch (and safetensors to load the weights exported next to it)::\n\n"
        f"    from safetensors.torch import load_file\n"
        f"    model = Model()\n"
        f'    model.load_state_dict(load_file("{weights_file}"))\n'
        f"    model.eval()\n"
        f'"""\n'
        f"# Design: {title}\n"
        f"from __future__ import annotations\n\n"
        f"import torch\n"
        f"from torch import nn\n\n"
        f"INPUT_SHAPE = {input_shape}  # None is the batch dimension\n"
        f"INPUT_DTYPE = {input_dtype}\n",
    ]
    if dataset and len(compiled.input_nodes) == 1:
        parts.append(data_preparation_source(dataset))
    for cls in custom:
        parts.append("\n" + inspect.getsource(cls).rstrip() + "\n")
    if any("Chain(" in line for line in init_lines):
        parts.append("\n" + inspect.getsource(Chain).rstrip() + "\n")
    for block in classes.values():
        parts.append("\n" + block.source)
    body = "".join(line + "\n" for line in forward_lines)
    parts.append(
        "\nclass Model(nn.Module):\n"
        f'    """{comment_text(design.name) or "Netwright model"}: one attribute per layer."""\n\n'
        "    def __init__(self) -> None:\n"
        "        super().__init__()\n"
        + "".join(line + "\n" for line in init_lines) + "\n"
        f"    def forward(self, {', '.join(args)}):\n"
        f"{body}"
        f"        return {result}\n")
    return "\n".join(parts)


def _model_lines(design: Design, compiled: Compiled, classes: dict[str, BlockClass],
                 custom: list[type[nn.Module]]) -> tuple[list[str], list[str], list[str], str]:
    """``Model``'s ``__init__`` and ``forward`` lines, its argument names and what it returns."""
    inference = compiled.report.inference
    node_of = {path: nid for nid, path in compiled.paths.items()}
    members: dict[str, str] = {}  # module path → node id, in forward order
    forward_lines: list[str] = []
    args: list[str] = []
    result = ""

    def value(fx_node: fx.Node) -> str:  # the variable holding an fx node's value
        if fx_node.op == "call_module":
            return compiled.idents[node_of[str(fx_node.target)]]
        return str(fx_node.target) if fx_node.op == "placeholder" else fx_node.name

    for fx_node in compiled.module.graph.nodes:
        if fx_node.op == "call_module":
            members[str(fx_node.target)] = node_of[str(fx_node.target)]
    tree = module_tree(members)
    for fx_node in compiled.module.graph.nodes:
        if fx_node.op == "placeholder":
            args.append(str(fx_node.target))
        elif fx_node.op == "call_module":
            nid = node_of[str(fx_node.target)]
            call_args = ", ".join(value(a) for a in fx_node.args)
            node = design.node(nid)
            what = node.type + (f" ×{len(inference.expansions[nid])}"
                                if len(inference.expansions.get(nid, ())) > 1 else "")
            forward_lines.append(f"        {value(fx_node)} = "
                                 f"{attribute_source(str(fx_node.target), tree)}({call_args})"
                                 f"  # {what} -> N×{fmt_shape(inference.shapes[nid])}")
        elif fx_node.op == "call_function" and fx_node.target is operator.getitem:
            source, index = fx_node.args
            forward_lines.append(f"        {fx_node.name} = {value(source)}[{index}]")
        elif fx_node.op == "output":
            out = fx_node.args[0]
            names = [value(o) for o in (out if isinstance(out, (tuple, list)) else [out])]
            result = names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"
        else:  # pragma: no cover - the compiler only emits the kinds above
            raise ValueError(f"unexpected fx node {fx_node.op}")
    init_lines = members_source(members, lambda nid, head, indent, tail: _member_line(
        design, nid, head, indent, tail, inference, classes, custom))
    return init_lines, forward_lines, args, result


def _member_line(design: Design, nid: str, head: str, indent: str, tail: str, inference,
                 classes, custom) -> str:
    """``<head><constructor><tail>`` of one top-level layer or block instance (``head``:
    ``self.conv = ``, or the start of its container's item)."""
    if nid in inference.expansions:
        source = instance_source(design, nid, inference, classes, lambda v: literal(v[0]))
        return f"{indent}{head}{source}{tail}"
    node = design.node(nid)
    layer = CATALOG[node.type]
    params, ins = node.resolved_params(), inference.input_shapes[nid]
    cls = layer_class(layer, params, ins)
    if cls.__module__ == custom_modules.__name__ and cls not in custom:
        custom.append(cls)
    kwargs = layer.torch_kwargs(params, ins)
    return _call(f"{head}{_class_expr(cls)}", [f"{k}={literal(v)}" for k, v in kwargs.items()],
                 indent, tail)


def data_preparation_source(dataset: Mapping[str, Any]) -> str:
    """``CLASSES``, ``preprocess`` and ``postprocess`` as the training run prepared its data
    (see :class:`runtime.data.Normalization`): inputs are ``(x · scale − mean) / std``."""
    norm = dataset.get("normalization") or {}
    axis = norm.get("axis", "none")
    scale = float(norm.get("input_scale", 1.0))
    mean = [float(v) for v in norm.get("mean") or []]
    std = [float(v) for v in norm.get("std") or []]
    classes = [str(c) for c in dataset.get("class_names") or []]
    lines = [
        "",
        f"# Data the model was trained on: {comment_text(str(dataset.get('source', '')))}",
        f"TASK = {literal(str(dataset.get('task', '')))}",
        f"CLASSES = {literal(classes) if classes else '()'}  # output index -> class name",
        f"INPUT_SCALE = {literal(scale)}",
        f"INPUT_MEAN = {literal(mean) if axis != 'none' else '()'}",
        f"INPUT_STD = {literal(std) if axis != 'none' else '()'}",
        "",
        "",
        "def preprocess(x: torch.Tensor) -> torch.Tensor:",
        '    """A batch of raw samples, as stored in the dataset -> the inputs the model was trained on."""',
    ]
    if dataset.get("x_dtype") == "int64":
        lines.append("    return x.long()")
    elif axis == "none":
        lines.append("    return x.float() * INPUT_SCALE")
    else:
        rank = len(dataset.get("sample_shape") or [1])
        # feature: one value per entry of the last dimension; channel: one per channel.
        view = "(-1,)" if axis == "feature" else "(-1" + ", 1" * (rank - 1) + ")"
        lines += [
            f"    mean = torch.tensor(INPUT_MEAN, dtype=torch.float32).view({view})",
            f"    std = torch.tensor(INPUT_STD, dtype=torch.float32).view({view})",
            "    return (x.float() * INPUT_SCALE - mean) / std",
        ]
    target_mean, target_std = norm.get("target_mean"), norm.get("target_std")
    lines += ["", "", "def postprocess(y: torch.Tensor) -> torch.Tensor:"]
    if target_mean is not None and target_std is not None:
        lines += [
            '    """Model outputs -> predictions in the data\'s own units."""',
            f"    mean = torch.tensor({literal([float(v) for v in target_mean])})",
            f"    std = torch.tensor({literal([float(v) for v in target_std])})",
            "    return y.reshape(y.shape[0], -1) * std + mean",
        ]
    else:
        lines += ['    """Model outputs (class scores) -> predicted class indices."""',
                  "    return y.argmax(dim=-1)" if classes else "    return y"]
    return "\n".join(lines) + "\n"
