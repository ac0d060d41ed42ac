"""Blocks: named sub-networks defined once in a design and used as nodes, with Repeat ×N.

API (for the canvas, layer, import and template code)
------------------------------------------------------
**Definitions.** ``design.blocks`` is the design's :class:`BlockLibrary` (shared by the design
and every block body, so blocks may use blocks). List: ``design.blocks.names()`` /
``for block in design.blocks``; look up: ``design.blocks.get(name)`` → :class:`BlockDef` or None.
A :class:`BlockDef` has ``name``, ``description``, ``args`` (``{name: default int}``, ordered)
and ``body``: a :class:`~graph.design.Design` holding the inner network. The body's Input nodes
are the block's input ports and its Output nodes its output ports (port name = node name, in
node order; several of each allowed). Edit a body with the ordinary ``Design`` methods
(``body.add_node``, ``body.set_param`` …): every body edit, :meth:`BlockLibrary.set_args`,
:meth:`~BlockLibrary.set_description`, :meth:`~BlockLibrary.rename`, ``define`` and ``remove``
emits ``design.block_changed(name)`` / ``block_added(name)`` / ``block_removed(name)`` and
``design.changed`` on the top-level design, so views and caches follow. Create one with
``design.new_block(name, args)`` (empty body) or :func:`graph.grouping.group_into_block`.

**Params inside a body** may be a literal, an argument name or integer arithmetic on arguments
(``"channels * 4"``, ``+ - * // %`` and parentheses; see :mod:`graph.expr`) wherever the param
is numeric (int, float, size, ints — list items too) or a bool. ``node.when`` (a string, or
None) makes a 1-in/1-out inner node *present when* the condition holds; otherwise it is an
identity (no module, no params), as torchvision's ``downsample=None``.
:func:`bind_params` gives a node's concrete params for given argument values.

**Instances.** A block instance is an ordinary :class:`~graph.design.Node` whose ``type`` is
the block's name (block names never equal a catalog type id). Its ``params`` are the block's
arguments (missing ones take the defaults), ``repeat`` (copies stacked in sequence; with N > 1
the block needs as many outputs as inputs, output k feeding input k of the next copy) and
``first`` (``{arg: value}`` for the first copy only, e.g. ``{"stride": 2, "project": 1}``).
``node.layer`` / ``design.layer_of(node)`` is a :class:`~graph.catalog.LayerType` made from the
definition (:meth:`BlockLibrary.layer_type`: category ``"Blocks"``, ports, params), so
inspectors and canvases treat it like any layer. Shapes, params and MACs of instances come from
:func:`graph.shapes.infer`, which also keeps each instance's expansion
(``Inference.expansions[node_id]``: one body ``Inference`` per copy).

**Paths.** An inner layer is named ``instance[.copy] › inner`` (``layer3.0 › conv2``; the copy
index appears when ``repeat`` > 1), nested blocks add further steps. The compiled module paths
are the same with dots (``layer3.0.conv2``). ``NodeError.path`` (graph.shapes) holds the steps;
validation pins such an error to the top-level instance with the path in its message.

**Editing.** :func:`graph.grouping.group_into_block` (ports found automatically) and
:func:`graph.grouping.ungroup` return an ``Edit``: ``edit.apply(design)`` / ``edit.revert(design)``
(one undo step), ``edit.result`` the new instance id (group) or the inlined node ids (ungroup).
:func:`graph.grouping.flatten` inlines every block. :mod:`graph.block_args` manages a block's
arguments the same way (add, rename — inner expressions and instances follow —, default,
remove, make a param one). :mod:`graph.templates` builds designs from blocks
(``build("resnet50")``, ``rebuild(design, {"depth": 34})``).

**Compiled.** :mod:`runtime.compiler`: one module per copy (a ``BlockModule`` subclass named
after the block, or an ``nn.Sequential`` for a plain chain), a Repeat an ``nn.Sequential`` of
copies; :mod:`runtime.blockcode` writes one Python class per block for the exporter.
"""
from __future__ import annotations

