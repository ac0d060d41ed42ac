"""A block's own arguments, managed after the block exists (as a block grouped by hand starts
with none): add one with its default, rename it (every inner expression that reads it, and every
instance that sets it, follows), change its default, remove it (refused while an inner layer
reads it), or make an inner layer's param into one (:func:`make_argument`).

Each function changes nothing: it returns an :class:`ArgsEdit` whose :meth:`~ArgsEdit.apply`
makes the change through the library's and the designs' own methods (so every view follows their
events) and whose :meth:`~ArgsEdit.revert` undoes it exactly — one undo step, as
:class:`graph.grouping.Edit`. What the model refuses raises :class:`~graph.blocks.BlockError`
naming the place. Expressions are rewritten by parsing them (:func:`graph.expr.rename`), never
by replacing text.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from .blocks import (BlockDef, BlockError, Network, check_arg_name, expressions_of,
                     is_expression)
from .expr import ExprError, parse, rename

# Param kinds whose value can be one whole-number argument (a yes/no reads 0 or 1).
ARGUMENT_KINDS = ("int", "size", "bool")


@dataclass
class NodeChange:
    """One node's params and "present when" condition before and after an edit."""

    design: Network
    node_id: str
    params: tuple[dict[str, Any], dict[str, Any]]
    when: tuple[str | None, str | None]


@dataclass
class ArgsEdit:
    """The arguments of ``block`` from ``args[0]`` to ``args[1]``, with the node changes that
    go with them (inner expressions, instances' values)."""

    text: str
    block: BlockDef
    args: tuple[dict[str, int], dict[str, int]]
    nodes: list[NodeChange] = field(default_factory=list)

    def apply(self, _design: Network | None = None) -> None:
        self.block.body.blocks.set_args(self.block.name, self.args[1])
        for change in self.nodes:
            change.design.set_params(change.node_id, change.params[1])
            change.design.set_when(change.node_id, change.when[1])

    def revert(self, _design: Network | None = None) -> None:
        for change in reversed(self.nodes):
            change.design.set_params(change.node_id, change.params[0])
            change.design.set_when(change.node_id, change.when[0])
        self.block.body.blocks.set_args(self.block.name, self.args[0])


# ---- queries -----------------------------------------------------------------------------------


def block_of(body: Network) -> BlockDef | None:
    """The block whose body ``body`` is (None for a top-level design)."""
    return next((b for b in body.blocks if b.body is body), None)


def argument_uses(block: BlockDef, name: str) -> list[str]:
    """Where the body reads argument ``name``: ``conv1.out_channels``, ``down (present when)``."""
    uses = []
    body = block.body
    for node in body.nodes:
        for where, text in expressions_of(body.layer_of(node), node):
            if name in _names(text):
                place = "present when" if where == "when" else where.removeprefix("params.")
                text = f"{node.name} ({place})" if where == "when" else f"{node.name}.{place}"
                if text not in uses:
                    uses.append(text)
    return uses


def instances(block: BlockDef) -> Iterator[tuple[Network, Any]]:
    """``(network, node)`` for every instance of ``block``: in the design and in block bodies."""
    library = block.body.blocks
    networks = ([library.owner] if library.owner is not None else []) + [b.body for b in library]
    for network in networks:
        for node in network.nodes:
            if node.type == block.name:
                yield network, node


def argument_problem(block: BlockDef, name: str, renaming: str | None = None) -> str | None:
    """Why ``name`` cannot be a (new or renamed) argument of ``block``, or None."""
    try:
        check_arg_name(name, "")
    except BlockError as exc:
        return exc.reason
    if name in block.args and name != renaming:
        return f"{block.name} already has an argument {name!r}"
    return None


# ---- edits -------------------------------------------------------------------------------------


def add_argument(design: Network, block_name: str, name: str, default: int) -> ArgsEdit:
    """Give block ``block_name`` the argument ``name`` (instances take ``default``)."""
    block = _block(design, block_name)
    _check_name(block, name)
    _check_default(block, name, default)
    return ArgsEdit(f"Add argument {name} to {block.name}", block,
                    (dict(block.args), {**block.args, name: default}))


def set_default(design: Network, block_name: str, name: str, default: int) -> ArgsEdit:
    """Change the default of argument ``name`` (instances that set it keep their value)."""
    block = _block(design, block_name)
    _check_exists(block, name)
    _check_default(block, name, default)
    return ArgsEdit(f"Default of {block.name}.{name}: {default}", block,
                    (dict(block.args), {**block.args, name: default}))


def rename_argument(design: Network, block_name: str, old: str, new: str) -> ArgsEdit:
    """Rename argument ``old`` to ``new``: the inner expressions that read it and the instances
    that set it (their values and ``first``) follow."""
    block = _block(design, block_name)
    _check_exists(block, old)
    if new != old:
        _check_name(block, new)
    args = {(new if k == old else k): v for k, v in block.args.items()}
    edit = ArgsEdit(f"Rename argument {old} to {new}", block, (dict(block.args), args))
    if new == old:
        return edit
    for node in block.body.nodes:
        _record(edit, block.body, node, _renamed_params(block.body, node, old, new),
                _renamed(node.when, old, new) if node.when else node.when)
    for network, node in instances(block):
        params = {(new if k == old else k): v for k, v in node.params.items()}
        if isinstance(params.get("first"), dict):
            params["first"] = {(new if k == old else k): v for k, v in params["first"].items()}
        _record(edit, network, node, params, node.when)
    return edit


