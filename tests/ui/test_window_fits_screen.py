"""The main window fits the screen it opens on: a first start (no saved settings) on a 1280×800
screen shows the whole window, status bar included, centred; a geometry saved on a larger screen
is clamped to the current one."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QRect

import ui.widgets.screen as screen
from tests.ui.test_window import isolated, make_window, no_leaked_windows  # noqa: F401 (fixtures)
from ui.main_window import PREFERRED_SIZE

LAPTOP = QRect(0, 0, 1280, 770)  # 1280×800 less a 30 px panel


@pytest.fixture
def laptop_screen(monkeypatch):
    monkeypatch.setattr(screen, "available_area", lambda window: QRect(LAPTOP))
    return LAPTOP


def _on_screen(window, area: QRect) -> bool:
    status = window.statusBar()
    status_rect = QRect(status.mapTo(window, status.rect().topLeft()), status.size())
    return (area.contains(window.frameGeometry())
            and window.rect().contains(status_rect) and status.isVisible())


def test_a_first_start_fits_a_1280x800_screen(make_window, laptop_screen):
    window = make_window(autosave=False)  # no saved settings in this test's folder
    assert window.width() <= laptop_screen.width() * screen.SCREEN_SHARE + 1
    assert window.height() <= laptop_screen.height() * screen.SCREEN_SHARE + 1
    assert _on_screen(window, laptop_screen)
    centre = window.frameGeometry().center()
    assert abs(centre.x() - laptop_screen.center().x()) <= 2
    assert abs(centre.y() - laptop_screen.center().y()) <= 20  # the title bar, where there is one


def test_a_large_screen_gets_the_preferred_size(make_window):
    window = make_window(autosave=False, remember_layout=False)
    assert window.size() == PREFERRED_SIZE  # the test screen is 1920×1080


def test_a_geometry_saved_on_a_larger_screen_is_clamped(make_window, monkeypatch):
    big = make_window(autosave=False)
    big.resize(1800, 1000)
    big.move(100, 60)
    big.close()  # saves the layout
    monkeypatch.setattr(screen, "available_area", lambda window: QRect(LAPTOP))
    window = make_window(autosave=False)
    assert _on_screen(window, LAPTOP), (window.frameGeometry(), window.geometry())


def test_the_edit_menu_shows_tab_for_add_layer(make_window, qtbot):
    """The trial: Edit ▸ Add Layer… named no key, so the Tab quick-add was found by chance."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QMenu

    window = make_window(autosave=False, remember_layout=False)
    edit = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")
    assert isinstance(edit, QMenu)
    add = next(a for a in edit.actions() if a.objectName() == "quick_add")
    label, key = add.text().split("\t")
    assert label == "Add Layer…" and key == "Tab"
    window.canvas.setFocus()
    qtbot.waitUntil(window.canvas.hasFocus)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Tab)  # the key the menu names opens it
    qtbot.waitUntil(window.canvas.quick_add.isVisible)
    window.canvas.quick_add.dismiss()
