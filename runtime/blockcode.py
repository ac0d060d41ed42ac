"""Python source of block definitions, for :mod:`runtime.codegen`: one class per block.

Each block used by a design becomes a class whose constructor takes the block's arguments —
plus, where a layer's size differs between copies in a way no argument explains (a first
convolution's ``in_channels``), one more constructor parameter — and builds its layers with
arguments written as the design wrote them (``out_channels=planes * 4``). A layer that is
present only when a condition holds is ``None`` otherwise (torchvision's ``downsample``), a plain
chain block is an ``nn.Sequential`` subclass, and a Repeat ×N is an ``nn.Sequential`` of copies.
Module names equal the compiler's, so a ``state_dict`` of the compiled model loads as it is.

The values are worked out from every copy of every instance in the design (the compiler's
expansions): a constructor argument is a literal when all copies agree, else the first of these
that gives every copy's value: a block argument, an expression of the body, the input's size.
"""
from __future__ import annotations

import ast
import builtins
import heapq
import inspect
import keyword
from dataclasses import dataclass, field
from typing import Any, Callable

from torch import nn

from graph.blocks import is_expression
from graph.catalog import CATALOG
from graph.design import Design
from graph.expr import parse
from graph.shapes import Expansion, Inference

from . import modules as custom_modules
from .compiler import body_names, chain_order, is_module_list, layer_class, module_tree
from .pysource import call_source, comment_text, literal

RESERVED = {"self", "nn", "torch", "super", "Model", "Chain", "layers", "x", "xs"}


@dataclass
class BlockClass:
    """The generated class of one block: its name, constructor parameters and source."""

    name: str
    params: list[str]
    values: Callable[[Expansion], dict[str, Any]]  # constructor arguments of one copy
    source: str = ""
    custom: list[type[nn.Module]] = field(default_factory=list)


def block_classes(design: Design, inference: Inference) -> dict[str, BlockClass]:
    """A class for every block the design uses, those a block uses before it."""
    copies: dict[str, list[Expansion]] = {}
    _collect(inference, copies)
    names = _class_names(design, copies)
    shadowing = frozenset(names.values()) | _custom_names()
    classes: dict[str, BlockClass] = {}
    for block in _dependency_order(design, copies):
        classes[block] = _block_class(design, block, copies[block], names, classes, shadowing)
    return classes


def instance_source(design: Design, node_id: str, inference: Inference,
                    classes: dict[str, BlockClass], render: Callable[[list[Any]], str]) -> str:
    """The constructor call of an instance (``nn.Sequential`` of its copies when repeated);
    ``render`` turns the values a parameter takes in each context into source."""
    copies = inference.expansions[node_id]
    cls = classes[copies[0].block]

    def call(index: int) -> str:
        values = cls.values(copies[index])
        return f"{cls.name}(" + ", ".join(f"{p}={render([values[p]])}" for p in cls.params) + ")"

    if len(copies) == 1:
        return call(0)
    wrapper = "nn.Sequential" if len(design.layer_of(design.node(node_id)).inputs) == 1 else "Chain"
    rest = {call(i) for i in range(1, len(copies))}
    if len(rest) == 1 and len(copies) > 3:
        return f"{wrapper}({call(0)}, *[{rest.pop()} for _ in range({len(copies) - 1})])"
    return f"{wrapper}(" + ", ".join(call(i) for i in range(len(copies))) + ")"


def _collect(inference: Inference, out: dict[str, list[Expansion]]) -> None:
    for copies in inference.expansions.values():
        for copy in copies:
            out.setdefault(copy.block, [])
            if all(copy is not known for known in out[copy.block]):
                out[copy.block].append(copy)
                _collect(copy.inference, out)


def _dependency_order(design: Design, copies: dict[str, list[Expansion]]) -> list[str]:
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for used in sorted(design.blocks[name].uses()):
            if used in copies:
                visit(used)
        order.append(name)

    for name in copies:
        visit(name)
    return order


def _custom_names() -> frozenset[str]:
    """The names :mod:`runtime.modules` defines (the generated file copies its classes in)."""
    return frozenset(name for name in dir(custom_modules) if not name.startswith("_"))


def _class_names(design: Design, copies: dict[str, list[Expansion]]) -> dict[str, str]:
    custom = _custom_names()
    out = {}
    for name in copies:
        ident = name
        while (keyword.iskeyword(ident) or hasattr(builtins, ident) or ident in RESERVED
               or ident in custom or hasattr(nn, ident) or ident in out.values()):
            ident += "_"
        out[name] = ident
    return out


