"""Node, port and badge items. They draw what the scene tells them and never touch the model.

A node shows its name (header, in its category's colour), its type with the key params
(``LayerType.summary_keys``), its output shape and parameter count. Ports follow the design's
flow: on the top (inputs) and bottom (outputs) edges when data flows down, on the left and right
edges when it flows right. A merge layer's variadic input is drawn as a long pill along its edge
whose links attach in link order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from graph.blocks import BLOCK_CATEGORY
from graph.catalog import LayerType, Port
from graph.design import Node
from graph.summary import human_count

from .style import (
    CORNER_RADIUS,
    DETAIL_ZOOM,
    NAME_ZOOM,
    HEADER_HEIGHT,
    NODE_HEIGHT,
    NODE_WIDTH,
    PORT_RADIUS,
    ROW_HEIGHT,
    VARIADIC_PORT_WIDTH,
    Theme,
    Z,
    category_color,
    mono_font,
    text_color_on,
    ui_font,
)

if TYPE_CHECKING:
    from graph.validate import Diagnostic

IN, OUT = "in", "out"
PAD = 8.0
_ELIDE_RIGHT = Qt.TextElideMode.ElideRight
_ELIDE_MIDDLE = Qt.TextElideMode.ElideMiddle
_LEFT_VCENTER = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
_RIGHT_VCENTER = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight

@dataclass(frozen=True)
class NodeLook:
    """Everything a node item shows that comes from the validation report."""

    shape: str = ""
    params: str = ""
    severity: str | None = None  # None, "warning" or "error"
    problems: str = ""  # tooltip text of the badge
    describe: str = ""  # "in → out" for the node's tooltip
    # inside a block, a layer its shown copy leaves out: the condition it needs ("project")
    skipped: str = ""


def pill_length(flow: str) -> float:
    """Length of a variadic port's pill: along the node's top edge, or down its side."""
    return VARIADIC_PORT_WIDTH if flow == "down" else NODE_HEIGHT - HEADER_HEIGHT


def port_position(flow: str, direction: str, index: int, count: int) -> QPointF:
    """Where the ``index``-th of a node's ``count`` input (or output) ports sits, in the node's
    coordinates: spread along the top (bottom) edge, or down the left (right) side below the
    header when there is room."""
    edge = 0.0 if direction == IN else (NODE_HEIGHT if flow == "down" else NODE_WIDTH)
    if flow == "down":
        return QPointF(NODE_WIDTH * (index + 1) / (count + 1), edge)
    top = HEADER_HEIGHT if count > 1 else 0.0
    return QPointF(edge, top + (NODE_HEIGHT - top) * (index + 1) / (count + 1))


def slot_offset(flow: str, port: Port, index: int, count: int) -> QPointF:
    """Offset (from the port centre, along its edge) of the ``index``-th of ``count`` links
    into ``port``: merge inputs attach side by side, first on the left (or at the top)."""
    if not port.variadic or count <= 1:
        return QPointF()
    usable = pill_length(flow) - 2 * PORT_RADIUS
    along = -usable / 2 + usable * index / (count - 1)
    return QPointF(along, 0) if flow == "down" else QPointF(0, along)


def anchor_offset(layer: LayerType, direction: str, port_name: str, flow: str,
                  slot: int = 0, count: int = 1) -> QPointF:
    """Where a link meets ``port_name`` on a node of ``layer``, in the node's coordinates (its
    ``slot``-th of ``count`` places on a merge input); the middle of the node's input (output)
    edge when the layer has no such port."""
    ports = layer.inputs if direction == IN else layer.outputs
    for index, port in enumerate(ports):
        if port.name == port_name:
            return port_position(flow, direction, index, len(ports)) + slot_offset(flow, port, slot, count)
    down = flow == "down"
    if direction == IN:
        return QPointF(NODE_WIDTH / 2, 0) if down else QPointF(0, NODE_HEIGHT / 2)
    return QPointF(NODE_WIDTH / 2, NODE_HEIGHT) if down else QPointF(NODE_WIDTH, NODE_HEIGHT / 2)


class PortItem(QGraphicsItem):
    """One input or output port of a node (a child item of the node). ``flow`` is the design's
    (:data:`graph.design.FLOWS`): ports sit on the top/bottom edges, or on the left/right."""

    def __init__(self, node_item: "NodeItem", port: Port, direction: str, position: QPointF,
                 flow: str = "down"):
        super().__init__(node_item)
        self.node_item = node_item
        self.port = port
        self.direction = direction
        self.flow = flow
        self.state: str | None = None  # None, "ok" or "refused" while a link is dragged
        self.linked = False
        self.setPos(position)
        self._half = pill_length(flow) / 2 if port.variadic else PORT_RADIUS
        half, r = self._half, PORT_RADIUS
        self._rect = (QRectF(-half - 2, -r - 2, 2 * half + 4, 2 * r + 4) if flow == "down"
                      else QRectF(-r - 2, -half - 2, 2 * r + 4, 2 * half + 4))
        self.setCursor(Qt.CursorShape.CrossCursor)

    def tooltip_text(self) -> str:
        kind = "input" if self.direction == IN else "output"
        extra = " — links attach in order, first on the left" if self.port.variadic else ""
        doc = f": {self.port.doc}" if self.port.doc else ""
        return f"{self.node_item.name}, {kind} {self.port.name!r}{doc}{extra}"

    @property
    def node_id(self) -> str:
        return self.node_item.node_id

    @property
    def name(self) -> str:
        return self.port.name

    def boundingRect(self) -> QRectF:
        return self._rect

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self._rect.adjusted(-4, -4, 4, 4))  # generous hit area
        return path

    def set_state(self, state: str | None) -> None:
        if state != self.state:
            self.state = state
            self.update()

    def set_linked(self, linked: bool) -> None:
        if linked != self.linked:
            self.linked = linked
            self.update()

    def slot(self, index: int, count: int) -> QPointF:
        """Offset (from the port centre) of the ``index``-th of ``count`` links into it."""
        return slot_offset(self.flow, self.port, index, count)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = {"ok": Theme.ok, "refused": Theme.refused}.get(self.state, Theme.port)
        fill = color if (self.linked or self.state) else Theme.node_body
        painter.setPen(QPen(color if not self.linked else Theme.port_border, 1.6))
        painter.setBrush(fill)
        r = PORT_RADIUS
        if self.port.variadic:
            painter.drawRoundedRect(self._rect.adjusted(2, 2, -2, -2), r, r)
        else:
            painter.drawEllipse(QPointF(0, 0), r, r)
        if self.state:  # a halo while a dragged link hovers here
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(color, 2.0))
            painter.drawRoundedRect(self._rect, r + 2, r + 2)


class BadgeItem(QGraphicsItem):
    """The red (error) or amber (warning) disc on a node's corner; its tooltip explains."""

    SIZE = 16.0

    def __init__(self, node_item: "NodeItem"):
        super().__init__(node_item)
        self.severity = "error"
        self.text = ""
        self.setPos(NODE_WIDTH - self.SIZE / 2 - 2, -self.SIZE / 2 + 2)

    def boundingRect(self) -> QRectF:
        return QRectF(-self.SIZE / 2, -self.SIZE / 2, self.SIZE, self.SIZE)

    def set_problem(self, severity: str, text: str) -> None:
        self.severity = severity
        self.text = text
        self.update()

    def tooltip_text(self) -> str:
        """What is wrong and what would fix it (shown when the cursor rests on the badge)."""
        return self.text

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = Theme.error if self.severity == "error" else Theme.warning
        painter.setPen(QPen(Theme.background, 1.5))
        painter.setBrush(color)
        painter.drawEllipse(self.boundingRect().adjusted(0.75, 0.75, -0.75, -0.75))
        painter.setPen(QColor("#ffffff") if self.severity == "error" else QColor("#1d2026"))
        painter.setFont(_FONTS.badge)
        painter.drawText(self.boundingRect(), Qt.AlignmentFlag.AlignCenter, "!")


