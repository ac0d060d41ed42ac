"""Validation: every diagnostic kind, pinned to the right node, with its fix; can_connect."""
from __future__ import annotations

import pytest

from graph.catalog import CATALOG
from graph.design import Design, Edge, Node
from graph.fileformat import load
from graph.layers import MAX_MERGE_INPUTS
from graph.validate import ERROR, WARNING, can_connect, validate
from tests.conftest import EXAMPLES
from tests.graph.util import Build, cnn, mlp


def diags(design: Design, code: str, **kwargs):
    return [d for d in validate(design, **kwargs).diagnostics if d.code == code]


def only(design: Design, code: str, **kwargs):
    found = diags(design, code, **kwargs)
    assert len(found) == 1, [d.format(design) for d in validate(design, **kwargs).diagnostics]
    return found[0]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_examples_are_valid_without_warnings(path):
    design = load(path)
    report = validate(design)
    assert report.ok and report.diagnostics == [], [d.format(design) for d in report.diagnostics]
    assert set(report.inference.shapes) == {n.id for n in design.nodes}


def test_valid_designs_have_no_diagnostics():
    for b in (mlp(), cnn()):
        assert validate(b.design).diagnostics == []


# ---- structure -------------------------------------------------------------------------------------


def test_cycle_names_the_nodes_on_it():
    b = Build(as_images=False)
    b.add("Input", "x", shape=[64])
    b.add("Add", "merge", "x")
    b.add("Linear", "a", "merge", out_features=64)
    b.add("ReLU", "c", "a")
    b.link("c", "merge")
    b.add("Linear", "head", "c", out_features=10)
    b.add("Output", "y", "head")
    found = diags(b.design, "cycle")
    assert {d.node for d in found} == {b.id("merge"), b.id("a"), b.id("c")}
    for d in found:
        assert d.severity == ERROR and d.fix == "remove one link of the cycle"
        path = d.message.removeprefix("is on a cycle: ").split(" → ")
        assert set(path) == {"merge", "a", "c"} and path[0] == path[-1] and len(path) == 4
    # Nodes on the cycle are not also blamed for being unreachable.
    assert {d.node for d in diags(b.design, "unreachable")}.isdisjoint({d.node for d in found})


def test_self_link_is_a_cycle():
    b = mlp()
    b.link("relu", "relu")
    found = only(b.design, "cycle")
    assert found.node == b.id("relu") and "relu → relu" in found.message


def test_no_input_and_no_output():
    b = Build()
    b.add("Linear", "fc", None)
    assert only(b.design, "no-input").message == "the network has no Input layer"
    assert only(b.design, "no-output").fix == "add an Output layer after the last layer"
    assert only(Design(), "no-input").node is None


def test_not_reachable_from_an_input():
    b = mlp()
    b.add("Linear", "orphan", None, out_features=4)
    b.add("ReLU", "orphan_relu", "orphan")
    b.link("orphan_relu", "logits")  # now logits has two links, too
    found = diags(b.design, "unreachable")
    assert {d.node for d in found} == {b.id("orphan"), b.id("orphan_relu")}
    assert found[0].message == "is not connected to any Input"


def test_not_leading_to_an_output():
    b = mlp()
    b.add("Linear", "side", "relu", out_features=3)
    b.add("ReLU", "side_relu", "side")
    dead = only(b.design, "dead-end")
    assert dead.node == b.id("side") and dead.severity == WARNING
    unused = only(b.design, "unused")
    assert unused.node == b.id("side_relu") and unused.severity == WARNING
    assert validate(b.design).ok  # warnings only


def test_an_input_that_feeds_nothing_is_a_warning():
    """The trial: an extra, unconnected Input layer reported "No problems"."""
    b = mlp()
    b.add("Input", "extra", shape=[4])
    found = only(b.design, "unused")
    assert found.node == b.id("extra") and found.severity == WARNING
    assert found.message == "this Input feeds no layer" and "delete it" in found.fix
    assert validate(b.design).ok  # a warning: training still runs
    assert diags(mlp().design, "unused") == []  # a used Input is fine


