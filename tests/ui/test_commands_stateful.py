"""Random sequences of editor commands through a Document's undo stack (hypothesis stateful).

After every step the canvas scene must mirror the model exactly (it follows model events only).
At the end, undoing everything restores the initial document, and redoing everything restores
the latest one, both compared with ``design.to_dict()``.
"""
from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from graph.catalog import CATALOG, Param
from graph.design import Edge
from graph.fileformat import load
from graph.validate import can_connect
from ui.canvas.clipboard import fragment_text, read_fragment
from graph.layout import layered_positions
from ui.canvas.scene import CanvasScene
from ui.commands import (
    AddEdgeCommand,
    AddNodeCommand,
    MoveNodesCommand,
    RemoveEdgeCommand,
    RemoveNodesCommand,
    RenameNodeCommand,
    SetParamCommand,
    insert_on_link_command,
    paste_command,
    reconnect_command,
)
from ui.document import Document

from tests.conftest import EXAMPLES

TYPES = sorted(layer.type_id for layer in CATALOG)
PASS_THROUGH = sorted(layer.type_id for layer in CATALOG if layer.inputs and layer.outputs)
coords = st.floats(min_value=-2000, max_value=2000, allow_nan=False).map(lambda v: round(v, 1))


def param_values(param: Param) -> st.SearchStrategy:
    """Values the model accepts for ``param`` (mostly valid ones, as the inspector gives)."""
    lo = int(param.min) if param.min is not None else 0
    hi = int(min(param.max, 64)) if param.max is not None else 64
    if param.kind == "bool":
        return st.booleans()
    if param.kind == "choice":
        return st.sampled_from(param.choices)
    if param.kind == "str":
        return st.text("abcxyz_", max_size=6)
    if param.kind == "float":
        top = param.max if param.max is not None else 10.0
        return st.floats(min_value=param.min or 0.0, max_value=top, allow_nan=False)
    if param.kind == "int":
        return st.integers(lo, max(lo, hi))
    if param.kind == "size":
        return st.integers(max(lo, 1), 5)
    length = param.length
    return st.lists(st.integers(1, 8), min_size=length or 1, max_size=length or 3)


