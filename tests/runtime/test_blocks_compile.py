"""Blocks compile to nested modules whose state_dict follows the design's hierarchy; templates
have torchvision's exact keys and shapes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from graph import templates
from graph.grouping import flatten
from runtime.compiler import BlockModule, compile_design, example_inputs
from tests.graph.test_blocks import residual

ROOT = Path(__file__).resolve().parents[2]


REFERENCE = ROOT / "tests" / "data" / "torchvision_state_dicts.json"


def reference() -> dict:
    """torchvision 0.28's state_dict keys, shapes and parameter counts of nine models (a copy of
    ../shared/reference/torchvision_state_dicts.json kept with the tests, so they always run)."""
    return json.loads(REFERENCE.read_text())


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "vgg16"])
def test_template_state_dicts_equal_torchvision(name):
    expected = reference()[name]
    with torch.device("meta"):
        compiled = compile_design(templates.build(name))
    keys = [[k, list(v.shape)] for k, v in compiled.module.state_dict().items()]
    assert keys == expected["keys"]
    assert sum(p.numel() for p in compiled.module.parameters()) == expected["params"]


def test_repeat_is_a_sequential_of_block_modules_and_absent_layers_have_no_module():
    compiled = compile_design(residual(3))
    stage = compiled.module.stage
    assert isinstance(stage, torch.nn.Sequential) and len(stage) == 3
    assert type(stage[0]).__name__ == "Res" and isinstance(stage[0], BlockModule)
    assert hasattr(stage[0], "proj") and not hasattr(stage[1], "proj")
    assert list(compiled.module.state_dict())[2:6] == [
        "stage.0.fc1.weight", "stage.0.fc1.bias", "stage.0.fc2.weight", "stage.0.fc2.bias"]


def test_a_block_computes_what_its_flat_network_computes():
    design = residual(2)
    torch.manual_seed(0)
    nested = compile_design(design).module
    flat = compile_design(flatten(design)).module
    flat_params = dict(flat.named_parameters())
    assert len(flat_params) == len(list(nested.parameters()))
    with torch.no_grad():
        for name, value in nested.named_parameters():
            parts = name.split(".")  # stage.<copy>.<layer>.<weight|bias>; ungroup names copies
            if parts[0] == "stage":  # fc1, fc1_2 …
                copy, layer = int(parts[1]), parts[2]
                parts = [layer if copy == 0 else f"{layer}_{copy + 1}", parts[3]]
            flat_params[".".join(parts)].copy_(value)
    x = torch.randn(5, 4)
    assert torch.allclose(nested(x), flat(x), atol=1e-6)


def test_small_resnet_runs_forward_and_backward():
    design = templates.build("resnet", small=True)
    compiled = compile_design(design)
    x = example_inputs(compiled, design, batch=4)
    out = compiled.module(*x)
    assert out.shape == (4, 10)
    out.sum().backward()
    assert compiled.module.layer2[0].downsample[0].weight.grad is not None


def test_a_repeated_block_with_two_inputs_and_two_outputs_exports(tmp_path):
    from graph.grouping import group_into_block
    from runtime import export as ex
    from tests.graph.util import skip_junction

    b = skip_junction()
    design = b.design
    edit = group_into_block(design, [b.id("add"), b.id("a")], "Pair")
    edit.apply(design)
    design.set_param(edit.result, "repeat", 3)
    for fmt in ("python", "torchscript"):
        result = ex.export_model(design, fmt, tmp_path / fmt)
        assert result.max_diff <= ex.TOLERANCE
    assert "self.pair = Chain(Pair(), Pair(), Pair())" in (tmp_path / "python.py").read_text()


# ---- layers named as module paths -------------------------------------------------------------


def _named_paths():
    """x → downs.0 → pool → downs.1 → enc.conv ⊕ enc.1 (one block ``Par``: digit-named parallel
    layers and a ModuleList ``items.0``/``items.1``) → head, head.0 (taken: its own name)."""
    from graph.design import Design
    from tests.graph.util import Build

    b = Build(as_images=False)
    par = b.design.new_block("Par")
    inner = Build()
    inner.design = par.body
    inner.add("Input", "x", shape=[6])
    inner.add("Linear", "0", "x", out_features=6)
    inner.add("Linear", "1", "x", out_features=6)
    inner.add("Add", "sum", ["0", "1"])
    inner.add("Linear", "items.0", "sum", out_features=6)
    inner.add("ReLU", "items.1", "items.0")
    inner.add("Output", "y", "items.1")
    b.add("Input", "x", shape=[64])
    b.add("Linear", "downs.0", "x", out_features=6)
    b.add("ReLU", "pool", "downs.0")
    b.add("Linear", "downs.1", "pool", out_features=6)
    b.add("Par", "enc.par", "downs.1")
    b.add("Linear", "enc.conv", "enc.par", out_features=6)
    b.add("Linear", "head", "enc.conv", out_features=10)
    b.add("ReLU", "head.0", "head")
    b.add("Output", "out", "head.0")
    assert isinstance(b.design, Design)
    return b.design


def test_layers_named_as_module_paths_are_registered_there_and_export_so(tmp_path):
    """``downs.0`` is item 0 of an ``nn.ModuleList`` ``downs`` (as a ModuleList called in a loop
    is), ``enc.conv`` an entry of an ``nn.ModuleDict``; in a block, ``0`` is a submodule named
    0; a path under another layer's (``head.0``) stays an identifier. The standalone Python and
    ONNX exports keep those names and compute the same."""
    from runtime.export import export_model, import_source

    design = _named_paths()
    compiled = compile_design(design)
    module = compiled.module
    assert isinstance(module.downs, torch.nn.ModuleList) and len(module.downs) == 2
    assert isinstance(module.enc, torch.nn.ModuleDict)
    keys = list(module.state_dict())
    assert keys == ["downs.0.weight", "downs.0.bias", "downs.1.weight", "downs.1.bias",
                    "enc.par.0.weight", "enc.par.0.bias", "enc.par.1.weight", "enc.par.1.bias",
                    "enc.par.items.0.weight", "enc.par.items.0.bias",
                    "enc.conv.weight", "enc.conv.bias", "head.weight", "head.bias"]
    assert isinstance(module.enc.par.items, torch.nn.ModuleList)
    assert {design.node(n).name: p for n, p in compiled.paths.items()
            if n in compiled.modules_by_node()} == {
        "downs.0": "downs.0", "pool": "pool", "downs.1": "downs.1", "enc.par": "enc.par",
        "enc.conv": "enc.conv", "head": "head", "head.0": "head_0"}
    weights = {k: torch.randn(v.shape) * 0.2 for k, v in module.state_dict().items()}
    result = export_model(design, "python", tmp_path / "paths.py", weights)
    assert result.max_diff <= 1e-6
    source = result.path.read_text()
    assert "self.downs = nn.ModuleList([" in source and "self.enc = nn.ModuleDict({" in source
    assert 'self.add_module("0", nn.Linear(' in source
    assert "downs_1 = self.downs[1](pool)" in source
    assert 'l_0 = getattr(self, "0")(x)' in source and "self.items[0](sum_)" in source
    standalone = import_source(result.path).Model()
    assert list(standalone.state_dict()) == keys
    assert export_model(design, "onnx", tmp_path / "paths.onnx", weights).max_diff <= 1e-5


def test_a_block_layer_may_be_named_as_the_block_modules_own_attributes():
    """``steps`` and ``outputs`` in a block compile (they once clashed with BlockModule's plan)."""
    from tests.graph.util import Build

    b = Build(as_images=False)
    inner = Build()
    inner.design = b.design.new_block("Par").body
    inner.add("Input", "x", shape=[6])
    inner.add("Linear", "steps", "x", out_features=6)
    inner.add("ReLU", "outputs", "steps")
    inner.add("Linear", "inputs", "x", out_features=6)
    inner.add("Add", "sum", ["outputs", "inputs"])
    inner.add("Output", "y", "sum")
    b.add("Input", "x", shape=[64])
    b.add("Linear", "fc", "x", out_features=6)
    b.add("Par", "par", "fc")
    b.add("Linear", "head", "par", out_features=10)
    b.add("Output", "out", "head")
    module = compile_design(b.design).module
    assert [k for k in module.state_dict() if k.startswith("par.")] == [
        "par.steps.weight", "par.steps.bias", "par.inputs_.weight", "par.inputs_.bias"]
    assert module(torch.randn(2, 64)).shape == (2, 10)