import keyword
import re
from typing import Any, Iterator, Mapping, Protocol

from .catalog import CATALOG, LayerType, Param, Port, ShapeError
from .events import Signal
from .expr import ExprError, parse


class Network(Protocol):
    """What this module needs of a :class:`graph.design.Design` (which imports this module)."""

    name: str
    arguments: dict[str, int]
    blocks: "BlockLibrary"
    changed: Signal

    @property
    def nodes(self) -> list[Any]: ...

    def inputs(self) -> list[Any]: ...

    def outputs(self) -> list[Any]: ...

    def set_node_type(self, node_id: str, type_id: str) -> None: ...

    def __len__(self) -> int: ...


class InnerNode(Protocol):
    """What this module needs of a :class:`graph.design.Node`."""

    type: str
    name: str
    params: dict[str, Any]
    when: str | None


BLOCK_CATEGORY = "Blocks"
PATH_SEPARATOR = " › "
RESERVED_ARGS = ("repeat", "first")
MAX_REPEAT = 100_000
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EXPRESSION_KINDS = ("int", "float", "size", "ints", "bool", "args")


class BlockError(ValueError):
    """A block edit or definition the model refuses; ``where`` names the place."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"{message} at {where}" if where else message)
        self.reason = message
        self.where = where


class BlockDef:
    """One block definition: its name, description and body (whose ``arguments`` are the
    block's arguments with their defaults)."""

    def __init__(self, name: str, body: Network, description: str = "") -> None:
        self.name = name
        self.body = body
        self.description = description
        self.cache: dict[Any, Any] = {}  # graph.shapes' expansions, cleared on every change

    @property
    def args(self) -> dict[str, int]:
        return self.body.arguments

    def uses(self) -> set[str]:
        """Names of the blocks this body instantiates directly."""
        library = self.body.blocks
        return {n.type for n in self.body.nodes if n.type in library}


class BlockLibrary:
    """The block definitions of one design, by name, in definition order."""

    def __init__(self) -> None:
        self._defs: dict[str, BlockDef] = {}
        self._types: dict[str, LayerType] = {}
        self.added = Signal()  # (name)
        self.removed = Signal()  # (name)
        self.changed = Signal()  # (name) args, description or body edited
        self.owner: Network | None = None  # the top-level design (for renames)

    # ---- queries ---------------------------------------------------------------------------

    def names(self) -> list[str]:
        return list(self._defs)

    def get(self, name: str) -> BlockDef | None:
        return self._defs.get(name)

    def __getitem__(self, name: str) -> BlockDef:
        return self._defs[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._defs

    def __iter__(self) -> Iterator[BlockDef]:
        return iter(list(self._defs.values()))

    def __len__(self) -> int:
        return len(self._defs)

    def layer_type(self, name: str) -> LayerType | None:
        """The declaration of block ``name`` as a layer type (ports, params, label)."""
        block = self._defs.get(name)
        if block is None:
            return None
        if name not in self._types:
            self._types[name] = _declaration(block)
        return self._types[name]

    def users(self, name: str) -> list[str]:
        """Blocks whose body uses ``name`` directly."""
        return [b.name for b in self._defs.values() if name in b.uses()]

    def closure(self, names: Iterator[str] | list[str]) -> list[str]:
        """The blocks among ``names`` and every block they use, in definition order."""
        wanted, stack = set(), [n for n in names if n in self._defs]
        while stack:
            name = stack.pop()
            if name not in wanted:
                wanted.add(name)
                stack.extend(self._defs[name].uses())
        return [n for n in self._defs if n in wanted]

    def cycle_through(self, name: str) -> list[str] | None:
        """A chain of uses leading from ``name`` back to itself, or None."""
        stack: list[tuple[str, list[str]]] = [(name, [name])]
        seen: set[str] = set()
        while stack:
            current, path = stack.pop()
            block = self._defs.get(current)
            for used in sorted(block.uses()) if block else ():
                if used == name:
                    return path + [name]
                if used not in seen:
                    seen.add(used)
                    stack.append((used, path + [used]))
        return None

    # ---- mutations -------------------------------------------------------------------------

    def define(self, block: BlockDef, index: int | None = None) -> BlockDef:
        """Add ``block`` (at ``index`` of the definition order; undo restores it there)."""
        check_block_name(block.name, self)
        if block.body.blocks is not self:
            raise BlockError(f"the body of {block.name} belongs to another design")
        items = list(self._defs.items())
        items.insert(len(items) if index is None else index, (block.name, block))
        self._defs = dict(items)
        block.body.changed.connect(self._body_changed(block))
        self._invalidate()
        self.added.emit(block.name)
        return block

    def remove(self, name: str) -> BlockDef:
        block = self._defs.pop(name)
        block.body.changed.disconnect(getattr(block, "_relay", None))
        self._invalidate()
        self.removed.emit(name)
        return block

    def index(self, name: str) -> int:
        return list(self._defs).index(name)

    def set_args(self, name: str, args: Mapping[str, int]) -> None:
        """Replace the arguments (and defaults) of block ``name``."""
        block = self._defs[name]
        for arg, value in args.items():
            check_arg_name(arg, f"blocks.{name}.args.{arg}")
            if isinstance(value, bool) or not isinstance(value, int):
                raise BlockError(f"the default of {arg} must be a whole number",
                                 f"blocks.{name}.args.{arg}")
        if dict(args) == block.args and list(args) == list(block.args):
            return
        block.body.arguments = dict(args)
        self._changed(name)

    def set_description(self, name: str, text: str) -> None:
        block = self._defs[name]
        if block.description != text:
            block.description = text
            self._changed(name)

    def rename(self, old: str, new: str) -> None:
        """Rename a block and every instance of it (in the design and in other bodies)."""
        if old == new:
            return
        check_block_name(new, self)
        block = self._defs[old]
        self._defs = {(new if k == old else k): v for k, v in self._defs.items()}
        block.name = new
        designs = [b.body for b in self._defs.values()] + ([self.owner] if self.owner else [])
        for design in designs:
            for node in design.nodes:
                if node.type == old:
                    design.set_node_type(node.id, new)
        self._invalidate()
        self.removed.emit(old)
        self.added.emit(new)

    # ---- internals -------------------------------------------------------------------------

    def _body_changed(self, block: BlockDef):
        def relay() -> None:
            if self._defs.get(block.name) is block:
                self._changed(block.name)

        block._relay = relay  # type: ignore[attr-defined]
        return relay

    def _changed(self, name: str) -> None:
        self._invalidate()
        self.changed.emit(name)

    def _invalidate(self) -> None:
        """Any edit may change every block that uses the edited one: forget all expansions."""
        self._types.clear()
        for block in self._defs.values():
            block.cache.clear()


def check_block_name(name: str, library: BlockLibrary) -> None:
    where = f"blocks.{name}"
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise BlockError(f"a block name must be letters, digits and _ (not starting with a "
                         f"digit), not {name!r}", where)
    if name in CATALOG or CATALOG.current_id(name):
        raise BlockError(f"{name!r} is already a layer type; choose another block name", where)
    if name in library:
        raise BlockError(f"a block named {name!r} already exists", where)


def check_arg_name(name: str, where: str) -> None:
    if (not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or name in RESERVED_ARGS
            or keyword.iskeyword(name)):
        raise BlockError(f"an argument name must be an identifier other than "
                         f"{' and '.join(RESERVED_ARGS)}, not {name!r}", where)


def _declaration(block: BlockDef) -> LayerType:
    body = block.body
    params = tuple(Param(a, "int", d, f"Block argument {a} (default {d}).")
                   for a, d in block.args.items())
    params += (
        Param("repeat", "int", 1, "Copies stacked in sequence: the depth knob.", min=1,
              max=MAX_REPEAT),
        Param("first", "args", {}, "Arguments of the first copy that differ from the others, "
                                   "e.g. a stage's first block strides.", choices=tuple(block.args)),
    )
    return LayerType(
        type_id=block.name, category=BLOCK_CATEGORY,
        doc=block.description or _count_doc(body),
        params=params, shape=_shape_from_inference,
        inputs=tuple(Port(n.name) for n in body.inputs()),
        outputs=tuple(Port(n.name) for n in body.outputs()),
        summary_keys=tuple(block.args)[:3] + ("repeat",))


def _count_doc(body) -> str:
    """What a block without a description says of itself: its layers, and where they are."""
    layers = len(body) - len(body.inputs()) - len(body.outputs())
    return (f"{layers} layer{'' if layers == 1 else 's'}; double-click the block to see or edit "
            "them.")


def _shape_from_inference(params: Mapping[str, Any], ins) -> tuple[int, ...]:
    """A block's shape depends on its body, not on params alone: graph.shapes.infer computes it."""
    raise ShapeError("a block instance's shape is computed by graph.shapes.infer")


# ---- binding params to argument values --------------------------------------------------------


def is_expression(param: Param | None, value: Any) -> bool:
    """Whether ``value`` of ``param`` holds an expression to evaluate (a string in a numeric or
    bool param, or in a list param's items)."""
    if param is None or param.kind not in EXPRESSION_KINDS:
        return False
    if isinstance(value, str):
        return True
    if isinstance(value, (list, dict)):
        items = value.values() if isinstance(value, dict) else value
        return any(isinstance(v, str) for v in items)
    return False


def bind_value(param: Param | None, value: Any, env: Mapping[str, int]) -> Any:
    """``value`` with its expressions evaluated in ``env`` (raises ExprError)."""
    if not is_expression(param, value):
        return value
    if isinstance(value, str):
        result = parse(value).evaluate(env)
        return bool(result) if param is not None and param.kind == "bool" else result
    if isinstance(value, dict):
        return {k: parse(v).evaluate(env) if isinstance(v, str) else v for k, v in value.items()}
    return [parse(v).evaluate(env) if isinstance(v, str) else v for v in value]


def bind_params(layer: LayerType | None, params: Mapping[str, Any],
                env: Mapping[str, int]) -> dict[str, Any]:
    """``params`` with every expression evaluated in ``env``. Raises :class:`BlockError` whose
    ``where`` is ``params.NAME`` when an expression is broken."""
    if layer is None:
        return dict(params)
    out = dict(params)
    for name, value in params.items():
        param = _param_of(layer, name)
        if is_expression(param, value):
            try:
                out[name] = bind_value(param, value, env)
            except ExprError as exc:
                raise BlockError(str(exc), f"params.{name}") from None
    return out


def present(node: InnerNode, env: Mapping[str, int]) -> bool:
    """Whether an inner node is there for arguments ``env`` (its ``when`` holds)."""
    if not node.when:
        return True
    try:
        return bool(parse(node.when).evaluate(env))
    except ExprError as exc:
        raise BlockError(str(exc), "when") from None


def expressions_of(layer: LayerType | None, node: InnerNode) -> Iterator[tuple[str, str]]:
    """``(where, text)`` of every expression in ``node`` (``params.NAME`` or ``when``)."""
    if node.when:
        yield "when", node.when
    for name, value in node.params.items():
        param = _param_of(layer, name) if layer is not None else None
        if is_expression(param, value):
            items = [value] if isinstance(value, str) else (
                value.values() if isinstance(value, dict) else value)
            for item in items:
                if isinstance(item, str):
                    yield f"params.{name}", item


def _param_of(layer: LayerType, name: str) -> Param | None:
    try:
        return layer.param(name)
    except KeyError:
        return None
