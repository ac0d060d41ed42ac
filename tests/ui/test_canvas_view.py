"""The canvas follows the model: change the design or the report, assert what the view shows."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from graph.design import Edge
from graph.fileformat import load
from ui.canvas.items import NodeItem
from ui.canvas.style import HEADER_HEIGHT, NAME_ZOOM, ROW_HEIGHT, Z
from ui.canvas.view import FIT_MAX_VIEWS, FIT_ZOOM, CanvasView
from ui.commands import (
    AddEdgeCommand,
    AddNodeCommand,
    RemoveEdgeCommand,
    RenameNodeCommand,
    SetParamCommand,
)
from ui.document import Document

from tests.conftest import EXAMPLES

from .test_canvas_helpers import (  # noqa: F401  (make_view is a fixture)
    chain_design,
    drag,
    empty_spot,
    key,
    make_view,
    residual_design,
    vp,
)


def revalidate(view) -> None:
    """Run the document's pending revalidation now (it is queued for the next event-loop turn)."""
    QApplication.processEvents()
    view.document.revalidate()


def test_items_match_the_design(make_view):
    view = make_view(load(EXAMPLES / "deep_resnet.json"))
    design = view.document.design
    assert set(view.canvas.nodes) == set(design.node_ids_in_order())
    assert set(view.canvas.links) == set(design.edges)
    for node in design.nodes:
        assert view.canvas.nodes[node.id].pos() == QPointF(*node.position)


def test_model_edits_create_and_remove_items(make_view):
    view = make_view()
    design, doc = view.document.design, view.document
    node = design.make_node("Tanh", position=(300, 300))
    doc.push(AddNodeCommand(design, node))
    assert isinstance(view.canvas.nodes[node.id], NodeItem)
    doc.push(AddEdgeCommand(design, Edge("n3", node.id)))
    link = view.canvas.links[Edge("n3", node.id)]
    assert link.start == view.canvas.nodes["n3"].outputs["out"].scenePos()
    assert link.end == view.canvas.nodes[node.id].inputs["in"].scenePos()
    doc.push(RemoveEdgeCommand(design, Edge("n3", node.id)))
    assert Edge("n3", node.id) not in view.canvas.links and link.scene() is None
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert Edge("n3", node.id) not in view.canvas.links
    doc.undo_stack.undo()
    assert node.id not in view.canvas.nodes


def test_rename_and_param_edits_update_the_node_face(make_view):
    view = make_view()
    design, doc = view.document.design, view.document
    item = view.canvas.nodes["n2"]
    assert item.name == "fc" and item.summary == "3"
    doc.push(RenameNodeCommand(design, "n2", "hidden"))
    assert item.name == "hidden" and "<b>hidden</b>" in view.canvas.tooltip_at(item.center())
    doc.push(SetParamCommand(design, "n2", "out_features", 32))
    assert item.summary == "32"
    revalidate(view)
    assert item.look.shape == "32" and item.look.params == "160 params"
    assert view.canvas.links[Edge("n2", "n3")].label == "32"  # the link shows the new shape
    doc.undo_stack.undo()
    revalidate(view)
    assert item.summary == "3" and view.canvas.links[Edge("n2", "n3")].label == "3"


def test_error_badge_explains_and_disappears_when_fixed(make_view):
    view = make_view()
    design, doc = view.document.design, view.document
    item = view.canvas.nodes["n4"]
    assert item.badge is None or not item.badge.isVisible()
    doc.push(RemoveEdgeCommand(design, Edge("n3", "n4")))
    revalidate(view)
    assert item.look.severity == "error" and item.badge.isVisible()
    tip = view.canvas.tooltip_at(item.badge.scenePos())
    assert tip == item.badge.tooltip_text()
    assert "its input is not connected" in tip and "Fix: drag a link" in tip
    relu = view.canvas.nodes["n3"]
    assert relu.look.severity == "warning" and "output is not used" in relu.badge.tooltip_text()
    doc.undo_stack.undo()
    revalidate(view)
    assert item.look.severity is None and not item.badge.isVisible()
    assert relu.look.severity is None


def test_a_shape_error_names_the_fix_on_the_badge(make_view):
    view = make_view(load(EXAMPLES / "digits_cnn.json"))
    design, doc = view.document.design, view.document
    flatten = design.node_by_name("flatten").id
    fc1 = design.node_by_name("fc1").id
    doc.push(RemoveEdgeCommand(design, Edge(flatten, fc1)))
    pool = design.node_by_name("pool2").id
    doc.push(AddEdgeCommand(design, Edge(pool, fc1)))
    revalidate(view)
    item = view.canvas.nodes[fc1]
    assert item.look.severity == "error"
    assert "Fix: insert a Flatten between pool2 and fc1" in item.badge.tooltip_text()


