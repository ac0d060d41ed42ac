"""Networks as people write them in PyTorch (``tests/data/user_models``: tutorials' LeNets,
U-Nets, hand-written ResNets, text classifiers, transformers, generators …) imported as
``file.py:Class``: the same outputs, parameter count and tensors, a valid design that reads
well (blocks named after the user's submodules), trains and exports again; what cannot map is
said in one message naming the line."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from graph.fileformat import load
from graph.grouping import flatten
from graph.shapes import infer
from graph.validate import validate
from runtime.compiler import compile_design, example_inputs
from runtime.export import _read_safetensors, export_model, import_source, load_weights
from runtime.importers import Imported, UnsupportedModel, import_model, save_imported
from runtime.importers import child
from runtime.weights import match_weights
from tests.conftest import cli

USER_MODELS = Path(__file__).resolve().parents[1] / "data" / "user_models"
TOLERANCE = 1e-4


@dataclass(frozen=True)
class Case:
    """One user model: ``nodes`` top-level nodes (Input and Output included) and ``blocks``
    block types on the canvas; ``by_name``: the design's state_dict keys are the source's.
    ``in_order``: those keys come in the source's order too (the design registers modules in
    the order it calls them, which a source need not). ``tensors``: the source's state_dict
    loads into the design tensor for tensor (by name, else by shape in order), which a merged
    attention projection or a buffer cannot."""

    spec: str
    nodes: int
    blocks: tuple[str, ...] = ()
    shape: list | None = None
    args: dict | None = None
    by_name: bool = True
    in_order: bool = True
    tensors: bool = True
    extra_params: int = 0  # buffers that came in as (frozen) layer tensors

    @property
    def id(self) -> str:
        return self.spec.split(":")[1]


CASES = [
    Case("lenet.py:LeNet", 16),
    Case("lenet.py:MnistNet", 14),
    Case("lenet.py:SizeViewNet", 7, ("Features", "Classifier")),
    Case("unet.py:UNet", 19, ("DoubleConv", "DoubleConvLayers"), in_order=False),  # ups.0 …
    # registered before bottleneck, called after it
    Case("unet.py:UNetBilinear", 15, ("DoubleConv", "DoubleConvLayers")),
    Case("resnet.py:ResNet", 11, ("BasicBlock", "BasicBlock_2", "Shortcut", "Layer2")),
    Case("resnet.py:SEResNet", 8, ("SEBasicBlock", "SELayer", "Fc", "Stem", "Downsample",
                                   "SEBasicBlock_2", "Layer1", "Layer2")),
    Case("densenet.py:DenseNet", 9, ("DenseLayer", "DenseBlock", "Transition", "Features")),
    Case("text.py:LSTMClassifier", 8),
    Case("text.py:GRUClassifier", 5),
    Case("text.py:LastHiddenLSTM", 5),
    Case("text.py:TextCNN", 14, ("Convs",)),  # a three-output block: convs.0, convs.1 …
    Case("transformer.py:TransformerClassifier", 9, by_name=False),  # cls_token.token
    Case("transformer.py:TinyViT", 7, ("Block", "Mlp"), by_name=False, tensors=False),
    Case("transformer.py:SeparateQKVAttention", 6, by_name=False, tensors=False),
    Case("transformer.py:TutorialTransformer", 8, ("PositionalEncoding",), by_name=False,
         tensors=False, extra_params=10 * 16),
    Case("mixer.py:MLPMixer", 9, ("MixerBlock", "MlpBlock")),
    Case("generative.py:VAEEncoder", 7, ("Conv",)),
    Case("generative.py:ConvAutoencoder", 4, ("Encoder", "Decoder")),
    Case("generative.py:Generator", 4, ("Main",), shape=[16]),
    Case("misc.py:MLP", 4, ("Net",), shape=[20],
         args={"in_features": 20, "hidden": [32, 16], "num_classes": 3}),
    Case("misc.py:ModernCNN", 13, ("ConvBlock",), shape=[3, 16, 16]),
    Case("ops.py:EmbeddingNet", 5, ("Features",)),
    Case("ops.py:AlignedSegNet", 5, ("Encoder",)),
    Case("ops.py:EinsumAttention", 21, shape=[10, 16]),
    # its encoder is called on both inputs: two layers each, with copies of the weights
    Case("misc.py:SiameseNet", 8, ("Encoder",), shape=[[1, 8, 8], [1, 8, 8]], by_name=False,
         tensors=False, extra_params=8 * 9 + 8 + 16 * 8 * 9 + 16),
]


def _import(case: Case, folder: Path):
    """What ``python main.py import`` does in its child process, done here (the process
    itself is tested below): the report, the design, its weights and the source module with
    the same initial weights."""
    file, _, name = case.spec.partition(":")
    spec = f"{USER_MODELS / file}:{name}"
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = child.run({"source": spec, "input_shape": case.shape, "args": case.args,
                            "out": str(folder)})
    torch.manual_seed(0)
    source = child.load_class(spec, case.args)[0]
    return report, load(folder / "design.json"), _read_safetensors(folder / "weights.safetensors"), source


def _compiled(design, weights):
    compiled = compile_design(design)
    load_weights(compiled.module, weights, design.name)
    return compiled


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_user_model_imports_with_its_outputs_tensors_and_submodules(case, tmp_path):
    report, design, weights, source = _import(case, tmp_path)
    assert report["max_diff"] is not None and report["max_diff"] <= TOLERANCE
    result = validate(design)
    assert result.ok, [d.format(design) for d in result.errors]
    params = sum(p.numel() for p in source.parameters())
    assert infer(design).total_params == params + case.extra_params
    own, theirs = _compiled(design, weights).module.state_dict(), source.state_dict()
    if case.by_name:
        assert {k: v.shape for k, v in own.items()} == {k: v.shape for k, v in theirs.items()}
        assert (list(own) == list(theirs)) == case.in_order
    if case.tensors:
        matching = match_weights(own, theirs)
        assert not (matching.missing or matching.unexpected or matching.mismatched)
        assert all(torch.equal(own[mine], theirs[their]) for mine, their, _ in matching.matched)
    # it reads well: the source's structure, not one node per operator
    assert len(design) == case.nodes
    assert sorted(b.name for b in design.blocks) == sorted(case.blocks)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_user_model_trains_and_exports_again(case, tmp_path):
    """A few optimizer steps on random inputs change the weights and keep the loss finite;
    the Python and ONNX exports reproduce the imported design (each export checks itself), and
    the exported Python module takes the source's own state_dict by name where the design's
    keys are the source's."""
    _, design, weights, source = _import(case, tmp_path)
    compiled = _compiled(design, weights)
    module = compiled.module.train()
    optimizer = torch.optim.Adam([p for p in module.parameters() if p.requires_grad], lr=1e-2)
    inputs = example_inputs(compiled, design, 4, torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in module.state_dict().items()}
    for _ in range(3):
        outputs = module(*inputs)
        outputs = [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)
        loss = sum((o.float() ** 2).mean() for o in outputs)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss)
    assert any(not torch.equal(before[k], v) for k, v in module.state_dict().items())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fmt, suffix in (("python", "py"), ("onnx", "onnx")):
            assert export_model(design, fmt, tmp_path / f"again.{suffix}", weights).max_diff <= 1e-5
    if case.by_name:
        import_source(tmp_path / "again.py").Model().load_state_dict(source.state_dict())


