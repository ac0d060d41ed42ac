"""The design model: edits, their events, and the adjacency index behind the queries."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.design import Design, DesignError, Edge
from tests.graph.util import Build, mlp


class Recorder:
    """Records every event a design emits, as (signal name, payload…)."""

    SIGNALS = ("node_added", "node_removed", "node_changed", "edge_added", "edge_removed",
               "settings_changed", "changed", "layout_changed")

    def __init__(self, design: Design) -> None:
        self.events: list[tuple] = []
        for name in self.SIGNALS:
            getattr(design, name).connect(lambda *args, _n=name: self.events.append((_n, *args)))

    def names(self) -> list[str]:
        events, self.events = self.events, []
        return [e[0] for e in events]


@pytest.fixture
def model():
    b = mlp()
    return b, Recorder(b.design)


def test_each_real_change_fires_its_event_and_changed_once(model):
    b, rec = model
    d, fc1 = b.design, b.id("fc1")

    d.set_param(fc1, "out_features", 16)
    assert rec.names() == ["node_changed", "changed"]
    d.set_params(fc1, {"out_features": 8, "bias": False})
    assert rec.names() == ["node_changed", "changed"]
    d.rename_node(fc1, "hidden")
    assert rec.names() == ["node_changed", "changed"]
    d.move_node(fc1, (10, 20))  # the layout: nothing to validate or compute again
    assert rec.names() == ["node_changed", "layout_changed"]
    d.set_flow("right")
    assert rec.names() == ["settings_changed", "layout_changed"]
    d.set_training(dict(d.training, lr=0.5))
    assert rec.names() == ["settings_changed", "changed"]
    d.set_data(dict(d.data, val_fraction=0.3))
    assert rec.names() == ["settings_changed", "changed"]

    node = d.add_node(d.make_node("Dropout"))
    assert rec.names() == ["node_added", "changed"]
    edge = d.add_edge(Edge(b.id("relu"), node.id))
    assert rec.names() == ["edge_added", "changed"]
    assert d.remove_edge(edge) == len(d.edges)
    assert rec.names() == ["edge_removed", "changed"]


def test_no_op_changes_fire_nothing(model):
    b, rec = model
    d, fc1 = b.design, b.id("fc1")
    d.set_param(fc1, "out_features", 32)
    d.set_params(fc1, {"out_features": 32})
    d.rename_node(fc1, "fc1")
    d.move_node(fc1, (0, 0))
    d.move_node(fc1, (0.0, 0.0))
    d.set_training(dict(d.training))
    d.set_data(dict(d.data))
    assert rec.names() == []


def test_equal_looking_values_of_another_type_are_real_changes(model):
    """An invalid 32.0 replaced by a valid 32 (or True by 1) must reach the model."""
    b, rec = model
    d, fc1 = b.design, b.id("fc1")
    d.set_param(fc1, "out_features", 32.0)
    assert rec.names() == ["node_changed", "changed"]
    d.set_param(fc1, "out_features", 32)
    assert rec.names() == ["node_changed", "changed"]
    assert type(d.node(fc1).params["out_features"]) is int
    d.set_param(fc1, "bias", True)
    d.set_param(fc1, "bias", 1)
    assert rec.names() == ["node_changed", "changed"] * 2
    d.set_training(dict(d.training, epochs=10.0))
    assert rec.names() == ["settings_changed", "changed"]


def test_setting_a_default_explicitly_is_a_change(model):
    b, rec = model
    b.design.set_param(b.id("fc1"), "bias", True)  # default, but not yet written in params
    assert rec.names() == ["node_changed", "changed"]
    assert b.design.node(b.id("fc1")).params["bias"] is True


def test_remove_node_removes_its_links_and_signals_changed_once(model):
    b, rec = model
    d, relu = b.design, b.id("relu")
    links = d.edges_of(relu)
    assert len(links) == 2
    removed = d.remove_node(relu)
    assert removed.name == "relu"
    assert rec.names() == ["edge_removed", "edge_removed", "node_removed", "changed"]
    assert not d.has_node(relu)
    assert all(not d.has_edge(e) for e in links)
    assert d.out_edges(b.id("fc1")) == [] and d.in_edges(b.id("fc2")) == []


def test_refused_edits_raise_and_fire_nothing(model):
    b, rec = model
    d = b.design
    with pytest.raises(DesignError, match="already exists"):
        d.add_node(d.node(b.id("fc1")))
    with pytest.raises(DesignError, match="no node"):
        d.add_edge(Edge("nope", b.id("fc1")))
    with pytest.raises(DesignError, match="already linked"):
        d.add_edge(d.edges[0])
    with pytest.raises(DesignError, match="no such link"):
        d.remove_edge(Edge(b.id("pixels"), b.id("logits")))
    with pytest.raises(DesignError, match="no node"):
        d.set_param("nope", "p", 1)
    assert rec.names() == []


def test_names_and_ids_are_unique():
    d = Design()
    a = d.add_node(d.make_node("Linear"))
    c = d.add_node(d.make_node("Linear"))
    e = d.add_node(d.make_node("MultiheadSelfAttention"))
    assert (a.name, c.name, e.name) == ("linear", "linear_2", "multihead_self_attention")
    assert len({a.id, c.id, e.id}) == 3
    d.remove_node(a.id)
    assert d.make_node("Linear").id not in {c.id, e.id}
    assert d.unique_name("linear_2") == "linear"


def test_insert_at_index_keeps_merge_order():
    """Undo re-inserts a link where it was, and a merge's inputs follow link order."""
    b = Build()
    b.add("Input", "x", shape=[4])
    b.add("ReLU", "a", "x")
    b.add("Tanh", "c", "x")
    b.add("Concat", "cat", ["a", "c"])
    d = b.design
    first = d.in_edges(b.id("cat"))[0]
    index = d.remove_edge(first)
    assert [e.src for e in d.in_edges(b.id("cat"))] == [b.id("c")]
    d.add_edge(first, index)
    assert [e.src for e in d.in_edges(b.id("cat"))] == [b.id("a"), b.id("c")]
    assert d.edge_index(first) == index


