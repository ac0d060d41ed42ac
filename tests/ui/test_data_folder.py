"""The app-data folder is ``Netwright`` once (not Qt's ``Netwright/Netwright``), and what earlier
versions left in the doubled folder (runs of unsaved designs, autosaves) is still found."""
from __future__ import annotations

import json

from graph.fileformat import dumps
from graph.design import Design
from tests.ui.test_window import isolated  # noqa: F401
from ui.document import Document
from ui.files import APPLICATION, data_dir, find_recoverable, legacy_data_dirs
from ui.training.controller import TrainingController


def _user_data_home(tmp_path, monkeypatch):
    monkeypatch.delenv("NETWRIGHT_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    return tmp_path / "share"


def test_the_data_folder_is_not_doubled(qapp, tmp_path, monkeypatch):
    share = _user_data_home(tmp_path, monkeypatch)
    assert data_dir() == share / APPLICATION
    assert f"{APPLICATION}/{APPLICATION}" not in data_dir().as_posix()
    controller = TrainingController(Document())
    assert controller.runs_dir().parent == share / APPLICATION / "runs"
    assert controller.runs_dir().name.startswith("Untitled-")
    assert controller.runs_dir().relative_to(share).parts.count(APPLICATION) == 1


def test_runs_and_autosaves_in_the_old_doubled_folder_are_still_found(qapp, tmp_path,
                                                                       monkeypatch):
    share = _user_data_home(tmp_path, monkeypatch)
    old = share / APPLICATION / APPLICATION
    run = old / "runs" / "Untitled" / "20260101-120000"
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"status": "completed"}))
    (run / "design.json").write_text(dumps(Design()))
    (old / "autosave-1-abc.json").write_text(dumps(Design("Lost work")))
    assert legacy_data_dirs() == [old]
    controller = TrainingController(Document())
    assert run in controller.listed_runs()
    assert [e.snapshot for e in find_recoverable()] == [old / "autosave-1-abc.json"]
