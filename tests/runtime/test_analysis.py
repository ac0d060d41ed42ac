"""runtime.analysis and runtime.health: what the app shows, computed without Qt."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from runtime.analysis import (csv_columns, decision_grid, delete_run, list_runs, mark_failed,
                              preview_data, run_summary, settings_diff)
from runtime.data import DataError
from runtime.runs import RunError


@pytest.mark.parametrize("data, kind, shape", [
    ({"name": "moons", "options": {"n_samples": 200}}, "points", (2,)),
    ({"name": "digits", "options": {"as_images": True}}, "images", (1, 8, 8)),
    ({"name": "iris"}, "table", (4,)),
    ({"name": "sine", "options": {"n_samples": 50}}, "table", (1,)),
])
def test_preview_kinds_shapes_and_splits(data, kind, shape):
    p = preview_data(data)
    assert p.kind == kind and p.sample_shape == shape
    assert sum(p.sizes.values()) == p.total
    assert 0 < len(p.samples) == len(p.labels) <= p.total
    if p.task == "classification":
        assert sum(p.class_counts) == p.total
    if kind == "table":
        assert len(p.columns) == p.samples.shape[1]


def test_csv_header_and_bad_csv(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("a\tb\tlabel\n1\t2\tx\n")
    assert csv_columns(path) == ["a", "b", "label"]
    with pytest.raises(DataError, match="t2.csv"):
        csv_columns(tmp_path / "t2.csv")


def _fake_run(folder, status, epochs=3, lr=0.01):
    folder.mkdir(parents=True)
    (folder / "status.json").write_text(json.dumps(
        {"status": status, "epochs_completed": epochs,
         "best": {"metric": "val_loss", "value": 0.5, "epoch": epochs}}))
    (folder / "config.json").write_text(json.dumps(
        {"training": {"lr": lr, "epochs": epochs}, "data": {"name": "iris"}, "device": "cpu",
         "created": f"2026-01-0{epochs}T00:00:00"}))
    (folder / "metrics.jsonl").write_text(
        "\n".join(json.dumps({"event": "epoch", "epoch": e, "train_loss": 1 / e})
                  for e in range(1, epochs + 1)) + '\n{"event": "end", "dur')  # cut by a crash
    return folder


def test_run_list_summary_and_diff(tmp_path):
    a = _fake_run(tmp_path / "a", "completed", 2, 0.01)
    b = _fake_run(tmp_path / "b", "stopped", 3, 0.02)
    (tmp_path / "not_a_run").mkdir()
    runs = list_runs(tmp_path)
    assert [r.name for r in runs] == ["b", "a"]  # newest first
    s = run_summary(a)
    assert (s.status, s.best_metric, s.device, s.epochs_completed) == ("completed", "val_loss",
                                                                        "cpu", 2)
    diff = dict((k, (x, y)) for k, x, y in settings_diff(a, b))
    assert diff["training.lr"] == (0.01, 0.02) and diff["training.epochs"] == (2, 3)


def test_mark_failed_only_overrides_running(tmp_path):
    running = _fake_run(tmp_path / "r", "running")
    done = _fake_run(tmp_path / "d", "completed")
    assert mark_failed(running, "killed") and not mark_failed(done, "killed")
    assert json.loads((running / "status.json").read_text())["status"] == "failed"
    assert run_summary(done).status == "completed"


def test_delete_run_refuses_what_is_not_a_run(tmp_path):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "status.json").write_text("{}")
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(RunError, match="thesis.tex"):
        delete_run(other)
    run = _fake_run(tmp_path / "run", "completed")
    delete_run(run)
    assert not run.exists() and other.exists()


def test_decision_grid_follows_the_model():
    model = torch.nn.Linear(2, 2)
    with torch.no_grad():  # class 1 where x > 0
        model.weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
        model.bias.zero_()
    points = np.array([[-1.0, -1.0], [1.0, 1.0]], dtype=np.float32)
    grid = decision_grid(model, points, size=20)
    assert grid.classes.shape == (20, 20)
    assert (grid.classes[:, grid.x > 0.05] == 1).all() and (grid.classes[:, grid.x < -0.05] == 0).all()
    assert ((grid.confidence >= 0.5) & (grid.confidence <= 1.0)).all()


def _two_target_run(tmp_path):
    """A trained regression run whose two targets differ in scale by 1,000×: pooling them
    (one R² over all values) and averaging per target give very different numbers."""
    from runtime.training import train
    from tests.graph.util import Build

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2)).astype(np.float32)
    y = np.stack([1000 * x[:, 0], x[:, 1] + rng.normal(size=300)], 1).astype(np.float32)
    np.savez(tmp_path / "two.npz", x=x, y=y)
    b = Build(data="npz", path=str(tmp_path / "two.npz"), task="regression")
    b.add("Input", "x", shape=[2])
    b.add("Linear", "fc", "x", out_features=2)
    b.add("Output", "out", "fc")
    b.design.set_training(dict(b.design.training, loss="mse", epochs=3, lr=0.05,
                               device="cpu", diagnostics_every=0))
    events = list(train(b.design, run_dir=tmp_path / "run", step_interval=1e9))
    assert events[-1]["status"] == "completed", events[-2]
    return tmp_path / "run"


def test_predictions_average_r2_per_target_like_training_and_scikit_learn(tmp_path):
    from sklearn.metrics import r2_score

    from runtime.analysis import predict_run
    from runtime.training import evaluate_run

    run = _two_target_run(tmp_path)
    p = predict_run(run, split="test")
    per_target = r2_score(p.targets, p.predicted)  # scikit-learn averages over outputs
    pooled = r2_score(p.targets.reshape(-1), p.predicted.reshape(-1))
    assert abs(per_target - pooled) > 0.05  # the case where the two readings differ
    assert p.metrics["r2"] == pytest.approx(per_target, abs=1e-6)
    assert p.metrics["r2"] == pytest.approx(evaluate_run(run, split="test")["r2"], abs=1e-6)
    assert p.metrics["mae"] == pytest.approx(np.abs(p.targets - p.predicted).mean(), rel=1e-6)


def test_column_picker_reads_csv_like_training(tmp_path):
    """A ';' file that trains must show its columns, not one column named 'a;b;label'."""
    from runtime.data import load_csv

    path = tmp_path / "semi.csv"
    path.write_text("a;b;c;label\n1;2;0;x\n3;4;0;y\n5;6;0;x\n")
    raw = load_csv(path)
    assert raw.x.shape == (3, 3)
    assert csv_columns(path) == ["a", "b", "c", "label"]
    preview = preview_data({"name": "csv", "options": {"path": str(path)}})
    assert preview.columns == ["a", "b", "c"]
