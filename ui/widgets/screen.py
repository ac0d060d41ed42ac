"""A top-level window that fits the screen it opens on: the preferred size when there is room,
at most a share of the screen's available area otherwise, centred. Restored geometry saved on a larger screen is clamped the same way."""
from __future__ import annotations

from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

SCREEN_SHARE = 0.9  # the largest part of the available area a first window takes


def available_area(window: QWidget) -> QRect:
    """The available geometry (less task bars and docks) of the window's screen."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry()


def fit_size(preferred: QSize, area: QRect) -> QSize:
    """``preferred`` shrunk to at most :data:`SCREEN_SHARE` of ``area`` in each direction."""
    return QSize(min(preferred.width(), int(area.width() * SCREEN_SHARE)),
                 min(preferred.height(), int(area.height() * SCREEN_SHARE)))


def open_fitted(window: QWidget, preferred: QSize) -> None:
    """Size and centre a window that has no saved geometry on its screen's available area."""
    area = available_area(window)
    size = fit_size(preferred, area)
    window.resize(size)
    window.move(area.center().x() - size.width() // 2, area.center().y() - size.height() // 2)


def clamp_to_screen(window: QWidget) -> None:
    """Shrink and move a (restored) window so that all of it lies on its screen's available area."""
    area = available_area(window)
    frame = window.frameGeometry()
    extra = frame.size() - window.geometry().size()  # title bar and borders
    width = min(window.width(), area.width() - extra.width())
    height = min(window.height(), area.height() - extra.height())
    if (width, height) != (window.width(), window.height()):
        window.resize(width, height)
        frame = window.frameGeometry()
    left = max(area.left(), min(frame.left(), area.right() + 1 - frame.width()))
    top = max(area.top(), min(frame.top(), area.bottom() + 1 - frame.height()))
    if (left, top) != (frame.left(), frame.top()):
        window.move(left, top)
