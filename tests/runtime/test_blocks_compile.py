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
