"""Text the trial found cut at 1280×800, read whole: the Diagnostics' problems and fixes wrap
inside rows tall enough for them; the Runs table shows all its columns without scrolling and
at least five runs; the Training tab's status keeps its height (the run folder stays in view)
and its speed says what it counts."""
from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionViewItem

from graph.fileformat import load, save
from tests.conftest import EXAMPLES, example_window
from tests.ui.test_forms_fit import styled  # noqa: F401 (fixture)
from ui.commands import AddNodeCommand, SetParamCommand

SIZE = (1280, 800)
MIN_RUNS_SHOWN = 5


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    """Two real (short) runs of the digits CNN at two learning rates, copied below as the
    design's runs."""
    from runtime.training import train

    root = tmp_path_factory.mktemp("trained")
    for name, lr in (("a", 0.003), ("b", 0.01)):
        events = list(train(load(EXAMPLES / "digits_cnn.json"), run_dir=root / name,
                            overrides={"epochs": 1, "lr": lr}, limit_batches=4))
        assert events[-1]["status"] == "completed"
    return root / "a", root / "b"


@pytest.fixture(params=[SIZE, (1400, 900)], ids=lambda s: f"{s[0]}x{s[1]}")
def window(styled, qtbot, request):
    """The window at 1280×800, and at its default size."""
    return example_window(qtbot, request.param)


def _text_fits(view, text: str, width: int, margin: int = 16) -> bool:
    """``text`` fits a cell ``width`` wide (the style sheet pads cells by 8 px each side)."""
    return view.fontMetrics().horizontalAdvance(text) + margin <= width


@pytest.fixture
def runs_page(window, qtbot, trained_runs, tmp_path):
    """The Runs page listing six runs of the design: three the command line wrote beside its
    file (long names) and three the app wrote."""
    copies = {f"digits_cnn-20261130-06402{i}": trained_runs[i % 2] for i in range(3)}
    copies.update({f"digits_cnn/20261130-07572{i}": trained_runs[i % 2] for i in range(3)})
    return show_runs(qtbot, window, tmp_path, copies)


def show_runs(qtbot, window, folder, copies):
    """Save the window's design in ``folder``, copy runs there (``copies``: where under
    ``folder/runs`` → which run), and show the Runs page once it lists them all."""
    design_file = folder / "digits_cnn.json"
    save(window.document.design, design_file)
    window.document.set_path(design_file)
    for where, run in copies.items():
        shutil.copytree(run, folder / "runs" / where)
    history = window.training.history
    history.refresh()
    qtbot.waitUntil(lambda: len(history.runs) == len(copies), timeout=30_000)
    window.training.show_page("runs")
    qtbot.waitUntil(history.table.isVisible)
    QApplication.processEvents()
    return history


def _rows_shown(table) -> int:
    """How many rows the table's viewport shows whole."""
    height = table.viewport().height()
    return sum(1 for r in range(table.rowCount())
               if table.rowViewportPosition(r) >= 0
               and table.rowViewportPosition(r) + table.rowHeight(r) <= height)


def test_the_runs_table_shows_every_column_and_five_runs(runs_page, qtbot):
    table = runs_page.table
    assert not table.horizontalScrollBar().isVisible()
    header = table.horizontalHeader()
    assert header.sectionPosition(5) + header.sectionSize(5) <= table.viewport().width()
    for column in range(1, table.columnCount()):  # the facts whole
        title = table.horizontalHeaderItem(column).text()
        assert _text_fits(header, title, header.sectionSize(column)), title
        for row in range(table.rowCount()):
            text = table.item(row, column).text()
            assert _text_fits(table, text, table.columnWidth(column)), text
    for row, run in enumerate(runs_page.runs):  # the name: elided at worst, whole in the tooltip
        assert table.item(row, 0).text() == run.name and str(run.dir) == table.item(row, 0).toolTip()
    assert _text_fits(table, "20261130-075720", table.columnWidth(0))  # the app's run names
    assert _rows_shown(table) >= MIN_RUNS_SHOWN, (table.viewport().height(), table.rowHeight(0))


def test_comparing_two_runs_leaves_the_runs_in_view(runs_page, qtbot):
    runs_page.select(["20261130-075720", "20261130-075721"])
    QApplication.processEvents()
    diff = runs_page.diff_table
    assert diff.isVisible() and diff.rowCount() >= 1
    names = {diff.horizontalHeaderItem(c).text() for c in (1, 2)}
    assert names == {"20261130-075720", "20261130-075721"}  # which run is which
    assert diff.item(0, 0).text() == "training.lr" and diff.item(0, 1).toolTip()
    assert _rows_shown(diff) == diff.rowCount()  # the comparison whole
    assert _rows_shown(runs_page.table) >= 4