def _arg_name(name: str, shadowing: frozenset[str] = frozenset()) -> str:
    """A block argument as a Python parameter name that shadows nothing we use: no keyword,
    builtin or name of ours, nor one of ``shadowing`` (the classes the generated file defines:
    an argument named ``RecurrentLSTM`` hid that class from the block's constructor)."""
    while (keyword.iskeyword(name) or hasattr(builtins, name) or name in RESERVED
           or name in shadowing):
        name += "_"
    return name


def _render_expression(text: str, shadowing: frozenset[str] = frozenset()) -> str:
    tree = parse_tree(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            node.id = _arg_name(node.id, shadowing)
    return ast.unparse(tree)


def parse_tree(text: str) -> ast.Expression:
    parse(text)  # the whitelist: only what it accepts is rendered
    return ast.parse(text.strip(), mode="eval")


class _Slots:
    """Rendering of values that vary between copies of one block: literals, arguments, body
    expressions, input sizes, or extra constructor parameters."""

    def __init__(self, design: Design, block: str, copies: list[Expansion],
                 shadowing: frozenset[str]) -> None:
        body = design.blocks[block].body
        self.copies, self.shadowing = copies, shadowing
        self.candidates: list[tuple[str, Callable[[Expansion], Any]]] = [
            (_arg_name(a, shadowing), lambda c, a=a: c.args[a]) for a in design.blocks[block].args]
        for node in body.nodes:
            layer = body.layer_of(node)
            declared = {p.name: p for p in layer.params} if layer is not None else {}
            for name, value in node.params.items():
                if isinstance(value, str) and is_expression(declared.get(name), value):
                    self.candidates.append((_render_expression(value, shadowing),
                                            lambda c, t=value: parse(t).evaluate(c.args)))
        for k, node in enumerate(body.inputs()):
            suffix = f"_{k + 1}" if k else ""
            self.candidates.append((f"in_channels{suffix}",
                                    lambda c, n=node.id: c.inference.shapes[n][0]))
        self.extras: dict[str, Callable[[Expansion], Any]] = {}
        self.used_inputs: set[str] = set()

    def render(self, values: list[Any], hint: str, written: Any = None) -> str:
        """Source giving ``values[i]`` in copy ``i`` (``None`` where a layer is absent);
        ``written`` is the param as the design wrote it, kept when it is an expression that
        gives every value (``stride`` stays ``stride`` even where all copies use 2)."""
        present = [(c, _compact(v)) for c, v in zip(self.copies, values) if v is not None]
        if isinstance(written, str) and present:
            try:
                if all(parse(written).evaluate(c.args) == v for c, v in present):
                    return _render_expression(written, self.shadowing)
            except (ValueError, ArithmeticError):
                pass
        if not present or all(v == present[0][1] for _, v in present):
            return literal(present[0][1]) if present else "None"
        for text, value in self.candidates:
            try:
                if all(value(c) == v for c, v in present):
                    if text.startswith("in_channels"):
                        self.used_inputs.add(text)
                    return text
            except (KeyError, IndexError, ValueError, ArithmeticError):
                continue
        name = _fresh(hint, {t for t, _ in self.candidates} | set(self.extras))
        table = {id(c): v for c, v in zip(self.copies, values)}
        self.extras[name] = lambda c: table[id(c)]
        return name


def _compact(value: Any) -> Any:
    """``(3, 3)`` as ``3``: torch takes one int for a square size, as people write it."""
    if isinstance(value, (tuple, list)) and value and all(
            isinstance(v, int) and not isinstance(v, bool) and v == value[0] for v in value):
        return value[0]
    return value


def _fresh(hint: str, taken: set[str]) -> str:
    name, i = hint, 2
    while name in taken:
        name, i = f"{hint}_{i}", i + 1
    return name


def _block_class(design: Design, block: str, copies: list[Expansion], names: dict[str, str],
                 classes: dict[str, BlockClass], shadowing: frozenset[str]) -> BlockClass:
    body = design.blocks[block].body
    slots = _Slots(design, block, copies, shadowing)
    idents, paths = body_names(body)
    inits, custom = _member_lines(design, body, copies, idents, slots, classes)
    args = [_arg_name(a, shadowing) for a in design.blocks[block].args]
    params = args + sorted(slots.used_inputs) + list(slots.extras)
    inputs = {f"in_channels{'_' + str(k + 1) if k else ''}": n.id
              for k, n in enumerate(body.inputs())}

    def values(copy: Expansion) -> dict[str, Any]:
        out = {_arg_name(a, shadowing): copy.args[a] for a in design.blocks[block].args}
        out.update({p: copy.inference.shapes[inputs[p]][0] for p in slots.used_inputs})
        out.update({p: fn(copy) for p, fn in slots.extras.items()})
        return out

    name = names[block]
    doc = design.blocks[block].description or f"Block {block}."
    signature = ", ".join(["self"] + params)
    chain = chain_order(body, copies[0].inference)
    if chain is not None and all(chain_order(body, c.inference) is not None for c in copies):
        source = _sequential_source(name, doc, signature, inits)
    else:
        source = _module_source(name, doc, signature, inits, body, idents, paths)
    return BlockClass(name, params, values, source, custom)


def _member_lines(design: Design, body: Design, copies: list[Expansion], idents, slots: _Slots,
                  classes: dict[str, BlockClass]) -> tuple[list[tuple[str, str, str | None]], list]:
    """``(ident, constructor source, condition)`` for every layer of the body, in node order."""
    lines, custom = [], []
    for node in body.nodes:
        layer = body.layer_of(node)
        if layer.is_source or layer.is_sink:
            continue
        when = _render_expression(node.when, slots.shadowing) if node.when else None
        if node.type in design.blocks:
            source = _nested_source(body, node.id, copies, slots, classes)
        else:
            source, cls = _layer_source(body, node, layer, copies, slots, idents[node.id])
            if cls.__module__ == custom_modules.__name__:
                custom.append(cls)
        lines.append((idents[node.id], source, when))
    return lines, custom


def _layer_source(body: Design, node, layer, copies: list[Expansion], slots: _Slots,
                  ident: str):
    per_copy, cls = [], None
    for copy in copies:
        inference = copy.inference
        if node.id in inference.absent or node.id not in inference.input_shapes:
            per_copy.append(None)
            continue
        params = layer.resolve(inference.bound.get(node.id, node.params))
        per_copy.append(layer.torch_kwargs(params, inference.input_shapes[node.id]))
        # the first present copy picks the class (e.g. a convolution with uneven padding)
        cls = cls or layer_class(layer, params, inference.input_shapes[node.id])
    cls = cls or layer_class(layer)
    keys = next((list(k) for k in per_copy if k is not None), [])
    defaults = _defaults(cls)
    args = []
    for k in keys:
        text = slots.render([None if kw is None else kw[k] for kw in per_copy], f"{ident}_{k}",
                            node.params.get(k))
        if k not in defaults or text != literal(_compact(defaults[k])):
            args.append(f"{k}={text}")
    head = cls.__name__ if cls.__module__ == custom_modules.__name__ else f"nn.{cls.__name__}"
    return (head, args), cls


def _defaults(cls: type) -> dict[str, Any]:
    """The constructor defaults of ``cls`` (arguments equal to them are left out)."""
    try:
        parameters = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - a builtin without a signature
        return {}
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty
            and (p.default is None or isinstance(p.default, (bool, int, float, str, tuple)))}


