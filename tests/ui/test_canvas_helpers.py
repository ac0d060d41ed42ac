"""Shared fixtures and real-input helpers for the canvas tests (and tests of the helpers).

Mouse input goes to ``view.viewport()`` as real QMouseEvents through QTest, with the button held
during moves, exactly as a user's drag arrives. Every test using ``make_view`` fails if it leaves
a top-level widget behind.
"""
from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QTransform
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from shiboken6 import getCppPointer

from graph.design import Design, Edge
from graph.settings import DATASETS
from ui.canvas.style import NODE_HEIGHT, NODE_WIDTH
from ui.canvas.view import CanvasView
from ui.document import Document

LEFT = Qt.MouseButton.LeftButton


def _iris(design: Design) -> Design:
    """Train on iris (4 features, 3 classes), so a well-formed test network is valid."""
    design.set_data(dict(design.data, name="iris", options=DATASETS["iris"].resolve({})))
    return design


def chain_design() -> Design:
    """Input(4) → fc(3) → relu → Output, top to bottom, 110 apart; valid for iris."""
    design = _iris(Design("chain"))
    previous = None
    for i, (type_id, name, params) in enumerate((("Input", "x", {"shape": [4]}),
                                                 ("Linear", "fc", {"out_features": 3}),
                                                 ("ReLU", "relu", {}),
                                                 ("Output", "y", {}))):
        node = design.make_node(type_id, name=name, params=params, position=(0.0, 110.0 * i))
        design.add_node(node)
        if previous is not None:
            design.add_edge(Edge(previous, node.id))
        previous = node.id
    return design


def residual_design() -> Design:
    """x → a → (b, skip) → add(a, b) → y: a merge with two ordered inputs; valid for iris."""
    design = _iris(Design("residual"))
    x = design.add_node(design.make_node("Input", name="x", params={"shape": [4]}, position=(0, 0)))
    a = design.add_node(design.make_node("Linear", name="a", params={"out_features": 3}, position=(0, 110)))
    b = design.add_node(design.make_node("Linear", name="b", params={"out_features": 3}, position=(200, 220)))
    add = design.add_node(design.make_node("Add", name="add", position=(0, 330)))
    y = design.add_node(design.make_node("Output", name="y", position=(0, 440)))
    for src, dst in ((x, a), (a, b), (a, add), (b, add), (add, y)):
        design.add_edge(Edge(src.id, dst.id))
    return design


@pytest.fixture
def make_view(qtbot):
    """``make_view(design)`` → a shown CanvasView at zoom 1 centred on the nodes; checks leaks."""
    # C++ identity: a widget Qt made (a combo's popup) gets a new Python wrapper, so a new id(),
    # each time topLevelWidgets() is asked once the previous wrapper has been collected.
    before = {getCppPointer(w)[0] for w in QApplication.topLevelWidgets()}
    views = []

    def make(design: Design | None = None, size=(1000, 800)) -> CanvasView:
        document = Document(design if design is not None else chain_design())
        view = CanvasView(document)
        view.resize(*size)
        view.show()
        qtbot.waitExposed(view)
        with qtbot.waitActive(view):  # shortcuts only fire in the active window
            view.activateWindow()
        view.setTransform(QTransform())
        rect = view.canvas.nodes_bounding_rect()
        view.centerOn(rect.center() if not rect.isNull() else QPointF(0, 0))
        view.setFocus()
        views.append(view)
        return view

    yield make
    for view in views:
        view.close()
        view.document.deleteLater()
        view.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()
    leaked = [w for w in QApplication.topLevelWidgets() if getCppPointer(w)[0] not in before]
    assert not leaked, f"top-level widgets leaked: {leaked}"


def vp(view: CanvasView, scene_pos: QPointF) -> QPoint:
    """Viewport coordinates of a scene point."""
    return view.mapFromScene(scene_pos)


def node_center(view: CanvasView, node_id: str) -> QPointF:
    return view.canvas.nodes[node_id].center()


def node_header(view: CanvasView, node_id: str) -> QPointF:
    """A point on the node's header, away from its ports and badge."""
    return view.canvas.nodes[node_id].pos() + QPointF(NODE_WIDTH * 0.3, 12)


