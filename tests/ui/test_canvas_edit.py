"""Editing on the canvas with real mouse, key and drop events: each gesture is one undo step."""
from __future__ import annotations

import json

from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from graph.design import Edge
from ui.canvas import LAYER_MIME, NODES_MIME
from ui.canvas.style import NODE_HEIGHT, NODE_WIDTH

from .test_canvas_helpers import (  # noqa: F401  (make_view is a fixture)
    chain_design,
    click,
    drag,
    empty_spot,
    in_port,
    key,
    make_view,
    move,
    node_header,
    on_link_near,
    out_port,
    press,
    release,
    residual_design,
    vp,
)

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def drop_layer(view, type_id: str, scene_pos: QPointF, hover=None) -> None:
    """A palette drag: enter, move, (``hover(view)`` while over the spot) and drop."""
    mime = QMimeData()
    mime.setData(LAYER_MIME, type_id.encode("utf-8"))
    pos = vp(view, scene_pos)
    actions = Qt.DropAction.CopyAction
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(pos, actions, mime, buttons, mods)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted()
    QApplication.sendEvent(view.viewport(), QDragMoveEvent(pos, actions, mime, buttons, mods))
    if hover is not None:
        hover(view)
    QApplication.sendEvent(view.viewport(), QDropEvent(QPointF(pos), actions, mime, buttons, mods))


def new_node_id(view, before: set[str]) -> str:
    (added,) = set(view.document.design.node_ids_in_order()) - before
    return added


def test_drop_from_the_palette_adds_the_layer_there_in_one_undo_step(make_view):
    view = make_view()
    design, stack = view.document.design, view.document.undo_stack
    before = set(design.node_ids_in_order())
    spot = empty_spot(view)
    drop_layer(view, "Conv2d", spot)
    nid = new_node_id(view, before)
    node = design.node(nid)
    assert node.type == "Conv2d"
    assert abs(node.position[0] + NODE_WIDTH / 2 - spot.x()) < 1
    assert abs(node.position[1] + NODE_HEIGHT / 2 - spot.y()) < 1
    assert nid in view.canvas.nodes and view.selected_node_ids() == [nid]
    assert stack.count() == 1
    stack.undo()
    assert nid not in view.canvas.nodes and not design.has_node(nid)


def test_drop_refuses_foreign_mime_data(make_view):
    view = make_view()
    mime = QMimeData()
    mime.setText("Conv2d")
    enter = QDragEnterEvent(vp(view, empty_spot(view)), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), enter)
    assert not enter.isAccepted()


def test_drop_on_a_link_inserts_the_layer_into_it(make_view):
    view = make_view()
    design = view.document.design
    link = view.canvas.links[Edge("n2", "n3")]
    mid = link.path().pointAtPercent(0.5)
    before = set(design.node_ids_in_order())
    highlighted = []
    drop_layer(view, "Dropout", mid, hover=lambda v: highlighted.append(link.highlight))
    assert highlighted == [True]  # the link lit up as the insertion target
    nid = new_node_id(view, before)
    assert Edge("n2", nid) in design.edges and Edge(nid, "n3") in design.edges
    assert Edge("n2", "n3") not in design.edges
    assert view.document.undo_stack.count() == 1
    view.document.undo_stack.undo()
    assert Edge("n2", "n3") in design.edges and not design.has_node(nid)
    assert set(view.canvas.links) == set(design.edges)


def test_connect_ports_by_dragging_with_live_feedback(make_view):
    design = chain_design()
    design.remove_edge(Edge("n2", "n3"))
    view = make_view(design)
    seen = {}

    def check(v):
        port = v.canvas.nodes["n3"].inputs["in"]
        seen["state"], seen["text"] = port.state, v.last_feedback

    drag(view, out_port(view, "n2"), in_port(view, "n3") + QPointF(3, -4), before_release=check)
    assert seen["state"] == "ok" and "fc → relu" in seen["text"]
    assert Edge("n2", "n3") in view.document.design.edges
    assert Edge("n2", "n3") in view.canvas.links
    assert view.canvas.nodes["n3"].inputs["in"].state is None  # highlight cleared
    assert view.document.undo_stack.count() == 1


