"""The trainer: events, reproducibility, stop/pause/resume, failures, schedules, metrics."""
from __future__ import annotations

import json
import math
import sys
import threading
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from graph.design import Design, Edge
from graph.fileformat import load
from runtime import devices
from runtime.data import DataInfo, Normalization, load_data
from runtime.metrics import ClassificationMeter, RegressionMeter, classification_report
from runtime.runs import load_run
from runtime.training import (Control, LossFn, LRSchedule, Parallel, TrainingError, evaluate_run,
                             make_optimizer, resolve_training, train)
from tests.conftest import EXAMPLES

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))


def chain(name: str, data: dict, layers: list[tuple[str, dict]], **training) -> Design:
    """A design that is a straight chain of ``layers`` (Input first, Output last)."""
    d = Design(name)
    d.set_data(dict(d.data, **data))
    d.set_training(dict(d.training, device="cpu", **training))
    prev = None
    for type_id, params in layers:
        node = d.make_node(type_id, name=params.pop("name", None), params=params)
        d.add_node(node)
        if prev:
            d.add_edge(Edge(prev, node.id))
        prev = node.id
    return d


def mlp(data: dict, inputs: int, outputs: int, hidden: int = 16, **training) -> Design:
    return chain("mlp", data, [("Input", {"shape": [inputs]}),
                               ("Linear", {"out_features": hidden, "name": "fc1"}),
                               ("ReLU", {"name": "relu"}),
                               ("Linear", {"out_features": outputs, "name": "fc2"}),
                               ("Output", {})], **training)


def run(design: Design, **options):
    options.setdefault("write_files", False)
    return list(train(design, **options))


def of(events, kind):
    return [e for e in events if e["event"] == kind]


# ---- every example ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] * (
    p.stem == "deep_resnet")) for p in EXAMPLE_FILES])  # deep_resnet: ~2 s of first-call conv setup
def test_every_example_trains_an_epoch(path, tmp_path):
    events = list(train(load(path), run_dir=tmp_path / "run", limit_batches=3,
                        overrides={"epochs": 1, "device": "cpu", "diagnostics_every": 2}))
    assert events[-1]["event"] == "end" and events[-1]["status"] == "completed", events[-2]
    for e in events:
        json.dumps(e.to_dict(), allow_nan=False)  # plain JSON, no NaN
    epoch = of(events, "epoch")[0]
    assert math.isfinite(epoch["train_loss"]) and math.isfinite(epoch["val_loss"])
    assert 0 <= epoch["val_accuracy"] <= 1
    assert of(events, "start")[0]["steps_per_epoch"] == 3
    assert {c["kind"] for c in of(events, "checkpoint")} == {"best", "last"}
    assert load_run(tmp_path / "run").build_model("best")


def test_event_stream_shape():
    design = load(EXAMPLES / "moons_mlp.json")
    events = run(design, overrides={"epochs": 2, "diagnostics_every": 5}, step_interval=0)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "stage" and kinds[-1] == "end" and "start" in kinds
    assert kinds.index("start") < kinds.index("step") < kinds.index("epoch")
    start = of(events, "start")[0]
    assert start["task"] == "classification" and start["classes"] == ["upper", "lower"]
    assert start["total_steps"] == 2 * start["steps_per_epoch"]
    steps = of(events, "step")
    assert [s["step"] for s in steps] == list(range(1, start["total_steps"] + 1))
    assert all(s["loss"] > 0 and s["lr"] == 0.01 and s["samples_per_s"] > 0 for s in steps)
    assert steps[-1]["eta_s"] == 0
    epochs = of(events, "epoch")
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert {"train_loss", "val_loss", "val_accuracy", "lr", "duration_s"} <= epochs[0].keys()
    assert events[-1]["status"] == "completed" and events[-1]["epochs_completed"] == 2
    assert events[-1]["best"]["metric"] == "val_loss"


def test_step_events_are_time_throttled():
    design = load(EXAMPLES / "moons_mlp.json")
    events = run(design, overrides={"epochs": 3}, step_interval=60.0)
    assert not of(events, "step") and len(of(events, "epoch")) == 3


def test_diagnostics_per_layer():
    design = load(EXAMPLES / "digits_mlp.json")
    events = run(design, overrides={"epochs": 1, "diagnostics_every": 4}, limit_batches=8)
    diags = of(events, "diagnostics")
    assert [d["step"] for d in diags] == [4, 8]
    layers = {row["name"]: row for row in diags[0]["layers"]}
    assert list(layers) == ["fc1", "relu1", "fc2", "relu2", "fc3"]
    assert layers["fc1"]["grad_norm"] > 0 and layers["relu1"]["grad_norm"] is None
    assert 0 <= layers["relu1"]["dead_fraction"] <= 1 and layers["fc1"]["dead_fraction"] is None
    assert layers["relu1"]["act_mean"] >= 0 and layers["fc3"]["act_std"] > 0