def test_unconnected_inputs_and_too_few_links():
    b = mlp()
    b.add("Linear", "loose", None, out_features=3)
    found = [d for d in diags(b.design, "arity") if d.node == b.id("loose")]
    assert [d.message for d in found] == ["its input is not connected"]
    b2 = Build()
    b2.add("Input", "x", shape=[4])
    b2.add("Add", "sum", "x")
    b2.add("Output", "y", "sum")
    d = only(b2.design, "arity")
    assert d.message == "needs at least 2 inputs, has 1" and d.port == "in"


def test_too_many_links_on_a_port():
    b = mlp()
    b.link("pixels", "fc2")  # fc2 already takes relu
    d = only(b.design, "arity")
    assert d.node == b.id("fc2") and "has 2 links but takes one" in d.message
    assert d.fix == "merge the branches with an Add or Concat first"
    b2 = Build()
    b2.add("Input", "x", shape=[2])
    limit = MAX_MERGE_INPUTS
    for i in range(limit + 1):
        b2.add("ReLU", f"r{i}", "x")
    b2.add("Concat", "cat", [f"r{i}" for i in range(limit + 1)])
    b2.add("Output", "y", "cat")
    assert only(b2.design, "arity").message == f"takes at most {limit} inputs, has {limit + 1}"


def test_links_to_unknown_ports():
    b = mlp()
    d = b.design
    d.add_edge(Edge(b.id("fc1"), b.id("logits"), "hidden", "extra"))
    found = diags(d, "port")
    assert {(x.node, x.port, x.message) for x in found} == {
        (b.id("fc1"), "hidden", "has no output port 'hidden'"),
        (b.id("logits"), "extra", "has no input port 'extra'"),
    }


def test_names_empty_and_duplicate():
    b = mlp()
    b.design.rename_node(b.id("fc2"), "fc1")
    d = only(b.design, "duplicate-name")
    assert "the name 'fc1' is used by another node too" in d.message
    assert d.fix == "rename it, e.g. to 'fc1_2'"
    b.design.rename_node(b.id("relu"), "  ")
    assert only(b.design, "name").message == "the name is empty"


def test_unknown_layer_type_in_memory():
    b = mlp()
    b.design.add_node(Node(id="ghost", type="Conv4d", name="ghost"))
    assert only(b.design, "unknown-type").message == "unknown layer type 'Conv4d'"


# ---- params and shapes -----------------------------------------------------------------------------


def test_params_out_of_range_wrong_type_and_unknown():
    b = cnn()
    d = b.design
    d.set_param(b.id("conv1"), "out_channels", 0)
    d.set_param(b.id("conv2"), "kernel_size", [3])
    d.set_param(b.id("pool"), "ceil_mode", "yes")
    d.set_param(b.id("fc"), "units", 3)
    found = {(x.node, x.param): x for x in diags(d, "param")}
    assert found[(b.id("conv1"), "out_channels")].message == "out_channels must be at least 1, not 0"
    assert found[(b.id("conv1"), "out_channels")].fix == "use a value between 1 and 65536"
    assert found[(b.id("conv2"), "kernel_size")].message == "kernel_size must have 2 values, not 1"
    assert "must be true or false" in found[(b.id("pool"), "ceil_mode")].message
    assert found[(b.id("fc"), "units")].message == "units is not a parameter of Linear"
    assert found[(b.id("fc"), "units")].fix == "remove this parameter"
    assert len(found) == 4
    # A node with bad params gets no extra shape error of its own.
    assert not [x for x in diags(d, "shape") if x.node in {b.id("conv1"), b.id("fc")}]


def test_choice_param_fix_lists_the_choices():
    b = mlp()
    b.design.set_param(b.id("pixels"), "dtype", "float16")
    assert only(b.design, "param").fix == "choose one of float32, int64"


