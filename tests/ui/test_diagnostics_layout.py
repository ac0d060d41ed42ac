"""The Diagnostics table lays its rows out once per resize (they are as tall as their wrapped
text, and 1,200 of them take a tenth of a second each time), measures the style sheet's padding
once rather than per cell, and keeps a width of the Problem column that the user dragged."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

import ui.widgets.fitted as fitted
from graph.validate import Diagnostic, Report
from tests.ui.test_fit_1280_cut_text import _painted_text_fits
from tests.ui.test_forms_fit import styled  # noqa: F401 (fixture)
from ui.document import Document
from ui.panels import DiagnosticsPanel

ROWS = 60


@pytest.fixture
def panel(styled, qtbot):
    """The panel, shown, with many long problems and fixes."""
    document = Document()
    panel = DiagnosticsPanel(document)
    qtbot.addWidget(panel)
    panel.resize(1000, 300)
    panel.show()
    qtbot.waitExposed(panel)
    diagnostics = [Diagnostic("warning", "test", f"problem {i}: the layer's output is never "
                              "used by a later layer, so its weights are trained for nothing",
                              fix="drag a link from its output to a later layer's input")
                   for i in range(ROWS)]
    panel.update_report(Report(diagnostics, document.report.inference))
    QApplication.processEvents()
    return panel


def _count_layouts(panel, monkeypatch) -> list[int]:
    layouts = [0]
    lay_out = panel.table.resizeRowsToContents

    def counted():
        layouts[0] += 1
        lay_out()
    monkeypatch.setattr(panel.table, "resizeRowsToContents", counted)
    return layouts


def _rows_fit(panel) -> bool:
    return all(_painted_text_fits(panel.table, r, c) for r in range(ROWS) for c in (1, 2))


@pytest.mark.parametrize("width", [700, 1300])
def test_a_resize_lays_the_rows_out_once(panel, qtbot, monkeypatch, width):
    layouts = _count_layouts(panel, monkeypatch)
    panel.resize(width, 300)
    qtbot.waitUntil(lambda: layouts[0] >= 1)
    QApplication.processEvents()
    QApplication.processEvents()
    assert layouts[0] == 1
    assert _rows_fit(panel)


def test_a_new_report_lays_the_rows_out_once(panel, qtbot, monkeypatch):
    layouts = _count_layouts(panel, monkeypatch)
    longer = [Diagnostic("error", "test", "a problem much longer than the others " * 4, fix="fix")]
    panel.update_report(Report(longer, panel.document.report.inference))
    qtbot.waitUntil(lambda: layouts[0] >= 1)
    QApplication.processEvents()
    assert layouts[0] == 1
    assert _painted_text_fits(panel.table, 0, 1)


def test_the_padding_is_measured_once_not_per_cell(panel, monkeypatch):
    measured = [0]
    padding = fitted._padding

    def counted(option):
        measured[0] += 1
        return padding(option)
    monkeypatch.setattr(fitted, "_padding", counted)
    panel.table.setColumnWidth(1, panel.table.columnWidth(1) - 37)
    panel.table.resizeRowsToContents()
    assert measured[0] <= 1  # cached: measured once per state of a cell, if not already
    assert _rows_fit(panel)


def test_another_padding_is_measured_again(panel, qtbot):
    """A new style sheet (here more padding) gets its padding measured anew."""
    panel.table.setStyleSheet("QTableView::item { padding: 2px 30px; }")
    panel.resize(900, 300)
    QApplication.processEvents()
    QApplication.processEvents()
    assert _rows_fit(panel)


def test_the_width_the_user_dragged_stays(panel, qtbot):
    header = panel.table.horizontalHeader()
    chosen = header.sectionSize(1) + 90
    header.resizeSection(1, chosen)  # as a drag of its edge does
    QApplication.processEvents()
    panel.resize(1100, 300)
    QApplication.processEvents()
    assert header.sectionSize(1) == chosen
    panel.update_report(Report([Diagnostic("error", "test", "short", fix="fix")],
                               panel.document.report.inference))
    QApplication.processEvents()
    assert header.sectionSize(1) == chosen
    panel.resize(400, 300)  # too narrow for it: the fix keeps room for a few words
    QApplication.processEvents()
    assert header.sectionSize(2) >= panel.MIN_FIX_WIDTH - 1
    assert header.sectionSize(1) < chosen
    panel.resize(1100, 300)
    QApplication.processEvents()
    assert header.sectionSize(1) == chosen