def test_copy_and_to_dict_round_trip():
    d = mlp().design
    assert d.copy().to_dict() == d.to_dict()
    assert d.copy() is not d


# ---- the adjacency index agrees with the link list under any sequence of edits -----------------

OPS = st.lists(st.tuples(st.sampled_from(["add", "insert", "remove", "drop_node", "new_node"]),
                         st.integers(0, 9), st.integers(0, 9), st.integers(0, 20)),
               max_size=40)


@settings(max_examples=60, deadline=None)
@given(ops=OPS)
def test_index_matches_a_plain_scan(ops):
    d = Design()
    for _ in range(6):
        d.add_node(d.make_node("Add"))
    for op, i, j, k in ops:
        ids = d.node_ids_in_order()
        if op == "new_node":
            d.add_node(d.make_node("Add"))
            continue
        if not ids:
            continue
        src, dst = ids[i % len(ids)], ids[j % len(ids)]
        if op in ("add", "insert"):
            edge = Edge(src, dst)
            if not d.has_edge(edge):
                d.add_edge(edge, k if op == "insert" else None)
        elif op == "remove" and d.edges:
            d.remove_edge(d.edges[k % len(d.edges)])
        elif op == "drop_node":
            d.remove_node(src)
    edges = d.edges
    assert len(set(edges)) == len(edges)
    for nid in d.node_ids_in_order():
        assert d.in_edges(nid) == [e for e in edges if e.dst == nid]
        assert d.out_edges(nid) == [e for e in edges if e.src == nid]
        assert d.in_edges(nid, "in") == [e for e in edges if e.dst == nid]
        assert d.out_edges(nid, "other") == []
        assert d.edges_of(nid) == [e for e in edges if nid in (e.src, e.dst)]
    for e in edges:
        assert d.has_edge(e) and d.has_node(e.src) and d.has_node(e.dst)
