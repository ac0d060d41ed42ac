"""Auto-layout along both flows, and the flow stored with the design."""
from __future__ import annotations

import pytest

from graph.design import Design, DesignError, Edge
from graph.fileformat import DesignFileError, dumps, loads
from graph.layout import SPACING, layered_positions, ranks


def residual(n_blocks: int) -> Design:
    """x → (fc → relu → fc, skip) → add → relu, ``n_blocks`` times, → y."""
    design = Design("residual")
    trunk = design.add_node(design.make_node("Input", params={"shape": [8]})).id
    for _ in range(n_blocks):
        fc1 = design.add_node(design.make_node("Linear", params={"out_features": 8})).id
        act = design.add_node(design.make_node("ReLU")).id
        fc2 = design.add_node(design.make_node("Linear", params={"out_features": 8})).id
        add = design.add_node(design.make_node("Add")).id
        out = design.add_node(design.make_node("ReLU")).id
        for a, b in ((trunk, fc1), (fc1, act), (act, fc2), (trunk, add), (fc2, add), (add, out)):
            design.add_edge(Edge(a, b))
        trunk = out
    y = design.add_node(design.make_node("Output")).id
    design.add_edge(Edge(trunk, y))
    return design


@pytest.mark.parametrize("flow", ["down", "right"])
def test_each_generation_is_one_rank_along_the_flow(flow):
    design = residual(3)
    positions = layered_positions(design, flow, origin=(0.0, 0.0))
    rank_of = ranks(design)
    along, across = (1, 0) if flow == "down" else (0, 1)
    rank_step, step = SPACING[flow]
    for nid, rank in rank_of.items():
        assert positions[nid][along] == rank * rank_step
    # the trunk stays straight: every Add lines up with the ReLU after it and the Input
    trunk = {positions[n.id][across] for n in design.nodes if n.type in ("Input", "Add", "Output")}
    assert len(trunk) == 1
    # neighbours in a rank never overlap
    by_rank: dict[int, list[float]] = {}
    for nid, rank in rank_of.items():
        by_rank.setdefault(rank, []).append(positions[nid][across])
    for values in by_rank.values():
        values.sort()
        assert all(b - a >= step for a, b in zip(values, values[1:]))


def test_the_layout_defaults_to_the_designs_flow_and_keeps_its_top_left():
    design = residual(1)
    for node in design.nodes:
        design.move_node(node.id, (500.0, 300.0))
    design.set_flow("right")
    positions = layered_positions(design)
    assert min(p[0] for p in positions.values()) == 500.0
    assert min(p[1] for p in positions.values()) == 300.0
    xs = sorted({p[0] for p in positions.values()})
    assert xs[1] - xs[0] == SPACING["right"][0]


def test_a_thousand_layers_lay_out_without_overlaps():
    design = residual(200)
    positions = layered_positions(design, "right")
    assert len(positions) == len(design) == 1002
    assert len(set(positions.values())) == len(design)


def test_flow_is_saved_only_when_it_is_not_the_default_and_loads_back():
    design = residual(1)
    assert "flow" not in design.to_dict()
    design.set_flow("right")
    again = loads(dumps(design))
    assert again.flow == "right" and design.copy().flow == "right"
    with pytest.raises(DesignError):
        design.set_flow("up")


def test_a_bad_flow_in_a_file_names_the_field():
    doc = dumps(residual(1)).replace('"format_version"', '"flow": "sideways",\n  "format_version"')
    with pytest.raises(DesignFileError) as info:
        loads(doc)
    assert "flow" in str(info.value)


def test_set_flow_emits_once_and_only_on_change():
    design = residual(1)
    seen = []
    design.settings_changed.connect(seen.append)
    design.set_flow("right")
    design.set_flow("right")
    assert seen == ["flow"]
