"""The editor window: panels wired to the canvas, title, file workflow, drops, screenshot.

The fixtures here (settings and app-data isolation, leak check, window factory) are imported by
the other window-part test modules (palette, inspector, files).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QEvent, QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

from graph.fileformat import dumps, load
from graph.summary import human_bytes, human_count, summarize
from runtime.codegen import python_source
from runtime.compiler import compile_design
from tests.conftest import EXAMPLES, ROOT
from ui.commands import SetParamCommand, SetTrainingFlagsCommand
from ui.document import Document
from ui.main_window import MainWindow

IGNORED_TOP_LEVELS = {"QTipLabel"}  # Qt's shared tooltip window


def _ptr(widget) -> int:
    return shiboken6.getCppPointer(widget)[0]


@pytest.fixture(autouse=True)
def no_leaked_windows(qapp):
    """Fail a test that leaves top-level widgets behind."""
    before = {_ptr(w) for w in QApplication.topLevelWidgets()}
    yield
    for _ in range(3):
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        QApplication.processEvents()
    leaked = [w for w in QApplication.topLevelWidgets()
              if _ptr(w) not in before and type(w).__name__ not in IGNORED_TOP_LEVELS]
    for w in leaked:
        w.close()
        w.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not leaked, f"leaked top-level widgets: {[type(w).__name__ for w in leaked]}"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Settings (recent files, window layout) and autosaves go to this test's tmp folder."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    data = tmp_path / "data"
    monkeypatch.setenv("NETWRIGHT_DATA_DIR", str(data))
    return data


@pytest.fixture
def make_window(qtbot):
    """``make_window(path=None, **kwargs)``: a shown MainWindow, closed without prompts after
    the test."""
    windows: list[MainWindow] = []

    def make(path: Path | None = None, **kwargs) -> MainWindow:
        document = Document()
        if path is not None:
            document.open(path)
        window = MainWindow(document, **kwargs)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        if shiboken6.isValid(window):
            window.document.undo_stack.setClean()
            window.close()
            window.deleteLater()


@pytest.fixture
def cnn_file(tmp_path) -> Path:
    path = tmp_path / "digits_cnn.json"
    shutil.copy(EXAMPLES / "digits_cnn.json", path)
    return path


def settle(qtbot, window) -> None:
    """Wait for the revalidation that the last edits scheduled (it runs from the event loop)
    and for the canvas to show it (a large restyle goes on in slices)."""
    qtbot.waitUntil(lambda: not window.document.revalidation_pending
                    and not window.canvas.canvas.restyle_pending)


# ---- panels and canvas --------------------------------------------------------------------------


def test_diagnostics_click_selects_and_centres_the_node(make_window, qtbot, cnn_file):
    window = make_window(cnn_file)
    design = window.document.design
    fc2 = design.node_by_name("fc2")
    window.document.push(SetParamCommand(design, fc2.id, "out_features", 7))  # 10 classes needed
    settle(qtbot, window)
    window.canvas.centerOn(QPointF(5000, -5000))  # look far away first
    table = window.diagnostics.table
    row = window.diagnostics.node_row(fc2.id)
    assert row is not None and "10 classes" in table.item(row, 1).text()
    assert table.item(row, 2).text() == "set out_features of fc2 to 10"

    window.bottom_tabs.setCurrentWidget(window.diagnostics)
    item = table.item(row, 1)
    table.scrollToItem(item)
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=table.visualItemRect(item).center())

    assert window.canvas.selected_node_ids() == [fc2.id]
    assert window.inspector.node_ids == [fc2.id]
    node_item = window.canvas.canvas.nodes[fc2.id]
    shown_at = window.canvas.mapFromScene(node_item.center())
    middle = window.canvas.viewport().rect().center()
    assert abs(shown_at.x() - middle.x()) <= 2 and abs(shown_at.y() - middle.y()) <= 2


def test_summary_table_matches_graph_summary(make_window, qtbot, cnn_file):
    window = make_window(cnn_file)
    design = window.document.design
    expected = summarize(design, window.document.report.inference)
    rows = window.summary.rows()
    assert len(rows) == len(expected.rows) + 1
    for cells, row in zip(rows, expected.rows):
        assert cells == [row.name, row.type, row.shape, f"{row.params:,}", human_count(row.macs)]
    totals = rows[-1]
    assert totals[0] == "Total"
    assert totals[3] == f"{expected.total_params:,}" and totals[4] == human_count(expected.total_macs)
    assert human_bytes(expected.training_bytes) in window.summary.memory.full_text()
    assert f"batch {expected.batch_size}" in window.summary.memory.full_text()
    assert "frozen" not in window.summary.memory.full_text()
    fc1 = design.node_by_name("fc1")
    window.document.push(SetTrainingFlagsCommand(design, [fc1.id], trainable=False))
    settle(qtbot, window)
    frozen = window.document.report.inference.params[fc1.id]
    trainable = expected.total_params - frozen
    assert f"({trainable:,} trainable, {frozen:,} frozen)" in window.summary.memory.full_text()


def test_summary_row_click_focuses_node(make_window, qtbot, cnn_file):
    window = make_window(cnn_file)
    window.bottom_tabs.setCurrentWidget(window.summary)
    tree = window.summary.tree
    conv2 = window.document.design.node_by_name("conv2")
    item = next(tree.topLevelItem(r) for r in range(tree.topLevelItemCount())
                if tree.topLevelItem(r).text(0) == "conv2")
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton,
                     pos=tree.visualItemRect(item).center())
    assert window.canvas.selected_node_ids() == [conv2.id]


def test_code_tab_shows_generated_code_and_compile_errors(make_window, qtbot, cnn_file):
    window = make_window(cnn_file)
    tabs = window.bottom_tabs
    bar = tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(tabs.indexOf(window.code)).center())
    assert tabs.currentWidget() is window.code
    design = window.document.design
    compiled = compile_design(design)
    assert window.code.text() == python_source(design, compiled)
    assert window.code.editor.isReadOnly()

    window.code.form.setCurrentIndex(window.code.form.findData(window.code.FX))
    assert window.code.text().strip() == compiled.module.code.strip()

    window.document.push(SetParamCommand(design, design.node_by_name("fc1").id, "out_features", 0))
    qtbot.waitUntil(lambda: not window.code.ok)
    text = window.code.text()
    assert "the design has errors" in text and "out_features must be at least 1" in text


def test_title_shows_name_and_star_while_modified(make_window, qtbot, cnn_file):
    window = make_window(cnn_file)
    assert window.windowTitle() == "digits_cnn.json[*] — Netwright"
    assert not window.isWindowModified()
    design = window.document.design
    window.document.push(SetParamCommand(design, design.node_by_name("conv1").id, "out_channels", 8))
    assert window.isWindowModified()
    assert window.undo_action.text() == "Undo Set conv1.out_channels"
    window.undo_action.trigger()
    assert not window.isWindowModified()
    window.redo_action.trigger()
    assert window.isWindowModified()
    assert window.save()
    assert not window.isWindowModified()


def test_examples_menu_lists_designs_by_name_and_opens_untitled(make_window, monkeypatch):
    window = make_window()
    names = [a.text() for a in window.examples_menu.actions()]
    expected = sorted((json.loads(p.read_text())["name"] for p in EXAMPLES.glob("*.json")),
                      key=str.lower)
    assert names == expected
    action = next(a for a in window.examples_menu.actions() if a.text() == "Digits CNN")
    action.trigger()
    assert window.document.design.name == "Digits CNN"
    assert window.document.path is None  # Save asks where: never overwrites the example
    assert window.windowTitle() == "Digits CNN[*] — Netwright"


# ---- closing and files --------------------------------------------------------------------------


def _modify(window: MainWindow) -> None:
    design = window.document.design
    node = design.node_by_name("conv1")
    window.document.push(SetParamCommand(design, node.id, "out_channels", 12))


def test_close_prompts_with_unsaved_changes(make_window, monkeypatch, cnn_file):
    window = make_window(cnn_file)
    _modify(window)
    asked: list[str] = []

    def answer(button):
        def question(parent, title, text, buttons, default):
            asked.append(text)
            return button
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Cancel))
    assert not window.close()
    assert window.isVisible() and asked and "unsaved changes" in asked[0]

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Save))
    assert window.close()
    assert load(cnn_file).node_by_name("conv1").params["out_channels"] == 12


def test_close_prompt_discard_closes_without_saving(make_window, monkeypatch, cnn_file):
    window = make_window(cnn_file)
    before = cnn_file.read_bytes()
    _modify(window)
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Discard)
    assert window.close()
    assert cnn_file.read_bytes() == before


def test_new_with_unsaved_changes_asks_first(make_window, monkeypatch, cnn_file):
    window = make_window(cnn_file)
    _modify(window)
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Cancel)
    window.new_action.trigger()
    assert window.document.design.node_by_name("conv1") is not None
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Discard)
    window.new_action.trigger()
    assert len(window.document.design) == 0 and window.document.path is None


def test_save_as_then_open_round_trip_is_identical(make_window, monkeypatch, tmp_path):
    window = make_window()
    window.open_example(EXAMPLES / "residual_mlp.json")
    _modify_first_linear(window)
    target = tmp_path / "saved" / "mine"
    monkeypatch.setattr("ui.main_window.QFileDialog.getSaveFileName",
                        lambda *a, **k: (str(target), "Netwright designs (*.json)"))
    assert window.save_action.isEnabled()
    window.save_action.trigger()  # no path yet: Save asks where (Save As)
    saved = target.with_suffix(".json")
    assert saved.read_text(encoding="utf-8") == dumps(window.document.design)
    assert window.document.path == saved and not window.isWindowModified()
    assert window.recent.paths() == [saved.resolve()]

    other = make_window()
    monkeypatch.setattr("ui.main_window.QFileDialog.getOpenFileName",
                        lambda *a, **k: (str(saved), "Netwright designs (*.json)"))
    other.open_action.trigger()
    assert other.document.design.to_dict() == window.document.design.to_dict()
    assert other.windowTitle() == "mine.json[*] — Netwright"
    other.save()
    assert saved.read_text(encoding="utf-8") == dumps(window.document.design)


def _modify_first_linear(window: MainWindow) -> None:
    design = window.document.design
    node = next(n for n in design.nodes if n.type == "Linear")
    window.document.push(SetParamCommand(design, node.id, "out_features", 33))


def test_broken_file_shows_reason_and_leaves_design_untouched(make_window, monkeypatch, tmp_path,
                                                              cnn_file):
    window = make_window(cnn_file)
    _modify(window)
    before = window.document.design.to_dict()
    undo_count = window.document.undo_stack.count()
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "netwright", "format_version": 1, "nodes": [{"id": "a"}]}')
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a: shown.append(text))

    assert not window.open_path(broken, ask=False)  # as `main.py open broken.json` does

    assert shown and 'missing field "type"' in shown[0] and "nodes[0]" in shown[0]
    assert window.document.design.to_dict() == before
    assert window.document.path == cnn_file and window.isWindowModified()
    assert window.document.undo_stack.count() == undo_count


def test_broken_json_syntax_names_line_and_column(make_window, monkeypatch, tmp_path):
    window = make_window()
    broken = tmp_path / "bad.json"
    broken.write_text('{"format": "netwright",\n "nodes": [}')
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda parent, title, text, *a: shown.append(text))
    assert not window.open_path(broken)
    assert "not valid JSON" in shown[0] and "line 2" in shown[0]
    assert len(window.document.design) == 0


def _drop(target, path: Path) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    pos = QPointF(target.rect().center())
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)
    return drop.isAccepted()


@pytest.mark.parametrize("on", ["window", "canvas"])
def test_dropping_a_json_file_opens_it(make_window, qtbot, cnn_file, on):
    window = make_window()
    target = window if on == "window" else window.canvas.viewport()
    assert _drop(target, cnn_file)
    qtbot.waitUntil(lambda: window.document.path == cnn_file)
    assert window.document.design.name == "Digits CNN"
    assert window.recent.paths() == [cnn_file.resolve()]


def test_recent_files_menu_opens_a_recent_design(make_window, cnn_file):
    window = make_window()
    window.recent.add(cnn_file)
    window.recent_menu.aboutToShow.emit()
    action = next(a for a in window.recent_menu.actions() if a.text() == "digits_cnn.json")
    action.trigger()
    assert window.document.path == cnn_file


def test_palette_search_shortcut_focuses_search(make_window, qtbot):
    window = make_window()
    window.find_action.trigger()
    qtbot.waitUntil(window.palette.search.hasFocus)


# ---- command line -------------------------------------------------------------------------------


@pytest.mark.slow
def test_screenshot_command_writes_png(tmp_path):
    out = tmp_path / "shot.png"
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "screenshot", str(EXAMPLES / "digits_mlp.json"),
         "-o", str(out), "--size", "900x600"],
        capture_output=True, text=True, timeout=120,
        env={**_env(tmp_path), "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == (900, 600)


@pytest.mark.slow
def test_screenshot_of_broken_file_is_one_message(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "screenshot", str(broken), "-o",
         str(tmp_path / "x.png")], capture_output=True, text=True, timeout=120,
        env={**_env(tmp_path), "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 1
    assert "not valid JSON" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.png").exists()


def _env(tmp_path: Path) -> dict[str, str]:
    import os

    return {**os.environ, "NETWRIGHT_DATA_DIR": str(tmp_path / "data"),
            "XDG_CONFIG_HOME": str(tmp_path / "config")}


def test_screenshot_function_renders_the_design(tmp_path, isolated):
    from ui.app import screenshot

    out = screenshot(EXAMPLES / "digits_mlp.json", tmp_path / "w.png", (800, 500))
    image = QImage(str(out))
    assert (image.width(), image.height()) == (800, 500)
    # Not a blank picture: the dark theme and the coloured nodes give many distinct colours.
    colours = {image.pixel(x, y) for x in range(0, 800, 7) for y in range(0, 500, 7)}
    assert len(colours) > 50
    assert not isolated.exists()  # no autosave folder: the screenshot window never autosaves


@pytest.mark.parametrize("size", [(1400, 900), (1280, 800)])
def test_summary_totals_stay_in_view_under_a_long_table(make_window, qtbot, size, qapp):
    """The Total row is a fixed footer: visible without scrolling however many layers the
    table lists, its numbers in the table's columns."""
    from ui.app import stylesheet

    qapp.setStyleSheet(stylesheet())  # the real window's fonts and paddings
    window = make_window(EXAMPLES / "digits_cnn.json", remember_layout=False)  # 15 rows
    window.resize(*size)
    window.bottom_tabs.setCurrentWidget(window.summary)
    panel, tree = window.summary, window.summary.tree
    qtbot.waitUntil(lambda: tree.isVisible() and tree.verticalScrollBar().maximum() > 0)
    assert panel.rows()[-1][0] == "Total"
    totals = [tree.topLevelItem(r) for r in range(tree.topLevelItemCount())
              if tree.topLevelItem(r).text(0) == "Total"]
    if totals:  # a row of the table: it must be in view without scrolling
        assert tree.viewport().rect().contains(tree.visualItemRect(totals[0]))
    footer = panel.totals
    assert footer.isVisible() and footer.topLevelItem(0).text(0) == "Total"
    shown = footer.visualItemRect(footer.topLevelItem(0))
    assert footer.viewport().rect().contains(shown)
    assert panel.rect().contains(footer.geometry())
    header = tree.header()
    qtbot.waitUntil(lambda: [footer.columnWidth(c) for c in range(5)]
                    == [header.sectionSize(c) for c in range(5)])  # the table's columns
    qapp.setStyleSheet("")


