"""Recent files, autosave and crash recovery."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from graph.fileformat import dumps, load
from tests.conftest import EXAMPLES, ROOT
from tests.ui.test_window import cnn_file, isolated, make_window, no_leaked_windows  # noqa: F401
from ui.commands import SetParamCommand
from ui.files import (SIDECAR_FORMAT, AutosaveEntry, Autosaver, RecentFiles, app_settings, data_dir,
                      find_recoverable)
from ui.main_window import RecoveryDialog


def click_in_modal_dialog(button: str) -> None:
    """Click ``button`` of the modal dialog that is about to open."""
    def click() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, RecoveryDialog), dialog
        getattr(dialog, button).click()

    QTimer.singleShot(0, click)


def modify(window, value: int = 12) -> None:
    design = window.document.design
    node = next(n for n in design.nodes if n.type in ("Conv2d", "Linear"))
    window.document.push(SetParamCommand(design, node.id, node.layer.params[0].name, value))


# ---- recent files --------------------------------------------------------------------------------


def test_recent_files_newest_first_deduplicated_and_limited(tmp_path):
    recent = RecentFiles()
    files = []
    for i in range(RecentFiles.LIMIT + 2):
        path = tmp_path / f"d{i}.json"
        path.write_text("{}")
        files.append(path)
        recent.add(path)
    recent.add(files[3])
    paths = RecentFiles().paths()  # a fresh object reads the same settings file
    assert paths[0] == files[3].resolve()
    assert len(paths) == RecentFiles.LIMIT and len(set(paths)) == len(paths)
    files[-1].unlink()
    assert files[-1].resolve() not in RecentFiles().paths()  # missing files are not offered
    assert str(tmp_path / "settings") in app_settings().fileName()  # isolated per test


# ---- autosave ---------------------------------------------------------------------------------------


def test_autosave_writes_snapshot_and_clean_exit_removes_it(make_window, cnn_file, isolated):
    window = make_window(cnn_file)
    saver = window.autosaver
    assert saver.timer.isActive() and saver.timer.interval() == 30_000
    assert saver.directory == isolated == data_dir()
    assert not saver.save_now()  # nothing unsaved: nothing written
    assert not saver.snapshot.exists()

    modify(window)
    assert saver.save_now()
    assert saver.snapshot.read_text(encoding="utf-8") == window.document.snapshot()
    meta = json.loads(saver.sidecar.read_text(encoding="utf-8"))
    assert meta["format"] == SIDECAR_FORMAT and meta["original"] == str(cnn_file)
    assert abs((datetime.now() - datetime.fromisoformat(meta["saved_at"])).total_seconds()) < 60
    assert find_recoverable() == []  # this session is alive: its autosave is not offered

    window.save()  # saved work needs no autosave
    assert not saver.snapshot.exists()
    modify(window, 13)
    assert saver.save_now()
    window.document.undo_stack.setClean()
    window.close()  # a clean exit
    assert list(isolated.iterdir()) == []


def test_autosave_timer_writes_while_modified(qtbot, cnn_file, isolated):
    from ui.document import Document

    document = Document(load(cnn_file))
    saver = Autosaver(document, interval_ms=20)
    saver.start()
    node = document.design.node_by_name("fc1")
    document.push(SetParamCommand(document.design, node.id, "out_features", 5))
    with qtbot.waitSignal(saver.saved, timeout=2000):
        pass
    assert load(saver.snapshot).node_by_name("fc1").params["out_features"] == 5
    saver.close()
    assert not saver.snapshot.exists() and not saver.sidecar.exists()


def leave_autosave(directory: Path, design_path: Path, out_features: int) -> Path:
    """The files a crashed session leaves: a snapshot and its sidecar, with no live lock."""
    design = load(design_path)
    design.node_by_name("fc1").params["out_features"] = out_features
    directory.mkdir(parents=True, exist_ok=True)
    snapshot = directory / "autosave-99999-deadbeef.json"
    snapshot.write_text(dumps(design), encoding="utf-8")
    (directory / "autosave-99999-deadbeef.meta.json").write_text(json.dumps({
        "format": SIDECAR_FORMAT, "original": str(design_path), "name": design.name,
        "saved_at": datetime.now().isoformat()}), encoding="utf-8")
    return snapshot


def test_recover_opens_the_autosave_as_modified(make_window, cnn_file, isolated):
    snapshot = leave_autosave(isolated, cnn_file, 48)
    [entry] = find_recoverable()
    assert entry.original == cnn_file and entry.name == "Digits CNN"

    window = make_window()
    click_in_modal_dialog("recover_button")
    assert window.offer_recovery()

    design = window.document.design
    assert design.node_by_name("fc1").params["out_features"] == 48
    assert window.document.path == cnn_file
    assert window.isWindowModified() and window.windowTitle().startswith("digits_cnn.json[*]")
    assert not snapshot.exists()
    assert window.autosaver.snapshot.exists()  # the recovered work is autosaved again at once
    window.document.undo_stack.setClean()


def test_discard_deletes_the_autosave_and_keeps_the_design(make_window, cnn_file, isolated):
    snapshot = leave_autosave(isolated, cnn_file, 48)
    window = make_window(cnn_file)
    click_in_modal_dialog("discard_button")
    assert not window.offer_recovery()
    assert not snapshot.exists() and find_recoverable() == []
    assert window.document.design.node_by_name("fc1").params["out_features"] == 64
    assert not window.isWindowModified()


def test_not_now_keeps_the_autosave_for_next_time(make_window, cnn_file, isolated):
    leave_autosave(isolated, cnn_file, 48)
    window = make_window()
    click_in_modal_dialog("later_button")
    assert not window.offer_recovery()
    assert len(find_recoverable()) == 1


def test_unreadable_autosave_is_reported(make_window, cnn_file, isolated, monkeypatch):
    snapshot = leave_autosave(isolated, cnn_file, 48)
    snapshot.write_text("{ not json", encoding="utf-8")
    shown = []
    monkeypatch.setattr("ui.main_window.QMessageBox.critical",
                        lambda parent, title, text, *a: shown.append(text))
    window = make_window()
    click_in_modal_dialog("recover_button")
    assert not window.offer_recovery()
    assert shown and "not valid JSON" in shown[0]
    assert len(window.document.design) == 0


CRASHING_SESSION = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from PySide6.QtGui import QGuiApplication
    app = QGuiApplication([])
    from graph.fileformat import load
    from ui.commands import SetParamCommand
    from ui.document import Document
    from ui.files import Autosaver
    document = Document()
    document.open({path!r})
    node = document.design.node_by_name("fc1")
    document.push(SetParamCommand(document.design, node.id, "out_features", 77))
    saver = Autosaver(document)
    assert saver.save_now()
    print(saver.snapshot, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # crash: no clean exit, the lock file stays behind
""")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_recovery_after_a_killed_session(make_window, cnn_file, isolated):
    script = CRASHING_SESSION.format(root=str(ROOT), path=str(cnn_file))
    env = {**os.environ, "NETWRIGHT_DATA_DIR": str(isolated), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == -9, result.stderr
    snapshot = Path(result.stdout.strip())
    assert snapshot.exists() and snapshot.with_suffix(".lock").exists()  # left behind

    window = make_window()
    click_in_modal_dialog("recover_button")
    assert window.offer_recovery()
    assert window.document.design.node_by_name("fc1").params["out_features"] == 77
    assert window.document.path == cnn_file and window.isWindowModified()
    assert not snapshot.exists() and not snapshot.with_suffix(".lock").exists()


def test_recent_and_examples_do_not_mix(make_window, cnn_file):
    window = make_window()
    window.open_example(EXAMPLES / "digits_mlp.json")
    window.open_path(cnn_file)
    assert window.recent.paths() == [cnn_file.resolve()]


def test_unexpected_error_is_logged_autosaved_and_shown(make_window, cnn_file, isolated, monkeypatch):
    """An exception escaping a Qt slot must not pass silently: the work is autosaved at once, the
    traceback is logged in the app-data folder, and the user is told; the editor carries on."""
    from PySide6.QtWidgets import QMessageBox

    from ui.app import install_error_handler

    window = make_window(cnn_file)
    conv = window.document.design.node_by_name("conv1")
    window.document.push(SetParamCommand(window.document.design, conv.id, "out_channels", 12))
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: shown.append(text))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    install_error_handler(window)
    try:
        raise RuntimeError("boom in a slot")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    assert len(shown) == 1 and "RuntimeError: boom in a slot" in shown[0]
    assert "autosaved" in shown[0]
    log = (isolated / "errors.log").read_text(encoding="utf-8")
    assert "boom in a slot" in log and "Traceback" in log
    snapshot = window.autosaver.snapshot
    assert snapshot.parent == isolated and '"out_channels": 12' in snapshot.read_text(encoding="utf-8")
    assert window.document.design.node(conv.id).params["out_channels"] == 12  # nothing lost


