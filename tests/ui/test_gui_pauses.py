"""What keeps the GUI thread's pauses short while training and editing: work an edit or a frame
no longer does (no timings here; benchmarks/app_training_bench.py measures the pauses)."""
from __future__ import annotations

from PySide6.QtWidgets import QApplication

from tests.conftest import EXAMPLES
from tests.ui.test_window import isolated, make_window, no_leaked_windows  # noqa: F401 (fixtures)
from ui.commands import SetParamCommand


def _settle() -> None:
    for _ in range(3):
        QApplication.processEvents()


def test_an_edit_that_keeps_the_diagnostic_counts_leaves_the_bottom_tabs_alone(make_window):
    """The Diagnostics tab's title is set only when its counts change: setting the same text
    laid the tabs out again, and so the whole bottom dock (the live curves too) was laid out
    and repainted after every edit."""
    window = make_window(EXAMPLES / "digits_mlp.json", autosave=False, remember_layout=False)
    _settle()
    tabs = window.bottom_tabs
    titles: list[str] = []
    original = tabs.setTabText
    tabs.setTabText = lambda index, text: (titles.append(text), original(index, text))
    design = window.document.design
    linear = next(n for n in design.nodes if n.type == "Linear")
    for width in (32, 64):
        window.document.push(SetParamCommand(design, linear.id, "out_features", width))
        window.document.revalidate()
        _settle()
    assert titles == []
    last = [n for n in design.nodes if n.type == "Linear"][-1]  # 3 outputs for 10 classes
    window.document.push(SetParamCommand(design, last.id, "out_features", 3))
    window.document.revalidate()
    assert len(titles) == 1 and titles[0].startswith("Diagnostics (1 error")
    assert tabs.tabText(tabs.indexOf(window.diagnostics)) == titles[0]
