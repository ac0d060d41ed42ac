"""The Diagnostics' cells wrap their text in rows tall enough for every line, at any column
width: :class:`WrappedTextDelegate` measures the text inside the style sheet's padding (Qt's
own delegate measures it at the whole cell width, one line short where the padding makes the
text wrap once more)."""
from __future__ import annotations

from PySide6.QtWidgets import QStyledItemDelegate, QTableWidget, QTableWidgetItem

from tests.ui.test_fit_1280_cut_text import _painted_text_fits
from tests.ui.test_forms_fit import styled  # noqa: F401 (fixture)
from ui.widgets.fitted import WrappedTextDelegate

MESSAGE = ("the network gives 3 scores but the data has 10 classes: set the last layer's size "
           "to 10, or pick a loss that takes 3 per sample, then train it once more")  # no word
# wider than the narrowest cell's text
WIDTHS = range(80, 501, 3)


def _table(qtbot, delegate_type) -> QTableWidget:
    table = QTableWidget(1, 1)
    qtbot.addWidget(table)
    table.setWordWrap(True)
    table.setItemDelegate(delegate_type(table))
    table.setItem(0, 0, QTableWidgetItem(MESSAGE))
    table.resize(700, 500)
    table.show()
    qtbot.waitExposed(table)
    return table


def _cut_widths(table) -> list[int]:
    """The column widths at which the row is too short for its wrapped text."""
    cut = []
    for width in WIDTHS:
        table.setColumnWidth(0, width)
        table.resizeRowsToContents()
        if not _painted_text_fits(table, 0, 0):
            cut.append(width)
    return cut


def test_every_width_gets_a_row_tall_enough_for_the_wrapped_text(styled, qtbot):
    assert _cut_widths(_table(qtbot, WrappedTextDelegate)) == []


def test_the_sweep_finds_the_rows_qt_cuts(styled, qtbot):
    """The check above can fail: Qt's plain delegate cuts the last line at some widths."""
    assert _cut_widths(_table(qtbot, QStyledItemDelegate))