def test_probe_statistics_match_torch():
    """Each layer's activation mean, standard deviation and dead fraction, and its gradient
    norm over all its parameters, as torch computes them directly (NaN where a layer has no
    such statistic)."""
    import math

    from runtime.training.probes import LayerRef, activation_stats, diagnostic_rows, grad_stats

    out = torch.randn(16, 4, 3) - 0.5
    out[:, 0] = -1.0  # unit 0..2 of channel 0 never fire
    fc, act = torch.nn.Linear(3, 2), torch.nn.ReLU()
    fc(torch.randn(5, 3)).pow(2).sum().backward()
    layers = [LayerRef(i, i, i, t, m)
              for i, t, m in (("r", "ReLU", act), ("l", "Linear", fc), ("quiet", "ReLU", act))]
    stats: dict = {}
    activation_stats(layers[0], out, stats)
    activation_stats(layers[1], out, stats)
    rows = {row["name"]: row for row in diagnostic_rows(layers, stats, grad_stats(layers), "cpu")}
    dead = (out.reshape(16, -1) <= 0).all(dim=0).float().mean()
    r, lin, quiet = rows["r"], rows["l"], rows["quiet"]
    assert r["act_mean"] == pytest.approx(out.mean().item(), abs=1e-5)
    assert r["act_std"] == pytest.approx(out.std().item(), rel=1e-5)
    assert r["dead_fraction"] == pytest.approx(dead.item()) and r["dead_fraction"] >= 3 / 12
    assert math.isnan(lin["dead_fraction"]) and lin["act_std"] == pytest.approx(r["act_std"])
    want = torch.cat([fc.weight.grad.flatten(), fc.bias.grad]).norm().item()
    assert lin["grad_norm"] == pytest.approx(want, rel=1e-6)
    assert math.isnan(r["grad_norm"]) and math.isnan(quiet["grad_norm"])
    assert all(math.isnan(quiet[k]) for k in ("act_mean", "act_std", "dead_fraction"))


def test_top5_counted_only_when_asked():
    """Top-5 hits cost a top-k per batch: the trainer counts them only for the top5 metric."""
    design = load(EXAMPLES / "digits_mlp.json")
    plain = of(run(design, overrides={"epochs": 1}, limit_batches=2), "epoch")[0]
    asked = of(run(design, overrides={"epochs": 1, "metrics": "top5"}, limit_batches=2),
               "epoch")[0]
    assert "val_top5" not in plain.to_dict() and 0 < asked["val_top5"] <= 1
    assert plain["val_accuracy"] == asked["val_accuracy"]
    from runtime.data import load_data
    from runtime.training.evaluation import make_meter

    info = load_data(design.data).info
    assert make_meter(info, torch.device("cpu"), ["accuracy"]).topk == 0
    assert make_meter(info, torch.device("cpu"), ["accuracy", "top5"]).topk == 5
    meter = make_meter(info, torch.device("cpu"), ["accuracy"])
    meter.update(torch.randn(4, 10), torch.tensor([0, 1, 2, 3]))
    assert "top5" not in meter.compute() and meter.topk_hits == 0


def test_evaluation_batches_grow_for_small_samples():
    from runtime.training.evaluation import MAX_EVAL_BATCH, evaluation_batch_size

    assert evaluation_batch_size(64, 64) == MAX_EVAL_BATCH  # 64 features: a split at once
    assert evaluation_batch_size(64, 3 * 224 * 224) == 256  # large images: 4× training's
    assert evaluation_batch_size(8, 3 * 224 * 224) == 32
    assert evaluation_batch_size(2048, 3 * 224 * 224) == 2048  # never below training's


def test_no_hooks_without_diagnostics():
    design = load(EXAMPLES / "digits_mlp.json")
    events = run(design, overrides={"epochs": 1, "diagnostics_every": 0}, limit_batches=4)
    assert not of(events, "diagnostics")


def test_checkpoints_are_throttled_but_always_written_at_the_end(tmp_path):
    design = load(EXAMPLES / "moons_mlp.json")
    quick = list(train(design, run_dir=tmp_path / "a", overrides={"epochs": 4}))
    assert [(c["kind"], c["epoch"]) for c in of(quick, "checkpoint")] == [
        ("best", quick[-1]["best"]["epoch"]), ("last", 4)]
    every = list(train(design, run_dir=tmp_path / "b", overrides={"epochs": 4},
                       checkpoint_interval=0))
    assert [c["epoch"] for c in of(every, "checkpoint") if c["kind"] == "last"] == [1, 2, 3, 4]
    best = load_run(tmp_path / "a").build_model("best").module.state_dict()
    assert all(torch.equal(best[k], v) for k, v in
               load_run(tmp_path / "b").build_model("best").module.state_dict().items())


