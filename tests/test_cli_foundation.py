"""The headless CLI: validate, summary and code — what they print and their exit status (run
in-process through ``main.main``)."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from graph.fileformat import load, save
from graph.summary import summarize
from tests.conftest import EXAMPLES, cli
from tests.graph.util import Build, mlp

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))


@pytest.fixture
def broken_files(tmp_path: Path) -> dict[str, Path]:
    good = (EXAMPLES / "digits_mlp.json").read_text(encoding="utf-8")
    files = {
        "truncated": good[: len(good) // 3],
        "garbage": bytes(range(256)),
        "unknown_type": good.replace('"type": "ReLU"', '"type": "Swish"', 1),
        "newer": good.replace('"format_version": 2', '"format_version": 99'),
    }
    out = {}
    for name, content in files.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        out[name] = path
    return out


@pytest.fixture
def invalid_design(tmp_path: Path) -> Path:
    b = Build(as_images=True)
    b.add("Input", "image", shape=[1, 8, 8])
    b.add("Conv2d", "conv2", "image", out_channels=4)
    b.add("Linear", "fc1", "conv2", out_features=10)
    b.add("Output", "logits", "fc1")
    path = tmp_path / "invalid.json"
    save(b.design, path)
    return path


# ---- validate ---------------------------------------------------------------------------------------


def test_validate_accepts_every_example(capsys):
    result = cli(capsys, "validate", *EXAMPLE_FILES)
    assert result.status == 0, result.out
    lines = result.out.splitlines()
    assert len(lines) == len(EXAMPLE_FILES)
    for path, line in zip(EXAMPLE_FILES, lines):
        assert line == f"{path}: valid ({len(load(path))} nodes)"


def test_validate_reports_broken_files_and_goes_on(broken_files, capsys):
    result = cli(capsys, "validate", *broken_files.values(), EXAMPLES / "iris_mlp.json")
    assert result.status == 1
    out = result.out
    assert f"{broken_files['truncated']}: error: not valid JSON" in out and ", column " in out
    assert f"{broken_files['garbage']}: error: not a text file" in out
    assert "error: unknown layer type 'Swish' (nodes[2])" in out
    assert "written by a newer Netwright (format version 99" in out and "at format_version" in out
    assert f"{EXAMPLES / 'iris_mlp.json'}: valid" in out


def test_validate_explains_an_invalid_design(invalid_design, capsys):
    result = cli(capsys, "validate", invalid_design)
    assert result.status == 1
    assert (f"{invalid_design}: error: fc1: expects features (or a sequence of them), got 4×8×8 "
            "(fix: insert a Flatten between conv2 and fc1)") in result.out


def test_validate_missing_file_and_folder(tmp_path: Path, capsys):
    result = cli(capsys, "validate", tmp_path / "nope.json", tmp_path)
    assert result.status == 1
    assert "nope.json: error: file not found" in result.out
    assert "error: is a folder, not a design file" in result.out


def test_validate_verbose_lists_warnings(tmp_path: Path, capsys):
    b = mlp()
    b.add("Linear", "spare", "relu", out_features=3)
    path = tmp_path / "warn.json"
    save(b.design, path)
    assert cli(capsys, "validate", path).out.strip() == f"{path}: valid (6 nodes, 1 warning)"
    verbose = cli(capsys, "validate", "-v", path).out
    assert f"{path}: warning: spare: its output is not used (fix: connect it onward, or delete it)" \
        in verbose


def test_usage_errors_are_short(capsys):
    result = cli(capsys, "frobnicate")
    assert result.status == 2 and "invalid choice" in result.err


# ---- summary ---------------------------------------------------------------------------------------


def test_summary_prints_rows_totals_and_memory(capsys):
    path = EXAMPLES / "digits_cnn.json"
    design = load(path)
    s = summarize(design)
    result = cli(capsys, "summary", path)
    assert result.status == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["name", "type", "output", "shape", "params", "MACs"]
    rows = lines[2:2 + len(design)]
    for row, expected in zip(rows, s.rows):
        assert row.split()[0] == expected.name
        assert expected.shape in row and f"{expected.params:,}" in row
    assert f"total parameters:        {s.total_params:,}" in result.out
    assert f"total MACs per sample:   {s.total_macs:,} (" in result.out
    assert 0 < s.total_matmul_macs < s.total_macs
    assert f"in conv/linear/matmul: {s.total_matmul_macs:,} (" in result.out
    for row, expected in zip(rows, s.rows):
        assert row.split()[-1] == f"{expected.macs:,}"  # exact integers, not "1.82G"
    assert f"activations (batch {s.batch_size}):" in result.out
    assert "training memory (Adam):  ~" in result.out


def test_summary_of_an_invalid_design_lists_its_errors(invalid_design, capsys):
    result = cli(capsys, "summary", invalid_design)
    assert result.status == 1
    assert "fc1" in result.out and "?" in result.out
    assert "error: fc1: expects features" in result.out


def test_summary_of_a_broken_file(broken_files, capsys):
    result = cli(capsys, "summary", broken_files["truncated"])
    assert result.status == 1 and result.out == ""
    assert result.err.startswith(f"error: {broken_files['truncated']}: not valid JSON")


# ---- code ------------------------------------------------------------------------------------------


def test_code_prints_the_clean_standalone_module(capsys):
    """The same module as the app's Code tab and `export -f python`: no fx-style ``x = None``."""
    from runtime.codegen import python_source
    from runtime.compiler import compile_design

    path = EXAMPLES / "residual_mlp.json"
    status, out, _ = cli(capsys, "code", path)
    assert status == 0
    assert out == python_source(load(path), compile_design(load(path)))
    assert "= None" not in out and "class Model(nn.Module):" in out
    assert "block1_add = self.block1_add(stem_relu, block1_fc2)" in out
    tree = ast.parse(out)
    assert "Model" in [getattr(node, "name", None) for node in tree.body]
    assert "# Design: Residual MLP" in out


