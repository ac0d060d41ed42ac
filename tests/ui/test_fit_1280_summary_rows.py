"""At 1280×800 and the default layout the Summary tab shows at least six layers above its
Total line (it showed three), and the canvas keeps most of the window's height."""
from __future__ import annotations

from PySide6.QtWidgets import QApplication

from tests.conftest import example_window
from tests.ui.test_forms_fit import styled  # noqa: F401 (fixture)


def _whole_rows(tree) -> int:
    shown, item = 0, tree.topLevelItem(0)
    while item is not None:
        if tree.viewport().rect().contains(tree.visualItemRect(item)):
            shown += 1
        item = tree.itemBelow(item)
    return shown


def test_the_summary_shows_six_rows_at_1280x800(styled, qtbot):
    window = example_window(qtbot, (1280, 800))
    summary = window.summary
    window.bottom_tabs.setCurrentWidget(summary)

    def shown() -> bool:
        QApplication.processEvents()
        return summary.isVisible() and summary.tree.topLevelItemCount() > 6
    qtbot.waitUntil(shown)
    qtbot.wait(50)
    assert _whole_rows(summary.tree) >= 6
    canvas = window.centralWidget().height()
    assert canvas >= 0.55 * (canvas + window.bottom_dock.height()), "the canvas was squeezed"
    assert summary.memory.height() <= summary.memory.fontMetrics().height() + 8  # one line
    assert "training memory" in summary.memory.toolTip().lower()  # all of it on hover