def test_best_weights_survive_a_failure(tmp_path):
    def poison_later(module):  # the 30th training step (epoch 5) meets a NaN weight
        calls = []

        def hook(mod, args):
            if mod.training:
                calls.append(1)
                if len(calls) == 30:
                    with torch.no_grad():
                        mod.species.weight.fill_(float("nan"))
        module.register_forward_pre_hook(hook)
        return module

    events = list(train(load(EXAMPLES / "iris_mlp.json"), run_dir=tmp_path / "r",
                        parallel=Parallel(wrap_model=poison_later), overrides={"epochs": 6}))
    error = of(events, "error")[0]
    assert error["layer"] == "species" and error["epoch"] == 5
    assert [c["kind"] for c in of(events, "checkpoint")] == ["best"]  # never NaN weights
    weights = load_run(tmp_path / "r").build_model("best").module.state_dict()
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert json.loads((tmp_path / "r" / "status.json").read_text())["status"] == "failed"


# ---- reproducibility and resume ---------------------------------------------------------------


def curve(events):
    return [(e["train_loss"], e["val_loss"]) for e in of(events, "epoch")]


def on(device: str, precision: str = "fp32", *before: Any):
    """A test case (``before``'s values, then the settings) on ``device`` with ``precision``;
    CUDA cases skip without a GPU (they run in benchmarks/gpu_check.sh), and the same test's
    CPU case keeps the test itself checked."""
    marks = [pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")] \
        if device == "cuda" else []
    return pytest.param(*before, {"device": device, "precision": precision},
                        id="-".join([*map(str, before), device, precision]), marks=marks)


@pytest.mark.parametrize("where", [on("cpu"), on("cuda", "bf16"), on("cuda", "fp16")])
def test_same_seed_same_curve_other_seed_other_curve(where):
    design = load(EXAMPLES / "digits_cnn.json")  # dropout and batch norm: the RNG matters
    a = run(design, overrides={"epochs": 2, **where}, limit_batches=6)
    b = run(design, overrides={"epochs": 2, **where}, limit_batches=6)
    c = run(design, overrides={"epochs": 2, "seed": 1, **where}, limit_batches=6)
    assert of(a, "start")[0]["device"].startswith(where["device"])
    assert curve(a) == curve(b)
    assert curve(a) != curve(c)


@pytest.mark.parametrize("schedule, where", [
    on("cpu", "fp32", "cosine"), on("cpu", "fp32", "onecycle"), on("cpu", "fp32", "plateau"),
    on("cuda", "fp16", "cosine")])
def test_resume_reproduces_the_uninterrupted_curve(tmp_path, schedule, where):
    """Stopped mid-epoch and resumed, a run retraces the uninterrupted one exactly: weights,
    optimizer, schedule, RNG (CUDA's too) and, in fp16 on CUDA, the gradient scaler."""
    design = load(EXAMPLES / "digits_cnn.json")
    overrides = {"epochs": 3, "schedule": schedule, "warmup_epochs": 1, "patience": 2, **where}
    full = list(train(design, run_dir=tmp_path / "full", overrides=overrides, limit_batches=6,
                      step_interval=0))

    control = Control()
    first = []
    for event in train(design, run_dir=tmp_path / "cut", overrides=overrides, limit_batches=6,
                       step_interval=0, control=control):
        first.append(event)
        if event["event"] == "step" and event["step"] == 9:  # in the middle of epoch 2
            control.request_stop()
    assert first[-1]["status"] == "stopped" and first[-1]["step"] == 9
    assert of(first, "checkpoint")[-1]["kind"] == "last"

    rest = list(train(resume=tmp_path / "cut", limit_batches=6, step_interval=0))
    assert rest[-1]["status"] == "completed", rest[-2]
    start = of(rest, "start")[0]
    assert start["resumed"] and start["start_epoch"] == 2 and start["start_step"] == 9
    full_steps = [(s["step"], s["loss"], s["lr"]) for s in of(full, "step")]
    cut_steps = [(s["step"], s["loss"], s["lr"]) for s in of(first, "step") + of(rest, "step")]
    assert cut_steps == full_steps
    assert curve(of(first, "epoch") + rest) == curve(full)
    a = load_run(tmp_path / "full").build_model("last").module.state_dict()
    b = load_run(tmp_path / "cut").build_model("last").module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    status = json.loads((tmp_path / "cut" / "status.json").read_text())
    assert status["status"] == "completed" and status["epochs_completed"] == 3


def test_resume_in_channels_last_reproduces_the_curve(tmp_path, monkeypatch):
    """Images train channels_last on CUDA; a resumed run's optimizer state came back
    contiguous, which the fused Adam refused there (found on a GPU) and, on the CPU, paired
    with the wrong elements. Here the CPU trains channels_last as CUDA does."""
    monkeypatch.setattr(devices, "memory_format", lambda device, shape: (
        torch.channels_last if len(tuple(shape)) == 3 else None))
    test_resume_reproduces_the_uninterrupted_curve(tmp_path, "cosine",
                                                   {"device": "cpu", "precision": "fp32"})


def test_resume_can_extend_epochs_but_not_change_the_recipe(tmp_path):
    design = load(EXAMPLES / "iris_mlp.json")
    list(train(design, run_dir=tmp_path / "r", overrides={"epochs": 2, "device": "cpu"}))
    done = list(train(resume=tmp_path / "r"))
    assert done[-2]["kind"] == "settings" and "already finished 2 epochs" in done[-2]["message"]
    more = list(train(resume=tmp_path / "r", overrides={"epochs": 4}))
    assert more[-1]["status"] == "completed" and [e["epoch"] for e in of(more, "epoch")] == [3, 4]
    changed = list(train(resume=tmp_path / "r", overrides={"epochs": 5, "lr": 0.5}))
    assert changed[-2]["kind"] == "settings" and "cannot change lr" in changed[-2]["message"]
    missing = list(train(resume=tmp_path / "nothing"))
    assert missing[-2]["kind"] == "run" and "no such run folder" in missing[-2]["message"]


# ---- control ----------------------------------------------------------------------------------


def test_stop_request_is_honoured_within_a_step():
    control = Control()
    events = []
    for event in train(load(EXAMPLES / "moons_mlp.json"), write_files=False, control=control,
                       step_interval=0):
        events.append(event)
        if event["event"] == "step" and event["step"] == 3:
            control.request_stop()
    assert events[-1]["status"] == "stopped" and events[-1]["step"] == 3


def test_stop_after_the_last_epoch_still_completes():
    control = Control()
    events = []
    for event in train(load(EXAMPLES / "iris_mlp.json"), write_files=False, control=control,
                       overrides={"epochs": 2}):
        events.append(event)
        if event["event"] == "epoch" and event["epoch"] == 2:
            control.request_stop()
    assert events[-1]["status"] == "completed" and events[-1]["epochs_completed"] == 2


def test_pause_and_resume_from_another_thread():
    control = Control()
    events = []
    for event in train(load(EXAMPLES / "iris_mlp.json"), write_files=False, control=control,
                       step_interval=0, overrides={"epochs": 2}):
        events.append(event)
        if event["event"] == "step" and event["step"] == 2:
            control.pause()
        elif event["event"] == "paused":
            assert control.paused
            threading.Timer(0.05, control.resume).start()
    kinds = [e["event"] for e in events]
    assert kinds.count("paused") == 1 and kinds.count("resumed") == 1
    assert kinds.index("paused") == kinds.index("resumed") - 1
    assert events[kinds.index("paused")]["step"] == 2
    assert events[-1]["status"] == "completed"


def test_stop_while_paused():
    control = Control()
    events = []
    for event in train(load(EXAMPLES / "iris_mlp.json"), write_files=False, control=control,
                       step_interval=0):
        events.append(event)
        if event["event"] == "step" and event["step"] == 1:
            control.pause()
        elif event["event"] == "paused":
            threading.Timer(0.05, control.request_stop).start()
    assert events[-1]["status"] == "stopped" and not of(events, "resumed")


@pytest.mark.skipif(sys.platform == "win32", reason="uses fork")
def test_control_for_processes_is_shared_with_a_child():
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    control = Control.for_processes(ctx)
    child = ctx.Process(target=control.pause)
    child.start()
    child.join(30)
    assert control.paused  # set in the child, seen here
    child = ctx.Process(target=control.request_stop)
    child.start()
    child.join(30)
    assert control.stop_requested and not control.paused


def test_closing_the_stream_marks_the_run_stopped(tmp_path):
    gen = train(load(EXAMPLES / "iris_mlp.json"), run_dir=tmp_path / "r", step_interval=0)
    for event in gen:
        if event["event"] == "step":
            break
    gen.close()
    assert json.loads((tmp_path / "r" / "status.json").read_text())["status"] == "stopped"


# ---- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("where", [on("cpu"), on("cuda"), on("cuda", "bf16")])
def test_nan_loss_names_the_first_non_finite_layer(where):
    def poison(module):
        with torch.no_grad():
            module.fc2.weight[0, 0] = float("inf")
        return module

    design = load(EXAMPLES / "digits_mlp.json")
    events = run(design, parallel=Parallel(wrap_model=poison), overrides=where)
    error = of(events, "error")[0]
    assert error["kind"] == "nonfinite" and error["layer"] == "fc2" and error["node"] == "n4"
    assert "'fc2' (Linear)" in error["message"] and "learning rate" in error["message"]
    assert events[-1]["status"] == "failed"


def test_a_loss_read_late_still_names_the_first_non_finite_layer(monkeypatch):
    """On a GPU the losses are read only for events: the update of the bad step had already
    made every layer before it non-finite, and fc1 was named (found on a GPU). The fused
    optimizer now skips that update on the device. Here the CPU reads its losses as CUDA."""
    monkeypatch.setattr(devices, "reads_losses_at_once", lambda device: False)
    test_nan_loss_names_the_first_non_finite_layer({"device": "cpu", "precision": "fp32"})


def test_divergence_stops_with_a_diagnostic(tmp_path):
    design = mlp({"name": "sine", "options": {"n_samples": 200}}, 1, 1, loss="mse",
                 optimizer="sgd", lr=10.0, momentum=0.99, epochs=20)
    events = list(train(design, run_dir=tmp_path / "r"))
    error = of(events, "error")[0]
    assert error["kind"] == "nonfinite" and "the loss became" in error["message"]
    if error["layer"] is None:  # outputs still finite: the squared error overflowed first
        assert "the loss itself overflowed" in error["message"]
    else:
        assert error["layer"] in ("fc1", "relu", "fc2")
    assert json.loads((tmp_path / "r" / "status.json").read_text())["status"] == "failed"


def test_design_that_does_not_fit_the_data_is_a_diagnostic_not_a_crash(tmp_path):
    design = load(EXAMPLES / "digits_mlp.json")
    design.set_data(dict(design.data, name="iris", options={}))
    events = list(train(design, run_dir=tmp_path / "r"))
    error = of(events, "error")[0]
    assert error["kind"] == "design"
    by_name = {d["name"]: d for d in error["diagnostics"]}
    assert by_name["pixels"]["code"] == "data-shape" and by_name["fc3"]["code"] == "classes"
    assert not (tmp_path / "r").exists()  # nothing written before the checks pass
    assert [e["event"] for e in events][-2:] == ["error", "end"]


def test_file_dataset_shape_mismatch_is_found_before_training(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((40, 5), np.float32), y=np.arange(40) % 2)
    design = mlp({"name": "npz", "options": {"path": str(path)}}, 4, 2)
    error = of(run(design), "error")[0]
    assert error["kind"] == "design" and "shape 5" in error["message"]


def test_regression_output_width_must_match_the_targets():
    design = mlp({"name": "diabetes", "options": {}}, 10, 3, loss="mse")
    error = of(run(design), "error")[0]
    assert error["kind"] == "design" and "outputs 3 values" in error["message"]


def test_bad_data_and_settings_and_devices_are_reported():
    design = mlp({"name": "csv", "options": {"path": "/nowhere/x.csv"}}, 4, 2)
    error = of(run(design), "error")[0]
    assert error["kind"] == "data" and "/nowhere/x.csv: no such file" in error["message"]
    design = load(EXAMPLES / "iris_mlp.json")
    error = of(run(design, overrides={"lr": -1.0}), "error")[0]
    assert error["kind"] == "settings" and "lr" in error["message"]
    error = of(run(design, overrides={"device": "cuda:7"}), "error")[0]
    assert error["kind"] == "device" and "cuda:7" in error["message"]
    error = of(run(design, overrides={"early_stopping_metric": "val_mae"}), "error")[0]
    assert error["kind"] == "settings" and "does not fit a classification" in error["message"]


# ---- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer, extra", [("sgd", {"nesterov": True}), ("adam", {}),
                                              ("adamw", {"weight_decay": 0.01}),
                                              ("rmsprop", {"lr": 0.003}),
                                              ("sgd", {"grad_clip": 0.5, "lr": 0.1})])
