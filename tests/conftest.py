"""Shared test set-up: Qt runs offscreen; the project root is importable; the app's settings
(recent files, window layout) and app-data folder are a temporary one, never the user's."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_ISOLATED = Path(tempfile.mkdtemp(prefix="netwright-tests-"))
os.environ["XDG_CONFIG_HOME"] = str(_ISOLATED / "config")  # QSettings' user scope on Linux
os.environ["NETWRIGHT_DATA_DIR"] = str(_ISOLATED / "data")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EXAMPLES = ROOT / "resources" / "examples"


@pytest.fixture(scope="session", autouse=True)
def _release_clipboard_at_exit():
    """Layers copied in a test stay on the offscreen clipboard until the process ends, where
    destroying them crashed the test process at exit: the app empties it as it does on exit."""
    yield
    if "PySide6.QtWidgets" in sys.modules:  # a test used Qt
        from ui.app import release_clipboard

        release_clipboard()
