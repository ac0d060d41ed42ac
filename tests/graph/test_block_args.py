"""A block grouped by hand gets arguments of its own: add, make a param one, rename (expressions
and instances follow), change a default, remove (refused while read) — each an exact edit."""
from __future__ import annotations

import json

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from graph.block_args import (add_argument, argument_uses, make_argument, remove_argument,
                              rename_argument, set_default)
from graph.blocks import BlockError, expressions_of
from graph.expr import ExprError, parse, rename
from graph.fileformat import dumps, loads
from graph.grouping import group_into_block
from graph.shapes import infer
from graph.validate import validate

from .util import Build


def grouped() -> tuple:
    """x → stem(8) → [proj(8) ‖ fc(8) → relu → add] → head(3) → out, the bracket grouped into
    ``Block`` by hand (no arguments). Returns the design, the block and its instance's id."""
    b = Build("res", data="iris")
    b.add("Input", "x", shape=[4])
    b.add("Linear", "stem", "x", out_features=8)
    b.add("Linear", "proj", "stem", out_features=8)
    b.add("Linear", "fc", "stem", out_features=8)
    b.add("ReLU", "relu", "fc")
    b.add("Add", "add", ["proj", "relu"])
    b.add("Linear", "head", "add", out_features=3)
    b.add("Output", "out", "head")
    design = b.design
    edit = group_into_block(design, [b.id(n) for n in ("proj", "fc", "relu", "add")])
    edit.apply(design)
    return design, design.blocks["Block"], edit.result


def with_width() -> tuple:
    """:func:`grouped` with argument ``width`` read by proj and fc; the instance ×3, its first
    copy 16 wide."""
    design, block, instance = grouped()
    body = block.body
    make_argument(body, body.node_by_name("proj").id, "out_features", "width").apply()
    body.set_param(body.node_by_name("fc").id, "out_features", "width")
    design.set_params(instance, {"width": 8, "repeat": 3, "first": {"width": 16}})
    return design, block, instance


def snapshot(design) -> str:
    return dumps(design)


def test_rename_reads_names_never_substrings():
    assert rename("w * 2 + width // w", "w", "k") == "k * 2 + width // k"
    assert rename("(w+1)%2", "width", "k") == "(w+1)%2"  # not read: as written
    assert rename("stride != 1 or project", "project", "proj") == "stride != 1 or proj"
    with pytest.raises(ExprError):
        rename("w +", "w", "k")


def test_an_argument_added_to_a_grouped_block_is_one_exact_edit():
    design, block, instance = grouped()
    assert block.args == {}
    before = snapshot(design)
    edit = add_argument(design, "Block", "width", 8)
    edit.apply()
    assert block.args == {"width": 8}
    layer = design.layer_of(design.node(instance))
    assert [p.name for p in layer.params] == ["width", "repeat", "first"]
    assert layer.param("first").choices == ("width",)
    edit.revert()
    assert snapshot(design) == before and block.args == {}


@pytest.mark.parametrize("name,words", [("repeat", "identifier other than"),
                                        ("2x", "identifier"), ("class", "identifier")])
def test_an_argument_name_must_be_usable(name, words):
    design, _block, _instance = grouped()
    with pytest.raises(BlockError, match=words):
        add_argument(design, "Block", name, 1)
    add_argument(design, "Block", "width", 8).apply()
    with pytest.raises(BlockError, match="already has an argument 'width'"):
        add_argument(design, "Block", "width", 4)
    with pytest.raises(BlockError, match="whole number"):
        add_argument(design, "Block", "depth", True)


def test_make_argument_takes_the_params_value_as_default_and_reads_it():
    design, block, instance = grouped()
    body = block.body
    proj = body.node_by_name("proj")
    before = snapshot(design)
    edit = make_argument(body, proj.id, "out_features", "width")
    edit.apply()
    assert block.args == {"width": 8} and proj.params["out_features"] == "width"
    assert validate(design).ok  # nothing else changed: the default is what was there
    edit.revert()
    assert snapshot(design) == before
    with pytest.raises(BlockError, match="only a layer inside a block"):
        make_argument(design, design.node_by_name("stem").id, "out_features", "width")


def test_make_argument_refuses_what_cannot_be_one_number():
    design, block, _instance = grouped()
    body = block.body
    conv = body.add_node(body.make_node("Conv2d", name="conv", params={"kernel_size": [3, 5]}))
    with pytest.raises(BlockError, match="differs per axis") as info:
        make_argument(body, conv.id, "kernel_size", "k")
    assert info.value.where == "conv.kernel_size"
    with pytest.raises(BlockError, match="not a whole number or yes/no"):
        make_argument(body, conv.id, "padding_mode", "mode")
    make_argument(body, conv.id, "stride", "stride").apply()  # a size of one number
    assert block.args["stride"] == 1 and conv.params["stride"] == "stride"
    with pytest.raises(BlockError, match="already reads the block's arguments"):
        make_argument(body, conv.id, "stride", "s")
    make_argument(body, conv.id, "bias", "use_bias").apply()  # yes/no: 0 or 1
    assert block.args["use_bias"] == 1