def test_layers_are_named_after_the_users_modules_and_tensors(tmp_path):
    """ModuleList items keep their list's name and index (``downs.0``), a Sequential
    named like a class of the model leaves the class its name, a top-level parameter names the
    layer holding it, and a buffer comes in frozen, as the source never trains it."""
    _, unet, _, _ = _import(Case("unet.py:UNet", 0), tmp_path / "unet")
    assert [n.name for n in unet.nodes if n.type == "DoubleConv"] == [
        "downs.0", "downs.1", "downs.2", "bottleneck", "ups.1", "ups.3", "ups.5"]
    _, vit, _, _ = _import(Case("transformer.py:TransformerClassifier", 0), tmp_path / "vit")
    assert [n.name for n in vit.nodes][1:3] == ["cls_token", "pos_embedding"]
    assert all(n.trainable for n in vit.nodes)
    _, tutorial, _, _ = _import(Case("transformer.py:TutorialTransformer", 0), tmp_path / "t")
    encoding = tutorial.blocks["PositionalEncoding"].body
    assert [(n.name, n.trainable) for n in encoding.nodes if n.type == "PositionEmbedding"] == [
        ("pe", False)]


def test_what_cannot_map_is_one_message_naming_the_line(tmp_path):
    spec = f"{USER_MODELS / 'misc.py'}:NormalizedCNN"
    with pytest.raises(UnsupportedModel) as caught:
        import_model(spec, allow_code=True, input_shape=[3, 16, 16])  # as File ▸ Import… does
    message = str(caught.value)
    assert "misc.py:86: return super().forward((x - self.mean) / self.std)" in message
    assert "subtracting a constant tensor (a buffer or parameter) has no layer yet" in message
    assert "turn on Normalize features in the design's data settings" in message
    assert "Traceback" not in message
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        child.run({"source": spec, "input_shape": [3, 16, 16], "placeholders": True,
                   "out": str(tmp_path)})
    assert [n.type for n in load(tmp_path / "design.json").nodes].count("Unsupported") == 2


