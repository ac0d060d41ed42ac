"""The training workspace inside the main window: docks, the Train action, a run by mouse."""
from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import QSettings

from tests.conftest import EXAMPLES
from ui.document import Document
from ui.main_window import MainWindow

pytestmark = pytest.mark.slow


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "s"))
    monkeypatch.setenv("NETWRIGHT_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "iris_mlp.json"
    shutil.copy(EXAMPLES / "iris_mlp.json", path)
    document = Document()
    document.open(path)
    w = MainWindow(document, autosave=False, remember_layout=False)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.training.controller.kill()


def test_train_action_runs_beside_the_design_and_editor_stays_editable(qtbot, window, tmp_path):
    ws = window.training
    assert window.training_docks["training"].widget() is ws.panel
    assert ws.train_action.isEnabled() and not ws.stop_action.isEnabled()
    ws.panel.forms["Loop"].editors["epochs"].spin.setValue(3)  # an undoable edit, like any other
    assert window.document.design.training["epochs"] == 3
    with qtbot.waitSignal(ws.controller.run_finished, timeout=120_000) as finished:
        ws.train_action.trigger()
        assert ws.stop_action.isEnabled() and not ws.train_action.isEnabled()
        window.canvas.select_all()  # the editor is usable while the child trains
        window.undo_action.trigger()
    assert finished.args[0]["status"] == "completed"
    assert finished.args[0]["run_dir"].startswith(str(tmp_path / "runs" / "iris_mlp"))
    assert window.document.design.training["epochs"] != 3  # the undo happened meanwhile
    assert ws.train_action.isEnabled()
    qtbot.waitUntil(lambda: len(ws.history.runs) == 1, timeout=10_000)
    assert ws.history.runs[0].epochs_completed == 3  # the snapshot kept the edit