def test_optimizers_reduce_the_loss(optimizer, extra):
    design = load(EXAMPLES / "moons_mlp.json")
    events = run(design, overrides={"epochs": 3, "optimizer": optimizer, **extra})
    losses = [e["train_loss"] for e in of(events, "epoch")]
    assert events[-1]["status"] == "completed" and losses[-1] < losses[0]


def test_nesterov_without_momentum_is_a_warning():
    design = load(EXAMPLES / "moons_mlp.json")
    events = run(design, overrides={"epochs": 1, "optimizer": "sgd", "nesterov": True,
                                    "momentum": 0.0})
    assert any("Nesterov" in w for w in of(events, "start")[0]["warnings"])


def schedule_lrs(schedule: str, epochs=4, spe=5, **extra) -> list[float]:
    model = torch.nn.Linear(1, 1)
    settings = resolve_training({"schedule": schedule, "lr": 1.0, **extra})
    opt, _ = make_optimizer(list(model.parameters()), settings, torch.device("cpu"))
    sched = LRSchedule(opt, settings, spe, epochs)
    lrs = []
    for _ in range(epochs):
        for _ in range(spe):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step_batch()
        sched.step_epoch(1.0)  # a metric that never improves
    return lrs


def test_schedules():
    assert schedule_lrs("none") == [1.0] * 20
    step = schedule_lrs("step", step_size=2, gamma=0.5)
    assert step[:10] == [1.0] * 10 and step[10:] == [0.5] * 10
    warm = schedule_lrs("none", warmup_epochs=1)
    assert warm[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0]) and warm[5:] == [1.0] * 15
    cosine = schedule_lrs("cosine")
    assert cosine[0] == 1.0 and cosine[-1] < 0.01 and cosine == sorted(cosine, reverse=True)
    one = schedule_lrs("onecycle")
    assert max(one) == pytest.approx(1.0) and one[0] < 0.1 and one[-1] < 1e-3
    assert one.index(max(one)) == pytest.approx(0.3 * 20, abs=1)
    plateau = schedule_lrs("plateau", patience=2, gamma=0.1, epochs=6)
    assert plateau[0] == 1.0 and plateau[-1] < 1.0


