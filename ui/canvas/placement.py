"""Where a new layer goes on the canvas: the one owner of a new node's position.

A layer the user adds (a palette drop, double-click or Enter, the Tab quick-add, a fix that
appends one) must not look connected when it is not, so its spot keeps a margin from every
other node and from every link's curve. :func:`free_spot` finds the nearest such spot to the
one asked for (where it was dropped, or one rank after the layer it follows:
:func:`rank_after`). The geometry is the canvas's own (node size, port anchors, link curves),
computed from the design, so fixes can place a node without a scene. A layer dropped *on* a
link is spliced into it instead (:func:`ui.commands.insert_on_link_command`).

The search stays in milliseconds among hundreds of closely packed nodes: quick rules rule out
the spots that are surely taken for all ~31,000 candidates at once (numpy), and only the rest
are walked, nearest first, through the exact checks (``benchmarks/canvas_bench.py`` measures
a crowded grid).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterator, Sequence

import numpy as np
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
PLANNED_TRIES = 40  # near spots whose new links would pass a node, tried before giving that up


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
    never seems to hang off a third; where no near spot allows that (a crowded neighbourhood,
    or more than :data:`PLANNED_TRIES` near spots found wanting), the nearest spot clear of
    nodes and links is taken all the same.

    Fast on any design: the spots too near a node, and most of those on a link or whose new
    links would run through a node, are ruled out for all spots at once (numpy); only the rest
    are checked one by one against the exact curves, nearest first."""
    flow = flow_of(design)
    obstacles = _Obstacles(design, flow)
    planned = _Planned(design, node, links, flow) if node is not None and links else None
    spots = _Spots(want)
    spots.rule_out_nodes(obstacles.nodes)
    spots.rule_out_links(obstacles)
    if planned is not None:
        spots.rule_out_planned(planned, obstacles.nodes)
    misses = 0
    for spot in _clear_of_links(spots.remaining(planned_may_pass=True), want, obstacles, planned):
        if planned is None or planned.clear(spot):
            return spot
        misses += 1
        if misses >= PLANNED_TRIES:
            break
    if planned is not None:  # no spot lets the new links pass clear: the nearest free one
        for spot in _clear_of_links(spots.remaining(), want, obstacles, planned):
            return spot
    return _beside_everything(design, want, flow)


def _clear_of_links(spots: Iterator[tuple[float, Position]], want: Position,
                    obstacles: "_Obstacles", planned: "_Planned | None") -> Iterator[Position]:
    """Those of ``spots`` (distance from ``want``, spot; nearest first) clear of every link's
    curve, the obstacles near them gathered as the walk widens."""
    band = -1.0
    for distance, spot in spots:
        if distance > band:  # widen the neighbourhood whose obstacles are checked
            while distance > band:
                band = max(2 * band, 8 * STEP)
            reach = band + NODE_GAP
            region = node_rect(want).adjusted(-reach, -reach, reach, reach)
            obstacles.gather(region)
            if planned is not None:
                planned.gather(region, obstacles.nodes)
        if obstacles.clear_of_links(node_rect(spot)):
            yield spot