def test_open_recent_tells_files_of_the_same_name_apart(make_window, tmp_path):
    """Two designs both called model.json show their folders (only as many as needed), the
    full path as tooltip and status tip; a unique name stays bare."""
    from graph.design import Design
    from graph.fileformat import save

    paths = [tmp_path / "resnet" / "v1" / "model.json", tmp_path / "vgg" / "v1" / "model.json",
             tmp_path / "mlp.json"]
    window = make_window()
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        save(Design(), path)
        window.recent.add(path)
    window._fill_recent_menu()
    actions = {a.text(): a for a in window.recent_menu.actions() if a.toolTip() and not a.isSeparator()}
    assert set(actions) >= {"model.json — vgg/v1", "model.json — resnet/v1", "mlp.json"}
    assert actions["model.json — vgg/v1"].statusTip() == str(paths[1].resolve())
    assert actions["model.json — vgg/v1"].toolTip() == str(paths[1].resolve())
    assert window.recent_menu.toolTipsVisible()


@pytest.mark.parametrize("answer", ["Cancel", "Discard"])
def test_picking_a_template_asks_about_unsaved_changes(make_window, cnn_file, monkeypatch,
                                                       answer):
    """New from Template asks, as New and Open do, when the pick would replace unsaved work:
    the question names the design picked; Cancel keeps the work, Discard opens the template."""
    from PySide6.QtWidgets import QDialog, QMessageBox

    from ui import main_window, template_dialog

    asked = []

    def question(_parent, _title, text, *_args):
        asked.append(text)
        return getattr(QMessageBox.StandardButton, answer)

    monkeypatch.setattr(main_window.QMessageBox, "question", question)

    def pick(dialog):
        dialog.set_args({"depth": 18})
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(template_dialog.TemplateDialog, "exec", pick)
    window = make_window(cnn_file)
    window.canvas.add_node_at_center("ReLU")
    assert window.document.modified
    replaced = window.new_from_template()
    assert asked == ["“digits_cnn.json” has unsaved changes. Save them before opening "
                     "“ResNet-18”?"]
    if answer == "Cancel":
        assert not replaced and window.document.path == cnn_file and window.document.modified
    else:
        assert replaced and window.document.design.template["name"] == "resnet"