def test_a_link_that_would_make_a_cycle_is_refused_with_the_reason(make_view):
    design = residual_design()
    add = design.node_by_name("add")
    post = design.add_node(design.make_node("ReLU", name="post", position=(260, 440)))
    design.add_edge(Edge(add.id, post.id))
    view = make_view(design)
    edges = design.edges
    seen = {}

    def check(v):
        seen["state"] = v.canvas.nodes[add.id].inputs["in"].state
        seen["text"] = v.last_feedback
        seen["draft"] = v._link_drag.draft.state

    # post's output into the merge's free input slot: add already feeds post.
    drag(view, out_port(view, post.id), in_port(view, add.id) + QPointF(20, -3), before_release=check)
    assert seen == {"state": "refused", "draft": "refused",
                    "text": "this would make a cycle: add already feeds post"}
    assert design.edges == edges and view.document.undo_stack.count() == 0
    assert view.last_feedback == "Cannot connect: this would make a cycle: add already feeds post"
    assert view.canvas.nodes[add.id].inputs["in"].state is None
    assert not [i for i in view.canvas.items() if i.zValue() >= 20]  # draft and label gone


def test_a_layer_cannot_feed_itself(make_view):
    view = make_view(residual_design())
    add = view.document.design.node_by_name("add").id
    drag(view, out_port(view, add), in_port(view, add) + QPointF(-20, 0))
    assert view.last_feedback == "Cannot connect: a layer cannot feed itself"


def test_dropping_on_an_occupied_single_input_is_refused(make_view):
    view = make_view(residual_design())
    design = view.document.design
    x, b = design.node_by_name("x").id, design.node_by_name("b").id
    drag(view, out_port(view, x), in_port(view, b))
    assert Edge(x, b) not in design.edges
    assert "already linked" in view.last_feedback and "remove that link first" in view.last_feedback


def test_moving_a_node_is_one_undo_step_and_updates_the_model(make_view):
    view = make_view()
    design, stack = view.document.design, view.document.undo_stack
    old = design.node("n2").position
    start = node_header(view, "n2")
    press(view, start)
    for i in range(1, 11):
        move(view, start + QPointF(6 * i, 3 * i))
        assert design.node("n2").position == old  # the model waits for the release
    link = view.canvas.links[Edge("n1", "n2")]
    assert link.end == view.canvas.anchor(Edge("n1", "n2"), "dst")  # links follow live
    release(view, start + QPointF(60, 30))
    assert design.node("n2").position == (old[0] + 60, old[1] + 30)
    assert stack.count() == 1
    stack.undo()
    assert design.node("n2").position == old
    assert view.canvas.nodes["n2"].pos() == QPointF(*old)
    stack.redo()
    assert view.canvas.nodes["n2"].pos() == QPointF(old[0] + 60, old[1] + 30)


def test_moving_several_selected_nodes_is_one_step(make_view):
    view = make_view()
    design, stack = view.document.design, view.document.undo_stack
    view.select_nodes(["n2", "n3"])
    drag(view, node_header(view, "n3"), node_header(view, "n3") + QPointF(-40, 20))
    assert design.node("n2").position == (-40, 130) and design.node("n3").position == (-40, 240)
    assert stack.count() == 1 and stack.undoText() == "Move 2 layers"


def test_rubber_band_selects_the_nodes_it_touches(make_view):
    view = make_view()
    selections = []
    view.selection_changed.connect(selections.append)
    left = view.canvas.nodes["n2"].pos() + QPointF(-30, -20)
    right = view.canvas.nodes["n3"].pos() + QPointF(NODE_WIDTH + 30, 20)
    drag(view, left, right)
    assert view.selected_node_ids() == ["n2", "n3"]
    assert selections[-1] == ["n2", "n3"]
    assert not view.canvas.selected_edges()  # the band picks layers, not the links it crosses
    click(view, empty_spot(view))
    assert view.selected_node_ids() == []


