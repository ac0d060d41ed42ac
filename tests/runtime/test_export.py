"""Every export format, on every example and on a design using the exotic layer types, reloads
what it wrote and reproduces the compiled model."""
from __future__ import annotations

import ast
import io
import stat
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from safetensors.torch import load_file, save_file

from graph.atomic import new_file_mode
from graph.catalog import CATALOG
from graph.design import Design, Edge
from graph.fileformat import load, save
from runtime import export as ex
from runtime.compiler import compile_design, example_inputs
from graph import templates
from tests.conftest import EXAMPLES
from tests.graph.test_blocks import residual

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))


def exotic_design(node_name=None) -> Design:
    """Two inputs (an image and int64 tokens), two outputs, and the less common layers:
    Concat, Multiply, Permute, Reshape, Upsample, ConvTranspose2d, GroupNorm, Embedding,
    TransformerEncoderLayer, self-attention, a bidirectional GRU, a stacked bidirectional LSTM
    and an RNN."""
    d = Design("Exotic")

    def add(type_id, name, **params):
        return d.add_node(d.make_node(type_id, node_name(name) if node_name else name, params)).id

    def chain(*ids):
        for a, b in zip(ids, ids[1:]):
            d.add_edge(Edge(a, b))

    image = add("Input", "image", shape=[1, 8, 8])
    tokens = add("Input", "tokens", shape=[12], dtype="int64")
    gn = add("GroupNorm", "norm", num_groups=4)
    convt = add("ConvTranspose2d", "up_conv", out_channels=8)
    gate = add("Multiply", "gate")
    maps = add("Concat", "join_maps", dim=0)
    gap = add("GlobalAvgPool", "pool")
    chain(image, add("Conv2d", "conv", out_channels=8, kernel_size=3, padding=1), gn, convt, gate,
          maps, gap)
    chain(gn, add("Upsample", "upsample", scale_factor=2, mode="bilinear"), gate)
    d.add_edge(Edge(convt, maps))
    embed = add("Embedding", "embed", num_embeddings=50, embedding_dim=16)
    encoder = add("TransformerEncoderLayer", "encoder", num_heads=4, dim_feedforward=32)
    gru = add("GRU", "gru", hidden_size=8, bidirectional=True)
    chain(tokens, embed, encoder, add("MultiheadSelfAttention", "attend", num_heads=2), gru)
    proj = add("Linear", "proj", out_features=16)
    chain(encoder, add("Permute", "swap", dims=[1, 0]), add("Reshape", "flat", shape=[-1]), proj)
    rnn = add("RNN", "rnn", hidden_size=5)
    chain(embed, add("LSTM", "lstm", hidden_size=6, num_layers=2, bidirectional=True,
                     return_sequence=True), rnn)
    features = add("Concat", "features", dim=0)
    for src in (gap, gru, proj, rnn):
        d.add_edge(Edge(src, features))
    chain(features, add("Linear", "classifier", out_features=10), add("Output", "logits"))
    chain(gru, add("Output", "summary"))
    return d


