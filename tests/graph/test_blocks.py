"""Blocks: expressions, definitions in the file, inference through instances, group/ungroup,
templates."""
from __future__ import annotations

import json

import pytest

from graph import templates
from graph.blocks import BlockError
from graph.design import Design, Edge
from graph.expr import ExprError, evaluate, parse
from graph.fileformat import DesignFileError, dumps, loads
from graph.grouping import flatten, group_into_block, ungroup
from graph.shapes import infer
from graph.summary import summarize, summary_dict
from graph.validate import validate
from tests.graph.util import Build, skip_junction

# ---- expressions ----------------------------------------------------------------------------------


def test_expressions_do_integer_arithmetic_on_arguments():
    env = {"channels": 16, "stride": 2, "project": 0}
    assert evaluate("channels * 4", env) == 64
    assert evaluate("(channels + 1) // 2 - stride % 2", env) == 8
    assert evaluate("-channels", env) == -16
    assert evaluate("stride != 1 or project", env) == 1
    assert evaluate("not project and stride > 1", env) == 1
    assert parse("channels * 4 + stride").names == {"channels", "stride"}


@pytest.mark.parametrize("text, words", [
    ("__import__('os')", "function call"), ("channels.real", "attribute"),
    ("channels / 2", "use //"), ("channels ** 2", "**"), ("1.5 * channels", "whole numbers"),
    ("channels *", "does not parse"), ("'a' * 3", "whole numbers"), ("x[0]", "indexing"),
    ("", "empty"),
])
def test_anything_but_the_whitelist_is_refused(text, words):
    with pytest.raises(ExprError, match=words.replace("*", r"\*").replace("(", r"\(")):
        parse(text).evaluate({"channels": 2, "x": 1})


def test_unknown_arguments_and_division_by_zero_are_named():
    with pytest.raises(ExprError, match="unknown argument 'chanels'"):
        evaluate("chanels * 2", {"channels": 1})
    with pytest.raises(ExprError, match="division by zero"):
        evaluate("4 // (stride - 1)", {"stride": 1})
    with pytest.raises(ExprError, match="too large"):
        evaluate("9999999999 * 9999999999 * 9999999999", {})


# ---- a small residual design ------------------------------------------------------------------


def residual(repeat: int = 3) -> Design:
    """x → stem Linear(8) → Res(width 8) ×repeat → head Linear(3) → out; Res = two Linears and
    an Add with a projection present only when ``project``."""
    d = Design("res")
    block = d.new_block("Res", {"width": 8, "project": 0})
    body = Build.__new__(Build)
    body.design = block.body
    body.add("Input", "x", shape=[8])
    body.add("Linear", "fc1", "x", out_features="width * 2")
    body.add("ReLU", "act", "fc1")
    body.add("Linear", "fc2", "act", out_features="width")
    body.add("Linear", "proj", "x", out_features="width")
    block.body.set_when(block.body.node_by_name("proj").id, "project")
    body.add("Add", "add", ["fc2", "proj"])
    body.add("Output", "out", "add")
    top = Build.__new__(Build)
    top.design = d
    top.add("Input", "x", shape=[4])
    top.add("Linear", "stem", "x", out_features=8)
    top.add("Res", "stage", "stem", width=8, repeat=repeat, first={"project": 1})
    top.add("Linear", "head", "stage", out_features=3)
    top.add("Output", "out", "head")
    d.set_data(dict(d.data, name="iris", options={}))
    return d


def test_inference_expands_instances_per_copy():
    d = residual(3)
    inf = infer(d)
    stage = d.node_by_name("stage").id
    assert inf.shapes[stage] == (8,)
    first, rest = 8 * 16 + 16 + 16 * 8 + 8 + 8 * 8 + 8, 8 * 16 + 16 + 16 * 8 + 8
    assert inf.params[stage] == first + 2 * rest
    assert [c.args for c in inf.expansions[stage]] == [{"width": 8, "project": 1},
                                                         {"width": 8, "project": 0}] + [
        {"width": 8, "project": 0}]
    proj = d.blocks["Res"].body.node_by_name("proj").id
    assert proj not in inf.expansions[stage][0].inference.absent
    assert proj in inf.expansions[stage][1].inference.absent
    assert inf.layers[stage] == 5 + 4 + 4  # fc1, act, fc2, (proj), add per copy
    assert validate(d).ok


def test_copies_with_equal_arguments_and_shapes_are_inferred_once():
    d = residual(50)
    inf = infer(d)
    copies = inf.expansions[d.node_by_name("stage").id]
    assert len(copies) == 50 and all(c is copies[1] for c in copies[1:])
    block = d.blocks["Res"]
    fc2 = block.body.node_by_name("fc2").id
    block.body.set_param(fc2, "out_features", "width + 0")  # an edit inside forgets the cache
    assert not block.cache
    assert infer(d).params == inf.params


