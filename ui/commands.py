"""Undo commands. Each changes only the model (:class:`graph.design.Design`); the canvas and the
inspector follow the model's events. Composite edits (paste, insert on a link, auto-layout) are
built as one command with child commands, so they undo in one step.
"""
from __future__ import annotations

import copy
from typing import Any, Iterable, Mapping

from PySide6.QtGui import QUndoCommand

from graph.block_args import ArgsEdit
from graph.blocks import BlockDef
from graph.design import Design, Edge, Node
from graph.grouping import Edit, group_into_block, ungroup
from graph.layout import SPACING, layered_positions

class Command(QUndoCommand):
    """Base of Netwright's commands. A command built with a ``parent`` becomes one of the
    parent's steps; the parent runs its steps in order on redo and in reverse on undo.
    (Steps are kept as Python objects rather than Qt child commands, whose Python side
    PySide may collect while Qt still calls it.)"""

    def __init__(self, text: str, parent: "Command | None" = None):
        super().__init__(text)
        self.steps: list[Command] = []
        if parent is not None:
            parent.steps.append(self)

    def redo(self) -> None:
        for step in self.steps:
            step.redo()

    def undo(self) -> None:
        for step in reversed(self.steps):
            step.undo()


# Ids for QUndoCommand.mergeWith: consecutive edits of the same thing merge into one undo step.
MERGE_PARAM, MERGE_SETTINGS, MERGE_RENAME, MERGE_INFO = 1, 2, 3, 4


class AddNodeCommand(Command):
    def __init__(self, design: Design, node: Node, parent: Command | None = None):
        super().__init__(f"Add {node.name}", parent)
        self.design = design
        self.node = copy.deepcopy(node)

    def redo(self) -> None:
        self.design.add_node(copy.deepcopy(self.node))

    def undo(self) -> None:
        self.design.remove_node(self.node.id)


class AddEdgeCommand(Command):
    def __init__(self, design: Design, edge: Edge, index: int | None = None,
                 parent: Command | None = None):
        super().__init__("Connect", parent)
        self.design, self.edge, self.index = design, edge, index

    def redo(self) -> None:
        self.design.add_edge(self.edge, self.index)

    def undo(self) -> None:
        self.design.remove_edge(self.edge)


class RemoveEdgeCommand(Command):
    """Remove a link, restoring it at the same position on undo (merge inputs are ordered)."""

    def __init__(self, design: Design, edge: Edge, parent: Command | None = None):
        super().__init__("Disconnect", parent)
        self.design, self.edge = design, edge
        self.index: int | None = None

    def redo(self) -> None:
        self.index = self.design.remove_edge(self.edge)

    def undo(self) -> None:
        self.design.add_edge(self.edge, self.index)


class RemoveNodesCommand(Command):
    """Delete nodes; their links are removed first as child commands."""

    def __init__(self, design: Design, node_ids: Iterable[str], parent: Command | None = None):
        ids = [nid for nid in design.node_ids_in_order() if nid in set(node_ids)]
        super().__init__("Delete " + (design.node(ids[0]).name if len(ids) == 1 else f"{len(ids)} layers"),
                         parent)
        self.design = design
        edges: list[Edge] = []
        for nid in ids:
            edges += [e for e in design.edges_of(nid) if e not in edges]
        # Remove later links first so recorded indices stay valid when undone in reverse.
        edges.sort(key=design.edge_index, reverse=True)
        for edge in edges:
            RemoveEdgeCommand(design, edge, self)
        self.nodes = [copy.deepcopy(design.node(nid)) for nid in ids]
        self.positions = [design.node_ids_in_order().index(nid) for nid in ids]

    def redo(self) -> None:
        super().redo()  # steps: the links
        for node in self.nodes:
            self.design.remove_node(node.id)

    def undo(self) -> None:
        for node, index in zip(self.nodes, self.positions):  # ascending: each lands where it was
            self.design.add_node(copy.deepcopy(node), index)
        super().undo()


