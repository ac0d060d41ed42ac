"""At 1280×800 the confusion matrix reads: square cells of a readable size with text of a
readable size, rather than cells squashed to the short dock's height (~9 px rows, ~6 px numbers)
— the Results page scrolls down instead, never sideways, and its caption stays in view."""
from __future__ import annotations

import pytest
from PySide6.QtGui import QFontInfo
from PySide6.QtWidgets import QApplication

from tests.ui.test_forms_fit import styled  # noqa: F401 (fixture)
from tests.ui.test_results_fit import results_shown
from ui.training.results import FittedMatrix


@pytest.mark.parametrize("size", [(1280, 800), (1400, 900)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_confusion_matrix_has_square_readable_cells(styled, qtbot, size):
    view, area = results_shown(qtbot, size)
    matrix = view.confusion

    def laid_out() -> bool:
        QApplication.processEvents()
        return matrix.isVisible() and matrix.viewport().height() > 0 \
            and matrix.verticalScrollBar().maximum() == 0
    qtbot.waitUntil(laid_out)
    QApplication.processEvents()
    cells = [matrix.visualItemRect(matrix.item(i, j)) for i in range(10) for j in range(10)]
    sizes = {matrix.rowHeight(i) for i in range(10)} | {matrix.columnWidth(j) for j in range(10)}
    assert len(sizes) == 1 and sizes.pop() >= FittedMatrix.MIN_CELL  # square, readable cells
    for cell in cells:
        assert matrix.viewport().rect().contains(cell), "a cell is cut off inside the matrix"
    assert QFontInfo(matrix.font()).pixelSize() >= 11
    assert matrix.fontMetrics().height() <= cells[0].height()
    assert QFontInfo(matrix.verticalHeader().font()).pixelSize() >= 11  # the row labels too
    assert area.horizontalScrollBar().maximum() == 0, "the Results page scrolls sideways"
    last = matrix.visualItemRect(matrix.item(9, 9))
    bottom = matrix.viewport().mapTo(area.widget(), last.bottomLeft()).y()
    reachable = area.viewport().height() + area.verticalScrollBar().maximum()
    assert bottom <= reachable, "the last row cannot be scrolled into view"
    caption = view.summary
    top = caption.mapTo(area.viewport(), caption.rect().bottomLeft()).y()
    assert top <= area.viewport().height(), "the caption is out of view"
