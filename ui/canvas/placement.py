"""Where a new layer goes on the canvas: the one owner of a new node's position.

A layer the user adds (a palette drop, double-click or Enter, the Tab quick-add, a fix that
appends one) must not look connected when it is not, so its spot keeps a margin from every
other node and from every link's curve. :func:`free_spot` finds the nearest such spot to the
one asked for (where it was dropped, or one rank after the layer it follows:
:func:`rank_after`). The geometry is the canvas's own (node size, port anchors, link curves),
computed from the design, so fixes can place a node without a scene. A layer dropped *on* a
link is spliced into it instead (:func:`ui.commands.insert_on_link_command`).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QPainterPath, QPainterPathStroker

from graph.design import Design, Edge, Node
from graph.layout import SPACING

from .items import IN, OUT, anchor_offset
from .links import link_path
from .style import NODE_HEIGHT, NODE_WIDTH

Position = tuple[float, float]

NODE_GAP = 20.0  # free space kept between a new node and any other node
LINK_GAP = 14.0  # … and the curve of any link
STEP = 10.0  # candidate spots lie on a grid this fine around the wanted one
REACH = 100  # … at most this many steps away; beyond, the node goes beside the whole design
LINK_STRAY = 300.0  # how far a link's curve can leave its end nodes' rectangles (side loops)


def flow_of(design: Design) -> str:
    """The flow ``design`` is drawn in (a block's body is shown like its design)."""
    return (design.blocks.owner or design).flow


def node_rect(position: Position) -> QRectF:
    return QRectF(position[0], position[1], NODE_WIDTH, NODE_HEIGHT)


def link_curve(design: Design, edge: Edge, flow: str) -> QPainterPath | None:
    """``edge``'s curve as the canvas draws it (None when an end's type is unknown)."""
    src, dst = design.node(edge.src), design.node(edge.dst)
    src_layer, dst_layer = design.layer_of(src), design.layer_of(dst)
    if src_layer is None or dst_layer is None:
        return None
    ordered = design.in_edges(edge.dst, edge.dst_port)
    slot, count = (ordered.index(edge), len(ordered)) if edge in ordered else (0, 1)
    start = QPointF(*src.position) + anchor_offset(src_layer, OUT, edge.src_port, flow)
    end = QPointF(*dst.position) + anchor_offset(dst_layer, IN, edge.dst_port, flow, slot, count)
    return link_path(start, end, flow)


def rank_after(design: Design, node_id: str) -> Position:
    """One rank after ``node_id`` along the flow: where a layer that follows it wants to be."""
    flow = flow_of(design)
    x, y = design.node(node_id).position
    step = SPACING[flow][0]
    return (x, y + step) if flow == "down" else (x + step, y)


def free_spot(design: Design, want: Position, node: Node | None = None,
              links: Sequence[Edge] = ()) -> Position:
    """Where a new node that wants to be at ``want`` (its top-left) goes: ``want`` itself when
    a node there keeps its margin from every node and link of ``design``, else the nearest such
    spot (on a grid of :data:`STEP` around it; ties go right, then down), else — none being
    near — beside the whole design across the flow. ``links`` are the links the new ``node``
    will have: their curves must pass no other node either, so a layer added after another
    never seems to hang off a third."""
    flow = flow_of(design)
    obstacles = _Obstacles(design, flow)
    planned = _Planned(design, node, links, flow) if node is not None and links else None
    band = -1.0
    for distance, dx, dy in _offsets():
        if distance > band:  # widen the neighbourhood whose obstacles are checked
            band = max(2 * band, 8 * STEP)
            reach = band + NODE_GAP
            region = node_rect(want).adjusted(-reach, -reach, reach, reach)
            obstacles.gather(region)
            if planned is not None:
                planned.gather(region, obstacles.nodes)
        spot = (want[0] + dx, want[1] + dy)
        if obstacles.is_free(node_rect(spot)) and (planned is None or planned.clear(spot)):
            return spot
    return _beside_everything(design, want, flow)


@lru_cache(maxsize=1)
def _offsets() -> list[tuple[float, float, float]]:
    """Grid offsets within :data:`REACH` steps, nearest first (ties: right, then down):
    (distance, dx, dy)."""
    steps = range(-REACH, REACH + 1)
    keys = sorted((i * i + j * j, -i, -j) for i in steps for j in steps if i * i + j * j <= REACH * REACH)
    return [(squared ** 0.5 * STEP, -i * STEP, -j * STEP) for squared, i, j in keys]


def _beside_everything(design: Design, want: Position, flow: str) -> Position:
    rects = [node_rect(n.position) for n in design.nodes] or [node_rect(want)]
    if flow == "down":
        return (max(r.right() for r in rects) + LINK_STRAY + NODE_GAP, want[1])
    return (want[0], max(r.bottom() for r in rects) + LINK_STRAY + NODE_GAP)


class _Obstacles:
    """A design's node rectangles and link curves; :meth:`gather` keeps those near a region so
    each candidate spot is checked against a few (link curves are built only when near)."""

    def __init__(self, design: Design, flow: str):
        self.design, self.flow = design, flow
        self.nodes = [node_rect(n.position) for n in design.nodes]
        self.edges = []
        for edge in design.edges:
            ends = node_rect(design.node(edge.src).position).united(
                node_rect(design.node(edge.dst).position))
            self.edges.append((edge, ends.adjusted(-LINK_STRAY, -LINK_STRAY, LINK_STRAY, LINK_STRAY)))
        self._strokes: dict[Edge, QPainterPath | None] = {}
        self.near_nodes: list[QRectF] = self.nodes
        self.near_links: list[tuple[Edge, QRectF]] = self.edges

    def gather(self, region: QRectF) -> None:
        self.near_nodes = [r for r in self.nodes if r.intersects(region)]
        self.near_links = [(e, r) for e, r in self.edges if r.intersects(region)]

    def is_free(self, rect: QRectF) -> bool:
        """Whether ``rect`` keeps its margins from the gathered obstacles."""
        padded = rect.adjusted(-NODE_GAP, -NODE_GAP, NODE_GAP, NODE_GAP)
        if any(other.intersects(padded) for other in self.near_nodes):
            return False
        for edge, rough in self.near_links:
            if rough.intersects(rect):
                stroke = self._stroke(edge)
                if stroke is not None and stroke.intersects(rect):
                    return False
        return True

    def _stroke(self, edge: Edge) -> QPainterPath | None:
        if edge not in self._strokes:
            curve = link_curve(self.design, edge, self.flow)
            if curve is not None:
                stroker = QPainterPathStroker()
                stroker.setWidth(2 * LINK_GAP)
                curve = stroker.createStroke(curve)
            self._strokes[edge] = curve
        return self._strokes[edge]


class _Planned:
    """The links a new node will have, drawn from a candidate spot: :meth:`clear` says whether
    they pass no node but their own ends."""

    def __init__(self, design: Design, node: Node, links: Sequence[Edge], flow: str):
        self.flow = flow
        self.near: list[QRectF] = []
        layer = design.layer_of(node)
        self.ends = []  # (the other end's anchor, the new node's anchor offset, new is dst, other's rect)
        for edge in links:
            new_is_dst = edge.dst == node.id
            other = design.node(edge.src if new_is_dst else edge.dst)
            other_layer = design.layer_of(other)
            if layer is None or other_layer is None:
                continue
            if new_is_dst:
                fixed = QPointF(*other.position) + anchor_offset(other_layer, OUT, edge.src_port, flow)
                offset = anchor_offset(layer, IN, edge.dst_port, flow)
            else:  # the new link joins the end of a merge input's links
                count = len(design.in_edges(edge.dst, edge.dst_port)) + 1
                fixed = QPointF(*other.position) + anchor_offset(other_layer, IN, edge.dst_port, flow,
                                                                 count - 1, count)
                offset = anchor_offset(layer, OUT, edge.src_port, flow)
            self.ends.append((fixed, offset, new_is_dst, node_rect(other.position)))

    def gather(self, region: QRectF, nodes: list[QRectF]) -> None:
        """Keep the ``nodes`` the links could pass while the new node stays in ``region``."""
        reach = QRectF(region)
        for fixed, *_rest in self.ends:
            reach = reach.united(QRectF(fixed.x() - 1, fixed.y() - 1, 2, 2))  # a null rect unites as nothing
        reach.adjust(-LINK_STRAY, -LINK_STRAY, LINK_STRAY, LINK_STRAY)
        self.near = [rect for rect in nodes if rect.intersects(reach)]

    def clear(self, spot: Position) -> bool:
        stroker = QPainterPathStroker()
        stroker.setWidth(LINK_GAP)
        for fixed, offset, new_is_dst, other in self.ends:
            moving = QPointF(*spot) + offset
            curve = link_path(fixed, moving, self.flow) if new_is_dst else link_path(moving, fixed, self.flow)
            stroke = stroker.createStroke(curve)
            bounds = stroke.boundingRect()
            for rect in self.near:
                if rect != other and rect.intersects(bounds) and stroke.intersects(rect):
                    return False
        return True