class EditorCommands(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        QApplication.instance() or QApplication([])
        self.document = Document(load(EXAMPLES / "residual_mlp.json"))
        self.design = self.document.design
        self.scene = CanvasScene(self.document)
        self.initial = self.design.to_dict()

    def push(self, command) -> None:
        self.document.push(command)

    def ids(self) -> list[str]:
        return self.design.node_ids_in_order()

    # ---- rules --------------------------------------------------------------------------------

    @rule(type_id=st.sampled_from(TYPES), x=coords, y=coords)
    def add_node(self, type_id, x, y):
        self.push(AddNodeCommand(self.design, self.design.make_node(type_id, position=(x, y))))

    @precondition(lambda self: len(self.design) > 0)
    @rule(data=st.data())
    def remove_nodes(self, data):
        ids = data.draw(st.lists(st.sampled_from(self.ids()), min_size=1, max_size=3, unique=True))
        self.push(RemoveNodesCommand(self.design, ids))

    @precondition(lambda self: len(self.design) > 1)
    @rule(data=st.data())
    def connect(self, data):
        src = self.design.node(data.draw(st.sampled_from(self.ids())))
        dst = self.design.node(data.draw(st.sampled_from(self.ids())))
        if not src.layer.outputs or not dst.layer.inputs:
            return
        edge = Edge(src.id, dst.id, src.layer.outputs[0].name, dst.layer.inputs[0].name)
        ok, _ = can_connect(self.design, edge.src, edge.dst, edge.src_port, edge.dst_port)
        if ok:
            self.push(AddEdgeCommand(self.design, edge))

    @precondition(lambda self: self.design.edges)
    @rule(data=st.data())
    def disconnect(self, data):
        self.push(RemoveEdgeCommand(self.design, data.draw(st.sampled_from(self.design.edges))))

    @precondition(lambda self: any(n.layer.params for n in self.design.nodes))
    @rule(data=st.data())
    def set_param(self, data):
        node = data.draw(st.sampled_from([n for n in self.design.nodes if n.layer.params]))
        param = data.draw(st.sampled_from(node.layer.params))
        value = data.draw(param_values(param))
        self.push(SetParamCommand(self.design, node.id, param.name, value))

    @precondition(lambda self: len(self.design) > 0)
    @rule(data=st.data(), name=st.sampled_from(["a", "b", "fc", "block1_add", "x_2", ""]))
    def rename(self, data, name):
        self.push(RenameNodeCommand(self.design, data.draw(st.sampled_from(self.ids())), name))

    @precondition(lambda self: len(self.design) > 0)
    @rule(data=st.data(), dx=coords, dy=coords)
    def move(self, data, dx, dy):
        ids = data.draw(st.lists(st.sampled_from(self.ids()), min_size=1, max_size=4, unique=True))
        moves = {}
        for nid in ids:
            old = self.design.node(nid).position
            moves[nid] = (old, (old[0] + dx, old[1] + dy))
        self.push(MoveNodesCommand(self.design, moves))

    @precondition(lambda self: len(self.design) > 0)
    @rule(data=st.data())
    def copy_paste(self, data):
        ids = data.draw(st.lists(st.sampled_from(self.ids()), min_size=1, max_size=5, unique=True))
        nodes, edges = read_fragment(fragment_text(self.design, ids))  # through the clipboard text
        command, new_ids = paste_command(self.design, nodes, edges)
        self.push(command)
        assert len(new_ids) == len(ids)

    @precondition(lambda self: self.design.edges)
    @rule(data=st.data(), type_id=st.sampled_from(PASS_THROUGH))
    def insert_on_link(self, data, type_id):
        edge = data.draw(st.sampled_from(self.design.edges))
        node = self.design.make_node(type_id, position=(0.0, 0.0))
        self.push(insert_on_link_command(self.design, node, edge))

    @precondition(lambda self: self.design.edges)
    @rule(data=st.data(), end=st.sampled_from(["src", "dst", "drop"]))
    def reconnect(self, data, end):
        old = data.draw(st.sampled_from(self.design.edges))
        if end == "drop":
            self.push(reconnect_command(self.design, old, None))
            return
        other = self.design.node(data.draw(st.sampled_from(self.ids())))
        if end == "src":
            if not other.layer.outputs:
                return
            new = Edge(other.id, old.dst, other.layer.outputs[0].name, old.dst_port)
        else:
            if not other.layer.inputs:
                return
            new = Edge(old.src, other.id, old.src_port, other.layer.inputs[0].name)
        ok, _ = can_connect(self.design, new.src, new.dst, new.src_port, new.dst_port, replacing=[old])
        if ok and new != old:
            self.push(reconnect_command(self.design, old, new))

    @precondition(lambda self: len(self.design) > 0)
    @rule()
    def auto_layout(self):
        positions = layered_positions(self.design)
        moves = {nid: (self.design.node(nid).position, p) for nid, p in positions.items()
                 if self.design.node(nid).position != p}
        if moves:
            self.push(MoveNodesCommand(self.design, moves, "Auto-layout"))

    @precondition(lambda self: self.document.undo_stack.canUndo())
    @rule()
    def undo(self):
        self.document.undo_stack.undo()

    @precondition(lambda self: self.document.undo_stack.canRedo())
    @rule()
    def redo(self):
        self.document.undo_stack.redo()

    # ---- the canvas mirrors the model --------------------------------------------------------------

    @invariant()
    def scene_mirrors_model(self):
        design, scene = self.design, self.scene
        assert set(scene.nodes) == set(design.node_ids_in_order())
        assert set(scene.links) == set(design.edges)
        for node in design.nodes:
            assert scene.nodes[node.id].pos() == QPointF(*node.position)
            assert scene.nodes[node.id].name == node.name
        for edge, link in scene.links.items():
            assert link.start == scene.anchor(edge, "src") and link.end == scene.anchor(edge, "dst")
        report = self.document.revalidate()
        for node in design.nodes:
            shape = report.inference.shapes.get(node.id)
            assert bool(scene.nodes[node.id].look.shape) == (shape is not None)

    def teardown(self):
        stack = self.document.undo_stack
        now, index = self.design.to_dict(), stack.index()
        stack.setIndex(stack.count())
        latest = self.design.to_dict()
        stack.setIndex(0)
        assert self.design.to_dict() == self.initial
        self.scene_mirrors_model()
        stack.setIndex(stack.count())
        assert self.design.to_dict() == latest
        stack.setIndex(index)
        assert self.design.to_dict() == now
        self.scene.detach()


EditorCommands.TestCase.settings = settings(
    max_examples=30, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
test_editor_commands = EditorCommands.TestCase