def test_early_stopping():
    design = load(EXAMPLES / "moons_mlp.json")
    events = run(design, overrides={"epochs": 30, "optimizer": "sgd", "lr": 1e-8, "momentum": 0.0,
                                    "early_stopping_metric": "val_accuracy", "patience": 2})
    end = events[-1]
    assert end["status"] == "early_stopped" and end["epochs_completed"] == 3
    assert end["best"] == {"metric": "val_accuracy", "value": of(events, "epoch")[0]["val_accuracy"],
                           "epoch": 1}


def test_early_stopping_without_validation_split_is_off():
    design = load(EXAMPLES / "moons_mlp.json")
    design.set_data(dict(design.data, val_fraction=0.0))
    events = run(design, overrides={"epochs": 2, "early_stopping_metric": "val_loss"})
    start = of(events, "start")[0]
    assert start["monitor"] == "train_loss" and any("early stopping" in w for w in start["warnings"])
    assert of(events, "epoch")[0]["val_loss"] is None and events[-1]["status"] == "completed"


def test_regression_reports_metrics_in_the_datas_units(tmp_path):
    design = mlp({"name": "diabetes", "options": {}}, 10, 1, hidden=32, loss="huber", lr=0.01,
                 epochs=15, early_stopping_metric="val_r2")
    events = list(train(design, run_dir=tmp_path / "r"))
    epoch = of(events, "epoch")[-1]
    assert {"val_mae", "val_rmse", "val_r2"} <= epoch.keys() and "val_accuracy" not in epoch
    assert 20 < epoch["val_mae"] < 100  # disease progression units, not standardized ones
    assert epoch["val_r2"] > 0.2
    result = evaluate_run(tmp_path / "r")
    assert result["task"] == "regression" and {"mae", "rmse", "r2", "loss"} <= result.keys()
    assert result["samples"] == of(events, "start")[0]["sizes"]["test"]


