"""``python main.py`` reopens the design the user had last (the recent-files owner's newest),
falling back to the example when it is gone or broken, with a status message, never a dialog.
Settings are this test's own (``isolated``), never the user's."""
from __future__ import annotations

import shutil

import pytest
import shiboken6

import main
from tests.conftest import EXAMPLES
from tests.ui.test_window import isolated, no_leaked_windows  # noqa: F401 (fixtures)
from ui import app as app_module
from ui.files import RecentFiles
from ui.loading import heavy_imports


@pytest.fixture
def start(qtbot, monkeypatch):
    """``start()``: the window ``python main.py`` (no arguments) opens, once it has loaded."""
    opened = []
    real = app_module.open_editor

    def fake_run_app(path=None, reopen=None):
        opened.append(real(path, reopen=reopen))
        return 0

    monkeypatch.setattr(app_module, "run_app", fake_run_app)
    # PyTorch's background import is not this test's: it would outlive the window; nor is the
    # app's garbage collector (it turns Python's automatic collection off for good).
    monkeypatch.setattr(app_module, "when_painted", lambda _widget, _callback: None)
    monkeypatch.setattr(app_module, "collect_garbage_on_gui_thread", lambda: None)

    def run():
        assert main.main([]) == 0
        (window,) = opened
        qtbot.waitExposed(window)
        qtbot.waitUntil(lambda: len(window.document.design) > 0)  # started: a design is open
        return window

    yield run
    heavy_imports().cancel()  # the deferral open_editor declared never started
    for window in opened:
        if shiboken6.isValid(window):
            window.document.undo_stack.setClean()
            window.close()
            window.deleteLater()


def test_no_arguments_reopen_the_last_design(start, tmp_path):
    mine = tmp_path / "mine.json"
    shutil.copy(EXAMPLES / "iris_mlp.json", mine)
    RecentFiles().add(EXAMPLES / "digits_mlp.json")
    RecentFiles().add(mine)  # the newest
    window = start()
    assert window.document.path == mine.resolve()
    assert "Reopened" in window.statusBar().currentMessage()


def test_without_a_last_design_the_example_opens(start):
    window = start()
    assert window.document.path is None and window.document.design.name == "Digits CNN"


@pytest.mark.parametrize("damage", ["gone", "broken"])
def test_a_gone_or_broken_last_design_falls_back_to_the_example(start, tmp_path, damage):
    mine = tmp_path / "mine.json"
    shutil.copy(EXAMPLES / "iris_mlp.json", mine)
    RecentFiles().add(mine)
    if damage == "gone":
        mine.unlink()
    else:
        mine.write_text('{"format": "netwright", "format_version": 2, "network": [')
    window = start()
    assert window.document.path is None and window.document.design.name == "Digits CNN"
    message = window.statusBar().currentMessage()
    assert "mine.json" in message and "showing the example instead" in message
    assert ("no longer there" if damage == "gone" else "Could not reopen") in message


@pytest.mark.parametrize("answer", ["later_button", "recover_button"])
def test_autosaves_are_offered_over_the_design_that_would_open(start, tmp_path, isolated, answer):
    """After a crash the recovery dialog opens over the design ``python main.py`` opens (not an
    empty one): "Not now" leaves the user there, Recover replaces it with the autosave."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from tests.ui.test_files import leave_autosave
    from ui.main_window import RecoveryDialog

    mine = tmp_path / "mine.json"
    shutil.copy(EXAMPLES / "iris_mlp.json", mine)
    RecentFiles().add(mine)
    crashed = tmp_path / "crashed.json"
    shutil.copy(EXAMPLES / "digits_cnn.json", crashed)
    leave_autosave(isolated, crashed, 48)
    behind = []

    def answer_when_asked() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, RecoveryDialog):
            poll.stop()
            behind.append(dialog.parent().document.path)
            getattr(dialog, answer).click()

    poll = QTimer()
    poll.timeout.connect(answer_when_asked)
    poll.start(20)
    window = start()
    assert behind == [mine.resolve()]  # the dialog asked over the user's last design
    if answer == "later_button":
        assert window.document.path == mine.resolve() and not window.isWindowModified()
    else:
        assert window.document.path == crashed
        assert window.document.design.node_by_name("fc1").params["out_features"] == 48
