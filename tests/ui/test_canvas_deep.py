"""Deep networks on the canvas: both flows, the minimap, zoom, paste at the cursor, inserting
into a link that makes room, and a 175-layer design that opens readable."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from graph.design import Design, Edge
from graph.fileformat import dumps, loads
from graph.layout import SPACING, layered_positions, ranks
from graph.settings import DATASETS
from ui.canvas.links import outline
from ui.canvas.style import NAME_ZOOM, NODE_HEIGHT, NODE_WIDTH
from ui.canvas.view import FIT_ZOOM, OPEN_ZOOM, READABLE_ZOOM
from ui.canvas.zoom import ZoomBox, parse_percent, percent_text
from ui.commands import SetParamCommand

from tests.conftest import example_window
from tests.ui.test_forms_fit import styled  # noqa: F401 (fixture)

from .test_canvas_edit import drop_layer, new_node_id
from .test_canvas_helpers import (  # noqa: F401  (make_view is a fixture)
    _iris,
    chain_design,
    drag,
    key,
    make_view,
    move,
    node_header,
    out_port,
    in_port,
    residual_design,
    vp,
)

CTRL = Qt.KeyboardModifier.ControlModifier


def flat_resnet50() -> Design:
    """ResNet-50 written out layer by layer (175 layers between Input and Output), laid out
    top to bottom as the canvas's auto-layout does — the issue's "175-layer flat design"."""
    design = Design("flat resnet-50")
    design.set_data(dict(design.data, name="digits",
                         options=DATASETS["digits"].resolve({"as_images": True})))
    last = None

    def add(type_id: str, params: dict | None = None, after=None) -> str:
        node = design.add_node(design.make_node(type_id, params=params or {}))
        for src in ([after] if isinstance(after, str) else after or []):
            design.add_edge(Edge(src, node.id))
        return node.id

    last = add("Input", {"shape": [1, 8, 8]})
    last = add("Conv2d", {"out_channels": 64, "kernel_size": 7, "stride": 2, "padding": 3}, last)
    last = add("ReLU", {}, add("BatchNorm2d", {}, last))
    last = add("MaxPool2d", {}, last)
    channels = 64
    for stage, blocks in enumerate((3, 4, 6, 3)):
        width = 64 * 2 ** stage
        for b in range(blocks):
            stride = 2 if b == 0 and stage > 0 else 1
            x = last
            h = add("ReLU", {}, add("BatchNorm2d", {}, add("Conv2d", {"out_channels": width, "kernel_size": 1, "padding": 0}, x)))
            h = add("ReLU", {}, add("BatchNorm2d", {}, add("Conv2d", {"out_channels": width, "stride": stride}, h)))
            h = add("BatchNorm2d", {}, add("Conv2d", {"out_channels": width * 4, "kernel_size": 1, "padding": 0}, h))
            skip = x
            if b == 0:
                skip = add("BatchNorm2d", {}, add("Conv2d", {"out_channels": width * 4, "kernel_size": 1,
                                                             "stride": stride, "padding": 0}, x))
            last = add("ReLU", {}, add("Add", {}, [skip, h]))
            channels = width * 4
    last = add("Linear", {"out_features": 10}, add("Flatten", {}, add("AdaptiveAvgPool2d", {"output_size": 1}, last)))
    add("Output", {}, last)
    for nid, pos in layered_positions(design, origin=(0.0, 0.0)).items():
        design.move_node(nid, pos)
    assert channels == 2048
    return design


def fully_visible(view) -> list[str]:
    area = view.visible_scene_rect()
    return [nid for nid, item in view.canvas.nodes.items() if area.contains(item.sceneBoundingRect())]


# ---- flows ---------------------------------------------------------------------------------------


def test_left_to_right_layout_turns_ports_and_links_sideways_in_one_undo_step(make_view):
    view = make_view(residual_design())
    design, stack = view.document.design, view.document.undo_stack
    before = {n.id: n.position for n in design.nodes}
    view.action("layout_right").trigger()
    assert design.flow == "right" and stack.count() == 1
    xs = {n.name: n.position[0] for n in design.nodes}
    assert xs["x"] < xs["a"] < xs["b"] < xs["add"] < xs["y"]  # one column per generation
    x_item = view.canvas.nodes[design.node_by_name("x").id]
    a_item = view.canvas.nodes[design.node_by_name("a").id]
    out, into = x_item.outputs["out"].scenePos(), a_item.inputs["in"].scenePos()
    assert out.x() == x_item.pos().x() + NODE_WIDTH and into.x() == a_item.pos().x()
    link = view.canvas.links[Edge(x_item.node_id, a_item.node_id)]
    assert link.start == out and link.end == into
    assert link.path().pointAtPercent(0.25).y() == out.y()  # leaves its port sideways
    stack.undo()
    assert design.flow == "down" and {n.id: n.position for n in design.nodes} == before
    out = view.canvas.nodes[x_item.node_id].outputs["out"].scenePos()
    assert out.y() == design.node_by_name("x").position[1] + NODE_HEIGHT  # ports back on top/bottom
    stack.redo()
    assert design.flow == "right"


def test_a_link_can_be_drawn_sideways_in_a_left_to_right_design(make_view):
    design = chain_design()
    design.remove_edge(Edge("n2", "n3"))
    design.set_flow("right")
    for nid, pos in layered_positions(design, origin=(0, 0)).items():
        design.move_node(nid, pos)
    view = make_view(design)
    drag(view, out_port(view, "n2"), in_port(view, "n3"))
    assert Edge("n2", "n3") in design.edges and view.document.undo_stack.count() == 1


def test_merge_links_attach_down_the_side_when_flowing_right(make_view):
    design = residual_design()
    design.set_flow("right")
    view = make_view(design)
    add = design.node_by_name("add").id
    ends = [view.canvas.anchor(e, "dst") for e in design.in_edges(add)]
    assert ends[0].x() == ends[1].x() == view.canvas.nodes[add].pos().x()
    assert ends[0].y() < ends[1].y()  # first link on top


def test_a_left_to_right_design_reopens_left_to_right(make_view):
    design = residual_design()
    design.set_flow("right")
    view = make_view(loads(dumps(design)))
    item = view.canvas.nodes[design.node_by_name("a").id]
    assert item.inputs["in"].pos() == QPointF(0, NODE_HEIGHT / 2)


# ---- inserting into a link ----------------------------------------------------------------------


def _column_with_a_skip(flow: str) -> Design:
    """x → a → b → c → add ← x (a skip link wired across the column) → y, all in one column
    (or row) as a person places them before any auto-layout."""
    design = _iris(Design("skip"))
    design.set_flow(flow)
    names = ("x", "a", "b", "c", "add", "y")
    types = ("Input", "Linear", "ReLU", "Linear", "Add", "Output")
    params = ({"shape": [4]}, {"out_features": 4}, {}, {"out_features": 4}, {}, {})
    step = SPACING[flow][0]
    nodes = [design.add_node(design.make_node(t, name=n, params=p, position=(
        (0.0, step * i) if flow == "down" else (step * i, 0.0))))
        for i, (n, t, p) in enumerate(zip(names, types, params))]
    for src, dst in zip(nodes, nodes[1:]):
        design.add_edge(Edge(src.id, dst.id))
    design.add_edge(Edge(nodes[0].id, nodes[4].id))
    return design


def _crossed(view, link) -> list[str]:
    ends, line = {link.edge.src, link.edge.dst}, outline(link.path())
    return [item.node_id for item in view.canvas.nodes.values()
            if item.node_id not in ends and line.intersects(item.sceneBoundingRect())]


@pytest.mark.parametrize("flow", ["down", "right"])
def test_a_skip_link_wired_across_a_column_runs_beside_the_layers(make_view, flow):
    """Before any auto-layout, a skip link between layers of one column was drawn through the
    layers between; it runs in a lane beside them, and only it."""
    view = make_view(_column_with_a_skip(flow))
    design = view.design
    skip = next(link for edge, link in view.canvas.links.items()
                if design.node(edge.src).name == "x" and design.node(edge.dst).name == "add")
    assert skip.lane is not None and _crossed(view, skip) == []
    assert all(link.lane is None for link in view.canvas.links.values() if link is not skip)
    side = (lambda r: r.right()) if flow == "down" else (lambda r: r.bottom())
    assert skip.lane.across > max(side(i.sceneBoundingRect()) for i in view.canvas.nodes.values())
    view.auto_layout()  # the layout gives the skip its own lane: a plain curve again
    QApplication.processEvents()
    assert skip.lane is None and _crossed(view, skip) == []
    view.document.undo_stack.undo()
    QApplication.processEvents()
    assert skip.lane is not None and _crossed(view, skip) == []
    if flow == "down":  # a layer dragged into the lane: the link goes round it when dropped
        b = next(nid for nid in view.canvas.nodes if design.node(nid).name == "b")
        grab, before = node_header(view, b), skip.lane
        drag(view, grab, grab + QPointF(before.across - view.canvas.nodes[b].pos().x() - 40, 0))
        QApplication.processEvents()
        assert view.document.undo_stack.undoText() == "Move b"
        body = view.canvas.nodes[b].sceneBoundingRect()
        assert body.left() < before.across < body.right()  # the old lane runs through it now
        assert skip.lane != before and _crossed(view, skip) == []


def test_inserting_into_a_short_link_pushes_the_rest_down_in_one_step(make_view):
    view = make_view()  # x, fc, relu, y: 110 apart
    design, stack = view.document.design, view.document.undo_stack
    before = {n.id: n.position for n in design.nodes}
    mid = view.canvas.links[Edge("n2", "n3")].path().pointAtPercent(0.5)
    ids = set(design.node_ids_in_order())
    drop_layer(view, "Dropout", mid)
    new = new_node_id(view, ids)
    step = SPACING["down"][0]
    assert design.node(new).position[1] == before["n2"][1] + step
    assert design.node("n3").position[1] == before["n3"][1] + step
    assert design.node("n4").position[1] == before["n4"][1] + step
    assert design.node("n1").position == before["n1"] and design.node("n2").position == before["n2"]
    rects = [view.canvas.nodes[n].sceneBoundingRect() for n in design.node_ids_in_order()]
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:])
    assert stack.count() == 1
    stack.undo()
    assert {n.id: n.position for n in design.nodes} == before


def test_inserting_into_a_long_link_moves_nothing(make_view):
    design = chain_design()
    design.move_node("n3", (0.0, 400.0))
    design.move_node("n4", (0.0, 510.0))
    view = make_view(design)
    mid = view.canvas.links[Edge("n2", "n3")].path().pointAtPercent(0.5)
    ids = set(design.node_ids_in_order())
    drop_layer(view, "Dropout", mid)
    new = new_node_id(view, ids)
    assert design.node("n3").position == (0.0, 400.0)
    assert design.node(new).position[1] == (110.0 + 400.0) / 2


# ---- paste at the cursor ---------------------------------------------------------------------------


def test_paste_lands_where_the_mouse_is(make_view):
    view = make_view()
    design = view.document.design
    view.select_nodes(["n2", "n3"])
    key(view, Qt.Key.Key_C, CTRL)
    spot = view.mapToScene(view.viewport().rect().center()) + QPointF(250, 120)
    QTest.mouseMove(view.viewport(), vp(view, spot))
    key(view, Qt.Key.Key_V, CTRL)
    new = view.selected_node_ids()
    assert len(new) == 2
    box = QRectF()
    for nid in new:
        box = box.united(view.canvas.nodes[nid].sceneBoundingRect())
    assert abs(box.center().x() - spot.x()) < 6 and abs(box.center().y() - spot.y()) < 6
    assert view.document.undo_stack.count() == 1


# ---- zoom ------------------------------------------------------------------------------------------


def test_zoom_is_shown_and_can_be_set(make_view, qtbot):
    view = make_view()
    box = ZoomBox(view)
    qtbot.addWidget(box)
    assert box.currentText() == "100%"
    key(view, Qt.Key.Key_Equal, CTRL)
    assert abs(view.zoom() - 1.25) < 1e-6 and box.currentText() == "125%"
    key(view, Qt.Key.Key_0, CTRL)
    assert view.zoom() == 1.0
    key(view, Qt.Key.Key_Minus, CTRL)  # its two bindings (Ctrl+- and ZoomOut) are one key
    assert abs(view.zoom() - 0.8) < 1e-6
    key(view, Qt.Key.Key_Plus, CTRL)
    assert view.zoom() == pytest.approx(1.0)
    centre = view.mapToScene(view.viewport().rect().center())
    box.lineEdit().setText("50")
    box.lineEdit().editingFinished.emit()
    assert view.zoom() == 0.5 and box.currentText() == "50%"
    now = view.mapToScene(view.viewport().rect().center())
    assert abs(now.x() - centre.x()) < 3 and abs(now.y() - centre.y()) < 3  # zoomed about the middle
    box.lineEdit().setText("lots")
    box.lineEdit().editingFinished.emit()
    assert view.zoom() == 0.5 and box.currentText() == "50%"  # a bad entry changes nothing
    box.activated.emit(box.findText("Fit"))
    area = view.visible_scene_rect()
    assert all(area.contains(i.sceneBoundingRect()) for i in view.canvas.nodes.values())
    assert parse_percent("85 %") == 0.85 and parse_percent("0") is None


def test_keyboard_zoom_keeps_the_selected_layer_in_view(make_view):
    """Ctrl+0 from a fit zooms about the selection in view, not the middle of the view (where
    a layer selected near the edge was lost off-screen)."""
    view = make_view(flat_resnet50())
    view.fit_all(readable=False)
    QApplication.processEvents()
    shown = view.visible_scene_rect()
    item = max(view.canvas.nodes.values(), key=lambda i: i.sceneBoundingRect().bottom())
    assert shown.contains(item.sceneBoundingRect())  # the last layer, at the edge of the fit
    view.select_nodes([item.node_id])
    key(view, Qt.Key.Key_0, CTRL)
    assert view.zoom() == 1.0 and view.selected_node_ids() == [item.node_id]
    assert view.visible_scene_rect().contains(item.sceneBoundingRect())
    view.fit_all(readable=False)
    QApplication.processEvents()
    view.select_nodes(list(view.canvas.nodes))  # taller than the view at 100 %: kept anchored
    middle = view.canvas.nodes_bounding_rect().center()
    spot = view.mapFromScene(middle)
    key(view, Qt.Key.Key_0, CTRL)
    assert (view.mapFromScene(middle) - spot).manhattanLength() <= 2
    view.select_nodes([])
    key(view, Qt.Key.Key_Minus, CTRL)  # nothing selected: about the middle, as before
    assert view.zoom() == pytest.approx(0.8)


# ---- the minimap and a deep design ------------------------------------------------------------------


def test_minimap_appears_only_when_the_design_outgrows_the_view(make_view):
    view = make_view()
    assert not view.minimap.isVisible()
    view.set_zoom(3.0)
    view.centerOn(view.canvas.nodes["n1"].center())
    assert view.minimap.isVisible()
    view.fit_all()
    assert not view.minimap.isVisible()


def test_a_175_layer_design_opens_readable_with_its_structure_in_view(make_view):
    design = flat_resnet50()
    assert len(design) == 177  # 175 layers, Input and Output
    view = make_view(design, size=(1100, 640))  # the canvas of a 1400×900 window
    view.show_design()
    assert READABLE_ZOOM <= view.zoom() <= OPEN_ZOOM
    shown = fully_visible(view)
    assert design.node_ids_in_order()[0] in shown  # it starts where the data comes in
    assert len(shown) >= 12  # a good part of the network, not a few giant nodes
    first_block = [nid for nid, r in ranks(design).items() if r == 5]
    assert len(first_block) == 2 and set(first_block) <= set(shown)  # both branches of a block
    minimap = view.minimap
    assert minimap.isVisible()
    # the minimap shows every node, and the outline of the view sits at the top of it
    inside = QRectF(minimap.rect())
    for item in view.canvas.nodes.values():
        assert inside.contains(minimap.to_map(item.center()))
    outline = minimap.view_outline()
    assert outline.top() < minimap.height() * 0.25 and outline.height() < minimap.height() / 2


def test_clicking_the_minimap_looks_there(make_view):
    design = flat_resnet50()
    view = make_view(design, size=(900, 600))
    view.show_design()
    minimap = view.minimap
    last = view.canvas.nodes[design.node_ids_in_order()[-1]]
    target = minimap.to_map(last.center())
    QTest.mouseClick(minimap, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     target.toPoint())
    assert view.visible_scene_rect().contains(last.center())
    assert minimap.view_outline().contains(target)


def test_the_minimap_redraws_after_an_edit_not_during_a_drag(make_view):
    design = flat_resnet50()
    view = make_view(design, size=(900, 600))
    view.show_design()
    minimap = view.minimap
    renders = []
    original = minimap._render
    minimap._render = lambda: (renders.append(1), original())[1]
    item = view.canvas.nodes[design.node_ids_in_order()[1]]
    start = item.pos() + QPointF(40, 10)
    drag(view, start, start + QPointF(300, 0), steps=8,
         before_release=lambda v: renders.append("released"))
    assert renders == ["released"]  # nothing redrawn while the node moved under the mouse
    view.document.revalidate()
    assert renders == ["released", 1]
    conv = next(n.id for n in design.nodes if n.type == "Conv2d")
    view.document.push(SetParamCommand(design, conv, "out_channels", 32))
    view.document.revalidate()
    assert renders == ["released", 1]  # a param edit moves nothing: no redraw


def test_a_breaking_edit_of_a_large_design_restyles_what_is_in_view_first(make_view, qtbot,
                                                                          monkeypatch):
    """An edit that changes the shapes of most nodes restyles those in view at once and the
    others in slices between the window's events (no long pause); in the end every node shows
    the same look as a restyle done at once."""
    from ui.canvas import scene as scene_module

    monkeypatch.setattr(scene_module, "RESTYLE_AT_ONCE", 12)  # sliced from 13 nodes on
    monkeypatch.setattr(scene_module, "RESTYLE_SLICE_S", 0.0)
    design = flat_resnet50()
    view = make_view(design, size=(900, 600))
    canvas, document = view.canvas, view.canvas.document
    # the second block's last convolution: its Add no longer matches, nothing below has a shape
    target = [n for n in design.nodes if n.type == "Conv2d" and n.params.get("out_channels") == 256][2]
    view.centerOn(canvas.nodes[design.node_ids_in_order()[150]].center())  # far below it
    area = view.visible_scene_rect()
    shown = {nid for nid, item in canvas.nodes.items() if area.intersects(item.sceneBoundingRect())}
    before = {nid: item.look for nid, item in canvas.nodes.items()}
    document.push(SetParamCommand(design, target.id, "out_channels", 255))
    document.revalidate()
    changed_now = {nid for nid, item in canvas.nodes.items() if item.look != before[nid]}
    assert canvas.restyle_pending
    qtbot.waitUntil(lambda: not canvas.restyle_pending)
    sliced = {nid: item.look for nid, item in canvas.nodes.items()}
    changed = {nid for nid in sliced if sliced[nid] != before[nid]}
    assert len(changed) > 100 and len(changed & shown) >= 3
    assert changed_now == changed & shown  # the nodes in view at once, the others later
    canvas._look_keys.clear()
    canvas.apply_report(document.report)  # all at once
    assert {nid: item.look for nid, item in canvas.nodes.items()} == sliced


def test_the_zoom_box_follows_the_view_after_new(qtbot):
    """The trial: after New the box still said 50% while the canvas was at 100%, and Ctrl+0
    then changed nothing visible. Every way the view's zoom changes reaches the box."""
    from tests.conftest import example_window

    window = example_window(qtbot, (1400, 900))
    window.canvas.set_zoom(0.5)
    assert window.zoom_box.currentText() == "50%"
    window.document.undo_stack.setClean()
    window.new_action.trigger()
    qtbot.waitUntil(lambda: len(window.document.design) == 0)
    assert window.zoom_box.currentText() == percent_text(window.canvas.zoom())
    window.canvas.set_zoom(0.5)
    window.canvas.resetTransform()
    assert window.zoom_box.currentText() == "100%" == percent_text(window.canvas.zoom())
    window.document.undo_stack.setClean()