def test_health_disc_sits_below_the_text_and_explains(make_view):
    view = make_view()
    view.set_node_health({"n2": ("warning", "gradients shrink: 1e-6")})
    item = view.canvas.nodes["n2"]
    badge = item.health_badge
    disc = badge.mapRectToParent(badge.disc())
    text_bottom = HEADER_HEIGHT + 3 + 2 * ROW_HEIGHT  # the shape / parameter-count row
    assert disc.top() >= text_bottom and disc.left() >= 0  # never over the shape text
    assert view.node_health("n2") == ("warning", "gradients shrink: 1e-6")
    assert view.canvas.tooltip_at(badge.scenePos()) == "gradients shrink: 1e-6"
    view.set_node_health({})
    assert view.node_health("n2") is None


def test_report_restyles_only_the_nodes_that_changed(make_view):
    view = make_view(load(EXAMPLES / "digits_cnn.json"))
    design = view.document.design
    revalidate(view)
    looks = {nid: item.look for nid, item in view.canvas.nodes.items()}
    fc2 = design.node_by_name("fc2").id
    view.document.push(SetParamCommand(design, fc2, "out_features", 12))  # now 12 ≠ 10 classes
    revalidate(view)
    changed = {nid for nid, item in view.canvas.nodes.items() if item.look is not looks[nid]}
    logits = design.node_by_name("logits").id
    assert changed == {fc2, logits}


def test_merge_links_are_numbered_in_link_order(make_view):
    view = make_view(residual_design())
    design = view.document.design
    add = design.node_by_name("add").id
    first, second = design.in_edges(add)
    one, two = view.canvas.links[first], view.canvas.links[second]
    assert (one.order, two.order) == (1, 2)
    assert one.end.x() < two.end.x()  # slots left to right in link order
    view.document.push(RemoveEdgeCommand(design, first))
    assert two.order == 0  # a single link is not numbered
    view.document.undo_stack.undo()
    assert (view.canvas.links[first].order, two.order) == (1, 2)


def test_design_replaced_rebuilds_every_item(make_view):
    view = make_view()
    old_items = list(view.canvas.nodes.values())
    old_design = view.document.design
    view.document.replace(load(EXAMPLES / "residual_mlp.json"))
    design = view.document.design
    assert set(view.canvas.nodes) == set(design.node_ids_in_order())
    assert all(item.scene() is None for item in old_items)
    old_design.add_node(old_design.make_node("ReLU"))  # the old design no longer drives items
    assert len(view.canvas.nodes) == len(design)
    assert all(item.look.shape for item in view.canvas.nodes.values())