def _nested_source(body: Design, nid: str, copies: list[Expansion], slots: _Slots,
                   classes: dict[str, BlockClass]) -> str:
    present = [c for c in copies if nid in c.inference.expansions]
    inner = [c.inference.expansions[nid] for c in present]
    cls = classes[inner[0][0].block]
    counts = {len(x) for x in inner}

    params = body.node(nid).params

    def args(pick: Callable[[list[Expansion]], Expansion]) -> list[str]:
        table = {id(c): cls.values(pick(x)) for c, x in zip(present, inner)}
        out = []
        for p in cls.params:
            values = [table[id(c)][p] if id(c) in table else None for c in copies]
            out.append(f"{p}={slots.render(values, p, params.get(p))}")
        return out

    if counts == {1}:
        return cls.name, args(lambda x: x[0])
    repeat = slots.render([len(c.inference.expansions[nid]) if nid in c.inference.expansions
                           else None for c in copies], "repeat")
    first, rest = (f"{cls.name}({', '.join(args(pick))})" for pick in (lambda x: x[0],
                                                                        lambda x: x[-1]))
    return "nn.Sequential", [first, f"*[{rest} for _ in range({repeat} - 1)]"]


def _sequential_source(name: str, doc: str, signature: str, inits) -> str:
    lines = [f"class {name}(nn.Sequential):", f'    """{_doc(doc)}"""', "",
             f"    def __init__({signature}) -> None:", "        layers = []"]
    for _ident, (head, args), when in inits:
        indent = " " * (12 if when else 8)
        if when:
            lines.append(f"        if {when}:")
        lines.append(call_source(f"layers.append({head}", args, indent, ")"))
    lines.append("        super().__init__(*layers)")
    return "\n".join(lines) + "\n"