def test_the_cli_imports_a_user_model_with_two_inputs(tmp_path, capsys):
    spec = f"{USER_MODELS / 'misc.py'}:SiameseNet"
    status, out, err = cli(capsys, "import", spec, "--allow-code", "--input-shape", "[1, 8, 8]",
                           "-o", tmp_path / "d.json")
    assert status != 0
    assert ("SiameseNet.forward takes 2 inputs (input1, input2): give one shape per input, such "
            "as [[1, 8, 8], [1, 8, 8]]") in err
    status, out, err = cli(capsys, "import", spec, "--allow-code", "--input-shape",
                           "[[1, 8, 8], [1, 8, 8]]", "-o", tmp_path / "d.json")
    assert status == 0, err
    assert "max abs difference 0" in out
    design = load(tmp_path / "d.json")
    assert [n.name for n in design.nodes if n.type == "Input"] == ["input1", "input2"]


@pytest.mark.slow
def test_an_imported_user_model_trains_on_the_data_it_fits(tmp_path, capsys):
    """An MLP of 64 features and 10 classes comes in on the digits and trains there, from the
    source's weights (``python main.py train``)."""
    mlp = Case("misc.py:MLP", 4, shape=[64], args={"in_features": 64, "hidden": [32],
                                                    "num_classes": 10})
    _, design, weights, _ = _import(mlp, tmp_path)
    assert design.data["name"] == "digits"
    save_imported(Imported(design, weights, source="misc.py:MLP"), tmp_path / "mlp.json")
    status, out, err = cli(capsys, "train", tmp_path / "mlp.json", "--epochs", "2",
                           "--device", "cpu", "--run-dir", tmp_path / "run")
    assert status == 0, err
    assert "completed after 2 epoch" in out and "val_accuracy" in out


def test_normalize_aligned_upsampling_and_einsum_come_in_as_layers(tmp_path):
    """``F.normalize(x, p=2, dim=1)`` → L2Normalize (also from ONNX's ReduceL2, Clip, Expand,
    Div); bilinear ``F.interpolate`` with ``align_corners=True`` → Upsample with align_corners
    (also from ONNX's Resize); attention's
    ``torch.einsum("bhid,bhjd->bhij")`` / ``("bhij,bhjd->bhid")`` → Permute and MatMul (also
    from ONNX's Einsum): each within 1e-5 of the source."""
    layers = {}
    for name in ("EmbeddingNet", "AlignedSegNet", "EinsumAttention"):
        case = next(c for c in CASES if c.id == name)
        report, design, _, _ = _import(case, tmp_path / name)
        assert report["max_diff"] <= 1e-5
        layers[name] = [(n.type, n.resolved_params()) for n in design.nodes]
    assert ("L2Normalize", {"dim": 0, "eps": 1e-12}) in layers["EmbeddingNet"]
    assert ("Upsample", {"scale_factor": 2, "mode": "bilinear", "align_corners": True}) \
        in layers["AlignedSegNet"]
    assert [t for t, _ in layers["EinsumAttention"]].count("MatMul") == 2
    expected = {"EmbeddingNet": "L2Normalize", "AlignedSegNet": "Upsample",
                "EinsumAttention": "MatMul"}
    for name, shape in (("EmbeddingNet", [3, 8, 8]), ("AlignedSegNet", [3, 8, 8]),
                        ("EinsumAttention", [10, 16])):
        model = child.load_class(f"{USER_MODELS / 'ops.py'}:{name}", None)[0].eval()
        path = tmp_path / f"{name}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.randn(2, *shape),), str(path), dynamo=False,
                              input_names=["x"], dynamic_axes={"x": {0: "batch"}})
            imported = import_model(str(path))
        assert imported.max_diff <= 1e-5
        kinds = [n.type for n in imported.design.nodes]
        assert kinds.count(expected[name]) == (2 if name == "EinsumAttention" else 1), kinds
