"""What the training panel says while a run starts, pauses and ends, and after New/Open —
driven by the controller's signals as the child's events arrive (no child process needed)."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from graph.fileformat import load
from tests.conftest import EXAMPLES
from ui.document import Document
from ui.training.runner import IDLE, PAUSED, RUNNING, STARTING
from ui.training.workspace import TrainingWorkspace


@pytest.fixture
def ws(qtbot, tmp_path):
    document = Document(load(EXAMPLES / "moons_mlp.json"))
    workspace = TrainingWorkspace(document, runs_root=tmp_path / "runs")
    for widget in (workspace.panel, workspace.tabs, workspace.data_panel):
        qtbot.addWidget(widget)
    return workspace


def _state(ws, state):
    ws.controller.process.state = state
    ws.controller.state_changed.emit(state)


def test_starting_says_what_it_is_doing(ws):
    panel, c = ws.panel, ws.controller
    _state(ws, STARTING)
    c.event.emit({"event": "stage", "stage": "loading data"})
    assert panel.progress.format() == "loading the data…"
    c.event.emit({"event": "stage", "stage": "compiling"})
    assert panel.progress.format() == "building the model…"
    c.event.emit({"event": "start", "epochs": 3, "steps_per_epoch": 10, "device": "cpu"})
    assert panel.progress.format() == "first step…"
    c.event.emit({"event": "step", "step": 1, "epoch": 1, "eta_s": 5.0})
    assert panel.progress.format().startswith("epoch 1/3 · step 1")


def test_pause_shows_paused(ws):
    panel = ws.panel
    _state(ws, RUNNING)
    _state(ws, PAUSED)
    assert panel.status.full_text().startswith("Paused")
    assert panel.pause_button.text() == "Resume" and ws.pause_action.text() == "Resume"
    _state(ws, RUNNING)
    assert not panel.status.full_text().startswith("Paused")


def test_pause_and_stop_are_disabled_as_soon_as_the_run_ends(ws):
    panel, c = ws.panel, ws.controller
    _state(ws, RUNNING)
    assert panel.stop_button.isEnabled() and ws.stop_action.isEnabled()
    c.event.emit({"event": "end", "status": "completed"})  # the process still exits later
    assert c.state == RUNNING
    assert not panel.pause_button.isEnabled() and not panel.stop_button.isEnabled()
    assert not ws.pause_action.isEnabled() and not ws.stop_action.isEnabled()
    _state(ws, IDLE)
    assert panel.train_button.isEnabled() and ws.train_action.isEnabled()


def test_new_or_open_resets_the_training_tab(ws):
    panel, c = ws.panel, ws.controller
    _state(ws, RUNNING)
    c.event.emit({"event": "start", "epochs": 2, "steps_per_epoch": 1})
    c.event.emit({"event": "epoch", "epoch": 2, "step": 2, "train_loss": 0.5, "val_loss": 0.6})
    _state(ws, IDLE)
    c.run_finished.emit({"status": "completed", "message": "", "run_dir": "x"})
    assert "completed" in panel.progress.format()
    ws.plots.redraw()
    assert ws.plots.points("epoch/train_loss") == 1

    ws.document.replace(load(EXAMPLES / "iris_mlp.json"))
    assert panel.progress.format() == "" and panel.progress.value() == 0
    assert panel.status.full_text() == "Ready"
    assert ws.plots.points("epoch/train_loss") == 0


def test_the_runs_warnings_and_notes_are_shown_until_the_next_run(ws):
    panel, c = ws.panel, ws.controller
    _state(ws, STARTING)
    assert panel.messages.isHidden()
    c.event.emit({"event": "start", "epochs": 3, "steps_per_epoch": 10, "device": "cpu",
                  "warnings": ["no validation split (val_fraction is 0): early stopping is off"],
                  "notes": ["data: skipped 1 preamble line(s) at the top"]})
    c.event.emit({"event": "warning", "message": "torch.compile cannot run here; eager"})
    c.event.emit({"event": "step", "step": 1, "epoch": 1, "eta_s": 5.0})
    assert not panel.messages.isHidden()
    assert panel.messages.text().split("\n") == [
        "⚠ no validation split (val_fraction is 0): early stopping is off",
        "ℹ data: skipped 1 preamble line(s) at the top",
        "⚠ torch.compile cannot run here; eager"]
    _state(ws, IDLE)
    assert "early stopping is off" in panel.messages.text()  # still there after the run
    _state(ws, STARTING)  # the next run starts with none
    assert panel.messages.isHidden() and panel.messages.text() == ""


def test_a_burst_of_child_events_is_handled_in_slices(qtbot, monkeypatch):
    """A child that printed many events while the window was busy: they are handled a few at a
    time with the window's own events in between, all of them, in order."""
    import sys

    from PySide6.QtCore import QProcess, QTimer

    from ui.training import runner as R

    monkeypatch.setattr(R, "LINES_PER_SLICE", 5)
    step = {"event": "step", "epoch": 1, "loss": 1.0, "time": 0.0, "batch": 1, "batches": 1,
            "lr": 0.1, "samples_per_s": 1.0, "eta_s": 1.0}
    script = ("import json, sys, time\n"
              f"lines = [json.dumps(dict({step!r}, step=i)) for i in range(40)]\n"
              "sys.stdout.write('\\n'.join(lines) + '\\n'); sys.stdout.flush(); time.sleep(3)")
    child = R.TrainingProcess()
    seen, ticks = [], []
    child.event.connect(lambda e: seen.append((e["step"], len(ticks))))
    process = QProcess()
    process.readyReadStandardOutput.connect(child._read_stdout)
    child.process = process
    ticker = QTimer()
    ticker.setInterval(0)
    ticker.timeout.connect(lambda: ticks.append(1))
    ticker.start()
    process.start(sys.executable, ["-c", script])
    qtbot.waitUntil(lambda: len(seen) == 40, timeout=20_000)
    ticker.stop()
    process.kill()
    process.waitForFinished(5000)
    assert [s for s, _t in seen] == list(range(40))
    slices = {t for _s, t in seen}
    assert len(slices) >= 40 // 5  # the window ran between the slices


