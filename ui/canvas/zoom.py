"""The zoom box: shows the canvas's zoom as a percentage and sets it (a preset, Fit, or any
percentage typed in). The window puts it in its status bar."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QWidget

if TYPE_CHECKING:
    from .view import CanvasView

PRESETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
FIT = "Fit"


def percent_text(zoom: float) -> str:
    return f"{zoom * 100:.0f}%"


def parse_percent(text: str) -> float | None:
    """``"85%"``, ``"85"`` or ``"85 %"`` → 0.85; None for anything else."""
    match = re.fullmatch(r"\s*(\d+(?:[.,]\d+)?)\s*%?\s*", text)
    if not match:
        return None
    value = float(match.group(1).replace(",", ".")) / 100
    return value if value > 0 else None


class ZoomBox(QComboBox):
    """An editable combo box bound to ``view``: it follows the view's zoom and sets it."""

    def __init__(self, view: "CanvasView", parent: QWidget | None = None):
        super().__init__(parent)
        self.view = view
        self.setObjectName("zoomBox")
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.setToolTip("Zoom of the canvas: pick a size, Fit, or type a percentage "
                        "(Ctrl+= / Ctrl+- / Ctrl+0)")
        self.setMinimumContentsLength(5)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        for zoom in PRESETS:
            self.addItem(percent_text(zoom), zoom)
        self.addItem(FIT, None)
        self.activated.connect(self._picked)
        self.lineEdit().editingFinished.connect(self._typed)
        view.zoom_changed.connect(self.show_zoom)
        self.show_zoom(view.zoom())

    def show_zoom(self, zoom: float) -> None:
        self.lineEdit().setText(percent_text(zoom))

    def _picked(self, index: int) -> None:
        zoom = self.itemData(index)
        if zoom is None:
            self.view.fit_all()
        else:
            self.view.set_zoom(zoom)
        self.show_zoom(self.view.zoom())
        self.view.setFocus()

    def _typed(self) -> None:
        text = self.lineEdit().text()
        if text.strip().lower() == FIT.lower():
            self.view.fit_all()
        else:
            zoom = parse_percent(text)
            if zoom is not None:
                self.view.set_zoom(zoom)
        self.show_zoom(self.view.zoom())  # also puts back what a bad entry replaced
