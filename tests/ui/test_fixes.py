"""Suggested fixes applied by a click: in the Diagnostics list, the inspector and from the canvas's
error badge, each one undo step made of the ordinary commands."""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel

from graph.design import Edge
from graph.fileformat import load
from tests.conftest import EXAMPLES
from tests.ui.test_window import isolated, no_leaked_windows  # noqa: F401 (fixtures)
from ui.document import Document
from ui.main_window import MainWindow

LEFT = Qt.MouseButton.LeftButton


def broken_window(qtbot) -> MainWindow:
    """The digits CNN without its Flatten (pool2 feeds fc1) and with a 3-way head."""
    design = load(EXAMPLES / "digits_cnn.json")
    ids = {n.name: n.id for n in design.nodes}
    design.remove_node(ids["flatten"])
    design.add_edge(Edge(ids["pool2"], ids["fc1"]))
    design.set_params(ids["fc2"], dict(design.node(ids["fc2"]).params, out_features=3))
    window = MainWindow(Document(design), autosave=False, remember_layout=False)
    window.maybe_save = lambda *_a: True  # the edits are the test's: nothing to ask at close
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    return window


def errors(window) -> dict[str, str]:
    design = window.document.design
    return {design.node(d.node).name: d.fix for d in window.document.report.errors}


def settle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: not window.document.revalidation_pending)


def test_a_click_on_the_diagnostics_fix_applies_it_as_one_undo_step(qtbot):
    window = broken_window(qtbot)
    design, stack = window.document.design, window.document.undo_stack
    assert errors(window) == {"fc1": "insert a Flatten between pool2 and fc1"}
    panel = window.diagnostics
    window.bottom_tabs.setCurrentWidget(panel)
    qtbot.waitUntil(panel.table.isVisible)
    row = next(r for r in range(panel.table.rowCount()) if panel.table.item(r, 0).text() == "fc1")
    rect = panel.table.visualRect(panel.table.model().index(row, panel.FIX_COLUMN))
    qtbot.mouseClick(panel.table.viewport(), LEFT, pos=rect.center())
    settle(qtbot, window)
    fc1 = design.node_by_name("fc1").id
    (feeder,) = design.in_edges(fc1)
    assert design.node(feeder.src).type == "Flatten"
    assert design.node(design.in_edges(feeder.src)[0].src).name == "pool2"
    # With the shapes flowing, the head's class count is the next error, again with its fix.
    assert errors(window) == {"fc2": "set out_features of fc2 to 10"}
    assert stack.count() == 1 and stack.undoText() == "Fix: insert a Flatten between pool2 and fc1"
    stack.undo()
    settle(qtbot, window)
    assert errors(window) == {"fc1": "insert a Flatten between pool2 and fc1"}
    assert not [n for n in design.nodes if n.type == "Flatten"]


def test_the_inspector_fix_is_a_link_that_applies_it(qtbot):
    window = broken_window(qtbot)
    design = window.document.design
    window.document.push(_insert_flatten(window))
    settle(qtbot, window)
    window.canvas.select_nodes([design.node_by_name("fc2").id])
    qtbot.waitUntil(lambda: window.inspector.node_ids == [design.node_by_name("fc2").id])
    (label,) = [w for w in window.inspector.view.findChildren(QLabel)
                if "set out_features of fc2 to 10" in w.text()]
    assert "<a href=" in label.text()
    label.linkActivated.emit("fix:0")
    settle(qtbot, window)
    assert design.node_by_name("fc2").params["out_features"] == 10
    assert window.document.report.ok
    assert window.document.undo_stack.undoText() == "Fix: set out_features of fc2 to 10"


def test_clicking_the_error_badge_offers_the_fix(qtbot):
    window = broken_window(qtbot)
    design, canvas = window.document.design, window.canvas
    fc1 = design.node_by_name("fc1").id
    item = canvas.canvas.nodes[fc1]
    canvas.centerOn(item)
    qtbot.waitUntil(item.badge.isVisible)
    assert "click the badge" in item.look.problems
    at = canvas.mapFromScene(item.badge.scenePos())
    offered = []

    def pick():
        menu = QApplication.activePopupWidget()
        offered.extend(a.text() for a in menu.actions())
        menu.actions()[0].trigger()
        menu.close()

    QTimer.singleShot(50, pick)
    qtbot.mouseClick(canvas.viewport(), LEFT, pos=QPoint(at.x(), at.y()))
    settle(qtbot, window)
    assert offered == ["Fix: insert a Flatten between pool2 and fc1"]
    assert design.node(design.in_edges(fc1)[0].src).type == "Flatten"
    assert "Fixed: insert a Flatten" in canvas.last_feedback


def _insert_flatten(window):
    from ui.fixes import fix_command

    (action,) = window.document.report.errors[0].actions
    return fix_command(window.document.design, action)


def test_add_an_output_after_the_last_layer_is_a_click(qtbot):
    """The trial: "add an Output layer after the last layer" was words only."""
    from graph.validate import validate
    from tests.graph.util import mlp
    from ui.fixes import fix_html

    b = mlp()
    b.design.remove_node(b.id("logits"))
    window = MainWindow(Document(b.design), autosave=False, remember_layout=False)
    window.maybe_save = lambda *_a: True
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    design, stack = window.document.design, window.document.undo_stack
    (missing,) = [d for d in window.document.report.errors if d.code == "no-output"]
    assert "href='fix:0'" in fix_html(missing, design)
    panel = window.diagnostics
    window.bottom_tabs.setCurrentWidget(panel)
    qtbot.waitUntil(panel.table.isVisible)
    row = next(r for r in range(panel.table.rowCount())
               if panel.table.item(r, panel.FIX_COLUMN).text().startswith("add an Output"))
    assert row in panel.fix_actions  # shown as a link
    rect = panel.table.visualRect(panel.table.model().index(row, panel.FIX_COLUMN))
    qtbot.mouseClick(panel.table.viewport(), LEFT, pos=rect.center())
    settle(qtbot, window)
    (out,) = design.outputs()
    (feed,) = design.in_edges(out.id)
    assert design.node(feed.src).name == "fc2"
    assert out.position[1] > design.node(feed.src).position[1]  # below it, as the flow goes
    assert validate(design).ok and window.document.report.ok
    assert stack.count() == 1 and stack.undoText() == "Fix: add an Output layer after fc2"
    stack.undo()
    assert design.outputs() == []
