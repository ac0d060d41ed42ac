"""Where a new layer lands: never on a link or a node, so it never looks connected when it is
not (issue 13). Checked against what the canvas really draws (its items' rectangles and link
curves), for every way a layer is added; each add stays one undo step."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainterPathStroker
from PySide6.QtTest import QTest

from graph.design import Design, Edge
from graph.validate import validate
from ui.canvas.interactions import connect_after
from ui.canvas.links import link_path
from ui.canvas.placement import (_BERNSTEIN, NODE_GAP, STEP, _link_points, _Obstacles, _offset_grid, _Planned,
                                 flow_of, free_spot, link_curve, node_rect, rank_after)
from ui.canvas.style import NODE_HEIGHT, NODE_WIDTH

from .test_canvas_edit import drop_layer, new_node_id
from .test_canvas_helpers import _iris, make_view, residual_design, vp  # noqa: F401 (fixture)


def spread_chain(flow: str = "down", last: str | None = "Output") -> Design:
    """Input → fc → relu (→ Output), two ranks apart: the spot one rank after a layer is on
    the link leaving it, with no node there."""
    design = _iris(Design("spread"))
    design.set_flow(flow)
    layers = [("Input", "x", {"shape": [4]}), ("Linear", "fc", {"out_features": 3}), ("ReLU", "relu", {})]
    if last:
        layers.append((last, "y", {}))
    previous = None
    for i, (type_id, name, params) in enumerate(layers):
        position = (0.0, 220.0 * i) if flow == "down" else (440.0 * i, 0.0)
        node = design.add_node(design.make_node(type_id, name=name, params=params, position=position))
        if previous is not None:
            design.add_edge(Edge(previous.id, node.id))
        previous = node
    return design


def rect_of(view, node_id: str) -> QRectF:
    """The node's body as drawn."""
    pos = view.canvas.nodes[node_id].pos()
    return QRectF(pos.x(), pos.y(), NODE_WIDTH, NODE_HEIGHT)


def what_it_touches(view, node_id: str) -> list[str]:
    """The other nodes and the links (not its own) that the node's drawn rectangle meets."""
    rect = rect_of(view, node_id)
    stroker = QPainterPathStroker()
    stroker.setWidth(2.0)
    touched = [other for other in view.canvas.nodes if other != node_id and rect_of(view, other).intersects(rect)]
    for edge, link in view.canvas.links.items():
        if node_id not in (edge.src, edge.dst) and stroker.createStroke(link.path()).intersects(rect):
            touched.append(f"{edge.src}→{edge.dst}")
    return touched


def snapshot(design: Design):
    return [(n.id, n.type, n.position) for n in design.nodes], design.edges


def added_in_one_step(view, before) -> str:
    """The one node added since ``before`` (a snapshot); undo restores the design exactly and
    redo brings the node back where it was."""
    design, stack = view.document.design, view.document.undo_stack
    nid = new_node_id(view, {n[0] for n in before[0]})
    after = snapshot(design)
    assert stack.count() == 1
    stack.undo()
    assert snapshot(design) == before and nid not in view.canvas.nodes
    stack.redo()
    assert snapshot(design) == after and nid in view.canvas.nodes
    return nid


@pytest.mark.parametrize("flow", ["down", "right"])
def test_a_layer_added_after_the_selected_one_avoids_the_link_on_its_spot(make_view, flow):
    view = make_view(spread_chain(flow))
    design = view.document.design
    x = design.node_by_name("x")
    view.select_nodes([x.id])
    before = snapshot(design)
    nid = view.add_node_at_center("Dropout")  # the palette's double-click and Enter
    assert what_it_touches(view, nid) == []
    assert Edge(x.id, nid) in design.edges
    new = design.node(nid).position
    axis = 1 if flow == "down" else 0
    assert new[axis] > x.position[axis]  # after it, along the flow
    assert added_in_one_step(view, before) == nid


def test_an_input_dropped_on_a_link_lands_beside_it(make_view):
    """An Input cannot be spliced into a link: dropped on one, it goes to the nearest free spot."""
    view = make_view(spread_chain())
    design = view.document.design
    link = view.canvas.links[design.edges[1]]
    before = snapshot(design)
    drop_layer(view, "Input", link.path().pointAtPercent(0.5))
    nid = added_in_one_step(view, before)
    assert what_it_touches(view, nid) == [] and not design.edges_of(nid)
    centre = rect_of(view, nid).center()
    assert (centre - link.path().pointAtPercent(0.5)).manhattanLength() < 300  # near the drop


