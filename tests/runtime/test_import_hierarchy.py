"""Imported submodules become blocks: torchvision's ResNet-18 and a model with twin submodules
come in with their hierarchy, their module names and shared block definitions."""
from __future__ import annotations

import collections
import warnings

import pytest
import torch
from torch import nn

from graph.shapes import infer
from graph.validate import validate
from runtime.compiler import compile_design
from runtime.importers import child, import_model
from runtime.importers.hierarchy import module_classes, nest
from runtime.importers.torch_import import import_program
from tests.runtime.test_blocks_journey import torchvision_models

TOLERANCE = 1e-5


class Unit(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x)) + x


class Twin(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(6, 8)
        self.a, self.b = Unit(), Unit()
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.b(self.a(self.stem(x))))


def _import(model: nn.Module, shape: list[int], flat: bool = False):
    program = child.export_module(model.eval(), shape)
    imported = import_program(program, type(model).__name__)
    if not flat:
        imported = nest(imported, module_classes(n.meta.get("nn_module_stack")
                                                 for n in program.graph.nodes))
    return imported


def _check_same_model(model: nn.Module, imported) -> None:
    """Valid, same parameters, weights load strictly under the source's names, same outputs."""
    report = validate(imported.design)
    assert report.ok, [d.format(imported.design) for d in report.errors]
    compiled = compile_design(imported.design)
    compiled.module.load_state_dict(imported.weights, strict=True)
    assert set(compiled.module.state_dict()) == set(model.state_dict())
    assert infer(imported.design).total_params == sum(p.numel() for p in model.parameters())
    assert child.compare(model, imported) <= TOLERANCE


def _top(design) -> list[tuple[str, str]]:
    return [(n.name, n.type) for n in design.nodes if n.type not in ("Input", "Output")]


def test_twin_submodules_become_one_block_used_twice():
    torch.manual_seed(0)
    model = Twin().eval()
    imported = _import(model, [6])
    assert _top(imported.design) == [("stem", "Linear"), ("a", "Unit"), ("b", "Unit"),
                                     ("head", "Linear")]
    assert imported.design.blocks.names() == ["Unit"]
    body = imported.design.blocks["Unit"].body
    assert [(n.name, n.type) for n in body.nodes if n.type not in ("Input", "Output")] == [
        ("fc", "Linear"), ("act", "ReLU"), ("add", "Add")]
    _check_same_model(model, imported)
    for name, value in model.state_dict().items():  # each instance keeps its own weights
        assert torch.equal(imported.weights[name], value)


def test_a_nested_import_round_trips_through_its_own_export(tmp_path):
    """Export the nested design (pt2), import that: the same blocks, names and outputs."""
    from runtime.export import export_model

    torch.manual_seed(0)
    model = Twin().eval()
    imported = _import(model, [6])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = export_model(imported.design, "pt2", tmp_path / "twin.pt2", imported.weights).path
    program = torch.export.load(str(path))
    again = nest(import_program(program, "twin"),
                 module_classes(n.meta.get("nn_module_stack") for n in program.graph.nodes))
    assert _top(again.design) == _top(imported.design)
    assert again.design.blocks.names() == ["Unit"]
    assert set(again.weights) == set(model.state_dict())
    assert child.compare(model, again) <= TOLERANCE


class Reenter(nn.Module):
    """``m``'s two layers are called with ``mid`` between them: ``m`` cannot be one block."""

    def __init__(self) -> None:
        super().__init__()
        self.m = nn.ModuleDict({"fc1": nn.Linear(7, 7), "fc2": nn.Linear(7, 3)})
        self.mid = nn.ReLU()

    def forward(self, x):
        return self.m["fc2"](self.mid(self.m["fc1"](x)))


def test_a_submodule_a_path_leaves_and_reenters_stays_inlined():
    model = Reenter().eval()
    imported = _import(model, [7])
    assert _top(imported.design) == [("m.fc1", "Linear"), ("mid", "ReLU"), ("m.fc2", "Linear")]
    assert list(imported.weights) == list(model.state_dict())  # in an nn.ModuleDict ``m``
    assert child.compare(model, imported) <= TOLERANCE


