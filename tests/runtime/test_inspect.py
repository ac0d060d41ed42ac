"""Looking inside a network (runtime/inspect.py): predictions and per-layer outputs checked
against the model's own numbers, with a run's weights and with an untrained design."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graph.fileformat import load
from runtime.data import DataError
from runtime.inspect import (layer_outputs, load_samples, open_model, predict, preview_kind,
                             sample_from_features, sample_from_picture)
from runtime.training import train
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A short real run of the digits CNN (one epoch, a few batches)."""
    run_dir = tmp_path_factory.mktemp("runs") / "digits"
    design = load(EXAMPLES / "digits_cnn.json")
    events = list(train(design, run_dir=run_dir, overrides={"epochs": 1}, limit_batches=4))
    assert events[-1]["event"] == "end" and events[-1]["status"] == "completed"
    return run_dir


def test_probabilities_sum_to_one_and_match_the_models_output(digits_run):
    model = open_model(run_dir=digits_run)
    assert model.source == "best" and model.run_dir == digits_run
    samples = load_samples(model)
    assert samples.split == "test" and samples.task == "classification"
    assert len(samples) > 100 and samples.inputs.shape[1:] == (1, 8, 8)
    x = samples.inputs[3:4]
    answer = predict(model, x)
    assert answer.probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    with torch.no_grad():
        expected = torch.softmax(model.module(x), dim=1)[0].numpy()
    np.testing.assert_allclose(answer.probabilities, expected, rtol=1e-5, atol=1e-7)
    assert answer.predicted == int(expected.argmax())
    assert samples.label(3) in samples.class_names


def test_the_weights_are_the_runs_not_fresh_ones(digits_run):
    trained = open_model(run_dir=digits_run)
    fresh = open_model(design=trained.design)
    assert fresh.source == "untrained"
    x = load_samples(trained).inputs[:1]
    assert not torch.allclose(trained.module(x), fresh.module(x))
    again = open_model(design=trained.design)  # untrained weights come from the design's seed
    assert torch.equal(fresh.module(x), again.module(x))


def test_each_preview_is_the_layers_output(digits_run):
    model = open_model(run_dir=digits_run)
    design = model.design
    x = load_samples(model).inputs[:1]
    outputs = layer_outputs(model, x)
    assert set(outputs) == {n.id for n in design.nodes}
    by_name = {n.name: n.id for n in design.nodes}
    module = model.module
    ident = model.compiled.idents
    with torch.no_grad():
        conv = getattr(module, ident[by_name["conv1"]])(x)[0]
        final = module(x)[0]
    torch.testing.assert_close(outputs[by_name["conv1"]].tensor, conv)
    assert outputs[by_name["conv1"]].kind == "maps"
    out_id = model.compiled.output_nodes[0]
    torch.testing.assert_close(outputs[out_id].tensor, final)
    assert outputs[out_id].kind == "vector"
    torch.testing.assert_close(outputs[model.compiled.input_nodes[0]].tensor, x[0])
    # Each layer's output is its module applied to its input's output.
    for node in design.nodes:
        if node.id in ident and node.type not in ("Input", "Output"):
            src = design.in_edges(node.id)[0].src
            with torch.no_grad():
                mine = getattr(module, ident[node.id])(outputs[src].tensor[None])[0]
            torch.testing.assert_close(outputs[node.id].tensor, mine)


def test_attention_layers_give_their_weights():
    from tests.graph.util import row_attention

    b = row_attention()
    model = open_model(design=b.design)
    x = torch.randn(1, 64)
    outputs = layer_outputs(model, x)
    assert outputs[b.id("rows")].kind == "sequence"
    attn = outputs[b.id("attn")]
    assert attn.kind == "attention" and attn.attention.shape == (8, 8)
    torch.testing.assert_close(attn.attention.sum(dim=1), torch.ones(8))
    mha = getattr(model.module, model.compiled.idents[b.id("attn")]).attn
    seq = x.reshape(1, 8, 8)
    with torch.no_grad():
        _out, expected = mha(seq, seq, seq, need_weights=True)
    torch.testing.assert_close(attn.attention, expected[0].detach())
    assert preview_kind((6, 8)) == "sequence" and preview_kind((4,)) == "vector"