def test_shape_mismatch_suggests_a_flatten_between_the_named_layers():
    b = Build(as_images=True)
    b.add("Input", "image", shape=[1, 8, 8])
    b.add("Conv2d", "conv2", "image", out_channels=4)
    b.add("Linear", "fc1", "conv2", out_features=10)
    b.add("Output", "logits", "fc1")
    d = only(b.design, "shape")
    assert d.node == b.id("fc1")
    assert d.message == "expects features (or a sequence of them), got 4×8×8"
    assert d.fix == "insert a Flatten between conv2 and fc1"
    assert d.format(b.design) == ("error: fc1: expects features (or a sequence of them), got 4×8×8 "
                                  "(fix: insert a Flatten between conv2 and fc1)")
    # Downstream nodes get no shape and no error of their own.
    report = validate(b.design)
    assert b.id("logits") not in report.inference.shapes
    assert not report.for_node(b.id("logits"))


def test_merge_shape_mismatch():
    b = Build(as_images=False)
    b.add("Input", "x", shape=[64])
    b.add("Linear", "a", "x", out_features=8)
    b.add("Linear", "c", "x", out_features=9)
    b.add("Add", "sum", ["a", "c"])
    b.add("Output", "y", "sum")
    d = only(b.design, "shape")
    assert d.node == b.id("sum") and d.message == "inputs have shapes that do not match: 8, 9"
    assert d.fix == "set out_features of a to 9, or out_features of c to 8"


def test_merge_mismatch_fix_names_the_branch_that_can_change():
    b = Build(as_images=False)
    b.add("Input", "x", shape=[64])
    b.add("ReLU", "skip", "x")
    b.add("Linear", "fc", "skip", out_features=32)
    b.add("Add", "sum", ["skip", "fc"])
    b.add("Output", "y", "sum")
    d = only(b.design, "shape")
    assert d.node == b.id("sum") and d.fix == "set out_features of fc to 64"


def test_merge_mismatch_fix_works_for_any_layer_type_with_a_size_param():
    b = Build()
    b.add("Input", "image", shape=[1, 8, 8])
    b.add("Conv2d", "a", "image", out_channels=16, kernel_size=3, padding=1)
    b.add("Conv2d", "c", "a", out_channels=8, kernel_size=3, padding=1)
    b.add("Add", "sum", ["a", "c"])
    b.add("Output", "y", "sum")
    d = only(b.design, "shape")
    assert "out_channels of c to 16" in d.fix
    # applying it clears the error
    b.design.node(b.id("c")).params["out_channels"] = 16
    assert not [x for x in validate(b.design).diagnostics if x.code == "shape"]


def test_kernel_larger_than_the_input():
    b = Build()
    b.add("Input", "image", shape=[1, 8, 8])
    b.add("MaxPool2d", "p1", "image", kernel_size=4)
    b.add("Conv2d", "big", "p1", kernel_size=5, padding=0)
    b.add("Output", "y", "big")
    d = only(b.design, "shape")
    assert d.node == b.id("big") and "too small for kernel 5×5" in d.message


# ---- dataset and training settings against the network ------------------------------------------


def test_dataset_sample_shape_must_fit_the_input():
    b = mlp()
    b.design.set_data(dict(b.design.data, options={"as_images": True}))
    d = only(b.design, "data-shape")
    assert d.node == b.id("pixels") and d.param == "shape"
    assert d.message == ("the dataset digits gives samples of shape 1×8×8, but this Input expects 64")
    assert d.fix == "set the Input shape to [1, 8, 8], or set the dataset option as_images to false"


def test_dataset_shape_fix_offers_an_option_only_when_one_fits():
    b = mlp(in_features=32)
    d = only(b.design, "data-shape")
    assert d.fix == "set the Input shape to [64]"


def test_file_dataset_shape_given_by_the_runtime():
    b = mlp()
    b.design.set_data(dict(b.design.data, name="csv", options={"path": "x.csv"}))
    assert not diags(b.design, "data-shape")  # unknown until the file is read
    d = only(b.design, "data-shape", data_shape=(5,), data_classes=10, data_task="classification")
    assert "gives samples of shape 5" in d.message
    assert only(b.design, "classes", data_shape=(64,), data_classes=3,
                data_task="classification").fix == "set out_features of fc2 to 3"


