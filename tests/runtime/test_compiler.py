"""The fx compiler: same numbers as hand-written modules, safe identifiers, wiring rules."""
from __future__ import annotations

import ast
import io
import keyword
import tokenize

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st
from torch import nn

from graph.catalog import CATALOG
from graph.design import Edge
from graph.fileformat import load
from graph.validate import validate
from runtime.compiler import CompileError, compile_design, example_inputs, identifier
from tests.conftest import EXAMPLES
from tests.graph.util import Build


def shapes_seen(compiled, inputs) -> dict[str, tuple[int, ...]]:
    """Run forward and record every submodule's output shape (without the batch); a layer with
    several outputs (Split, Chunk) is recorded by its first, the shape inference keeps for it."""
    seen = {}

    def record(name: str, out) -> None:
        first = out[0] if isinstance(out, (tuple, list)) else out
        seen[name] = tuple(first.shape[1:])

    hooks = [module.register_forward_hook(lambda m, args, out, _name=name: record(_name, out))
             for name, module in compiled.module.named_children()]
    try:
        with torch.no_grad():
            compiled.module(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return seen


def assert_shapes_match_inference(compiled, design, batch: int = 3) -> None:
    inputs = example_inputs(compiled, design, batch=batch)
    seen = shapes_seen(compiled, inputs)
    inferred = compiled.report.inference.shapes
    for nid, ident in compiled.idents.items():
        if ident in seen:
            assert seen[ident] == inferred[nid], (design.node(nid).name, seen[ident], inferred[nid])


# ---- equal to hand-written modules ---------------------------------------------------------------


def residual_mlp() -> Build:
    b = Build(as_images=False)
    b.add("Input", "pixels", shape=[64])
    b.add("Linear", "stem", "pixels", out_features=32)
    b.add("ReLU", "stem_relu", "stem")
    b.add("Linear", "fc1", "stem_relu", out_features=32)
    b.add("GELU", "act", "fc1")
    b.add("Linear", "fc2", "act", out_features=32, bias=False)
    b.add("Add", "skip", ["stem_relu", "fc2"])
    b.add("LayerNorm", "norm", "skip")
    b.add("Linear", "head", "norm", out_features=10)
    b.add("Output", "logits", "head")
    return b


class HandResidualMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(64, 32)
        self.fc1 = nn.Linear(32, 32)
        self.fc2 = nn.Linear(32, 32, bias=False)
        self.norm = nn.LayerNorm(32)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        h = self.norm(h + self.fc2(nn.functional.gelu(self.fc1(h))))
        return self.head(h)


def cnn() -> Build:
    b = Build(as_images=True)
    b.add("Input", "image", shape=[1, 8, 8])
    b.add("Conv2d", "conv1", "image", out_channels=8)
    b.add("BatchNorm2d", "bn1", "conv1")
    b.add("ReLU", "relu1", "bn1")
    b.add("MaxPool2d", "pool1", "relu1")
    b.add("Conv2d", "conv2", "pool1", out_channels=16, kernel_size=[3, 3], stride=2)
    b.add("GlobalAvgPool", "gap", "conv2")
    b.add("Dropout", "drop", "gap", p=0.3)
    b.add("Linear", "fc", "drop", out_features=10)
    b.add("Output", "logits", "fc")
    return b


class HandCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        x = self.conv2(x).mean(dim=(2, 3))
        return self.fc(x)


@pytest.mark.parametrize("build, hand, shape", [(residual_mlp, HandResidualMLP, (64,)),
                                                (cnn, HandCNN, (1, 8, 8))], ids=["mlp", "cnn"])
def test_compiled_module_equals_the_hand_written_one(build, hand, shape):
    torch.manual_seed(0)
    compiled = compile_design(build().design)
    model = hand()
    model.load_state_dict(compiled.module.state_dict(), strict=True)
    # Make BatchNorm's running statistics non-trivial, identically in both.
    warm = torch.randn(16, *shape)
    compiled.module.train()(warm)
    model.train()(warm)
    compiled.module.eval()
    model.eval()
    x = torch.randn(5, *shape)
    with torch.no_grad():
        torch.testing.assert_close(compiled.module(x), model(x))
    assert sum(p.numel() for p in model.parameters()) == compiled.report.inference.total_params
    # Called as any nn.Module is (no torch.fx traceback wrapper around each call), and a
    # second compiled model keeps its own class.
    assert type(compiled.module).__call__ is nn.Module.__call__
    assert type(compile_design(build().design).module) is not type(compiled.module)


# ---- every example --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_examples_compile_and_run(path):
    design = load(path)
    compiled = compile_design(design)
    compiled.module.eval()
    inputs = example_inputs(compiled, design, batch=4)
    with torch.no_grad():
        out = compiled.module(*inputs)
    (output_id,) = compiled.output_nodes
    assert tuple(out.shape) == (4, *compiled.report.inference.shapes[output_id])
    assert_shapes_match_inference(compiled, design)
    params = sum(p.numel() for p in compiled.module.parameters())
    assert params == compiled.report.inference.total_params
    assert "def forward(self, " in compiled.module.code


# ---- names that are not Python --------------------------------------------------------------------

EVIL_NAMES = ['"); import os; os.system("x', "class", "def", "fc 1", "fc-1", "fc_1", "1st layer",
              "über", "数据", "数据!", "apply", "zero_grad", "__init__", "self", "print", "forward",
              "torch", "None", "x" * 200, "a\nb", "#comment", "'''", "lambda: 0", "input",
              "meta", "meta.a", "shape_env", "training.x"]  # a GraphModule's own fields too


def test_hostile_names_become_harmless_unique_identifiers():
    b = Build(data="csv", path="data.csv")
    design = b.design
    b.add("Input", "x", shape=[8])
    prev = b.id("x")
    for i, name in enumerate(EVIL_NAMES):
        node = design.make_node("ReLU" if i % 2 else "Linear",
                                params={} if i % 2 else {"out_features": 8})
        node.name = name
        design.add_node(node)
        design.add_edge(Edge(prev, node.id))
        prev = node.id
    design.add_edge(Edge(prev, b.add("Output", "output")))
    compiled = compile_design(design)
    idents = list(compiled.idents.values())
    assert len(set(idents)) == len(idents) == len(design)
    for ident in idents:
        assert ident.isidentifier() and ident.isascii() and not keyword.iskeyword(ident), ident
        assert not hasattr(nn.Module, ident) and len(ident) <= 42, ident
    code = compiled.module.code
    ast.parse(code)
    tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
    assert not [t for t in tokens if t.type == tokenize.STRING], "no string literals in forward"
    outside_comments = "".join(t.string + " " for t in tokens if t.type != tokenize.COMMENT)
    for name in EVIL_NAMES:
        if not name.isidentifier():
            assert name not in outside_comments, name
    names = [t.string for t in tokens if t.type == tokenize.NAME]
    assert {n for n in names if keyword.iskeyword(n)} <= {"def", "return", "None"}
    assert "os" not in names and "system" not in names
    # The module is a plain GraphModule that runs, with one attribute per layer.
    names = {n for n, _ in compiled.module.named_children()}
    assert names == {ident for nid, ident in compiled.idents.items()
                     if design.node(nid).type not in ("Input", "Output")}
    assert compiled.module(torch.randn(2, 8)).shape == (2, 8)


def test_empty_names_are_refused_before_compiling():
    b = Build()
    b.add("Input", "x", shape=[1, 8, 8])
    b.add("Output", "  ", "x")
    with pytest.raises(CompileError, match="the name is empty"):
        compile_design(b.design)


def test_identifier_rules():
    taken: set[str] = set()
    assert identifier("Conv 1", taken) == "conv_1"
    assert identifier("conv-1", taken) == "conv_1_2"
    assert identifier("über", taken) == "uber"
    assert identifier("数据", taken) == "layer"
    assert identifier("数据", taken) == "layer_2"
    assert identifier("class", taken) == "class_"
    assert identifier("match", taken) == "match_"
    assert identifier("apply", taken) == "apply_"
    assert identifier("3x3", taken) == "l_3x3"
    assert identifier("self", taken) == "self_"
    assert identifier("y" * 100, taken) == "y" * 40


# ---- wiring ----------------------------------------------------------------------------------------


def two_in_two_out() -> Build:
    b = Build(data="csv", path="data.csv")
    b.add("Input", "a", shape=[4])
    b.add("Input", "b", shape=[6])
    b.add("Linear", "la", "a", out_features=3)
    b.add("Linear", "lb", "b", out_features=5)
    # Link order puts lb first although la was created first.
    b.add("Concat", "cat", ["lb", "la"])
    b.add("Output", "joined", "cat")
    b.add("Output", "left", "la")
    return b


def test_multiple_inputs_and_outputs_and_concat_order():
    b = two_in_two_out()
    compiled = compile_design(b.design)
    assert compiled.input_nodes == [b.id("a"), b.id("b")]
    assert compiled.output_nodes == [b.id("joined"), b.id("left")]
    assert compiled.input_shapes == [(4,), (6,)]
    assert "def forward(self, a, b):" in compiled.module.code
    xa, xb = torch.randn(2, 4), torch.randn(2, 6)
    joined, left = compiled.module(xa, xb)
    m = compiled.module
    torch.testing.assert_close(joined, torch.cat([m.lb(xb), m.la(xa)], dim=1))
    torch.testing.assert_close(left, m.la(xa))
    # Moving a link changes the order.
    d = b.design
    first = d.in_edges(b.id("cat"))[0]
    d.remove_edge(first)
    d.add_edge(first)
    m = compile_design(d).module
    joined, _ = m(xa, xb)
    torch.testing.assert_close(joined, torch.cat([m.la(xa), m.lb(xb)], dim=1))


def test_the_code_of_an_identical_graph_is_generated_once():
    """A design compiled again reuses the forward fx generated for it (its own layers and
    weights still); another structure or another name gets code of its own, and an edited
    graph recompiles as fx does."""
    design = load(EXAMPLES / "digits_cnn.json")
    first, second = compile_design(design).module, compile_design(design).module
    assert type(first).forward is type(second).forward and first.code == second.code
    assert first.conv1 is not second.conv1
    design.rename_node(design.node_by_name("conv1").id, "stem")
    renamed = compile_design(design).module
    assert type(renamed).forward is not type(first).forward
    assert "self.stem(" in renamed.code and "conv1" not in renamed.code
    second.load_state_dict(first.state_dict())
    first.eval(), second.eval()
    x = torch.randn(3, 1, 8, 8)
    graph = second.graph
    out = next(n for n in graph.nodes if n.op == "output")
    with graph.inserting_before(out):
        negated = graph.call_function(torch.neg, (out.args[0],))
    out.args = (negated,)
    second.recompile()
    assert "torch.neg" in second.code and "torch.neg" not in first.code
    torch.testing.assert_close(second(x), -first(x))


def test_branches_that_reach_no_output_are_left_out():
    b = two_in_two_out()
    b.add("Linear", "unused", "lb", out_features=2)
    compiled = compile_design(b.design)
    assert "unused" not in dict(compiled.module.named_children())
    assert "unused" not in compiled.module.code


def test_an_input_linked_straight_to_an_output():
    b = Build(data="csv", path="data.csv")
    b.add("Input", "x", shape=[3])
    b.add("Output", "y", "x")
    compiled = compile_design(b.design)
    x = torch.randn(2, 3)
    assert torch.equal(compiled.module(x), x)


def test_invalid_designs_are_refused_with_their_diagnostics():
    b = Build()
    b.add("Input", "image", shape=[1, 8, 8])
    b.add("Linear", "fc", "image", out_features=10)
    b.add("Output", "y", "fc")
    with pytest.raises(CompileError) as info:
        compile_design(b.design)
    assert "insert a Flatten between image and fc" in str(info.value)
    assert not info.value.report.ok


def test_example_inputs_respect_the_vocabulary():
    b = Build(data="csv", path="data.csv")
    b.add("Input", "tokens", shape=[7], dtype="int64")
    b.add("Embedding", "embed", "tokens", num_embeddings=5, embedding_dim=4)
    b.add("LSTM", "lstm", "embed", hidden_size=6, bidirectional=True)
    b.add("Output", "y", "lstm")
    compiled = compile_design(b.design)
    (x,) = example_inputs(compiled, b.design, batch=50, generator=torch.Generator().manual_seed(1))
    assert x.dtype == torch.int64 and x.shape == (50, 7) and 0 <= x.min() and x.max() < 5
    assert compiled.module(x).shape == (50, 12)


# ---- any valid chain compiles to what inference predicted --------------------------------------------

SINGLE_INPUT = [t.type_id for t in CATALOG
                if len(t.inputs) == 1 and not t.inputs[0].variadic and not t.is_sink]


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3),
       dtype=st.sampled_from(["float32", "float32", "int64"]),
       chain=st.lists(st.sampled_from(SINGLE_INPUT), min_size=1, max_size=5))
def test_valid_chains_compile_and_match_inference(shape, dtype, chain):
    """Layers with default params after a random Input: when validation passes, the compiled
    module runs and every layer produces the shape inference predicted; else compiling refuses."""
    b = Build(data="csv", path="data.csv")
    b.add("Input", "x", shape=shape, dtype=dtype)
    prev = "x"
    for i, type_id in enumerate(t for t in chain if t != "Input"):
        b.add(type_id, f"n{i}", prev)
        prev = f"n{i}"
    b.add("Output", "y", prev)
    if not validate(b.design).ok:
        event("refused")
        with pytest.raises(CompileError):
            compile_design(b.design)
        return
    event("compiled")
    compiled = compile_design(b.design)
    compiled.module.eval()
    assert_shapes_match_inference(compiled, b.design, batch=2)
