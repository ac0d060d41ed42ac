"""The breadcrumb over the canvas while the user is inside a block: ``Design › layer1 (BasicBlock)``.
Each step is a button that goes back out to that level; it is hidden at the top level."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

from .style import Theme

if TYPE_CHECKING:
    from .view import CanvasView


class Breadcrumb(QFrame):
    """Shows where the canvas is; clicking a step leaves the blocks below it."""

    def __init__(self, view: "CanvasView"):
        super().__init__(view)
        self.view = view
        self.setObjectName("canvasBreadcrumb")
        self.setStyleSheet(
            f"#canvasBreadcrumb {{ background: {Theme.feedback_bg.name()}; border: 1px solid "
            f"{Theme.node_border.name()}; border-radius: 5px; }}"
            f"QToolButton {{ color: {Theme.node_selected.name()}; border: none; padding: 2px 4px; }}"
            f"QToolButton:hover {{ text-decoration: underline; }}"
            f"QLabel {{ color: {Theme.text.name()}; padding: 2px 4px; }}")
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(6, 2, 6, 2)
        self._layout.setSpacing(2)
        self.steps: list[str] = []  # the texts shown, top level first
        self.hide()

    def set_path(self, names: list[str]) -> None:
        """``names``: the design's name, then each entered instance as ``name (Block)``. The
        last is where the canvas is (plain text); the others are buttons."""
        while self._layout.count():
            widget = self._layout.takeAt(0).widget()
            if widget is not None:  # gone now, not at the next event loop turn
                widget.hide()
                widget.setParent(None)
                widget.deleteLater()
        self.steps = list(names)
        for level, text in enumerate(names):
            if level:
                self._layout.addWidget(QLabel("›"))
            if level == len(names) - 1:
                label = QLabel(f"<b>{_html(text)}</b>")
                label.setTextFormat(Qt.TextFormat.RichText)
                self._layout.addWidget(label)
            else:
                button = QToolButton()
                button.setText(text)
                button.setCursor(Qt.CursorShape.PointingHandCursor)
                button.setToolTip("Back out to here (Esc goes up one level)")
                button.clicked.connect(lambda _checked=False, depth=level: self.view.leave_to(depth))
                self._layout.addWidget(button)
        for i in range(self._layout.count()):  # shown now: a step added while the path shows
            self._layout.itemAt(i).widget().show()  # would show later, after the sizing below
        self.setVisible(len(names) > 1)
        self.adjustSize()
        self.move(12, 10)
        self.raise_()

    def buttons(self) -> list[QToolButton]:
        return [self._layout.itemAt(i).widget() for i in range(self._layout.count())
                if isinstance(self._layout.itemAt(i).widget(), QToolButton)]


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
