"""The Training tab's progress text fits the dock at the default window size and at 1280×800:
the progress bar leaves out its least important parts rather than running past its edge (all
of it in the tooltip), the run folder is one line elided in the middle, and the epoch line
wraps only between its "name value" parts, whole, in the status' two lines."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from tests.conftest import example_window
from tests.ui.test_forms_fit import styled  # noqa: F401
from ui.training.runner import PAUSED, RUNNING

LONG_RUN = "/home/someone/projects/a-long-project-name/designs/runs/digits_cnn/20261130-034027"


@pytest.fixture(params=[(1400, 900), (1280, 800)], ids=lambda s: f"{s[0]}x{s[1]}")
def window(styled, qtbot, request):
    window = example_window(qtbot, request.param)
    window.training_docks["training"].raise_()
    qtbot.waitUntil(lambda: window.training.panel.isVisible())
    return window


def _state(controller, state):
    controller.process.state = state
    controller.state_changed.emit(state)


def _fits(widget, text: str) -> bool:
    return widget.fontMetrics().horizontalAdvance(text) <= widget.contentsRect().width()


def test_progress_and_status_fit_the_training_dock(window, qtbot, monkeypatch):
    from pathlib import Path

    panel, c = window.training.panel, window.training.controller
    monkeypatch.setattr(c, "train", lambda *a: Path(LONG_RUN))
    panel.start_training()
    QApplication.processEvents()
    assert panel.run_folder.toolTip().endswith(LONG_RUN)
    assert _fits(panel.run_folder, panel.run_folder.text()) and "…" in panel.run_folder.text()
    assert panel.run_folder.text().endswith("034027")  # the run's own name stays readable
    _state(c, RUNNING)
    c.event.emit({"event": "start", "epochs": 500, "steps_per_epoch": 2000, "device": "cpu"})
    c.event.emit({"event": "step", "step": 123_456, "epoch": 62, "samples_per_s": 27_900.0,
                  "eta_s": 4000.0})
    c.event.emit({"event": "epoch", "epoch": 61, "step": 122_000, "train_loss": 0.123456,
                  "val_loss": 0.134567, "val_accuracy": 0.987654, "samples_per_s": 27_900.0})
    qtbot.waitUntil(lambda: panel.progress.format().startswith("epoch 61/500"), timeout=2000)
    bar = panel.progress
    assert _fits(bar, bar.format()) and "ETA" in bar.format()
    assert "step 122000" in bar.toolTip() and "27.9k samples/s" in bar.toolTip()
    _state(c, PAUSED)
    assert bar.format().endswith("paused") and _fits(bar, bar.format())
    _state(c, RUNNING)
    c.event.emit({"event": "epoch", "epoch": 62, "step": 124_000, "train_loss": 0.123456,
                  "val_loss": 0.134567, "val_accuracy": 0.987654, "samples_per_s": 27_900.0})
    qtbot.waitUntil(lambda: panel.status.full_text().startswith("epoch\u00a062"), timeout=2000)
    QApplication.processEvents()
    status = panel.status
    lines = status.text().split("\n")
    assert len(lines) <= 2 and all(_fits(status, line) for line in lines), lines
    assert " ".join(lines) == status.full_text()  # whole, broken between parts only
    for part in status.full_text().split(" · "):  # each "name value" is one unbreakable run
        assert " " not in part and _fits(status, part), part



def test_a_refused_start_says_so_first_and_where_the_errors_are(qtbot):
    """Train on a broken design: the status says what happened, the message under it why and
    where to look, whole (the status' two lines cut "the design has 2 error(s); first: … (fix:
    drag a link fro…")."""
    from tests.conftest import example_window
    from ui.commands import RemoveEdgeCommand

    window = example_window(qtbot, (1280, 800))
    document, panel = window.document, window.training.panel
    for edge in list(document.design.edges)[1:3]:  # two layers lose their input
        document.push(RemoveEdgeCommand(document.design, edge))
    n = len(document.revalidate().errors)
    assert n >= 2
    panel.start_training()
    assert not window.training.controller.busy
    assert panel.status.text() == "Not started; the reason is below"
    assert panel.messages.text().startswith(
        f"✗ Not started: the design has {n} errors (Diagnostics lists them). ")
