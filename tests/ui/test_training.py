"""Training from the app: a real child process trains a snapshot of the design.

Each test starts ``main.py train`` as a child through the training panel and waits for it on
the event loop, as the app does; the editor stays usable throughout.
"""
from __future__ import annotations

import json
import os
import signal

import pytest

from graph.fileformat import load, save
from ui.commands import SetParamCommand
from ui.document import Document
from ui.training.workspace import TrainingWorkspace

from ..conftest import EXAMPLES

pytestmark = pytest.mark.slow
RUN_TIMEOUT = 120_000


@pytest.fixture
def workspace(qtbot, tmp_path):
    def make(example="moons_mlp.json", **training):
        design = load(EXAMPLES / example)
        design.set_training(dict(design.training, **training))
        document = Document(design)
        ws = TrainingWorkspace(document, runs_root=tmp_path / "runs")
        for widget in (ws.panel, ws.tabs, ws.data_panel):
            qtbot.addWidget(widget)
        made.append(ws)
        return ws

    made: list[TrainingWorkspace] = []
    yield make
    for ws in made:
        ws.controller.kill()
        if ws.controller.busy:
            qtbot.waitUntil(lambda: not ws.controller.busy, timeout=10_000)


def _events(ws, kind):
    return [e for e in ws.controller.events if e.get("event") == kind]


def _wait_finished(qtbot, ws):
    with qtbot.waitSignal(ws.controller.run_finished, timeout=RUN_TIMEOUT) as blocker:
        pass
    return blocker.args[0]


def test_train_from_panel_fills_plots_history_and_results(qtbot, workspace):
    ws = workspace(epochs=4, diagnostics_every=5)
    with qtbot.waitSignal(ws.controller.run_finished, timeout=RUN_TIMEOUT) as finished:
        ws.panel.train_button.click()
        assert ws.controller.busy and not ws.panel.train_button.isEnabled()
    result = finished.args[0]
    assert result["status"] == "completed", result
    ws.plots.redraw()
    assert ws.plots.points("epoch/train_loss") == 4
    assert ws.plots.points("epoch/val_accuracy") == 4
    assert ws.plots.points("lr") >= 4  # from step events, and at least one per epoch
    assert ws.diagnostics.count == len(_events(ws, "diagnostics")) > 0
    assert set(ws.diagnostics.health) == {"n2", "n4", "n6"}  # the layers with weights
    assert "completed" in ws.panel.status.full_text()
    assert ws.panel.progress.value() == 1000
    qtbot.waitUntil(lambda: any(r.dir.name == os.path.basename(result["run_dir"])
                                for r in ws.history.runs), timeout=10_000)
    row = next(r for r in ws.history.runs if str(r.dir) == result["run_dir"])
    assert row.status == "completed" and row.best_metric == "val_loss" and row.device == "cpu"
    qtbot.waitUntil(lambda: ws.results.predictions is not None, timeout=60_000)
    p = ws.results.predictions
    assert p.task == "classification" and p.confusion.sum() == len(p.targets) > 0
    assert ws.results.confusion.rowCount() == 2
    assert p.grid is not None  # moons is 2-D: decision regions are drawn
    assert ws.results.regions_image.image is not None
    tabs = ws.results.right_tabs
    assert tabs.isTabVisible(tabs.indexOf(ws.results.regions))


def test_a_run_records_the_designs_own_file_not_the_temporary_copy(qtbot, workspace, tmp_path):
    from runtime.runs import RunFolder

    ws = workspace(epochs=1)
    saved = ws.document.save(tmp_path / "my design.json")
    for expected in (str(saved), None):
        ws.controller.train()
        result = _wait_finished(qtbot, ws)
        assert result["status"] == "completed", result
        assert RunFolder(result["run_dir"]).config()["design_file"] == expected
        ws.document.path = None  # untitled: no file to record


def test_stop_mid_run_leaves_a_checkpoint_that_resumes(qtbot, workspace):
    ws = workspace(epochs=200)
    with qtbot.waitSignal(ws.controller.run_finished, timeout=RUN_TIMEOUT) as finished:
        ws.panel.train_button.click()
        qtbot.waitUntil(lambda: bool(_events(ws, "start")), timeout=RUN_TIMEOUT)
        ws.panel.stop_button.click()
    result = finished.args[0]
    assert result["status"] == "stopped"
    run = result["run_dir"]
    assert os.path.exists(os.path.join(run, "checkpoints", "last", "model.safetensors"))
    with open(os.path.join(run, "status.json")) as fh:
        assert json.load(fh)["status"] == "stopped"
    done = len(_events(ws, "epoch"))
    assert done < 200
    state = json.load(open(os.path.join(run, "checkpoints", "last", "state.json")))["state"]
    assert state["step"] == _events(ws, "end")[0]["step"]  # the checkpoint is where it stopped
    # Resume from the history, with fewer epochs to go: the same run folder continues.
    qtbot.waitUntil(lambda: any(str(r.dir) == run for r in ws.history.runs), timeout=10_000)
    with qtbot.waitSignal(ws.controller.run_finished, timeout=RUN_TIMEOUT) as finished:
        ws.controller.resume_run(run, ("--epochs", str(done + 1)))
    assert finished.args[0]["status"] == "completed", finished.args[0]
    epochs = [e["epoch"] for e in _events(ws, "epoch")]
    assert epochs == [done + 1]