def test_code_of_an_invalid_design(invalid_design, capsys):
    result = cli(capsys, "code", invalid_design)
    assert result.status == 1 and result.out == ""
    assert result.err.startswith("error: the design has errors:")
    assert "insert a Flatten between conv2 and fc1" in result.err


def test_code_with_hostile_names_and_a_huge_layer(tmp_path: Path, capsys):
    b = mlp()
    d = b.design
    d.name = 'evil\nimport os; os.system("x")'
    fc1 = b.id("fc1")
    d.rename_node(fc1, '"); import os; os.system("x')
    d.set_param(fc1, "out_features", 1_000_000)  # 64M weights here, 10M in fc2: not built
    path = tmp_path / "evil.json"
    save(d, path)
    result = cli(capsys, "code", path)
    assert result.status == 0
    tree = ast.parse(result.out)  # the hostile names stay inside comments and strings
    imported = {alias.name if isinstance(node, ast.Import) else node.module
                for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names}
    assert imported <= {"torch", "__future__"}
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "system"]
    assert "import_os_os_system_x = self.import_os_os_system_x(pixels)" in result.out
    assert json.loads(path.read_text())["name"] == d.name


def test_a_design_file_alone_opens_it_in_the_editor(monkeypatch):
    """``python main.py FILE.json`` is ``python main.py open FILE.json`` (what people type)."""
    import main

    opened = []
    parser = main.build_parser
    monkeypatch.setattr(main, "build_parser", lambda: _with_open(parser(), opened))
    assert main.main([str(EXAMPLES / "digits_mlp.json")]) == 0
    assert opened == [str(EXAMPLES / "digits_mlp.json")]


def _with_open(parser, opened):
    """The real parser, its ``open`` command pointed at the stub."""
    sub = next(a for a in parser._actions if a.dest == "command")
    sub.choices["open"].set_defaults(func=lambda args: opened.append(args.file) or 0)
    return parser
