"""Run folders: state without pickle, RNG capture, checkpoints and reading a run back."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from graph.fileformat import load
from runtime.paths import default_run_dir
from runtime.runs import (RunError, RunFolder, RunWriter, capture_rng,
                          flatten_state, load_run, restore_rng, unflatten_state)
from runtime.training import train
from tests.conftest import EXAMPLES


def _strict_json(text: str):
    def refuse(name):
        raise ValueError(f"{name} in strict JSON")
    return json.loads(text, parse_constant=refuse)


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and np.isnan(a):
        return isinstance(b, float) and np.isnan(b)
    return a == b


@pytest.mark.parametrize("make", [
    lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=0.1),
    lambda p: torch.optim.AdamW(p, lr=1e-3, amsgrad=True),
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
    lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5),
])
def test_optimizer_state_round_trips_through_json_and_tensors(make):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    opt = make(model.parameters())
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)  # holds float("inf")
    for _ in range(3):
        model(torch.randn(5, 3)).sum().backward()
        opt.step()
    sched.step(1.0)
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
    tree, tensors = flatten_state(state)
    text = json.dumps(tree, allow_nan=False)  # strict JSON: inf and tuples encoded
    back = unflatten_state(_strict_json(text), tensors)
    assert _same(back, state)
    opt2 = make(model.parameters())
    opt2.load_state_dict(back["optimizer"])
    assert _same(opt2.state_dict(), opt.state_dict())


def test_flatten_refuses_what_json_cannot_hold():
    with pytest.raises(TypeError, match="cannot store function"):
        flatten_state({"fn": lambda: 0})


def test_rng_states_are_captured_and_restored():
    info, tensors = capture_rng()
    assert all(t.dtype == torch.uint8 for t in tensors.values())
    expected = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng(_strict_json(json.dumps(info)), tensors)
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1])
    assert expected[2] == got[2]


def test_training_state_files_are_safetensors_and_json(tmp_path):
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 2)).sum().backward()
    opt.step()
    RunWriter(tmp_path).save_last(model, {"epoch": 1, "batch": 3, "step": 7},
                                  {"optimizer": opt.state_dict()})
    last = tmp_path / "checkpoints" / "last"
    assert sorted(p.name for p in last.iterdir()) == ["manifest.json", "model.safetensors",
                                                      "optimizer.safetensors", "state.json"]
    assert set(load_file(str(last / "model.safetensors"))) == {"weight", "bias"}
    _strict_json((last / "state.json").read_text())
    manifest = _strict_json((last / "manifest.json").read_text())
    assert manifest["step"] == 7 and set(manifest["files"]) == {
        "model.safetensors", "optimizer.safetensors", "state.json"}
    state, parts, restore = RunFolder(tmp_path).checkpoint("last").training_state()
    assert state == {"epoch": 1, "batch": 3, "step": 7}
    assert _same(parts["optimizer"], opt.state_dict())
    restore()


def test_checkpoint_files_get_ordinary_permissions(tmp_path):
    RunWriter(tmp_path).save_weights("best", torch.nn.Linear(2, 2), {"epoch": 1}, 1, 1)
    (tmp_path / "plain.txt").write_text("x")
    ordinary = (tmp_path / "plain.txt").stat().st_mode
    assert (tmp_path / "checkpoints" / "best" / "model.safetensors").stat().st_mode == ordinary
    assert not [p for p in (tmp_path / "checkpoints" / "best").iterdir() if p.name.endswith(".tmp")]


def test_default_run_dir_names_and_uniqueness(tmp_path):
    first = default_run_dir("My design!", tmp_path)
    assert first.parent == tmp_path and first.name.startswith("My_design-")
    first.mkdir()
    second = default_run_dir("My design!", tmp_path)
    assert second != first and second.name.startswith(first.name)


def test_writer_refuses_a_used_folder(tmp_path):
    (tmp_path / "x.txt").write_text("taken")
    with pytest.raises(RunError, match="exists and is not empty"):
        RunWriter(tmp_path)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "iris"
    design = load(EXAMPLES / "iris_mlp.json")
    events = list(train(design, run_dir=run_dir, overrides={"epochs": 3, "device": "cpu"}))
    assert events[-1]["status"] == "completed", events[-2]
    return run_dir, events


def test_run_folder_layout(trained_run):
    run_dir, events = trained_run
    names = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()}
    assert names == {"design.json", "config.json", "metrics.jsonl", "log.txt", "status.json",
                     "checkpoints/best/model.safetensors", "checkpoints/best/state.json",
                     "checkpoints/best/manifest.json",
                     "checkpoints/last/model.safetensors", "checkpoints/last/optimizer.safetensors",
                     "checkpoints/last/state.json", "checkpoints/last/manifest.json"}
    config = _strict_json((run_dir / "config.json").read_text())
    assert config["dataset"]["sample_shape"] == [4] and config["dataset"]["task"] == "classification"
    assert config["dataset"]["class_names"] == ["setosa", "versicolor", "virginica"]
    assert len(config["dataset"]["normalization"]["mean"]) == 4
    assert config["training"]["epochs"] == 3
    lines = [_strict_json(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert lines == [e for e in events if e["event"] != "stage"]  # every event once the folder exists
    status = _strict_json((run_dir / "status.json").read_text())
    assert status["status"] == "completed" and status["epochs_completed"] == 3
    assert "epoch 3/3" in (run_dir / "log.txt").read_text()


def test_load_run_builds_the_model_with_saved_weights(trained_run):
    run_dir, events = trained_run
    run = load_run(run_dir)
    assert run.design.name == "Iris MLP" and run.dataset["num_classes"] == 3
    best = run.build_model("best")
    saved = load_file(str(run_dir / "checkpoints" / "best" / "model.safetensors"))
    assert all(torch.equal(best.module.state_dict()[k], v) for k, v in saved.items())
    assert not best.module.training
    last = run.build_model("last")
    assert all(torch.equal(last.module.state_dict()[k], v) for k, v in
               load_file(str(run_dir / "checkpoints" / "last" / "model.safetensors")).items())
    assert run.events()[-1] == events[-1]


def test_load_run_problems(tmp_path, trained_run):
    with pytest.raises(RunError, match="no such run folder"):
        load_run(tmp_path / "missing")
    run_dir, _ = trained_run
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "design.json").write_text((run_dir / "design.json").read_text())
    with pytest.raises(RunError, match="config.json: missing"):
        load_run(broken)
    legacy = json.loads((run_dir / "config.json").read_text())
    del legacy["run_format"]  # written before manifests: the weights are read without one
    (broken / "config.json").write_text(json.dumps(legacy))
    (broken / "checkpoints" / "best").mkdir(parents=True)
    (broken / "checkpoints" / "best" / "model.safetensors").write_bytes(b"not tensors")
    with pytest.raises(RunError, match="not a readable safetensors file"):
        load_run(broken).build_model("best")
    model = torch.nn.Linear(1, 1)
    RunWriter(broken, resume=True).save_weights("best", model, {}, 1, 1)
    with pytest.raises(RunError, match="the weights do not fit the design"):
        load_run(broken).build_model("best")


def test_a_run_folders_short_name_is_the_time_it_started(tmp_path):
    from runtime.paths import new_run_dir, short_run_name

    assert short_run_name("20261130-080022") == "08:00:22"
    assert short_run_name("digits_cnn-20261130-080022") == "08:00:22"
    assert short_run_name("my-run-20261130-235959-3") == "23:59:59-3"
    assert short_run_name("my-run") == "my-run"  # a name of the user's own stays whole
    assert short_run_name("x20261130-080022") == "x20261130-080022"
    assert short_run_name(new_run_dir(tmp_path).name).count(":") == 2  # the app's own names
    assert short_run_name(default_run_dir("digits", tmp_path).name).count(":") == 2
