"""The modern templates: torchvision's parameter counts, state_dict keys (MobileNet, EfficientNet)
or tensor shapes (ConvNeXt, ViT), their width/depth arguments and small variants that run — and
a small ViT that trains on the digits."""
from __future__ import annotations

import math

import pytest
import torch

from graph import templates
from graph.validate import validate
from runtime.compiler import compile_design, example_inputs
from runtime.training import train
from tests.runtime.test_blocks_compile import reference

TORCHVISION = {"mobilenet_v2": 3_504_872, "mobilenet_v3_small": 2_542_856,
               "efficientnet_b0": 5_288_548, "convnext_tiny": 28_589_128,
               "vit_b_16": 86_567_656}
SAME_KEYS = ("mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0")


def _state(name: str, **args) -> list[list]:
    design = templates.build(name, args)
    report = validate(design)
    assert report.ok, [d.format(design) for d in report.errors]
    with torch.device("meta"):
        module = compile_design(design, report).module
    assert report.inference.total_params == sum(p.numel() for p in module.parameters())
    return [[k, list(v.shape)] for k, v in module.state_dict().items()]


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_parameter_counts_and_tensors_equal_torchvision(name):
    keys = _state(name)
    expected = reference()[name]
    assert expected["params"] == TORCHVISION[name]
    assert sum(math.prod(shape) for key, shape in keys
               if not key.endswith(("running_mean", "running_var", "num_batches_tracked"))
               ) == TORCHVISION[name]
    if name in SAME_KEYS:  # torchvision's weights load by name
        assert keys == expected["keys"]
    else:
        assert sorted(map(str, (s for _, s in keys))) == sorted(
            map(str, (s for _, s in expected["keys"])))


def test_builder_names_and_blocks():
    for name in TORCHVISION:
        template, alias_args = templates.lookup(name)
        assert template.name == name and alias_args == {}
    design = templates.build("efficientnet_b0")
    se = design.blocks["SqueezeExcitation"]
    assert [n.name for n in se.body.nodes if n.type == "Conv2d"] == ["fc1", "fc2"]
    assert "SqueezeExcitation" in templates.build("mobilenet_v3_small").blocks


def test_width_and_depth_arguments_scale_the_networks():
    base = sum(math.prod(s) for _, s in _state("mobilenet_v2"))
    narrow = sum(math.prod(s) for _, s in _state("mobilenet_v2", width=50))
    deep = sum(math.prod(s) for _, s in _state("efficientnet_b0", depth=200))
    assert narrow < base and deep > sum(math.prod(s) for _, s in _state("efficientnet_b0"))
    vit = _state("vit_b_16", depth=2, hidden=64, heads=4, mlp_dim=128, size=32, patch=8)
    assert dict(map(tuple, vit))["pos_embedding.embedding"] == [1, 17, 64]  # 16 patches + class


@pytest.mark.parametrize("name", [*TORCHVISION, "sequence_classifier"])
def test_small_variants_run_forward_and_backward(name):
    design = templates.build(name, small=True)
    report = validate(design)
    assert report.ok, [d.format(design) for d in report.errors]
    compiled = compile_design(design, report)
    out = compiled.module(*example_inputs(compiled, design, batch=3))
    assert out.shape == (3, 10)
    out.sum().backward()


@pytest.mark.slow
def test_a_small_vit_trains_on_digits():
    design = templates.build("vit_b_16", small=True)
    assert design.data["name"] == "digits"
    design.set_training(dict(design.training, device="cpu", epochs=1, batch_size=64))
    events = list(train(design, write_files=False))
    end = events[-1]
    assert end["event"] == "end" and end["status"] == "completed", end
    epoch = [e for e in events if e["event"] == "epoch"][-1]
    assert math.isfinite(epoch["train_loss"])


def test_matmul_macs_are_the_figures_torchvision_publishes():
    """torchvision's model docs list these GFLOPS (counted as multiply-accumulates of
    convolutions, linear layers and matrix products); the full convention counts more."""
    published = {"resnet18": 1.81, "mobilenet_v2": 0.30, "mobilenet_v3_small": 0.06,
                 "efficientnet_b0": 0.39, "convnext_tiny": 4.46, "vit_b_16": 17.56}
    for name, gmacs in published.items():
        inference = validate(templates.build(name)).inference
        assert round(inference.total_matmul_macs / 1e9, 2) == gmacs, name
        assert inference.total_macs > inference.total_matmul_macs
