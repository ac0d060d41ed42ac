"""Shared test set-up: Qt runs offscreen; the project root is importable; the app's settings
(recent files, window layout) and app-data folder are a temporary one, never the user's."""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_ISOLATED = Path(tempfile.mkdtemp(prefix="netwright-tests-"))
TEST_SCREEN = (1920, 1080)  # a desktop screen: the window opens at its preferred size
if os.environ["QT_QPA_PLATFORM"] == "offscreen":  # Qt's own offscreen screen is 800×800
    _SCREENS = _ISOLATED / "offscreen-screens.json"
    _SCREENS.write_text(json.dumps({"screens": [{
        "name": "TestScreen", "x": 0, "y": 0, "width": TEST_SCREEN[0], "height": TEST_SCREEN[1],
        "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={_SCREENS}"
os.environ["XDG_CONFIG_HOME"] = str(_ISOLATED / "config")  # QSettings' user scope on Linux
os.environ["NETWRIGHT_DATA_DIR"] = str(_ISOLATED / "data")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EXAMPLES = ROOT / "resources" / "examples"


class CliResult(NamedTuple):
    status: int
    out: str
    err: str


def cli(capsys, *argv) -> CliResult:
    """``python main.py ARGV`` run in this process, for what it prints and its exit status (a
    subprocess only where the process itself is the point: signals, crashes, children)."""
    import main

    try:
        status = main.main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: usage errors (2), --help (0)
        status = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, out + err
    return CliResult(status, out, err)


def _discard_edits(window) -> None:
    window.document.undo_stack.setClean()


def example_window(qtbot, size: tuple[int, int], example: str = "digits_cnn.json"):
    """A shown main window at ``size`` on an example design (no autosave, default layout),
    closed with the test, its edits discarded (else closing asks to save, and waits)."""
    from graph.fileformat import load
    from ui.document import Document
    from ui.main_window import MainWindow

    window = MainWindow(Document(load(EXAMPLES / example)), autosave=False,
                        remember_layout=False)
    qtbot.addWidget(window, before_close_func=_discard_edits)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture(scope="session", autouse=True)
def _release_clipboard_at_exit():
    """Layers copied in a test stay on the offscreen clipboard until the process ends, where
    destroying them crashed the test process at exit: the app empties it as it does on exit."""
    yield
    if "PySide6.QtWidgets" in sys.modules:  # a test used Qt
        from ui.app import release_clipboard

        release_clipboard()