def out_port(view: CanvasView, node_id: str, port: str = "out") -> QPointF:
    return view.canvas.nodes[node_id].outputs[port].scenePos()


def in_port(view: CanvasView, node_id: str, port: str = "in") -> QPointF:
    return view.canvas.nodes[node_id].inputs[port].scenePos()


def on_link_near(link, end: str = "dst", distance: float = 10.0) -> QPointF:
    """A point on ``link``'s curve about ``distance`` from its ``end`` (where a user grabs it)."""
    path, target = link.path(), (link.end if end == "dst" else link.start)
    for i in range(1, 200):
        t = 1 - i / 200 if end == "dst" else i / 200
        point = path.pointAtPercent(t)
        d = point - target
        if (d.x() ** 2 + d.y() ** 2) ** 0.5 >= distance:
            return point
    raise AssertionError("link too short")


def empty_spot(view: CanvasView) -> QPointF:
    """A scene point well away from every node and link."""
    rect = view.canvas.nodes_bounding_rect()
    return QPointF(rect.right() + 2 * NODE_WIDTH, rect.center().y())


def press(view, scene_pos: QPointF, button=LEFT, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.mousePress(view.viewport(), button, modifiers, vp(view, scene_pos))


def move(view, scene_pos: QPointF) -> None:
    """A move with whatever buttons the last press left held."""
    QTest.mouseMove(view.viewport(), vp(view, scene_pos))


def release(view, scene_pos: QPointF, button=LEFT, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.mouseRelease(view.viewport(), button, modifiers, vp(view, scene_pos))


def drag(view, start: QPointF, end: QPointF, button=LEFT, steps: int = 6,
         modifiers=Qt.KeyboardModifier.NoModifier, before_release=None) -> None:
    """Press at ``start``, move in ``steps`` to ``end`` with the button held, release there.
    ``before_release(view)`` runs while the button is still down (to check live feedback)."""
    press(view, start, button, modifiers)
    for i in range(1, steps + 1):
        t = i / steps
        move(view, start + (end - start) * t)
    if before_release is not None:
        before_release(view)
    release(view, end, button, modifiers)


def click(view, scene_pos: QPointF, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.mouseClick(view.viewport(), LEFT, modifiers, vp(view, scene_pos))


def key(view, key_code, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(view, key_code, modifiers)


# ---- the helpers themselves -------------------------------------------------------------------------


def test_mouse_drag_helper_drags_an_item_with_the_button_held(make_view):
    view = make_view()
    item = view.canvas.nodes["n2"]
    start = item.pos()
    drag(view, node_header(view, "n2"), node_header(view, "n2") + QPointF(70, 30))
    assert item.pos() == start + QPointF(70, 30)
    assert item.isSelected()


def test_scene_and_viewport_mapping_is_one_to_one_at_zoom_1(make_view):
    view = make_view()
    a, b = QPointF(0, 0), QPointF(100, 50)
    assert vp(view, b) - vp(view, a) == QPoint(100, 50)


def test_qt_binding_keeps_references_to_none():
    """PySide6 6.12.0 on CPython 3.11 dropped a reference to None on each void call, which
    aborts the app after a few thousand calls (pyproject pins a working release)."""
    from PySide6.QtGui import QPainterPath

    path = QPainterPath()
    before = sys.getrefcount(None)
    for _ in range(500):
        path.moveTo(1, 1)
    assert sys.getrefcount(None) >= before - 5


def test_node_geometry_constants_fit_the_examples_spacing():
    # The examples place nodes 110 apart vertically and 160–180 apart sideways.
    assert NODE_HEIGHT < 110 - 30 and NODE_WIDTH < 160
    # Auto-layout leaves room between nodes for a link and its shape label, in both flows.
    from graph.layout import SPACING

    assert SPACING["down"][0] - NODE_HEIGHT >= 30 and SPACING["down"][1] - NODE_WIDTH >= 30
    assert SPACING["right"][0] - NODE_WIDTH >= 60 and SPACING["right"][1] - NODE_HEIGHT >= 24