def test_class_count_must_match_the_output_width():
    b = mlp(classes=7)
    d = only(b.design, "classes")
    assert d.node == b.id("fc2")
    assert d.message == ("the network outputs 7 but digits has 10 classes (cross-entropy needs 10 "
                         "scores per sample)")
    assert d.fix == "set out_features of fc2 to 10"
    b.design.set_training(dict(b.design.training, loss="mse"))  # the trainer's rule too
    assert only(b.design, "classes").message == ("the mse loss needs 10 outputs per sample (or 1 "
                                                 "for two classes), but the network outputs 7")
    assert only(b.design, "loss").severity == WARNING
    b.design.set_param(b.id("fc2"), "out_features", 10)
    assert not diags(b.design, "classes")


def test_classification_output_of_the_wrong_rank():
    b = cnn()
    b.design.remove_node(b.id("fc"))
    b.add("GlobalAvgPool", "gap", None)
    b.link("conv2", "gap")
    b.design.remove_node(b.id("flatten"))
    b.link("gap", "logits")
    d = only(b.design, "classes")
    assert d.fix == "end the network with a Linear of 10 features"


def test_regression_dataset_with_a_classification_loss():
    b = mlp(classes=1, in_features=10)
    b.design.set_data(dict(b.design.data, name="diabetes", options={}))
    d = only(b.design, "loss")
    assert d.severity == ERROR and d.fix == "use the mse, l1 or huber loss"
    b.design.set_training(dict(b.design.training, loss="mse"))
    assert validate(b.design).diagnostics == []


def test_bad_dataset_and_training_settings():
    b = mlp()
    d = b.design
    d.set_data(dict(d.data, name="mnist"))
    assert "dataset setting name unknown dataset 'mnist'" in only(d, "data").message
    d.set_data(dict(d.data, name="digits", val_fraction="lots"))
    assert only(d, "data").message.startswith("dataset setting val_fraction must be a number")
    d.set_data(dict(d.data, val_fraction=0.5, test_fraction=0.5))
    assert "too little for training" in only(d, "data").message
    d.set_data(dict(d.data, test_fraction=0.1, options={"as_images": False, "size": 3}))
    assert "options.size is not an option of digits" in only(d, "data").message
    d.set_data(dict(d.data, options={"as_images": False}))
    d.set_training(dict(d.training, lr=0, metrics="accuracy, auc", device="tpu"))
    messages = sorted(x.message for x in diags(d, "training"))
    assert messages == ["training setting device 'tpu' is not auto, cpu, cuda, cuda:N or mps",
                        "training setting lr must be at least 1e-08, not 0",
                        "training setting metrics unknown metric 'auc' (choose from accuracy, "
                        "top5, precision, recall, f1, mae, rmse, r2)"]


def test_invalid_input_shape_param_does_not_break_the_dataset_check():
    b = mlp()
    b.design.set_param(b.id("pixels"), "shape", 64)
    assert only(b.design, "param").node == b.id("pixels")
    assert not diags(b.design, "data-shape")


GARBAGE = [None, "x", [], {}, -1, 10**12, 1.5, True, [1, "a"], [-5, 0]]


@pytest.mark.parametrize("type_id", [t.type_id for t in CATALOG])
def test_garbage_params_give_diagnostics_not_crashes(type_id):
    layer = CATALOG[type_id]
    for param in layer.params:
        for value in GARBAGE:
            b = Build()
            if type_id != "Input":
                b.add("Input", "x", shape=[4, 6])
            b.add(type_id, "node", None if type_id == "Input" else "x")
            b.design.set_param(b.id("node"), param.name, value)
            report = validate(b.design)
            problem = param.check(value)
            bad = [d for d in report.diagnostics if d.code == "param" and d.param == param.name]
            assert bool(bad) == bool(problem), (type_id, param.name, value)


# ---- can_connect --------------------------------------------------------------------------------


@pytest.fixture
def open_ends():
    """x → a → b, and a → sum → c where sum (an Add) has room for more inputs."""
    b = Build()
    b.add("Input", "x", shape=[4])
    b.add("ReLU", "a", "x")
    b.add("Tanh", "b", "a")
    b.add("Add", "sum", "a")
    b.add("Sigmoid", "c", "sum")
    return b