def test_a_layer_dropped_just_beside_a_link_is_not_left_over_it(make_view):
    """Away from the link's insertion reach but with its body over the curve: moved clear."""
    view = make_view(spread_chain())
    design = view.document.design
    mid = view.canvas.links[design.edges[0]].path().pointAtPercent(0.5)
    before = snapshot(design)
    drop_layer(view, "Conv2d", mid + QPointF(40, 0))
    nid = added_in_one_step(view, before)
    assert what_it_touches(view, nid) == [] and not design.edges_of(nid)


def test_a_drop_on_free_canvas_stays_exactly_where_it_was_dropped(make_view):
    view = make_view(spread_chain())
    design = view.document.design
    spot = view.canvas.nodes_bounding_rect().topRight() + QPointF(400, 100)
    drop_layer(view, "Conv2d", spot)
    (node,) = [n for n in design.nodes if n.type == "Conv2d"]
    assert node.position == (spot.x() - NODE_WIDTH / 2, spot.y() - NODE_HEIGHT / 2)


def test_tab_quick_add_over_a_link_places_the_layer_clear_of_it(make_view):
    view = make_view(spread_chain())
    design = view.document.design
    mid = view.canvas.links[design.edges[1]].path().pointAtPercent(0.5)
    before = snapshot(design)
    view.open_quick_add(vp(view, mid))  # Tab, or Edit ▸ Add Layer…, with the cursor there
    QTest.keyClicks(view.quick_add.edit, "sigmoid")
    QTest.keyClick(view.quick_add.edit, Qt.Key.Key_Return)
    nid = added_in_one_step(view, before)
    assert what_it_touches(view, nid) == []


def test_the_add_an_output_fix_puts_it_clear_of_a_link_passing_there(make_view):
    """x → a → m, m → b drawn above m; b is the last layer, and a → m runs through the spot
    below b: the Output goes beside, and its own link passes no other layer."""
    design = _iris(Design("detour"))
    x = design.add_node(design.make_node("Input", name="x", params={"shape": [4]}, position=(0, 0)))
    a = design.add_node(design.make_node("Linear", name="a", params={"out_features": 8}, position=(0, 110)))
    b = design.add_node(design.make_node("Linear", name="b", params={"out_features": 3}, position=(0, 220)))
    m = design.add_node(design.make_node("ReLU", name="m", position=(0, 550)))
    for src, dst in ((x, a), (a, m), (m, b)):
        design.add_edge(Edge(src.id, dst.id))
    view = make_view(design)
    (action,) = [act for d in validate(design).errors for act in d.actions if act.text.startswith("add an Output")]
    before = snapshot(design)
    view.apply_fix(action)
    (out,) = design.outputs()
    assert added_in_one_step(view, before) == out.id
    assert what_it_touches(view, out.id) == []
    link = view.canvas.links[Edge(b.id, out.id)]
    stroker = QPainterPathStroker()
    stroker.setWidth(2.0)
    crossed = [nid for nid in view.canvas.nodes if nid not in (b.id, out.id)
               and stroker.createStroke(link.path()).intersects(rect_of(view, nid))]
    assert crossed == []


@pytest.mark.parametrize("flow", ["down", "right"])
def test_placement_sees_the_links_exactly_as_the_canvas_draws_them(make_view, flow):
    """One geometry: the placement's link curves are the canvas's, merge slots included."""
    design = residual_design()
    design.set_flow(flow)
    view = make_view(design)
    for edge, link in view.canvas.links.items():
        assert link_curve(design, edge, flow) == link.path()


def test_a_crowded_neighbourhood_still_yields_a_free_spot():
    design = Design("crowd")
    for i in range(12):
        for j in range(12):
            design.add_node(design.make_node("ReLU", position=(160.0 * i, 80.0 * j)))
    spot = free_spot(design, (400.0, 400.0))
    rect = QRectF(spot[0], spot[1], NODE_WIDTH, NODE_HEIGHT)
    assert not any(QRectF(n.position[0], n.position[1], NODE_WIDTH, NODE_HEIGHT).intersects(rect)
                   for n in design.nodes)


def test_of_equally_near_free_spots_the_one_below_or_to_the_right_wins():
    design = Design("ties")
    design.add_node(design.make_node("ReLU", position=(0.0, 0.0)))
    clear = math.ceil((NODE_HEIGHT + NODE_GAP) / STEP) * STEP  # the first grid step past the margin
    assert free_spot(design, (0.0, 0.0)) == (0.0, clear)  # below, not above
    for k in range(-15, 16):  # a column too tall to pass: beside it
        design.add_node(design.make_node("ReLU", position=(0.0, k * NODE_HEIGHT)))
    clear = math.ceil((NODE_WIDTH + NODE_GAP) / STEP) * STEP
    assert free_spot(design, (0.0, 0.0)) == (clear, 0.0)  # right, not left


