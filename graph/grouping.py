"""Group layers into a block and ungroup (inline) a block instance, as undoable graph edits.

:func:`group_into_block` and :func:`ungroup` change nothing: they return an :class:`Edit`, a list
of model steps whose :meth:`~Edit.apply` performs them through the design's own methods (so every
view follows its events) and whose :meth:`~Edit.revert` undoes them exactly, ids, link order
and all. An undo command is therefore ``redo = edit.apply(design)``, ``undo =
edit.revert(design)``.

Ports are found automatically: every distinct value entering the selection from outside becomes
an input port (an Input node ``x``, ``x_2`` … in the body), every distinct value leaving it an
output port (``out``, ``out_2`` …). :func:`flatten` inlines every block of a design (the flat
network the compiler would see), which benchmarks and tests compare against.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .blocks import BlockError, bind_params, expressions_of, is_expression, present
from .design import BlockDef, Design, Edge, Node
from .expr import ExprError, parse, substitute
from .layout import SPACING
from .shapes import infer


@dataclass
class Edit:
    """Model steps: ``("add_node", node, index)``, ``("remove_node", node, index)``,
    ``("add_edge", edge, index)``, ``("remove_edge", edge, index)``, ``("define", block, index)``.
    ``result`` is the id of the node that replaced the selection (group) or the new ids
    (ungroup)."""

    text: str
    steps: list[tuple[str, Any, int | None]] = field(default_factory=list)
    result: Any = None

    def apply(self, design: Design) -> None:
        for step in self.steps:
            _run(design, *step)

    def revert(self, design: Design) -> None:
        inverse = {"add_node": "remove_node", "remove_node": "add_node", "add_edge":
                   "remove_edge", "remove_edge": "add_edge", "define": "undefine"}
        for kind, item, index in reversed(self.steps):
            _run(design, inverse[kind], item, index)


def _run(design: Design, kind: str, item: Any, index: int | None) -> None:
    if kind == "add_node":
        design.add_node(item.clone(), index)
    elif kind == "remove_node":
        design.remove_node(item.id)
    elif kind == "add_edge":
        design.add_edge(item, index)
    elif kind == "remove_edge":
        design.remove_edge(item)
    elif kind == "define":
        design.blocks.define(item, index)
    elif kind == "undefine":
        design.blocks.remove(item.name)


def group_into_block(design: Design, node_ids: list[str], name: str | None = None) -> Edit:
    """An :class:`Edit` replacing the nodes ``node_ids`` with one instance of a new block holding
    them. Raises :class:`BlockError` for a selection that cannot be a block (Input/Output
    layers, or a selection a path leaves and re-enters)."""
    chosen = [n for n in design.nodes if n.id in set(node_ids)]
    if not chosen:
        raise BlockError("select the layers to group first")
    for node in chosen:
        layer = design.layer_of(node)
        if layer is None or layer.is_source or layer.is_sink:
            raise BlockError(f"{node.name} is an Input or Output layer; group the layers between")
    ids = {n.id for n in chosen}
    _check_contiguous(design, ids)
    block_name = name or _free_block_name(design, "Block")
    body = Design(block_name, library=design.blocks)
    body.arguments = _arguments_read(design, chosen)
    for node in chosen:
        body.add_node(node.clone())
    port_names = _add_ports(design, body, chosen, ids)
    block = BlockDef(block_name, body)
    edit = Edit(f"Group into {block_name}")
    instance = Node(design.new_id(), block_name, design.unique_name(block_name.lower()),
                    {arg: arg for arg in body.arguments}, _centre(chosen))
    edit.result = instance.id
    touching = [(i, e) for i, e in enumerate(design.edges) if e.src in ids or e.dst in ids]
    edit.steps += [("remove_edge", e, i) for i, e in reversed(touching)]
    order = design.node_ids_in_order()
    edit.steps += [("remove_node", n, order.index(n.id)) for n in reversed(chosen)]
    edit.steps += [("define", block, None), ("add_node", instance, order.index(chosen[0].id))]
    dropped = 0  # each new link takes its old one's place: merge layers keep their input order
    for i, e in touching:
        if e.src in ids and e.dst in ids:
            dropped += 1
            continue
        if e.dst in ids:
            new = Edge(e.src, instance.id, e.src_port, port_names[("in", e.src, e.src_port)])
        else:
            new = Edge(instance.id, e.dst, port_names[("out", e.src, e.src_port)], e.dst_port)
        if all(new != s[1] for s in edit.steps if s[0] == "add_edge"):
            edit.steps.append(("add_edge", new, i - dropped))
        else:
            dropped += 1
    return edit


def _arguments_read(design: Design, chosen: list[Node]) -> dict[str, int]:
    """The arguments of ``design`` (a block's body) that the ``chosen`` layers read: grouped
    inside it, they become the new block's arguments too, and its instance passes them on."""
    read: set[str] = set()
    for node in chosen:
        for _where, text in expressions_of(design.layer_of(node), node):
            try:
                read |= parse(text).names
            except ExprError:  # already an error on its layer: nothing to pass on
                pass
    return {name: value for name, value in design.arguments.items() if name in read}


def _ports(design: Design, ids: set[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The distinct ``(node, port)`` values entering and leaving the selection, in link order.
    When no link leaves it (the end of a network still being built), the outputs no layer
    reads yet are its outputs: the block keeps what its last layers compute."""
    ins: dict[tuple[str, str], None] = {}
    outs: dict[tuple[str, str], None] = {}
    for e in design.edges:
        if e.dst in ids and e.src not in ids:
            ins[(e.src, e.src_port)] = None
        if e.src in ids and e.dst not in ids:
            outs[(e.src, e.src_port)] = None
    if not outs:
        read = {(e.src, e.src_port) for e in design.edges}
        for node in design.nodes:
            layer = design.layer_of(node) if node.id in ids else None
            for port in layer.outputs if layer is not None else ():
                if (node.id, port.name) not in read:
                    outs[(node.id, port.name)] = None
    return list(ins), list(outs)


def _add_ports(design: Design, body: Design, chosen: list[Node], ids: set[str]) -> dict[tuple, str]:
    """Input/Output nodes for the values entering and leaving the selection, and the body's
    links in the design's link order; returns the port name of each ``("in"|"out", node,
    port)`` value."""
    ins, outs = _ports(design, ids)
    inference = infer(design)
    top = min(n.position[1] for n in chosen)
    bottom = max(n.position[1] for n in chosen)
    names: dict[tuple, str] = {}
    port_ids: dict[tuple, str] = {}
    for k, (src, port) in enumerate(ins):
        node = body.add_node(body.make_node("Input", name="x", position=(k * 160.0, top - 100)))
        shape = inference.edge_shape(Edge(src, src, port, "in"))
        if shape is not None:
            body.set_param(node.id, "shape", list(shape))
        names[("in", src, port)], port_ids[("in", src, port)] = node.name, node.id
    for k, (src, port) in enumerate(outs):
        node = body.add_node(body.make_node("Output", name="out",
                                            position=(k * 160.0, bottom + 100)))
        names[("out", src, port)], port_ids[("out", src, port)] = node.name, node.id
    for e in design.edges:
        if e.src in ids and e.dst in ids:
            body.add_edge(e)
        elif e.dst in ids:
            body.add_edge(Edge(port_ids[("in", e.src, e.src_port)], e.dst, "out", e.dst_port))
    for src, port in outs:
        body.add_edge(Edge(src, port_ids[("out", src, port)], port, "in"))
    return names


def _check_contiguous(design: Design, ids: set[str]) -> None:
    """No path may leave the selection and come back: the block would feed itself."""
    outside = {e.dst for nid in ids for e in design.out_edges(nid) if e.dst not in ids}
    seen, stack = set(outside), list(outside)
    while stack:
        nid = stack.pop()
        for e in design.out_edges(nid):
            if e.dst in ids:
                raise BlockError(f"{design.node(nid).name} lies between selected layers; "
                                 "select it too, or fewer layers")
            if e.dst not in seen:
                seen.add(e.dst)
                stack.append(e.dst)


def _centre(nodes: list[Node]) -> tuple[float, float]:
    xs = [n.position[0] for n in nodes]
    ys = [n.position[1] for n in nodes]
    return (sum(xs) / len(xs), sum(ys) / len(ys))


def _free_block_name(design: Design, base: str) -> str:
    name, i = base, 2
    while name in design.blocks:
        name, i = f"{base}_{i}", i + 1
    return name


def ungroup(design: Design, instance_id: str) -> Edit:
    """An :class:`Edit` replacing a block instance with the layers of its copies, params bound
    to each copy's arguments (absent layers left out). The definition stays."""
    node = design.node(instance_id)
    if not node.is_block:
        raise BlockError(f"{node.name} is not a block instance")
    block = design.blocks[node.type]
    layer = design.layer_of(node)
    inside = design.blocks.owner is not design  # params may read the outer block's arguments
    params = layer.resolve(bind_params(layer, node.params, design.arguments)
                           if inside else node.params)
    base = {a: params[a] for a in block.args}
    if inside and node.when:
        _check_chain(block, node)
    if inside and isinstance(node.params.get("repeat"), str):
        raise BlockError(f"{node.name} repeats {node.params['repeat']} times, as the block's "
                         "arguments say: its copies cannot be written out as layers (each "
                         "instance may repeat it differently); set a number first")
    allocator = design.allocator()
    allocator.name(node.name)
    edit = Edit(f"Ungroup {node.name}")
    index = design.node_ids_in_order().index(instance_id)
    touching = [(i, e) for i, e in enumerate(design.edges) if instance_id in (e.src, e.dst)]
    edit.steps += [("remove_edge", e, i) for i, e in reversed(touching)]
    edit.steps.append(("remove_node", node, index))
    values = [next(((e.src, e.src_port) for _, e in touching
                    if e.dst == instance_id and e.dst_port == p.name), None) for p in layer.inputs]
    added: list[str] = []
    raw = layer.resolve(node.params)
    for i, offset in enumerate(_copy_offsets(design, node, block.body, params["repeat"])):
        args = {**base, **(params["first"] or {})} if i == 0 else base
        copy = _Copy(args)
        if inside:  # each argument as text over the outer block's: "width * 2"
            given = {**raw, **(raw["first"] or {})} if i == 0 else raw
            copy = _Copy(args, {a: str(given[a]) for a in block.args}, node.when)
        values = _inline_copy(block.body, copy, values, allocator, offset, edit, added)
    dropped = 0  # each new link takes its old one's place: merge layers keep their input order
    for i, e in touching:
        k = [p.name for p in layer.outputs].index(e.src_port) if e.src == instance_id else None
        if k is None or values[k] is None:
            dropped += 1
            continue
        edit.steps.append(("add_edge", Edge(values[k][0], e.dst, values[k][1], e.dst_port),
                           i - dropped))
    edit.result = added
    return edit


def _copy_offsets(design: Design, instance: Node, body: Design, repeat: int) -> list[tuple]:
    """Where each inlined copy's body positions move to: the first copy's layers start where
    the instance stood, each next copy one step beyond the previous along the flow."""
    ports = {n.id for n in body.inputs() + body.outputs()}
    layers = [n.position for n in body.nodes if n.id not in ports]
    if not layers:
        return [instance.position] * repeat
    flow = (design.blocks.owner or design).flow
    axis = 1 if flow == "down" else 0
    low = (min(p[0] for p in layers), min(p[1] for p in layers))
    stride = max(p[axis] for p in layers) - low[axis] + SPACING[flow][0]
    offsets = []
    for i in range(repeat):
        offset = [instance.position[0] - low[0], instance.position[1] - low[1]]
        offset[axis] += i * stride
        offsets.append((offset[0], offset[1]))
    return offsets


@dataclass
class _Copy:
    """How one copy's layers are bound: ``args``, its argument values; inside a block also
    ``symbols``, each argument as text over the outer block's arguments (the layers keep
    reading those), and ``when``, the instance's own condition, which its layers take."""

    args: dict[str, int]
    symbols: dict[str, str] | None = None
    when: str | None = None

    def condition(self, node: Node) -> str | bool:
        """The layer's "present when": True (always), False (never) or a condition."""
        if self.symbols is None:
            return present(node, self.args)
        own = _substituted(node.when, self.symbols, "when") if node.when else True
        own = own if isinstance(own, str) else bool(own)
        if own is False or not self.when:
            return own
        return self.when if own is True else f"({self.when}) and ({own})"

    def params(self, layer, params: dict[str, Any]) -> dict[str, Any]:
        if self.symbols is None:
            return bind_params(layer, params, self.args)
        out = dict(params)
        for name, value in params.items():
            param = _param(layer, name)
            if is_expression(param, value):
                out[name] = self._bound(value, param)
        return out

    def _bound(self, value: Any, param) -> Any:
        """One param's value reading the outer arguments (its items, for a list or dict)."""
        if isinstance(value, dict):
            return {k: self._bound(v, None) for k, v in value.items()}
        if isinstance(value, list):
            return [self._bound(v, None) for v in value]
        if not isinstance(value, str):
            return value
        return _substituted(value, self.symbols, f"params.{param.name if param else ''}", param)


def _substituted(text: str, symbols: dict[str, str], where: str, param=None) -> Any:
    """``text`` reading the outer arguments; a number (a yes/no for a bool param) where it reads
    none any more."""
    try:
        result = substitute(text, symbols)
        expr = parse(result)
        if expr.names:
            return result
        value = expr.evaluate({})
    except ExprError as exc:
        raise BlockError(f"cannot inline {text!r}: {exc}", where) from None
    return bool(value) if param is not None and param.kind == "bool" else value


def _param(layer, name: str):
    try:
        return layer.param(name)
    except KeyError:
        return None


def _check_chain(block: BlockDef, node: Node) -> None:
    """An instance present only sometimes can be ungrouped where its layers, each taking its
    condition, pass their input on in its place: a chain of one-in, one-out layers."""
    body = block.body
    for inner in body.nodes:
        layer = body.layer_of(inner)
        if not (layer.is_source or layer.is_sink) and (len(body.in_edges(inner.id)) != 1
                                                        or len(layer.outputs) != 1):
            raise BlockError(f"{node.name} is present only when {node.when}, and {inner.name} "
                             "inside it has several inputs or outputs: its layers cannot take "
                             "that condition one by one")


def _inline_copy(body: Design, copy: _Copy, values: list, allocator, offset,
                 edit: Edit, added: list[str]) -> list:
    """Steps adding one copy of ``body``; ``values`` feed its inputs. Returns its outputs."""
    value_of: dict[tuple[str, str], Any] = {}
    for node, value in zip(body.inputs(), values):
        value_of[(node.id, "out")] = value
    for nid in infer(body, None, copy.args).order:
        inner = body.node(nid)
        layer = body.layer_of(inner)
        if layer.is_source or layer.is_sink:
            continue
        sources = [value_of.get((e.src, e.src_port)) for e in body.in_edges(nid)]
        condition = copy.condition(inner)
        if condition is False:
            value_of[(nid, layer.outputs[0].name)] = sources[0] if sources else None
            continue
        copy_node = inner.clone(id=allocator.new_id(), name=allocator.name(inner.name),
                                when=None if condition is True else condition,
                                params=copy.params(layer, inner.params),
                                position=(inner.position[0] + offset[0],
                                          inner.position[1] + offset[1]))
        edit.steps.append(("add_node", copy_node, None))
        added.append(copy_node.id)
        for e, source in zip(body.in_edges(nid), sources):
            if source is not None:
                edit.steps.append(("add_edge", Edge(source[0], copy_node.id, source[1],
                                                    e.dst_port), None))
        for port in layer.outputs:
            value_of[(nid, port.name)] = (copy_node.id, port.name)
    return [next((value_of.get((e.src, e.src_port)) for e in body.in_edges(n.id)), None)
            for n in body.outputs()]


def flatten(design: Design) -> Design:
    """A copy of ``design`` with every block instance inlined, recursively (no blocks used)."""
    flat = design.copy()
    while True:
        instance = next((n for n in flat.nodes if n.is_block), None)
        if instance is None:
            return flat
        ungroup(flat, instance.id).apply(flat)