def test_can_connect_yes(open_ends):
    b = open_ends
    assert can_connect(b.design, b.id("b"), b.id("sum")) == (True, "connect b → sum")
    assert can_connect(b.design, b.id("x"), b.id("sum"))[0]


def test_can_connect_refusals(open_ends):
    b = open_ends
    d = b.design
    assert can_connect(d, b.id("a"), "ghost") == (False, "unknown node")
    assert can_connect(d, b.id("a"), b.id("a")) == (False, "a layer cannot feed itself")
    assert can_connect(d, b.id("b"), b.id("sum"), src_port="left") == (False, "b has no output 'left'")
    assert can_connect(d, b.id("b"), b.id("sum"), dst_port="gate") == (False, "sum has no input 'gate'")
    assert can_connect(d, b.id("x"), b.id("a")) == (False, "these ports are already linked")
    ok, reason = can_connect(d, b.id("x"), b.id("b"))
    assert not ok and reason == ("b's input is already linked to a; remove that link first, or "
                                 "merge with an Add or Concat")
    ok, reason = can_connect(d, b.id("c"), b.id("sum"))
    assert not ok and reason == "this would make a cycle: sum already feeds c"
    ok, reason = can_connect(d, b.id("b"), b.id("x"))
    assert not ok and reason == "x has no input 'in'"


def test_can_connect_respects_variadic_limits():
    b = Build()
    b.add("Input", "x", shape=[2])
    names = [f"r{i}" for i in range(MAX_MERGE_INPUTS + 1)]
    for name in names:
        b.add("ReLU", name, "x")
    b.add("Concat", "cat", names[:-1])
    assert can_connect(b.design, b.id(names[-1]), b.id("cat")) == (
        False, f"cat takes at most {MAX_MERGE_INPUTS} inputs")


def test_can_connect_when_replacing_a_link(open_ends):
    b = open_ends
    d = b.design
    old = d.in_edges(b.id("b"))[0]
    assert can_connect(d, b.id("x"), b.id("b"), replacing=[old]) == (True, "connect x → b")
    # The replaced link itself may be made again (dragging an end back to where it was).
    assert can_connect(d, b.id("a"), b.id("b"), replacing=[old])[0]
    # Re-routing sum→c to c→sum is no cycle once sum→c is gone.
    out = d.out_edges(b.id("sum"))[0]
    assert not can_connect(d, b.id("c"), b.id("sum"))[0]
    assert can_connect(d, b.id("c"), b.id("sum"), replacing=[out]) == (True, "connect c → sum")


# ---- integer token ids -------------------------------------------------------------------------


def _token_model(dtype: str) -> Build:
    b = Build()
    b.add("Input", "tokens", shape=[12], dtype=dtype)
    b.add("Reshape", "same", "tokens", shape=[12])
    b.add("Embedding", "embed", "same", num_embeddings=50, embedding_dim=8)
    b.add("Flatten", "flat", "embed")
    b.add("Linear", "head", "flat", out_features=10)
    b.add("Output", "logits", "head")
    return b


def test_embeddings_read_token_ids_through_reshapes():
    b = _token_model("int64")
    assert not diags(b.design, "dtype")


def test_embedding_fed_floats():
    b = _token_model("float32")
    d = only(b.design, "dtype")
    assert d.node == b.id("embed") and d.fix == "feed it from an Input whose dtype is int64"


def test_token_ids_into_a_float_layer():
    b = _token_model("int64")
    b.add("Linear", "wrong", "same", out_features=3)
    b.add("Output", "aux", "wrong")
    d = only(b.design, "dtype")
    assert d.node == b.id("wrong")
    assert d.message == "receives integer token ids from same; only an Embedding can read them"


@pytest.mark.parametrize("type_id, params", [("Identity", {}), ("Flatten", {}),
                                             ("Permute", {"dims": [0]}), ("Dropout", {}),
                                             ("Slice", {"stop": 6}), ("Scale", {})])