class HealthBadgeItem(BadgeItem):
    """A small disc on a node's lower-left corner coloured by the layer's gradient health during
    training (green, amber, red); its tooltip gives the numbers. Set by ``set_node_health``.
    It sits on the bottom edge, below the shape text (as the error badge sits on the top edge)."""

    COLORS = {"ok": Theme.ok, "warning": Theme.warning, "error": Theme.error}
    INSET = 2.5  # the disc is drawn this much inside the bounding square

    def __init__(self, node_item: "NodeItem"):
        super().__init__(node_item)
        self.setPos(self.SIZE / 2 + 2, NODE_HEIGHT + 1)

    def disc(self) -> QRectF:
        """The painted disc, in the badge's coordinates."""
        inset = self.INSET
        return self.boundingRect().adjusted(inset, inset, -inset, -inset)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(Theme.background, 1.5))
        painter.setBrush(self.COLORS.get(self.severity, Theme.ok))
        painter.drawEllipse(self.disc())


class _Fonts:
    """Fonts and metrics shared by all nodes (built once a QGuiApplication exists)."""

    def __init__(self) -> None:
        self._ready = False

    def _build(self) -> None:
        self._name = ui_font(9.0, bold=True)
        self._body = ui_font(8.0)
        self._mono = mono_font(7.5)
        self._badge = ui_font(8.5, bold=True)
        self._overview = ui_font(14.0, bold=True)
        self._overview_m = QFontMetricsF(self._overview)
        self._name_m = QFontMetricsF(self._name)
        self._body_m = QFontMetricsF(self._body)
        self._mono_m = QFontMetricsF(self._mono)
        self._ready = True

    def __getattr__(self, item: str) -> Any:
        if item.startswith("_"):
            raise AttributeError(item)
        if not self._ready:
            self._build()
        return getattr(self, "_" + item)


