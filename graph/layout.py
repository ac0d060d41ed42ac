"""Auto-layout: layers by topological generation along the design's flow, links kept straight.

A small Sugiyama-style layout, the same for both flows (:data:`graph.design.FLOWS`): each
generation is a *rank* (a row when data flows down, a column when it flows right), and nodes
spread across it.

1. each generation of :func:`networkx.topological_generations` becomes a rank (a design with a
   cycle is layered through its condensation);
2. a link that spans several ranks gets a virtual waypoint in each rank between, so skip
   connections run beside the layers they skip instead of through them;
3. rank by rank, nodes are sorted by where they want to be across (the mean of their parents';
   a node fed by a skip connection lines up with the skip, so a residual trunk stays straight)
   and placed by priority — waypoints first, then the best connected nodes — each as near its
   wish as the already placed ones allow.

Positions are the top-left corners of nodes; :data:`SPACING` says how far apart ranks and
neighbours sit (the canvas draws nodes to fit it). It is linear in the design's size: a
1,000-layer design lays out in a few tens of milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from .design import FLOWS, Design
from .validate import to_networkx

Position = tuple[float, float]

SPACING: dict[str, tuple[float, float]] = {"down": (110.0, 190.0), "right": (220.0, 96.0)}
"""Per flow: (distance between ranks, distance between neighbours in a rank), in canvas units.
Down, ranks are 110 apart (a node and the label of the link below it) and neighbours 190;
right, ranks leave room for a link's shape label between nodes and neighbours stack closely."""


@dataclass
class _Slot:
    key: str | tuple  # a node id, or ("via", edge number, rank) for a waypoint
    parents: list = field(default_factory=list)  # slots in the rank before
    via: bool = False
    degree: int = 0
    order: int = 0


def ranks(design: Design) -> dict[str, int]:
    """Each node's generation: 0 for nodes fed by nothing, else one more than its latest input
    (nodes on a cycle share their component's rank)."""
    g = to_networkx(design)
    try:
        gens = list(nx.topological_generations(g))
        return {nid: r for r, gen in enumerate(gens) for nid in gen}
    except nx.NetworkXUnfeasible:  # a cycle: each strongly connected component takes one rank
        condensed = nx.condensation(g)
        comp_rank = {c: r for r, gen in enumerate(nx.topological_generations(condensed)) for c in gen}
        return {nid: comp_rank[c] for nid, c in condensed.graph["mapping"].items()}


def _place_rank(slots: list[_Slot], want: dict, across: dict, step: float) -> None:
    """Give every slot of one ordered rank a place across it: priority placement, fixed step."""
    placed: dict[int, float] = {}
    priority = sorted(range(len(slots)), key=lambda i: (not slots[i].via, -slots[i].degree, i))
    for i in priority:
        lo, hi = float("-inf"), float("inf")
        for j, x in placed.items():
            if j < i:
                lo = max(lo, x + (i - j) * step)
            else:
                hi = min(hi, x - (j - i) * step)
        placed[i] = min(max(want[slots[i].key], lo), hi)
    for i, slot in enumerate(slots):
        across[slot.key] = placed[i]


def _slots_by_rank(design: Design, rank_of: dict[str, int]) -> list[list[_Slot]]:
    """The nodes of each rank, plus a waypoint in every rank a link passes through."""
    order = {nid: i for i, nid in enumerate(design.node_ids_in_order())}
    rows: list[list[_Slot]] = [[] for _ in range(max(rank_of.values()) + 1)]
    slots: dict = {}
    for nid in design.node_ids_in_order():
        degree = len(design.in_edges(nid)) + len(design.out_edges(nid))
        slots[nid] = _Slot(nid, degree=degree, order=order[nid])
        rows[rank_of[nid]].append(slots[nid])
    for k, edge in enumerate(design.edges):
        first, last = rank_of[edge.src], rank_of[edge.dst]
        previous = slots[edge.src]
        if last <= first:  # a link backwards (inside a cycle): no waypoints
            slots[edge.dst].parents.append(previous)
            continue
        for r in range(first + 1, last):
            via = _Slot(("via", k, r), [previous], via=True, order=order[edge.src])
            rows[r].append(via)
            previous = via
        slots[edge.dst].parents.append(previous)
    return rows


def layered_positions(design: Design, flow: str | None = None,
                      origin: Position | None = None) -> dict[str, Position]:
    """New top-left positions for every node, laid out along ``flow`` (default: the design's).
    ``origin`` is where the layout's top-left lands; by default the design's current top-left,
    so the network stays where the user looks."""
    if not len(design):
        return {}
    flow = flow or design.flow
    if flow not in FLOWS:
        raise ValueError(f"flow must be one of {FLOWS}")
    rank_step, step = SPACING[flow]
    rank_of = ranks(design)
    across: dict = {}
    for row in _slots_by_rank(design, rank_of):
        want: dict = {}
        for slot in row:
            parents = [p for p in slot.parents if p.key in across]
            chosen = [p for p in parents if p.via] or parents
            want[slot.key] = (sum(across[p.key] for p in chosen) / len(chosen)) if chosen else None
        free = max(across.values(), default=-step) + step
        for slot in row:  # roots and nodes fed only from later ranks start beyond the rest
            if want[slot.key] is None:
                want[slot.key] = free
                free += step
        row.sort(key=lambda s: (want[s.key], not s.via, s.order))
        _place_rank(row, want, across, step)
    lowest = min(across[nid] for nid in rank_of)
    if origin is None:
        origin = (min(n.position[0] for n in design.nodes), min(n.position[1] for n in design.nodes))
    out = {}
    for nid, r in rank_of.items():
        along, side = r * rank_step, across[nid] - lowest
        x, y = (side, along) if flow == "down" else (along, side)
        out[nid] = (round(x + origin[0], 1), round(y + origin[1], 1))
    return out


def lay_out(design: Design) -> None:
    """Move every node of ``design`` and of each of its block bodies to its layered position
    (for designs built by code, such as templates), along the design's flow."""
    for network in (design, *(block.body for block in design.blocks)):
        for nid, position in layered_positions(network, design.flow, origin=(0.0, 0.0)).items():
            network.move_node(nid, position)