def test_only_pass_through_layers_carry_token_ids(type_id, params):
    """The dtype check asks the catalog's ``pass_through`` flag, not a list of its own."""
    b = Build()
    b.add("Input", "tokens", shape=[12], dtype="int64")
    b.add(type_id, "between", "tokens", **params)
    b.add("Embedding", "embed", "between", num_embeddings=50, embedding_dim=8)
    b.add("Flatten", "flat", "embed")
    b.add("Output", "out", "flat")
    found = diags(b.design, "dtype")
    if CATALOG[type_id].pass_through:
        assert not found
    else:
        assert [d.node for d in found] == [b.id("between"), b.id("embed")]


def test_the_loss_rule_is_one_for_validation_and_training():
    """Validation and the trainer ask graph.losses: what one refuses, the other refuses."""
    from graph.losses import loss_problems, target_form
    from runtime.data import DataInfo, Normalization
    from runtime.training import LossFn, TrainingError

    assert target_form("bce_with_logits", "classification", 1, 2) == "binary"
    assert target_form("mse", "classification", 4, 3) is None
    problem = loss_problems("huber", "regression", (2,), targets=3, dataset="d")[0]
    assert problem.code == "targets" and problem.message == ("the network outputs 2 values per "
                                                             "sample but d has 3 targets")
    info = DataInfo("d", "regression", (4,), "float32", None, [], (3,), {}, Normalization(), "")
    with pytest.raises(TrainingError, match=problem.message.replace("(", r"\(").replace(")", r"\)")):
        LossFn("huber", info, (2,))
    b = mlp(classes=2, in_features=10)
    b.design.set_data(dict(b.design.data, name="diabetes", options={}))
    b.design.set_training(dict(b.design.training, loss="mse"))
    d = only(b.design, "targets", data_targets=1)
    assert d.node == b.id("fc2") and d.fix == "set out_features of fc2 to 1"


# ---- fixes as edits --------------------------------------------------------------------------------


def test_each_worded_fix_carries_its_edits():
    """The fix's words and its edits (graph.fixes) agree, one edit per alternative."""
    from graph.fixes import InsertLayer, RenameNode, SetDataOption, SetParam

    b = Build(as_images=True)
    b.add("Input", "image", shape=[1, 8, 8])
    b.add("Conv2d", "conv2", "image", out_channels=4)
    b.add("Linear", "fc1", "conv2", out_features=10)
    b.add("Output", "logits", "fc1")
    (insert,) = only(b.design, "shape").actions
    assert insert == InsertLayer(Edge(b.id("conv2"), b.id("fc1")), "Flatten",
                                 "insert a Flatten between conv2 and fc1")

    b = Build(as_images=False)
    b.add("Input", "x", shape=[64])
    b.add("Linear", "a", "x", out_features=8)
    b.add("Linear", "c", "x", out_features=9)
    b.add("Add", "sum", ["a", "c"])
    b.add("Output", "y", "sum")
    assert only(b.design, "shape").actions == (
        SetParam(b.id("a"), "out_features", 9, "set out_features of a to 9"),
        SetParam(b.id("c"), "out_features", 8, "set out_features of c to 8"))

    b = mlp(classes=7)
    assert only(b.design, "classes").actions == (
        SetParam(b.id("fc2"), "out_features", 10, "set out_features of fc2 to 10"),)
    b = mlp()
    b.design.set_data(dict(b.design.data, options={"as_images": True}))
    shape, option = only(b.design, "data-shape").actions
    assert shape.node == b.id("pixels") and shape.plain_value == [1, 8, 8]
    assert option == SetDataOption("as_images", False, "set the dataset option as_images to false")
    b.design.rename_node(b.id("fc1"), "fc2")
    (rename,) = only(b.design, "duplicate-name").actions
    assert isinstance(rename, RenameNode) and rename.name == "fc2_2"


def test_no_output_offers_appending_one_after_the_single_last_layer():
    from graph.fixes import AppendLayer

    b = mlp()
    b.design.remove_node(b.id("logits"))
    (action,) = only(b.design, "no-output").actions
    assert action == AppendLayer(b.id("fc2"), "out", "Output", "add an Output layer after fc2")
    b.add("Linear", "side", "relu", out_features=3)  # two last layers: which one is unclear
    assert only(b.design, "no-output").actions == ()