def test_sigkill_marks_failed_and_editor_carries_on(qtbot, workspace, tmp_path):
    ws = workspace(epochs=500)
    with qtbot.waitSignal(ws.controller.run_finished, timeout=RUN_TIMEOUT) as finished:
        ws.panel.train_button.click()
        qtbot.waitUntil(lambda: bool(_events(ws, "start")), timeout=RUN_TIMEOUT)
        os.kill(ws.controller.process.pid(), signal.SIGKILL)
    result = finished.args[0]
    assert result["status"] == "failed"
    assert "killed" in result["message"]
    assert "failed" in ws.panel.status.full_text()
    with open(os.path.join(result["run_dir"], "status.json")) as fh:
        assert json.load(fh)["status"] == "failed"
    # The editor is untouched: edit, undo, save.
    doc = ws.document
    doc.push(SetParamCommand(doc.design, "n2", "out_features", 32))
    assert doc.design.node("n2").params["out_features"] == 32
    path = doc.save(tmp_path / "after_crash.json")
    assert load(path).node("n2").params["out_features"] == 32
    assert ws.panel.train_button.isEnabled()


def test_pause_and_resume_continue_the_same_curve(qtbot, workspace):
    ws = workspace(epochs=40)
    with qtbot.waitSignal(ws.controller.run_finished, timeout=RUN_TIMEOUT) as finished:
        ws.panel.train_button.click()
        qtbot.waitUntil(lambda: bool(_events(ws, "start")), timeout=RUN_TIMEOUT)
        ws.panel.pause_button.click()
        assert ws.panel.pause_button.text() == "Resume"
        qtbot.waitUntil(lambda: bool(_events(ws, "paused")), timeout=RUN_TIMEOUT)
        held = len(ws.controller.events)
        ws.panel.pause_button.click()
        assert ws.panel.pause_button.text() == "Pause"
    assert finished.args[0]["status"] == "completed"
    kinds = [e["event"] for e in ws.controller.events]
    paused, resumed = kinds.index("paused"), kinds.index("resumed")
    # Nothing happens while paused, and the run goes on only once Resume was clicked.
    assert resumed == paused + 1 and resumed >= held, kinds[paused - 1:paused + 4]
    assert [e["epoch"] for e in _events(ws, "epoch")] == list(range(1, 41))
    assert _events(ws, "resumed")
    ws.plots.redraw()
    x, _ = ws.plots.curves["epoch/train_loss"].series.arrays()
    assert x.tolist() == list(range(1, 41))


def test_settings_edits_are_undoable(qtbot, workspace):
    ws = workspace()
    form = ws.panel.forms["Loop"]
    doc = ws.document
    form.editors["epochs"].spin.setValue(7)
    assert doc.design.training["epochs"] == 7
    ws.panel.metric_boxes["f1"].setChecked(True)
    assert "f1" in doc.design.training["metrics"].split(",")
    doc.undo_stack.undo()
    assert "f1" not in doc.design.training["metrics"].split(",")
    doc.undo_stack.undo()
    assert doc.design.training["epochs"] == 50
    assert form.editors["epochs"].value() == 50  # the form follows the model


def test_invalid_design_is_refused_with_a_message(qtbot, workspace):
    ws = workspace()
    doc = ws.document
    doc.push(SetParamCommand(doc.design, "n1", "shape", [3]))
    ws.panel.train_button.click()
    assert not ws.controller.busy
    assert ws.panel.status.full_text() == "Not started; the reason is below"
    assert "error" in ws.panel.messages.text()


def test_a_failing_child_reports_its_message(qtbot, workspace):
    ws = workspace(epochs=2)
    doc = ws.document
    doc.design.set_data(dict(doc.design.data, name="csv",
                             options={"path": "/nonexistent/table.csv"}))
    with qtbot.waitSignal(ws.controller.run_finished, timeout=RUN_TIMEOUT) as finished:
        ws.panel.train_button.click()
    result = finished.args[0]
    assert result["status"] == "failed"
    assert "table.csv" in result["message"]
    assert ws.panel.status.full_text() == "Run failed; the reason is below"
    assert "table.csv" in ws.panel.messages.text()  # whole and selectable


def test_child_stops_cleanly_when_the_app_goes_away(tmp_path):
    """The end of stdin (the app died) stops the run like Stop does, keeping a checkpoint."""
    import subprocess
    import sys

    from ui.training.runner import ROOT, train_command

    run = tmp_path / "run"
    design = tmp_path / "moons.json"
    d = load(EXAMPLES / "moons_mlp.json")
    d.set_training(dict(d.training, epochs=10_000))
    save(d, design)
    child = subprocess.Popen([sys.executable, *train_command(design, run)], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    for line in child.stdout:  # wait until it trains
        if json.loads(line)["event"] == "start":
            break
    child.stdin.close()
    out = child.stdout.read()
    assert child.wait(timeout=120) == 0
    end = json.loads(out.strip().splitlines()[-1])
    assert end["event"] == "end" and end["status"] == "stopped"
    assert (run / "checkpoints" / "last" / "model.safetensors").exists()
