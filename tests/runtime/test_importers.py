"""Importing ONNX files, torch.export programs and PyTorch classes as designs."""
from __future__ import annotations

import collections
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from graph.fileformat import load
from graph.shapes import infer
from graph.validate import validate
from runtime.compiler import compile_design, example_inputs
from runtime.export import export_model, load_weights
from runtime.importers import (CodeImportRefused, UnsupportedModel, import_model, needs_code,
                               save_imported)
from runtime.importers import child
from runtime.importers.onnx_import import ONNX_OPS, layer_name
from runtime.importers.torch_import import import_program
from safetensors.torch import load_file
from runtime.importers.registry import Registry

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "resources" / "examples").glob("*.json"))
TOLERANCE = 1e-5


def _trained_like(design) -> torch.nn.Module:
    """The example compiled with its initial weights and non-trivial BatchNorm statistics."""
    torch.manual_seed(0)
    compiled = compile_design(design)
    with torch.no_grad():
        for name, tensor in compiled.module.state_dict().items():
            if "running_var" in name:
                tensor.copy_(torch.rand_like(tensor) + 0.5)
            elif "running_mean" in name or name.endswith("bias"):
                tensor.copy_(torch.randn_like(tensor) * 0.1)
    return compiled


def _outputs_match(original, imported) -> float:
    compiled = compile_design(imported.design)
    load_weights(compiled.module, imported.weights, "imported")
    inputs = example_inputs(original, original.module and _design_of(original), 4,
                            torch.Generator().manual_seed(7))
    with torch.no_grad():
        want = original.module.eval()(*inputs)
        got = compiled.module.eval()(*inputs)
    return float((want - got).abs().max())


_DESIGNS: dict[int, object] = {}


def _design_of(compiled):
    return _DESIGNS[id(compiled)]


def _export(path: Path, fmt: str, out: Path):
    design = load(path)
    compiled = _trained_like(design)
    _DESIGNS[id(compiled)] = design
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = export_model(design, fmt, out, compiled.module)
    return design, compiled, result.path


def _round_trip(example: Path, fmt: str, stem: Path):
    """Export ``example`` as ``fmt`` to ``stem`` (with the format's suffix) and import it back:
    (design, compiled, exported path, imported)."""
    suffix = "py" if fmt == "python" else fmt
    design, compiled, exported = _export(example, fmt, stem.with_suffix(f".{suffix}"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return design, compiled, exported, _import_in_process(fmt, exported)


def _import_in_process(fmt: str, exported: Path):
    """The conversion the child process runs, done here on files this test wrote itself (the
    child's own plumbing is tested once below): every example stays fast."""
    if fmt == "onnx":
        return import_model(exported)
    if fmt == "pt2":
        program = torch.export.load(str(exported))
        imported = import_program(program, "pt2")
        imported.max_diff = child.compare(program.module(), imported)
        return imported
    model, shape, dtype = child.load_class(f"{exported}:Model", None)
    model.load_state_dict(load_file(str(exported.with_suffix(".safetensors"))))
    imported = import_program(child.export_module(model, list(shape), dtype), "Model")
    imported.max_diff = child.compare(model, imported)
    return imported


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "pt2", "python"])
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_round_trips(example, fmt, tmp_path):
    """export → import gives a valid design with the same parameter count and the same outputs."""
    design, compiled, _exported, imported = _round_trip(example, fmt, tmp_path / "model")
    assert not imported.unmapped
    report = validate(imported.design)
    assert report.ok, [d.format(imported.design) for d in report.errors]
    assert infer(imported.design).total_params == infer(design).total_params
    assert imported.max_diff is not None and imported.max_diff <= TOLERANCE
    assert _outputs_match(compiled, imported) <= TOLERANCE
    # Layers keep their kinds (Dropout vanishes from ONNX in evaluation mode: it does nothing).
    kinds = collections.Counter(n.type for n in design.nodes if n.type != "Dropout" or fmt != "onnx")
    assert collections.Counter(n.type for n in imported.design.nodes) == kinds
    # Module paths are kept: the layers' names are the original's.
    names = lambda d: [n.name for n in d.nodes if n.type != "Output"  # noqa: E731
                       and (n.type != "Dropout" or fmt != "onnx")]
    assert names(imported.design) == names(design)


@pytest.mark.slow
def test_pt2_import_runs_in_a_child_process(tmp_path):
    design, compiled, exported = _export(EXAMPLES[0], "pt2", tmp_path / "m.pt2")
    imported = import_model(exported, allow_code=True)
    assert imported.max_diff <= TOLERANCE and _outputs_match(compiled, imported) <= TOLERANCE
    assert "torch" not in imported.design.name


