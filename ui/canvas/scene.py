"""The canvas scene: it follows the design model and is the only place items are made or removed.

As in Orange's canvas, the scene subscribes to the design's events (``node_added``,
``edge_removed`` …) and to the document's ``design_replaced`` (rebuild) and ``report_changed``
(restyle only the nodes whose shape or diagnostics changed, and relabel only their links).

The scene shows one network at a time: the document's design, or — once the user enters a block
instance — that block's body (:attr:`scope` is the path of instance ids from the top). Shapes
inside come from the entered instance's first copy in the report's expansions.
"""
from __future__ import annotations

import time
from collections import defaultdict, deque
from functools import partial
from typing import Callable, Iterable

from PySide6.QtCore import QPointF, QRectF, QTimer, Signal
from PySide6.QtGui import QPainterPath
from PySide6.QtWidgets import QGraphicsScene, QGraphicsSceneHelpEvent, QToolTip

from graph.blocks import PATH_SEPARATOR, BlockError, present
from graph.catalog import fmt_shape
from graph.design import Design, Edge, Node
from graph.shapes import Inference, describe
from graph.validate import ERROR, Diagnostic, Report, validate

from ..document import Document
from .items import (IN, OUT, BadgeItem, NodeItem, NodeLook, PortItem, anchor_offset, params_text,
                    problems_text)
from .links import LinkItem, lane_around, link_path, outline
from .style import NODE_HEIGHT, NODE_WIDTH, Theme

SCENE_EXTENT = 200_000.0  # the scene's first size, around the origin; it grows with the design
SCENE_ROOM = SCENE_EXTENT / 4  # the least room kept beyond any node (scrolling stops there)


class _NoPort:
    """Stands in for a port a link names but its layer lacks (validation reports it)."""

    def set_linked(self, linked: bool) -> None:
        pass


_NO_PORT = _NoPort()


RESTYLE_AT_ONCE = 150  # an edit that restyles more nodes does those in view at once, ...
RESTYLE_SLICE_S = 0.008  # ... then the others in slices of this long, one per pass of the loop