@lru_cache(maxsize=1)
def _offset_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate offsets from the wanted spot, within :data:`REACH` steps of the grid and
    nearest first (ties: right, then down): their steps along x and y and their distances."""
    steps = np.arange(-REACH, REACH + 1)
    kx, ky = (grid.ravel() for grid in np.meshgrid(steps, steps, indexing="ij"))
    squared = kx * kx + ky * ky
    order = np.lexsort((-ky, -kx, squared))  # by distance, then right first, then down first
    order = order[squared[order] <= REACH * REACH]
    return kx[order], ky[order], np.sqrt(squared[order]) * STEP


class _Spots:
    """The candidate spots around ``want`` (:func:`_offset_grid`), with those certainly not free
    ruled out for all at once: a ``(2·REACH+1)²`` grid of steps, index ``k`` being ``k − REACH``
    steps from ``want``. Each rule only removes spots the exact check would refuse too."""

    BATCH = 1024  # spots whose planned links are ruled out at a time

    def __init__(self, want: Position):
        self.want = want
        self.kx, self.ky, self.distance = _offset_grid()
        steps = np.arange(-REACH, REACH + 1) * STEP
        self.xs, self.ys = want[0] + steps, want[1] + steps  # the spots' left and top edges
        size = 2 * REACH + 1
        self.blocked = np.zeros((size, size), dtype=bool)
        self.planned: list = []  # per planned link: (_Interiors, fixed anchor, offset, new is dst)
        self.flow = "down"

    def rule_out_nodes(self, nodes: list[QRectF]) -> None:
        """Spots whose margin meets a node: QRectF.intersects' own arithmetic, so exact (the
        spots a node blocks form a box of steps, found by bisection in the sorted edges)."""
        if not nodes:
            return
        rects = np.array([(r.left(), r.top(), r.right(), r.bottom()) for r in nodes])
        boxes = []
        for axis, starts, extent in ((0, self.xs, NODE_WIDTH), (1, self.ys, NODE_HEIGHT)):
            lows = starts - NODE_GAP
            highs = lows + (extent + 2 * NODE_GAP)
            first = np.searchsorted(highs, rects[:, axis], side="right")  # highs[k] > node's low
            stop = np.searchsorted(lows, rects[:, axis + 2], side="left")  # lows[k] < node's high
            boxes.append((first, stop))
        self._block(*boxes[0], *boxes[1])

    def rule_out_links(self, obstacles: "_Obstacles") -> None:
        """Spots whose rectangle holds a point of a link's curve (well inside its margin)."""
        area = self._area()
        if area.isEmpty():
            return
        points = [_curve_points(obstacles.stroke_curve(edge)) for edge, rough in obstacles.edges
                  if rough.intersects(area)]
        points = [p for p in points if p is not None]
        if points:  # a point this near the rectangle, also at a corner, puts the stroke on it
            self._block_boxes(np.concatenate(points), LINK_GAP / 2)

    def rule_out_planned(self, planned: "_Planned", nodes: list[QRectF]) -> None:
        """Spots from which a planned link's curve runs through a node other than its ends
        (:meth:`remaining` rules them out a batch of spots at a time, nearest first)."""
        area = self._area(LINK_STRAY)
        for fixed, offset, new_is_dst, other in planned.ends:
            inside = _Interiors([r for r in nodes if r != other], area)
            if not inside.empty:
                self.planned.append((inside, (fixed.x(), fixed.y()), (offset.x(), offset.y()), new_is_dst))
        self.flow = planned.flow

    def remaining(self, planned_may_pass: bool = False) -> Iterator[tuple[float, Position]]:
        """(distance, spot) for the spots not ruled out, nearest first; with
        ``planned_may_pass`` only those whose planned links were not ruled out either."""
        left = np.flatnonzero(~self.blocked[self.kx + REACH, self.ky + REACH])
        for first in range(0, len(left), self.BATCH):
            batch = left[first:first + self.BATCH]
            if planned_may_pass and self.planned:
                batch = batch[~self._planned_blocked(batch)]
            for index in batch.tolist():
                yield (self.distance[index].item(), (self.want[0] + self.kx[index].item() * STEP,
                                                     self.want[1] + self.ky[index].item() * STEP))

    def _planned_blocked(self, which: np.ndarray) -> np.ndarray:
        """Per spot of ``which`` (offset indices): whether a planned link surely hits a node."""
        blocked = np.zeros(len(which), dtype=bool)
        lefts, tops = self.xs[self.kx[which] + REACH], self.ys[self.ky[which] + REACH]
        for inside, fixed, offset, new_is_dst in self.planned:
            moving = np.stack([lefts + offset[0], tops + offset[1]], axis=1)
            fixed_xy = np.broadcast_to(fixed, moving.shape)
            start, end = (fixed_xy, moving) if new_is_dst else (moving, fixed_xy)
            blocked |= inside.holds(_link_points(start, end, self.flow)).any(axis=1)
        return blocked

    def _area(self, margin: float = 0.0) -> QRectF:
        """The rectangles of the spots not ruled out yet, ``margin`` around (empty: none)."""
        columns, rows = np.flatnonzero(self.blocked.all(axis=1) == 0), np.flatnonzero(self.blocked.all(axis=0) == 0)
        if not len(columns):
            return QRectF()
        left, top = self.xs[columns[0]] - margin, self.ys[rows[0]] - margin
        return QRectF(left, top, self.xs[columns[-1]] + NODE_WIDTH + margin - left,
                      self.ys[rows[-1]] + NODE_HEIGHT + margin - top)

    def _block_boxes(self, points: np.ndarray, slack: float) -> None:
        """Block every spot whose rectangle, ``slack`` around, holds one of ``points``."""
        boxes = []
        for axis, origin, extent in ((0, self.want[0], NODE_WIDTH), (1, self.want[1], NODE_HEIGHT)):
            first = np.floor((points[:, axis] - origin - extent - slack) / STEP).astype(np.intp) + 1
            last = np.ceil((points[:, axis] - origin + slack) / STEP).astype(np.intp) - 1
            boxes.append((first + REACH, last + REACH + 1))
        self._block(*boxes[0], *boxes[1])

    def _block(self, x0: np.ndarray, x1: np.ndarray, y0: np.ndarray, y1: np.ndarray) -> None:
        """Block the boxes of steps ``[x0, x1) × [y0, y1)`` (one per array entry)."""
        size = 2 * REACH + 1
        x0, x1, y0, y1 = (np.clip(v, 0, size) for v in (x0, x1, y0, y1))
        keep = (x0 < x1) & (y0 < y1)
        x0, x1, y0, y1 = x0[keep], x1[keep], y0[keep], y1[keep]
        counts = np.zeros((size + 1, size + 1), dtype=np.int32)  # a 2-D difference array
        np.add.at(counts, (x0, y0), 1)
        np.add.at(counts, (x1, y0), -1)
        np.add.at(counts, (x0, y1), -1)
        np.add.at(counts, (x1, y1), 1)
        self.blocked |= counts.cumsum(axis=0).cumsum(axis=1)[:size, :size] > 0