@pytest.mark.parametrize("flow", ["down", "right"])
def test_the_quick_rule_draws_new_links_as_the_canvas_does(flow):
    """The planned-link rule computes many curves at once; they must be link_path's own (every
    branch: forward, short, going back), else it would rule out spots that are free."""
    rng = random.Random(7)
    ends = np.array([[rng.uniform(-600, 600) for _ in range(4)] for _ in range(200)]
                    + [[0, 0, 30, 10], [0, 0, -30, -10], [0, 0, 0, 24], [0, 0, 0, 23.9]])
    points = _link_points(ends[:, :2], ends[:, 2:], flow)
    for (x0, y0, x1, y1), along in zip(ends, points):
        curve = link_path(QPointF(x0, y0), QPointF(x1, y1), flow)
        controls = np.array([(curve.elementAt(i).x, curve.elementAt(i).y) for i in range(curve.elementCount())])
        assert len(controls) == 4
        assert np.allclose(along, _BERNSTEIN @ controls)


def with_new_layer(design: Design, after: str, spot) -> tuple[Design, str]:
    """``design`` with a ReLU at ``spot`` linked after ``after`` (as the canvas would add it)."""
    node = design.make_node("ReLU", position=spot)
    edge = connect_after(design, after, node)
    design.add_node(node)
    design.add_edge(edge)
    return design, node.id


def nodes_its_link_crosses(design: Design, node_id: str) -> list[str]:
    """The nodes other than its ends that the new node's incoming link runs through."""
    (edge,) = design.in_edges(node_id, design.layer_of(design.node(node_id)).inputs[0].name)
    stroke = QPainterPathStroker()
    stroke.setWidth(2.0)
    curve = stroke.createStroke(link_curve(design, edge, flow_of(design)))
    return [n.name for n in design.nodes if n.id not in (edge.src, node_id)
            and curve.intersects(node_rect(n.position))]


def add_after(design: Design, name: str) -> tuple[Design, str]:
    """Place a new ReLU after ``name`` with :func:`free_spot` and add it there."""
    src = design.node_by_name(name).id
    node = design.make_node("ReLU")
    spot = free_spot(design, rank_after(design, src), node, [connect_after(design, src, node)])
    return with_new_layer(design, src, spot)


@pytest.mark.parametrize("flow", ["down", "right"])
def test_the_new_link_passes_no_other_layer_even_when_a_nearer_spot_is_free(flow):
    """a, and an unlinked layer b right on the spot after a: the nearest spot clear of nodes is
    just beyond b, but a link from a to there would run through b, so the layer goes beside."""
    design = Design("blocked")
    design.set_flow(flow)
    a = design.add_node(design.make_node("ReLU", name="a", position=(0.0, 0.0)))
    design.add_node(design.make_node("ReLU", name="b", position=rank_after(design, a.id)))
    along = 1 if flow == "down" else 0
    beyond_b = list(rank_after(design, a.id))
    beyond_b[along] += (NODE_HEIGHT if flow == "down" else NODE_WIDTH) + NODE_GAP
    naive, naive_id = with_new_layer(design.copy(), a.id, tuple(beyond_b))
    assert nodes_its_link_crosses(naive, naive_id) == ["b"]  # what the link check is for
    placed, new_id = add_after(design, "a")
    assert nodes_its_link_crosses(placed, new_id) == []
    rect = node_rect(placed.node(new_id).position)
    padded = rect.adjusted(-NODE_GAP, -NODE_GAP, NODE_GAP, NODE_GAP)
    assert not any(node_rect(n.position).intersects(padded) for n in design.nodes if n.id != new_id)
    assert (rect.center() - node_rect(a.position).center()).manhattanLength() < 500  # near, not beside all


def crowded_grid(columns: int, rows: int, gap: float = 30.0) -> Design:
    """ReLUs ``gap`` apart, each column a chain: no free spot among them."""
    design = Design("grid")
    for i in range(columns):
        previous = None
        for j in range(rows):
            node = design.add_node(design.make_node(
                "ReLU", name=f"r{i}_{j}", position=(i * (NODE_WIDTH + gap), j * (NODE_HEIGHT + gap))))
            if previous is not None:
                design.add_edge(Edge(previous.id, node.id))
            previous = node
    return design


