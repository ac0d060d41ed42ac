"""The layer palette: every catalog layer by category, with a search field that filters as you type.

Drag a layer onto the canvas (the drag carries :data:`ui.canvas.LAYER_MIME` with the layer's type
id as UTF-8), or double-click / press Enter to add it at the centre of the view
(:attr:`Palette.add_requested`). Once it follows a document (:meth:`Palette.follow`), the
design's own blocks are listed first, under *Blocks*, and used the same way (their name is the
type id).
"""
from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QDrag, QFontMetrics, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QMenu,
    QTreeWidget,
    QTreeWidgetItem,
    QTreeWidgetItemIterator,
    QVBoxLayout,
    QWidget,
)

import graph.layers  # noqa: F401  (fills the catalog)
from graph.blocks import BLOCK_CATEGORY
from graph.catalog import CATALOG, LayerType
from ui.canvas import LAYER_MIME
from ui.canvas.style import category_color, text_color_on

TYPE_ROLE = Qt.ItemDataRole.UserRole + 1


def color_chip(color: QColor, size: int = 12, round_: bool = False) -> QIcon:
    """A small rounded square of ``color`` (the icon of a category or layer), or a dot with
    ``round_`` (a severity)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    if round_:
        painter.drawEllipse(1, 1, size - 2, size - 2)
    else:
        painter.drawRoundedRect(1, 1, size - 2, size - 2, 3, 3)
    painter.end()
    return QIcon(pixmap)


def drag_pixmap(layer: LayerType, font) -> QPixmap:
    """A pill showing the layer's name in its category colour, shown under the cursor while
    dragging."""
    metrics = QFontMetrics(font)
    width, height = metrics.horizontalAdvance(layer.label) + 24, metrics.height() + 10
    pixmap = QPixmap(width, height)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    color = category_color(layer.category)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawRoundedRect(0, 0, width, height, height / 2, height / 2)
    painter.setPen(text_color_on(color))
    painter.setFont(font)
    painter.drawText(QRect(0, 0, width, height), Qt.AlignmentFlag.AlignCenter, layer.label)
    painter.end()
    return pixmap


class LayerTree(QTreeWidget):
    """The list of layers; dragging an item carries its type id under :data:`LAYER_MIME`.
    Double-click or Enter on a layer emits :attr:`layer_activated`."""

    layer_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.layer_of = CATALOG.get  # type id → LayerType (the palette adds the design's blocks)
        self.setHeaderHidden(True)
        self.setColumnCount(1)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setIndentation(10)
        self.setUniformRowHeights(True)
        self.setAnimated(False)
        self.setIconSize(QSize(12, 12))
        self.setObjectName("layerTree")

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        item = self.currentItem()
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and item is not None \
                and item.data(0, TYPE_ROLE):
            self.layer_activated.emit(item.data(0, TYPE_ROLE))
            return
        super().keyPressEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        item = self.itemAt(event.position().toPoint())
        if item is not None and item.data(0, TYPE_ROLE):
            self.layer_activated.emit(item.data(0, TYPE_ROLE))
            return
        super().mouseDoubleClickEvent(event)

    def mimeTypes(self) -> list[str]:  # noqa: N802 (Qt name)
        return [LAYER_MIME]

    def mimeData(self, items) -> QMimeData:  # noqa: N802
        data = QMimeData()
        type_ids = [item.data(0, TYPE_ROLE) for item in items if item.data(0, TYPE_ROLE)]
        if type_ids:
            data.setData(LAYER_MIME, type_ids[0].encode("utf-8"))
            data.setText(type_ids[0])
        return data

    def startDrag(self, actions) -> None:  # noqa: N802
        items = [item for item in self.selectedItems() if item.data(0, TYPE_ROLE)]
        if not items:
            return
        layer = self.layer_of(items[0].data(0, TYPE_ROLE))
        if layer is None:
            return
        drag = QDrag(self)
        drag.setMimeData(self.mimeData(items))
        pixmap = drag_pixmap(layer, self.font())
        drag.setPixmap(pixmap)
        drag.setHotSpot(QPoint(pixmap.width() // 2, pixmap.height() // 2))
        drag.exec(Qt.DropAction.CopyAction)


class Palette(QWidget):
    """Search field and layer tree. Emits :attr:`add_requested` with a type id on double-click or
    Enter."""

    add_requested = Signal(str)
    block_args_requested = Signal(str)  # a block's name: its context menu's Block Arguments…

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("palette")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search layers…")
        self.search.setClearButtonEnabled(True)
        self.search.setObjectName("paletteSearch")
        self.tree = LayerTree()
        self.empty = QLabel("No layer matches.")
        self.empty.setObjectName("muted")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setVisible(False)
        hint = QLabel("Drag onto the canvas, or double-click to add.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty)
        layout.addWidget(hint)

        self._items: dict[str, QTreeWidgetItem] = {}
        self._categories: dict[str, QTreeWidgetItem] = {}
        self._design = None  # the design whose blocks are listed (see follow)
        self.tree.layer_of = self.layer_type
        self._build()
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._add_first_match)
        self.tree.layer_activated.connect(self.add_requested)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)

    def block_menu(self, name: str) -> QMenu:
        """The context menu of block ``name``'s entry: add it, or edit its arguments."""
        menu = QMenu(self)
        menu.addAction("Add to the Canvas").triggered.connect(
            lambda: self.add_requested.emit(name))
        menu.addAction("Block Arguments…").triggered.connect(
            lambda: self.block_args_requested.emit(name))
        return menu

    def _context_menu(self, pos) -> None:
        item = self.tree.itemAt(pos)
        name = item.data(0, TYPE_ROLE) if item is not None else None
        if name in self.block_names():
            menu = self.block_menu(name)
            menu.exec(self.tree.viewport().mapToGlobal(pos))
            menu.deleteLater()

    def _build(self) -> None:
        for category, layers in CATALOG.categories().items():
            layers = [layer for layer in layers if not layer.is_placeholder]
            color = category_color(category)
            head = QTreeWidgetItem([category])
            head.setFlags(Qt.ItemFlag.ItemIsEnabled)
            head.setIcon(0, color_chip(color))
            head.setToolTip(0, f"{len(layers)} layer types")
            font = head.font(0)
            font.setBold(True)
            head.setFont(0, font)
            self.tree.addTopLevelItem(head)
            self._categories[category] = head
            for layer in layers:
                item = QTreeWidgetItem([layer.label])
                item.setData(0, TYPE_ROLE, layer.type_id)
                item.setToolTip(0, f"<b>{layer.label}</b> <i>({category})</i><br>{layer.doc}")
                item.setIcon(0, color_chip(color, 10))
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                              | Qt.ItemFlag.ItemIsDragEnabled)
                head.addChild(item)
                self._items[layer.type_id] = item
        self.tree.expandAll()

    # ---- the design's blocks ---------------------------------------------------------------------

    def follow(self, document) -> None:
        """List ``document``'s blocks under *Blocks* and keep the list current."""
        document.design_replaced.connect(self._bind)
        self._bind(document.design)

    def _events(self, design) -> list:
        return [(design.block_added, self._blocks_changed), (design.block_removed, self._blocks_changed),
                (design.block_changed, self._blocks_changed)]

    def _bind(self, design) -> None:
        if self._design is not None:
            for signal, slot in self._events(self._design):
                signal.disconnect(slot)
        self._design = design
        for signal, slot in self._events(design):
            signal.connect(slot)
        self._blocks_changed()

    def layer_type(self, type_id: str) -> LayerType | None:
        """A catalog layer type, or one of the followed design's blocks."""
        if self._design is not None and type_id in self._design.blocks:
            return self._design.blocks.layer_type(type_id)
        return CATALOG.get(type_id)

    def block_names(self) -> list[str]:
        return self._design.blocks.names() if self._design is not None else []

    def _blocks_changed(self, *_args) -> None:
        head = self._categories.get(BLOCK_CATEGORY)
        if head is None:
            head = QTreeWidgetItem([BLOCK_CATEGORY])
            head.setFlags(Qt.ItemFlag.ItemIsEnabled)
            head.setIcon(0, color_chip(category_color(BLOCK_CATEGORY)))
            font = head.font(0)
            font.setBold(True)
            head.setFont(0, font)
            self.tree.insertTopLevelItem(0, head)
            self._categories[BLOCK_CATEGORY] = head
        for i in reversed(range(head.childCount())):
            self._items.pop(head.child(i).data(0, TYPE_ROLE), None)
            head.removeChild(head.child(i))
        for name in self.block_names():
            block = self._design.blocks[name]
            item = QTreeWidgetItem([name])
            item.setData(0, TYPE_ROLE, name)
            args = ", ".join(f"{a}={v}" for a, v in block.args.items())
            item.setToolTip(0, f"<b>{name}</b> <i>(block of this design)</i><br>"
                               f"{block.description or f'{len(block.body)} nodes'}"
                               + (f"<br>arguments: {args}" if args else ""))
            item.setIcon(0, color_chip(category_color(BLOCK_CATEGORY), 10))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                          | Qt.ItemFlag.ItemIsDragEnabled)
            head.addChild(item)
            self._items[name] = item
        head.setToolTip(0, "The blocks defined in this design: drag one to use it again")
        self.filter(self.search.text())

    # ---- filtering -----------------------------------------------------------------------------

    def ranked_matches(self, text: str) -> list[str]:
        """Type ids matching ``text``, best first: the quick-add's ranking
        (:meth:`Catalog.search`), with the design's blocks whose name contains every word after
        the layers named like ``text``."""
        words = text.lower().split()
        layers = [layer.type_id for layer in CATALOG.search(text)]
        blocks = [n for n in self.block_names() if all(w in n.lower() for w in words)]
        named = sum(1 for type_id in layers if text.strip().lower() in type_id.lower())
        return layers[:named] + blocks + layers[named:]

    def filter(self, text: str) -> None:
        """Show only the layers :meth:`ranked_matches` finds for ``text`` (all when empty); the
        highlight moves to the best match, the layer Enter adds."""
        text = text.strip()
        ranked = self.ranked_matches(text) if text else []
        matches = set(ranked) if text else set(self._items)
        for type_id, item in self._items.items():
            item.setHidden(type_id not in matches)
        for head in self._categories.values():
            head.setHidden(all(head.child(i).isHidden() for i in range(head.childCount())))
        self.tree.expandAll()
        visible = self.visible_types()
        self.empty.setVisible(not visible)
        best = next((type_id for type_id in ranked if type_id in self._items), None)
        current = self.tree.currentItem()
        if best is not None:
            self.tree.setCurrentItem(self._items[best])
        elif visible and (current is None or current.isHidden() or not current.data(0, TYPE_ROLE)):
            self.tree.setCurrentItem(self._items[visible[0]])

    def visible_types(self) -> list[str]:
        """Type ids currently shown, top to bottom."""
        out = []
        iterator = QTreeWidgetItemIterator(self.tree, QTreeWidgetItemIterator.IteratorFlag.NotHidden)
        while iterator.value():
            item = iterator.value()
            type_id = item.data(0, TYPE_ROLE)
            if type_id and not item.parent().isHidden():
                out.append(type_id)
            iterator += 1
        return out

    def item(self, type_id: str) -> QTreeWidgetItem:
        return self._items[type_id]

    # ---- adding ---------------------------------------------------------------------------------

    def _add_first_match(self) -> None:
        """Enter in the search field: add the highlighted layer (the best match of the text)."""
        self.filter(self.search.text())  # the highlight is that of the text as it is now
        current = self.tree.currentItem()
        if current is not None and not current.isHidden() and current.data(0, TYPE_ROLE):
            self.add_requested.emit(current.data(0, TYPE_ROLE))
