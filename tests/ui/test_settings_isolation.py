"""The test suite's windows never write the user's real settings or app-data folder (recent
files, window layout, autosaves): tests/conftest.py points both at a temporary folder."""
from __future__ import annotations

import tempfile
from pathlib import Path

from ui.files import app_settings, data_dir


def test_the_suite_never_writes_the_users_settings_or_app_data():
    scratch = Path(tempfile.gettempdir()).resolve()
    assert Path(app_settings().fileName()).resolve().is_relative_to(scratch)
    assert Path(data_dir()).resolve().is_relative_to(scratch)
