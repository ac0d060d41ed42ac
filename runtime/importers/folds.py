"""Rewrites of a converted design that need every reader of a value, so they run at the end.

A bidirectional RNN that returns its last step (Netwright's ``Recurrent``, torch's usual
classifier readout) joins the forward direction's last step with the backward direction's
first: ``cat([out[:, -1, :h], out[:, 0, h:]], 1)``. Exporters write that as the whole sequence
and the steps that pick and join the two parts; here such a region, found by structure and
then checked on the positions of a sequence (which entry lands where), becomes the RNN with
``return_sequence`` off again.
"""
from __future__ import annotations

from typing import Any

import torch

from graph.catalog import CATALOG

from ..compiler import build_layer
from .builder import DesignBuilder, Tensor

RECURRENT = ("LSTM", "GRU", "RNN")
MOVES = {"Slice", "Flatten", "Reshape", "Permute"}  # layers that only pick and move entries
MAX_CHAIN = 8


def fold_joined_last_steps(builder: DesignBuilder) -> None:
    """Every bidirectional RNN whose sequence is read only by such a join → its last step."""
    design = builder.design
    for node in list(design.nodes):
        if node.type not in RECURRENT:
            continue
        params = node.resolved_params()
        if not (params["bidirectional"] and params["return_sequence"]):
            continue
        region = _join_region(builder, node.id)
        if region is None:
            continue
        concat, chains = region
        if not _picks_last_steps(builder, node.id, concat, chains, params["hidden_size"]):
            continue
        readers = design.out_edges(concat)
        for nid in [n for chain in chains for n in chain] + [concat]:
            design.remove_node(nid)
            for table in (builder.weights, builder.shapes, builder.paths):
                table.pop(nid, None)
        builder.update(Tensor(node.id, builder.shapes[node.id]), {"return_sequence": False})
        for edge in readers:
            design.add_edge(type(edge)(node.id, edge.dst, "out", edge.dst_port))


def _join_region(builder: DesignBuilder, rnn: str) -> tuple[str, list[list[str]]] | None:
    """The Concat that two chains of moving layers from ``rnn`` (its only readers) meet at,
    and the chains in the Concat's input order."""
    design = builder.design
    starts = [e.dst for e in design.out_edges(rnn)]
    if len(starts) != 2 or starts[0] == starts[1]:
        return None
    ends: dict[str, list[str]] = {}
    for start in starts:
        chain, nid = [], start
        while design.node(nid).type in MOVES and len(chain) < MAX_CHAIN:
            outs = design.out_edges(nid)
            if len(outs) != 1 or len(design.in_edges(nid)) != 1:
                return None
            chain.append(nid)
            nid = outs[0].dst
        if not chain or design.node(nid).type != "Concat":
            return None
        ends[chain[-1]] = chain
    concats = {design.out_edges(end)[0].dst for end in ends}
    if len(concats) != 1:
        return None
    concat = concats.pop()
    order = [e.src for e in design.in_edges(concat)]
    if sorted(order) != sorted(ends):
        return None
    return concat, [ends[src] for src in order]


def _picks_last_steps(builder: DesignBuilder, rnn: str, concat: str, chains: list[list[str]],
                      hidden: int) -> bool:
    """Run the region on the positions of one sequence: it must give what the RNN's
    last-step output joins, entry for entry."""
    steps, width = builder.shapes[rnn]
    positions = torch.arange(steps * width, dtype=torch.float64).reshape(1, steps, width)
    parts = [_run(builder, chain, positions) for chain in chains]
    if any(p is None for p in parts):
        return False
    joined = _apply(builder, concat, parts)
    expected = torch.cat([positions[:, -1, :hidden], positions[:, 0, hidden:]], dim=1)
    return joined is not None and joined.shape == expected.shape and bool((joined == expected).all())


def _run(builder: DesignBuilder, chain: list[str], x: torch.Tensor) -> torch.Tensor | None:
    for nid in chain:
        x = _apply(builder, nid, [x])
        if x is None:
            return None
    return x


def _apply(builder: DesignBuilder, nid: str, xs: list[torch.Tensor]) -> Any:
    node = builder.design.node(nid)
    layer = CATALOG[node.type]
    try:
        module = build_layer(layer, layer.resolve(node.params), [tuple(x.shape[1:]) for x in xs])
        with torch.no_grad():
            return module(*xs)
    except (RuntimeError, ValueError, TypeError, IndexError):
        return None