def _export_contents(fmt: str, path: Path) -> tuple[list[str], dict]:
    """What an export computes: its operators in order, and its tensors (ONNX initializers by
    content, as the exporter names some of them itself; a program's or a Python export's
    state_dict by name)."""
    if fmt == "onnx":
        model = onnx.load(str(path))
        arrays = sorted((numpy_helper.to_array(t).tobytes(), numpy_helper.to_array(t).shape)
                        for t in model.graph.initializer)
        return [n.op_type for n in model.graph.node], dict(enumerate(arrays))
    if fmt == "pt2":
        program = torch.export.load(str(path))
        state = program.state_dict
    else:
        model, shape, dtype = child.load_class(f"{path}:Model", None)
        state = load_file(str(path.with_suffix(".safetensors")))
        model.load_state_dict(state)
        program = child.export_module(model, list(shape), dtype)
    ops = [str(n.target) for n in program.graph.nodes if n.op == "call_function"]
    return ops, {k: v.detach().numpy().tobytes() for k, v in state.items()}


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "pt2", "python"])
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_export_of_an_imported_design_equals_the_original(example, fmt, tmp_path):
    """example → export → import → export again: the same operators and the same tensors."""
    _design, _compiled, first, imported = _round_trip(example, fmt, tmp_path / "a")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = export_model(imported.design, fmt, tmp_path / f"b{first.suffix}",
                             imported.weights).path
        ops, tensors = _export_contents(fmt, first)
        ops_again, tensors_again = _export_contents(fmt, again)
    assert ops_again == ops
    assert tensors_again.keys() == tensors.keys()
    assert [k for k in tensors if tensors_again[k] != tensors[k]] == []


# ---- hand-made ONNX graphs ------------------------------------------------------------------


def _model(nodes, inputs, outputs, initializers=(), opset=17, name="hand"):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    helper.make_opsetid("com.example", 1)])
    return model


def _save(model, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


def _features(name: str, width: int):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", width])


def test_matmul_then_add_is_one_linear_with_its_bias(tmp_path):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 3)).astype(np.float32)
    b = rng.normal(size=(3,)).astype(np.float32)
    model = _model(
        [helper.make_node("MatMul", ["x", "w"], ["h"], name="/fc/MatMul"),
         helper.make_node("Add", ["h", "b"], ["y"], name="/fc/Add")],
        [_features("x", 6)], [_features("y", 3)],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    imported = import_model(_save(model, tmp_path / "m.onnx"))
    layers = [n for n in imported.design.nodes if n.type not in ("Input", "Output")]
    assert [(n.type, n.name, n.params) for n in layers] == [("Linear", "fc", {"out_features": 3})]
    assert imported.max_diff <= TOLERANCE
    torch.testing.assert_close(imported.weights["fc.weight"], torch.from_numpy(w.T))
    torch.testing.assert_close(imported.weights["fc.bias"], torch.from_numpy(b))


def _unsupported_model():
    return _model(
        [helper.make_node("Erf", ["x"], ["a"], name="/act/Erf"),
         helper.make_node("Relu", ["a"], ["r"], name="/relu/Relu"),
         helper.make_node("Erf", ["r"], ["c"], name="/act2/Erf"),
         helper.make_node("Mystery", ["c"], ["y"], name="/odd/Mystery", domain="com.example")],
        [_features("x", 4)], [_features("y", 4)])


def test_unsupported_operators_are_listed_by_name_count_and_place(tmp_path):
    path = _save(_unsupported_model(), tmp_path / "odd.onnx")
    with pytest.raises(UnsupportedModel) as info:
        import_model(path)
    unmapped = info.value.unmapped
    assert collections.Counter(u.op for u in unmapped) == {"Erf": 2, "com.example.Mystery": 1}
    assert {u.place for u in unmapped} == {"/act/Erf", "/act2/Erf", "/odd/Mystery"}
    assert "Erf ×2 at /act/Erf, /act2/Erf" in str(info.value)


def test_placeholders_bring_unsupported_operators_in_as_errors(tmp_path):
    path = _save(_unsupported_model(), tmp_path / "odd.onnx")
    imported = import_model(path, placeholders=True)
    types = [n.type for n in imported.design.nodes]
    assert types.count("Unsupported") == 3 and "ReLU" in types
    report = validate(imported.design)
    errors = [d for d in report.errors if d.code == "unsupported"]
    flagged = {imported.design.node(d.node).params["operator"] for d in errors
               if imported.design.node(d.node).type == "Unsupported"}
    assert flagged == {"Erf", "com.example.Mystery"}
    assert "has no Netwright layer" in errors[0].message
    design_file = tmp_path / "odd.json"
    save_imported(imported, design_file)
    assert [n.type for n in load(design_file).nodes] == types  # placeholders survive a save


def test_sources_that_run_code_need_permission(tmp_path):
    assert needs_code("m.pt2") and needs_code("nets.py:ResNet") and not needs_code("m.onnx")
    (tmp_path / "evil.py").write_text("raise SystemExit('ran')\n")
    with pytest.raises(CodeImportRefused):
        import_model(f"{tmp_path / 'evil.py'}:Model")
    with pytest.raises(CodeImportRefused):
        import_model(tmp_path / "x.pt2")


@pytest.mark.slow
def test_a_python_class_with_constructor_arguments(tmp_path):
    (tmp_path / "nets.py").write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, width, classes=3):\n"
        "        super().__init__()\n"
        "        self.features = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width),\n"
        "                                      nn.ReLU(), nn.AdaptiveAvgPool2d(1))\n"
        "        self.head = nn.Linear(width, classes)\n\n"
        "    def forward(self, x):\n"
        "        return self.head(torch.flatten(self.features(x), 1))\n")
    imported = import_model(f"{tmp_path / 'nets.py'}:Net", allow_code=True,
                            input_shape=[3, 12, 12], args={"width": 5, "classes": 4})
    names = [n.name for n in imported.design.nodes]
    assert names[:2] == ["x", "features"]  # the Sequential is a block, its items 0, 1 …
    body = imported.design.blocks[imported.design.nodes[1].type].body
    assert [n.name for n in body.nodes if n.type not in ("Input", "Output")] == ["0", "1", "2", "3"]
    assert {"features.0.weight", "features.1.running_mean", "head.weight"} <= set(imported.weights)
    assert imported.max_diff <= TOLERANCE
    assert infer(imported.design).total_params == 3 * 5 * 9 + 5 + 2 * 5 + 5 * 4 + 4