def test_click_selects_and_ctrl_click_extends(make_view):
    view = make_view()
    click(view, node_header(view, "n2"))
    assert view.selected_node_ids() == ["n2"]
    click(view, node_header(view, "n4"), CTRL)
    assert view.selected_node_ids() == ["n2", "n4"]


def test_delete_key_removes_nodes_and_undo_restores_links_in_order(make_view):
    view = make_view(residual_design())
    design, stack = view.document.design, view.document.undo_stack
    before = design.to_dict()
    a = design.node_by_name("a").id
    click(view, node_header(view, a))
    key(view, Qt.Key.Key_Delete)
    assert not design.has_node(a) and a not in view.canvas.nodes
    assert all(a not in (e.src, e.dst) for e in design.edges)
    assert set(view.canvas.links) == set(design.edges)
    key(view, Qt.Key.Key_Z, CTRL)
    assert design.to_dict() == before  # links back, in their order (the merge's order too)
    assert set(view.canvas.links) == set(design.edges)
    add = design.node_by_name("add").id
    orders = {e.src: view.canvas.links[e].order for e in design.in_edges(add)}
    assert orders == {a: 1, design.node_by_name("b").id: 2}


def test_backspace_deletes_a_selected_link(make_view):
    view = make_view()
    design = view.document.design
    link = view.canvas.links[Edge("n2", "n3")]
    click(view, link.path().pointAtPercent(0.3))
    assert link.isSelected()
    key(view, Qt.Key.Key_Backspace)
    assert Edge("n2", "n3") not in design.edges and len(design) == 4
    view.document.undo_stack.undo()
    assert Edge("n2", "n3") in design.edges


def test_copy_paste_keeps_the_links_among_copied_nodes(make_view):
    view = make_view()
    design, stack = view.document.design, view.document.undo_stack
    view.select_nodes(["n2", "n3"])
    key(view, Qt.Key.Key_C, CTRL)
    mime = QGuiApplication.clipboard().mimeData()
    doc = json.loads(bytes(mime.data(NODES_MIME).data()).decode())  # JSON text, not pickle
    assert [n["name"] for n in doc["nodes"]] == ["fc", "relu"] and len(doc["edges"]) == 1
    assert json.loads(mime.text()) == doc
    key(view, Qt.Key.Key_V, CTRL)
    assert len(design) == 6 and stack.count() == 1
    new = view.selected_node_ids()
    assert [design.node(n).name for n in new] == ["fc_2", "relu_2"]
    assert Edge(new[0], new[1]) in design.edges and Edge(new[0], new[1]) in view.canvas.links
    assert design.node(new[0]).position == (40.0, 150.0)
    assert design.node(new[0]).params == {"out_features": 3}
    key(view, Qt.Key.Key_V, CTRL)  # a second paste lands further along
    assert design.node(view.selected_node_ids()[0]).position == (80.0, 190.0)
    stack.undo()
    stack.undo()
    assert len(design) == 4 and len(view.canvas.nodes) == 4


def test_paste_of_foreign_text_explains_and_changes_nothing(make_view):
    view = make_view()
    messages = []
    view.status_message.connect(messages.append)
    QGuiApplication.clipboard().setText("hello")
    key(view, Qt.Key.Key_V, CTRL)
    assert len(view.document.design) == 4 and view.document.undo_stack.count() == 0
    assert messages and "no Netwright layers" in messages[-1]


def test_duplicate_copies_selection_with_links(make_view):
    view = make_view()
    design = view.document.design
    view.select_nodes(["n2", "n3"])
    key(view, Qt.Key.Key_D, CTRL)
    new = view.selected_node_ids()
    assert len(new) == 2 and Edge(new[0], new[1]) in design.edges
    assert view.document.undo_stack.undoText() == "Duplicate"