def _module_source(name: str, doc: str, signature: str, inits, body: Design, idents,
                   paths) -> str:
    lines = [f"class {name}(nn.Module):", f'    """{_doc(doc)}"""', "",
             f"    def __init__({signature}) -> None:", "        super().__init__()"]
    node_of = {ident: nid for nid, ident in idents.items()}
    members = {paths[node_of[ident]]: (source, when) for ident, source, when in inits}

    def member(value, head: str, indent: str, tail: str) -> str:
        (call, args), when = value
        return call_source(f"{head}{call}", args, indent,
                           (f" if {when} else None" if when else "") + tail)

    lines += members_source(members, member)
    tree = module_tree(members)
    attributes = {nid: attribute_source(paths[nid], tree) for nid in node_of.values()
                  if paths[nid] in members}
    lines += ["", _forward_source(body, idents, attributes, {i for i, _s, w in inits if w})]
    return "\n".join(lines) + "\n"


def members_source(members: dict[str, Any], member: Callable[[Any, str, str, str], str]
                   ) -> list[str]:
    """``__init__`` lines registering ``members`` (module path → what ``member`` writes, in
    order) on ``self`` in the containers the compiler makes for them
    (:func:`runtime.compiler.place_modules`); ``member(value, head, indent, tail)`` writes one
    constructor call."""
    lines = []
    for name, value in module_tree(members).items():
        if name.isdigit():  # a block's layer named 0
            head, tail = f'self.add_module("{name}", ', ")"
        else:
            head, tail = f"self.{name} = ", ""
        lines += _member_source(value, head, " " * 8, tail, member)
    return lines


def _member_source(value: Any, head: str, indent: str, tail: str, member) -> list[str]:
    if not isinstance(value, dict):
        return [member(value, head, indent, tail)]
    listed = is_module_list(value)
    lines = [f"{indent}{head}nn.{'ModuleList([' if listed else 'ModuleDict({'}"]
    for key, item in value.items():
        lines += _member_source(item, "" if listed else f"{key!r}: ", indent + "    ", ",", member)
    return lines + [f"{indent}{'])' if listed else '})'}{tail}"]


def attribute_source(path: str, tree: dict[str, Any]) -> str:
    """How generated code reaches the module at ``path`` of ``tree`` (:func:`runtime.compiler.
    module_tree`): ``self.conv``, ``self.downs[0]``, ``getattr(self, "0")``."""
    first, *rest = path.split(".")
    text = f'getattr(self, "{first}")' if first.isdigit() else f"self.{first}"
    branch = tree[first]
    for part in rest:
        if is_module_list(branch):
            text += f"[{part}]"
        else:
            text += f'["{part}"]' if part.isdigit() else f".{part}"
        branch = branch[part]
    return text


def _forward_source(body: Design, idents: dict[str, str], attributes: dict[str, str],
                    optional: set[str]) -> str:
    inputs = [idents[n.id] for n in body.inputs()]
    lines = [f"    def forward(self, {', '.join(inputs)}):"]

    def ref(edge) -> str:
        layer = body.layer_of(body.node(edge.src))
        name = idents[edge.src]
        if len(layer.outputs) > 1:
            return f"{name}[{[p.name for p in layer.outputs].index(edge.src_port)}]"
        return name

    for nid in _reading_order(body):
        layer = body.layer_of(body.node(nid))
        if layer.is_source or layer.is_sink:
            continue
        ident = idents[nid]
        args = ", ".join(ref(e) for e in body.in_edges(nid))
        call = f"{attributes[nid]}({args})"
        if ident in optional:
            call = f"{call} if {attributes[nid]} is not None else {args}"
        lines.append(f"        {ident} = {call}")
    outs = [ref(body.in_edges(n.id)[0]) for n in body.outputs()]
    lines.append(f"        return {outs[0] if len(outs) == 1 else '(' + ', '.join(outs) + ')'}")
    return "\n".join(lines)


def _reading_order(body: Design) -> list[str]:
    """A topological order that keeps to the node order wherever it can (as people write a
    forward: the shortcut where the design has it, not as soon as it could run)."""
    rank = {nid: i for i, nid in enumerate(body.node_ids_in_order())}
    indegree = {nid: len(body.in_edges(nid)) for nid in rank}
    ready = [(rank[nid], nid) for nid, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, nid = heapq.heappop(ready)
        order.append(nid)
        for e in body.out_edges(nid):
            indegree[e.dst] -= 1
            if indegree[e.dst] == 0:
                heapq.heappush(ready, (rank[e.dst], e.dst))
    return order


def _doc(text: str) -> str:
    return comment_text(text, 100) or "A block."