_FONTS = _Fonts()


def _rounded_paths() -> tuple[QPainterPath, QPainterPath]:
    body = QPainterPath()
    body.addRoundedRect(QRectF(0, 0, NODE_WIDTH, NODE_HEIGHT), CORNER_RADIUS, CORNER_RADIUS)
    header_clip = QPainterPath()
    header_clip.addRect(QRectF(0, 0, NODE_WIDTH, HEADER_HEIGHT))
    return body, body.intersected(header_clip)


class NodeItem(QGraphicsItem):
    """A layer on the canvas. The scene creates, updates and removes it from model events."""

    def __init__(self, node: Node, layer: LayerType, flow: str = "down"):
        super().__init__()
        self.node_id = node.id
        self.layer = layer
        self.flow = flow
        self.is_block = layer.category == BLOCK_CATEGORY
        self.repeat = 1  # copies of a block instance (its ×N)
        self.frozen = False  # not trainable: "❄ frozen" before its type on the face
        self.look = NodeLook()
        self.badge: BadgeItem | None = None
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                      | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(Z.NODE)
        self.setAcceptHoverEvents(False)
        self._header_color = category_color(layer.category)
        self._header_text = text_color_on(self._header_color)
        self.inputs = self._make_ports(layer.inputs, IN)
        self.outputs = self._make_ports(layer.outputs, OUT)
        self.set_node(node)
        self._elide_shape()
        self.set_position(node.position)

    def _make_ports(self, ports: Sequence[Port], direction: str) -> dict[str, PortItem]:
        out = {}
        for i, port in enumerate(ports):
            position = port_position(self.flow, direction, i, len(ports))
            out[port.name] = PortItem(self, port, direction, position, self.flow)
        return out

    # ---- data from the model and the report ------------------------------------------------------

    def set_node(self, node: Node) -> None:
        """Take the name and params of ``node`` (after a rename or a param edit)."""
        self.name = node.name
        self.frozen = not node.trainable
        self.setToolTip("Frozen: training leaves its weights as they are" if self.frozen else "")
        params = node.resolved_params()
        if self.is_block:  # its arguments on the face; ×N in the header
            self.repeat = params.get("repeat", 1) if isinstance(params.get("repeat"), int) else 1
            self.summary = " · ".join(f"{k}={params[k]}" for k in self.layer.summary_keys
                                      if k != "repeat" and k in params)
        else:
            self.summary = self.layer.face_text(params)
        self._elide_labels()
        self.update()

    def set_position(self, position: tuple[float, float]) -> None:
        self.setPos(QPointF(position[0], position[1]))

    def set_look(self, look: NodeLook) -> bool:
        """Show ``look``; returns False (and repaints nothing) when it is what is shown."""
        if look == self.look:
            return False
        badge_changed = bool(look.severity) != bool(self.look.severity)
        self.look = look
        if look.severity:
            if self.badge is None:
                self.badge = BadgeItem(self)
            self.badge.set_problem(look.severity, look.problems)
            self.badge.show()
        elif self.badge is not None:
            self.badge.hide()
        if badge_changed:
            self._elide_labels()
        self._elide_shape()
        self.setOpacity(0.45 if look.skipped else 1.0)  # drawn faint: not in this copy
        self.update()
        return True

    def _elide_labels(self) -> None:
        """Fit the name, type and summary into the node (they change with the model): a long
        name is set smaller before it is elided (in the middle, so its start and end stay);
        the summary shows whole ``key=value`` items only (never a misleading ``planes=6…``)."""
        width = NODE_WIDTH - 2 * PAD
        name_width = width - (BadgeItem.SIZE / 2 if self.look.severity else 0.0)
        if self.is_block and self.repeat > 1:
            name_width -= _FONTS.name_m.horizontalAdvance(self.repeat_text()) + PAD
        self._name_font, self._name_text = _fit(self.name, _FONTS.name, name_width, 7.5)
        # a layer named by its place in a chain ("0", "1" … as torchvision's features) says what
        # it is too: zoomed out, the name is all a node shows
        overview = self.name + (f" · {self.layer.label}" if self.name.isdigit() else "")
        overview += f" {self.repeat_text()}" if self.is_block and self.repeat > 1 else ""
        self._overview_font, self._overview_text = _fit(overview, _FONTS.overview, width, 9.0)
        label = ("❄ frozen · " if self.frozen else "") + self.layer.label
        metrics = _FONTS.body_m
        self._type_text = metrics.elidedText(label, _ELIDE_RIGHT, width)
        self._summary_x = PAD + min(metrics.horizontalAdvance(self._type_text + "  "), width)
        self._summary_text = _whole_items([i for i in self.summary.split(" · ") if i], metrics,
                                          NODE_WIDTH - PAD - self._summary_x)

    def _elide_shape(self) -> None:
        """Fit the output shape beside the parameter count (they change with the report); when
        the shape would not fit whole, the count drops its unit ("1.2M params" → "1.2M")."""
        self._params_text = self.look.params
        metrics = _FONTS.mono_m
        room = NODE_WIDTH - 3 * PAD
        shape = self.look.shape or "?"
        if self.look.skipped:
            shape, self._params_text = f"only when {self.look.skipped}", ""
        if self._params_text and (metrics.horizontalAdvance(shape) +
                                  metrics.horizontalAdvance(self._params_text) > room):
            self._params_text = self._params_text.removesuffix(" params")
        params_w = metrics.horizontalAdvance(self._params_text) if self._params_text else 0.0
        self._shape_text = metrics.elidedText(shape, _ELIDE_MIDDLE, room - params_w)

    def repeat_text(self) -> str:
        return f"×{self.repeat}"

    def minimap_color(self) -> QColor:
        """The node's colour on the minimap: its header's."""
        return self._header_color

    def tooltip_text(self) -> str:
        """Rich text for the node's tooltip, built only when the cursor rests on it."""
        lines = [f"<b>{_html(self.name)}</b> — {_html(self.layer.label)}"]
        if self.summary:
            lines.append(_html(self.summary))
        if self.look.skipped:
            lines.append(f"Left out of the copy shown: it is there only when "
                         f"{_html(self.look.skipped)}")
        elif self.look.describe:
            lines.append(f"shape: {_html(self.look.describe)}")
        if self.look.params:
            lines.append(_html(self.look.params))
        if self.look.problems:
            lines.append(_html(self.look.problems).replace("\n", "<br>"))
        doc = self.layer.doc.split(". ")[0].rstrip(".")
        if doc:
            lines.append(f"<i>{_html(doc)}.</i>")
        return "<br>".join(lines)

    # ---- geometry ----------------------------------------------------------------------------------

    def boundingRect(self) -> QRectF:
        return QRectF(-4, -4, NODE_WIDTH + 12, NODE_HEIGHT + 12)

    def shape(self) -> QPainterPath:
        return _PATHS[0]

    def center(self) -> QPointF:
        return self.pos() + QPointF(NODE_WIDTH / 2, NODE_HEIGHT / 2)

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            scene = self.scene()
            if scene is not None:
                scene.node_item_moved(self)
        elif change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.setZValue(Z.NODE_SELECTED if value else Z.NODE)
        return super().itemChange(change, value)

    # ---- painting ------------------------------------------------------------------------------------

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        # rounded: at a zoom of exactly 30 % Qt's arithmetic gives 0.29999…, below NAME_ZOOM
        lod = round(option.levelOfDetailFromTransform(painter.worldTransform()), 6)
        if lod < DETAIL_ZOOM:
            self._paint_overview(painter, lod)
            return
        body, header = _PATHS
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        selected = self.isSelected()
        if selected:
            painter.setPen(QPen(Theme.node_selected, 2.5))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(QRectF(-2.5, -2.5, NODE_WIDTH + 5, NODE_HEIGHT + 5),
                                    CORNER_RADIUS + 2, CORNER_RADIUS + 2)
        if self.is_block:
            self._paint_stack(painter)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(Theme.node_body)
        painter.drawPath(body)
        painter.setBrush(self._header_color)
        painter.drawPath(header)
        if self.look.severity:
            border = QPen(Theme.error if self.look.severity == "error" else Theme.warning, 2.0)
        else:
            border = QPen(Theme.node_border, 1.0)
        painter.setPen(border)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(body)
        painter.setFont(self._name_font)
        painter.setPen(self._header_text)
        painter.drawText(QRectF(PAD, 0, NODE_WIDTH - 2 * PAD, HEADER_HEIGHT),
                         _LEFT_VCENTER, self._name_text)
        painter.setFont(_FONTS.name)
        if self.is_block and self.repeat > 1:
            painter.drawText(QRectF(PAD, 0, NODE_WIDTH - 2 * PAD - (BadgeItem.SIZE / 2 if
                                    self.look.severity else 0.0), HEADER_HEIGHT),
                             _RIGHT_VCENTER, self.repeat_text())
        row1 = QRectF(PAD, HEADER_HEIGHT + 3, NODE_WIDTH - 2 * PAD, ROW_HEIGHT)
        painter.setFont(_FONTS.body)
        painter.setPen(Theme.text_muted)
        painter.drawText(row1, _LEFT_VCENTER, self._type_text)
        if self._summary_text:
            painter.setPen(Theme.text)
            painter.drawText(QRectF(self._summary_x, row1.top(), NODE_WIDTH - PAD - self._summary_x,
                                    ROW_HEIGHT),
                             _LEFT_VCENTER, self._summary_text)
        row2 = QRectF(PAD, row1.bottom(), NODE_WIDTH - 2 * PAD, ROW_HEIGHT)
        painter.setFont(_FONTS.mono)
        painter.setPen(Theme.text_shape if self.look.shape else Theme.error)
        painter.drawText(row2, _LEFT_VCENTER, self._shape_text)
        if self._params_text:
            painter.setPen(Theme.text_muted)
            painter.drawText(row2, _RIGHT_VCENTER, self._params_text)


    def _paint_stack(self, painter: QPainter) -> None:
        """A block instance: further cards behind it (two when repeated), showing only beside
        and below the node — never inside its box, where their edges would cross its rounded
        corners as stray lines."""
        painter.save()
        outside = QPainterPath()
        outside.addRect(self.boundingRect())
        inside = QPainterPath()
        inside.addRect(QRectF(0, 0, NODE_WIDTH, NODE_HEIGHT))
        painter.setClipPath(outside.subtracted(inside), Qt.ClipOperation.IntersectClip)
        painter.setBrush(Theme.node_body)
        painter.setPen(QPen(self._header_color, 1.4))
        for step in ((2, 1) if self.repeat > 1 else (1,)):
            offset = 3.0 * step
            painter.drawRoundedRect(QRectF(offset, offset, NODE_WIDTH, NODE_HEIGHT),
                                    CORNER_RADIUS, CORNER_RADIUS)
        painter.restore()

    def _paint_overview(self, painter: QPainter, lod: float) -> None:
        """Zoomed out: the node in its category's colour with its name written large (from
        :data:`NAME_ZOOM` up), so a deep network's structure reads at a glance."""
        body = _PATHS[0]
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.isSelected():
            painter.setPen(QPen(Theme.node_selected, 2.5 / max(lod, 0.1)))
        elif self.look.severity:
            painter.setPen(QPen(Theme.error if self.look.severity == "error" else Theme.warning,
                                2.0 / max(lod, 0.1)))
        else:
            painter.setPen(QPen(Theme.node_border, 1.0))
        painter.setBrush(self._header_color)
        painter.drawPath(body)
        if lod < NAME_ZOOM:
            return
        painter.setFont(self._overview_font)
        painter.setPen(self._header_text)
        painter.drawText(QRectF(PAD, 0, NODE_WIDTH - 2 * PAD, NODE_HEIGHT),
                         Qt.AlignmentFlag.AlignCenter, self._overview_text)


