"""Operator coverage of the importers: each converter on a small torch module brought in both
ways (torch.export and ONNX), and the torchvision architectures that import exactly (small
variants of the same code, to keep CI fast)."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from graph.shapes import infer
from runtime.importers import UnsupportedModel, import_model
from runtime.importers import child
from runtime.importers.torch_import import import_program
from tests.runtime.test_blocks_journey import torchvision_models

TOLERANCE = 1e-5


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def via_torch(model: nn.Module, shape: list[int]):
    imported = import_program(child.export_module(model, shape), type(model).__name__)
    return imported, child.compare(model, imported)


def via_onnx(model: nn.Module, shape: list[int], folder: Path):
    path = folder / f"{type(model).__name__}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, *shape),), str(path), dynamo=False,
                          opset_version=17, training=torch.onnx.TrainingMode.PRESERVE,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    imported = import_model(path)
    return imported, imported.max_diff


def layer_types(imported) -> list[str]:
    return [n.type for n in imported.design.nodes if n.type not in ("Input", "Output")]


def assert_exact(model: nn.Module, shape: list[int], folder: Path, ways=("torch", "onnx")):
    """Import ``model`` each way: outputs within 1e-5 of the source and the same parameter
    count. Returns the imports by way."""
    torch.manual_seed(0)
    model = model.eval()
    out = {}
    for way in ways:
        imported, diff = via_torch(model, shape) if way == "torch" else via_onnx(model, shape, folder)
        assert diff is not None and diff <= TOLERANCE, (way, diff)
        assert infer(imported.design).total_params == _params(model), way
        out[way] = imported
    return out


# ---- merges and cuts ---------------------------------------------------------------------------


class CatOfOne(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(torch.cat([x], 1))


def test_a_concat_of_one_tensor_is_that_tensor(tmp_path):
    for imported in assert_exact(CatOfOne(), [3, 6, 6], tmp_path).values():
        assert layer_types(imported) == ["Conv2d"]


class Halves(nn.Module):
    """ShuffleNetV2's split: chunk in two, work on one half, join them."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        return torch.cat([a, self.conv(b)], 1)


def test_chunk_into_two_is_a_chunk_layer(tmp_path):
    imports = assert_exact(Halves(), [6, 4, 4], tmp_path)
    assert "Chunk" in layer_types(imports["torch"])
    # the TorchScript exporter writes a chunk as Slices over shape arithmetic
    assert layer_types(imports["onnx"]).count("Slice") == 2


class Cuts(nn.Module):
    def forward(self, x):
        first, rest = torch.split(x, [2, 5], dim=2)
        return torch.cat([first, rest[:, :, ::2]], 2)[:, 1:-1]


def test_slices_and_uneven_splits(tmp_path):
    imports = assert_exact(Cuts(), [4, 7], tmp_path)
    assert "Slice" in layer_types(imports["onnx"])


# ---- torchvision ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tvm():
    models = torchvision_models()
    if models is None:
        pytest.skip("torchvision is not installed")
    return models


@pytest.mark.slow
def test_densenet_imports_exactly(tvm, tmp_path):
    """Same code as DenseNet-121 (a one-tensor concat first, a 21-way concat later), smaller."""
    model = tvm.DenseNet(growth_rate=4, block_config=(1, 2, 20, 1), num_init_features=8,
                         bn_size=2, num_classes=10)
    imports = assert_exact(model, [3, 32, 32], tmp_path)
    assert max(len(imports["torch"].design.in_edges(n.id))
               for n in imports["torch"].design.nodes if n.type == "Concat") == 21


@pytest.mark.slow
def test_shufflenet_imports_exactly(tvm, tmp_path):
    model = tvm.ShuffleNetV2([2, 1, 1], [8, 8, 16, 32, 64], num_classes=10)
    imports = assert_exact(model, [3, 32, 32], tmp_path)
    assert {"Chunk", "Permute", "Reshape"} <= set(layer_types(imports["torch"]))