def test_an_edit_rebuilds_only_what_it_changed(make_window, qtbot, cnn_file):
    """Each edit revalidates, and each view of the report takes the new one — but a view whose
    content did not change keeps its widgets, and the Summary, a hidden tab, builds its table
    only when shown (with the newest numbers). This is what an edit costs the GUI thread."""
    window = make_window(cnn_file)
    window.bottom_tabs.setCurrentWidget(window.diagnostics)
    design = window.document.design
    fc1, conv1 = design.node_by_name("fc1"), design.node_by_name("conv1")
    window.canvas.select_nodes([conv1.id])
    facts = lambda: [w for w in window.inspector.view.findChildren(QLabel, "fact")  # noqa: E731
                     if w.property("kept")]
    for label in window.inspector.view.findChildren(QLabel, "fact"):
        label.setProperty("kept", True)  # marks the widgets shown now
    window.diagnostics.table.item(0, 1).setData(Qt.ItemDataRole.UserRole + 7, "kept")
    row_kept = lambda: window.diagnostics.table.item(0, 1).data(Qt.ItemDataRole.UserRole + 7)  # noqa: E731
    shown_facts = len(facts())
    summary_items = window.summary.tree.topLevelItemCount()

    window.document.push(SetParamCommand(design, fc1.id, "out_features", 77))
    settle(qtbot, window)
    # conv1's facts and the design's diagnostics (none) are as they were: the same widgets
    assert shown_facts == 4 and len(facts()) == shown_facts and row_kept() == "kept"
    assert window.summary._pending is window.document.report  # not built while hidden
    window.bottom_tabs.setCurrentWidget(window.summary)
    assert window.summary._pending is None
    assert window.summary.tree.topLevelItemCount() == summary_items
    assert next(r for r in window.summary.rows() if r[0] == "fc1")[2] == "77"

    fc2 = design.node_by_name("fc2")
    window.document.push(SetParamCommand(design, fc2.id, "out_features", 7))  # 10 classes needed
    settle(qtbot, window)
    assert row_kept() is None and "10 classes" in window.diagnostics.table.item(0, 1).text()