def test_a_failing_python_file_is_reported_not_raised(tmp_path):
    (tmp_path / "bad.py").write_text("import torch\nclass Net(torch.nn.Module):\n"
                                     "    def __init__(self):\n        raise ValueError('nope')\n")
    with pytest.raises(ValueError, match="nope"):
        import_model(f"{tmp_path / 'bad.py'}:Net", allow_code=True, input_shape=[4])


def test_registry_picks_the_newest_converter_not_newer_than_the_opset():
    registry = Registry("test")
    registry.register("Op", since=1)(lambda ctx: "v1")
    registry.register("Op", since=13)(lambda ctx: "v13")
    assert registry.fetch("Op", 12).convert(None) == "v1"
    assert registry.fetch("Op", 17).convert(None) == "v13"
    assert registry.fetch("Other", 17) is None
    with pytest.raises(ValueError):
        registry.register("Op", since=13)(lambda ctx: None)
    assert {"Conv", "Gemm", "LSTM", "BatchNormalization"} <= set(ONNX_OPS.operators())


def test_layer_names_follow_the_module_path():
    assert layer_name("/layer1/layer1.0/conv1/Conv", "Conv") == "layer1.0.conv1"
    assert layer_name("/fc/Gemm", "Gemm") == "fc"
    assert layer_name("Gemm_3", "Gemm") == "gemm"
    # Other exporters: names without module paths kept; unnamed nodes after their output.
    assert layer_name("Convolution28", "Conv") == "Convolution28"
    assert layer_name("resnetv15_stage1_conv0_fwd", "Conv") == "resnetv15_stage1_conv0_fwd"
    assert layer_name("", "Conv", "fire2_squeeze1x1_1") == "fire2_squeeze1x1_1"
    assert layer_name("Gemm_3", "Gemm", "23") == "gemm_23"


def test_mobile_activations_map_to_their_layers():
    from torch import nn

    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU6(), nn.Linear(8, 8), nn.Hardswish(),
                          nn.Hardsigmoid(), nn.Hardtanh(-2.0, 3.0)).eval()
    imported = import_program(child.export_module(model, [6]), "mobile")
    kinds = [n.type for n in imported.design.nodes if n.type not in ("Input", "Output")]
    assert kinds == ["Linear", "ReLU6", "Linear", "Hardswish", "Hardsigmoid", "Hardtanh"]
    assert child.compare(model, imported) <= TOLERANCE