def test_tab_opens_quick_add_and_enter_adds_the_top_hit_after_the_selection(make_view):
    view = make_view()
    design = view.document.design
    design_before = set(design.node_ids_in_order())
    view.select_nodes(["n3"])
    key(view, Qt.Key.Key_Tab)
    popup = view.quick_add
    assert popup.isVisible() and popup.edit.hasFocus()
    QTest.keyClicks(popup.edit, "dropout")
    assert popup.hits()[0] == "Dropout"
    QTest.keyClick(popup.edit, Qt.Key.Key_Return)
    assert not popup.isVisible()
    nid = new_node_id(view, design_before)
    assert design.node(nid).type == "Dropout"
    assert Edge("n3", nid) in design.edges  # connected after the selected relu
    assert view.document.undo_stack.count() == 1 and view.selected_node_ids() == [nid]


def test_escape_closes_quick_add_without_adding(make_view):
    view = make_view()
    key(view, Qt.Key.Key_Tab)
    QTest.keyClicks(view.quick_add.edit, "relu")
    QTest.keyClick(view.quick_add.edit, Qt.Key.Key_Escape)
    assert not view.quick_add.isVisible() and len(view.document.design) == 4


def test_double_click_on_empty_canvas_quick_adds_there(make_view):
    view = make_view()
    design = view.document.design
    before = set(design.node_ids_in_order())
    spot = empty_spot(view)
    QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                      vp(view, spot))
    assert view.quick_add.isVisible()
    QTest.keyClicks(view.quick_add.edit, "batchnorm2")
    QTest.keyClick(view.quick_add.edit, Qt.Key.Key_Down)  # arrows move in the list
    QTest.keyClick(view.quick_add.edit, Qt.Key.Key_Up)
    QTest.keyClick(view.quick_add.edit, Qt.Key.Key_Enter)
    nid = new_node_id(view, before)
    node = design.node(nid)
    assert node.type == "BatchNorm2d"
    assert abs(node.position[0] + NODE_WIDTH / 2 - spot.x()) <= 1
    assert not design.edges_of(nid)  # nothing was selected: no link


def test_a_new_link_dropped_on_empty_canvas_offers_a_connected_layer(make_view):
    view = make_view()
    design = view.document.design
    before = set(design.node_ids_in_order())
    spot = empty_spot(view)
    drag(view, out_port(view, "n3"), spot)
    assert view.quick_add.isVisible()
    QTest.keyClicks(view.quick_add.edit, "sigmoid")
    QTest.keyClick(view.quick_add.edit, Qt.Key.Key_Return)
    nid = new_node_id(view, before)
    assert Edge("n3", nid) in design.edges
    assert view.document.undo_stack.count() == 1


def test_dragging_a_link_end_onto_empty_canvas_disconnects_it(make_view):
    view = make_view()
    design, stack = view.document.design, view.document.undo_stack
    link = view.canvas.links[Edge("n2", "n3")]
    grab = on_link_near(link)  # on the link, near its arrow
    seen = {}
    drag(view, grab, empty_spot(view), before_release=lambda v: seen.update(
        hidden=not link.isVisible(), text=v.last_feedback))
    assert seen == {"hidden": True, "text": "Release to disconnect"}
    assert Edge("n2", "n3") not in design.edges and Edge("n2", "n3") not in view.canvas.links
    assert stack.count() == 1 and stack.undoText() == "Disconnect"
    stack.undo()
    assert Edge("n2", "n3") in design.edges and view.canvas.links[Edge("n2", "n3")].isVisible()


def test_pressing_a_linked_input_port_picks_the_link_up_to_reconnect_it(make_view):
    view = make_view(residual_design())
    design, stack = view.document.design, view.document.undo_stack
    ids = {n.name: n.id for n in design.nodes}
    old = Edge(ids["a"], ids["b"])
    drag(view, in_port(view, ids["b"]), in_port(view, ids["y"]) + QPointF(2, 2))
    # y's input is taken by add: refused, nothing changes.
    assert old in design.edges and "already linked" in view.last_feedback
    assert stack.count() == 0 and view.canvas.links[old].isVisible()