def modern_design() -> Design:
    """The layer types of modern networks, wired so every export format must reproduce them:
    uneven and 'same' convolution padding with reflect/replicate modes, PReLU, Hardswish,
    LayerNorm2d, LayerScale, DropPath, ReLU6, Hardtanh, Pad, Slice, bilinear upsampling with
    aligned corners, L2 normalization, 3-D convolution, batch norm
    and pooling, 1-D and adaptive max pooling, the smooth activations, a class token, position
    embedding, an encoder stack, a decoder layer, cross-attention, MatMul with a learned
    Parameter, Subtract, Mean/Max/Sum and Scale."""
    d = Design("Modern")
    d.set_data({**d.data, "name": "digits", "options": {"as_images": True}})

    def add(type_id, name, *sources, **params):
        nid = d.add_node(d.make_node(type_id, name, params)).id
        ports = [p.name for p in CATALOG[type_id].inputs]
        for i, src in enumerate(sources):
            d.add_edge(Edge(src, nid, dst_port=ports[min(i, len(ports) - 1)]))
        return nid

    image = add("Input", "image", shape=[1, 8, 8])
    stem = add("Conv2d", "stem", image, out_channels=8, kernel_size=4, same_padding=True,
               padding_mode="reflect")
    act = add("Hardswish", "hswish", add("PReLU", "prelu", stem, per_channel=True))
    down = add("Conv2d", "down", act, out_channels=8, stride=2, padding_sides=[0, 1, 0, 1],
               padding_mode="replicate")
    branch = add("DropPath", "drop_path", add("LayerScale", "gamma",
                                              add("LayerNorm2d", "ln2d", down), init_value=0.5))
    res = add("Add", "residual", branch, down)
    maps = add("Hardtanh", "clamp", add("ReLU6", "relu6", res), min_val=-0.5, max_val=3.0)
    maps = add("Slice", "crop", add("Pad", "pad", maps, padding=[1, 1, 1, 1], mode="reflect"),
               dim=1, start=1, stop=-1)
    f_maps = add("L2Normalize", "unit", add("GlobalAvgPool", "gap", add(
        "Upsample", "corners", maps, mode="bilinear", align_corners=True)))
    # ONNX's adaptive max pooling needs sizes that the exporter loses behind any padding.
    f_image = add("Flatten", "f_image", add("AdaptiveMaxPool2d", "amax2d", image, output_size=2))

    vol = add("Reshape", "volume", image, shape=[1, 1, 8, 8])
    vol = add("BatchNorm3d", "bn3d", add("Conv3d", "conv3d", vol, out_channels=2, padding=1))
    vol = add("AvgPool3d", "avg3d", add("MaxPool3d", "max3d", vol, kernel_size=[1, 2, 2]),
              kernel_size=[1, 2, 2])
    f_vol = add("Flatten", "f_vol", vol)

    rows = add("Reshape", "rows", image, shape=[8, 8])
    seq = add("PositionEmbedding", "pos", add("ClassToken", "cls",
                                              add("Linear", "embed", rows, out_features=16)))
    enc = add("TransformerEncoder", "encoder", seq, num_heads=2, dim_feedforward=32,
              num_layers=2, norm_first=True, activation="gelu", layer_norm_eps=1e-6)
    memory = add("Linear", "memory", rows, out_features=16)
    dec = add("TransformerDecoderLayer", "decoder", enc, memory, num_heads=4,
              dim_feedforward=24, bias=False)
    cross = add("MultiheadAttention", "cross", dec, rows, num_heads=2)
    f_cls = add("Flatten", "f_cls", add("Slice", "cls_out", cross, dim=0, start=0, stop=1))

    cols = add("Permute", "cols", rows, dims=[1, 0])
    wave = add("AdaptiveAvgPool1d", "aavg1d", add("AvgPool1d", "avg1d", cols), output_size=4)
    wave = add("AdaptiveMaxPool1d", "amax1d", wave, output_size=2)
    for name in ("Mish", "Softplus", "Softsign", "Hardsigmoid"):
        wave = add(name, name.lower(), wave)
    halves = add("Chunk", "halves", wave, dim=1)  # a GLU: first half × sigmoid(second)
    gate, gated = add("Sigmoid", "gate"), add("Multiply", "glu")
    d.add_edge(Edge(halves, gate, "second"))
    d.add_edge(Edge(halves, gated, "first"))
    d.add_edge(Edge(gate, gated))
    head = add("Split", "head", add("Flatten", "f_wave", gated), size=-3)
    f_wave = add("Identity", "kept")
    d.add_edge(Edge(head, f_wave, "first"))

    prod = add("MatMul", "matmul", rows, add("Parameter", "weights", rows, shape=[8, 4]))
    centred = add("Subtract", "centre", prod, add("Mean", "mean", prod, dims=[0], keepdim=True))
    peak = add("Scale", "half", add("Max", "peak", centred, dims=[0]), factor=0.5)
    total = add("Sum", "total", peak, dims=[-1], keepdim=True)

    features = add("Concat", "features", f_maps, f_image, f_vol, f_cls, f_wave, peak, total)
    add("Output", "logits", add("Linear", "classifier", features, out_features=10))
    return d


