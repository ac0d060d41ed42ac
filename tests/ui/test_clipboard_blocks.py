"""Copying block instances carries their definitions, so the fragment reads back and pastes."""
from __future__ import annotations

import json

from graph import templates
from graph.validate import validate
from ui.canvas.clipboard import fragment_text, read_fragment
from ui.commands import paste_command


def test_a_copied_instance_carries_its_blocks_and_pastes_into_its_design():
    design = templates.build("resnet18", small=True)
    ids = [design.node_by_name("layer2").id]
    text = fragment_text(design, ids)
    assert list(json.loads(text)["blocks"]) == ["Downsample", "BasicBlock"]  # used by layer2
    nodes, edges = read_fragment(text)
    command, new_ids = paste_command(design, nodes, edges)
    command.redo()
    pasted = design.node(new_ids[0])
    assert pasted.type == "BasicBlock" and pasted.name == "layer2_2" and pasted.is_block
    assert [p.name for p in pasted.layer.inputs] == ["x"]
    codes = {d.code for d in validate(design).for_node(pasted.id)}
    assert codes == {"arity", "unused", "unreachable"}  # a known block, waiting for links
    command.undo()
    assert not design.has_node(new_ids[0])
