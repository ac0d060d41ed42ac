"""Shape inference over whole designs, and the per-layer summary built on it."""
from __future__ import annotations

from graph.fileformat import load
from graph.shapes import describe, infer, topological_order
from graph.summary import BYTES_PER_VALUE, human_bytes, human_count, summarize
from tests.conftest import EXAMPLES
from tests.graph.util import Build, cnn, mlp


def test_cnn_shapes_params_and_macs():
    b = cnn()
    inf = infer(b.design)
    shapes = {b.design.node(nid).name: s for nid, s in inf.shapes.items()}
    assert shapes == {"image": (1, 8, 8), "conv1": (4, 8, 8), "relu": (4, 8, 8), "pool": (4, 4, 4),
                      "conv2": (8, 4, 4), "flatten": (128,), "fc": (10,), "logits": (10,)}
    params = {b.design.node(nid).name: n for nid, n in inf.params.items() if n}
    assert params == {"conv1": 1 * 4 * 9 + 4, "conv2": 4 * 8 * 9 + 8, "fc": 128 * 10 + 10}
    assert inf.macs[b.id("conv1")] == 4 * 8 * 8 * 9
    assert inf.macs[b.id("fc")] == 1280
    assert inf.total_params == sum(params.values()) and inf.total_macs == sum(inf.macs.values())
    assert inf.input_shapes[b.id("fc")] == [(128,)]
    assert describe(inf, b.id("pool")) == "4×8×8 → 4×4×4"
    assert describe(inf, b.id("image")) == "1×8×8"
    assert inf.edge_shape(b.design.in_edges(b.id("fc"))[0]) == (128,)
    assert inf.errors == {}


def test_input_shapes_can_be_overridden():
    b = cnn()
    inf = infer(b.design, {b.id("image"): (1, 16, 16)})
    assert inf.shapes[b.id("flatten")] == (8 * 8 * 8,)


def test_merge_inputs_follow_link_order():
    b = Build()
    b.add("Input", "x", shape=[2, 5])
    b.add("Linear", "wide", "x", out_features=7)
    b.add("Linear", "narrow", "x", out_features=3)
    b.add("Concat", "cat", ["narrow", "wide"], dim=-1)
    inf = infer(b.design)
    assert inf.input_shapes[b.id("cat")] == [(2, 3), (2, 7)]
    assert inf.shapes[b.id("cat")] == (2, 10)


def test_errors_stop_at_the_node_at_fault():
    b = mlp()
    b.design.set_param(b.id("fc1"), "out_features", "wide")
    inf = infer(b.design)
    assert inf.errors[b.id("fc1")].message.startswith("out_features must be a whole number")
    assert b.id("relu") not in inf.shapes and b.id("relu") not in inf.errors
    b = mlp()
    b.add("Reshape", "bad", "pixels", shape=[5, 5])
    err = infer(b.design).errors[b.id("bad")]
    assert "cannot reshape 64 (64 values) into 5×5 (25 values)" == err.message
    assert err.fix == "use −1 for one dimension to infer it"


def test_topological_order_leaves_cycles_out():
    b = mlp()
    b.add("Add", "loop", "relu")
    b.add("ReLU", "back", "loop")
    b.link("back", "loop")
    order, rest = topological_order(b.design)
    assert rest == {b.id("loop"), b.id("back")}
    assert order.index(b.id("pixels")) < order.index(b.id("fc1")) < order.index(b.id("logits"))


def test_summary_of_the_mlp():
    b = mlp()
    s = summarize(b.design)
    assert [r.name for r in s.rows] == ["pixels", "fc1", "relu", "fc2", "logits"]
    assert [r.shape for r in s.rows] == ["64", "32", "32", "10", "10"]
    assert [r.params for r in s.rows] == [0, 64 * 32 + 32, 0, 32 * 10 + 10, 0]
    assert s.rows[1].type == "Linear (Dense)" and s.rows[1].macs == 64 * 32
    assert s.total_params == 2410 and s.param_bytes == 2410 * BYTES_PER_VALUE
    assert s.batch_size == 64
    assert s.activation_bytes == (64 + 32 + 32 + 10) * 64 * BYTES_PER_VALUE
    assert s.training_bytes == 4 * s.param_bytes + s.activation_bytes  # all of it trains
    b.design.set_training_flags(b.id("fc1"), trainable=False)  # frozen: no gradient, no Adam
    frozen = summarize(b.design)
    assert frozen.frozen_params == 64 * 32 + 32 and frozen.trainable_params == 32 * 10 + 10
    assert frozen.training_bytes == (s.param_bytes + 3 * (32 * 10 + 10) * BYTES_PER_VALUE
                                     + s.activation_bytes)


def test_summary_of_a_broken_design_still_lists_every_node():
    b = mlp()
    b.design.set_param(b.id("fc2"), "out_features", -1)
    s = summarize(b.design)
    assert len(s.rows) == 5 and s.rows[3].shape == "?" and s.rows[3].params == 0


def test_summary_of_the_examples_matches_inference():
    for path in sorted(EXAMPLES.glob("*.json")):
        design = load(path)
        s = summarize(design)
        assert len(s.rows) == len(design)
        assert s.total_params == sum(r.params for r in s.rows) > 0
        assert all(r.shape != "?" for r in s.rows), path.name


def test_human_units():
    assert [human_count(n) for n in (999, 1000, 1_500_000, 2_000_000_000)] == [
        "999", "1.00k", "1.50M", "2.00G"]
    assert [human_bytes(n) for n in (10, 2048, 3 * 2**20, 2**31)] == [
        "10 B", "2.0 KiB", "3.0 MiB", "2.0 GiB"]