@pytest.mark.parametrize("loss, outputs", [("bce_with_logits", 1), ("bce_with_logits", 2),
                                           ("mse", 2), ("cross_entropy", 2)])
def test_classification_losses(loss, outputs):
    design = mlp({"name": "xor", "options": {"n_samples": 400}}, 2, outputs, loss=loss, lr=0.02,
                 epochs=4, label_smoothing=0.1 if loss == "cross_entropy" else 0.0)
    events = run(design)
    assert events[-1]["status"] == "completed", events[-2]
    assert of(events, "epoch")[-1]["val_accuracy"] > 0.6


def test_loss_functions_match_torch():
    info = DataInfo("x", "classification", (2,), "float32", 3, ["a", "b", "c"], (), {}, Normalization(), "")
    out, y = torch.randn(5, 3), torch.tensor([0, 2, 1, 1, 0])
    ce = LossFn("cross_entropy", info, (3,), label_smoothing=0.2)
    assert torch.allclose(ce(out, y), F.cross_entropy(out, y, label_smoothing=0.2))
    mse = LossFn("mse", info, (3,))
    assert torch.allclose(mse(out, y), F.mse_loss(out, F.one_hot(y, 3).float()))
    binary = DataInfo("x", "classification", (2,), "float32", 2, ["a", "b"], (), {}, Normalization(), "")
    bce = LossFn("bce_with_logits", binary, (1,))
    yb = torch.tensor([0, 1, 1, 0, 1])
    assert torch.allclose(bce(out[:, :1], yb), F.binary_cross_entropy_with_logits(
        out[:, :1], yb.float()[:, None]))
    with pytest.raises(TrainingError, match="the mse loss needs 3 outputs per sample"):
        LossFn("mse", info, (4,))