def test_an_error_inside_a_block_names_instance_copy_and_layer():
    d = residual(2)
    body = d.blocks["Res"].body
    body.set_param(body.node_by_name("fc2").id, "out_features", "width + 1")
    report = validate(d)
    [error] = [x for x in report.errors if x.code == "shape"]
    assert error.node == d.node_by_name("stage").id
    assert error.message.startswith("stage.0 › add: ")
    assert error.fix.endswith("(in the block, at add)")  # the inner layer's own fix
    body.set_param(body.node_by_name("fc2").id, "out_features", "width - 8")
    message = validate(d).errors[0].message
    assert message == "stage.0 › fc2: out_features must be at least 1, not 0"


def test_a_broken_expression_inside_a_body_is_an_error_on_its_node():
    d = residual(1)
    body = d.blocks["Res"].body
    fc1 = body.node_by_name("fc1").id
    body.set_param(fc1, "out_features", "widht * 2")
    inner = validate(body)
    assert [(x.node, x.param) for x in inner.errors] == [(fc1, "out_features")]
    assert "unknown argument 'widht'" in inner.errors[0].message
    top = validate(d)
    assert not top.ok and all(x.node == d.node_by_name("stage").id for x in top.errors)


def test_first_may_only_name_arguments_and_repeat_needs_matching_ports():
    d = residual(2)
    stage = d.node_by_name("stage").id
    d.set_param(stage, "first", {"strid": 2})
    assert "'strid' is not an argument of Res" in validate(d).errors[0].message


def test_a_block_using_itself_is_an_error_not_a_crash():
    d = residual(1)
    body = d.blocks["Res"].body
    node = body.add_node(body.make_node("Res", name="inner"))
    body.add_edge(Edge(body.node_by_name("x").id, node.id, "out", "x"))
    assert "uses itself" in " ".join(x.message for x in validate(d).errors)


def test_block_events_reach_the_design():
    d = residual(1)
    seen = []
    d.block_changed.connect(seen.append)
    d.changed.connect(lambda: seen.append("changed"))
    body = d.blocks["Res"].body
    body.set_param(body.node_by_name("fc2").id, "out_features", 9)
    d.blocks.set_args("Res", {"width": 4, "project": 0})
    assert seen == ["Res", "changed", "Res", "changed"]
    assert d.node_by_name("stage").layer.param("width").default == 4


def test_rename_updates_every_instance():
    d = residual(1)
    d.blocks.rename("Res", "Residual")
    assert d.node_by_name("stage").type == "Residual" and validate(d).ok
    with pytest.raises(BlockError, match="already a layer type"):
        d.blocks.rename("Residual", "Linear")


# ---- the file ---------------------------------------------------------------------------------


def test_blocks_round_trip_through_the_file_and_copy():
    d = residual(3)
    text = dumps(d)
    doc = json.loads(text)
    assert doc["format_version"] == 2 and list(doc["blocks"]) == ["Res"]
    assert doc["blocks"]["Res"]["args"] == {"width": 8, "project": 0}
    again = loads(text)
    assert again.to_dict() == d.to_dict()
    assert infer(again).params == infer(d).params
    twin = d.copy()
    assert twin.to_dict() == d.to_dict() and twin.blocks["Res"] is not d.blocks["Res"]


def test_version_1_files_still_load():
    doc = json.loads(dumps(Build().design))
    doc["format_version"] = 1
    doc.pop("blocks", None)
    assert loads(json.dumps(doc)).to_dict()["format_version"] == 2


def _broken(change) -> str:
    doc = json.loads(dumps(residual(1)))
    change(doc)
    return json.dumps(doc)


@pytest.mark.parametrize("change, where, words", [
    (lambda d: d["blocks"]["Res"]["nodes"][1]["params"].update(out_features="chanels * 2"),
     "blocks.Res.nodes[1].params.out_features", "unknown argument 'chanels'"),
    (lambda d: d["blocks"]["Res"]["nodes"][1]["params"].update(out_features="width *"),
     "blocks.Res.nodes[1].params.out_features", "does not parse"),
    (lambda d: d["blocks"]["Res"]["nodes"][4].update(when="os.system"),
     "blocks.Res.nodes[4].when", "attribute"),
    (lambda d: d["blocks"]["Res"]["nodes"].append(
        {"id": "z", "type": "Res", "name": "again"}), "blocks.Res.nodes[7].type", "uses itself"),
    (lambda d: d["blocks"].update(Linear={"args": {}, "nodes": []}), "blocks.Linear",
     "already a layer type"),
    (lambda d: d["blocks"]["Res"]["args"].update(width="8"), "blocks.Res.args.width",
     "whole number"),
])
def test_broken_block_definitions_name_the_place(change, where, words):
    with pytest.raises(DesignFileError) as info:
        loads(_broken(change))
    assert info.value.where == where and words in info.value.reason


def test_a_cycle_through_two_blocks_is_reported():
    def cycle(doc):
        doc["blocks"]["Other"] = {"args": {}, "nodes": [{"id": "a", "type": "Res", "name": "r"}],
                                  "edges": []}
        doc["blocks"]["Res"]["nodes"].append({"id": "z", "type": "Other", "name": "o"})
    with pytest.raises(DesignFileError, match="cycle of blocks: Res → Other → Res"):
        loads(_broken(cycle))