def test_an_argument_drives_shapes_params_and_the_first_copy():
    design, _block, instance = with_width()
    inference = infer(design)
    assert [c.args for c in inference.expansions[instance]] == [{"width": 16}, {"width": 8},
                                                                {"width": 8}]
    # copy 0: 8 → 16 twice; copy 1: 16 → 8 twice; copy 2: 8 → 8 twice
    assert inference.params[instance] == 2 * (8 * 16 + 16) + 2 * (16 * 8 + 8) + 2 * (8 * 8 + 8)
    assert validate(design).ok


def test_an_error_from_an_argument_names_the_instance_copy_and_layer():
    design, block, instance = with_width()
    body = block.body
    body.set_param(body.node_by_name("proj").id, "out_features", "width * 2")
    (error,) = validate(design).errors
    assert error.node == instance
    assert error.message.startswith("block.0 › add:"), error.message


def test_rename_follows_into_expressions_instances_and_first():
    design, block, instance = with_width()
    body = block.body
    add_argument(design, "Block", "w", 2).apply()
    fc = body.node_by_name("fc")
    body.set_param(fc.id, "out_features", "width * w // w")
    body.set_when(body.node_by_name("relu").id, "w > 1")
    shapes = infer(design).shapes
    before = snapshot(design)
    edit = rename_argument(design, "Block", "w", "k")
    edit.apply()
    assert list(block.args) == ["width", "k"]
    assert fc.params["out_features"] == "width * k // k"  # width kept: a name, not a substring
    assert body.node_by_name("relu").when == "k > 1"
    assert body.node_by_name("proj").params["out_features"] == "width"
    edit.revert()
    assert snapshot(design) == before
    edit = rename_argument(design, "Block", "width", "channels")
    edit.apply()
    assert design.node(instance).params == {"channels": 8, "repeat": 3, "first": {"channels": 16}}
    assert fc.params["out_features"] == "channels * w // w"
    assert infer(design).shapes == shapes and validate(design).ok
    edit.revert()
    assert snapshot(design) == before


def test_rename_reaches_instances_inside_other_blocks():
    design, block, instance = with_width()
    outer = design.new_block("Outer", {"size": 8})
    inner = outer.body.add_node(outer.body.make_node("Block", name="inner",
                                                     params={"width": "size * 2"}))
    rename_argument(design, "Outer", "size", "n").apply()
    assert inner.params == {"width": "n * 2"}
    rename_argument(design, "Block", "width", "c").apply()
    assert inner.params == {"c": "n * 2"}


def test_remove_is_refused_while_read_and_names_the_layers():
    design, block, instance = with_width()
    body = block.body
    body.set_when(body.node_by_name("relu").id, "width > 4")
    with pytest.raises(BlockError) as info:
        remove_argument(design, "Block", "width")
    assert info.value.reason.startswith(
        "width is still used by proj.out_features, fc.out_features, relu (present when)")
    assert argument_uses(block, "width") == ["proj.out_features", "fc.out_features",
                                             "relu (present when)"]
    for name in ("proj", "fc"):
        body.set_param(body.node_by_name(name).id, "out_features", 8)
    body.set_when(body.node_by_name("relu").id, None)
    before = snapshot(design)
    edit = remove_argument(design, "Block", "width")
    edit.apply()
    assert block.args == {} and design.node(instance).params == {"repeat": 3, "first": {}}
    assert validate(design).ok
    edit.revert()
    assert snapshot(design) == before


def test_a_new_default_applies_where_an_instance_sets_nothing():
    design, block, instance = with_width()
    design.set_params(instance, {})
    edit = set_default(design, "Block", "width", 12)
    edit.apply()
    assert block.args == {"width": 12}
    assert infer(design).shapes[instance] == (12,)
    edit.revert()
    assert infer(design).shapes[instance] == (8,)
    with pytest.raises(BlockError, match="has no argument 'depth'"):
        set_default(design, "Block", "depth", 1)


def test_a_grouped_blocks_arguments_save_and_reopen():
    design, block, instance = with_width()
    rename_argument(design, "Block", "width", "channels").apply()
    text = dumps(design)
    doc = json.loads(text)
    assert doc["format_version"] == 2 and doc["blocks"]["Block"]["args"] == {"channels": 8}
    again = loads(text)
    assert again.to_dict() == design.to_dict()
    assert infer(again).params == infer(design).params


OPS = st.tuples(st.sampled_from(["add", "rename", "default", "remove", "make"]),
                st.sampled_from(["a", "b", "width", "w", "repeat"]), st.integers(0, 40))


def _plan(design, block, op: str, name: str, value: int):
    """The edit ``op`` would make (raises BlockError where the model refuses it)."""
    existing = list(block.args)
    pick = existing[value % len(existing)] if existing else "none"
    body = block.body
    if op == "add":
        return add_argument(design, "Block", name, value)
    if op == "rename":
        return rename_argument(design, "Block", pick, name)
    if op == "default":
        return set_default(design, "Block", pick, value)
    if op == "remove":
        return remove_argument(design, "Block", pick)
    node = body.node_by_name(("fc", "proj")[value % 2])
    return make_argument(body, node.id, "out_features", name)