class CanvasScene(QGraphicsScene):
    """Items for every node and link of ``document.design``, kept in step with the model."""

    scope_lost = Signal()  # the block being shown was removed (e.g. its grouping undone)

    def __init__(self, document: Document, parent=None):
        super().__init__(parent)
        self.document = document
        self.nodes: dict[str, NodeItem] = {}
        self._bodies: dict[str, tuple[float, float, float, float]] = {}  # see _outline
        self.links: dict[Edge, LinkItem] = {}
        self._node_links: dict[str, set[Edge]] = defaultdict(set)
        self._port_links: dict[tuple[str, str], list[Edge]] = {}  # variadic inputs: links in order
        self._shapes: dict[str, str] = {}  # node id → shape label of its links
        self._look_keys: dict[str, tuple] = {}  # node id → what its current look was made of
        self._restyles: deque[tuple[str, Callable[[], NodeLook]]] = deque()  # looks to show
        self._restyle_timer = QTimer(self)  # a zero timer: the next slice after a frame's paint
        self._restyle_timer.setSingleShot(True)
        self._restyle_timer.setInterval(0)
        self._restyle_timer.timeout.connect(self._restyle_slice)
        self._landed: list[QRectF] = []  # where layers landed since links were last routed
        self._long_links: set[LinkItem] = set()  # links a layer could sit in the way of
        self._unrouted: set[LinkItem] = set()  # long links placed since, not yet routed
        self._reroute_timer = QTimer(self)
        self._reroute_timer.setSingleShot(True)
        self._reroute_timer.setInterval(0)
        self._reroute_timer.timeout.connect(self._reroute)
        self.design: Design | None = None
        self.scope: list[str] = []  # instance ids entered, from the top-level design inwards
        self._subscriptions: list[tuple[object, object]] = []
        self.setSceneRect(QRectF(-SCENE_EXTENT / 2, -SCENE_EXTENT / 2, SCENE_EXTENT, SCENE_EXTENT))
        self.setBackgroundBrush(Theme.background)
        document.design_replaced.connect(self._design_replaced)
        # A method, not a lambda: the connection goes with the scene (a revalidation that
        # arrived after it was deleted crashed the process).
        document.report_changed.connect(self._report_changed)
        self.set_design(document.design)
        self.apply_report(document.report)

    # ---- following the model --------------------------------------------------------------------

    def _design_replaced(self, design: Design) -> None:
        self.scope = []
        self.set_design(design)

    def enter(self, scope: list[str], design: Design) -> None:
        """Show ``design`` — the document's design (``scope`` empty) or the body of the block
        reached through the instances ``scope`` — and restyle it from the current report."""
        self.scope = list(scope)
        self.set_design(design)
        self.apply_report(self.document.report)

    def set_design(self, design: Design) -> None:
        """Drop every item and build them again for ``design`` (New, Open, entering a block)."""
        self.detach()
        self.clearSelection()
        for item in list(self.links.values()) + list(self.nodes.values()):
            self.removeItem(item)
        self.nodes.clear()
        self._bodies.clear()
        self.links.clear()
        self._long_links.clear()
        self._unrouted.clear()
        self._landed.clear()
        self._node_links.clear()
        self._port_links.clear()
        self._shapes.clear()
        self._look_keys.clear()
        self._restyles.clear()
        self.design = design
        for signal, slot in ((design.node_added, self._on_node_added),
                             (design.node_removed, self._on_node_removed),
                             (design.node_changed, self._on_node_changed),
                             (design.edge_added, self._on_edge_added),
                             (design.edge_removed, self._on_edge_removed),
                             (design.settings_changed, self._on_settings_changed),
                             (self.document.design.block_changed, self._on_block_changed),
                             (self.document.design.block_removed, self._on_block_changed)):
            signal.connect(slot)
            self._subscriptions.append((signal, slot))
        for node in design.nodes:
            self._add_node_item(node)
        for edge in design.edges:
            if edge.dst in self.nodes and self._is_variadic(edge.dst, edge.dst_port):
                self._port_links.setdefault((edge.dst, edge.dst_port), []).append(edge)
        for edge in design.edges:
            self._add_link_item(edge)
        for key in self._port_links:
            self._refresh_port(*key)
        for edge in self.links:
            self.nodes[edge.src].outputs.get(edge.src_port, _NO_PORT).set_linked(True)
            self.nodes[edge.dst].inputs.get(edge.dst_port, _NO_PORT).set_linked(True)

    def detach(self) -> None:
        """Stop following the model (before the scene goes away or the design is replaced)."""
        for signal, slot in self._subscriptions:
            signal.disconnect(slot)
        self._subscriptions.clear()

    def _on_settings_changed(self, section: str) -> None:
        if section == "flow":  # every port and link changes sides: build the items again
            self.rebuild()

    def _on_block_changed(self, name: str) -> None:
        """A block's ports or arguments may have changed: rebuild if its instances are shown.
        If the block shown is no longer defined, say so (the view goes back to the top)."""
        if self.scope and not any(b.body is self.design for b in self.document.design.blocks):
            self.scope_lost.emit()
        elif self.design is not None and any(n.type == name for n in self.design.nodes):
            self.rebuild()

    def rebuild(self) -> None:
        """Build every item again, keeping the selection (ports changed sides or number)."""
        selected = self.selected_node_ids()
        self.set_design(self.design)
        self.apply_report(self.document.report)
        for nid in selected:
            if nid in self.nodes:
                self.nodes[nid].setSelected(True)

    @property
    def flow(self) -> str:
        """The top-level design's flow (a block's body is shown the same way)."""
        return self.document.design.flow

    def _on_node_added(self, node: Node) -> None:
        item = self._add_node_item(node)
        if item is not None:
            self._reroute_soon(item.sceneBoundingRect())

    def _on_node_removed(self, node: Node) -> None:
        item = self.nodes.pop(node.id, None)
        self._bodies.pop(node.id, None)
        self._shapes.pop(node.id, None)
        self._look_keys.pop(node.id, None)
        self._node_links.pop(node.id, None)
        if item is not None:
            self.removeItem(item)
            self._reroute_soon()

    def _on_node_changed(self, node: Node, field: str) -> None:
        item = self.nodes.get(node.id)
        if item is None:
            return
        if field == "position":
            item.set_position(node.position)
            self._reroute_soon(item.sceneBoundingRect())  # also where a drag ends
        else:
            item.set_node(node)

    def _on_edge_added(self, edge: Edge) -> None:
        self._add_link_item(edge)
        if self._is_variadic(edge.dst, edge.dst_port):
            self._refresh_port(edge.dst, edge.dst_port, reorder=True)
        else:
            self._refresh_port(edge.dst, edge.dst_port)
        self._refresh_port(edge.src, edge.src_port, direction=OUT)

    def _on_edge_removed(self, edge: Edge) -> None:
        item = self.links.pop(edge, None)
        for end in (edge.src, edge.dst):
            self._node_links.get(end, set()).discard(edge)
        if item is not None:
            self._long_links.discard(item)
            self._unrouted.discard(item)
            self.removeItem(item)
        if self._is_variadic(edge.dst, edge.dst_port):
            self._refresh_port(edge.dst, edge.dst_port, reorder=True)
        else:
            self._refresh_port(edge.dst, edge.dst_port)
        self._refresh_port(edge.src, edge.src_port, direction=OUT)

    # ---- items ------------------------------------------------------------------------------------

    def _add_node_item(self, node: Node) -> NodeItem | None:
        layer = self.design.layer_type(node.type) if self.design is not None else None
        if layer is None:  # the file loader refuses unknown types; nothing to draw
            return None
        item = NodeItem(node, layer, self.flow)
        self._look_keys.pop(node.id, None)
        self.nodes[node.id] = item
        self.addItem(item)
        self._cover(item.pos())
        self._outline(item)
        return item

    def _outline(self, item: NodeItem) -> None:
        """Remember where ``item``'s body is (left, top, right, bottom), for routing links."""
        at = item.pos()
        self._bodies[item.node_id] = (at.x(), at.y(), at.x() + NODE_WIDTH, at.y() + NODE_HEIGHT)

    def _cover(self, at: QPointF) -> None:
        """Grow the scene (it never shrinks) when a node at ``at`` comes within
        :data:`SCENE_ROOM` of its edge, so every node of a deep design can be scrolled to (a
        1,000-layer chain is 110,000 units long); it grows by twice that room at once."""
        rect = self.sceneRect()
        if rect.adjusted(SCENE_ROOM, SCENE_ROOM, -SCENE_ROOM, -SCENE_ROOM).contains(at):
            return
        reach = 2 * SCENE_ROOM
        self.setSceneRect(rect.united(QRectF(at.x() - reach, at.y() - reach, 2 * reach, 2 * reach)))

    def _add_link_item(self, edge: Edge) -> LinkItem | None:
        if edge.src not in self.nodes or edge.dst not in self.nodes:
            return None
        item = LinkItem(edge, self.flow)
        self.links[edge] = item
        self._node_links[edge.src].add(edge)
        self._node_links[edge.dst].add(edge)
        item.set_label(self._shapes.get(edge.src, ""), self._order(edge))
        self.addItem(item)
        self._place(item)
        return item

    def _is_variadic(self, node_id: str, port_name: str) -> bool:
        item = self.nodes.get(node_id)
        port = item.inputs.get(port_name) if item else None
        return bool(port and port.port.variadic)

    def _order(self, edge: Edge) -> int:
        ordered = self._port_links.get((edge.dst, edge.dst_port))
        if not ordered or len(ordered) < 2 or edge not in ordered:
            return 0
        return ordered.index(edge) + 1

    def _refresh_port(self, node_id: str, port_name: str, reorder: bool = False,
                      direction: str = IN) -> None:
        """Re-place the links of one port (their order may have changed) and its linked look."""
        item = self.nodes.get(node_id)
        if item is None or self.design is None:
            return
        ports = item.inputs if direction == IN else item.outputs
        port = ports.get(port_name)
        if reorder:
            self._port_links[(node_id, port_name)] = self.design.in_edges(node_id, port_name)
        if direction == IN:
            edges = [e for e in self._node_links.get(node_id, ()) if e.dst == node_id and e.dst_port == port_name]
        else:
            edges = [e for e in self._node_links.get(node_id, ()) if e.src == node_id and e.src_port == port_name]
        if port is not None:
            port.set_linked(bool(edges))
        if direction == IN:
            for edge in edges:
                link = self.links[edge]
                link.set_label(link.label, self._order(edge))
                self._place(link)

    def anchor(self, edge: Edge, end: str) -> QPointF:
        """Scene position where ``edge``'s ``end`` ("src" or "dst") meets its port."""
        if end == "src":
            item = self.nodes[edge.src]
            return item.pos() + anchor_offset(item.layer, OUT, edge.src_port, self.flow)
        item = self.nodes[edge.dst]
        ordered = self._port_links.get((edge.dst, edge.dst_port))
        slot, count = (ordered.index(edge), len(ordered)) if ordered and edge in ordered else (0, 1)
        return item.pos() + anchor_offset(item.layer, IN, edge.dst_port, self.flow, slot, count)

    def _place(self, link: LinkItem, route: bool = False) -> None:
        """Put ``link`` between its ports. A link long enough to pass a layer is checked for
        layers in its way (a skip link wired across a column) and then runs in a lane beside
        them: at once when ``route``, else once the model's edit or the drag is done (a check
        along a skip across 1,000 layers takes milliseconds: too long for every frame)."""
        edge = link.edge
        start, end = self.anchor(edge, "src"), self.anchor(edge, "dst")
        if not self._can_pass_a_layer(start, end):
            self._long_links.discard(link)
            link.set_ends(start, end)
            return
        self._long_links.add(link)
        if not route:
            link.set_ends(start, end, link.lane)  # the lane, if any, checked soon
            self._unrouted.add(link)
            self._reroute_timer.start()
            return
        ends = {edge.src, edge.dst}
        lane, blockers = None, self._layers_on(link_path(start, end, self.flow), ends)
        for _ in range(4):  # the lane may pass further layers: widen past those too
            if not blockers:
                break
            lane = lane_around(start, end, blockers, self.flow)
            more = [rect for rect in self._layers_on(link_path(start, end, self.flow, lane), ends)
                    if rect not in blockers]
            if not more:
                break
            blockers += more
        link.set_ends(start, end, lane)

    def _can_pass_a_layer(self, start: QPointF, end: QPointF) -> bool:
        """Whether a layer fits between ``start`` and ``end`` along the flow (not when the link goes
        back, it loops out): most links, between neighbouring ranks, are too short."""
        along = end.y() - start.y() if self.flow == "down" else end.x() - start.x()
        return along > (NODE_HEIGHT if self.flow == "down" else NODE_WIDTH)

    def _reroute_soon(self, landed: QRectF | None = None) -> None:
        """After the model's edits (a layout moves every layer one by one), once: route again
        the links that detour, which may run straight now, and the long ones near ``landed``."""
        if landed is not None:
            self._landed.append(landed)
        self._reroute_timer.start()

    def _reroute(self) -> None:
        links = self._unrouted | {link for link in self._long_links if link.lane is not None}
        if len(self._landed) > 64:  # a layout or a large paste: every long link
            links |= self._long_links
        else:
            links |= {link for link in self._long_links
                      if any(link.boundingRect().intersects(rect) for rect in self._landed)}
        self._landed.clear()
        self._unrouted.clear()
        for link in links:
            if link.scene() is self:
                self._place(link, route=True)

    def _layers_on(self, path: QPainterPath, ends: set[str]) -> list[QRectF]:
        """The outlines of the layers other than ``ends`` that ``path`` crosses (plain floats
        first: a drag routes its links on every frame, and the scene's own index is slower
        here, its extent being huge)."""
        x0, y0, x1, y1 = path.boundingRect().getCoords()
        near = [QRectF(QPointF(left, top), QPointF(right, bottom))
                for nid, (left, top, right, bottom) in self._bodies.items()
                if left < x1 and right > x0 and top < y1 and bottom > y0 and nid not in ends]
        line = outline(path) if near else None
        return [rect for rect in near if line.intersects(rect)]

    def port_anchor(self, port: PortItem) -> QPointF:
        return port.scenePos()

    def node_item_moved(self, item: NodeItem) -> None:
        """Called by a node item whenever it moves (a drag, or the model's position)."""
        self._cover(item.pos())
        self._outline(item)
        for edge in self._node_links.get(item.node_id, ()):
            link = self.links.get(edge)
            if link is not None:
                self._place(link)

    # ---- the report ----------------------------------------------------------------------------------

    def scoped_inference(self, report: Report) -> Inference:
        """The inference of the network shown: the report's, or inside an entered block the
        first copy of the entered instance (empty when the instance is gone or broken)."""
        inference = report.inference
        for instance in self.scope:
            copies = getattr(inference, "expansions", {}).get(instance)
            if not copies:
                return Inference()
            inference = copies[0].inference
        return inference

    def _skipped(self, report: Report) -> dict[str, str]:
        """Inside a block: the layers the shown copy leaves out (their ``when`` does not hold
        for its arguments, as a ResNet stage's downsample without ``project``), each with its
        condition."""
        inference, args = report.inference, None
        for instance in self.scope:
            copies = getattr(inference, "expansions", {}).get(instance)
            if not copies:
                return {}
            inference, args = copies[0].inference, copies[0].args
        out = {}
        for node in self.design.nodes if args is not None else ():
            try:
                if node.when and not present(node, args):
                    out[node.id] = node.when
            except BlockError:  # a condition that does not read: validation says so
                continue
        return out

    def scoped_diagnostics(self, report: Report) -> list[Diagnostic]:
        """The report's diagnostics, or inside an entered block those of the layers shown:
        what is wrong with the body as a network, and the entered instance's error pinned to
        the inner layer that causes it."""
        if not self.scope:
            return report.diagnostics
        diags = [d for d in validate(self.design).diagnostics if d.code != "shape"]
        inner = self._inner_error(report)
        if inner is not None and not any(d.node == inner.node and d.message == inner.message
                                         for d in diags):
            diags.append(inner)
        return diags

    def _inner_error(self, report: Report) -> Diagnostic | None:
        """The entered instance's error (its path names copies and inner layers, such as
        ``layer1.0 › add``) as a diagnostic on the layer of the shown body it leads to."""
        error = report.inference.errors.get(self.scope[0])
        if error is None or len(error.path) <= len(self.scope):
            return None
        design = self.document.design
        for depth, instance in enumerate(self.scope):
            node = design.node(instance) if design.has_node(instance) else None
            label = error.path[depth]
            if node is None or not (label == node.name or label.startswith(node.name + ".")
                                    and label[len(node.name) + 1:].isdigit()):
                return None  # the error is in a copy of another instance than the one shown
            design = design.blocks[node.type].body
        rest = error.path[len(self.scope):]
        culprit = self.design.node_by_name(rest[0])
        if culprit is None:
            return None
        text = (f"{PATH_SEPARATOR.join(rest[1:])}: {error.message}" if len(rest) > 1
                else error.message)
        return Diagnostic(ERROR, "shape", text, culprit.id, fix=error.fix,
                          param=error.param if len(rest) == 1 else None)

    def _report_changed(self, report: Report) -> None:
        self.apply_report(report, sliced=True)

    def apply_report(self, report: Report, sliced: bool = False) -> None:
        """Restyle the nodes whose shape, parameter count or diagnostics changed. ``sliced`` (an
        edit's report): when that is more than :data:`RESTYLE_AT_ONCE` nodes, those in view
        come first and the others follow in slices between the window's other events, so a
        breaking edit of a large design never holds the GUI thread long."""
        for node_id, _look in self._restyles:  # an older report's looks not shown yet
            self._look_keys.pop(node_id, None)
        changes = self._look_changes(report)
        if not sliced or len(changes) <= RESTYLE_AT_ONCE:
            self._restyles = deque(changes)
            self._restyle_slice(everything=True)
            return
        shown = self._shown_rect()
        in_view = {node_id for node_id, _look in changes
                   if shown.intersects(self.nodes[node_id].sceneBoundingRect())}
        changes.sort(key=lambda change: change[0] not in in_view)  # stable: design order kept
        self._restyles = deque(changes)
        self._restyle_slice(at_least=len(in_view))

    @property
    def restyle_pending(self) -> bool:
        """Whether nodes still wait for the newest report's look (see :meth:`apply_report`)."""
        return bool(self._restyles)

    def finish_restyle(self) -> None:
        """Show every look still waiting now (a screenshot, a test)."""
        self._restyle_slice(everything=True)

    def _look_changes(self, report: Report) -> list[tuple[str, Callable[[], NodeLook]]]:
        """The nodes whose look changes with ``report``, each with what makes its new look
        (made when it is shown: a slice pays for its own nodes only)."""
        by_node: dict[str, list] = defaultdict(list)
        inference = self.scoped_inference(report)
        skipped = self._skipped(report)
        for diag in self.scoped_diagnostics(report):
            if diag.node is not None:
                by_node[diag.node].append(diag)
        changes = []
        for node_id in self.nodes:
            diags = by_node.get(node_id, ())
            shape = inference.shapes.get(node_id)
            # What the look is made of; most nodes are unchanged by an edit, so compare first.
            key = (shape, tuple(inference.input_shapes.get(node_id, ())),
                   inference.params.get(node_id), tuple(diags), skipped.get(node_id, ""))
            if key == self._look_keys.get(node_id):
                continue
            self._look_keys[node_id] = key
            changes.append((node_id, partial(_node_look, inference, node_id, shape, diags,
                                             skipped.get(node_id, ""))))
        return changes

    def _restyle_slice(self, at_least: int = 1, everything: bool = False) -> None:
        """Show waiting looks: ``everything``, or at least ``at_least`` and then as many as
        :data:`RESTYLE_SLICE_S` allows; the rest follow after the loop's next pass."""
        deadline = time.perf_counter() + RESTYLE_SLICE_S
        relabel, done = [], 0
        while self._restyles and (everything or done < at_least
                                  or time.perf_counter() < deadline):
            node_id, make_look = self._restyles.popleft()
            item = self.nodes.get(node_id)
            if item is None:
                continue
            done += 1
            look = make_look()
            if self._shapes.get(node_id, "") != look.shape:
                self._shapes[node_id] = look.shape
                relabel.append(node_id)
            item.set_look(look)
        for node_id in relabel:
            for edge in self._node_links.get(node_id, ()):
                if edge.src == node_id:
                    link = self.links[edge]
                    link.set_label(self._shapes[node_id], link.order)
        if self._restyles:
            self._restyle_timer.start()

    def _shown_rect(self) -> QRectF:
        """The part of the scene the views show."""
        rect = QRectF()
        for view in self.views():
            rect = rect.united(view.mapToScene(view.viewport().rect()).boundingRect())
        return rect

    # ---- tooltips (built on demand: a restyle of hundreds of nodes sets no text) ------------------

    def tooltip_at(self, pos: QPointF) -> str:
        """The tooltip for whatever is under ``pos``: a node, its badge or port, or a link."""
        for item in self.items(pos):
            if isinstance(item, (NodeItem, BadgeItem, PortItem)):
                return item.tooltip_text()
            if isinstance(item, LinkItem) and self.design is not None:
                edge = item.edge
                names = [self.design.node(n).name if self.design.has_node(n) else n
                         for n in (edge.src, edge.dst)]
                what = f"carries {item.label}" if item.label else "shape unknown"
                order = f", input {item.order} of the merge" if item.order else ""
                return f"{names[0]} → {names[1]}: {what}{order}. Drag an end to re-route it."
        return ""

    def helpEvent(self, event: QGraphicsSceneHelpEvent) -> None:  # noqa: N802 (Qt API)
        text = self.tooltip_at(event.scenePos())
        if text:
            QToolTip.showText(event.screenPos(), text, event.widget())
            event.accept()
        else:
            QToolTip.hideText()
            event.ignore()

    # ---- queries ---------------------------------------------------------------------------------

    def selected_node_ids(self) -> list[str]:
        """Selected nodes, in the design's node order."""
        selected = {item.node_id for item in self.selectedItems() if isinstance(item, NodeItem)}
        if self.design is None:
            return sorted(selected)
        return [nid for nid in self.design.node_ids_in_order() if nid in selected]

    def selected_edges(self) -> list[Edge]:
        return [item.edge for item in self.selectedItems() if isinstance(item, LinkItem)]

    def nodes_bounding_rect(self, node_ids: Iterable[str] | None = None) -> QRectF:
        items = self.nodes.values() if node_ids is None else [self.nodes[n] for n in node_ids if n in self.nodes]
        rect = QRectF()
        for item in items:
            rect = rect.united(item.sceneBoundingRect())
        return rect


def _node_look(inference: Inference, node_id: str, shape, diags, skipped: str = "") -> NodeLook:
    """A node's look from its shape, parameter count and diagnostics (and, inside a block, the
    condition it needs when the copy shown leaves it out)."""
    severity = None
    if diags:
        severity = ERROR if any(d.severity == ERROR for d in diags) else "warning"
    return NodeLook(
        shape=fmt_shape(shape) if shape is not None else "",
        params=params_text(inference.params.get(node_id)),
        severity=severity,
        problems=problems_text(diags) if diags else "",
        describe=describe(inference, node_id) if shape is not None else "",
        skipped=skipped,
    )