# ---- group and ungroup ----------------------------------------------------------------------------


def test_group_then_repeat_then_undo_restores_everything():
    d = residual(1)
    before = d.to_dict()
    ids = [d.node_by_name(n).id for n in ("stem", "stage")]
    edit = group_into_block(d, ids, "Front")
    edit.apply(d)
    instance = d.node(edit.result)
    assert [p.name for p in instance.layer.inputs] == ["x"]
    assert [p.name for p in instance.layer.outputs] == ["out"]
    assert [n.name for n in d.nodes] == ["x", "front", "head", "out"]
    assert validate(d).ok and infer(d).total_params == infer(loads(json.dumps(before))).total_params
    edit.revert(d)
    assert d.to_dict() == before


def test_group_finds_several_ports_and_refuses_a_selection_with_a_hole():
    b = skip_junction()
    d = b.design
    edit = group_into_block(d, [b.id("a"), b.id("b")])
    edit.apply(d)
    layer = d.node(edit.result).layer  # a and b both leave (to add), a also to join
    assert [p.name for p in layer.inputs] == ["x"]
    assert [p.name for p in layer.outputs] == ["out", "out_2"] and validate(d).ok
    edit.revert(d)
    edit = group_into_block(d, [b.id("add"), b.id("a")])
    edit.apply(d)
    layer = d.node(edit.result).layer  # x enters (to a) and so does b (to add)
    assert (len(layer.inputs), len(layer.outputs)) == (2, 2) and validate(d).ok
    edit.revert(d)
    with pytest.raises(BlockError, match="after lies between"):
        group_into_block(d, [b.id("add"), b.id("join")])
    with pytest.raises(BlockError, match="Input or Output"):
        group_into_block(d, [b.id("x"), b.id("a")])


def test_ungroup_inlines_every_copy_with_bound_params():
    d = residual(2)
    before = d.to_dict()
    params = infer(d).total_params
    edit = ungroup(d, d.node_by_name("stage").id)
    edit.apply(d)
    assert not any(n.is_block for n in d.nodes)
    assert sorted(n.type for n in d.nodes).count("Linear") == 2 + 3 + 2
    assert validate(d).ok and infer(d).total_params == params
    assert all(not isinstance(v, str) for n in d.nodes for v in n.params.values())
    edit.revert(d)
    assert d.to_dict() == before


# ---- summary and templates ------------------------------------------------------------------------


def test_summary_groups_blocks_with_their_totals():
    d = residual(3)
    summary = summarize(d)
    [group] = summary.groups
    assert group.name == "stage" and group.repeat == 3
    assert [c.name for c in group.children] == ["stage.0", "stage.1", "stage.2"]
    assert sum(c.params for c in group.children) == group.params
    assert [r.name for r in group.children[0].children] == ["stage.0.fc1", "stage.0.proj",
                                                            "stage.0.act", "stage.0.fc2",
                                                            "stage.0.add"]
    out = summary_dict(d, summary, True)
    assert (out["params"], out["nodes"], out["layers"]) == (infer(d).total_params, 5, 4 + 13)


@pytest.mark.parametrize("name, params, layers", [
    ("resnet18", 11_689_512, 71), ("resnet34", 21_797_672, None), ("resnet50", 25_557_032, None),
    ("vgg16", 138_357_544, None),
])
def test_templates_match_torchvision_parameter_counts(name, params, layers):
    d = templates.build(name)
    report = validate(d)
    assert report.ok, [x.format(d) for x in report.errors]
    assert report.inference.total_params == params
    if layers is not None:
        assert report.inference.total_layers == layers == len(flatten(d))
    if name.startswith("resnet"):
        assert len(d) <= 25


def test_resnet_depth_is_one_argument():
    d18 = templates.build("resnet")
    d34 = templates.rebuild(d18, {"depth": 34})
    assert d34.template == {"name": "resnet", "args": dict(d18.template["args"], depth=34)}
    assert infer(d34).total_params == 21_797_672
    assert [n.name for n in d34.nodes] == [n.name for n in d18.nodes]
    changed = [(a.name, a.params) for a, b in zip(d18.nodes, d34.nodes) if a.params != b.params]
    assert [name for name, _ in changed] == ["layer1", "layer2", "layer3", "layer4"]
    assert (d18.name, d34.name) == ("ResNet-18", "ResNet-34")  # the template's own name follows
    d18.name = "My net"
    assert templates.rebuild(d18, {"depth": 50}).name == "My net"  # a name the user chose stays


def test_every_template_and_its_small_variant_is_valid():
    for name in templates.names():
        for small in (False, True):
            d = templates.build(name, small=small)
            assert validate(d).ok, (name, small, [x.format(d) for x in validate(d).errors])
            if small:
                assert d.data["name"] == "digits"
    assert templates.lookup("vgg16_bn")[1] == {"depth": 16, "batch_norm": True}
    with pytest.raises(templates.TemplateError, match="depth must be one of 18, 34"):
        templates.build("resnet", {"depth": 20})
    with pytest.raises(templates.TemplateError, match="unknown template 'resnet19'"):
        templates.lookup("resnet19")
