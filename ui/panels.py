"""The bottom panels: diagnostics list, per-layer summary table and the generated PyTorch code.

Each follows the document's validation report (:attr:`Document.report_changed`). The diagnostics
list and the summary table emit :attr:`node_activated` with a node id when a row is clicked, so
the window can select and centre that node on the canvas.
"""
from __future__ import annotations

import re

from PySide6.QtCore import QRegularExpression, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase, QFontMetrics, QIcon, QSyntaxHighlighter, \
    QTextCharFormat
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from graph.summary import Summary, human_bytes, human_count, summarize
from graph.validate import ERROR, Report
from ui.document import Document
from ui.fixes import LINK_COLOR, applicable, apply_fix, fix_menu
from ui.loading import heavy_imports
from ui.palette import color_chip
from ui.widgets.fitted import ElidedLabel, WrappedTextDelegate

NODE_ROLE = Qt.ItemDataRole.UserRole + 1
SEVERITY_COLORS = {"error": QColor("#ff5a52"), "warning": QColor("#ffb020"), "ok": QColor("#34c759")}


def severity_icon(severity: str, size: int = 12) -> QIcon:
    return color_chip(SEVERITY_COLORS.get(severity, QColor("#9aa3b2")), size, round_=True)


def monospace_font(point_size: float = 10.0) -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSizeF(point_size)
    return font


# ---- diagnostics ------------------------------------------------------------------------------------



def _read_only_table(name: str, headers: list[str]) -> QTableWidget:
    """A table of whole-row, single selection that the user reads but does not edit."""
    table = QTableWidget(0, len(headers))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    return table

