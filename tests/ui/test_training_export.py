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
    assert "5 of 5" in dialog.status.text()


def test_a_failed_export_says_why(qtbot, trained, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the folder should be")
    dialog = _dialog(qtbot, trained, blocker)
    dialog.source_combo.setCurrentIndex(dialog.source_combo.count() - 1)  # fresh weights
    assert not dialog.checkpoint_combo.isEnabled()
    with qtbot.waitSignal(dialog.finished_all, timeout=120_000) as done:
        dialog.export_button.click()
    assert all(isinstance(r, str) for _f, r in done.args[0])
    assert dialog.table.item(0, 3).text().startswith("failed:")
    assert "0 of 2" in dialog.status.text()
