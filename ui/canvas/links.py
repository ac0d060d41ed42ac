"""Link items: a Bézier curve from an output port to an input port along the design's flow (down
or right), labelled with the shape of the tensor it carries; the dashed draft link while the user drags one; and the little
feedback label that says whether a link may be made here."""
from __future__ import annotations

from typing import NamedTuple

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFontMetricsF, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from graph.design import Edge

from .style import NODE_HEIGHT, NODE_WIDTH, Theme, Z, mono_font, ui_font


def _flip(p: QPointF) -> QPointF:
    return QPointF(p.y(), p.x())


LANE_GAP = 28.0  # scene units between a detouring link and the layers it passes


def link_path(start: QPointF, end: QPointF, flow: str = "down",
              lane: "Lane | None" = None) -> QPainterPath:
    """An S-curve from ``start`` (after an output) to ``end`` (before an input), vertical when
    data flows down and horizontal when it flows right. A link that must go back (its target
    sits before its source) loops out to the side instead of crossing nodes; a forward link
    given a ``lane`` (see :func:`lane_around`) runs along it past the layers between."""
    down = flow == "down"
    a, b = (start, end) if down else (_flip(start), _flip(end))  # work as if flowing down
    width = NODE_WIDTH if down else NODE_HEIGHT
    dy = b.y() - a.y()
    if lane is not None and dy >= 24:
        return _lane_path(a, b, lane, flip=not down)
    if dy >= 24:
        bend = max(36.0, dy * 0.45)
        c1, c2 = QPointF(a.x(), a.y() + bend), QPointF(b.x(), b.y() - bend)
    else:
        bend = 60.0 + min(140.0, -dy * 0.25) if dy < 0 else 60.0
        side = 1.0 if b.x() >= a.x() else -1.0
        reach = side * (width + min(120.0, -dy * 0.1 if dy < 0 else 0.0))
        c1, c2 = QPointF(a.x() + reach, a.y() + bend), QPointF(b.x() + reach, b.y() - bend)
    if not down:
        c1, c2 = _flip(c1), _flip(c2)
    path = QPainterPath(start)
    path.cubicTo(c1, c2, end)
    return path


class Lane(NamedTuple):
    """Where a link detours round layers, as if flowing down: ``across`` the flow, from the
    first layer passed (``enter``, its near edge along the flow) to the last (``leave``)."""
    across: float
    enter: float
    leave: float


def _lane_path(a: QPointF, b: QPointF, lane: Lane, flip: bool) -> QPainterPath:
    """From ``a`` out to the lane before the first layer passed, along it, and back in to ``b``
    after the last (as if flowing down; ``flip`` turns it to flow right)."""
    enter, leave = max(lane.enter, a.y() + 8), min(lane.leave, b.y() - 8)
    out, back = (enter - a.y()) / 2, (b.y() - leave) / 2
    points = [a, QPointF(a.x(), a.y() + out), QPointF(lane.across, enter - out),
              QPointF(lane.across, enter), QPointF(lane.across, leave),
              QPointF(lane.across, leave + back), QPointF(b.x(), b.y() - back), b]
    if flip:
        points = [_flip(p) for p in points]
    path = QPainterPath(points[0])
    path.cubicTo(points[1], points[2], points[3])
    path.lineTo(points[4])
    path.cubicTo(points[5], points[6], points[7])
    return path


def outline(path: QPainterPath, width: float = 2.0) -> QPainterPath:
    """The area ``path`` covers as a line ``width`` wide (a QPainterPath's own ``intersects``
    reads it as the area it encloses)."""
    stroker = QPainterPathStroker()
    stroker.setWidth(width)
    return stroker.createStroke(path)