def randomized(design: Design, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights of ``design`` with every float tensor random, so that BatchNorm statistics and
    biases matter too (fresh BatchNorm layers are an identity in eval mode)."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in compile_design(design).module.state_dict().items():
        if value.is_floating_point():
            noise = torch.rand(value.shape, generator=gen) * 0.5 + 0.5
            value = noise if key.endswith("running_var") else (noise - 0.75) * 2
        out[key] = value
    return out


def reference(design: Design, weights, batch: int = 4, seed: int = 5):
    compiled = compile_design(design)
    compiled.module.load_state_dict(weights)
    compiled.module.eval()
    inputs = example_inputs(compiled, design, batch, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        out = compiled.module(*inputs)
    return inputs, (list(out) if isinstance(out, tuple) else [out])


def code_tokens(source: str) -> list[str]:
    """Names used as code (comments, strings and docstrings excluded)."""
    return [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type == tokenize.NAME]


# ---- every format on every design ----------------------------------------------------------------

DESIGNS = [pytest.param(lambda p=p: load(p), id=p.stem) for p in EXAMPLE_FILES] + [
    pytest.param(exotic_design, id="exotic"), pytest.param(modern_design, id="modern"),
    pytest.param(lambda: templates.build("resnet", small=True), id="resnet-blocks"),
    pytest.param(lambda: residual(3), id="repeated-block-with-absent-layer")]


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("fmt", list(ex.FORMATS))
@pytest.mark.parametrize("make", DESIGNS)
def test_export_reproduces_the_model(make, fmt, tmp_path):
    design = make()
    weights = randomized(design)
    result = ex.export_model(design, fmt, tmp_path / "model", weights)

    assert result.format == fmt
    assert result.path == tmp_path / f"model{ex.FORMATS[fmt]}"
    assert result.files[0] == result.path and all(f.is_file() for f in result.files)
    assert sorted(tmp_path.iterdir()) == sorted(result.files)  # no temporary files left
    modes = {f.suffix: stat.S_IMODE(f.stat().st_mode) for f in result.files}
    assert set(modes.values()) == {new_file_mode()}, modes  # safetensors wrote 0600
    assert 0.0 <= result.max_diff <= ex.TOLERANCE
    assert result.batch != ex.TRACE_BATCH

    # Independently of the built-in check: load what was written, run a batch of another size.
    inputs, expected = reference(design, weights, batch=5)
    if fmt == "python":
        model = ex.import_source(result.path).Model()
        model.load_state_dict(load_file(result.files[1]))
        got = model.eval()(*inputs)
    elif fmt == "safetensors":
        assert load_file(result.path).keys() == weights.keys()
        got = None
    elif fmt == "torchscript":
        got = torch.jit.load(str(result.path))(*inputs)
    elif fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
        feeds = {i.name: t.numpy() for i, t in zip(session.get_inputs(), inputs)}
        got = [torch.from_numpy(o) for o in session.run(None, feeds)]
    else:
        got = torch.export.load(str(result.path)).module()(*inputs)
    if got is not None:
        got = list(got) if isinstance(got, (tuple, list)) else [got]
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert g.shape == e.shape
            torch.testing.assert_close(g.detach(), e, atol=ex.TOLERANCE, rtol=0)


def odd_design(kind: str) -> Design:
    """Small iris designs with unusual wiring: an unused (first) Input, one layer feeding two
    Outputs, an Input wired straight to an Output, and a network without any layer."""
    d = Design(kind)
    bare = kind == "no_layers"  # the inputs are the outputs: a regression network
    d.set_data({**d.data, "name": "diabetes" if bare else "iris", "options": {}})
    d.set_training({**d.training, "loss": "mse" if bare else "cross_entropy"})

    def add(type_id, name, **params):
        return d.add_node(d.make_node(type_id, name, params)).id

    if kind == "unused_input":
        add("Input", "unused", shape=[3])
    x = add("Input", "x", shape=[10] if bare else [4])
    if bare:
        d.add_edge(Edge(x, add("Output", "out")))
        return d
    fc = add("Linear", "fc", out_features=3)
    d.add_edge(Edge(x, fc))
    d.add_edge(Edge(fc, add("Output", "out")))
    if kind == "two_outputs_one_layer":
        d.add_edge(Edge(fc, add("Output", "again")))
    if kind == "input_as_output":
        d.add_edge(Edge(x, add("Output", "raw")))
    return d


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("fmt", list(ex.FORMATS))
@pytest.mark.parametrize("kind", ["unused_input", "two_outputs_one_layer", "input_as_output",
                                  "no_layers"])
def test_unusual_wiring_exports(kind, fmt, tmp_path):
    design = odd_design(kind)
    result = ex.export_model(design, fmt, tmp_path / "m", randomized(design))
    assert result.max_diff <= ex.TOLERANCE


# ---- the standalone Python file ----------------------------------------------------------------


def test_python_source_is_standalone_and_readable(tmp_path):
    design = exotic_design()
    result = ex.export_model(design, "python", tmp_path / "exotic.py", randomized(design))
    source = result.path.read_text(encoding="utf-8")
    tree = ast.parse(source)

    imports = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imports |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imports == {"__future__", "torch"}
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    # The custom modules the design uses are copied in; the unused ones are not.
    assert set(classes) == {"Model", "Multiply", "Concat", "GlobalAvgPool", "Recurrent",
                            "RecurrentRNN", "RecurrentLSTM", "RecurrentGRU",
                            "SelfAttention", "Permute", "Reshape"}

    mod = ex.import_source(result.path)
    assert mod.INPUT_SHAPE == ((None, 1, 8, 8), (None, 12))
    assert mod.INPUT_DTYPE == (torch.float32, torch.int64)
    model = mod.Model()  # no arguments
    assert load_file(result.files[1]).keys() == model.state_dict().keys()

    forward = next(f for f in classes["Model"].body
                   if isinstance(f, ast.FunctionDef) and f.name == "forward")
    assert [a.arg for a in forward.args.args] == ["self", "image", "tokens"]
    lines = [ast.unparse(s) for s in forward.body]
    layers = [n for n in design.nodes if n.type not in ("Input", "Output")]
    assert len(lines) == len(layers) + 1  # one line per layer, then the return
    assert "gate = self.gate(up_conv, upsample)" in lines
    assert "features = self.features(pool, gru, proj, rnn)" in lines
    assert lines[-1] == "return (classifier, gru)"
    assert "self.up_conv = nn.ConvTranspose2d(" in source
    assert "self.swap = Permute(dims=(1, 0))" in source


def test_block_docstrings_keep_their_wording():
    design = templates.build("resnet18", small=True)
    source = ex.python_source(design, compile_design(design))
    assert '"""Projection shortcut: 1×1 convolution and batch norm."""' in source
    assert '"""ResNet basic block: two 3×3 convolutions and a shortcut."""' in source
    ast.parse(source)


def test_python_file_runs_without_netwright(tmp_path):
    design = exotic_design()
    result = ex.export_model(design, "python", tmp_path / "model.py", randomized(design))
    inputs, expected = reference(design, randomized(design), batch=3)
    np.save(tmp_path / "image.npy", inputs[0].numpy())
    np.save(tmp_path / "tokens.npy", inputs[1].numpy())
    script = textwrap.dedent("""
        import sys, numpy as np, torch
        from safetensors.torch import load_file
        import model
        assert not {"graph", "runtime", "main"} & set(sys.modules), "imports Netwright"
        net = model.Model()
        net.load_state_dict(load_file("model.safetensors"))
        net.eval()
        with torch.no_grad():
            logits, summary = net(torch.from_numpy(np.load("image.npy")),
                                  torch.from_numpy(np.load("tokens.npy")))
        np.save("logits.npy", logits.numpy())
    """)
    # -I: isolated mode, so neither the repository nor PYTHONPATH is importable.
    code = f"import sys; sys.path.insert(0, '.')\n{script}"
    proc = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = torch.from_numpy(np.load(tmp_path / "logits.npy"))
    torch.testing.assert_close(got, expected[0], atol=ex.TOLERANCE, rtol=0)


HOSTILE = ['"); import os; os.system("x', "__init__", "class", "self", "1st layer", "a b",
           "a-b", "forward", "Ünïcode ✓", '"""', "\\", "print", "x\nimport os"]


def test_hostile_node_names_give_harmless_code(tmp_path):
    names = iter(HOSTILE * 3)
    design = exotic_design(node_name=lambda base: next(names))
    # Validation requires unique names: append a counter where the list repeats.
    seen: dict[str, int] = {}
    for node in design.nodes:
        seen[node.name] = seen.get(node.name, 0) + 1
        if seen[node.name] > 1:
            design.rename_node(node.id, f"{node.name}{seen[node.name]}")
    design.name = '"""\nimport os; os.system("rm -rf /")  # evil'
    assert compile_design(design)  # still a valid design
    result = ex.export_model(design, "python", tmp_path / "m.py", randomized(design))
    source = result.path.read_text(encoding="utf-8")
    names = code_tokens(source)
    assert "os" not in names and "system" not in names and "print" not in names
    tree = ast.parse(source)
    assert {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} == {"__future__",
                                                                                    "torch"}
    plain = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert plain == {"torch"}
    assert result.max_diff <= ex.TOLERANCE


def test_literal_refuses_anything_but_plain_data():
    from runtime.codegen import literal

    assert literal((3, 3)) == "(3, 3)" and literal((64,)) == "(64,)" and literal(1e-5) == "1e-05"
    assert literal('x"); import os') == repr('x"); import os')
    with pytest.raises(TypeError):
        literal(object())
    with pytest.raises(ValueError):
        literal(float("nan"))


# ---- format details ------------------------------------------------------------------------------


def test_onnx_names_and_dynamic_batch(tmp_path):
    design = exotic_design()
    result = ex.export_model(design, "onnx", tmp_path / "m.onnx")
    model = onnx.load(str(result.path))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["image", "tokens"]
    assert [o.name for o in model.graph.output] == ["logits", "summary"]
    for value in list(model.graph.input) + list(model.graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert model.graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.INT64


def test_pt2_batch_dimension_is_symbolic(tmp_path):
    design = load(EXAMPLES / "digits_cnn.json")
    result = ex.export_model(design, "pt2", tmp_path / "m.pt2")
    program = torch.export.load(str(result.path))
    placeholder = next(n for n in program.graph.nodes if n.op == "placeholder"
                       and n.name == "image")
    assert isinstance(placeholder.meta["val"].shape[0], torch.SymInt)
    for batch in (1, 7):
        assert program.module()(torch.randn(batch, 1, 8, 8)).shape == (batch, 10)


def test_a_mismatch_is_an_error_and_leaves_no_file(tmp_path, monkeypatch):
    write, run = ex._FORMATS["torchscript"]
    monkeypatch.setitem(ex._FORMATS, "torchscript",
                        (write, lambda *a: [t + 1e-3 for t in run(*a)]))
    with pytest.raises(ex.ExportError, match="max abs difference 0.001 exceeds 0.0001"):
        ex.export_model(load(EXAMPLES / "iris_mlp.json"), "torchscript", tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


def test_export_model_keeps_the_callers_module_as_it_was(tmp_path):
    design = load(EXAMPLES / "digits_cnn.json")
    module = compile_design(design).module.train()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    ex.export_model(design, "onnx", tmp_path / "m", module)
    assert module.training
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_bad_requests(tmp_path):
    design = load(EXAMPLES / "iris_mlp.json")
    with pytest.raises(ex.ExportError, match="unknown export format 'keras'"):
        ex.export_model(design, "keras", tmp_path / "m")
    with pytest.raises(ex.ExportError, match=r"\.py file"):
        ex.export_model(design, "python", tmp_path / "m.txt")
    with pytest.raises(ex.ExportError, match="no such directory"):
        ex.export_model(design, "onnx", tmp_path / "missing" / "m.onnx")
    design.remove_node(next(n.id for n in design.nodes if n.type == "Output"))
    with pytest.raises(ex.ExportError, match="no Output"):
        ex.export_model(design, "onnx", tmp_path / "m.onnx")


# ---- run directories ---------------------------------------------------------------------------


def make_run(tmp_path: Path, design: Design, **checkpoints: dict) -> Path:
    """A run directory as the trainer writes it: design.json and checkpoints/*/model.safetensors."""
    run = tmp_path / "run"
    run.mkdir()
    save(design, run / "design.json")
    (run / "config.json").write_text("{}")
    for name, weights in checkpoints.items():
        (run / "checkpoints" / name).mkdir(parents=True)
        save_file(weights, str(run / "checkpoints" / name / "model.safetensors"))
    return run


def test_run_directory_exports_the_chosen_checkpoint(tmp_path):
    design = load(EXAMPLES / "digits_cnn.json")
    best, last = randomized(design, 1), randomized(design, 2)
    run = make_run(tmp_path, design, best=best, last=last)
    for name, weights in (("best", best), ("last", last)):
        result = ex.export_path(run, "python", tmp_path / f"{name}.py", checkpoint=name)
        assert result.max_diff <= ex.TOLERANCE
        exported = load_file(result.files[1])
        assert all(torch.equal(exported[k], weights[k]) for k in weights)


def test_run_directory_problems_are_clear(tmp_path):
    design = load(EXAMPLES / "digits_cnn.json")
    run = make_run(tmp_path, design, last=randomized(design))
    with pytest.raises(ex.ExportError, match=r"no 'best' checkpoint .*available: last"):
        ex.load_source(run, "best")
    with pytest.raises(ex.ExportError, match="unknown checkpoint"):
        ex.load_source(run, "first")
    other = randomized(load(EXAMPLES / "digits_mlp.json"))
    save_file(other, str(run / "checkpoints" / "last" / "model.safetensors"))
    with pytest.raises(ex.ExportError, match="do not fit the design"):
        ex.load_source(run, "last")
    (run / "checkpoints" / "last" / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ex.ExportError, match="not a readable safetensors file"):
        ex.load_source(run, "last")
    with pytest.raises(ex.ExportError, match="not a run directory"):
        ex.load_source(tmp_path, "best")


def test_ddp_prefixed_weights_are_accepted(tmp_path):
    design = load(EXAMPLES / "iris_mlp.json")
    weights = randomized(design)
    run = make_run(tmp_path, design, best={f"module.{k}": v for k, v in weights.items()})
    source = ex.load_source(run)
    assert all(torch.equal(source.compiled.module.state_dict()[k], v) for k, v in weights.items())


def test_design_file_exports_seeded_fresh_weights(tmp_path):
    path = EXAMPLES / "iris_mlp.json"
    a, b = ex.load_source(path), ex.load_source(path)
    assert a.fresh and "freshly initialized" in a.origin
    sa, sb = a.compiled.module.state_dict(), b.compiled.module.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("example", ["iris_mlp.json", "digits_cnn.json", "moons_mlp.json"])
def test_python_export_of_a_run_carries_its_data_preparation(tmp_path, example):
    """A model taken elsewhere must see inputs prepared as in training: the exported source's
    preprocess() matches the run's normalization on raw samples, and CLASSES its class names."""
    import json

    from runtime.data import Normalization
    from runtime.training import train

    design = load(EXAMPLES / example)
    run = tmp_path / "run"
    events = list(train(design, run_dir=run, overrides={"epochs": 1}))
    assert events[-1]["status"] == "completed", events[-1]
    dataset = json.loads((run / "config.json").read_text())["dataset"]
    result = ex.export_path(run, "python", tmp_path / "model.py")
    mod = ex.import_source(result.files[0])
    module = mod.Model()
    module.load_state_dict(load_file(result.files[1]))
    module.eval()
    assert list(mod.CLASSES) == dataset["class_names"]
    raw = torch.rand((5, *dataset["sample_shape"])) * 16
    expected = Normalization.from_dict(dataset["normalization"]).apply(raw)
    torch.testing.assert_close(mod.preprocess(raw), expected)
    predictions = mod.postprocess(module(mod.preprocess(raw)))
    assert predictions.shape == (5,) and int(predictions.max()) < len(mod.CLASSES)
