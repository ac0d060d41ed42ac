"""Runs belong to the design: after Save As they are still listed (moved from the app-data
folder of an untitled design, copied from a saved one), and the status bar says so; an
unreadable dataset is an error on the Input and Train refuses; a design too large for the
machine is refused with the estimate."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.design import Design
from graph.summary import MemoryBudget
from tests.conftest import EXAMPLES
from tests.ui.test_window import isolated, make_window, no_leaked_windows  # noqa: F401
from runtime import preflight


def fake_run(folder: Path, name: str) -> Path:
    run = folder / name
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"status": "completed", "epochs_completed": 1}))
    return run


def test_save_as_moves_an_untitled_designs_runs_and_says_so(qtbot, make_window, isolated, tmp_path):
    window = make_window()
    window._open(EXAMPLES / "iris_mlp.json")  # an example opens untitled: runs in app data
    controller = window.training.controller
    old = controller.runs_dir()
    assert isolated in old.parents
    fake_run(old, "20260101-120000")
    assert len(controller.listed_runs()) == 1

    assert window._save_to(tmp_path / "mine.json")
    runs = controller.listed_runs()
    assert [r.name for r in runs] == ["20260101-120000"]
    assert runs[0].parent == tmp_path / "runs" / "mine"
    assert not (old / "20260101-120000").exists()  # moved, not copied
    assert "Moved 1 run to" in window.statusBar().currentMessage()

    assert window._save_to(tmp_path / "copy.json")  # a saved design: the old file keeps its runs
    assert [r.parent for r in controller.listed_runs()] == [tmp_path / "runs" / "copy"]
    assert (tmp_path / "runs" / "mine" / "20260101-120000").is_dir()
    assert "Copied 1 run to" in window.statusBar().currentMessage()


def test_renaming_an_unsaved_design_keeps_its_runs_through_save_as(qtbot, make_window, isolated,
                                                                   tmp_path):
    window = make_window()
    window.document.replace(Design("ResNet-18"))  # as New from Template does
    controller = window.training.controller
    fake_run(controller.runs_dir(), "20260101-120000")
    window.document.design.set_info("My net", "")  # the inspector's rename
    assert [r.name for r in controller.listed_runs()] == ["20260101-120000"]

    assert window._save_to(tmp_path / "my_net.json")
    assert [r.parent for r in controller.listed_runs()] == [tmp_path / "runs" / "my_net"]
    assert "Moved 1 run to" in window.statusBar().currentMessage()


def test_two_unsaved_designs_of_the_same_name_do_not_share_runs(qtbot, make_window, isolated,
                                                                tmp_path):
    window = make_window()
    window.document.replace(Design("ResNet-18"))
    controller = window.training.controller
    first = fake_run(controller.runs_dir(), "20260101-120000")
    window.document.replace(Design("ResNet-18"))  # a second New from Template → ResNet
    assert controller.listed_runs() == []
    assert window._save_to(tmp_path / "second.json")
    assert " run" not in window.statusBar().currentMessage()
    assert first.is_dir()  # the first design's run stays with it


def test_save_to_the_same_file_moves_nothing(qtbot, make_window, isolated, tmp_path):
    window = make_window()
    assert window._save_to(tmp_path / "mine.json")
    fake_run(window.training.controller.runs_dir(), "a")
    assert window._save_to(tmp_path / "mine.json")
    assert " run" not in window.statusBar().currentMessage()


def test_runs_of_a_design_named_dot_dot_stay_inside_the_runs_folder(qtbot, make_window, isolated):
    window = make_window()
    window.document.design.name = ".."
    runs_dir = window.training.controller.runs_dir()
    assert runs_dir.parent == isolated / "runs" and runs_dir.name not in ("..", ".")


def test_an_unreadable_dataset_marks_the_input_and_train_is_refused(qtbot, make_window, isolated):
    window = make_window(EXAMPLES / "iris_mlp.json")
    document = window.document
    document.set_data_facts(error="table.csv: no such file")
    [error] = [d for d in document.report.errors if d.code == "data-file"]
    assert error.node == document.design.inputs()[0].id
    with pytest.raises(ValueError, match="the dataset cannot be read"):
        window.training.controller.train()


def test_the_app_refuses_a_design_too_large_for_the_machine(qtbot, make_window, isolated,
                                                             monkeypatch):
    window = make_window(EXAMPLES / "iris_mlp.json")
    monkeypatch.setattr(preflight, "memory_budget", lambda setting: MemoryBudget("RAM", 1000))
    with pytest.raises(ValueError, match="cannot train .*training needs about .* of RAM"):
        window.training.controller.train()


def test_the_csv_choices_are_in_the_data_panel_stored_and_undoable(qtbot, make_window, isolated,
                                                                    tmp_path):
    import sklearn

    window = make_window(EXAMPLES / "iris_mlp.json")
    panel, document = window.training.data_panel, window.document
    wine = Path(sklearn.__file__).parent / "datasets" / "data" / "wine_data.csv"
    panel.set_path_option("path", str(wine))  # as Browse… does
    document.design.set_data(dict(document.design.data, name="csv",
                                  options=dict(document.design.data["options"])))
    panel.refresh()
    assert set(panel.options_form.editors) >= {"header", "skip_rows", "delimiter", "missing",
                                               "task", "target", "features"}
    panel._edit_option("missing", "drop")
    document.edits.seal()
    assert document.design.data["options"]["missing"] == "drop"
    document.undo_stack.undo()
    assert document.design.data["options"].get("missing", "error") == "error"
    panel.refresh_preview()
    qtbot.waitUntil(lambda: not panel.reading, timeout=60_000)
    assert "178 samples" in panel.summary.text() and "preamble" in panel.summary.text()