class _Interiors:
    """Which points lie inside one of some node rectangles within ``area``: a bitmap of
    :data:`CELL`-sized cells wholly inside a node, so a point it holds is surely inside one."""

    CELL = 10.0

    def __init__(self, rects: list[QRectF], area: QRectF):
        rects = [r for r in rects if r.intersects(area)]
        self.empty = not rects
        if self.empty:
            return
        bounds = np.array([(r.left(), r.top(), r.right(), r.bottom()) for r in rects])
        self.origin = bounds[:, :2].min(axis=0) - self.CELL  # a border of empty cells all round
        cells = np.ceil((bounds[:, 2:].max(axis=0) - self.origin) / self.CELL).astype(np.intp) + 2
        low = np.ceil((bounds[:, :2] - self.origin) / self.CELL).astype(np.intp)
        high = np.floor((bounds[:, 2:] - self.origin) / self.CELL).astype(np.intp)  # exclusive
        counts = np.zeros(cells + 1, dtype=np.int32)
        np.add.at(counts, (low[:, 0], low[:, 1]), 1)
        np.add.at(counts, (high[:, 0], low[:, 1]), -1)
        np.add.at(counts, (low[:, 0], high[:, 1]), -1)
        np.add.at(counts, (high[:, 0], high[:, 1]), 1)
        self.inside = counts.cumsum(axis=0).cumsum(axis=1) > 0

    def holds(self, points: np.ndarray) -> np.ndarray:
        """Per point (any leading shape, then x, y): whether it is surely inside a node."""
        cell = ((points - self.origin) * (1 / self.CELL)).astype(np.intp)  # beyond: the border
        x = np.clip(cell[..., 0], 0, self.inside.shape[0] - 1)
        y = np.clip(cell[..., 1], 0, self.inside.shape[1] - 1)
        return self.inside[x, y]


SAMPLES = np.linspace(0.0, 1.0, 26)[1:-1]  # points along a curve tried by the quick rules


