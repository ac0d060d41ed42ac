"""`main.py train` and `main.py evaluate`, as a user runs them."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from runtime.runs import load_run
from runtime.training import Control, train
from graph.fileformat import load
from tests.conftest import EXAMPLES, ROOT, cli


def json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.mark.slow
def test_digits_cnn_reaches_95_percent_in_ten_epochs(tmp_path):
    """The acceptance run, as a subprocess: one JSON object per line on stdout."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "train", str(EXAMPLES / "digits_cnn.json"),
         "--epochs", "10", "--device", "cpu", "--json", "--run-dir", str(tmp_path / "run")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    events = json_lines(result.stdout)
    epochs = [e for e in events if e["event"] == "epoch"]
    assert len(epochs) == 10
    for e in epochs:
        assert {"epoch", "train_loss", "val_loss", "val_accuracy"} <= e.keys()
    assert epochs[-1]["val_accuracy"] >= 0.95
    assert events[-1] == {**events[-1], "event": "end", "status": "completed"}


def test_train_prints_progress_and_writes_a_run(tmp_path, capsys):
    status, out, err = cli(capsys, "train", EXAMPLES / "iris_mlp.json", "--epochs", "3",
                           "--batch-size", "32", "--lr", "0.02", "--seed", "4", "--device", "cpu",
                           "--run-dir", tmp_path / "run")
    assert status == 0, err
    assert "training Iris MLP on cpu" in out and "epochs × 4 steps" in out
    assert out.count("val_accuracy") == 3 and "epoch 3/3" in out
    assert "completed after 3 epochs" in out and f"evaluate {tmp_path / 'run'}" in out
    config = load_run(tmp_path / "run").config["training"]
    assert (config["epochs"], config["batch_size"], config["lr"], config["seed"]) == (3, 32, 0.02, 4)


def test_train_json_lines(tmp_path, capsys):
    status, out, _ = cli(capsys, "train", EXAMPLES / "moons_mlp.json", "--epochs", "2", "--json",
                         "--run-dir", tmp_path / "run")
    events = json_lines(out)
    assert status == 0 and events[-1]["event"] == "end"
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]


def test_data_flag_takes_a_builtin_name(tmp_path, capsys):
    design = load(EXAMPLES / "moons_mlp.json")
    assert design.data["name"] == "moons"
    status, out, err = cli(capsys, "train", EXAMPLES / "moons_mlp.json", "--data", "circles",
                           "--epochs", "1", "--json", "--run-dir", tmp_path / "run")
    assert status == 0, err
    assert load_run(tmp_path / "run").config["data"]["name"] == "circles"


def test_data_flag_takes_a_csv_path(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = "\n".join(f"{a:.3f},{b:.3f},{'yes' if a * b > 0 else 'no'}"
                     for a, b in rng.normal(size=(120, 2)))
    (tmp_path / "signs.csv").write_text("a,b,same\n" + rows + "\n")
    status, out, err = cli(capsys, "train", EXAMPLES / "moons_mlp.json", "--data",
                           tmp_path / "signs.csv", "--epochs", "1", "--run-dir", tmp_path / "run")
    assert status == 0, err
    assert " 1 epoch × " in out  # not "1 epochs"
    assert load_run(tmp_path / "run").dataset["class_names"] == ["no", "yes"]


def test_csv_with_a_text_cell(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("a,b,label\n1,2,x\n3,four,y\n")
    status, _, err = cli(capsys, "train", EXAMPLES / "moons_mlp.json", "--data",
                         tmp_path / "bad.csv", "--run-dir", tmp_path / "run")
    assert status == 1
    assert "bad.csv: line 3, column 'b': 'four' is not a number" in err
    assert not (tmp_path / "run").exists()


def test_image_folder_with_a_corrupt_file(tmp_path, capsys):
    for c in ("a", "b"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((8, 8), i * 40, np.uint8)).save(tmp_path / "imgs" / c / f"{i}.png")
    (tmp_path / "imgs" / "b" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    status, _, err = cli(capsys, "train", EXAMPLES / "digits_cnn.json", "--data", tmp_path / "imgs")
    assert status == 1 and "bad.jpg: not a readable image" in err


def test_idx_file_with_a_wrong_header(tmp_path, capsys):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 12)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x00")
    status, _, err = cli(capsys, "train", EXAMPLES / "digits_cnn.json", "--data",
                         tmp_path / "train-images-idx3-ubyte")
    assert status == 1 and "train-images-idx3-ubyte: holds no samples" in err
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x1f\x8b\x08\x03 not gzip at all")
    status, _, err = cli(capsys, "train", EXAMPLES / "digits_cnn.json", "--data",
                         tmp_path / "train-images-idx3-ubyte")
    assert status == 1 and "train-images-idx3-ubyte: a broken gzip file" in err
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x08\x03\x00\x00" + b"\x00" * 12)
    status, _, err = cli(capsys, "train", EXAMPLES / "digits_cnn.json", "--data",
                         tmp_path / "train-images-idx3-ubyte")
    assert status == 1 and "not an IDX file: the header starts with 0x08030000" in err


def test_design_that_does_not_fit_the_data(tmp_path, capsys):
    status, _, err = cli(capsys, "train", EXAMPLES / "digits_mlp.json", "--data", "iris",
                         "--run-dir", tmp_path / "run")
    assert status == 1
    assert "the dataset iris gives samples of shape 4, but this Input expects 64" in err
    assert "set out_features of fc3 to 3" in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, needle", [
    (["--data", "csv"], "--data csv needs a file"),
    (["--data", "nowhere.csv"], "nowhere.csv: no such file or folder"),
    (["--device", "cuda:9"], "cuda:9"),
    (["--epochs", "0"], "training setting epochs must be at least 1"),
    (["--batch-size", "0"], "training setting batch_size must be at least 1"),
])
def test_bad_flags(tmp_path, capsys, args, needle):
    status, _, err = cli(capsys, "train", EXAMPLES / "iris_mlp.json", *args,
                         "--run-dir", tmp_path / "run")
    assert status == 1 and needle in err


