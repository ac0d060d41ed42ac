"""Grouping and ungrouping keep the input order of merge layers outside the selection (a
Concat's inputs follow the link order, so a reordered link changes what the network computes)."""
from __future__ import annotations

from graph.design import Design, Edge
from graph.grouping import group_into_block, ungroup


def _concat_design() -> tuple[Design, dict[str, str]]:
    design = Design("order")
    ids = {}
    for name, kind in [("x", "Input"), ("a", "Linear"), ("b", "Linear"), ("c", "Concat"),
                       ("o", "Output")]:
        ids[name] = design.add_node(design.make_node(kind, name=name)).id
    design.set_param(ids["x"], "shape", [4])
    for src, dst in [("x", "a"), ("x", "b"), ("a", "c"), ("b", "c"), ("c", "o")]:
        design.add_edge(Edge(ids[src], ids[dst]))
    return design, ids


def _inputs(design: Design, node_id: str) -> list[str]:
    return [design.node(e.src).name for e in design.in_edges(node_id)]


def test_grouping_the_first_input_of_a_concat_keeps_it_first():
    design, ids = _concat_design()
    edit = group_into_block(design, [ids["a"]], "Left")
    edit.apply(design)
    instance = design.node(edit.result).name
    assert _inputs(design, ids["c"]) == [instance, "b"]
    edit.revert(design)
    assert _inputs(design, ids["c"]) == ["a", "b"]


def test_ungrouping_keeps_the_order_too():
    design, ids = _concat_design()
    grouped = group_into_block(design, [ids["a"]], "Left")
    grouped.apply(design)
    inline = ungroup(design, grouped.result)
    inline.apply(design)
    assert [design.node(e.src).type for e in design.in_edges(ids["c"])] == ["Linear", "Linear"]
    assert _inputs(design, ids["c"])[1] == "b"  # the inlined copy of a comes first again
    inline.revert(design)
    assert _inputs(design, ids["c"]) == [design.node(grouped.result).name, "b"]
