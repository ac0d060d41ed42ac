"""At 1280×800 the analysis tabs, the Diagnostics table, the curves, the Runs table, the
results and the Try page show their text whole (or elided, saying it whole in a tooltip) and
their widgets inside the visible area."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from tests.conftest import example_window
from tests.ui.test_forms_fit import styled  # noqa: F401 (fixture)
from ui.commands import SetParamCommand

SIZE = (1280, 800)


@pytest.fixture
def window(styled, qtbot):
    return example_window(qtbot, SIZE)


def _break(window) -> None:
    """Gives the design errors: the last Linear's outputs no longer match the classes."""
    design = window.document.design
    last = [n for n in design.nodes if n.type == "Linear"][-1]
    window.document.push(SetParamCommand(design, last.id, "out_features", 3))
    window.document.revalidate()
    QApplication.processEvents()


def test_every_analysis_tab_stays_reachable_and_readable_with_errors(window, qtbot):
    _break(window)
    tabs = window.bottom_tabs
    bar = tabs.tabBar()
    index = tabs.indexOf(window.diagnostics)
    qtbot.waitUntil(lambda: "✗" in tabs.tabText(index))
    assert "error" in tabs.tabToolTip(index)  # the counts in words
    QApplication.processEvents()
    for i in range(bar.count()):
        text = bar.tabText(i)
        assert bar.tabRect(i).width() >= bar.fontMetrics().horizontalAdvance(text), text
    visible = bar.rect()
    hidden = [bar.tabText(i) for i in range(bar.count())
              if not visible.contains(bar.tabRect(i))]
    assert not hidden or bar.usesScrollButtons(), hidden
    # At 1280×800 they all fit, the badge being short.
    assert not hidden, hidden
