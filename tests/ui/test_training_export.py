"""The export dialog: every format of runtime.export, each verified, off the GUI thread."""
from __future__ import annotations

import subprocess
import sys

import pytest

from graph.fileformat import load
from runtime.analysis import list_runs
from tests.conftest import EXAMPLES, ROOT
from ui.training.export_dialog import ExportDialog

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    subprocess.run([sys.executable, str(ROOT / "main.py"), "train", str(EXAMPLES / "iris_mlp.json"),
                    "--epochs", "2", "--run-dir", str(runs / "iris-run"), "--json"],
                   check=True, capture_output=True, timeout=300)
    return runs


def _dialog(qtbot, trained, folder):
    design = load(EXAMPLES / "iris_mlp.json")
    dialog = ExportDialog(design, list_runs(trained), folder=folder)
    qtbot.addWidget(dialog)
    return dialog


def test_every_format_is_written_and_verified(qtbot, trained, tmp_path):
    dialog = _dialog(qtbot, trained, tmp_path)
    assert dialog.source_combo.currentData().endswith("iris-run")
    for box in dialog.format_boxes.values():
        box.setChecked(True)
    with qtbot.waitSignal(dialog.finished_all, timeout=240_000) as done:
        dialog.export_button.click()
    results = dict(done.args[0])
    assert set(results) == {"python", "safetensors", "torchscript", "onnx", "pt2"}
    for fmt, result in results.items():
        assert not isinstance(result, str), (fmt, result)
        assert result.max_diff <= 1e-4 and result.path.exists()
    assert [dialog.table.item(r, 3).text() for r in range(5)] == ["verified"] * 5
    assert dialog.status.text() == "All 5 exports were written and verified."


def test_a_failed_export_says_why(qtbot, trained, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the folder should be")
    dialog = _dialog(qtbot, trained, blocker)
    dialog.source_combo.setCurrentIndex(dialog.source_combo.count() - 1)  # fresh weights
    assert not dialog.checkpoint_combo.isEnabled()
    with qtbot.waitSignal(dialog.finished_all, timeout=120_000) as done:
        dialog.export_button.click()
    assert all(isinstance(r, str) for _f, r in done.args[0])
    reason = done.args[0][0][1]
    assert dialog.table.item(0, 3).text() == "failed"  # a short cell; the reason beside it
    assert dialog.table.item(0, 3).toolTip() == reason
    assert "0 of 2" in dialog.status.text() and f"failed: {reason}" in dialog.status.text()


def test_file_column_shows_the_names_whole_paths_in_the_tooltip(qtbot, tmp_path):
    """Long folders never hide which files a format wrote: the File column stretches and
    shows the files by name (the folder is above the table), the whole paths as tooltip; a
    failure's long reason stays out of the columns."""
    from types import SimpleNamespace

    from graph.design import Design

    folder = tmp_path / ("a_rather_long_folder_name_" * 4) / "exports"
    dialog = ExportDialog(Design("x"), [], folder=folder)
    qtbot.addWidget(dialog)
    dialog.show()
    files = (folder / "digits_cnn.py", folder / "digits_cnn.safetensors")
    dialog._queue = [("onnx", folder / "digits_cnn.onnx")]
    dialog.table.insertRow(0)
    dialog._set_row(0, "python", [files[0]], "…", "exporting", "")
    dialog._done(0, "python", SimpleNamespace(files=files, max_diff=1e-7, batch=8))
    dialog._done(1, "onnx", "the exporter could not write a very long reason " * 5)
    item = dialog.table.item(0, 1)
    assert item.text() == "digits_cnn.py + digits_cnn.safetensors"
    assert item.toolTip().splitlines() == [str(f) for f in files]
    header = dialog.table.horizontalHeader()
    assert header.sectionResizeMode(1) == header.ResizeMode.Stretch
    assert header.sectionSize(1) >= header.fontMetrics().horizontalAdvance(item.text())
    assert dialog.table.item(1, 1).text() == "digits_cnn.onnx"
    assert dialog.table.item(1, 3).text() == "failed"


def test_a_folder_typed_in_is_made(qtbot, trained, tmp_path):
    folder = tmp_path / "not" / "there" / "yet"
    dialog = _dialog(qtbot, trained, folder)
    for fmt, box in dialog.format_boxes.items():
        box.setChecked(fmt == "safetensors")
    with qtbot.waitSignal(dialog.finished_all, timeout=120_000) as done:
        dialog.export_button.click()
    [(_fmt, result)] = done.args[0]
    assert not isinstance(result, str), result
    assert result.path.parent == folder and result.path.exists()