def _drag_splitter(splitter, dy: int) -> None:
    """Drag the splitter's handle ``dy`` px down, as the user does with the mouse."""
    handle = splitter.handle(1)
    start = handle.rect().center()
    QTest.mousePress(handle, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(handle, start + QPoint(0, dy // 2))
    QTest.mouseMove(handle, start + QPoint(0, dy))
    QTest.mouseRelease(handle, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       start + QPoint(0, dy))
    QApplication.processEvents()


def test_the_comparison_keeps_the_height_the_user_dragged(runs_page, qtbot):
    """Fitted to its rows until the user drags the splitter; from then on other selections
    keep that height (the comparison's one line, when two runs are not selected, fits it)."""
    splitter = runs_page.splitter
    runs_page.select(["20261130-075720", "20261130-075721"])
    QApplication.processEvents()
    fitted = splitter.sizes()[1]
    _drag_splitter(splitter, -40)
    dragged = splitter.sizes()[1]
    assert dragged > fitted
    runs_page.select(["digits_cnn-20261130-064021", "20261130-075722"])
    QApplication.processEvents()
    assert runs_page.diff_table.isVisible() and splitter.sizes()[1] == dragged
    runs_page.select(["20261130-075720"])
    QApplication.processEvents()
    assert runs_page.diff_label.isVisible() and splitter.sizes()[1] < dragged  # its line
    runs_page.select(["20261130-075720", "20261130-075721"])
    QApplication.processEvents()
    assert splitter.sizes()[1] == dragged


def _break_at_length(window) -> None:
    """Long problems and fixes: three Linear layers wired to nothing ("drag a link from an
    earlier layer's output to it"), and a last Linear that no longer matches the classes ("the
    network outputs 3 but digits has 10 classes (cross-entropy needs 10 scores per sample)")."""
    document = window.document
    design = document.design
    for i in range(3):
        document.push(AddNodeCommand(design, design.make_node("Linear", position=(900, 80 * i))))
    last = [n for n in design.nodes if n.type == "Linear" and design.in_edges(n.id)][-1]
    document.push(SetParamCommand(design, last.id, "out_features", 3))
    document.revalidate()


def _painted_text_fits(table, row: int, column: int) -> bool:
    """The cell's text, wrapped as the style paints it (inside the style sheet's padding and the
    style's text margins), fits the cell: no line cut off, no word past its edge."""
    index = table.model().index(row, column)
    option = QStyleOptionViewItem()
    option.initFrom(table)
    option.widget = table
    option.rect = table.visualRect(index)
    table.itemDelegateForIndex(index).initStyleOption(option, index)
    style = table.style()
    rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, option, table)
    margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, table) + 1
    width = rect.width() - 2 * margin
    needed = option.fontMetrics.boundingRect(QRect(0, 0, width, 10_000),
                                             int(Qt.TextFlag.TextWordWrap), option.text)
    return needed.height() <= rect.height() and needed.width() <= width


def test_every_problem_and_fix_reads_whole_in_the_diagnostics(window, qtbot):
    _break_at_length(window)
    panel = window.diagnostics
    window.bottom_tabs.setCurrentWidget(panel)
    table = panel.table
    qtbot.waitUntil(lambda: table.rowCount() >= 7 and table.isVisible())
    QApplication.processEvents()
    texts = {table.item(r, c).text() for r in range(table.rowCount()) for c in (1, 2)}
    assert "drag a link from an earlier layer's output to it" in texts
    assert any("cross-entropy needs 10 scores per sample" in t for t in texts)
    assert not table.horizontalScrollBar().isVisible()
    header = table.horizontalHeader()
    assert header.sectionPosition(2) + header.sectionSize(2) <= table.viewport().width()
    assert header.sectionSize(2) >= header.sectionSize(1)  # the fix takes what is left
    for row in range(table.rowCount()):
        for column in (1, 2):
            text = table.item(row, column).text()
            assert _painted_text_fits(table, row, column), (text, table.rowHeight(row))


LONG_FAILURE = ("the data file /home/someone/projects/data/measurements-2026.csv has 12 columns "
                "in line 3,415 but 11 in its header: check the delimiter, or tell the Data "
                "panel which line the header is on; quoted fields with commas count as one")


def test_the_training_status_keeps_its_height_and_the_speed_its_unit(window, qtbot, monkeypatch,
                                                                      tmp_path):
    window.training_docks["training"].raise_()
    panel, controller = window.training.panel, window.training.controller
    qtbot.waitUntil(panel.isVisible)
    monkeypatch.setattr(controller, "train", lambda *a: tmp_path / "runs" / "20261130-075711")
    panel.start_training()
    QApplication.processEvents()
    folder, status = panel.run_folder, panel.status
    height = status.height()
    status.set_full_text(LONG_FAILURE)  # a long status: two lines, cut where it says so ...
    QApplication.processEvents()
    lines = status.text().split("\n")
    assert len(lines) == 2 and lines[-1].endswith("…") and status.height() == height
    assert all(status.fontMetrics().horizontalAdvance(line) <= status.contentsRect().width()
               for line in lines)
    assert status.toolTip() == LONG_FAILURE  # ... and whole in the tooltip
    assert status.height() >= 2 * status.fontMetrics().height()  # both lines in view
    controller.event.emit({"event": "error", "message": LONG_FAILURE})
    QApplication.processEvents()
    assert status.text() == "Run failed; the reason is below" and status.height() == height
    messages = panel.messages  # the reason whole, selectable, the run folder still in view
    assert messages.text() == f"✗ {LONG_FAILURE}" and messages.isVisible()
    assert messages.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    assert messages.heightForWidth(messages.width()) <= messages.height()
    assert folder.isVisible() and not folder.visibleRegion().isEmpty()
    assert panel.rect().contains(folder.geometry())
    controller.event.emit({"event": "step", "step": 40, "epoch": 2, "samples_per_s": 1234.0,
                           "eta_s": 12.0})
    qtbot.waitUntil(lambda: "samples/s" in panel.progress.toolTip(), timeout=2000)
    assert "1.2k samples/s" in panel.progress.toolTip()
    assert panel.progress.format().count("samples/s") <= 1