def test_wheel_zooms_about_the_cursor(make_view):
    view = make_view()
    at = vp(view, view.canvas.nodes["n2"].pos())
    under = view.mapToScene(at)
    for _ in range(3):
        event = QWheelEvent(QPointF(at), QPointF(view.viewport().mapToGlobal(at)), QPoint(0, 0),
                            QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                            Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(view.viewport(), event)
    assert abs(view.zoom() - 1.15 ** 3) < 1e-6
    after = view.mapToScene(at)
    assert abs(after.x() - under.x()) <= 1.5 and abs(after.y() - under.y()) <= 1.5


def test_fit_keeps_names_readable_and_fit_again_shows_every_node(make_view):
    view = make_view(load(EXAMPLES / "deep_resnet.json"))  # 1.75 views tall at the name zoom
    key(view, Qt.Key.Key_F)
    assert view.zoom() == FIT_ZOOM >= NAME_ZOOM  # names drawn, not coloured specks
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    whole = view.canvas.nodes_bounding_rect()
    assert visible.left() <= whole.left() and visible.right() >= whole.right()  # its breadth
    assert visible.height() >= whole.height() / FIT_MAX_VIEWS
    key(view, Qt.Key.Key_F)  # again, without moving: everything
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(whole)
    assert view.zoom() < FIT_ZOOM
    key(view, Qt.Key.Key_F)  # and back
    assert view.zoom() == FIT_ZOOM


def pan_drag(view, start: QPoint, delta: QPoint, button) -> None:
    """A drag in viewport pixels (scene points would shift under the panning view)."""
    port = view.viewport()
    QTest.mousePress(port, button, Qt.KeyboardModifier.NoModifier, start)
    for i in range(1, 6):
        QTest.mouseMove(port, start + delta * (i / 5))
    QTest.mouseRelease(port, button, Qt.KeyboardModifier.NoModifier, start + delta)


def test_middle_drag_and_space_drag_pan(make_view):
    view = make_view()
    centre = view.viewport().rect().center()
    before = view.mapToScene(centre)
    spot = vp(view, empty_spot(view))
    pan_drag(view, spot, QPoint(50, 30), Qt.MouseButton.MiddleButton)
    moved = view.mapToScene(centre)
    assert before - moved == QPointF(50, 30)
    QTest.keyPress(view, Qt.Key.Key_Space)
    pan_drag(view, spot, QPoint(-20, 0), Qt.MouseButton.LeftButton)
    QTest.keyRelease(view, Qt.Key.Key_Space)
    assert moved - view.mapToScene(centre) == QPointF(-20, 0)
    assert view.selected_node_ids() == [] and view.document.undo_stack.count() == 0


def test_selected_items_rise_above_the_others(make_view):
    view = make_view()
    view.select_nodes(["n2"])
    assert view.canvas.nodes["n2"].zValue() == Z.NODE_SELECTED
    assert view.canvas.nodes["n3"].zValue() == Z.NODE
    assert all(link.zValue() < Z.NODE for link in view.canvas.links.values())


def test_edit_actions_are_exposed_by_name(make_view):
    view = make_view()
    names = [a.objectName() for a in view.edit_actions()]
    assert names[:2] == ["undo", "redo"] and {"copy", "paste", "duplicate", "delete",
                                               "select_all", "fit_all", "auto_layout"} <= set(names)
    assert not view.action("undo").isEnabled()
    view.document.push(RenameNodeCommand(view.document.design, "n2", "renamed"))
    assert view.action("undo").isEnabled() and "renamed" in view.action("undo").text()


def test_canvas_renders(make_view):
    view = make_view(load(EXAMPLES / "residual_mlp.json"))
    view.fit_all()
    image = view.grab().toImage()
    assert not image.isNull()
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 20  # grid, node bodies, headers, text and links were all drawn


def test_tooltips_are_built_on_demand_for_links_and_ports(make_view):
    view = make_view(residual_design())
    design = view.document.design
    add = design.node_by_name("add").id
    first = design.in_edges(add)[0]
    link = view.canvas.links[first]
    tip = view.canvas.tooltip_at(link.path().pointAtPercent(0.5))
    assert tip.startswith("a → add: carries 3, input 1 of the merge")
    port = view.canvas.nodes[add].inputs["in"]
    assert "links attach in order" in view.canvas.tooltip_at(port.scenePos() + QPointF(25, 0))
    assert view.canvas.tooltip_at(QPointF(-5000, -5000)) == ""


def test_one_validation_per_edit(make_view):
    view = make_view()
    reports = []
    view.document.report_changed.connect(reports.append)
    view.document.push(RenameNodeCommand(view.document.design, "n2", "other"))
    view.document.revalidate()  # e.g. a caller that needs the report at once
    QApplication.processEvents()  # the queued revalidation has nothing left to do
    assert len(reports) == 1


def test_a_closed_view_stops_following_the_design(qtbot):
    design = chain_design()
    document = Document(design)
    view = CanvasView(document)
    assert len(design.node_added) == 2  # the scene and the minimap
    view.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert len(design.node_added) == 0
    design.add_node(design.make_node("ReLU"))  # no slot of a deleted scene is called


def _label_ink(link, zoom: float) -> int:
    """How many pixels painting ``link`` at ``zoom`` puts inside its label's box."""
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QStyleOptionGraphicsItem

    box = link.label_rect()
    image = QImage(int(box.width() * zoom) + 2, int(box.height() * zoom) + 2,
                   QImage.Format.Format_ARGB32)
    image.fill(0)
    painter = QPainter(image)
    painter.scale(zoom, zoom)
    painter.translate(-box.topLeft())
    link.paint(painter, QStyleOptionGraphicsItem(), None)
    painter.end()
    return sum(1 for y in range(image.height()) for x in range(image.width())
               if image.pixelColor(x, y).alpha() > 0)


def test_link_labels_are_left_out_where_unreadable_and_shown_on_hover(make_view):
    """At 50 % a link's shape label would be 6 px high: the canvas leaves it out (level of
    detail) and draws it, at a readable size on screen, while the link is hovered."""
    from PySide6.QtWidgets import QGraphicsSceneHoverEvent

    from ui.canvas.links import READABLE_LABEL_PX, label_readable

    view = make_view()
    revalidate(view)
    link = next(l for l in view.canvas.links.values() if l.label)
    box = link.label_rect()
    full = _label_ink(link, 1.0)
    assert label_readable(1.0) and full > 0.5 * box.width() * box.height()
    assert not label_readable(0.5)
    line_only = _label_ink(link, 0.5)
    assert line_only < 0.5 * 0.25 * box.width() * box.height()  # the line alone: no plate, no text
    view.set_zoom(0.5)
    link.hoverEnterEvent(QGraphicsSceneHoverEvent(QEvent.Type.GraphicsSceneHoverEnter))
    grown = link.label_rect()
    assert grown.height() * 0.5 >= READABLE_LABEL_PX and grown.center() == box.center()
    assert _label_ink(link, 0.5) > 0.5 * grown.width() * grown.height() * 0.25
    link.hoverLeaveEvent(QGraphicsSceneHoverEvent(QEvent.Type.GraphicsSceneHoverLeave))
    assert link.label_rect() == box


def test_a_report_after_the_canvas_is_gone_reaches_nothing(qtbot):
    """The document outlives a canvas (New, closing a window): a revalidation that arrives after
    the canvas was deleted must not reach its scene (it crashed the process)."""
    from PySide6.QtCore import QCoreApplication, QEvent

    from graph.fileformat import load
    from tests.conftest import EXAMPLES
    from ui.canvas.view import CanvasView
    from ui.document import Document

    document = Document(load(EXAMPLES / "digits_mlp.json"))
    view = CanvasView(document)
    scene = view.canvas
    fc = next(n for n in document.design.nodes if n.type == "Linear")
    document.design.set_param(fc.id, "out_features", 33)  # the scene's looks will change
    view.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del view, scene
    document.revalidate()  # nothing left to restyle: no error, no crash
