"""The Results page fits the bottom dock: a 10-class confusion matrix shows every row and column
without scrolling at the default window size and at 1280×800, its cells and text scaled to the
space; the per-class table is a tab beside the samples."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from PySide6.QtWidgets import QApplication
import pytest

from tests.conftest import example_window
from tests.ui.test_forms_fit import styled  # noqa: F401


def _predictions(k: int = 10):
    rng = np.random.default_rng(0)
    targets = rng.integers(0, k, 300)
    predicted = np.where(rng.random(300) < 0.9, targets, rng.integers(0, k, 300))
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (targets, predicted), 1)
    wrong = np.flatnonzero(targets != predicted)
    return SimpleNamespace(
        task="classification", checkpoint="best", split="test", class_names=[str(i) for i in range(k)],
        confusion=confusion, targets=targets, predicted=predicted, confidence=None,
        inputs=rng.random((300, 1, 8, 8)).astype(np.float32), grid=None,
        metrics={"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1": 0.9},
        per_class=[{"class": str(i), "precision": 0.9, "recall": 0.9, "f1": 0.9, "support": 30}
                   for i in range(k)],
        misclassified=lambda: wrong, cell=lambda i, j: np.flatnonzero((targets == i)
                                                                      & (predicted == j)))


def results_shown(qtbot, size):
    """A window at ``size`` whose Results page shows :func:`_predictions`: (view, its page)."""
    window = example_window(qtbot, size)
    view = window.training.results
    view._pending = ("run", "test")
    view._done(("run", "test"), _predictions())
    window.training.show_page("results")
    return view, window.training.pages["results"]


@pytest.mark.parametrize("size", [(1400, 900), (1280, 800)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_ten_class_confusion_matrix_shows_whole_without_scrolling_itself(styled, qtbot, size):
    view, area = results_shown(qtbot, size)
    matrix = view.confusion
    qtbot.waitUntil(lambda: matrix.isVisible() and matrix.viewport().height() > 0)

    def laid_out() -> bool:  # the page and the matrix have settled on their sizes
        QApplication.processEvents()
        return (area.horizontalScrollBar().maximum() == 0  # the page may scroll down only
                and matrix.verticalScrollBar().maximum() == 0
                and matrix.horizontalScrollBar().maximum() == 0)

    qtbot.waitUntil(laid_out)
    last = matrix.visualItemRect(matrix.item(9, 9))
    assert matrix.viewport().rect().contains(last), "the last class is cut off"
    assert last.height() >= 11 and matrix.font().pixelSize() >= FittedMatrix.MIN_FONT_PX
    metrics = matrix.fontMetrics()
    assert metrics.height() <= last.height() + 2  # the counts fit their cells
    assert view.per_class.rowCount() == 10
    assert view.right_tabs.tabText(view.right_tabs.indexOf(view.per_class)) == "Per class"


from ui.training.results import FittedMatrix  # noqa: E402


def test_class_names_in_the_row_header_are_whole(styled, qtbot):
    """The row header is as wide as its longest class name in the header's bold style."""
    from ui.training.results import ResultsView

    view = ResultsView()
    qtbot.addWidget(view)
    view.resize(700, 300)
    view.show()
    p = _predictions()
    p.class_names = [f"class {i}" for i in range(10)]
    view._pending = ("run", "test")
    view._done(("run", "test"), p)
    header = view.confusion.verticalHeader()
    bold = header.font()
    bold.setBold(True)
    from PySide6.QtGui import QFontMetrics

    qtbot.waitUntil(lambda: header.width() >= QFontMetrics(bold).horizontalAdvance("class 9") + 4)
    top = view.confusion.horizontalHeader()
    assert top.height() >= QFontMetrics(top.font()).height()  # the column names are whole