def lane_around(start: QPointF, end: QPointF, blockers: list[QRectF], flow: str = "down") -> Lane:
    """The lane in which a link from ``start`` to ``end`` passes ``blockers`` (the layers its
    curve would cross): just beyond them on the side nearer the link's own middle (the right,
    or lower, side on a tie), from the first of them to the last."""
    down = flow == "down"
    spans = [(r.left(), r.right(), r.top(), r.bottom()) if down else
             (r.top(), r.bottom(), r.left(), r.right()) for r in blockers]
    middle = (start.x() + end.x()) / 2 if down else (start.y() + end.y()) / 2
    low = min(s[0] for s in spans) - LANE_GAP
    high = max(s[1] for s in spans) + LANE_GAP
    across = low if middle - low < high - middle else high
    return Lane(across, min(s[2] for s in spans), max(s[3] for s in spans))


class LinkItem(QGraphicsItem):
    """One link of the design. Its ends are set by the scene from the port positions."""

    END_GRAB = 18.0  # scene units from an end within which a press picks that end up …
    END_GRAB_SHARE = 0.25  # … but at most this share of the link: a short one keeps a middle

    def __init__(self, edge: Edge, flow: str = "down"):
        super().__init__()
        self.edge = edge
        self.flow = flow
        self.label = ""  # the source's output shape, e.g. "32×8×8"
        self.order = 0  # 1-based position among the links into a variadic port, 0 when unnumbered
        self.highlight = False  # an insertion target while a layer is dragged over it
        self.hovered = False
        self._start = QPointF()
        self._end = QPointF()
        self._lane: Lane | None = None  # where it detours round layers in its way
        self._path = QPainterPath()
        self._path_bounds = QRectF()
        self._mid = QPointF()
        self._length: float | None = None  # along the curve, measured when first asked
        self._shape: QPainterPath | None = None
        self._label_rect = QRectF()
        self._label_scale = 1.0  # > 1 while hovered where labels are too small to read
        self._bounds = QRectF()
        self.setZValue(Z.LINK)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)

    # ---- state set by the scene ------------------------------------------------------------------

    def set_ends(self, start: QPointF, end: QPointF, lane: Lane | None = None) -> None:
        """Run from ``start`` to ``end``, along ``lane`` when given (see :func:`link_path`)."""
        if (start, end, lane) == (self._start, self._end, self._lane) and not self._path.isEmpty():
            return
        self.prepareGeometryChange()
        self._start, self._end, self._lane = QPointF(start), QPointF(end), lane
        self._path = link_path(self._start, self._end, self.flow, lane)
        self._path_bounds = self._path.boundingRect()
        self._mid = self._path.pointAtPercent(0.5)
        self._length = None
        self._shape = None
        self._layout_label()

    def set_label(self, text: str, order: int = 0) -> None:
        if (text, order) == (self.label, self.order):
            return
        self.prepareGeometryChange()
        self.label, self.order = text, order
        self._layout_label()

    def set_highlight(self, on: bool) -> None:
        if on != self.highlight:
            self.highlight = on
            self.update()

    def _layout_label(self) -> None:
        bounds = self._path_bounds
        if self.label:
            w, h = (v * self._label_scale for v in _label_size(self.label))
            mid = self._mid
            self._label_rect = QRectF(mid.x() - w / 2, mid.y() - h / 2, w, h)
            bounds = bounds.united(self._label_rect)
        else:
            self._label_rect = QRectF()
        if self.order:
            bounds = bounds.united(self._order_rect())
        self._bounds = bounds.adjusted(-4, -4, 4, 4)

    def _order_rect(self) -> QRectF:
        if self.flow == "down":
            return QRectF(self._end.x() + 4, self._end.y() - 20, 14, 13)
        return QRectF(self._end.x() - 22, self._end.y() - 15, 14, 13)

    # ---- geometry ------------------------------------------------------------------------------

    @property
    def start(self) -> QPointF:
        return QPointF(self._start)

    @property
    def end(self) -> QPointF:
        return QPointF(self._end)

    @property
    def lane(self) -> Lane | None:
        """Where the link detours round layers (None: a plain curve)."""
        return self._lane

    def path(self) -> QPainterPath:
        return QPainterPath(self._path)

    def label_rect(self) -> QRectF:
        return QRectF(self._label_rect)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        if self._shape is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(10.0)
            self._shape = stroker.createStroke(self._path)
            if not self._label_rect.isNull():
                self._shape.addRect(self._label_rect)
        return self._shape

    def grab_reach(self) -> float:
        """How close to an end a press picks that end up: :attr:`END_GRAB`, or less on a short
        link, whose middle must stay wide enough to click (a click selects the link)."""
        if self._length is None:
            self._length = self._path.length()
        return min(self.END_GRAB, self._length * self.END_GRAB_SHARE)

    def end_near(self, point: QPointF) -> str | None:
        """``"dst"`` or ``"src"`` when ``point`` is within :meth:`grab_reach` of that end."""
        def dist(a: QPointF, b: QPointF) -> float:
            d = a - b
            return (d.x() ** 2 + d.y() ** 2) ** 0.5

        d_dst, d_src = dist(point, self._end), dist(point, self._start)
        if min(d_dst, d_src) > self.grab_reach():
            return None
        return "dst" if d_dst <= d_src else "src"

    # ---- events and painting ----------------------------------------------------------------------

    def hoverEnterEvent(self, event) -> None:
        self.hovered = True
        self._scale_label(self._view_zoom())
        self.update()
        super().hoverEnterEvent(event)

    def hoverLeaveEvent(self, event) -> None:
        self.hovered = False
        self._scale_label(None)
        self.update()
        super().hoverLeaveEvent(event)

    def _view_zoom(self) -> float:
        views = self.scene().views() if self.scene() is not None else []
        return views[0].transform().m11() if views else 1.0

    def _scale_label(self, zoom: float | None) -> None:
        """While hovered (``zoom`` given) a label too small to read at that zoom is shown at its
        size at 100 %; otherwise it has its own size."""
        scale = 1.0 if zoom is None or label_readable(zoom) else 1.0 / max(zoom, 0.05)
        if scale != self._label_scale:
            self.prepareGeometryChange()
            self._label_scale = scale
            self._shape = None
            self._layout_label()

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.setZValue(Z.LINK_SELECTED if value else Z.LINK)
        return super().itemChange(change, value)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, lod > 0.3)
        if self.highlight:
            color, width = Theme.insert_target, 3.5
        elif self.isSelected():
            color, width = Theme.link_selected, 2.6
        elif self.hovered:
            color, width = Theme.link_hover, 2.2
        else:
            color, width = Theme.link, 1.6
        painter.setPen(QPen(color, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
        self._paint_arrow(painter, color)
        readable = label_readable(lod)
        if self.label and (readable or self.hovered):
            self._paint_label(painter)
        if not readable:
            return
        if self.order:
            painter.setFont(_label_font())
            painter.setPen(Theme.text_muted)
            painter.drawText(self._order_rect(), Qt.AlignmentFlag.AlignCenter, str(self.order))

    def _paint_label(self, painter: QPainter) -> None:
        """The shape on its little plate (grown to a readable size while hovered zoomed out)."""
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(Theme.link_label_bg)
        painter.drawRoundedRect(self._label_rect, 3 * self._label_scale, 3 * self._label_scale)
        painter.save()
        painter.translate(self._label_rect.center())
        painter.scale(self._label_scale, self._label_scale)
        w, h = _label_size(self.label)
        painter.setFont(_label_font())
        painter.setPen(Theme.text_shape if not self.highlight else Theme.insert_target)
        painter.drawText(QRectF(-w / 2, -h / 2, w, h), Qt.AlignmentFlag.AlignCenter, self.label)
        painter.restore()

    def _paint_arrow(self, painter: QPainter, color) -> None:
        if self.flow == "down":
            tip = self._end - QPointF(0, 5.5)
            corners = (QPointF(-4, -6), QPointF(4, -6))
        else:
            tip = self._end - QPointF(5.5, 0)
            corners = (QPointF(-6, -4), QPointF(-6, 4))
        arrow = QPainterPath(tip)
        arrow.lineTo(tip + corners[0])
        arrow.lineTo(tip + corners[1])
        arrow.closeSubpath()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawPath(arrow)


class DraftLinkItem(QGraphicsItem):
    """The dashed link that follows the cursor while the user drags from a port."""

    def __init__(self, anchor: QPointF, from_output: bool, flow: str = "down"):
        super().__init__()
        self.anchor = QPointF(anchor)
        self.from_output = from_output
        self.flow = flow
        self.state: str | None = None
        self._path = QPainterPath()
        self.setZValue(Z.DRAFT_LINK)
        self.set_cursor(anchor)

    def set_cursor(self, point: QPointF) -> None:
        self.prepareGeometryChange()
        start, end = (self.anchor, point) if self.from_output else (point, self.anchor)
        self._path = link_path(start, end, self.flow)

    def set_state(self, state: str | None) -> None:
        if state != self.state:
            self.state = state
            self.update()

    def boundingRect(self) -> QRectF:
        return self._path.boundingRect().adjusted(-4, -4, 4, 4)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = {"ok": Theme.ok, "refused": Theme.refused}.get(self.state, Theme.link_hover)
        painter.setPen(QPen(color, 2.0, Qt.PenStyle.DashLine, Qt.PenCapStyle.RoundCap))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)


class FeedbackItem(QGraphicsItem):
    """A label near the cursor: why a link can or cannot be made. Constant size on screen."""

    MAX_WIDTH = 320.0

    def __init__(self) -> None:
        super().__init__()
        self.text = ""
        self.state: str | None = None
        self._rect = QRectF()
        self.setZValue(Z.FEEDBACK)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.hide()

    def show_text(self, text: str, state: str | None, at: QPointF) -> None:
        self.prepareGeometryChange()
        self.text, self.state = text, state
        metrics = QFontMetricsF(_feedback_font())
        bound = metrics.boundingRect(QRectF(0, 0, self.MAX_WIDTH, 1000),
                                     int(Qt.TextFlag.TextWordWrap), text)
        self._rect = QRectF(14, 16, bound.width() + 14, bound.height() + 8)
        self.setPos(at)
        self.show()

    def clear(self) -> None:
        self.text, self.state = "", None
        self.hide()

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-2, -2, 2, 2)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = {"ok": Theme.ok, "refused": Theme.refused}.get(self.state, Theme.text_muted)
        painter.setPen(QPen(color, 1.2))
        painter.setBrush(Theme.feedback_bg)
        painter.drawRoundedRect(self._rect, 4, 4)
        painter.setFont(_feedback_font())
        painter.setPen(Theme.text)
        painter.drawText(self._rect.adjusted(7, 4, -7, -4), int(Qt.TextFlag.TextWordWrap), self.text)


