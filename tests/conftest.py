"""Shared test set-up: Qt runs offscreen; the project root is importable; the app's settings
(recent files, window layout) and app-data folder are a temporary one, never the user's."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
_ISOLATED = Path(tempfile.mkdtemp(prefix="netwright-tests-"))
os.environ["XDG_CONFIG_HOME"] = str(_ISOLATED / "config")  # QSettings' user scope on Linux
os.environ["NETWRIGHT_DATA_DIR"] = str(_ISOLATED / "data")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EXAMPLES = ROOT / "resources" / "examples"