class SetParamCommand(Command):
    """Change one param of one node; consecutive changes of the same param merge."""

    def __init__(self, design: Design, node_id: str, name: str, value: Any,
                 parent: Command | None = None):
        node = design.node(node_id)
        super().__init__(f"Set {node.name}.{name}", parent)
        self.design, self.node_id, self.name = design, node_id, name
        self.old = copy.deepcopy(node.params)
        self.new = copy.deepcopy(node.params)
        self.new[name] = copy.deepcopy(value)

    def id(self) -> int:
        return MERGE_PARAM

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetParamCommand) or (other.node_id, other.name) != (self.node_id, self.name):
            return False
        self.new = other.new
        return True

    def redo(self) -> None:
        self.design.set_params(self.node_id, self.new)

    def undo(self) -> None:
        self.design.set_params(self.node_id, self.old)


class SetParamsCommand(Command):
    """Replace all params of a node (e.g. reset to defaults)."""

    def __init__(self, design: Design, node_id: str, params: Mapping[str, Any],
                 parent: Command | None = None):
        super().__init__(f"Edit {design.node(node_id).name}", parent)
        self.design, self.node_id = design, node_id
        self.old = copy.deepcopy(design.node(node_id).params)
        self.new = copy.deepcopy(dict(params))

    def redo(self) -> None:
        self.design.set_params(self.node_id, self.new)

    def undo(self) -> None:
        self.design.set_params(self.node_id, self.old)


class RenameNodeCommand(Command):
    def __init__(self, design: Design, node_id: str, name: str, parent: Command | None = None):
        super().__init__(f"Rename to {name}", parent)
        self.design, self.node_id = design, node_id
        self.old, self.new = design.node(node_id).name, name

    def id(self) -> int:
        return MERGE_RENAME

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, RenameNodeCommand) or other.node_id != self.node_id:
            return False
        self.new = other.new
        return True

    def redo(self) -> None:
        self.design.rename_node(self.node_id, self.new)

    def undo(self) -> None:
        self.design.rename_node(self.node_id, self.old)


class MoveNodesCommand(Command):
    """Move nodes from old to new positions (one command per mouse drag or layout)."""

    def __init__(self, design: Design, moves: Mapping[str, tuple[tuple[float, float], tuple[float, float]]],
                 text: str = "Move", parent: Command | None = None):
        super().__init__(text, parent)
        self.design = design
        self.moves = dict(moves)

    def redo(self) -> None:
        for nid, (_old, new) in self.moves.items():
            self.design.move_node(nid, new)

    def undo(self) -> None:
        for nid, (old, _new) in self.moves.items():
            self.design.move_node(nid, old)


class SetSettingsCommand(Command):
    """Change the design's dataset choice (``section="data"``) or training settings."""

    def __init__(self, design: Design, section: str, value: Mapping[str, Any], text: str = "",
                 parent: Command | None = None):
        super().__init__(text or f"Change {section} settings", parent)
        if section not in ("data", "training"):
            raise ValueError(section)
        self.design, self.section = design, section
        self.old = copy.deepcopy(getattr(design, section))
        self.new = copy.deepcopy(dict(value))
        # What this edit is about, fixed at creation: typing 0.2 → 0 → 0.25 passes through the
        # old value, and the merged step must still be "the validation share".
        self.keys = {k for k in self.new.keys() | self.old.keys()
                     if self.new.get(k) != self.old.get(k)}

    def id(self) -> int:
        return MERGE_SETTINGS

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetSettingsCommand) or other.section != self.section:
            return False
        if self.keys != other.keys:  # only a run of edits to the same setting merges
            return False
        self.new = other.new
        return True

    def _apply(self, value: dict[str, Any]) -> None:
        if self.section == "data":
            self.design.set_data(value)
        else:
            self.design.set_training(value)

    def redo(self) -> None:
        self._apply(self.new)

    def undo(self) -> None:
        self._apply(self.old)