def test_a_burst_of_epochs_relays_out_the_status_line_once_not_per_epoch(ws, qtbot):
    """A fast run sends ~100 epochs a second: the wrapped status line (which lays the dock out
    again) and the progress bar show the newest, at most every 0.1 s."""
    panel, c = ws.panel, ws.controller
    _state(ws, RUNNING)
    c.event.emit({"event": "start", "epochs": 50, "steps_per_epoch": 2, "device": "cpu"})
    for e in range(1, 51):
        c.event.emit({"event": "epoch", "epoch": e, "step": 2 * e, "train_loss": 1.0 / e})
    shown = lambda: panel.status.full_text().replace("\u00a0", " ")  # noqa: E731 (unbreakable spaces)
    assert shown().startswith("epoch 1 ")  # the burst is not shown line by line
    qtbot.waitUntil(lambda: shown().startswith("epoch 50 "), timeout=2000)
    assert panel.progress.format().startswith("epoch 50/50")


def test_the_run_buttons_stay_put_while_the_status_text_changes(ws, qtbot):
    panel, c = ws.panel, ws.controller
    panel.resize(320, 700)
    panel.show()
    qtbot.waitExposed(panel)
    before = panel.pause_button.mapTo(panel, panel.pause_button.rect().topLeft())
    _state(ws, STARTING)
    c.event.emit({"event": "start", "epochs": 3, "steps_per_epoch": 10, "device": "cpu",
                  "warnings": ["a warning long enough to wrap over several lines " * 3]})
    panel.status.set_full_text("a status line long enough to wrap onto a second and third line " * 2)
    QApplication.processEvents()
    assert panel.pause_button.mapTo(panel, panel.pause_button.rect().topLeft()) == before


def test_the_eta_stays_shown_across_epoch_events(ws, qtbot):
    """The trial: "ETA –" for a whole run: each epoch event (sent between step events) wiped
    the estimate. It now counts down from the last step's estimate."""
    panel, c = ws.panel, ws.controller
    _state(ws, RUNNING)
    c.event.emit({"event": "start", "epochs": 10, "steps_per_epoch": 5, "device": "cpu"})
    c.event.emit({"event": "step", "step": 3, "epoch": 1, "eta_s": 125.0, "samples_per_s": 900})
    c.event.emit({"event": "epoch", "epoch": 1, "step": 5, "train_loss": 0.5, "val_loss": 0.6})
    qtbot.waitUntil(lambda: panel.progress.full_text().startswith("epoch 1/10 · step 5"))
    text = panel.progress.full_text()
    assert "ETA –" not in text and ("ETA 2:05" in text or "ETA 2:04" in text), text
    c.event.emit({"event": "epoch", "epoch": 2, "step": 10, "train_loss": 0.4, "val_loss": 0.5})
    qtbot.waitUntil(lambda: panel.progress.full_text().startswith("epoch 2/10"))
    assert "ETA 2:0" in panel.progress.full_text()


def test_a_run_too_fast_for_step_events_gets_an_eta_from_its_epochs(ws, qtbot):
    """Epochs shorter than the step interval send no step events: the time per epoch so far
    gives the estimate (2 s for 2 of 10 epochs → 8 s left)."""
    panel, c = ws.panel, ws.controller
    _state(ws, RUNNING)
    c.event.emit({"event": "start", "time": 1.0, "epochs": 10, "steps_per_epoch": 5,
                  "start_epoch": 0})
    c.event.emit({"event": "epoch", "time": 2.0, "epoch": 1, "step": 5, "train_loss": 0.5})
    c.event.emit({"event": "epoch", "time": 3.0, "epoch": 2, "step": 10, "train_loss": 0.4})
    qtbot.waitUntil(lambda: panel.progress.full_text().startswith("epoch 2/10"))
    assert panel.progress.full_text().endswith(("ETA 0:08", "ETA 0:07")), panel.progress.full_text()


def test_after_stop_the_bar_counts_the_epochs_done_as_the_runs_page_does(ws, tmp_path):
    panel, c = ws.panel, ws.controller
    _state(ws, STARTING)
    c.event.emit({"event": "start", "epochs": 100, "steps_per_epoch": 10, "device": "cpu"})
    c.event.emit({"event": "step", "step": 375, "epoch": 38, "eta_s": 5.0})  # epoch 38 running
    c.event.emit({"event": "end", "status": "stopped", "epochs_completed": 37, "step": 375})
    c.process.finished.emit({"status": "stopped", "message": "", "run_dir": str(tmp_path)})
    assert panel.progress.full_text().startswith("epoch 37/100")  # Runs lists 37/100
    assert panel.progress.full_text().endswith("stopped")