class OneLayerHead(nn.Module):
    """A submodule holding one layer (torchvision ViT's ``heads.head``) and one holding a
    weightless layer."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 8))
        self.act = nn.Sequential(collections.OrderedDict(relu=nn.ReLU()))
        self.heads = nn.Sequential(collections.OrderedDict(head=nn.Linear(8, 3)))

    def forward(self, x):
        return self.heads(self.act(self.body(x)))


def test_a_submodule_of_one_layer_keeps_its_tensor_names():
    """A one-layer submodule is a block when that keeps the layer's tensor names (``heads.head``,
    ``body.0``); one without tensors is that layer, named after the submodule."""
    model = OneLayerHead().eval()
    imported = _import(model, [6])
    _check_same_model(model, imported)
    assert [t for _, t in _top(imported.design)] == ["Body", "ReLU", "Heads"]


def test_flat_import_keeps_every_layer_at_the_top():
    model = Twin().eval()
    imported = _import(model, [6], flat=True)
    assert len(imported.design.blocks) == 0
    assert "a_fc" in [n.name for n in imported.design.nodes]


@pytest.mark.slow
def test_torchvision_resnet18_comes_in_with_its_hierarchy():
    models = torchvision_models()
    if models is None:
        pytest.skip("torchvision is not installed")
    torch.manual_seed(0)
    model = models.resnet18(num_classes=10).eval()
    with torch.no_grad():  # non-trivial statistics, so a misplaced BatchNorm shows
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(torch.rand_like(tensor) + 0.5)
            elif name.endswith("running_mean"):
                tensor.copy_(torch.randn_like(tensor) * 0.1)
    imported = _import(model, [3, 64, 64])
    design = imported.design
    assert [name for name, _ in _top(design)] == [
        "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool",
        "flatten", "fc"]
    layer1 = design.node_by_name("layer1")
    assert layer1.type == "BasicBlock" and layer1.params["repeat"] == 2  # compiles to layer1.0/1
    stages = {design.node_by_name(f"layer{i}").type for i in (2, 3, 4)}
    assert len(stages) == 1  # one Sequential definition, its channels an argument
    stage = design.blocks[stages.pop()]
    items = [n.type for n in stage.body.nodes if n.is_block]
    assert len(items) == 2 and items[1] == "BasicBlock"  # the plain block is reused there
    basic = [b for b in design.blocks if b.name.startswith("BasicBlock")]
    assert len(basic) == 2 and len(design.blocks) == 4  # + the stage and the downsample
    assert set(imported.weights) == set(model.state_dict())  # layer1.0.conv1.weight …
    _check_same_model(model, imported)


def test_onnx_module_paths_give_the_same_hierarchy(tmp_path):
    path = tmp_path / "twin.onnx"
    model = _twin_onnx(path)
    imported = import_model(path)
    instances = [(n.name, n.type) for n in imported.design.nodes if n.is_block]
    assert [name for name, _ in instances] == ["a", "b"]
    assert len({kind for _, kind in instances}) == 1 and len(imported.design.blocks) == 1
    _check_same_model(model, imported)
    flat = import_model(path, flat=True)
    assert len(flat.design.blocks) == 0 and len(flat.design) > len(imported.design)


def _twin_onnx(path) -> nn.Module:
    torch.manual_seed(0)
    model = Twin().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 6),), str(path), dynamo=False,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return model


def test_main_import_nests_by_default_and_keeps_flat_with_the_flag(tmp_path, capsys):
    import main
    from graph.fileformat import load
    from safetensors.torch import load_file

    model = _twin_onnx(tmp_path / "twin.onnx")
    assert main.main(["import", str(tmp_path / "twin.onnx"), "-o", str(tmp_path / "t.json")]) == 0
    assert "1 block," in capsys.readouterr().out
    design = load(tmp_path / "t.json")
    assert [n.name for n in design.nodes if n.is_block] == ["a", "b"]
    weights = load_file(str(tmp_path / "t.safetensors"))
    compile_design(design).module.load_state_dict(weights, strict=True)
    assert set(weights) == set(model.state_dict())
    assert main.main(["import", str(tmp_path / "twin.onnx"), "-o", str(tmp_path / "f.json"),
                      "--flat"]) == 0
    assert "block" not in capsys.readouterr().out
    assert not len(load(tmp_path / "f.json").blocks)


@pytest.mark.slow
def test_torchvision_resnet18_from_onnx_has_the_same_hierarchy(tmp_path):
    models = torchvision_models()
    if models is None:
        pytest.skip("torchvision is not installed")
    torch.manual_seed(0)
    model = models.resnet18(num_classes=10).eval()
    path = tmp_path / "resnet18.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 3, 64, 64),), str(path), dynamo=False,
                          training=torch.onnx.TrainingMode.PRESERVE,  # BatchNorm kept
                          input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    imported = import_model(path)
    design = imported.design
    assert [n.name for n in design.nodes if n.type not in ("Input", "Output")] == [
        "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool",
        "flatten", "fc"]
    assert design.node_by_name("layer1").params["repeat"] == 2 and len(design.blocks) == 4
    _check_same_model(model, imported)


def test_an_import_kept_flat_says_why(tmp_path, capsys, monkeypatch):
    import main
    from runtime.importers import hierarchy

    _twin_onnx(tmp_path / "twin.onnx")
    monkeypatch.setattr(hierarchy, "_max_difference", lambda *a: 0.5)  # as if blocks changed it
    imported = import_model(tmp_path / "twin.onnx")
    assert not len(imported.design.blocks)
    assert imported.notes == ["kept flat: with its submodules as blocks the outputs differ by 0.5"]
    assert main.main(["import", str(tmp_path / "twin.onnx"), "-o", str(tmp_path / "t.json")]) == 0
    assert "note: kept flat: with its submodules as blocks the outputs differ by 0.5" in \
        capsys.readouterr().out
    assert import_model(tmp_path / "twin.onnx", flat=True).notes == []  # asked for: no note