def test_an_imported_design_whose_input_has_the_default_shape_gets_a_dataset_that_fits(tmp_path):
    """A 1×8×8 input (the Input layer's default, so left out of its params) picks the digits."""
    from graph.fileformat import save
    from graph.templates import build

    design = build("lenet", {}, small=True)
    path = tmp_path / "lenet.json"
    save(design, path)
    _, _, exported = _export(path, "onnx", tmp_path / "lenet.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imported = _import_in_process("onnx", exported)
    assert imported.design.data["name"] == "digits"
    report = validate(imported.design)
    assert report.ok, [d.format(imported.design) for d in report.errors]


def test_the_dataset_picked_for_an_import_fits_its_output(tmp_path):
    """4 features and 2 outputs: iris has 4 features but 3 classes, so it is not picked (it
    was, and the import stopped on its own validation error)."""
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 2)).astype(np.float32)
    model = _model([helper.make_node("MatMul", ["x", "w"], ["y"], name="/fc/MatMul")],
                   [_features("x", 4)], [_features("y", 2)], [numpy_helper.from_array(w, "w")])
    imported = import_model(_save(model, tmp_path / "m.onnx"))
    assert imported.design.data["name"] != "iris"
    assert validate(imported.design).network_ok and imported.max_diff <= TOLERANCE
    model = _model([helper.make_node("MatMul", ["x", "w"], ["y"], name="/fc/MatMul")],
                   [_features("x", 4)], [_features("y", 3)],
                   [numpy_helper.from_array(rng.normal(size=(4, 3)).astype(np.float32), "w")])
    assert import_model(_save(model, tmp_path / "m3.onnx")).design.data["name"] == "iris"


@pytest.mark.parametrize("shape", ["x", [0], [3, -1], True, {"a": 1}])
def test_a_wrong_input_shape_for_a_python_class_is_a_message(tmp_path, shape):
    (tmp_path / "nets.py").write_text("raise SystemExit('must not run')\n")
    with pytest.raises(ValueError, match="the input shape must be a list of sizes"):
        import_model(f"{tmp_path / 'nets.py'}:Net", allow_code=True, input_shape=shape)


def _template_round_trip(name: str, fmt: str, tmp_path: Path):
    from graph.templates import build
    from runtime.importers.hierarchy import module_classes, nest

    design = build(name, small=True)
    compiled = _trained_like(design)
    _DESIGNS[id(compiled)] = design
    suffix = "py" if fmt == "python" else fmt
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exported = export_model(design, fmt, tmp_path / f"{name}.{suffix}", compiled.module).path
        if fmt == "onnx":
            return design, compiled, import_model(exported)
        if fmt == "pt2":
            program = torch.export.load(str(exported))
            reference = program.module()
        else:  # what the child process does with file.py:Model (as _import_in_process)
            reference, shape, dtype = child.load_class(f"{exported}:Model", None)
            reference.load_state_dict(load_file(str(exported.with_suffix(".safetensors"))))
            program = child.export_module(reference, list(shape), dtype)
        imported = nest(import_program(program, name),
                        module_classes(n.meta.get("nn_module_stack") for n in program.graph.nodes))
    imported.max_diff = child.compare(reference, imported)
    return design, compiled, imported


def _template_cases():
    from graph.templates import names

    for name in names():
        for fmt in ("onnx", "pt2", "python"):
            yield pytest.param(name, fmt, id=f"{name}-{fmt}")


@pytest.mark.slow
@pytest.mark.parametrize("name, fmt", list(_template_cases()))
def test_every_template_round_trips(name, fmt, tmp_path):
    """A template's small variant → export → import: the same parameter count and outputs,
    with its blocks (the hierarchy comes back from the module paths); exported again, the
    same operators and tensors as the first export."""
    design, compiled, imported = _template_round_trip(name, fmt, tmp_path)
    assert validate(imported.design).network_ok
    assert infer(imported.design).total_params == infer(design).total_params
    assert imported.max_diff is not None and imported.max_diff <= TOLERANCE
    assert _outputs_match(compiled, imported) <= TOLERANCE
    if design.blocks:
        assert imported.design.blocks, "the template's blocks come back as blocks"
    suffix = "py" if fmt == "python" else fmt
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = export_model(imported.design, fmt, tmp_path / f"again.{suffix}", imported.weights)
        same = _export_contents(fmt, tmp_path / f"{name}.{suffix}") == _export_contents(fmt, again.path)
    assert same, "the imported design's export differs from the original's"