def test_bad_design_file_and_missing_file(tmp_path, capsys):
    (tmp_path / "broken.json").write_text("{ nope")
    status, _, err = cli(capsys, "train", tmp_path / "broken.json")
    assert status == 1 and "broken.json: not valid JSON" in err
    status, _, err = cli(capsys, "train")
    assert status == 1 and "give a design FILE" in err


def test_resume_a_stopped_run(tmp_path, capsys):
    control = Control()
    for event in train(load(EXAMPLES / "iris_mlp.json"), run_dir=tmp_path / "run",
                       overrides={"epochs": 4, "device": "cpu"}, control=control, step_interval=0):
        if event["event"] == "epoch" and event["epoch"] == 2:
            control.request_stop()
    status, _, err = cli(capsys, "train", EXAMPLES / "digits_mlp.json", "--resume", tmp_path / "run")
    assert status == 1 and "is not the design" in err
    status, _, err = cli(capsys, "train", "--resume", tmp_path / "run", "--lr", "0.5")
    assert status == 1 and "cannot change lr when resuming" in err
    status, out, err = cli(capsys, "train", EXAMPLES / "iris_mlp.json", "--resume", tmp_path / "run",
                           "--json")
    assert status == 0, err
    assert [e["epoch"] for e in json_lines(out) if e["event"] == "epoch"] == [3, 4]


def test_evaluate_classification_text_and_json(tmp_path, capsys):
    list(train(load(EXAMPLES / "iris_mlp.json"), run_dir=tmp_path / "run",
               overrides={"epochs": 20, "device": "cpu"}))
    status, out, _ = cli(capsys, "evaluate", tmp_path / "run")
    assert status == 0
    assert "best weights on the test split" in out and "macro F1" in out
    assert "confusion matrix (rows: true class, columns: predicted class)" in out
    assert "versicolor" in out
    status, out, _ = cli(capsys, "evaluate", tmp_path / "run", "--json", "--checkpoint", "last")
    result = json.loads(out)
    assert status == 0 and result["checkpoint"] == "last" and len(result["confusion_matrix"]) == 3
    assert {"loss", "accuracy", "precision", "recall", "f1", "per_class"} <= result.keys()


def test_evaluate_regression_and_problems(tmp_path, capsys):
    design = load(EXAMPLES / "moons_mlp.json")
    design.set_data(dict(design.data, name="sine", options={"n_samples": 300}))
    design.set_param(design.node_by_name("point").id, "shape", [1])
    design.set_param(design.node_by_name("classes").id, "out_features", 1)
    design.set_training(dict(design.training, loss="mse"))
    events = list(train(design, run_dir=tmp_path / "run", overrides={"epochs": 2, "device": "cpu"}))
    assert events[-1]["status"] == "completed", events[-2]
    status, out, _ = cli(capsys, "evaluate", tmp_path / "run")
    assert status == 0 and "MAE" in out and "RMSE" in out and "R²" in out
    assert "confusion" not in out
    status, _, err = cli(capsys, "evaluate", tmp_path / "nothing")
    assert status == 1 and "no such run folder" in err


def test_bad_data_never_shows_a_traceback(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("a,b,label\n1,2,x\n3,oops,y\n")
    status, _, err = cli(capsys, "train", EXAMPLES / "moons_mlp.json", "--data", tmp_path / "bad.csv",
                         "--run-dir", tmp_path / "run")
    assert status == 1
    assert err.strip() == (f"error: {tmp_path / 'bad.csv'}: line 3, column 'b': 'oops' "
                           "is not a number (feature columns must hold numbers)")


def test_train_and_the_apps_worker_take_the_same_setting_flags():
    import main
    from graph.settings import flagged_settings
    from runtime import worker

    flags = ["--epochs", "3", "--batch-size", "8", "--lr", "0.5", "--device", "cpu", "--seed", "7"]
    user = main.build_parser().parse_args(["train", "d.json", *flags])
    child = worker.parser().parse_args(["train", "d.json", "--run-dir", "r", *flags])
    expected = {"epochs": 3, "batch_size": 8, "lr": 0.5, "device": "cpu", "seed": 7}
    assert flagged_settings(user) == flagged_settings(child) == expected
    assert flagged_settings(main.build_parser().parse_args(["train", "d.json"])) == {}
