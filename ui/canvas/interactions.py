"""Canvas gestures that are more than a click: drawing or re-routing a link with live yes/no
feedback, and the quick-add search popup. Both only build undo commands; the scene redraws
from the model's events once a command runs."""
from __future__ import annotations

import copy
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from graph.catalog import CATALOG, LayerType
from graph.design import Design, Edge, Node
from graph.validate import can_connect

from ..commands import AddEdgeCommand, Command, reconnect_command
from .items import IN, OUT, PortItem
from .links import DraftLinkItem, FeedbackItem, LinkItem
from .scene import CanvasScene
from .style import PORT_HIT_RADIUS, Theme, category_color


@dataclass(frozen=True)
class PortRef:
    node: str
    port: str
    direction: str  # IN or OUT


class LinkDrag:
    """A link being drawn from a port, or one end of an existing link being moved.

    ``fixed`` is the end that stays put. ``moving`` is the link being re-routed (None when a
    new link is drawn); dropping a re-routed end on empty canvas disconnects it.
    """

    def __init__(self, scene: CanvasScene, fixed: PortRef, anchor: QPointF, moving: Edge | None = None):
        self.scene = scene
        self.design: Design = scene.design
        self.fixed = fixed
        self.moving = moving
        self.want = IN if fixed.direction == OUT else OUT  # the kind of port we look for
        self.target: PortItem | None = None
        self.verdict: tuple[bool, str] | None = None
        self._cache: dict[tuple[str, str], tuple[bool, str]] = {}
        self.draft = DraftLinkItem(anchor, from_output=fixed.direction == OUT, flow=scene.flow)
        self.feedback = FeedbackItem()
        scene.addItem(self.draft)
        scene.addItem(self.feedback)
        if moving is not None and moving in scene.links:
            scene.links[moving].hide()

    def candidate_edge(self, port: PortItem) -> Edge:
        if self.fixed.direction == OUT:
            return Edge(self.fixed.node, port.node_id, self.fixed.port, port.name)
        return Edge(port.node_id, self.fixed.node, port.name, self.fixed.port)

    def check(self, port: PortItem) -> tuple[bool, str]:
        """``can_connect`` for a drop on ``port`` (cached: the design does not change mid-drag)."""
        key = (port.node_id, port.name)
        if key not in self._cache:
            edge = self.candidate_edge(port)
            if edge == self.moving:
                self._cache[key] = (True, "back where it was")
            else:
                replacing = [self.moving] if self.moving is not None else []
                self._cache[key] = can_connect(self.design, edge.src, edge.dst, edge.src_port,
                                               edge.dst_port, replacing=replacing)
        return self._cache[key]

    def port_near(self, pos: QPointF, scale: float) -> PortItem | None:
        """The nearest port of the wanted kind within reach of ``pos``."""
        reach = PORT_HIT_RADIUS / max(scale, 0.05)
        pill = 40.0  # a merge port's pill reaches this far from its centre, along its edge
        if self.scene.flow == "down":
            area = QRectF(pos.x() - reach - pill, pos.y() - reach, 2 * (reach + pill), 2 * reach)
        else:
            area = QRectF(pos.x() - reach, pos.y() - reach - pill, 2 * reach, 2 * (reach + pill))
        best, best_d = None, float("inf")
        for item in self.scene.items(area):
            if not isinstance(item, PortItem) or item.direction != self.want:
                continue
            if item.node_id == self.fixed.node and item.name == self.fixed.port:
                continue
            rect = item.sceneBoundingRect()
            dx = max(rect.left() - pos.x(), 0.0, pos.x() - rect.right())
            dy = max(rect.top() - pos.y(), 0.0, pos.y() - rect.bottom())
            d = (dx * dx + dy * dy) ** 0.5
            if d <= reach and d < best_d:
                best, best_d = item, d
        return best

    def move(self, pos: QPointF, scale: float) -> None:
        port = self.port_near(pos, scale)
        if port is not self.target:
            if self.target is not None:
                self.target.set_state(None)
            self.target = port
        if port is None:
            self.verdict = None
            self.draft.set_cursor(pos)
            self.draft.set_state(None)
            hint = ("Release to disconnect" if self.moving is not None else
                    "Release to add a layer here" if self.fixed.direction == OUT else
                    "Drop on an output port to connect")
            self.feedback.show_text(hint, None, pos)
            return
        self.verdict = self.check(port)
        state = "ok" if self.verdict[0] else "refused"
        port.set_state(state)
        self.draft.set_cursor(port.scenePos())
        self.draft.set_state(state)
        self.feedback.show_text(self.verdict[1], state, pos)

    def finish(self) -> tuple[Command | None, str]:
        """The command the drop asks for (None for nothing) and a message for the status bar."""
        self.cleanup()
        design = self.design
        if self.target is None:
            if self.moving is not None:
                return reconnect_command(design, self.moving, None), "Link removed"
            return None, ""
        ok, reason = self.verdict or self.check(self.target)
        if not ok:
            return None, f"Cannot connect: {reason}"
        edge = self.candidate_edge(self.target)
        if edge == self.moving:
            return None, ""
        if self.moving is not None:
            return reconnect_command(design, self.moving, edge), reason
        return AddEdgeCommand(design, edge), reason

    def cleanup(self) -> None:
        """Remove the overlay items and restore the picked-up link's visibility."""
        if self.target is not None:
            self.target.set_state(None)
        for item in (self.draft, self.feedback):
            if item.scene() is not None:
                self.scene.removeItem(item)
        if self.moving is not None and self.moving in self.scene.links:
            self.scene.links[self.moving].show()