class DiagnosticsPanel(QWidget):
    """Every diagnostic of the report, errors first, wrapped to fit; clicking one emits its node
    id. A fix the app can make is a link in the Fix column: clicking it applies it (one undo
    step; a menu when it offers alternatives)."""

    node_activated = Signal(str)
    counts_changed = Signal(int, int)  # errors, warnings
    HEADERS = ["Layer", "Problem", "Fix"]
    FIX_COLUMN = 2
    MIN_FIX_WIDTH = 120  # px the fix keeps when the user widens the problem column

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.fix_actions: dict[int, list] = {}  # row → the fixes it can apply
        self.table = _read_only_table("diagnostics", self.HEADERS)
        self._shown: list | None = None  # (diagnostic, node name, tooltip) per row shown
        self.table.setWordWrap(True)  # every problem and fix whole, in rows as tall as they need
        self.table.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.table.setItemDelegate(WrappedTextDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)  # see _share_width
        header.setStretchLastSection(True)  # the fix: what the problem leaves
        self._dragged_width: int | None = None  # the problem's width the user chose, if any
        self._sharing = False  # the problem's width being set by _share_width
        self._fit_rows = QTimer(self, singleShot=True, interval=0)  # one layout per resize
        self._fit_rows.timeout.connect(lambda: self.table.resizeRowsToContents())
        header.sectionResized.connect(self._section_resized)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        self.table.cellClicked.connect(self._clicked)
        self.table.cellActivated.connect(self._clicked)
        self.table.setMouseTracking(True)  # a hand over a fix that a click applies
        self.table.cellEntered.connect(lambda row, column: self.table.viewport().setCursor(
            Qt.CursorShape.PointingHandCursor if column == self.FIX_COLUMN
            and row in self.fix_actions else Qt.CursorShape.ArrowCursor))
        document.report_changed.connect(self.update_report)
        self.update_report(document.report)

    def update_report(self, report: Report) -> None:
        design = self.document.design
        ordered = sorted(report.diagnostics, key=lambda d: d.severity != ERROR)
        errors = len(report.errors)
        names = [design.node(d.node).name if d.node and design.has_node(d.node) else "design"
                 for d in ordered]
        shown = [(d, name, d.format(design)) for d, name in zip(ordered, names)]
        if shown != self._shown:  # most edits leave the list as it is
            self._shown = shown
            self._fill(ordered, names)
        self.counts_changed.emit(errors, len(report.diagnostics) - errors)

    def _fill(self, ordered: list, names: list[str]) -> None:
        design = self.document.design
        self.table.setRowCount(max(1, len(ordered)))
        self.fix_actions = {}
        for r, (d, name) in enumerate(zip(ordered, names)):
            cells = [QTableWidgetItem(name), QTableWidgetItem(d.message), QTableWidgetItem(d.fix or "")]
            cells[0].setIcon(severity_icon(d.severity))
            if not d.node:
                cells[0].setForeground(QColor("#9aa3b2"))
            cells[2].setForeground(QColor("#9aa3b2"))
            for c, item in enumerate(cells):
                item.setData(NODE_ROLE, d.node)
                item.setToolTip(d.format(design))
                self.table.setItem(r, c, item)
            actions = applicable(design, d.actions)
            if actions:
                self.fix_actions[r] = actions
                self._link_style(cells[2], actions)
        if not ordered:
            cells = [QTableWidgetItem(""), QTableWidgetItem("No problems: the design is valid."),
                     QTableWidgetItem("")]
            cells[0].setIcon(severity_icon("ok"))
            cells[1].setForeground(QColor("#34c759"))
            for c, item in enumerate(cells):
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                self.table.setItem(0, c, item)
        self._share_width()

    def _share_width(self) -> None:
        """The problem column as wide as its longest line, but at most half of what the layer
        column leaves (or as wide as the user dragged it, while the fix keeps room for a few
        words); the fix column the rest. Both wrap, in rows as tall as they need, laid out once
        however many sections a resize moves."""
        room = self.table.viewport().width() - self.table.columnWidth(0)
        header = self.table.horizontalHeader()
        if self._dragged_width is not None:
            width = max(header.minimumSectionSize(),
                        min(self._dragged_width, room - self.MIN_FIX_WIDTH))
        else:
            widest = max(self.table.sizeHintForColumn(1), header.sectionSizeHint(1))
            width = max(header.sectionSizeHint(1), min(widest, room // 2))
        if width != header.sectionSize(1):
            self._sharing = True
            try:
                header.resizeSection(1, width)
            finally:
                self._sharing = False
        self._fit_rows.start()

    def _section_resized(self, section: int, _old: int, new: int) -> None:
        """Rows fit their columns' new widths (once, when the events settle); a width of the
        problem column that the app did not set was the user's, kept from now on."""
        if section == 1 and not self._sharing:
            self._dragged_width = new
        self._fit_rows.start()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._share_width()

    def apply_row_fix(self, row: int) -> None:
        """Apply the fix of ``row``; where it offers alternatives, the one picked from a menu."""
        actions = self.fix_actions[row]
        if len(actions) == 1:
            apply_fix(self.document, actions[0])
            return
        rect = self.table.visualRect(self.table.model().index(row, self.FIX_COLUMN))
        menu = fix_menu(self, actions, lambda a: apply_fix(self.document, a))
        menu.exec(self.table.viewport().mapToGlobal(rect.bottomLeft()))
        menu.deleteLater()

    def node_row(self, node_id: str) -> int | None:
        """The first row about ``node_id``."""
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 0)
            if item is not None and item.data(NODE_ROLE) == node_id:
                return r
        return None

    @staticmethod
    def _link_style(item: QTableWidgetItem, actions: list) -> None:
        item.setForeground(QColor(LINK_COLOR))
        font = item.font()
        font.setUnderline(True)
        item.setFont(font)
        item.setToolTip("Click to " + " or ".join(a.text for a in actions)
                        + " (one step; Ctrl+Z undoes it)")

    def _clicked(self, row: int, column: int = 0) -> None:
        if column == self.FIX_COLUMN and row in self.fix_actions:
            self.apply_row_fix(row)
            return
        item = self.table.item(row, 0)
        node_id = item.data(NODE_ROLE) if item is not None else None
        if node_id and self.document.design.has_node(node_id):
            self.node_activated.emit(node_id)


# ---- summary -----------------------------------------------------------------------------------------


class SummaryPanel(QWidget):
    """Per layer: name, type, output shape, parameters and MACs; a totals row; memory estimates.
    A block instance is a collapsible group with its totals (its copies, then their layers)."""

    node_activated = Signal(str)
    HEADERS = ["Name", "Type", "Output shape", "Parameters", "MACs"]
    NUMBER_WIDTHS = {2: "64×112×112", 3: "123,456,789", 4: "123.45G"}  # the widest usual

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.summary: Summary | None = None
        self._pending: Report | None = None  # the newest report, not yet shown
        self.tree = QTreeWidget()
        self.tree.setObjectName("summary")
        self.tree.setColumnCount(len(self.HEADERS))
        self.tree.setHeaderLabels(self.HEADERS)
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setStretchLastSection(False)
        # The numbers' columns as wide as large values need, the names' as its names (see
        # _fit_names), the type the rest: a block's "BasicBlock ×2 · 14 layers" and the totals'
        # "71 layers in 13 nodes" were cut at 1280×800 while short names had room to spare.
        metrics = self.tree.fontMetrics()
        bold = QFont(header.font())
        bold.setBold(True)  # the style sheet's header font, whether or not it is applied yet
        for column, widest in self.NUMBER_WIDTHS.items():
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, max(QFontMetrics(bold).horizontalAdvance(
                self.HEADERS[column]), metrics.horizontalAdvance(widest)) + 28)
        self.totals = self._totals_row()
        # One line (all of it in the tooltip): a short dock keeps its height for the rows.
        self.memory = ElidedLabel(mode=Qt.TextElideMode.ElideRight)
        self.memory.setObjectName("muted")
        self.memory.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        footer = QHBoxLayout()
        footer.setContentsMargins(8, 2, 8, 4)
        footer.addWidget(self.memory)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.totals)
        layout.addLayout(footer)
        self.tree.itemClicked.connect(self._clicked)
        self.tree.itemExpanded.connect(self._fit_names)
        self.tree.itemCollapsed.connect(self._fit_names)
        self._align_timer = QTimer(self)  # once the header has laid out all its sections
        self._align_timer.setSingleShot(True)
        self._align_timer.setInterval(0)
        self._align_timer.timeout.connect(self._align_totals)
        header.sectionResized.connect(lambda *_a: self._align_timer.start())
        document.report_changed.connect(self.update_report)
        self.update_report(document.report)

    def _totals_row(self) -> QTreeWidget:
        """The totals: one row under the table, never scrolled away, its columns those of the
        table above."""
        totals = QTreeWidget()
        totals.setObjectName("summaryTotals")
        totals.setColumnCount(len(self.HEADERS))
        totals.setHeaderHidden(True)
        totals.setRootIsDecorated(True)  # the same indentation as the rows above
        totals.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        totals.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        totals.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        totals.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        totals.header().setStretchLastSection(False)
        item = QTreeWidgetItem(["Total", "", "", "", ""])
        bold = QFont(self.tree.font())
        bold.setBold(True)
        for c in range(len(self.HEADERS)):
            item.setFont(c, bold)
        item.setTextAlignment(3, _RIGHT)
        item.setTextAlignment(4, _RIGHT)
        totals.addTopLevelItem(item)
        height = totals.sizeHintForRow(0) + 2 * totals.frameWidth() + 4
        totals.setFixedHeight(max(height, totals.fontMetrics().height() + 8))
        return totals

    def _align_totals(self) -> None:
        header = self.tree.header()
        for c in range(len(self.HEADERS)):
            self.totals.setColumnWidth(c, header.sectionSize(c))

    def update_report(self, report: Report) -> None:
        """Show ``report``'s summary; a tab hidden in a shown window keeps the newest report
        and builds its table when shown (an edit costs a hidden tab nothing)."""
        self._pending = report
        if self.isVisible() or not self.window().isVisible():
            self._build()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self._build()

    def _build(self) -> None:
        report, self._pending = self._pending, None
        if report is None:
            return
        summary = summarize(self.document.design, report.inference)
        self.summary = summary
        expanded = {self.tree.topLevelItem(i).text(0) for i in range(self.tree.topLevelItemCount())
                    if self.tree.topLevelItem(i).isExpanded()}
        self.tree.clear()
        for row in summary.rows:
            item = self._item(row, top=True)
            self.tree.addTopLevelItem(item)
            item.setExpanded(item.text(0) in expanded)
        self._fit_names()
        layers = summary.total_layers or len(summary.rows)
        nodes = f" in {summary.nodes} nodes" if summary.groups else ""
        totals = self.totals.topLevelItem(0)
        for c, text in enumerate(("Total", f"{layers} layers{nodes}", "",
                                  f"{summary.total_params:,}", human_count(summary.total_macs))):
            totals.setText(c, text)
        frozen = (f" ({summary.trainable_params:,} trainable, {summary.frozen_params:,} frozen)"
                  if summary.frozen_params else "")
        self.memory.set_full_text(
            f"Training memory (Adam) ≈ {human_bytes(summary.training_bytes)} · parameters "
            f"{human_bytes(summary.param_bytes)}{frozen} · activations at batch "
            f"{summary.batch_size}: {human_bytes(summary.activation_bytes)} · "
            f"{human_count(summary.total_macs)} MACs per sample")

    NAME_WIDTH_RANGE = (90, 220)  # px: the Name column's least and most

    def _fit_names(self, *_item) -> None:
        """The Name column as wide as the longest name shown (bold for a block; a copy's or a
        layer's in an expanded block after its deeper indentation), within NAME_WIDTH_RANGE;
        the Type column takes what is left."""
        step = self.tree.indentation()
        bold = QFont(self.tree.font())
        bold.setBold(True)
        metrics = {False: QFontMetrics(self.tree.font()), True: QFontMetrics(bold)}

        def widths(item: QTreeWidgetItem, depth: int):
            yield metrics[item.font(0).bold()].horizontalAdvance(item.text(0)) + depth * step
            if item.isExpanded():
                for c in range(item.childCount()):
                    yield from widths(item.child(c), depth + 1)

        root = self.tree.invisibleRootItem()
        wide = max((w for r in range(root.childCount()) for w in widths(root.child(r), 1)),
                   default=0)
        least, most = self.NAME_WIDTH_RANGE
        self.tree.header().resizeSection(0, min(max(wide + 12, least), most))

    def _item(self, row, top: bool) -> QTreeWidgetItem:
        """One row; a group's children (copies, then layers) nested below it."""
        kind = f"{row.type} ×{row.repeat}" if row.is_group and row.repeat > 1 else row.type
        if row.is_group:
            kind += f" · {row.layers} layers"
        item = QTreeWidgetItem([row.name, kind, row.shape, f"{row.params:,}", human_count(row.macs)])
        item.setToolTip(1, kind)  # whole, where the column is too narrow for it
        item.setData(0, NODE_ROLE, row.node_id if top else "")
        item.setTextAlignment(3, _RIGHT)
        item.setTextAlignment(4, _RIGHT)
        if row.is_group:
            font = QFont(self.tree.font())
            font.setBold(True)
            item.setFont(0, font)
            item.setToolTip(0, "A block: expand to see its copies and layers; totals on this row")
        for child in row.children:
            item.addChild(self._item(child, top=False))
        return item

    def rows(self) -> list[list[str]]:
        """The top-level rows' texts, then the totals row's, as shown (or as they will be)."""
        self._build()
        items = [self.tree.topLevelItem(r) for r in range(self.tree.topLevelItemCount())]
        return [[item.text(c) for c in range(len(self.HEADERS))]
                for item in (*items, self.totals.topLevelItem(0))]

    def _clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        node_id = item.data(0, NODE_ROLE)
        if node_id and self.document.design.has_node(node_id):
            self.node_activated.emit(node_id)


