"""Text that fits a narrow dock whole: a label that elides in the middle (paths keep their
start and their name) and a progress bar that leaves out its least important parts. Both show
the whole text as their tooltip, so nothing is lost; neither wraps nor cuts. And a column for
a page of a short dock that holds wrapped labels (:class:`DockHeightLayout`)."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

SEPARATOR = " · "


class DockHeightLayout(QVBoxLayout):
    """A column whose height does not depend on its width: in a scroll area the page then
    takes the dock's height (scrolling only below its minimum) instead of the taller height its
    wrapped labels would like. Inside, wrapped labels still get the lines they need."""

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt API)
        return False


class ElidedLabel(QLabel):
    """One line of text, elided (in the middle by default, as paths are) to the label's width;
    the whole text is the tooltip and :meth:`full_text`."""

    def __init__(self, text: str = "", parent: QWidget | None = None,
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle):
        super().__init__(parent)
        self._mode = mode
        self._full = ""
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()

    def replace_part(self, prefix: str, text: str) -> None:
        """Put ``text`` in place of the part that starts with ``prefix`` (keeping its rank)."""
        self._parts = [(text if t.startswith(prefix) else t, r) for t, r in self._parts]
        self._fit()

    def full_text(self) -> str:
        return self._full

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 1)
        super().setText(self.fontMetrics().elidedText(self._full, self._mode, width))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._elide()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(self.fontMetrics().horizontalAdvance("…") * 4,
                     super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(self.minimumSizeHint().width(), super().sizeHint().height())


class PartsProgressBar(QProgressBar):
    """A progress bar whose text is made of parts, ``(text, rank)``: where the bar is too narrow
    for all of them, the highest ranks are left out (rank 0 always stays), so the text never
    runs past the bar. A :meth:`suffix` (``paused``, ``completed``) has rank 0."""

    MARGIN = 16  # px the style keeps around the text

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._parts: list[tuple[str, int]] = []
        self._suffix = ""
        self._explanation = ""
        self.setTextVisible(True)
        self.setFormat("")

    def set_parts(self, parts: list[tuple[str, int]], explanation: str = "") -> None:
        self._parts = list(parts)
        self._suffix = ""
        self._explanation = explanation
        self._fit()

    def parts(self) -> list[str]:
        return [text for text, _rank in self._parts]

    def set_suffix(self, suffix: str) -> None:
        self._suffix = suffix
        self._fit()

    def drop_part(self, prefix: str) -> None:
        """Leave out the part that starts with ``prefix`` (an ETA once the run is over)."""
        self._parts = [(t, r) for t, r in self._parts if not t.startswith(prefix)]
        self._fit()

    def replace_part(self, prefix: str, text: str) -> None:
        """Put ``text`` in place of the part that starts with ``prefix`` (keeping its rank)."""
        self._parts = [(text if t.startswith(prefix) else t, r) for t, r in self._parts]
        self._fit()

    def full_text(self) -> str:
        return SEPARATOR.join(self.parts() + ([self._suffix] if self._suffix else []))

    def _fit(self) -> None:
        parts = self._parts + ([(self._suffix, 0)] if self._suffix else [])
        room = self.contentsRect().width() - self.MARGIN
        metrics = self.fontMetrics()
        if self.isVisible():  # a hidden bar has no width worth fitting to yet
            while (metrics.horizontalAdvance(SEPARATOR.join(t for t, _r in parts)) > room
                   and max((r for _t, r in parts), default=0) > 0):
                worst = max(r for _t, r in parts)
                index = max(i for i, (_t, r) in enumerate(parts) if r == worst)
                parts = parts[:index] + parts[index + 1:]
        self.setFormat(SEPARATOR.join(t for t, _r in parts))
        full = self.full_text()
        self.setToolTip("\n".join(t for t in (full, self._explanation) if t))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._fit()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self._fit()