def test_mixed_precision_falls_back_to_fp32_off_cuda():
    design = load(EXAMPLES / "moons_mlp.json")
    events = run(design, overrides={"epochs": 1, "precision": "bf16", "device": "cpu"})
    start = of(events, "start")[0]  # (on "auto", a machine with a GPU trains on it in bf16)
    assert start["precision"] == "fp32" and any("CUDA only" in w for w in start["warnings"])


# ---- metrics ----------------------------------------------------------------------------------


def test_classification_meter_matches_scikit_learn():
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, top_k_accuracy_score

    rng = np.random.default_rng(0)
    logits = torch.tensor(rng.normal(size=(300, 7)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 6, 300))  # class 6 never occurs in the targets
    meter = ClassificationMeter(7)
    for i in range(0, 300, 64):
        meter.update(logits[i:i + 64], y[i:i + 64])
    r = meter.compute()
    pred = logits.argmax(1).numpy()
    p, rec, f1, _ = precision_recall_fscore_support(y.numpy(), pred, average="macro",
                                                    zero_division=0)
    assert r["precision"] == pytest.approx(p) and r["recall"] == pytest.approx(rec)
    assert r["f1"] == pytest.approx(f1) and r["accuracy"] == pytest.approx((pred == y.numpy()).mean())
    assert r["confusion_matrix"] == confusion_matrix(y.numpy(), pred, labels=range(7)).tolist()
    assert r["top5"] == pytest.approx(top_k_accuracy_score(y.numpy(), logits.numpy(), k=5,
                                                           labels=range(7)))
    assert sum(c["support"] for c in r["per_class"]) == 300


def test_binary_meter_thresholds_one_logit():
    meter = ClassificationMeter(2)
    meter.update(torch.tensor([[2.0], [-1.0], [0.5]]), torch.tensor([1, 0, 0]))
    assert meter.compute()["confusion_matrix"] == [[1, 1], [0, 1]]


def test_regression_meter_matches_scikit_learn():
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    rng = np.random.default_rng(1)
    t = rng.normal(size=(200, 2))
    p = t + rng.normal(scale=0.3, size=t.shape)
    scale, shift = torch.tensor([2.0, 3.0]), torch.tensor([10.0, -5.0])
    meter = RegressionMeter(2, scale=scale, shift=shift)
    meter.update(torch.tensor(p[:150]), torch.tensor(t[:150]))
    meter.update(torch.tensor(p[150:]), torch.tensor(t[150:]))
    r = meter.compute()
    pu, tu = p * scale.numpy() + shift.numpy(), t * scale.numpy() + shift.numpy()
    assert r["mae"] == pytest.approx(mean_absolute_error(tu, pu))
    assert r["rmse"] == pytest.approx(math.sqrt(mean_squared_error(tu, pu)))
    assert r["r2"] == pytest.approx(r2_score(tu, pu))


def test_classification_report_of_an_empty_matrix():
    r = classification_report([[0, 0], [0, 0]])
    assert r["accuracy"] == 0.0 and r["f1"] == 0.0 and r["samples"] == 0