_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


# ---- code ---------------------------------------------------------------------------------------------


class PythonHighlighter(QSyntaxHighlighter):
    """Keywords, strings, numbers and comments of the generated code, in the dark theme."""

    KEYWORDS = ("def class return import from as if else elif for in while with not and or is None "
                "True False pass lambda yield").split()

    def __init__(self, document):
        super().__init__(document)

        def fmt(color: str, bold: bool = False, italic: bool = False) -> QTextCharFormat:
            f = QTextCharFormat()
            f.setForeground(QColor(color))
            if bold:
                f.setFontWeight(QFont.Weight.Bold)
            f.setFontItalic(italic)
            return f

        self.rules = [
            (QRegularExpression(r"\b(" + "|".join(self.KEYWORDS) + r")\b"), fmt("#c792ea", bold=True)),
            (QRegularExpression(r"\bself\b"), fmt("#f78c6c")),
            (QRegularExpression(r"\b[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\b"), fmt("#f78c6c")),
            (QRegularExpression(r"\b[A-Za-z_][A-Za-z0-9_]*(?=\()"), fmt("#82aaff")),
            (QRegularExpression(r"'[^'\n]*'|\"[^\"\n]*\""), fmt("#c3e88d")),
            (QRegularExpression(r"#[^\n]*"), fmt("#697098", italic=True)),
        ]
        self.docstring = fmt("#8f9bb3", italic=True)

    def highlightBlock(self, text: str) -> None:  # noqa: N802 (Qt name)
        for pattern, style in self.rules:
            matches = pattern.globalMatch(text)
            while matches.hasNext():
                m = matches.next()
                self.setFormat(m.capturedStart(), m.capturedLength(), style)
        self._docstrings(text)

    def _docstrings(self, text: str) -> None:
        """Triple-quoted strings, across lines (block state 1 = inside one)."""
        start = 0 if self.previousBlockState() == 1 else text.find('"""')
        inside = self.previousBlockState() == 1
        while start >= 0:
            end = text.find('"""', start + (0 if inside else 3))
            if end < 0:
                self.setCurrentBlockState(1)
                self.setFormat(start, len(text) - start, self.docstring)
                return
            self.setFormat(start, end + 3 - start, self.docstring)
            inside = False
            start = text.find('"""', end + 3)
        self.setCurrentBlockState(0)