def start_link_drag(scene: CanvasScene, item, scene_pos: QPointF) -> LinkDrag | None:
    """Begin a link gesture from a press on a port or near a link's end; None if it is neither."""
    if isinstance(item, PortItem):
        if item.direction == OUT:
            return LinkDrag(scene, PortRef(item.node_id, item.name, OUT), item.scenePos())
        links = scene.design.in_edges(item.node_id, item.name)
        picked = None
        if links and not item.port.variadic:
            picked = links[0]
        elif links:  # a merge port: pick the link whose slot is under the cursor
            def along(e: Edge) -> float:  # distance along the pill from the link's slot
                d = scene.anchor(e, "dst") - scene_pos
                return abs(d.x() if scene.flow == "down" else d.y())

            nearest = min(links, key=along)
            if along(nearest) <= 10:
                picked = nearest
        if picked is not None:
            return _pick_up(scene, picked, "dst")
        return LinkDrag(scene, PortRef(item.node_id, item.name, IN), item.scenePos())
    if isinstance(item, LinkItem):
        end = item.end_near(scene_pos)
        if end is not None:
            return _pick_up(scene, item.edge, end)
    return None


def _pick_up(scene: CanvasScene, edge: Edge, end: str) -> LinkDrag:
    if end == "dst":  # the source stays; the arrow end moves
        return LinkDrag(scene, PortRef(edge.src, edge.src_port, OUT), scene.anchor(edge, "src"), edge)
    return LinkDrag(scene, PortRef(edge.dst, edge.dst_port, IN), scene.anchor(edge, "dst"), edge)


def connect_after(design: Design, src_id: str, node: Node) -> Edge | None:
    """The link ``src → node`` (first output to first input) if ``can_connect`` allows it.

    ``node`` is not in ``design`` yet, so the question is put to a design holding just the two."""
    src = design.node(src_id)
    src_layer, layer = design.layer_of(src), design.layer_of(node)
    if not src_layer.outputs or not layer.inputs:
        return None
    probe = Design("probe", library=design.blocks)
    probe.add_node(copy.deepcopy(src))
    probe.add_node(copy.deepcopy(node))
    edge = Edge(src.id, node.id, src_layer.outputs[0].name, layer.inputs[0].name)
    ok, _ = can_connect(probe, edge.src, edge.dst, edge.src_port, edge.dst_port)
    return edge if ok else None


def connect_before(design: Design, dst_id: str, dst_port: str, node: Node) -> Edge | None:
    """The link ``node → dst.dst_port`` (``node`` not in ``design`` yet) if ``can_connect``
    allows it; asked of a design holding ``dst``, the links into it and ``node``."""
    layer = design.layer_of(node)
    if not layer.outputs:
        return None
    probe = Design("probe", library=design.blocks)
    probe.add_node(copy.deepcopy(design.node(dst_id)))
    for edge in design.in_edges(dst_id):
        if not probe.has_node(edge.src):
            probe.add_node(copy.deepcopy(design.node(edge.src)))
        probe.add_edge(edge)
    probe.add_node(copy.deepcopy(node))
    edge = Edge(node.id, dst_id, layer.outputs[0].name, dst_port)
    ok, _ = can_connect(probe, edge.src, edge.dst, edge.src_port, edge.dst_port)
    return edge if ok else None


