"""What a new user does, end to end, with real mouse and key events on the real window.

Journey (a), the editor's promise: from an empty canvas, with the mouse (and the keyboard only
to type numbers), build the residual MLP — Input 64 → Linear 64 → ReLU → [Linear → ReLU → Linear]
+ skip → Add → ReLU → Linear 10 → Output — by dragging layers out of the palette and wiring ports;
see the shapes flow; provoke an error, find it pinned to the node, fix it as the app says; save,
reopen and find the design identical.

Journey (b), the training promise: open an example, press Train, watch the curves fill, open the
confusion matrix, click a cell, and export a verified ONNX file — by mouse.

Offscreen there is no platform drag loop, so :class:`PlatformDrag` plays that part: the palette
starts its drag from real mouse events, and the drag's own MIME data reaches the canvas as real
enter / move / drop events. File dialogs are answered by monkeypatching, as in test_window.py.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QDrag, QDragEnterEvent, QDragMoveEvent, QDropEvent, QHelpEvent, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (QApplication, QScrollArea, QTabBar, QTabWidget, QToolBar,
                               QToolTip, QWidget)

from graph.fileformat import dumps, load
from tests.conftest import EXAMPLES
from tests.ui.test_window import isolated, make_window, no_leaked_windows  # noqa: F401 (fixtures)
from tests.ui.test_window import settle
from ui.canvas.style import NODE_WIDTH
from ui.main_window import MainWindow

from .test_canvas_helpers import click, drag, vp

LEFT = Qt.MouseButton.LeftButton
CTRL = Qt.KeyboardModifier.ControlModifier


# ---- real input helpers ---------------------------------------------------------------------------


class PlatformDrag:
    """Stands in for the platform's drag loop (``QDrag.exec``): the drag's MIME data is delivered
    as DragEnter, DragMove and Drop events to :attr:`target` (a widget and a point in it), where
    the test has "moved the cursor" before releasing the button."""

    def __init__(self, monkeypatch):
        self.target: tuple[QWidget, QPoint] | None = None
        self.dropped: list[bool] = []
        monkeypatch.setattr(QDrag, "exec", lambda drag, *args: self.run(drag))

    def run(self, drag: QDrag) -> Qt.DropAction:
        widget, pos = self.target
        mime, copy = drag.mimeData(), Qt.DropAction.CopyAction
        enter = QDragEnterEvent(pos, copy, mime, LEFT, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, enter)
        if not enter.isAccepted():
            self.dropped.append(False)
            return Qt.DropAction.IgnoreAction
        QApplication.sendEvent(widget, QDragMoveEvent(pos, copy, mime, LEFT,
                                                      Qt.KeyboardModifier.NoModifier))
        drop = QDropEvent(QPointF(pos), copy, mime, LEFT, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(widget, drop)
        self.dropped.append(drop.isAccepted())
        return copy if drop.isAccepted() else Qt.DropAction.IgnoreAction


def drag_from_palette(window: MainWindow, platform: PlatformDrag, type_id: str,
                      scene_pos: QPointF) -> str:
    """Press on the palette's ``type_id`` row, move past the drag distance with the button held,
    and drop on the canvas at ``scene_pos``. Returns the new node's id."""
    tree, canvas = window.palette.tree, window.canvas
    item = window.palette.item(type_id)
    tree.scrollToItem(item)
    start = tree.visualItemRect(item).center()
    at = vp(canvas, scene_pos)
    assert canvas.viewport().rect().contains(at), "a user can only drop where the canvas shows"
    platform.target = (canvas.viewport(), at)
    before = set(window.document.design.node_ids_in_order())
    QTest.mousePress(tree.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, start)
    step = QApplication.startDragDistance() + 4
    for dx in (step // 2, step, 2 * step):
        QTest.mouseMove(tree.viewport(), start + QPoint(dx, 0))
    QTest.mouseRelease(tree.viewport(), LEFT, Qt.KeyboardModifier.NoModifier, start + QPoint(2 * step, 0))
    (added,) = set(window.document.design.node_ids_in_order()) - before
    return added


def wheel(view, at: QPoint, notches: int) -> None:
    """Turn the mouse wheel ``notches`` clicks (negative: towards the user, zooming out)."""
    for _ in range(abs(notches)):
        event = QWheelEvent(QPointF(at), QPointF(view.viewport().mapToGlobal(at)), QPoint(0, 0),
                            QPoint(0, 120 if notches > 0 else -120), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(view.viewport(), event)


def port(window: MainWindow, node_id: str, direction: str) -> QPointF:
    item = window.canvas.canvas.nodes[node_id]
    ports = item.outputs if direction == "out" else item.inputs
    return next(iter(ports.values())).scenePos()


def connect(window: MainWindow, src: str, dst: str) -> None:
    """Drag from ``src``'s output port to ``dst``'s input port."""
    before = len(window.document.design.edges)
    drag(window.canvas, port(window, src, "out"), port(window, dst, "in"))
    assert len(window.document.design.edges) == before + 1, window.canvas.last_feedback


def select_node(window: MainWindow, node_id: str) -> None:
    """Click a node's header; the inspector then shows it."""
    item = window.canvas.canvas.nodes[node_id]
    click(window.canvas, item.pos() + QPointF(NODE_WIDTH * 0.3, 10))
    assert window.canvas.selected_node_ids() == [node_id]
    assert window.inspector.node_ids == [node_id]


def type_into(qtbot, field: QWidget, text: str) -> None:
    """Click into a field, select what it holds, type ``text`` and press Enter."""
    qtbot.mouseClick(field, LEFT, pos=field.rect().center())
    qtbot.keyClick(field, Qt.Key.Key_A, CTRL)
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, Qt.Key.Key_Return)


def click_tab(qtbot, page: QWidget) -> None:
    """Click the tab that shows ``page``, in whichever tab widget holds it."""
    tabs = page.parentWidget()
    while tabs is not None and not isinstance(tabs, QTabWidget):
        tabs = tabs.parentWidget()
    assert tabs is not None, "the page is in no tab widget"
    index = next(i for i in range(tabs.count()) if tabs.widget(i) is page
                 or tabs.widget(i).isAncestorOf(page))
    bar = tabs.tabBar()
    qtbot.mouseClick(bar, LEFT, pos=bar.tabRect(index).center())
    assert tabs.currentIndex() == index


def choose_from_menu(qtbot, window: MainWindow, menu_title: str, action_text: str,
                     submenu_text: str | None = None) -> None:
    """Click a menu in the menu bar, then one of its entries (and one in its submenu)."""
    bar = window.menuBar()
    top = next(a for a in bar.actions() if a.text().replace("&", "") == menu_title)
    qtbot.mouseClick(bar, LEFT, pos=bar.actionGeometry(top).center())
    menu = top.menu()
    qtbot.waitUntil(menu.isVisible)
    entry = next(a for a in menu.actions() if a.text().replace("&", "") == action_text)
    if submenu_text is None:
        qtbot.mouseClick(menu, LEFT, pos=menu.actionGeometry(entry).center())
        return
    qtbot.mouseClick(menu, LEFT, pos=menu.actionGeometry(entry).center())
    submenu = entry.menu()
    qtbot.waitUntil(submenu.isVisible)
    item = next(a for a in submenu.actions() if a.text() == submenu_text)
    qtbot.mouseClick(submenu, LEFT, pos=submenu.actionGeometry(item).center())


def click_dock_tab(qtbot, window: MainWindow, title: str) -> None:
    """Click the tab of a dock that shares its place with others (e.g. Inspector | Training)."""
    for bar in window.findChildren(QTabBar):
        if bar.parentWidget() is window and bar.isVisible():
            for i in range(bar.count()):
                if bar.tabText(i) == title:
                    qtbot.mouseClick(bar, LEFT, pos=bar.tabRect(i).center())
                    return
    raise AssertionError(f"no dock tab {title!r}")


def _ancestors(widget: QWidget):
    while widget is not None:
        yield widget
        widget = widget.parentWidget()


def toolbar_button(window: MainWindow, action) -> QWidget:
    bar = window.findChild(QToolBar, "mainToolbar")
    return bar.widgetForAction(action)


# ---- journey (a): build the residual MLP from an empty canvas ----------------------------------------


PLAN = [  # (key, layer type, column, row): the trunk in column 0, the residual branch in column 1
    ("x", "Input", 0, 0), ("stem", "Linear", 0, 1), ("stem_relu", "ReLU", 0, 2),
    ("fc1", "Linear", 1, 3), ("relu", "ReLU", 1, 4), ("fc2", "Linear", 1, 5),
    ("add", "Add", 0, 6), ("post", "ReLU", 0, 7), ("head", "Linear", 0, 8), ("y", "Output", 0, 9),
]
LINKS = [("x", "stem"), ("stem", "stem_relu"), ("stem_relu", "fc1"), ("fc1", "relu"), ("relu", "fc2"),
         ("stem_relu", "add"), ("fc2", "add"), ("add", "post"), ("post", "head"), ("head", "y")]


def test_build_the_residual_mlp_by_mouse_fix_an_error_save_and_reopen(
        make_window, qtbot, monkeypatch, tmp_path):
    window = make_window(EXAMPLES / "digits_cnn.json")  # the default example on screen
    platform = PlatformDrag(monkeypatch)
    qtbot.mouseClick(toolbar_button(window, window.new_action), LEFT)  # nothing to save yet
    design = window.document.design
    assert len(design) == 0 and window.document.path is None
    canvas = window.canvas
    with qtbot.waitActive(window):
        window.activateWindow()

    # Zoom out so the ten layers fit, then drag each out of the palette.
    wheel(canvas, canvas.viewport().rect().center(), -5)
    assert canvas.zoom() == pytest.approx(1.15 ** -5)
    top = canvas.mapToScene(canvas.viewport().rect().topLeft())
    nodes = {}
    for key_, type_id, col, row in PLAN:
        spot = QPointF(top.x() + 300 + col * 220, top.y() + 60 + row * 105)
        nodes[key_] = drag_from_palette(window, platform, type_id, spot)
        assert design.node(nodes[key_]).type == type_id
        assert window.canvas.selected_node_ids() == [nodes[key_]]  # the dropped layer is selected
    assert platform.dropped == [True] * len(PLAN)
    assert window.document.undo_stack.count() == len(PLAN)  # one step per drop

    for src, dst in LINKS:
        connect(window, nodes[src], nodes[dst])
    add_inputs = [e.src for e in design.in_edges(nodes["add"])]
    assert add_inputs == [nodes["stem_relu"], nodes["fc2"]]  # the skip first, in link order
    settle(qtbot, window)
    # The new Input holds the default image shape: the first Linear says what is wrong.
    (problem,) = window.document.report.errors
    assert problem.node == nodes["stem"] and "Flatten" in problem.fix

    # Parameters in the inspector: Input 64 features, a 10-way classifier.
    select_node(window, nodes["x"])
    type_into(qtbot, window.inspector.view.editors["shape"].line, "64")
    assert design.node(nodes["x"]).params["shape"] == [64]
    select_node(window, nodes["head"])
    type_into(qtbot, window.inspector.view.editors["out_features"].spin, "10")
    assert design.node(nodes["head"]).params["out_features"] == 10
    settle(qtbot, window)
    # digits comes as 1×8×8 images by default; the app names both ways out.
    (problem,) = window.document.report.errors
    assert problem.node == nodes["x"] and problem.code == "data-shape"
    assert problem.fix == ("set the Input shape to [1, 8, 8], "
                           "or set the dataset option as_images to false")
    click(canvas, top + QPointF(40, 40))  # empty canvas: the inspector shows the design,
    assert canvas.selected_node_ids() == [] and window.inspector.node_ids == []
    data_button = window.inspector.view.panel_buttons["data"]  # whose Data panel edits the data
    qtbot.mouseClick(data_button, LEFT)
    data_panel = window.training.data_panel
    qtbot.waitUntil(data_panel.isVisible)
    as_images = data_panel.options_form.editors["as_images"].check
    qtbot.mouseClick(as_images, LEFT, pos=QPoint(8, as_images.height() // 2))
    settle(qtbot, window)
    assert design.data["options"] == {"as_images": False}
    assert window.document.report.ok and not window.document.report.diagnostics

    # The shapes flow: on each node's face, on the links and in the summary.
    faces = {k: window.canvas.canvas.nodes[n].look.shape for k, n in nodes.items()}
    assert faces == {"x": "64", "stem": "64", "stem_relu": "64", "fc1": "64", "relu": "64",
                     "fc2": "64", "add": "64", "post": "64", "head": "10", "y": "10"}
    links = window.canvas.canvas.links
    assert {links[e].label for e in design.edges} == {"64", "10"}
    click_tab(qtbot, window.summary)
    shown = window.summary.rows()
    rows = {cells[0]: cells[2] for cells in shown[:-1]}
    assert rows[design.node(nodes["head"]).name] == "10"
    total_params = 3 * (64 * 64 + 64) + (64 * 10 + 10)  # three 64→64 Linears and the 64→10 head
    assert shown[-1][3] == f"{total_params:,}"
    assert window.status_label.text().startswith("✓ valid")

    # Provoke an error: the branch's last Linear gives 32 features, the skip 64. The Data
    # panel is in front of the inspector: back to the inspector's tab first.
    window.inspector_dock.raise_()
    qtbot.waitUntil(lambda: window.inspector.in_view)
    select_node(window, nodes["fc2"])
    type_into(qtbot, window.inspector.view.editors["out_features"].spin, "32")
    settle(qtbot, window)
    (problem,) = window.document.report.errors
    assert problem.node == nodes["add"]  # pinned to the merge that cannot add them
    assert problem.message == "inputs have shapes that do not match: 64, 32"
    fc2_name = design.node(nodes["fc2"]).name
    assert problem.fix == f"set out_features of {fc2_name} to 64"
    add_item = window.canvas.canvas.nodes[nodes["add"]]
    assert add_item.look.severity == "error" and add_item.badge.isVisible()
    # Resting the cursor on the badge shows what is wrong and what would fix it.
    at = vp(canvas, add_item.badge.scenePos())
    QApplication.sendEvent(canvas.viewport(), QHelpEvent(QEvent.Type.ToolTip, at,
                                                         canvas.viewport().mapToGlobal(at)))
    qtbot.waitUntil(QToolTip.isVisible)
    assert "do not match: 64, 32" in QToolTip.text() and f"set out_features of {fc2_name} to 64" \
        in QToolTip.text()
    QToolTip.hideText()
    assert window.status_label.text().startswith("✗ 1 error")

    # The diagnostics list points at it: a click selects the Add and centres it.
    click_tab(qtbot, window.diagnostics)
    dtable = window.diagnostics.table
    row = window.diagnostics.node_row(nodes["add"])
    qtbot.mouseClick(dtable.viewport(), LEFT, pos=dtable.visualItemRect(dtable.item(row, 1)).center())
    assert canvas.selected_node_ids() == [nodes["add"]]
    fix = dtable.item(row, 2).text()
    # Do what it says: "set <param> of <layer> to <value>".
    param, name, value = re.fullmatch(r"set (\w+) of (\w+) to (\d+)", fix).groups()
    select_node(window, design.node_by_name(name).id)
    type_into(qtbot, window.inspector.view.editors[param].spin, value)
    settle(qtbot, window)
    assert window.document.report.ok and not add_item.look.severity
    assert not add_item.badge.isVisible()

    # Save (a new design asks where), start anew, and reopen it from File ▸ Open Recent.
    target = tmp_path / "my_residual"
    monkeypatch.setattr("ui.main_window.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(target), "Netwright designs (*.json)"))
    qtbot.mouseClick(toolbar_button(window, window.save_action), LEFT)
    saved = target.with_suffix(".json")
    assert window.document.path == saved and not window.isWindowModified()
    text = saved.read_text(encoding="utf-8")
    assert text == dumps(design)
    built = design.to_dict()
    qtbot.mouseClick(toolbar_button(window, window.new_action), LEFT)
    assert len(window.document.design) == 0
    choose_from_menu(qtbot, window, "File", "Open Recent", saved.name)
    reopened = window.document.design
    assert reopened is not design and reopened.to_dict() == built
    assert window.windowTitle() == "my_residual.json[*] — Netwright" and not window.isWindowModified()
    settle(qtbot, window)
    assert window.document.report.ok
    assert set(window.canvas.canvas.nodes) == set(nodes.values())
    assert {window.canvas.canvas.nodes[n].look.shape for n in nodes.values()} == {"64", "10"}
    assert load(saved).to_dict() == built  # what is on disk is what was built
    # Nothing is selected: the inspector shows the reopened design, the Data panel its data.
    assert window.inspector.view.name_edit.text() == reopened.name
    assert window.training.data_panel.options_form.editors["as_images"].value() is False


# ---- journey (b): train an example, see the curves and the confusion matrix, export ONNX ------------


@pytest.mark.slow
def test_train_an_example_watch_curves_open_confusion_matrix_and_export_onnx(
        make_window, qtbot, isolated, tmp_path):
    window = make_window()
    choose_from_menu(qtbot, window, "File", "Examples", "Two Moons MLP")
    assert window.document.design.name == "Two Moons MLP" and window.document.path is None
    ws = window.training
    epochs = ws.panel.forms["Loop"].editors["epochs"]
    click_dock_tab(qtbot, window, "Training")
    epochs.spin.parentWidget().ensurePolished()
    scroll = next(w for w in _ancestors(epochs) if isinstance(w, QScrollArea))
    scroll.ensureWidgetVisible(epochs)  # as scrolling the panel down to "Loop" does
    assert epochs.isVisible()
    type_into(qtbot, epochs.spin, "4")
    assert window.document.design.training["epochs"] == 4  # an undoable edit of the design

    with qtbot.waitSignal(ws.controller.run_finished, timeout=120_000) as finished:
        qtbot.mouseClick(toolbar_button(window, ws.train_action), LEFT)
        assert ws.controller.busy and not ws.train_action.isEnabled()
        qtbot.waitUntil(ws.plots.isVisible)  # Train brings the curves into view
    result = finished.args[0]
    assert result["status"] == "completed"
    # An untitled design trains into the app-data folder ($NETWRIGHT_DATA_DIR here).
    assert Path(result["run_dir"]).is_relative_to(isolated / "runs")
    ws.plots.redraw()
    assert ws.plots.points("epoch/train_loss") == 4 and ws.plots.points("epoch/val_accuracy") == 4
    assert "epoch/epochs" not in ws.plots.curves  # bookkeeping is not drawn as a metric
    assert "completed" in ws.panel.progress.format()

    click_tab(qtbot, ws.results)
    qtbot.waitUntil(lambda: ws.results.predictions is not None, timeout=60_000)
    confusion = ws.results.confusion
    assert (confusion.rowCount(), confusion.columnCount()) == (2, 2)
    counts = [[int(confusion.item(r, c).text()) for c in range(2)] for r in range(2)]
    assert sum(map(sum, counts)) == 150  # the test split of 1,000 moons
    qtbot.mouseClick(confusion.viewport(), LEFT,
                     pos=confusion.visualItemRect(confusion.item(0, 0)).center())
    assert ws.results.samples_label.text().startswith(f"{counts[0][0]} sample")

    qtbot.waitUntil(lambda: len(ws.history.runs) == 1, timeout=10_000)
    choose_from_menu(qtbot, window, "File", "Export Model…")
    from ui.training.export_dialog import ExportDialog

    qtbot.waitUntil(lambda: any(isinstance(w, ExportDialog) and w.isVisible()
                                for w in QApplication.topLevelWidgets()))
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, ExportDialog))
    assert dialog.source_combo.currentData() == result["run_dir"]  # the run just trained
    for fmt, box in dialog.format_boxes.items():
        if box.isChecked() != (fmt == "onnx"):
            qtbot.mouseClick(box, LEFT, pos=QPoint(8, box.height() // 2))
    assert [f for f, b in dialog.format_boxes.items() if b.isChecked()] == ["onnx"]
    out = tmp_path / "export"
    out.mkdir()
    type_into(qtbot, dialog.folder_edit, str(out))
    qtbot.mouseClick(dialog.export_button, LEFT)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=120_000)
    ((fmt, exported),) = dialog.results
    assert fmt == "onnx" and not isinstance(exported, str), exported
    assert exported.max_diff <= 1e-4
    assert (out / "two_moons_mlp.onnx").is_file()
    assert dialog.table.item(0, 3).text() == "verified"
    dialog.close()
    shutil.rmtree(out)