def remove_argument(design: Network, block_name: str, name: str) -> ArgsEdit:
    """Take argument ``name`` away (and the values instances set for it); refused, naming the
    inner layers, while one reads it."""
    block = _block(design, block_name)
    _check_exists(block, name)
    uses = argument_uses(block, name)
    if uses:
        raise BlockError(f"{name} is still used by {', '.join(uses)}: set those to numbers or "
                         "to other arguments first", f"blocks.{block.name}.args.{name}")
    args = {k: v for k, v in block.args.items() if k != name}
    edit = ArgsEdit(f"Remove argument {name} from {block.name}", block, (dict(block.args), args))
    for network, node in instances(block):
        params = {k: v for k, v in node.params.items() if k != name}
        if isinstance(params.get("first"), dict) and name in params["first"]:
            params["first"] = {k: v for k, v in params["first"].items() if k != name}
        _record(edit, network, node, params, node.when)
    return edit


def make_argument(body: Network, node_id: str, param_name: str, name: str) -> ArgsEdit:
    """Make param ``param_name`` of inner layer ``node_id`` an argument: a new argument
    ``name`` whose default is the param's current value, and the param reads it."""
    block = block_of(body)
    if block is None:
        raise BlockError("only a layer inside a block can read a block argument")
    node = body.node(node_id)
    param = body.layer_of(node).param(param_name)
    default = as_default(param, node.resolved_params()[param_name], f"{node.name}.{param_name}")
    edit = add_argument(body, block.name, name, default)
    edit.text = f"Make {node.name}.{param_name} the argument {name}"
    _record(edit, body, node, {**node.params, param_name: name}, node.when)
    return edit


# ---- helpers -----------------------------------------------------------------------------------


def _block(design: Network, block_name: str) -> BlockDef:
    block = design.blocks.get(block_name)
    if block is None:
        raise BlockError(f"there is no block named {block_name!r}")
    return block


def _check_name(block: BlockDef, name: str) -> None:
    problem = argument_problem(block, name)
    if problem:
        raise BlockError(problem, f"blocks.{block.name}.args")


def _check_exists(block: BlockDef, name: str) -> None:
    if name not in block.args:
        raise BlockError(f"{block.name} has no argument {name!r}", f"blocks.{block.name}.args")


def _check_default(block: BlockDef, name: str, default: Any) -> None:
    if isinstance(default, bool) or not isinstance(default, int):
        raise BlockError(f"the default of {name} must be a whole number, not {default!r}",
                         f"blocks.{block.name}.args.{name}")


def as_default(param, value: Any, where: str) -> int:
    """A param's current value as an argument's default (a whole number)."""
    if param.kind not in ARGUMENT_KINDS:
        raise BlockError(f"{param.name} is not a whole number or yes/no, so it cannot read a "
                         "block argument", where)
    if isinstance(value, str):
        raise BlockError(f"{param.name} already reads the block's arguments ({value})", where)
    if isinstance(value, (list, tuple)):
        if len(set(value)) != 1 or isinstance(value[0], str):
            raise BlockError(f"{param.name} differs per axis ({', '.join(map(str, value))}); "
                             "give it one number first", where)
        value = value[0]
    return int(value)


def _names(text: str) -> frozenset[str]:
    try:
        return parse(text).names
    except ExprError:
        return frozenset()


def _renamed(text: str, old: str, new: str) -> str:
    try:
        return rename(text, old, new)
    except ExprError:  # a broken expression is already an error on its layer: left as it is
        return text


def _renamed_params(body: Network, node: Any, old: str, new: str) -> dict[str, Any]:
    """``node``'s params with each expression reading ``old`` reading ``new``."""
    layer = body.layer_of(node)
    params = dict(node.params)
    for key, value in node.params.items():
        param = _param(layer, key)
        if isinstance(value, str) and is_expression(param, value):
            params[key] = _renamed(value, old, new)
        elif isinstance(value, (list, dict)) and is_expression(param, value):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            out = dict(value) if isinstance(value, dict) else list(value)
            for k, v in items:
                out[k] = _renamed(v, old, new) if isinstance(v, str) else v
            params[key] = out
    return params


def _param(layer, key: str):
    try:
        return layer.param(key) if layer is not None else None
    except KeyError:
        return None


def _record(edit: ArgsEdit, design: Network, node: Any, params: dict[str, Any],
            when: str | None) -> None:
    if params != node.params or when != node.when:
        edit.nodes.append(NodeChange(design, node.id, (dict(node.params), params),
                                     (node.when, when)))
