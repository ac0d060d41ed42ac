"""ONNX files as users download them (Model Zoo, CNTK, Caffe2, MXNet, tf2onnx, keras2onnx,
old torch), not only as torch writes them: each replica (:mod:`.onnx_zoo_styles`) imports with
onnxruntime's outputs and its parameter count, validates, trains a step and exports again —
or, where no layer computes what it does, stops with one message naming the node."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import helper, numpy_helper

from graph.shapes import infer
from graph.validate import validate
from runtime.compiler import compile_design, example_inputs
from runtime.export import export_model, load_weights
from runtime.importers import UnsupportedModel, import_model
from tests.runtime.onnx_zoo_styles import REPLICAS, Graph, tensor

TOLERANCE = 1e-4
REFUSED = {"upsample_9_linear": ("Upsample", "up", "linear resizing on the asymmetric grid")}
IMPORTED = [name for name in REPLICAS if name not in REFUSED]


def _saved(model: onnx.ModelProto, folder: Path, name: str = "model") -> Path:
    """``model`` checked as valid ONNX that onnxruntime runs, then written to ``folder``. A
    file older than opset 7, which onnxruntime does not run, is run by the import itself,
    upgraded (its ``max_diff`` is then set only if onnxruntime ran it)."""
    onnx.checker.check_model(model, full_check=True)
    path = folder / f"{name}.onnx"
    onnx.save(model, str(path))
    if model.opset_import[0].version < 7:
        return path
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {i.name: rng.normal(size=[d if isinstance(d, int) else 2 for d in i.shape]).astype(np.float32)
             for i in session.get_inputs()}
    assert all(np.isfinite(out).all() for out in session.run(None, feeds))
    return path


def _trains_a_step(imported) -> None:
    """One SGD step on the compiled design moves its weights and keeps the loss finite."""
    compiled = compile_design(imported.design)
    load_weights(compiled.module, imported.weights, "imported")
    module = compiled.module.train()
    before = {k: v.detach().clone() for k, v in module.named_parameters()}
    inputs = example_inputs(compiled, imported.design, 2, torch.Generator().manual_seed(1))
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    loss = module(*inputs).float().pow(2).mean()
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    moved = [k for k, v in module.named_parameters() if not torch.equal(v, before[k])]
    assert moved, "no weight changed"


@pytest.mark.parametrize("name", IMPORTED)
def test_a_file_as_its_exporter_writes_it_imports_exactly(name, tmp_path):
    replica = REPLICAS[name]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imported = import_model(_saved(replica.model, tmp_path, name))
    assert not imported.unmapped
    assert imported.max_diff is not None and imported.max_diff <= TOLERANCE, imported.max_diff
    upgraded = [n for n in imported.notes if "version converter" in n]
    assert len(upgraded) == (replica.model.opset_import[0].version < 7)
    assert not [n for n in imported.notes if "is called" in n]  # no module is called twice
    assert infer(imported.design).total_params == replica.learned
    report = validate(imported.design)
    assert report.ok, [d.format(imported.design) for d in report.errors]
    _trains_a_step(imported)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exported = export_model(imported.design, "onnx", tmp_path / "again.onnx", imported.weights)
    assert exported.max_diff <= TOLERANCE
    again = import_model(exported.path)
    assert again.max_diff <= TOLERANCE


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_no_layer_computes_stops_with_one_message_naming_the_node(name, tmp_path):
    op, place, reason = REFUSED[name]
    with pytest.raises(UnsupportedModel) as caught:
        import_model(_saved(REPLICAS[name]().model, tmp_path, name))
    assert [(u.op, u.place) for u in caught.value.unmapped] == [(op, place)]
    assert reason in caught.value.unmapped[0].reason and "Resize" in caught.value.unmapped[0].reason


# ---- single operators, each way an exporter writes them ----------------------------------------


def _pool_model(op: str, size: int, **attrs) -> onnx.ModelProto:
    g = Graph(20)
    g.node(op, ["x"], "y", **attrs)
    return g.model("pool", [tensor("x", ["N", 2, size, size])], [tensor("y", ["N", 2, None, None])],
                   opset=11).model


POOLS = [("MaxPool", 8, {"auto_pad": "SAME_UPPER", "kernel_shape": [2, 2], "strides": [1, 1]}),
         ("MaxPool", 7, {"auto_pad": "SAME_LOWER", "kernel_shape": [3, 3], "strides": [2, 2]}),
         ("MaxPool", 8, {"auto_pad": "SAME_LOWER", "kernel_shape": [2, 2], "strides": [1, 1]}),
         ("MaxPool", 8, {"pads": [0, 1, 1, 0], "kernel_shape": [3, 3], "strides": [2, 2]}),
         ("AveragePool", 8, {"auto_pad": "SAME_UPPER", "kernel_shape": [3, 3], "strides": [2, 2]}),
         ("AveragePool", 6, {"auto_pad": "SAME_UPPER", "kernel_shape": [3, 3], "strides": [1, 1]}),
         ("AveragePool", 8, {"pads": [0, 0, 1, 1], "kernel_shape": [2, 2], "strides": [1, 1],
                             "count_include_pad": 1}),
         ("AveragePool", 9, {"auto_pad": "VALID", "kernel_shape": [3, 3], "strides": [2, 2]})]


@pytest.mark.parametrize("op, size, attrs", POOLS, ids=[f"{p[0]}-{i}" for i, p in enumerate(POOLS)])
def test_pooling_with_uneven_or_automatic_padding_computes_as_onnxruntime(op, size, attrs, tmp_path):
    imported = import_model(_saved(_pool_model(op, size, **attrs), tmp_path))
    assert imported.max_diff <= 1e-6


def test_a_mean_pool_leaving_uneven_padding_out_is_refused_by_name(tmp_path):
    model = _pool_model("AveragePool", 8, auto_pad="SAME_LOWER", kernel_shape=[2, 2], strides=[1, 1])
    with pytest.raises(UnsupportedModel) as caught:
        import_model(_saved(model, tmp_path))
    (item,) = caught.value.unmapped
    assert (item.op, item.place) == ("AveragePool", "y")
    assert "uneven padding [[1, 0], [1, 0]]" in item.reason and "mean" in item.reason


def test_softmax_before_opset_13_runs_over_every_axis_from_its_axis_on(tmp_path):
    g = Graph(21)
    g.node("Softmax", ["x"], "y", axis=1)
    model = g.model("softmax", [tensor("x", ["N", 3, 2, 2])], [tensor("y", ["N", 3, 2, 2])], opset=11)
    imported = import_model(_saved(model.model, tmp_path))
    assert imported.max_diff <= 1e-6
    assert [n.type for n in imported.design.nodes if n.type not in ("Input", "Output")] == \
        ["Reshape", "Softmax", "Reshape"]


def test_batch_norm_over_every_position_apart_is_refused_with_the_reason(tmp_path):
    g = Graph(22)
    names = [g.weight(n, (2, 3, 3), positive=True) for n in ("s", "b", "m", "v")]
    g.node("BatchNormalization", ["x", *names], "y", spatial=0)
    model = g.model("bn", [tensor("x", [1, 2, 3, 3])], [tensor("y", [1, 2, 3, 3])], opset=7).model
    path = tmp_path / "bn.onnx"
    onnx.save(model, str(path))
    with pytest.raises(UnsupportedModel) as caught:
        import_model(path)
    (item,) = caught.value.unmapped
    assert item.op == "BatchNormalization" and "spatial=0" in item.reason


def test_gemm_alpha_and_beta_fold_into_the_linear_and_transa_is_refused(tmp_path):
    g = Graph(23)
    g.node("Gemm", ["x", g.weight("w", (3, 4)), g.weight("b", (4,))], "y", alpha=0.5, beta=3.0)
    model = g.model("gemm", [tensor("x", ["N", 3])], [tensor("y", ["N", 4])], opset=11).model
    imported = import_model(_saved(model, tmp_path))
    w, b = (numpy_helper.to_array(t) for t in model.graph.initializer)
    np.testing.assert_allclose(imported.weights["y.weight"].numpy(), 0.5 * w.T, rtol=1e-6)
    np.testing.assert_allclose(imported.weights["y.bias"].numpy(), 3.0 * b, rtol=1e-6)
    model.graph.node[0].attribute.append(helper.make_attribute("transA", 1))
    model.graph.input[0].CopyFrom(tensor("x", [3, 5]))
    model.graph.output[0].CopyFrom(tensor("y", [5, 4]))
    with pytest.raises(UnsupportedModel, match="transA=1"):
        import_model(_saved(model, tmp_path, "transposed"))


def test_an_exported_local_response_norm_is_one_lrn_operator(tmp_path):
    imported = import_model(_saved(REPLICAS["caffe2_alexnet"]().model, tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exported = export_model(imported.design, "onnx", tmp_path / "again.onnx", imported.weights)
    ops = [n.op_type for n in onnx.load(str(exported.path)).graph.node]
    assert ops.count("LRN") == 2 and "Pow" not in ops


@pytest.mark.parametrize("name, layers", [
    ("cntk_mnist", ["Convolution28", "ReLU32", "Pooling66", "Times212"]),  # node names
    ("caffe2_squeezenet", ["conv1_1", "fire2_squeeze1x1_1", "fire2_concat_1"]),  # outputs
    ("mxnet_resnet_v1", ["resnetv15_stage1_conv0_fwd", "resnetv15_dense0_fwd"])])
def test_layers_are_named_as_the_file_names_them(name, layers, tmp_path):
    imported = import_model(_saved(REPLICAS[name]().model, tmp_path), flat=True)
    names = {n.name for n in imported.design.nodes}
    assert {layer.lower() for layer in layers} <= names


@pytest.mark.parametrize("shape", [["N", 3, 5, 4], ["N", 3, 6]])
def test_global_max_pooling_as_older_torch_writes_it(shape, tmp_path):
    g = Graph(24)
    g.node("GlobalMaxPool", ["x"], "y")
    model = g.model("gmp", [tensor("x", shape)], [tensor("y", shape[:2] + [1] * (len(shape) - 2))],
                    opset=9).model
    imported = import_model(_saved(model, tmp_path))
    assert imported.max_diff == 0.0
    assert [n.type for n in imported.design.nodes if n.type not in ("Input", "Output")] == \
        [f"AdaptiveMaxPool{len(shape) - 2}d"]


@pytest.mark.parametrize("groups", [2, 4])
def test_torch_group_norm_as_torch_exports_it_is_one_group_norm(groups, tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.GroupNorm(groups, 4)).eval()
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 2.0)
        model[1].bias.uniform_(-1.0, 1.0)
    path = tmp_path / "gn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 3, 5, 5),), str(path), dynamo=False,
                          opset_version=17, input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    imported = import_model(path, flat=True)
    assert imported.max_diff <= 1e-5
    assert [n.type for n in imported.design.nodes if n.type not in ("Input", "Output")] == \
        ["Conv2d", "GroupNorm"]
    assert infer(imported.design).total_params == sum(p.numel() for p in model.parameters())