class SetFlowCommand(Command):
    """Turn the canvas's flow (``"down"`` or ``"right"``); the ports change sides."""

    def __init__(self, design: Design, flow: str, parent: Command | None = None):
        super().__init__("Flow " + ("top to bottom" if flow == "down" else "left to right"), parent)
        self.design, self.old, self.new = design, design.flow, flow

    def redo(self) -> None:
        self.design.set_flow(self.new)

    def undo(self) -> None:
        self.design.set_flow(self.old)


class SetDesignInfoCommand(Command):
    """Rename the design or change its description; typing merges into one step."""

    def __init__(self, design: Design, name: str, description: str,
                 parent: Command | None = None):
        super().__init__("Rename the design" if name != design.name else "Edit the description",
                         parent)
        self.design = design
        self.old = (design.name, design.description)
        self.new = (name, description)

    def id(self) -> int:
        return MERGE_INFO

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt name)
        if not isinstance(other, SetDesignInfoCommand) or other.text() != self.text():
            return False
        self.new = other.new
        return True

    def redo(self) -> None:
        self.design.set_info(*self.new)

    def undo(self) -> None:
        self.design.set_info(*self.old)


class MacroCommand(Command):
    """A named group of steps that undo and redo together."""


def auto_layout_command(design: Design, flow: str | None = None,
                        owner: Design | None = None) -> Command | None:
    """Lay ``design`` out along ``flow``, turning the flow of ``owner`` (the top-level design
    whose flow the canvas follows; default ``design`` itself) if needed, in one step; None when
    nothing would change."""
    owner = owner or design
    flow = flow or owner.flow
    macro = MacroCommand("Auto-layout")
    if flow != owner.flow:
        SetFlowCommand(owner, flow, macro)
    positions = layered_positions(design, flow)
    moves = {nid: (design.node(nid).position, pos) for nid, pos in positions.items()
             if design.node(nid).position != pos}
    if moves:
        MoveNodesCommand(design, moves, "Auto-layout", macro)
    return macro if macro.steps else None


def paste_command(design: Design, nodes: list[Node], edges: list[Edge], offset=(40.0, 40.0),
                  text: str = "Paste") -> tuple[MacroCommand, list[str]]:
    """Add copies of ``nodes`` (fresh ids and names, shifted by ``offset``) with the ``edges``
    among them. Returns the command and the new ids (in the order of ``nodes``)."""
    macro = MacroCommand(text)
    mapping: dict[str, str] = {}
    allocator = design.allocator()
    for node in nodes:
        mapping[node.id] = allocator.new_id()
        clone = node.clone(id=mapping[node.id], name=allocator.name(node.name),
                           position=(node.position[0] + offset[0], node.position[1] + offset[1]))
        AddNodeCommand(design, clone, macro)
    for edge in edges:
        if edge.src in mapping and edge.dst in mapping:
            AddEdgeCommand(design, Edge(mapping[edge.src], mapping[edge.dst], edge.src_port,
                                        edge.dst_port), None, macro)
    return macro, [mapping[n.id] for n in nodes]


def insert_on_link_command(design: Design, node: Node, edge: Edge) -> MacroCommand:
    """Add ``node`` and splice it into ``edge``: src → node → dst, keeping the link's slot.

    When src and dst are too close along the flow for a node between them, dst and every node
    at or beyond it move one step further, so the new layer never overlaps another."""
    layer = design.layer_of(node)
    macro = MacroCommand(f"Insert {node.name}")
    node = copy.deepcopy(node)
    moves = _make_room(design, node, edge)
    if moves:
        MoveNodesCommand(design, moves, "Make room", macro)
    AddNodeCommand(design, node, macro)
    index = design.edge_index(edge)
    RemoveEdgeCommand(design, edge, macro)
    AddEdgeCommand(design, Edge(edge.src, node.id, edge.src_port, layer.inputs[0].name), None, macro)
    AddEdgeCommand(design, Edge(node.id, edge.dst, layer.outputs[0].name, edge.dst_port), index, macro)
    return macro


