"""``python main.py import`` and ``python main.py weights``: what a person is told."""
from __future__ import annotations

import re
import shutil

import torch

from tests.conftest import EXAMPLES, cli


def test_weights_refuses_a_whole_pickled_model_in_plain_words(tmp_path, capsys):
    design = tmp_path / "cnn.json"
    shutil.copy(EXAMPLES / "digits_cnn.json", design)
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 3)), tmp_path / "whole.pt")
    status, out, err = cli(capsys, "weights", design, tmp_path / "whole.pt")
    assert status != 0
    assert "whole.pt holds a whole pickled model" in err and "model.state_dict()" in err
    assert "\x1b" not in err and "two options" not in err


CNN = ("import torch\nfrom torch import nn\n\n"
       "class Net(nn.Module):\n"
       "    def __init__(self):\n"
       "        super().__init__()\n"
       "        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),\n"
       "                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())\n"
       "        self.head = nn.Linear(4, 3)\n\n"
       "    def forward(self, x):\n"
       "        return self.head(self.features(x))\n")


def test_a_python_file_without_a_class_asks_for_it(tmp_path, capsys):
    (tmp_path / "nets.py").write_text("raise SystemExit('must not run')\n")
    status, out, err = cli(capsys, "import", tmp_path / "nets.py", "--allow-code",
                           "-o", tmp_path / "d.json")
    assert status != 0
    assert "nets.py: name the nn.Module class to import, as nets.py:ClassName" in err
    assert "Error" not in err


def test_json_flags_are_named_and_a_bare_number_is_not_a_shape(tmp_path, capsys):
    (tmp_path / "nets.py").write_text("raise SystemExit('must not run')\n")
    source = f"{tmp_path / 'nets.py'}:Net"
    for flag, value in (("--input-shape", "[1,"), ("--args", "{bad")):
        status, out, err = cli(capsys, "import", source, "--allow-code", flag, value,
                               "-o", tmp_path / "d.json")
        assert status != 0 and f"{flag} must be JSON" in err
    status, out, err = cli(capsys, "import", source, "--allow-code", "--input-shape", "8",
                           "-o", tmp_path / "d.json")
    assert status != 0 and "must be a list of sizes without the batch, written in JSON" in err


def test_an_input_shape_that_does_not_fit_is_said_in_words(tmp_path, capsys):
    (tmp_path / "nets.py").write_text(CNN)
    status, out, err = cli(capsys, "import", f"{tmp_path / 'nets.py'}:Net", "--allow-code",
                           "--input-shape", "[3, 8]", "-o", tmp_path / "d.json")
    assert status != 0
    assert "nets.py:Net: the input shape [3, 8] does not fit Net" in err
    assert "its first layer, features.0 (Conv2d) takes [1, H, W] without the batch" in err
    assert "RuntimeError" not in err and "ConversionError" not in err
    assert not re.search(r"\bs\d+\b", err)  # no symbolic sizes from torch.export


def test_an_error_in_the_file_names_the_step_not_internal_classes(tmp_path, capsys):
    (tmp_path / "nets.py").write_text(CNN)
    status, out, err = cli(capsys, "import", f"{tmp_path / 'nets.py'}:Nope", "--allow-code",
                           "--input-shape", "[1, 8, 8]", "-o", tmp_path / "d.json")
    assert status != 0 and "nets.py:Nope: no nn.Module class named 'Nope' in the file" in err
    assert "ConversionError" not in err


def test_an_empty_onnx_file_is_not_a_design_error(tmp_path, capsys):
    (tmp_path / "empty.onnx").write_bytes(b"")
    status, out, err = cli(capsys, "import", tmp_path / "empty.onnx", "-o", tmp_path / "d.json")
    assert status != 0 and "empty.onnx: empty or not an ONNX model" in err
    assert "Input layer" not in err


def test_unsupported_operators_name_the_flag(tmp_path, capsys):
    from onnx import TensorProto, helper, save

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    graph = helper.make_graph([helper.make_node("Erf", ["x"], ["y"], name="/act/Erf")], "g", [x], [y])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
         str(tmp_path / "erf.onnx"))
    status, out, err = cli(capsys, "import", tmp_path / "erf.onnx", "-o", tmp_path / "d.json")
    assert status != 0 and "Erf ×1 at /act/Erf" in err and "add --placeholders" in err


def test_an_import_says_inputs_must_be_prepared_as_the_source_was_trained(tmp_path, capsys):
    import warnings

    from graph.fileformat import load
    from runtime.export import export_model

    design = load(EXAMPLES / "digits_mlp.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = export_model(design, "onnx", tmp_path / "mlp.onnx").path
    status, out, err = cli(capsys, "import", source, "-o", tmp_path / "d.json")
    assert status == 0, err
    assert ("note: Inputs reach the model as the design's data settings prepare them: Digits, "
            "Normalize features on") in out
    assert "must match how the source model was trained" in out and "Scale layer" in out


def test_train_counts_trainable_and_frozen_parameters(tmp_path, capsys):
    from graph.fileformat import load, save
    from graph.finetune import freeze_all_but, head_layer

    design = load(EXAMPLES / "iris_mlp.json")  # hidden 4→16 (80), species 16→3 (51)
    freeze_all_but(design, {head_layer(design).id})
    save(design, tmp_path / "frozen.json")
    status, out, err = cli(capsys, "train", tmp_path / "frozen.json", "--epochs", "1",
                           "--device", "cpu", "--run-dir", tmp_path / "run")
    assert status == 0, err
    assert "51 trainable (80 frozen)" in out


def test_a_weights_file_or_a_broken_program_given_to_import_is_said_so(tmp_path, capsys):
    torch.save({"w": torch.zeros(2)}, tmp_path / "state.pt")
    status, out, err = cli(capsys, "import", tmp_path / "state.pt", "-o", tmp_path / "d.json")
    assert status != 0 and "state.pt holds weights, not a model" in err and "Load Weights" in err
    (tmp_path / "broken.pt2").write_bytes(b"not a zip")
    status, out, err = cli(capsys, "import", tmp_path / "broken.pt2", "--allow-code",
                           "-o", tmp_path / "d.json")
    assert status != 0 and "broken.pt2: not a readable torch.export program (" in err
    assert "Error" not in err