_PATHS = _rounded_paths()


def _fit(text: str, font: QFont, width: float, smallest_pt: float) -> tuple[QFont, str]:
    """``font`` made smaller (down to ``smallest_pt``) until ``text`` fits ``width``; if it
    still does not, the text elided in the middle."""
    fitted = QFont(font)
    metrics = QFontMetricsF(fitted)
    while metrics.horizontalAdvance(text) > width and fitted.pointSizeF() > smallest_pt:
        fitted.setPointSizeF(max(smallest_pt, fitted.pointSizeF() - 0.5))  # sizes step, not glide
        metrics = QFontMetricsF(fitted)
    return fitted, metrics.elidedText(text, _ELIDE_MIDDLE, width)


def _whole_items(items: Sequence[str], metrics: QFontMetricsF, width: float) -> str:
    """As many whole items as fit ``width``, joined by " · ", with "…" where some are left out
    and there is room for it (the node's tooltip has them all): never half an item, which
    could read as another value ("planes=6…" for planes=64)."""
    fits = lambda text: metrics.horizontalAdvance(text) <= width  # noqa: E731
    for k in range(len(items), 0, -1):
        shown = " · ".join(items[:k])
        if fits(shown + (" …" if k < len(items) else "")):
            return shown + (" …" if k < len(items) else "")
    return items[0] if items and fits(items[0]) else ("…" if items else "")


def params_text(count: int | None) -> str:
    """``1.23k params``; empty for layers without weights."""
    if not count:
        return ""
    return f"{human_count(count)} params" if count >= 1000 else f"{count} params"


def problems_text(diagnostics: Sequence["Diagnostic"]) -> str:
    """Each problem with its remedy, errors first, for the badge's tooltip."""
    lines = []
    for d in sorted(diagnostics, key=lambda d: d.severity != "error"):
        line = f"{d.severity.capitalize()}: {d.message}"
        if d.fix:
            line += f"\nFix: {d.fix}"
        lines.append(line)
    if any(d.actions for d in diagnostics):
        lines.append("(click the badge to apply the fix)")
    return "\n".join(lines)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