def _make_room(design: Design, node: Node, edge: Edge) -> dict:
    """Place ``node`` (its position is where it was dropped) between ``edge``'s ends along the
    flow; returns the moves that open a gap for it (empty when there is room already)."""
    flow = (design.blocks.owner or design).flow  # a block's body is shown like its design
    rank_step = SPACING[flow][0]
    axis = 1 if flow == "down" else 0
    start = design.node(edge.src).position[axis]
    end = design.node(edge.dst).position[axis]
    if end <= start:  # a link going backwards: nothing sensible to push
        return {}
    needed = start + 2 * rank_step - end
    along = start + rank_step if needed > 0 else round((start + end) / 2, 1)
    position = list(node.position)
    position[axis] = along
    node.position = (position[0], position[1])
    if needed <= 0:
        return {}
    moves = {}
    for other in design.nodes:
        if other.position[axis] >= end - 1.0 and other.id != edge.src:
            new = list(other.position)
            new[axis] += needed
            moves[other.id] = (other.position, (new[0], new[1]))
    return moves


def reconnect_command(design: Design, old: Edge, new: Edge | None) -> MacroCommand:
    """Move one end of a link (``new``), or drop it (``new`` is None), in one undo step."""
    macro = MacroCommand("Reconnect" if new else "Disconnect")
    index = design.edge_index(old)
    RemoveEdgeCommand(design, old, macro)
    if new is not None:
        same_target = (new.dst, new.dst_port) == (old.dst, old.dst_port)
        AddEdgeCommand(design, new, index if same_target else None, macro)
    return macro


# ---- blocks -----------------------------------------------------------------------------------------


class GraphEditCommand(Command):
    """A :class:`graph.grouping.Edit` (group into a block, ungroup) or a
    :class:`graph.block_args.ArgsEdit` as one undo step: redo applies its model steps, undo
    reverts them exactly."""

    def __init__(self, design: Design, edit: Edit | ArgsEdit, parent: Command | None = None):
        super().__init__(edit.text, parent)
        self.design, self.edit = design, edit

    def redo(self) -> None:
        self.edit.apply(self.design)

    def undo(self) -> None:
        self.edit.revert(self.design)


def block_args_command(edit: ArgsEdit) -> GraphEditCommand:
    """One undo step for a change to a block's arguments (see :mod:`graph.block_args`)."""
    return GraphEditCommand(edit.block.body, edit)


def group_command(design: Design, node_ids: list[str]) -> GraphEditCommand:
    """Replace the layers ``node_ids`` with one instance of a new block holding them (ports
    found from the links crossing the selection). Raises BlockError when they cannot be one."""
    return GraphEditCommand(design, group_into_block(design, node_ids))


def ungroup_command(design: Design, instance_id: str) -> MacroCommand:
    """Replace a block instance with its layers (every copy, params bound), the layers beyond it
    along the flow moved on to make room for them. Raises BlockError for a node that is no
    block instance. ``.edit`` is the ungrouping (its ``result``: the new layers' ids)."""
    edit = ungroup(design, instance_id)
    macro = MacroCommand(edit.text)
    moves = _room_for(design, instance_id, [s[1] for s in edit.steps if s[0] == "add_node"])
    if moves:
        MoveNodesCommand(design, moves, "Make room", macro)
    GraphEditCommand(design, edit, macro)
    macro.edit = edit
    return macro


def _room_for(design: Design, instance_id: str, added: list[Node]) -> dict:
    """The moves that take every node beyond ``instance_id`` along the flow as far on as the
    ``added`` layers replacing it reach past it."""
    flow = (design.blocks.owner or design).flow
    axis = 1 if flow == "down" else 0
    start = design.node(instance_id).position[axis]
    reach = max((n.position[axis] for n in added), default=start) - start
    if reach <= 0:
        return {}
    moves = {}
    for other in design.nodes:
        if other.id != instance_id and other.position[axis] > start + 1.0:
            new = list(other.position)
            new[axis] += reach
            moves[other.id] = (other.position, (new[0], new[1]))
    return moves