@pytest.mark.slow
def test_a_python_file_is_found_relative_to_the_current_folder(tmp_path, monkeypatch):
    """The child process runs elsewhere: ``nets.py:Net`` named from its own folder."""
    (tmp_path / "nets.py").write_text(
        "import torch\n\nclass Net(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = torch.nn.Linear(4, 3)\n\n"
        "    def forward(self, x):\n        return self.fc(x)\n")
    monkeypatch.chdir(tmp_path)
    imported = import_model("nets.py:Net", allow_code=True, input_shape=[4])
    assert imported.max_diff <= TOLERANCE and infer(imported.design).total_params == 15


# ---- attention written out by the exporter ----------------------------------------------------


class _Attention(torch.nn.Module):
    """timm's ViT attention: one qkv Linear (or three), heads split by reshape/permute."""

    def __init__(self, dim: int, heads: int, separate: bool = False, causal: bool = False):
        super().__init__()
        self.heads, self.separate, self.causal = heads, separate, causal
        if separate:
            self.q, self.k, self.v = (torch.nn.Linear(dim, dim) for _ in range(3))
        else:
            self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.proj = torch.nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        if self.separate:
            q, k, v = (f(x).reshape(b, n, self.heads, c // self.heads).permute(0, 2, 1, 3)
                       for f in (self.q, self.k, self.v))
        else:
            q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(
                2, 0, 3, 1, 4).unbind(0)
        scores = (q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5
        if self.causal:
            scores = scores + torch.triu(torch.full((n, n), -1e9), 1)
        out = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(out)


def _attention_onnx(tmp_path: Path, **kwargs) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(collections.OrderedDict(
        norm=torch.nn.LayerNorm(16), attn=_Attention(16, 2, **kwargs))).eval()
    path = tmp_path / "attention.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 5, 16),), str(path), dynamo=False,
                          opset_version=17, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return path, model


@pytest.mark.parametrize("separate", [False, True], ids=["fused_qkv", "separate_qkv"])
def test_attention_written_out_by_the_exporter_is_one_self_attention_layer(tmp_path, separate):
    """Not torch's own MultiheadAttention: timm's layout, recognised by what it computes."""
    path, model = _attention_onnx(tmp_path, separate=separate)
    imported = import_model(path)
    layers = [n for n in imported.design.nodes if n.type not in ("Input", "Output")]
    assert [(n.type, n.name) for n in layers] == [("LayerNorm", "norm"), ("MultiheadSelfAttention", "attn")]
    assert layers[1].params == {"num_heads": 2}  # read off the scores, not a default
    assert imported.max_diff <= TOLERANCE
    compiled = compile_design(imported.design)
    load_weights(compiled.module, imported.weights, "imported")
    x = torch.randn(3, 5, 16)
    with torch.no_grad():
        assert float((compiled.module.eval()(x) - model(x)).abs().max()) <= TOLERANCE
    assert infer(imported.design).total_params == sum(p.numel() for p in model.parameters())


def test_attention_with_a_mask_is_not_taken_for_plain_self_attention(tmp_path):
    path, _ = _attention_onnx(tmp_path, causal=True)
    with pytest.raises(UnsupportedModel) as info:
        import_model(path)
    assert "MultiheadSelfAttention" not in str(info.value)
    assert {u.op for u in info.value.unmapped} & {"Transpose", "MatMul", "Softmax", "Add"}
    assert "it looks like self-attention, but it computes something other than " \
           "nn.MultiheadAttention with these weights (a mask" in str(info.value)


class _Shifts(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.fc2 = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)

    def forward(self, x):
        h = 5.0 - (self.fc(x) * 2.5 + 1.0 - 3.0)
        return self.fc2(h) + 0.5


@pytest.mark.parametrize("way", ["onnx", "torch"])
def test_numbers_added_or_subtracted_become_scale_offsets(tmp_path, way):
    """x·2.5 + 1 is one Scale; − 3 and 5 − h are Scales of their own (folding them into one
    would round differently); + 0.5 after a Linear with a bias is a Scale too."""
    torch.manual_seed(0)
    model = _Shifts().eval()
    if way == "onnx":
        path = tmp_path / "shifts.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.randn(2, 4),), str(path), dynamo=False, opset_version=17,
                              input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        imported = import_model(path)
    else:
        imported = import_program(child.export_module(model, [4]), "shifts")
    layers = [(n.type, n.params) for n in imported.design.nodes if n.type not in ("Input", "Output")]
    assert layers == [("Linear", {"out_features": 4}), ("Scale", {"factor": 2.5, "offset": 1.0}),
                      ("Scale", {"offset": -3.0}), ("Scale", {"factor": -1.0, "offset": 5.0}),
                      ("Linear", {"out_features": 4}), ("Scale", {"offset": 0.5})]
    assert child.compare(model, imported) <= TOLERANCE