# ---- quick add ------------------------------------------------------------------------------------


def _swatch(color: QColor) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawRoundedRect(QRectF(1, 1, 10, 10), 3, 3)
    painter.end()
    return QIcon(pixmap)


class _SearchEdit(QLineEdit):
    """The popup's search field: arrows move in the list, Tab too, Esc closes."""

    navigate = Signal(int)
    cancelled = Signal()

    def event(self, event) -> bool:
        if event.type() == event.Type.KeyPress and event.key() in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab):
            self.navigate.emit(-1 if event.key() == Qt.Key.Key_Backtab else 1)
            return True
        return super().event(event)

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        if event.reason() != Qt.FocusReason.PopupFocusReason:  # a click elsewhere closes it
            self.cancelled.emit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Down:
            self.navigate.emit(1)
        elif event.key() == Qt.Key.Key_Up:
            self.navigate.emit(-1)
        elif event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
        else:
            super().keyPressEvent(event)


class QuickAddPopup(QFrame):
    """Type to filter the catalog; Enter adds the highlighted layer (the top hit at first)."""

    chosen = Signal(str)  # layer type id
    closed = Signal()

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("QuickAddPopup")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setStyleSheet(
            f"#QuickAddPopup {{ background: {Theme.feedback_bg.name()}; border: 1px solid "
            f"{Theme.node_selected.name()}; border-radius: 6px; }}"
            f"QLineEdit {{ background: {Theme.node_body.name()}; color: {Theme.text.name()}; "
            f"border: 1px solid {Theme.node_border.name()}; border-radius: 4px; padding: 3px; }}"
            f"QListWidget {{ background: {Theme.node_body.name()}; color: {Theme.text.name()}; "
            f"border: none; }}"
            f"QListWidget::item:selected {{ background: {Theme.node_selected.darker(170).name()}; }}"
            f"QLabel {{ color: {Theme.text_muted.name()}; }}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        self.edit = _SearchEdit(self)
        self.edit.setPlaceholderText("Add layer… (type to search)")
        self.list = QListWidget(self)
        self.list.setIconSize(QSize(12, 12))
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.hint = QLabel(self)
        self.hint.setWordWrap(True)
        layout.addWidget(self.edit)
        layout.addWidget(self.list)
        layout.addWidget(self.hint)
        self.resize(280, 300)
        self.edit.textChanged.connect(self._filter)
        self.edit.returnPressed.connect(self.accept)
        self.edit.navigate.connect(self._navigate)
        self.edit.cancelled.connect(self.dismiss)
        self.list.itemClicked.connect(lambda _item: self.accept())
        self.hide()

    def popup(self, at, hint: str = "") -> None:
        """Show at ``at`` (a point in the parent's coordinates), kept inside the parent.
        ``hint`` says what Enter will do (e.g. which layer the new one is linked after)."""
        self.hint.setText(hint or "Enter adds the highlighted layer · Esc closes")
        parent = self.parentWidget()
        x = max(0, min(at.x(), parent.width() - self.width()))
        y = max(0, min(at.y(), parent.height() - self.height()))
        self.move(x, y)
        self.edit.clear()
        self._filter("")
        self.show()
        self.raise_()
        self.edit.setFocus(Qt.FocusReason.PopupFocusReason)

    def hits(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def _filter(self, text: str) -> None:
        self.list.clear()
        for layer in CATALOG.search(text):
            self._add_item(layer)
        if self.list.count():
            self.list.setCurrentRow(0)

    def _add_item(self, layer: LayerType) -> None:
        item = QListWidgetItem(_swatch(category_color(layer.category)), f"{layer.label}   ·  {layer.category}")
        item.setData(Qt.ItemDataRole.UserRole, layer.type_id)
        item.setToolTip(layer.doc)
        self.list.addItem(item)

    def _navigate(self, step: int) -> None:
        if self.list.count():
            self.list.setCurrentRow((self.list.currentRow() + step) % self.list.count())

    def accept(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        type_id = item.data(Qt.ItemDataRole.UserRole)
        self.dismiss()
        self.chosen.emit(type_id)

    def dismiss(self) -> None:
        if self.isVisible():
            self.hide()
            self.closed.emit()