class CodePanel(QWidget):
    """The generated PyTorch code of the design, read-only: the standalone module that
    ``export`` writes (:func:`runtime.codegen.python_source`) or the compiled ``torch.fx``
    ``forward``. Shows the compile error when the design is invalid. Compiling waits while the
    panel is hidden."""

    STANDALONE, FX = "standalone", "fx"

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.editor = QPlainTextEdit()
        self.editor.setObjectName("code")
        self.editor.setReadOnly(True)
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.editor.setFont(monospace_font())
        self.editor.setTabStopDistance(4 * self.editor.fontMetrics().horizontalAdvance(" "))
        self.highlighter = PythonHighlighter(self.editor.document())
        self.status = QLabel()
        self.status.setObjectName("muted")
        self.form = QComboBox()
        self.form.setObjectName("codeForm")
        self.form.addItem("Standalone module", self.STANDALONE)
        self.form.addItem("torch.fx forward", self.FX)
        self.form.setToolTip("Standalone: the .py file Export writes (needs only torch).\n"
                             "torch.fx: the forward of the module Netwright trains.")
        self.form.currentIndexChanged.connect(lambda _i: self.refresh())
        footer = QHBoxLayout()
        footer.setContentsMargins(8, 2, 8, 4)
        footer.addWidget(self.status, 1)
        footer.addWidget(self.form)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.editor, 1)
        layout.addLayout(footer)
        self.ok = False
        self._dirty = True
        self._waiting = False  # for the background imports (ui.loading)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.refresh)
        document.report_changed.connect(self._report_changed)

    def _report_changed(self, _report: Report) -> None:
        self._dirty = True
        if self.isVisible():
            self._timer.start()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self._dirty:
            self.refresh()

    def text(self) -> str:
        return self.editor.toPlainText()

    def refresh(self) -> None:
        """Compile the design now and show the code, or why it cannot be compiled (or, while
        PyTorch is still loading in the background, say so and come back once it is)."""
        loader = heavy_imports()
        if loader.loading:
            if not self._waiting:
                self._waiting = True
                loader.when_loaded(self._loaded, self)
            self._set_text(_comment(f"{loader.describe()}\nThe code appears once it is loaded."))
            self.status.setText(loader.describe())
            return
        self._dirty = False
        design, report = self.document.design, self.document.report
        try:
            from runtime.codegen import python_source
            from runtime.compiler import CompileError, compile_structure
        except ImportError as exc:
            self.ok = False
            self._set_text(_comment(f"PyTorch could not be loaded: {exc}"))
            self.status.setText("Code generation needs PyTorch.")
            return
        try:
            # no weights on the GUI thread; the code is the network's, whatever the data
            compiled = compile_structure(design, report.network())
            if self.form.currentData() == self.FX:
                text = compiled.module.code.strip() + "\n"
            else:
                text = python_source(design, compiled)
        except CompileError as exc:
            text, self.ok = _comment(str(exc)), False
            self.status.setText(f"Fix {len(exc.report.errors)} error"
                                f"{'s' * (len(exc.report.errors) != 1)} to generate code.")
        except Exception as exc:  # a layer torch refuses to build: show it, never crash the app
            text, self.ok = _comment(f"PyTorch could not build this design: {exc}"), False
            self.status.setText("Code generation failed.")
        else:
            self.ok = True
            self.status.setText(f"{len(compiled.idents)} layers · generated from the design, "
                                "read-only")
        self._set_text(text)

    def _loaded(self) -> None:
        self._waiting = False
        if self.isVisible():
            self.refresh()

    def _set_text(self, text: str) -> None:
        if text != self.editor.toPlainText():
            bar = self.editor.verticalScrollBar()
            position = bar.value()
            self.editor.setPlainText(text)
            bar.setValue(position)


def _comment(text: str) -> str:
    return "\n".join("# " + line if line.strip() else "#" for line in re.split(r"\r?\n", text)) + "\n"
