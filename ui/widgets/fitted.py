"""Text that fits a narrow dock whole: a label of one line or a few that elides what it cannot
hold (in the middle, paths keep their start and their name), a progress bar that leaves out its
least important parts (both show the whole text as their tooltip, so nothing is lost), and
table cells that wrap in rows as tall as their text, or rows no taller than one line needs. And
a column for a page of a short dock that holds wrapped labels (:class:`DockHeightLayout`)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QRect, QSize, Qt
from PySide6.QtGui import QTextLayout, QTextOption
from PySide6.QtWidgets import (QApplication, QHeaderView, QLabel, QProgressBar, QSizePolicy,
                               QStyle, QStyledItemDelegate, QStyleOptionViewItem, QTableView,
                               QVBoxLayout, QWidget)

SEPARATOR = " · "
LINE_SEPARATOR = "\u2028"  # Unicode's, which QTextLayout breaks a line at


class DockHeightLayout(QVBoxLayout):
    """A column whose height does not depend on its width: in a scroll area the page then
    takes the dock's height (scrolling only below its minimum) instead of the taller height its
    wrapped labels would like. Inside, wrapped labels still get the lines they need."""

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt API)
        return False


class ElidedLabel(QLabel):
    """Text in at most ``lines`` lines (one by default), elided (in the middle by default, as
    paths are) where it needs more; the whole text is the tooltip and :meth:`full_text`. The
    label is always as tall as its lines, so text of changing length never moves what is
    under it. Lines break between words: a non-breaking space keeps "name value" together."""

    def __init__(self, text: str = "", parent: QWidget | None = None,
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle, lines: int = 1):
        super().__init__(parent)
        self._mode = mode
        self._lines = lines
        self._full = ""
        self.setSizePolicy(self.sizePolicy().horizontalPolicy(), QSizePolicy.Policy.Fixed)
        if lines > 1:
            self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 1)
        if self._lines == 1:
            super().setText(self.fontMetrics().elidedText(self._full, self._mode, width))
        else:
            super().setText("\n".join(self._wrapped(width)))

    def _wrapped(self, width: int) -> list[str]:
        """The text broken into lines of ``width`` at word boundaries (anywhere in a word longer
        than a line); what the last line cannot hold is elided."""
        text = self._full.replace("\n", LINE_SEPARATOR)  # a line break to QTextLayout
        layout = QTextLayout(text, self.font())
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        layout.setTextOption(option)
        starts: list[int] = []
        layout.beginLayout()
        while len(starts) < self._lines:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            starts.append(line.textStart())
        layout.endLayout()
        lines = [text[a:b].rstrip() for a, b in zip(starts, starts[1:])]
        rest = text[starts[-1]:].replace(LINE_SEPARATOR, " ") if starts else ""
        return lines + [self.fontMetrics().elidedText(rest, self._mode, width)]

    def _lines_height(self) -> int:
        margins = self.contentsMargins()
        text = self.fontMetrics().boundingRect(QRect(), 0, "\n".join("X" * self._lines))
        return text.height() + margins.top() + margins.bottom() + 2 * self.margin()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._elide()

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._elide()  # a style sheet's font: other widths, another line height
            self.updateGeometry()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(self.fontMetrics().horizontalAdvance("…") * 4, self._lines_height())

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return self.minimumSizeHint()


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


def compact_rows(table: QTableView) -> None:
    """Rows as tall as one line of their text and the style's padding (call it once rows are
    filled: the first one is measured). Left to the header, rows are at least as tall as a
    header section's text and padding, 30 px, and a short dock had room for two of them."""
    if table.model().rowCount():
        rows = table.verticalHeader()
        rows.setMinimumSectionSize(table.fontMetrics().height())
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(table.sizeHintForRow(0))


def table_height(table: QTableView) -> int:
    """The height that shows ``table``'s header and all its rows whole, without scrolling."""
    body = sum(table.rowHeight(r) for r in range(table.model().rowCount()))
    return table.horizontalHeader().sizeHint().height() + body + 2 * table.frameWidth()


class WrappedTextDelegate(QStyledItemDelegate):
    """Cells whose text wraps, each row as tall as its wrapped text. Qt wraps a cell's size
    hint at the whole column width and adds a style sheet's padding after, so a text that wraps
    when painted (inside the padding) got a row one line short: its last words were cut. The
    padding is measured once per state of a cell, again when the view's style or font changes."""

    def __init__(self, view: QTableView):
        super().__init__(view)
        self._paddings: dict[int, int] = {}  # by the cell's state
        view.installEventFilter(self)

    def sizeHint(self, option: QStyleOptionViewItem, index) -> QSize:  # noqa: N802 (Qt API)
        width = option.rect.width()
        if width <= 0:  # a column's width asked for, not a wrapped height
            return super().sizeHint(option, index)
        rect = option.rect  # narrowed in place and back: a copy of the option costs 2× the hint
        rect.setWidth(width - self._padding(option))
        option.rect = rect
        try:
            return super().sizeHint(option, index)
        finally:
            rect.setWidth(width)
            option.rect = rect

    def _padding(self, option: QStyleOptionViewItem) -> int:
        key = option.state.value  # the view's font: a FontChange clears them
        padding = self._paddings.get(key)
        if padding is None:
            padding = self._paddings[key] = _padding(option)
        return padding

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt API)
        if event.type() in (QEvent.Type.StyleChange, QEvent.Type.FontChange):
            self._paddings.clear()  # another style sheet: other paddings
        return False


def _padding(option: QStyleOptionViewItem) -> int:
    """The width a style sheet's padding takes from a cell: what its text's rectangle lacks
    of the cell's, with nothing (icon, check box) beside the text."""
    plain = QStyleOptionViewItem(option)
    plain.features = QStyleOptionViewItem.ViewItemFeature.HasDisplay
    widget = option.widget
    style = widget.style() if widget is not None else QApplication.style()
    text = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, plain, widget)
    return max(0, option.rect.width() - text.width())
