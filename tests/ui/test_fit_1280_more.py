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


@pytest.mark.parametrize("screen", [(1280, 800), (1400, 900)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_analysis_tab_fits_with_errors_and_warnings(styled, qtbot, screen):
    """In the window as it opens on a 1280×800 (or 1400×900) screen, with two-digit counts of
    both errors and warnings on the Diagnostics tab, every tab is in view, whole, without the
    scroll arrows (Try hid behind them)."""
    from PySide6.QtCore import QRect

    from ui.commands import AddNodeCommand
    from ui.main_window import PREFERRED_SIZE
    from ui.widgets.screen import fit_size

    window = example_window(qtbot, fit_size(PREFERRED_SIZE, QRect(0, 0, *screen)).toTuple())
    document, design = window.document, window.document.design
    for i in range(12):  # wired to nothing: an error (no input) and a warning (output unused)
        document.push(AddNodeCommand(design, design.make_node("Linear", position=(900, 80 * i))))
    document.revalidate()
    tabs = window.bottom_tabs
    index = tabs.indexOf(window.diagnostics)
    qtbot.waitUntil(lambda: "⚠" in tabs.tabText(index))
    kinds = [d.severity for d in document.report.diagnostics]
    errors, warnings = kinds.count("error"), kinds.count("warning")
    assert errors >= 10 and warnings >= 10
    assert f"{errors} errors, {warnings} warnings" in tabs.tabToolTip(index)
    QApplication.processEvents()
    bar = tabs.tabBar()
    for i in range(bar.count()):
        text, rect = bar.tabText(i), bar.tabRect(i)
        assert rect.width() >= bar.fontMetrics().horizontalAdvance(text) + 8, text  # padded
        assert bar.rect().contains(rect), f"the {text!r} tab is out of view"
    assert bar.tabText(bar.count() - 1) == "Try"
    assert sum(bar.tabRect(i).width() for i in range(bar.count())) <= bar.width()
