"""``python main.py export``: verified exports from design files and run directories."""
from __future__ import annotations

import re

import pytest
import torch
from safetensors.torch import load_file, save_file

import main
from graph.fileformat import load, save
from runtime.compiler import compile_design
from runtime.export import FORMATS
from tests.conftest import EXAMPLES, cli

IRIS = EXAMPLES / "iris_mlp.json"


def test_cli_formats_match_the_exporter():
    assert tuple(main.EXPORT_FORMATS) == tuple(FORMATS)


def test_export_prints_the_measured_difference(tmp_path, capsys):
    status, out, err = cli(capsys, "export", IRIS, "--format", "onnx", "-o", tmp_path / "iris")
    assert status == 0, err
    assert "freshly initialized weights" in out
    match = re.search(r"exported onnx to (\S+); verified on a batch of 3: max abs difference (\S+)",
                      out)
    assert match and match.group(1) == str(tmp_path / "iris.onnx")
    assert 0 <= float(match.group(2)) <= 1e-4
    assert (tmp_path / "iris.onnx").is_file()


@pytest.mark.parametrize("checkpoint", ["best", "last"])
def test_export_from_a_run_directory(tmp_path, capsys, checkpoint):
    design = load(EXAMPLES / "digits_cnn.json")
    run = tmp_path / "run"
    run.mkdir()
    save(design, run / "design.json")
    weights = {}
    for seed, name in enumerate(("best", "last")):
        torch.manual_seed(seed)
        weights[name] = compile_design(design).module.state_dict()
        (run / "checkpoints" / name).mkdir(parents=True)
        save_file(weights[name], str(run / "checkpoints" / name / "model.safetensors"))
    out = tmp_path / "model.py"
    status = main.main(["export", str(run), "-f", "python", "-o", str(out),
                        "--checkpoint", checkpoint])
    printed = capsys.readouterr().out
    assert status == 0
    assert "max abs difference" in printed and "model.safetensors" in printed
    exported = load_file(tmp_path / "model.safetensors")
    assert all(torch.equal(exported[k], v) for k, v in weights[checkpoint].items())


@pytest.mark.parametrize("args, message", [
    (["missing.json", "-f", "onnx"], "missing.json: no such file or run directory"),
    ([str(IRIS), "-f", "python", "-o", "out.txt"], "Python source must be written to a .py file"),
    ([str(EXAMPLES), "-f", "pt2"], "is not a run directory: it has no design.json"),
])
def test_export_errors_are_one_readable_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)  # "missing.json" and "out.txt" are relative to the working folder
    if "-o" not in args:
        args = args + ["-o", str(tmp_path / "out")]
    status, _, err = cli(capsys, "export", *args)
    assert status == 1
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_broken_design_file_is_reported(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "netwright", "format_version": 1, "nodes": [')
    assert main.main(["export", str(bad), "-f", "onnx", "-o", str(tmp_path / "m")]) == 1
    assert "bad.json" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