def test_a_recovered_unsaved_design_keeps_its_runs(make_window, isolated):
    from graph.design import Design

    window = make_window()
    window.document.restore_snapshot(dumps(Design("ResNet-18")))  # unsaved and modified
    key = window.document.runs_key
    assert window.autosaver.save_now()
    assert json.loads(window.autosaver.sidecar.read_text())["runs_key"] == key

    crashed = isolated / "autosave-99999-deadbeef.json"  # what that session leaves if it dies
    crashed.write_text(window.autosaver.snapshot.read_text(), encoding="utf-8")
    crashed.with_name("autosave-99999-deadbeef.meta.json").write_text(
        window.autosaver.sidecar.read_text(), encoding="utf-8")
    window.document.undo_stack.setClean()
    other = make_window()
    assert other.document.runs_key != key
    click_in_modal_dialog("recover_button")
    assert other.offer_recovery()
    assert other.document.runs_key == key
    assert other.training.controller.runs_dir().name == key
    other.document.undo_stack.setClean()


def test_the_recovery_list_shows_name_time_and_file_whole_or_elided_in_the_middle(qtbot):
    """Each autosave reads as two lines (the design, then when and where) as wide as the list:
    a long path loses its middle, never its file name, and nothing scrolls sideways (at
    1280×800 the line was cut at "autosaved 2026-11-30 0")."""
    folder = Path("/home/someone/projects/2026/classification experiments/handwritten digits")
    original = folder / "designs" / "digits_cnn_with_batchnorm.json"
    entries = [AutosaveEntry(Path("a.json"), "Digits CNN", original, datetime(2026, 11, 30, 9, 26)),
               AutosaveEntry(Path("b.json"), "Untitled", None, datetime(2026, 11, 30, 9, 27))]
    dialog = RecoveryDialog(entries)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    lines = dialog.list.fontMetrics().lineSpacing()
    assert dialog.list.horizontalScrollBar().maximum() == 0
    for row, entry in enumerate(entries):
        item = dialog.list.item(row)
        rect = dialog.list.visualItemRect(item)
        assert rect.height() >= 2 * lines and rect.right() <= dialog.list.viewport().width()
        assert item.text().splitlines()[0] == entry.name
        assert item.toolTip() == item.text()
    text = dialog.list.item(0).text()
    assert "2026-11-30 09:26" in text and str(original) in text
    assert dialog.list.textElideMode() == Qt.TextElideMode.ElideMiddle
