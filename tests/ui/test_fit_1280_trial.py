"""What a second new-user trial at a 1280×800 screen found cut (issue 13), checked in the
window as the app opens it there (1152×720, its share of the screen) and at 1400×900: the
export dialog's results show every format's row."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from PySide6.QtWidgets import QApplication

from graph.design import Design
from tests.conftest import example_window
from tests.ui.test_forms_fit import styled  # noqa: F401 (fixture)
from ui.training import export_dialog
from ui.widgets.screen import fit_size

SCREENS = [(1280, 800), (1400, 900)]


def _window(qtbot, screen: tuple[int, int]):
    """The main window at the size it opens at on ``screen`` (its share of the screen)."""
    from PySide6.QtCore import QRect

    from ui.main_window import PREFERRED_SIZE

    size = fit_size(PREFERRED_SIZE, QRect(0, 0, *screen))
    return example_window(qtbot, size.toTuple())


# ---- export dialog -------------------------------------------------------------------------------

@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_export_results_show_every_format(styled, qtbot, tmp_path, monkeypatch, screen):
    """Every format exported has its row in view (the table held five and showed four, the
    torch.export row cut, while the dialog had room to spare)."""
    window = _window(qtbot, screen)

    def written(_source, _text, fmt, out, _checkpoint):
        return SimpleNamespace(files=[out], max_diff=0.0, batch=8)
    monkeypatch.setattr(export_dialog, "_export_one", written)
    dialog = window.training.open_export_dialog(window)
    qtbot.addWidget(dialog)
    qtbot.waitExposed(dialog)
    for box in dialog.format_boxes.values():
        box.setChecked(True)
    with qtbot.waitSignal(dialog.finished_all, timeout=60_000):
        dialog.export_button.click()
    QApplication.processEvents()
    table = dialog.table
    assert table.rowCount() == len(dialog.format_boxes) == 5
    viewport = table.viewport().rect()
    for row in range(table.rowCount()):
        cell = table.visualRect(table.model().index(row, 0))
        assert viewport.contains(cell), f"the {table.item(row, 0).text()} row is cut"
    assert table.verticalScrollBar().maximum() == 0
    assert dialog.frameGeometry().height() <= window.height()  # it still fits the window
