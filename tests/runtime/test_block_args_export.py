"""A block grouped by hand and given arguments afterwards (graph.block_args) compiles and
exports to Python whose block class takes them, with a first copy that differs."""
from __future__ import annotations

import torch

from graph.block_args import add_argument, rename_argument
from runtime import export as ex
from runtime.compiler import compile_design
from tests.graph.test_block_args import with_width


def test_arguments_added_after_grouping_compile_and_export(tmp_path):
    design, block, instance = with_width()
    rename_argument(design, "Block", "width", "channels").apply()
    add_argument(design, "Block", "expansion", 4).apply()  # one no layer reads (yet)
    compiled = compile_design(design)
    stage = compiled.module.block
    assert isinstance(stage, torch.nn.Sequential) and len(stage) == 3
    assert [copy.fc.out_features for copy in stage] == [16, 8, 8]  # the first copy differs
    result = ex.export_model(design, "python", tmp_path / "model.py")
    source = result.path.read_text()
    assert "def __init__(self, channels" in source
    assert "Block(channels=16" in source and "Block(channels=8" in source
    assert result.max_diff <= 1e-4


def test_an_argument_named_like_a_class_of_the_file_shadows_nothing(tmp_path):
    """The exported block's constructor renames an argument called like a class the file
    defines (a layer class it builds, the block's own class): it hid that class before."""
    from graph.grouping import group_into_block
    from graph.block_args import make_argument
    from tests.graph.util import Build

    b = Build("r", data="digits", as_images=False)
    b.add("Input", "x", shape=[64])
    b.add("Reshape", "rows", "x", shape=[8, 8])
    b.add("LSTM", "lstm", "rows", hidden_size=16)
    b.add("Linear", "head", "lstm", out_features=10)
    b.add("Output", "out", "head")
    design = b.design
    group_into_block(design, [b.id("lstm")], "Block").apply(design)
    body = design.blocks["Block"].body
    make_argument(body, body.node_by_name("lstm").id, "hidden_size", "RecurrentLSTM").apply()
    add_argument(design, "Block", "Block", 1).apply()
    result = ex.export_model(design, "python", tmp_path / "model.py")
    source = result.path.read_text()
    assert "def __init__(self, RecurrentLSTM_, Block_" in source
    assert result.max_diff <= 1e-5