@settings(max_examples=60, deadline=None)
@given(st.lists(OPS, max_size=10))
def test_any_sequence_of_argument_edits_reopens_and_reverts_exactly(ops):
    """After every edit the design saves and reopens (every expression reads an argument the
    block has); undoing the edits in reverse gives back each earlier design exactly."""
    design, block, _instance = with_width()
    states, edits = [dumps(design)], []
    for op, name, value in ops:
        try:
            edit = _plan(design, block, op, name, value)
        except BlockError:
            continue
        edit.apply()
        edits.append(edit)
        states.append(dumps(design))
        assert loads(states[-1]).to_dict() == design.to_dict()
        for node in block.body.nodes:
            for _where, text in expressions_of(block.body.layer_of(node), node):
                assert parse(text).names <= set(block.args)
    for edit, before in zip(reversed(edits), reversed(states[:-1])):
        edit.revert()
        assert dumps(design) == before


def test_layers_grouped_inside_a_block_take_the_arguments_they_read_along():
    """Grouping proj inside Block (whose out_channels reads width) gave a block whose proj
    read an argument it did not have: the design no longer reopened."""
    design, block, instance = with_width()
    body = block.body
    shapes = infer(design).shapes
    edit = group_into_block(body, [body.node_by_name("proj").id])
    edit.apply(body)
    inner = design.blocks[body.node(edit.result).type]
    assert inner.args == {"width": 8}
    assert body.node(edit.result).params == {"width": "width"}  # the outer value passed on
    assert validate(design).ok and infer(design).shapes == shapes
    assert loads(dumps(design)).to_dict() == design.to_dict()


def test_ungrouping_inside_a_block_keeps_reading_its_arguments():
    """Ungrouping ResNet-18's downsample inside BasicBlock bound its layers to the block's
    defaults (64 channels, stride 1, always present): 11,689,512 parameters became 165,952
    and the design was invalid. Its layers now read planes and stride, present when project."""
    from graph.grouping import ungroup
    from graph.templates import build

    design = build("resnet18")
    body = design.blocks["BasicBlock"].body
    before = infer(design)
    downsample = next(n for n in body.nodes if n.type == "Downsample")
    ungroup(body, downsample.id).apply(body)
    conv, bn = (body.node_by_name(n) for n in ("0", "1"))
    assert conv.params["out_channels"] == "planes" and conv.params["stride"] == "stride"
    assert conv.when == bn.when == "project"
    after = infer(design)
    assert sum(after.params.values()) == sum(before.params.values()) == 11_689_512
    assert after.shapes == before.shapes and validate(design).ok
    assert loads(dumps(design)).to_dict() == design.to_dict()


def test_grouped_then_ungrouped_inside_a_block_is_the_same_network():
    design, block, instance = with_width()
    body = block.body
    shapes = infer(design).shapes
    grouped = group_into_block(body, [body.node_by_name("fc").id])
    grouped.apply(body)
    body.set_param(grouped.result, "width", "width * 2 // 2")  # arithmetic passes through
    from graph.grouping import ungroup

    ungroup(body, grouped.result).apply(body)
    (fc,) = [n for n in body.nodes if n.type == "Linear" and n.name != "proj"]
    assert fc.params["out_features"] == "width * 2 // 2"  # the whole text: no parentheses
    assert infer(design).shapes == shapes and validate(design).ok


def test_a_sometimes_present_instance_ungroups_only_as_a_chain():
    from graph.grouping import ungroup

    design, _block, _instance = with_width()
    outer = design.new_block("Outer", {"size": 8})
    inner = outer.body.add_node(outer.body.make_node("Block", name="inner",
                                                     params={"width": "size"}))
    outer.body.set_when(inner.id, "size > 4")
    with pytest.raises(BlockError, match="inner is present only when size > 4, and add inside"):
        ungroup(outer.body, inner.id)


def test_an_instance_repeated_as_the_arguments_say_is_not_ungrouped_at_the_default():
    """Inside a block, ``repeat: depth`` was written out at depth's default: an instance that
    set depth=5 silently lost three copies (427 parameters became 211, still valid)."""
    from graph.grouping import ungroup

    design, _block, _instance = with_width()
    outer = design.new_block("Outer", {"depth": 2})
    inner = outer.body.add_node(outer.body.make_node("Block", name="inner",
                                                     params={"repeat": "depth"}))
    before = dumps(design)
    with pytest.raises(BlockError, match="inner repeats depth times, as the block's arguments"):
        ungroup(outer.body, inner.id)
    assert dumps(design) == before
    outer.body.set_params(inner.id, {"repeat": 3})  # a number: written out as three copies
    per_copy = sum(n.type == "Linear" for n in design.blocks["Block"].body.nodes)
    ungroup(outer.body, inner.id).apply(outer.body)
    assert sum(n.type == "Linear" for n in outer.body.nodes) == 3 * per_copy