# ---- Fit to View: names readable where a little scrolling allows it, yet any design fits --------


def long_chain(n: int, lanes: int = 1) -> Design:
    """Input, then ``lanes`` side-by-side chains of alternating Linear/ReLU layers, ``n`` nodes
    in all, laid out top to bottom."""
    design = Design(f"chain {n}")
    first = design.add_node(design.make_node("Input", params={"shape": [8]}))
    tails = [first.id] * lanes
    for i in range(n - 1):
        kind = "Linear" if (i // lanes) % 2 == 0 else "ReLU"
        node = design.add_node(design.make_node(kind, params={"out_features": 8} if kind == "Linear" else {}))
        design.add_edge(Edge(tails[i % lanes], node.id))
        tails[i % lanes] = node.id
    for nid, pos in layered_positions(design, origin=(0.0, 0.0)).items():
        design.move_node(nid, pos)
    return design


def test_fit_shows_a_1000_layer_design_whole_and_zooming_out_stops_there(make_view):
    view = make_view(long_chain(1000, lanes=2), size=(1000, 800))
    key(view, Qt.Key.Key_F)
    assert view.visible_scene_rect().contains(view.canvas.nodes_bounding_rect())
    fitted = view.zoom()
    key(view, Qt.Key.Key_Minus, CTRL)  # zooming out further never jumps back in
    assert view.zoom() == pytest.approx(fitted)
    key(view, Qt.Key.Key_Equal, CTRL)
    assert view.zoom() > fitted
    key(view, Qt.Key.Key_F)
    assert view.visible_scene_rect().contains(view.canvas.nodes_bounding_rect())


def test_every_layer_of_a_1000_layer_chain_can_be_scrolled_to_and_fitted(make_view):
    """One chain of 1,000 layers is 110,000 units long, more than the scene's first size: the
    scene grows with the design, so its end can be scrolled to, and Fit shows it whole."""
    view = make_view(long_chain(1000), size=(1000, 800))
    design = view.document.design
    last = design.node_ids_in_order()[-1]
    assert view.canvas.sceneRect().contains(view.canvas.nodes_bounding_rect())
    view.centerOn(view.canvas.nodes[last].center())
    assert last in fully_visible(view)
    key(view, Qt.Key.Key_F)
    key(view, Qt.Key.Key_F)  # the second Fit shows everything (to the pixel: 150 units)
    pixel = 1 / view.zoom()
    assert view.visible_scene_rect().adjusted(-pixel, -pixel, pixel, pixel).contains(
        view.canvas.nodes_bounding_rect())
    x, y = design.node(last).position  # a layer moved further out can be reached too
    design.move_node(last, (x, y + 200_000))
    view.centerOn(view.canvas.nodes[last].center())
    assert last in fully_visible(view)


def test_fit_keeps_the_part_in_view_when_it_stops_at_the_name_zoom(make_view):
    view = make_view(long_chain(24), size=(900, 600))  # 2 580 tall: 1.3 views at the name zoom
    design = view.document.design
    last = design.node_ids_in_order()[-1]
    view.centerOn(view.canvas.nodes[last].center())  # looking at the end of the network
    key(view, Qt.Key.Key_F)
    assert view.zoom() == FIT_ZOOM
    assert last in fully_visible(view)  # Fit did not jump back to the top
    assert design.node_ids_in_order()[0] not in fully_visible(view)
    assert view.minimap.isVisible()  # the rest is shown there


def name_pixels(view, node_id: str) -> int:
    """How many pixels inside the node, as the view paints it now, are not its fill: its name
    (zoomed out a node is one block of its category's colour, with or without the name)."""
    image = view.viewport().grab().toImage()
    item = view.canvas.nodes[node_id]
    fill = item._header_color
    box = view.mapFromScene(item.sceneBoundingRect()).boundingRect().adjusted(4, 4, -4, -4)
    count = 0
    for x in range(box.left(), box.right()):
        for y in range(box.top(), box.bottom()):
            c = image.pixelColor(x, y)
            count += abs(c.red() - fill.red()) + abs(c.green() - fill.green()) + abs(c.blue() - fill.blue()) > 120
    return count


def test_fit_on_the_example_at_1280x800_shows_the_layers_names(styled, qtbot):
    window = example_window(qtbot, (1280, 800))  # digits_cnn: 15 layers top to bottom
    view = window.canvas
    QApplication.processEvents()
    window.fit_action.trigger()
    assert view.zoom() > NAME_ZOOM  # the overview writes each layer's name from here up
    conv = view.document.design.node_by_name("conv1").id
    assert name_pixels(view, conv) >= 10  # and it did
    whole = view.canvas.nodes_bounding_rect()
    area = view.visible_scene_rect()
    assert area.left() <= whole.left() and area.right() >= whole.right()
    assert len(fully_visible(view)) >= 8  # most of the network at once, the rest a scroll away
    window.fit_action.trigger()  # Fit again: all of it, names or not
    assert view.visible_scene_rect().contains(whole)
    view.set_zoom(NAME_ZOOM)  # the zoom box's 30 %: names too (not lost to rounding)
    view.centerOn(view.canvas.nodes[conv].center())
    assert name_pixels(view, conv) >= 10