def test_dragging_a_link_start_to_another_output_reconnects_it(make_view):
    design = chain_design()
    other = design.add_node(design.make_node("Input", name="x2", params={"shape": [4]},
                                             position=(260, 0)))
    view = make_view(design)
    stack = view.document.undo_stack
    old = Edge("n1", "n2")
    link = view.canvas.links[old]
    drag(view, on_link_near(link, "src"), out_port(view, other.id) + QPointF(-2, 3))
    assert Edge(other.id, "n2") in design.edges and old not in design.edges
    assert design.edge_index(Edge(other.id, "n2")) == 0  # it keeps the link's place
    assert stack.count() == 1 and stack.undoText() == "Reconnect"
    stack.undo()
    assert design.edges == chain_design().edges


def test_reconnect_the_arrow_end_to_another_free_input(make_view):
    design = chain_design()
    extra = design.add_node(design.make_node("Linear", name="side", position=(250, 220)))
    view = make_view(design)
    old = Edge("n2", "n3")
    drag(view, in_port(view, "n3"), in_port(view, extra.id))
    assert Edge("n2", extra.id) in design.edges and old not in design.edges
    view.document.undo_stack.undo()
    assert design.edges == chain_design().edges


def test_ctrl_a_selects_all_and_shortcuts_undo_redo(make_view):
    view = make_view()
    design = view.document.design
    key(view, Qt.Key.Key_A, CTRL)
    assert view.selected_node_ids() == ["n1", "n2", "n3", "n4"]
    key(view, Qt.Key.Key_Delete)
    assert len(design) == 0 and not view.canvas.links
    key(view, Qt.Key.Key_Z, CTRL)
    assert len(design) == 4 and len(view.canvas.links) == 3
    key(view, Qt.Key.Key_Z, CTRL | SHIFT)
    assert len(design) == 0


def test_auto_layout_is_one_undoable_step(make_view):
    view = make_view(residual_design())
    design, stack = view.document.design, view.document.undo_stack
    before = {n.id: n.position for n in design.nodes}
    design.move_node(design.node_by_name("y").id, (900, -300))  # a mess to tidy
    messy = {n.id: n.position for n in design.nodes}
    view.auto_layout()
    ys = {n.name: n.position[1] for n in design.nodes}
    assert ys["x"] < ys["a"] < ys["b"] < ys["add"] < ys["y"]  # one row per generation
    assert design.node_by_name("y").position[0] == design.node_by_name("add").position[0]
    assert stack.count() == 1 and stack.undoText() == "Auto-layout"
    stack.undo()
    assert {n.id: n.position for n in design.nodes} == messy != before
    assert all(view.canvas.nodes[nid].pos() == QPointF(*p) for nid, p in messy.items())


def test_add_node_at_center_follows_a_single_selected_node(make_view):
    view = make_view()
    design = view.document.design
    view.select_nodes(["n3"])
    design.remove_edge(Edge("n3", "n4"))
    nid = view.add_node_at_center("Linear")
    assert Edge("n3", nid) in design.edges
    assert design.node(nid).position[1] == design.node("n3").position[1] + 110
    view.select_nodes([])
    other = view.add_node_at_center("ReLU")
    assert not design.edges_of(other)
    centre = view.mapToScene(view.viewport().rect().center())
    item = view.canvas.nodes[other]
    assert item.sceneBoundingRect().intersects(view.mapToScene(view.viewport().rect()).boundingRect())
    assert abs(item.center().y() - centre.y()) < 2


