"""Hostile input on the command line: designs too large for the machine, damaged run files,
names that are not safe for a terminal or a folder, export names too long. One message, exit 1,
never a traceback (the commands run in-process through ``main.main``)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import main
from graph.fileformat import save
from graph.summary import MemoryBudget
from runtime import preflight
from runtime.paths import default_run_dir, folder_name
from tests.conftest import cli
from tests.graph.util import Build, mlp


def huge_design(tmp_path: Path) -> Path:
    """Input[10⁶] → Linear(10⁶): 10¹² weights, ≈ 15,000 GiB to train with Adam."""
    b = Build("huge", data="csv", path="table.csv")
    b.add("Input", "x", shape=[10**6])
    b.add("Linear", "wide", "x", out_features=10**6)
    b.add("Output", "y", "wide")
    path = tmp_path / "huge.json"
    save(b.design, path)
    return path


# ---- pre-flight resources --------------------------------------------------------------------------


def test_validate_warns_that_a_huge_design_cannot_fit(tmp_path, capsys):
    _, out, _ = cli(capsys, "validate", huge_design(tmp_path))
    assert "warning: training needs about 14,90" in out and "more than the" in out


def test_validate_reads_a_file_dataset(tmp_path, capsys):
    missing = huge_design(tmp_path)  # its table.csv does not exist
    status, out, _ = cli(capsys, "validate", missing)
    assert status == 1 and "x: the dataset cannot be read: table.csv: no such file" in out
    (tmp_path / "table.csv").write_text("a,b,y\n1,2,0\n3,4,1\n")
    status, out, _ = cli(capsys, "validate", missing)
    assert status == 1 and "gives samples of shape 2, but this Input expects 1000000" in out


def test_summary_shows_the_memory_warning(tmp_path, capsys):
    _, out, _ = cli(capsys, "summary", huge_design(tmp_path))
    assert "training needs about 14,90" in out


def test_train_refuses_before_allocating_with_the_estimate(tmp_path, capsys):
    status, out, err = cli(capsys, "train", huge_design(tmp_path), "--run-dir", tmp_path / "run")
    assert status == 1
    assert "cannot train huge: training needs about 14,90" in err
    assert not (tmp_path / "run").exists()


def test_export_refuses_before_allocating_with_the_estimate(tmp_path, capsys):
    status, _, err = cli(capsys, "export", huge_design(tmp_path), "-f", "onnx", "-o",
                         tmp_path / "m.onnx")
    assert status == 1
    assert "cannot export huge: exporting needs about 7,450.6 GiB" in err


def test_the_batch_size_flag_counts_in_the_estimate(tmp_path, monkeypatch):
    b = mlp()
    monkeypatch.setattr(preflight, "memory_budget", lambda setting: MemoryBudget("RAM", 400_000))
    preflight.check_training_fits(b.design, {"batch_size": 64})
    with pytest.raises(preflight.ResourceError, match="at batch 100000\\), more than the 390.6 KiB of RAM"):
        preflight.check_training_fits(b.design, {"batch_size": 100_000})


# ---- names on a terminal and on disk ------------------------------------------------------------


def hostile(tmp_path: Path, name: str) -> Path:
    b = mlp()
    b.design.name = name
    b.design.rename_node(b.id("fc1"), "fc1\x1b]0;owned\x07\x1b[2J")
    path = tmp_path / "hostile.json"
    save(b.design, path)
    return path


@pytest.mark.parametrize("command", ["summary", "code", "validate"])
def test_escape_sequences_in_names_never_reach_the_terminal(tmp_path, capsys, command):
    path = hostile(tmp_path, "evil\x1b[31m\u202e")
    argv = [command, path] + (["-v"] if command == "validate" else [])
    _, out, err = cli(capsys, *argv)
    assert "\x1b" not in out + err and "\u202e" not in out + err and "\x07" not in out + err
    if command == "summary":  # shown escaped (codegen writes its own clean comments)
        assert "\\x1b" in out


def test_printable_escapes_controls_and_keeps_ordinary_text():
    assert main.printable("Ünïcode ✓ 1×8×8") == "Ünïcode ✓ 1×8×8"
    assert main.printable("a\x1b[2Jb\u202ec\x00") == "a\\x1b[2Jb\\u202ec\\x00"
    assert main.printable("one\ntwo\x07", keep_lines=True) == "one\ntwo\\x07"


@pytest.mark.parametrize("name", ["..", ".", "../../etc", "a/b\\c", "x" * 300, "CON", "",
                                  "é" * 200, "\x00\x1b"])
def test_run_folder_names_are_safe_for_any_design_name(tmp_path, name):
    run_dir = default_run_dir(name, tmp_path)
    assert run_dir.parent == tmp_path
    assert len(run_dir.name.encode()) <= 255 and run_dir.name not in (".", "..")
    assert "/" not in run_dir.name and "\\" not in run_dir.name
    assert folder_name(name).upper() != "CON"
    run_dir.mkdir()  # really creatable


def test_an_export_name_over_255_bytes_is_a_message(tmp_path, capsys):
    path = hostile(tmp_path, "ok")
    status, _, err = cli(capsys, "export", path, "-f", "onnx", "-o", tmp_path / ("a" * 260))
    assert status == 1 and "file names can have at most 255" in err


def test_an_export_name_just_under_the_limit_works(tmp_path, capsys):
    path = hostile(tmp_path, "ok")
    status, out, _ = cli(capsys, "export", path, "-f", "onnx", "-o", tmp_path / ("a" * 250 + ".onnx"))
    assert status == 0 and "exported onnx" in out


# ---- damaged run files ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    b = Build("iris", data="iris")
    b.add("Input", "x", shape=[4])
    b.add("Linear", "fc", "x", out_features=3)
    b.add("Output", "y", "fc")
    b.design.set_training(dict(b.design.training, epochs=1, batch_size=32))
    save(b.design, folder / "iris.json")
    assert main.main(["train", str(folder / "iris.json"), "--run-dir", str(folder / "run")]) == 0
    return folder / "run"


def _config(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())


def _normalization(config: dict, **changes) -> dict:
    dataset = config["dataset"]
    assert dataset["normalization"]["axis"] == "feature"  # iris: one value per feature
    return dict(config, dataset=dict(dataset, normalization=dict(dataset["normalization"],
                                                                 **changes)))


TAMPERED = {
    "config-list": ("config.json", lambda c: [], "config.json: the file must be a JSON object"),
    "config-training": ("config.json", lambda c: dict(c, training=5),
                        "config.json: training must be an object, not 5"),
    "config-epochs": ("config.json", lambda c: dict(c, training=dict(c["training"], epochs="x")),
                      "config.json: training.epochs must be a whole number"),
    "config-dataset": ("config.json", lambda c: dict(c, dataset="x"),
                       "config.json: dataset must be an object"),
    "config-normalization": ("config.json", lambda c: dict(c, dataset=dict(c["dataset"], normalization=5)),
                             "config.json: dataset.normalization must be a JSON object"),
    "config-classes": ("config.json", lambda c: dict(c, dataset=dict(c["dataset"], class_names=[1])),
                       "config.json: dataset.class_names must be a list of texts"),
    "config-data": ("config.json", lambda c: dict(c, data="x"), "config.json: data must be an object"),
    "config-mean-length": ("config.json", lambda c: _normalization(c, mean=[0.0, 1.0]),
                           "config.json: dataset.normalization.mean holds 2 numbers, but the "
                           "data needs 4 (one per feature)"),
    "config-std-length": ("config.json", lambda c: _normalization(c, std=[1.0] * 9),
                          "dataset.normalization.std holds 9 numbers"),
    "status-list": ("status.json", lambda c: [], "status.json: the file must be a JSON object"),
    "status-best": ("status.json", lambda c: {"best": 5}, "status.json: best must be an object"),
    "status-epochs": ("status.json", lambda c: {"epochs_completed": [1]},
                      "status.json: epochs_completed must be a whole number"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_a_tampered_run_file_is_one_message_naming_it(trained_run, tmp_path, capsys, case):
    name, edit, expected = TAMPERED[case]
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    original = json.loads((run / name).read_text())
    (run / name).write_text(json.dumps(edit(original)))
    for argv in (["evaluate", run], ["train", "--resume", run, "--epochs", "2"]):
        status, _, err = cli(capsys, *argv)
        assert status == 1 and expected in err, (argv, err)


def test_the_runs_list_shows_a_damaged_file_as_the_runs_message(trained_run, tmp_path):
    from runtime.analysis import run_summary

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / "status.json").write_text('{"status": 5}')
    summary = run_summary(run)
    assert "status.json: status must be text" in summary.message


# ---- CSV choices on the command line ------------------------------------------------------------


def csv_design(tmp_path: Path, features: int) -> Path:
    b = Build("table", data="iris")
    b.add("Input", "x", shape=[features])
    b.add("Linear", "fc", "x", out_features=3)
    b.add("Output", "y", "fc")
    b.design.set_training(dict(b.design.training, epochs=1, batch_size=8))
    path = tmp_path / "table.json"
    save(b.design, path)
    return path


def test_train_reads_a_csv_with_the_table_flags(tmp_path, capsys):
    rows = "\n".join(f"{i};{i % 7}.5;{i % 3};{i % 5}" for i in range(60))
    (tmp_path / "data.csv").write_text("exported 2024\n" + "a;b;label;c\n" + rows + "\n")
    status, out, err = cli(capsys, "train", csv_design(tmp_path, 2), "--data", tmp_path / "data.csv",
                           "--target", "label", "--features", "a,c", "--delimiter", ";",
                           "--task", "classify", "--header", "yes", "--skip-rows", "1",
                           "--run-dir", tmp_path / "run")
    assert status == 0, err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["data"]["options"]["target"] == "label"
    assert config["dataset"]["sample_shape"] == [2] and config["dataset"]["num_classes"] == 3
    assert "note: data: skipped the first 1 line as asked" in out  # said, not a warning
    assert "warning: data:" not in out


def test_a_table_flag_on_a_builtin_dataset_is_a_message(tmp_path, capsys):
    status, _, err = cli(capsys, "train", csv_design(tmp_path, 4), "--target", "y")
    assert status == 1 and "--target applies to CSV files" in err


def test_train_refuses_one_class_before_training(tmp_path, capsys):
    (tmp_path / "one.csv").write_text("a,b,y\n" + "\n".join(f"{i},{i},same" for i in range(20)))
    status, _, err = cli(capsys, "train", csv_design(tmp_path, 2), "--data", tmp_path / "one.csv",
                         "--run-dir", tmp_path / "run")
    assert status == 1 and "classification needs at least two" in err
