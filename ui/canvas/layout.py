"""Auto-layout: rows by topological generation, top to bottom, placed to keep links straight.

A small Sugiyama-style layout:

1. each generation of :func:`networkx.topological_generations` becomes a row (a design with a
   cycle is layered through its condensation);
2. a link that spans several rows gets a virtual waypoint in each row between, so skip
   connections run beside the layers they skip instead of through them;
3. row by row, nodes are sorted by the x they want (the mean of their parents'; a node fed by
   a skip connection lines up under the skip, so a residual trunk stays straight) and placed by
   priority — waypoints first, then the best connected nodes — each as near its wish as the
   already placed ones allow.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from graph.design import Design
from graph.validate import to_networkx

from .style import LAYOUT_STEP_X, LAYOUT_STEP_Y

Position = tuple[float, float]


@dataclass
class _Slot:
    key: str | tuple  # a node id, or ("via", edge number, row) for a waypoint
    parents: list = field(default_factory=list)  # slots in the row above
    via: bool = False
    degree: int = 0
    order: int = 0


def _layers(g: nx.MultiDiGraph) -> dict[str, int]:
    try:
        gens = list(nx.topological_generations(g))
        return {nid: r for r, gen in enumerate(gens) for nid in gen}
    except nx.NetworkXUnfeasible:  # a cycle: each strongly connected component takes one row
        condensed = nx.condensation(g)
        comp_row = {c: r for r, gen in enumerate(nx.topological_generations(condensed)) for c in gen}
        return {nid: comp_row[c] for nid, c in condensed.graph["mapping"].items()}


def _place_row(slots: list[_Slot], want: dict, x_of: dict) -> None:
    """Give every slot of one ordered row an x: priority placement with fixed spacing."""
    n = len(slots)
    placed: dict[int, float] = {}
    priority = sorted(range(n), key=lambda i: (not slots[i].via, -slots[i].degree, i))
    for i in priority:
        lo, hi = float("-inf"), float("inf")
        for j, x in placed.items():
            if j < i:
                lo = max(lo, x + (i - j) * LAYOUT_STEP_X)
            else:
                hi = min(hi, x - (j - i) * LAYOUT_STEP_X)
        placed[i] = min(max(want[slots[i].key], lo), hi)
    for i, slot in enumerate(slots):
        x_of[slot.key] = placed[i]


def layered_positions(design: Design, origin: Position | None = None) -> dict[str, Position]:
    """New top-left positions for every node. ``origin`` is where the layout's top-left lands;
    by default the design's current top-left, so the network stays where the user looks."""
    if not len(design):
        return {}
    g = to_networkx(design)
    row_of = _layers(g)
    order = {nid: i for i, nid in enumerate(design.node_ids_in_order())}
    rows: list[list[_Slot]] = [[] for _ in range(max(row_of.values()) + 1)]
    slots: dict = {}
    for nid in design.node_ids_in_order():
        slot = _Slot(nid, degree=g.degree(nid), order=order[nid])
        slots[nid] = slot
        rows[row_of[nid]].append(slot)
    for k, edge in enumerate(design.edges):
        top, bottom = row_of[edge.src], row_of[edge.dst]
        previous = slots[edge.src]
        if bottom <= top:  # a link back up (inside a cycle): no waypoints
            slots[edge.dst].parents.append(previous)
            continue
        for r in range(top + 1, bottom):
            via = _Slot(("via", k, r), [previous], via=True, order=order[edge.src])
            rows[r].append(via)
            previous = via
        slots[edge.dst].parents.append(previous)

    x_of: dict = {}
    for row in rows:
        want: dict = {}
        for slot in row:
            parents = [p for p in slot.parents if p.key in x_of]
            skips = [p for p in parents if p.via]
            chosen = skips or parents
            want[slot.key] = (sum(x_of[p.key] for p in chosen) / len(chosen)) if chosen else None
        free_x = max(x_of.values(), default=-LAYOUT_STEP_X) + LAYOUT_STEP_X
        for slot in row:  # roots and nodes fed only from below start to the right of the rest
            if want[slot.key] is None:
                want[slot.key] = free_x
                free_x += LAYOUT_STEP_X
        row.sort(key=lambda s: (want[s.key], not s.via, s.order))
        _place_row(row, want, x_of)
    positions = {nid: (x_of[nid], row_of[nid] * LAYOUT_STEP_Y) for nid in row_of}
    if origin is None:
        origin = (min(n.position[0] for n in design.nodes), min(n.position[1] for n in design.nodes))
    min_x = min(p[0] for p in positions.values())
    return {nid: (round(x - min_x + origin[0], 1), round(y + origin[1], 1))
            for nid, (x, y) in positions.items()}