def test_a_drawn_digit_and_a_typed_row_become_inputs(digits_run):
    model = open_model(run_dir=digits_run)
    samples = load_samples(model)
    picture = np.zeros((32, 32), np.float32)
    picture[4:28, 14:18] = 1.0  # a "1"
    x = sample_from_picture(samples, picture, (1, 8, 8))
    assert x.shape == (1, 1, 8, 8)
    low, high = samples.raw_range
    blank = sample_from_picture(samples, np.zeros((8, 8), np.float32), (1, 8, 8))
    full = sample_from_picture(samples, np.ones((8, 8), np.float32), (1, 8, 8))
    assert (x >= blank - 1e-5).all() and (x <= full + 1e-5).all()
    answer = predict(model, x)
    assert answer.probabilities.sum() == pytest.approx(1.0, abs=1e-6)

    iris = open_model(design=load(EXAMPLES / "iris_mlp.json"))
    rows = load_samples(iris)
    raw = rows.normalization
    x = sample_from_features(rows, [5.1, 3.5, 1.4, 0.2])
    mul, add = raw.affine((4,))
    torch.testing.assert_close(x, torch.tensor([[5.1, 3.5, 1.4, 0.2]]) * mul + add)
    with pytest.raises(DataError, match="takes 4 feature values, not 2"):
        sample_from_features(rows, [1.0, 2.0])


def test_regression_gives_the_value_in_the_datas_units():
    from tests.graph.util import Build

    b = Build(data="diabetes")
    b.add("Input", "features", shape=[10])
    b.add("Linear", "fc1", "features", out_features=16)
    b.add("ReLU", "relu", "fc1")
    b.add("Linear", "fc2", "relu", out_features=1)
    b.add("Output", "value", "fc2")
    b.design.set_training(dict(b.design.training, loss="mse", metrics="mae"))
    model = open_model(design=b.design)
    samples = load_samples(model)
    assert samples.task == "regression" and samples.targets.shape[1] == 1
    answer = predict(model, samples.inputs[:1], samples.task, samples.normalization)
    assert answer.probabilities is None and answer.value.shape == (1,)
    with torch.no_grad():
        raw = model.module(samples.inputs[:1])
    expected = samples.normalization.invert_targets(raw).reshape(-1)
    np.testing.assert_allclose(answer.value, expected.numpy(), rtol=1e-5)
    assert float(samples.targets.max()) > 10  # targets in the data's units, not standardized


def test_a_digit_drawn_small_in_a_corner_is_framed_like_the_data(digits_run):
    """The pad's drawing is cropped to its ink and centred with the data's own margin: test
    digits redrawn at a third of the pad, off-centre, become nearly the same inputs and get
    the same answers as the digits themselves (unframed, they mostly do not)."""
    from runtime.inspect import _ink_extent, frame_drawing

    model = open_model(run_dir=digits_run)
    samples = load_samples(model)
    assert _ink_extent(samples) >= 0.85  # scikit-learn's digits fill their 8×8 frame
    count = 120
    pictures = samples.inputs[:count, 0]
    low = pictures.amin(dim=(1, 2), keepdim=True)
    high = pictures.amax(dim=(1, 2), keepdim=True)
    ink = ((pictures - low) / (high - low)).numpy()  # each digit's ink in [0, 1]

    def drawn_small(digit):
        pad = np.zeros((210, 210), np.float32)
        pad[20:92, 110:182] = np.kron(digit, np.ones((9, 9), np.float32))  # 72 px, top right
        return pad

    def inputs(picture_of):
        return torch.cat([sample_from_picture(samples, picture_of(d), (1, 8, 8)) for d in ink])

    def answers(x):
        return np.array([predict(model, x[i:i + 1]).predicted for i in range(len(x))])

    as_data = inputs(lambda d: d)
    framed = inputs(lambda d: frame_drawing(samples, drawn_small(d)))
    unframed = inputs(drawn_small)
    spread = float(as_data.std())
    assert float((framed - as_data).abs().mean()) < 0.25 * spread
    assert float((unframed - as_data).abs().mean()) > 0.6 * spread
    same = answers(as_data)
    assert np.mean(answers(framed) == same) >= 0.85
    assert np.mean(answers(unframed) == same) < 0.6
