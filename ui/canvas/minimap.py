"""The minimap: the whole design in the canvas's corner, with the part in view outlined.

It appears only when the design is larger than the view. Each node is a box in its category's
colour (red with an error) and each link a line, drawn from the model into a pixmap — again only
after an edit that adds, removes or moves something, never during a drag or for a param edit — so
it costs nothing per frame; the outline of the view follows every scroll and zoom. Click or drag
in it to look there.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from collections import defaultdict

from PySide6.QtCore import QLineF, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap, QTransform
from PySide6.QtWidgets import QWidget

from graph.design import Design

from .style import NODE_HEIGHT, NODE_WIDTH, Theme

if TYPE_CHECKING:
    from .view import CanvasView

MAX_SIZE = QSize(220, 160)  # the minimap's largest size on screen, in pixels
MARGIN = 12  # from the view's corner
PAD = 6.0  # inside the minimap, around the design


class Minimap(QWidget):
    """The overview of ``view``'s design; a child widget floating over its bottom-right corner."""

    def __init__(self, view: "CanvasView"):
        super().__init__(view)
        self.view = view
        self.setObjectName("canvasMinimap")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("The whole design; click or drag to look there")
        self._pixmap: QPixmap | None = None
        self._world = QRectF()  # the scene rectangle the pixmap shows
        self._stale = True
        self._errors: frozenset = frozenset()
        self._design: Design | None = None
        self._nodes_rect = QRectF()
        self._bind(view.document.design)
        view.document.report_changed.connect(self._report_changed)
        view.document.design_replaced.connect(self._bind)
        view.scope_changed.connect(self._bind)  # inside a block: its body
        view.view_changed.connect(self._view_changed)
        self.hide()

    # ---- following the model and the view ---------------------------------------------------------

    def _events(self, design: Design) -> list:
        return [(design.node_added, self._geometry_changed), (design.node_removed, self._geometry_changed),
                (design.edge_added, self._geometry_changed), (design.edge_removed, self._geometry_changed),
                (design.node_changed, self._node_changed), (design.settings_changed, self._settings_changed)]

    def _bind(self, design: Design) -> None:
        self.detach()
        self._design = design
        for signal, slot in self._events(design):
            signal.connect(slot)
        self._stale = True
        self._nodes_rect = self._model_rect()
        self._view_changed()

    def detach(self) -> None:
        """Stop following the design (before the view goes away)."""
        if self._design is not None:
            for signal, slot in self._events(self._design):
                signal.disconnect(slot)
            self._design = None

    def _geometry_changed(self, *_args) -> None:
        self._stale = True

    def _node_changed(self, _node, field: str) -> None:
        if field == "position":
            self._stale = True

    def _settings_changed(self, section: str) -> None:
        if section == "flow":
            self._stale = True

    def _report_changed(self, report) -> None:
        """Once per edit: redraw if the edit changed what the minimap shows."""
        top = self._design is self.view.document.design  # inside a block: ids are the body's
        errors = frozenset(d.node for d in report.errors if d.node is not None and top)
        if errors != self._errors:
            self._errors, self._stale = errors, True
        if self._stale:
            self._nodes_rect = self._model_rect()
        self._view_changed()

    def _model_rect(self) -> QRectF:
        nodes = self._design.nodes if self._design is not None else []
        if not nodes:
            return QRectF()
        xs = [n.position[0] for n in nodes]
        ys = [n.position[1] for n in nodes]
        return QRectF(QPointF(min(xs), min(ys)), QPointF(max(xs) + NODE_WIDTH, max(ys) + NODE_HEIGHT))

    def _view_changed(self) -> None:
        """Show the minimap when part of the design is out of view; keep its outline current.
        After an edit the view may move (to show a new layer) before the edit's revalidation
        reaches :meth:`_report_changed`: the design's extent is measured again here then."""
        if self._stale:
            self._nodes_rect = self._model_rect()
        world = self._nodes_rect
        needed = not world.isNull() and not self.view.visible_scene_rect().contains(world)
        # Its own state, not isVisible(): before the view shows, a minimap told to show is not
        # visible yet, and must still be hidden again once it is not needed.
        if needed == self.isHidden():
            self.setVisible(needed)
            if needed:
                self.raise_()
        if needed:
            if self._stale:
                self._render()
            self.update()

    def place(self) -> None:
        """Sit in the view's bottom-right corner, sized to the design's proportions."""
        viewport = self.view.viewport().geometry()
        self.move(viewport.right() - self.width() - MARGIN, viewport.bottom() - self.height() - MARGIN)

    def footprint(self) -> QRect:
        """Where the minimap covers the view (viewport coordinates) as the design now stands —
        also right after an edit, before the minimap has caught up; empty when the whole design
        is in view, where there is no minimap."""
        world = self._model_rect()
        if world.isNull() or self.view.visible_scene_rect().contains(world):
            return QRect()
        size = _size_for(world.adjusted(-20, -20, 20, 20))
        port = self.view.viewport().rect()
        return QRect(port.right() - size.width() - MARGIN, port.bottom() - size.height() - MARGIN,
                     size.width(), size.height())

    # ---- drawing ---------------------------------------------------------------------------------

    def _render(self) -> None:
        """Draw every node and link of the model into the pixmap (batched: a few calls in all)."""
        self._stale = False
        world = self._nodes_rect
        if world.isNull() or self._design is None:
            return
        world = world.adjusted(-20, -20, 20, 20)
        size = _size_for(world)
        if size != self.size():
            self.resize(size)
            self.place()
        self._world = world
        pixmap = QPixmap(size)
        pixmap.fill(QColor(20, 22, 27, 230))
        painter = QPainter(pixmap)
        painter.setTransform(self._scene_to_map())
        design = self._design
        centers = {n.id: QPointF(n.position[0] + NODE_WIDTH / 2, n.position[1] + NODE_HEIGHT / 2)
                   for n in design.nodes}
        painter.setPen(QPen(Theme.link, 0))
        painter.drawLines([QLineF(centers[e.src], centers[e.dst]) for e in design.edges
                           if e.src in centers and e.dst in centers])
        # at least 2 pixels per box, so a node never vanishes from a large design's map
        w, h = max(NODE_WIDTH, 2 / self._scale()), max(NODE_HEIGHT, 2 / self._scale())
        boxes: dict[int, list[QRectF]] = defaultdict(list)
        colors: dict[int, QColor] = {}
        canvas = self.view.canvas
        for node in design.nodes:
            item = canvas.nodes.get(node.id)
            color = Theme.error if node.id in self._errors else (
                item.minimap_color() if item is not None else Theme.node_border)
            colors[color.rgba()] = color
            boxes[color.rgba()].append(QRectF(node.position[0], node.position[1], w, h))
        painter.setPen(Qt.PenStyle.NoPen)
        for key, rects in boxes.items():
            painter.setBrush(colors[key])
            painter.drawRects(rects)
        painter.end()
        self._pixmap = pixmap

    def _scale(self) -> float:
        world = self._world
        return min((self.width() - 2 * PAD) / world.width(), (self.height() - 2 * PAD) / world.height())

    def _scene_to_map(self) -> QTransform:
        scale = self._scale()
        return QTransform.fromTranslate(PAD, PAD).scale(scale, scale).translate(
            -self._world.left(), -self._world.top())

    def to_map(self, scene_point: QPointF) -> QPointF:
        """Where a scene point lies on the minimap."""
        if self._world.isNull():
            return QPointF()
        return self._scene_to_map().map(scene_point)

    def to_scene(self, map_point: QPointF) -> QPointF:
        """The scene point under a point of the minimap."""
        if self._world.isNull():
            return QPointF()
        return self._scene_to_map().inverted()[0].map(map_point)

    def view_outline(self) -> QRectF:
        """The part of the design in view, in minimap coordinates."""
        rect = self.view.visible_scene_rect()
        return QRectF(self.to_map(rect.topLeft()), self.to_map(rect.bottomRight()))

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        if self._pixmap is not None:
            painter.drawPixmap(0, 0, self._pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        outline = self.view_outline().intersected(QRectF(self.rect()).adjusted(1, 1, -1, -1))
        painter.setPen(QPen(Theme.node_selected, 1.5))
        painter.setBrush(QColor(138, 180, 248, 40))
        painter.drawRect(outline)
        painter.setPen(QPen(Theme.node_border, 1))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5))
        painter.end()

    # ---- navigating ------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if event.button() == Qt.MouseButton.LeftButton:
            self.view.centerOn(self.to_scene(event.position()))
            event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.view.centerOn(self.to_scene(event.position()))
            event.accept()


def _size_for(world: QRectF) -> QSize:
    """The minimap's size for a scene rectangle: its proportions, within :data:`MAX_SIZE`."""
    scale = min((MAX_SIZE.width() - 2 * PAD) / world.width(),
                (MAX_SIZE.height() - 2 * PAD) / world.height())
    return QSize(max(40, round(world.width() * scale + 2 * PAD)),
                 max(30, round(world.height() * scale + 2 * PAD)))