def test_every_gesture_is_one_step_that_undoes_and_redoes_exactly(make_view):
    view = make_view(residual_design())
    design, stack = view.document.design, view.document.undo_stack
    ids = {n.name: n.id for n in design.nodes}
    states = [design.to_dict()]

    def step() -> None:
        states.append(design.to_dict())
        assert stack.count() == len(states) - 1 and states[-1] != states[-2]

    spot = empty_spot(view)
    drop_layer(view, "Tanh", spot)  # add
    step()
    tanh = view.selected_node_ids()[0]
    drag(view, out_port(view, ids["x"]), in_port(view, tanh))  # connect
    step()
    drag(view, node_header(view, tanh), node_header(view, tanh) + QPointF(30, 40))  # move
    step()
    link = view.canvas.links[Edge(ids["x"], ids["a"])]
    drop_layer(view, "Dropout", link.path().pointAtPercent(0.5))  # insert on a link
    step()
    drag(view, in_port(view, tanh), in_port(view, ids["add"]) + QPointF(25, 0))  # reconnect
    step()
    link = view.canvas.links[Edge(ids["b"], ids["add"])]
    drag(view, on_link_near(link), empty_spot(view) + QPointF(0, 300))  # disconnect
    step()
    view.select_nodes([ids["a"], ids["b"]])
    key(view, Qt.Key.Key_C, CTRL)
    key(view, Qt.Key.Key_V, CTRL)  # paste
    step()
    key(view, Qt.Key.Key_D, CTRL)  # duplicate
    step()
    key(view, Qt.Key.Key_Delete)  # delete
    step()
    view.select_nodes([tanh])
    key(view, Qt.Key.Key_Tab)
    QTest.keyClicks(view.quick_add.edit, "gelu")
    QTest.keyClick(view.quick_add.edit, Qt.Key.Key_Return)  # quick add, linked after tanh
    step()
    view.auto_layout()
    step()
    for i in range(len(states) - 2, -1, -1):
        key(view, Qt.Key.Key_Z, CTRL)
        assert design.to_dict() == states[i]
        assert set(view.canvas.links) == set(design.edges)
        assert set(view.canvas.nodes) == set(design.node_ids_in_order())
    for i in range(1, len(states)):
        key(view, Qt.Key.Key_Z, CTRL | SHIFT)
        assert design.to_dict() == states[i]
    assert all(view.canvas.nodes[n.id].pos() == QPointF(*n.position) for n in design.nodes)


# ---- a short link stays easy to select (issue 13: its ends took all of it) -----------------------


def test_a_click_near_the_end_of_a_short_link_selects_it_and_only_it(make_view):
    view = make_view()
    design = view.document.design
    link = view.canvas.links[Edge("n2", "n3")]
    assert 40 < link.path().length() < 60  # the 46-unit link between two chained layers
    for distance in (8.0, 10.0, 12.0, 23.0):
        view.select_nodes(["n4"])  # a layer selected earlier, maybe scrolled out of sight
        click(view, on_link_near(link, "dst", distance))
        assert link.isSelected(), distance
        assert view.selected_node_ids() == [], distance  # nothing else left for Delete
        assert view.document.undo_stack.count() == 0  # a click re-wires nothing
    key(view, Qt.Key.Key_Delete)
    assert Edge("n2", "n3") not in design.edges and design.has_node("n4")


def test_a_short_link_keeps_a_middle_that_no_end_grabs(make_view):
    design = chain_design()
    far = design.add_node(design.make_node("Linear", name="far", position=(0.0, 700.0)))
    design.add_edge(Edge("n3", far.id, dst_port="in"))
    design.remove_edge(Edge("n3", "n4"))
    view = make_view(design)
    short, long_ = view.canvas.links[Edge("n2", "n3")], view.canvas.links[Edge("n3", far.id)]
    # The ends grab a quarter of a short link at most; a long one keeps its full grab zone.
    assert short.end_near(on_link_near(short, "dst", 15)) is None
    assert short.end_near(on_link_near(short, "src", 15)) is None
    assert short.end_near(on_link_near(short, "dst", 8)) == "dst"
    assert long_.end_near(on_link_near(long_, "dst", 15)) == "dst"


def test_ctrl_click_near_a_link_end_adds_the_link_to_the_selection(make_view):
    view = make_view()
    link = view.canvas.links[Edge("n2", "n3")]
    view.select_nodes(["n4"])
    click(view, on_link_near(link, "dst", 8), CTRL)
    assert link.isSelected() and view.selected_node_ids() == ["n4"]


def test_ctrl_click_on_a_linked_input_port_adds_its_link_to_the_selection(make_view):
    view = make_view()
    link = view.canvas.links[Edge("n2", "n3")]
    view.select_nodes(["n4"])
    click(view, in_port(view, "n3"), CTRL)
    assert link.isSelected() and view.selected_node_ids() == ["n4"]