def test_classification_report_without_details_has_the_same_figures():
    """A training epoch's report leaves out the per-class rows and the matrix, nothing else;
    macro averages skip a class absent from targets and predictions, as scikit-learn's do."""
    from sklearn.metrics import f1_score, precision_score, recall_score

    matrix = [[5, 1, 0, 0], [2, 3, 1, 0], [0, 0, 0, 0], [1, 0, 2, 4]]
    y = [t for t, row in enumerate(matrix) for p, n in enumerate(row) for _ in range(n)]
    pred = [p for row in matrix for p, n in enumerate(row) for _ in range(n)]
    full, short = classification_report(matrix), classification_report(matrix, details=False)
    assert short == {k: v for k, v in full.items() if k not in ("per_class", "confusion_matrix")}
    assert list(short) == ["samples", "accuracy", "precision", "recall", "f1"]
    assert short["precision"] == pytest.approx(precision_score(y, pred, average="macro",
                                                               zero_division=0))
    assert short["recall"] == pytest.approx(recall_score(y, pred, average="macro"))
    assert short["f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert full["confusion_matrix"] == matrix and len(full["per_class"]) == 4


# ---- evaluation and devices ---------------------------------------------------------------------


def test_evaluate_run_on_the_test_split(tmp_path):
    design = load(EXAMPLES / "iris_mlp.json")
    events = list(train(design, run_dir=tmp_path / "r", overrides={"epochs": 30, "device": "cpu"}))
    r = evaluate_run(tmp_path / "r")
    assert r["split"] == "test" and r["samples"] == of(events, "start")[0]["sizes"]["test"]
    assert r["accuracy"] > 0.8 and r["classes"] == ["setosa", "versicolor", "virginica"]
    assert sum(map(sum, r["confusion_matrix"])) == r["samples"]
    assert [c["support"] for c in r["per_class"]] == [sum(row) for row in r["confusion_matrix"]]
    val = evaluate_run(tmp_path / "r", split="val", checkpoint="last")
    assert val["samples"] == of(events, "start")[0]["sizes"]["val"]
    json.dumps(r, allow_nan=False)


def test_evaluate_run_problems(tmp_path):
    with pytest.raises(TrainingError, match="no such run folder"):
        evaluate_run(tmp_path / "none")
    design = load(EXAMPLES / "moons_mlp.json")
    design.set_data(dict(design.data, test_fraction=0.0))
    list(train(design, run_dir=tmp_path / "r", overrides={"epochs": 1, "device": "cpu"}))
    with pytest.raises(TrainingError, match="no test split.*--split val"):
        evaluate_run(tmp_path / "r")


def test_devices():
    listed = devices.available_devices()
    assert listed[0].id == "cpu" and listed[0].name
    assert devices.resolve_device("cpu") == torch.device("cpu")
    assert devices.resolve_device("auto").type in {d.id.split(":")[0] for d in listed}
    with pytest.raises(devices.DeviceError, match="not a device"):
        devices.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(devices.DeviceError, match="no CUDA GPU is available"):
            devices.resolve_device("cuda")
    else:
        with pytest.raises(devices.DeviceError, match="does not exist"):
            devices.resolve_device(f"cuda:{torch.cuda.device_count()}")
    precision, warning = devices.effective_precision(torch.device("cpu"), "fp16")
    assert precision == "fp32" and "CUDA only" in warning
    assert devices.grad_scaler(torch.device("cpu"), "fp16") is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_cuda_training_with_mixed_precision(tmp_path, precision):
    design = load(EXAMPLES / "digits_cnn.json")
    events = list(train(design, run_dir=tmp_path / precision,
                        overrides={"epochs": 2, "device": "cuda", "precision": precision}))
    assert events[-1]["status"] == "completed", events[-2]
    assert of(events, "epoch")[-1]["val_accuracy"] > 0.8
    # the run evaluates on the GPU again, and its weights export on the CPU, verified
    assert evaluate_run(tmp_path / precision, "best", split="val", device="cuda")["accuracy"] > 0.8
    from runtime.export import export_path
    assert export_path(tmp_path / precision, "onnx", tmp_path / "m.onnx").max_diff <= 1e-4


def test_preloaded_data_is_used_as_given():
    design = load(EXAMPLES / "iris_mlp.json")
    loaded = load_data(design.data)
    events = run(design, data=loaded, overrides={"epochs": 1})
    assert of(events, "start")[0]["sizes"] == loaded.info.sizes


def test_step_events_span_short_epochs():
    """Epochs shorter than the step interval still give a per-step loss curve."""
    design = load(EXAMPLES / "moons_mlp.json")
    events = run(design, overrides={"epochs": 12}, step_interval=0.05)
    steps = of(events, "step")
    epochs = of(events, "epoch")
    assert steps, "no step events"
    assert all(math.isfinite(e["loss"]) and e["samples_per_s"] > 0 for e in steps)
    assert [s["step"] for s in steps] == sorted({s["step"] for s in steps})
    assert len(epochs) == 12


@pytest.mark.parametrize("task, classes", [("classification", 7), ("regression", None)])
def test_meters_compute_every_metric_of_the_table(task, classes):
    from graph.metrics import metric_names
    from runtime.metrics import ClassificationMeter, RegressionMeter

    if task == "classification":
        meter = ClassificationMeter(classes)
        meter.update(torch.randn(20, classes), torch.randint(0, classes, (20,)))
        result = meter.compute([str(i) for i in range(classes)])
    else:
        meter = RegressionMeter(2)
        meter.update(torch.randn(20, 2), torch.randn(20, 2))
        result = meter.compute()
    assert set(metric_names(task)) <= set(result)