_cache: dict[str, object] = {}

READABLE_LABEL_PX = 10.0  # a link label whose line is lower than this on screen is not drawn


def _label_px() -> float:
    """The height of a link label's text in scene units."""
    if "px" not in _cache:
        _cache["px"] = QFontMetricsF(_label_font()).height()
    return _cache["px"]


def label_readable(zoom: float) -> bool:
    """Whether link labels are readable at ``zoom`` (1 = 100 %): below, the canvas leaves them
    out, as map and diagram tools do, and shows one only while its link is hovered."""
    return _label_px() * zoom >= READABLE_LABEL_PX


def _label_font():
    if "label" not in _cache:
        _cache["label"] = mono_font(7.0)
    return _cache["label"]


_sizes: dict[str, tuple[float, float]] = {}


def _label_size(text: str) -> tuple[float, float]:
    """Width and height of a link label's box (few distinct shapes: measured once each)."""
    size = _sizes.get(text)
    if size is None:
        if "metrics" not in _cache:
            _cache["metrics"] = QFontMetricsF(_label_font())
        metrics = _cache["metrics"]
        size = _sizes[text] = (metrics.horizontalAdvance(text) + 8, metrics.height() + 2)
    return size


def _feedback_font():
    if "feedback" not in _cache:
        _cache["feedback"] = ui_font(8.5)
    return _cache["feedback"]