class DefineBlockCommand(Command):
    """Add a block definition to ``design``'s library (or, undone, take it away)."""

    def __init__(self, design: Design, block: BlockDef, parent: Command | None = None):
        super().__init__(f"Define {block.name}", parent)
        self.design, self.block = design, block

    def redo(self) -> None:
        self.design.blocks.define(self.block)

    def undo(self) -> None:
        self.design.blocks.remove(self.block.name)


class RemoveBlockCommand(Command):
    """Take a block definition away (no instance may use it any more), restoring it on undo."""

    def __init__(self, design: Design, name: str, parent: Command | None = None):
        super().__init__(f"Remove {name}", parent)
        self.design, self.name = design, name
        self.block = design.blocks[name]
        self.index = design.blocks.index(name)

    def redo(self) -> None:
        self.design.blocks.remove(self.name)

    def undo(self) -> None:
        self.design.blocks.define(self.block, self.index)


class SetTemplateCommand(Command):
    """Change the template arguments a design remembers."""

    def __init__(self, design: Design, template: dict | None, parent: Command | None = None):
        super().__init__("Template arguments", parent)
        self.design = design
        self.old, self.new = copy.deepcopy(design.template), copy.deepcopy(template)

    def redo(self) -> None:
        self.design.set_template(self.new)

    def undo(self) -> None:
        self.design.set_template(self.old)


def replace_network_command(design: Design, fresh: Design, text: str) -> MacroCommand:
    """Make ``design``'s network, blocks, template and name those of ``fresh`` (a template built
    again with other arguments, see ``graph.templates.rebuild``) — one undo step."""
    macro = MacroCommand(text)
    if design.nodes:
        RemoveNodesCommand(design, design.node_ids_in_order(), macro)
    for block in reversed(list(design.blocks)):
        RemoveBlockCommand(design, block.name, macro)
    for block in fresh.blocks:
        body = Design(block.name, library=design.blocks)
        body.arguments = dict(block.args)
        block.body.copy_network_into(body)
        DefineBlockCommand(design, BlockDef(block.name, body, block.description), macro)
    for node in fresh.nodes:
        AddNodeCommand(design, node.clone(), macro)
    for edge in fresh.edges:
        AddEdgeCommand(design, edge, None, macro)
    SetTemplateCommand(design, fresh.template, macro)
    if fresh.name != design.name:
        SetDesignInfoCommand(design, fresh.name, design.description, macro)
    return macro


class SetTrainingFlagsCommand(Command):
    """Freeze or unfreeze layers, or change a layer's learning-rate multiplier."""

    def __init__(self, design: Design, node_ids: Iterable[str], trainable: bool | None = None,
                 lr_mult: float | None = None, text: str = "", parent: Command | None = None):
        ids = list(node_ids)
        verb = text or ("Learning-rate multiplier" if trainable is None else
                        ("Unfreeze" if trainable else "Freeze") + (f" {len(ids)} layers" if len(ids) > 1 else ""))
        super().__init__(verb, parent)
        self.design = design
        self.old = {nid: (design.node(nid).trainable, design.node(nid).lr_mult) for nid in ids}
        self.trainable, self.lr_mult = trainable, lr_mult

    def redo(self) -> None:
        for nid in self.old:
            self.design.set_training_flags(nid, self.trainable, self.lr_mult)

    def undo(self) -> None:
        for nid, (trainable, lr_mult) in self.old.items():
            self.design.set_training_flags(nid, trainable, lr_mult)


class SetInitialWeightsCommand(Command):
    """Name the weights file the design starts from (the file itself is written beforehand)."""

    def __init__(self, design: Design, path: str, parent: Command | None = None):
        super().__init__("Load Weights", parent)
        self.design, self.old, self.new = design, design.initial_weights, path

    def redo(self) -> None:
        self.design.set_initial_weights(self.new)

    def undo(self) -> None:
        self.design.set_initial_weights(self.old)