@pytest.mark.parametrize("flow", ["down", "right"])
def test_in_a_crowded_grid_a_layer_after_a_middle_one_goes_to_the_nearest_clear_spot(flow):
    """Rows and columns too close for a link to pass between: from the middle, a new link
    crosses other layers wherever the layer goes, so it goes to the nearest spot clear of nodes
    and links (the one it would get with no link), not beside the whole design."""
    design = crowded_grid(6, 6, gap=NODE_GAP)
    design.set_flow(flow)
    src = design.node_by_name("r3_3").id
    want = rank_after(design, src)
    nearest_clear = free_spot(design, want)
    placed, new_id = add_after(design, "r3_3")
    spot = placed.node(new_id).position
    assert spot == nearest_clear
    assert abs(spot[0] - want[0]) + abs(spot[1] - want[1]) < 300
    assert nodes_its_link_crosses(placed, new_id) != []  # no spot would have spared that


def exact_free_spot(design: Design, want, node, links, tries: int = 4000):
    """The first of the nearest ``tries`` grid spots that passes every exact check (nodes with
    QRectF, link and planned-link strokes), or None: what :func:`free_spot`'s quick rules must
    not change."""
    obstacles = _Obstacles(design, flow_of(design))
    planned = _Planned(design, node, links, flow_of(design)) if links else None
    everywhere = node_rect(want).adjusted(-2000, -2000, 2000, 2000)
    if planned is not None:
        planned.gather(everywhere, obstacles.nodes)
    kx, ky, _distances = _offset_grid()
    for i, j in zip(kx[:tries].tolist(), ky[:tries].tolist()):
        spot = (want[0] + i * STEP, want[1] + j * STEP)
        rect = node_rect(spot)
        padded = rect.adjusted(-NODE_GAP, -NODE_GAP, NODE_GAP, NODE_GAP)
        if any(other.intersects(padded) for other in obstacles.nodes):
            continue
        if obstacles.clear_of_links(rect) and (planned is None or planned.clear(spot)):
            return spot
    return None


@pytest.mark.parametrize("seed", range(30))
def test_the_quick_rules_keep_the_exact_answer(seed):
    """On random designs, free_spot picks the very spot a plain exact walk picks."""
    rng = random.Random(seed)
    design = Design("random")
    design.set_flow(rng.choice(["down", "right"]))
    nodes = [design.add_node(design.make_node("ReLU", position=(rng.uniform(0, 700), rng.uniform(0, 700))))
             for _ in range(rng.randint(6, 20))]
    for a, b in zip(nodes, nodes[1:]):
        if rng.random() < 0.7:
            design.add_edge(Edge(a.id, b.id))
    src = rng.choice(nodes).id
    node = design.make_node("ReLU")
    links = [connect_after(design, src, node)] if seed % 3 else []
    want = rank_after(design, src)
    expected = exact_free_spot(design, want, node, links)
    if expected is not None:
        assert free_spot(design, want, node, links) == expected


# ---- a new layer is never left under the minimap (issue 13: "linear … 704 para" was hidden) ----


def minimap_cover(view) -> QRectF:
    """The minimap's rectangle in viewport coordinates (empty when it is hidden)."""
    minimap = view.minimap
    if not minimap.isVisible():
        return QRectF()
    return QRectF(minimap.geometry().translated(-view.viewport().geometry().topLeft()))


@pytest.mark.parametrize("size", [(500, 360), (620, 380)])
def test_a_layer_added_in_the_corner_is_not_hidden_by_the_minimap(make_view, qtbot, size):
    from .test_canvas_helpers import chain_design

    view = make_view(chain_design(), size=size)  # taller than the view: the minimap shows
    y = view.document.design.node_by_name("y").id
    relu = view.document.design.node_by_name("relu").id
    view.centerOn(view.canvas.nodes[y].center() + QPointF(-60, -20))  # looking at the end
    view.select_nodes([relu])
    before = set(view.document.design.node_ids_in_order())
    view.add_node_at_center("Linear")  # the palette's double-click: after relu, beside y
    new = new_node_id(view, before)
    qtbot.waitUntil(lambda: not view.document.revalidation_pending)  # the minimap caught up
    assert view.minimap.isVisible()
    item = view.canvas.nodes[new]
    shown = QRectF(view.mapFromScene(item.sceneBoundingRect()).boundingRect())
    assert QRectF(view.viewport().rect()).contains(shown)
    assert not shown.intersects(minimap_cover(view)), (shown, minimap_cover(view))