def _curve_points(curve: QPainterPath | None) -> np.ndarray | None:
    """Points along ``curve`` (one cubic, as :func:`link_path` draws it)."""
    if curve is None or curve.elementCount() != 4:
        return None
    controls = np.array([(curve.elementAt(i).x, curve.elementAt(i).y) for i in range(4)])
    return _bezier(controls[None, :, :])[0]


def _link_points(start: np.ndarray, end: np.ndarray, flow: str) -> np.ndarray:
    """Points along :func:`link_path`'s curves from each ``start`` to each ``end`` (n×2), for many
    at once: its control points, computed as it does (tests/ui/test_placement.py holds the two
    equal; link_path stays the owner of the geometry)."""
    down = flow == "down"
    a, b = (start, end) if down else (start[:, ::-1], end[:, ::-1])  # work as if flowing down
    width = NODE_WIDTH if down else NODE_HEIGHT
    dy = b[:, 1] - a[:, 1]
    bend = np.where(dy >= 24, np.maximum(36.0, dy * 0.45),
                    np.where(dy < 0, 60.0 + np.minimum(140.0, -dy * 0.25), 60.0))
    side = np.where(b[:, 0] >= a[:, 0], 1.0, -1.0)
    reach = np.where(dy >= 24, 0.0, side * (width + np.where(dy < 0, np.minimum(120.0, -dy * 0.1), 0.0)))
    c1 = np.stack([a[:, 0] + reach, a[:, 1] + bend], axis=1)
    c2 = np.stack([b[:, 0] + reach, b[:, 1] - bend], axis=1)
    controls = np.stack([a, c1, c2, b], axis=1)
    points = _bezier(controls)
    return points if down else points[..., ::-1]


def _bezier(controls: np.ndarray) -> np.ndarray:
    """Points at :data:`SAMPLES` along cubic Béziers (n×4×2 controls → n×samples×2)."""
    return np.matmul(_BERNSTEIN, controls)


_BERNSTEIN = np.stack([(1 - SAMPLES) ** 3, 3 * (1 - SAMPLES) ** 2 * SAMPLES,
                       3 * (1 - SAMPLES) * SAMPLES ** 2, SAMPLES ** 3], axis=1)  # samples×4


def _beside_everything(design: Design, want: Position, flow: str) -> Position:
    rects = [node_rect(n.position) for n in design.nodes] or [node_rect(want)]
    if flow == "down":
        return (max(r.right() for r in rects) + LINK_STRAY + NODE_GAP, want[1])
    return (want[0], max(r.bottom() for r in rects) + LINK_STRAY + NODE_GAP)


class _Obstacles:
    """A design's node rectangles and link curves; :meth:`gather` keeps the links near a region
    so each candidate spot is checked against a few (strokes are built only when near)."""

    def __init__(self, design: Design, flow: str):
        self.design, self.flow = design, flow
        self.nodes = [node_rect(n.position) for n in design.nodes]
        self.edges = []
        for edge in design.edges:
            ends = node_rect(design.node(edge.src).position).united(
                node_rect(design.node(edge.dst).position))
            self.edges.append((edge, ends.adjusted(-LINK_STRAY, -LINK_STRAY, LINK_STRAY, LINK_STRAY)))
        self._strokes: dict[Edge, QPainterPath | None] = {}
        self._curves: dict[Edge, QPainterPath | None] = {}
        self.near_links: list[tuple[Edge, QRectF]] = self.edges

    def gather(self, region: QRectF) -> None:
        self.near_links = [(e, r) for e, r in self.edges if r.intersects(region)]

    def clear_of_links(self, rect: QRectF) -> bool:
        """Whether ``rect`` keeps its margin from the gathered links' curves."""
        for edge, rough in self.near_links:
            if rough.intersects(rect):
                stroke = self._stroke(edge)
                if stroke is not None and stroke.intersects(rect):
                    return False
        return True

    def stroke_curve(self, edge: Edge) -> QPainterPath | None:
        """``edge``'s curve (None when an end's type is unknown)."""
        if edge not in self._curves:
            self._curves[edge] = link_curve(self.design, edge, self.flow)
        return self._curves[edge]

    def _stroke(self, edge: Edge) -> QPainterPath | None:
        if edge not in self._strokes:
            curve = self.stroke_curve(edge)
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
