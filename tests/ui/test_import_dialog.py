"""File ▸ Import…, Load Weights…, the trainable switch, Freeze All but Head and Replace Head."""
from __future__ import annotations

import shutil
import warnings

import onnx
import pytest
import shiboken6
from onnx import TensorProto, helper

from PySide6.QtWidgets import QApplication

from graph.fileformat import load
from runtime.export import export_model
from tests.conftest import EXAMPLES
from ui.import_dialog import LoadWeightsDialog


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("NETWRIGHT_DATA_DIR", str(tmp_path))
    from ui.main_window import MainWindow

    win = MainWindow(autosave=False, remember_layout=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.document.undo_stack.setClean()
    win.close()


def _onnx(tmp_path):
    design = load(EXAMPLES / "digits_mlp.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return export_model(design, "onnx", tmp_path / "mlp.onnx").path


def test_import_dialog_imports_saves_and_opens(window, qtbot, tmp_path, monkeypatch):
    from ui import import_dialog

    source = _onnx(tmp_path)
    dialog = import_dialog.ImportDialog(window, str(tmp_path))
    opened = []
    dialog.imported.connect(opened.append)
    dialog.source.setText(str(source))
    assert dialog.import_button.isEnabled() and not dialog.trust.isVisibleTo(dialog)
    assert dialog.import_button.isDefault()
    dialog.start_import()
    qtbot.waitUntil(lambda: dialog.open_button.isEnabled(), timeout=30_000)
    assert "Imported 7 nodes, 17,226 parameters" in dialog.status.text()
    assert "Inputs reach the model as the design's data settings prepare them" in dialog.status.text()
    assert dialog.open_button.isDefault() and not dialog.import_button.isDefault()
    target = tmp_path / "imported.json"
    monkeypatch.setattr(import_dialog.QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(target), ""))
    dialog.open_button.click()
    assert opened == [str(target)] and target.with_suffix(".safetensors").is_file()
    assert load(target).initial_weights == "imported.safetensors"


def test_import_dialog_lists_what_cannot_be_mapped(window, qtbot, tmp_path):
    from ui.import_dialog import ImportDialog

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    graph = helper.make_graph([helper.make_node("Erf", ["x"], ["y"], name="/act/Erf")], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              str(tmp_path / "erf.onnx"))
    dialog = ImportDialog(window, str(tmp_path))
    dialog.source.setText(str(tmp_path / "erf.onnx"))
    dialog.start_import()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=30_000)
    assert [dialog.table.item(0, c).text() for c in range(3)] == ["Erf", "1", "/act/Erf"]
    assert not dialog.open_button.isEnabled() and "Cannot import" in dialog.status.text()
    dialog.placeholders.setChecked(True)
    dialog.start_import()
    qtbot.waitUntil(lambda: dialog.open_button.isEnabled(), timeout=30_000)
    assert "1 placeholder to replace" in dialog.status.text()


def test_python_sources_need_trust_before_import(window, tmp_path):
    from ui.import_dialog import ImportDialog

    dialog = ImportDialog(window, str(tmp_path))
    dialog.source.setText(str(tmp_path / "nets.py"))
    assert dialog.trust.isVisibleTo(dialog) and not dialog.import_button.isEnabled()
    assert "runs code" in dialog.warning.text()
    dialog.trust.setChecked(True)
    assert dialog.import_button.isEnabled() and dialog.class_name.isEnabled()


def test_load_weights_shows_the_table_then_applies_as_one_undo_step(window, qtbot, tmp_path,
                                                                     monkeypatch):
    from ui import import_dialog, main_window

    shutil.copy(EXAMPLES / "digits_cnn.json", tmp_path / "cnn.json")
    window.open_path(tmp_path / "cnn.json", ask=False)
    design = window.document.design
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weights = export_model(design, "safetensors", tmp_path / "pre.safetensors").path

    def run(dialog):
        with qtbot.waitSignal(dialog.matched, timeout=30_000):
            dialog.match(str(weights))
        assert dialog.status.text().startswith("Matching") is False
        run.rows = dialog.table.rowCount()
        run.status = dialog.status.text()
        return main_window.QDialog.DialogCode.Accepted

    monkeypatch.setattr(import_dialog.LoadWeightsDialog, "exec", run)
    window.load_weights_dialog()
    assert run.rows == 18 and run.status.startswith("18 matched (18 by name)")
    first = tmp_path / "cnn.safetensors"
    assert design.initial_weights == "cnn.safetensors" and first.is_file()
    assert first.stat().st_mode & 0o044  # a new file's usual permissions, not owner-only
    assert "pre.safetensors" in window.statusBar().currentMessage()  # the file chosen
    # Loading again never writes over the file the design starts from (undo, the saved file)
    before = first.read_bytes()
    window.load_weights_dialog()
    assert design.initial_weights == "cnn-2.safetensors" and (tmp_path / "cnn-2.safetensors").is_file()
    assert first.read_bytes() == before
    window.document.undo_stack.undo()
    assert design.initial_weights == "cnn.safetensors"
    window.document.undo_stack.undo()
    assert design.initial_weights == ""


def test_freeze_replace_head_and_the_trainable_switch(window, qtbot, monkeypatch):
    monkeypatch.setattr(window, "maybe_save", lambda *_a: True)  # nothing to ask when it closes
    window.open_path(EXAMPLES / "digits_cnn.json", ask=False)
    design = window.document.design
    window.freeze_all_but_head()
    frozen = {n.name for n in design.nodes if not n.trainable}
    assert "conv1" in frozen and "fc2" not in frozen
    assert "only fc2 trains" in window.statusBar().currentMessage()  # says what it did
    conv1 = design.node_by_name("conv1")
    window.inspector.show_nodes([conv1.id])
    box = window.inspector.view.trainable_box
    assert not box.isChecked()
    box.setChecked(True)
    assert conv1.trainable
    window.document.undo_stack.undo()
    assert not conv1.trainable and not box.isChecked()
    window.document.undo_stack.undo()
    assert all(n.trainable for n in design.nodes)
    design.set_data(dict(design.data, name="digits_parity"))
    window.replace_head()
    assert design.node_by_name("fc2").params["out_features"] == 2


def test_import_dialog_makes_submodules_blocks_unless_kept_flat(window, qtbot, tmp_path):
    import torch

    from tests.runtime.test_import_hierarchy import Twin
    from ui.import_dialog import ImportDialog

    path = tmp_path / "twin.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Twin().eval(), (torch.randn(2, 6),), str(path), dynamo=False,
                          input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    dialog = ImportDialog(window, str(tmp_path))
    dialog.source.setText(str(path))
    assert not dialog.flat.isChecked()  # hierarchical is the default
    dialog.start_import()
    qtbot.waitUntil(lambda: dialog.open_button.isEnabled(), timeout=30_000)
    assert "(1 block for its submodules)" in dialog.status.text()
    assert [n.name for n in dialog.result_obj.design.nodes if n.is_block] == ["a", "b"]
    dialog.flat.setChecked(True)
    dialog.open_button.setEnabled(False)
    dialog.start_import()
    qtbot.waitUntil(lambda: dialog.open_button.isEnabled(), timeout=30_000)
    assert "blocks" not in dialog.status.text() and not len(dialog.result_obj.design.blocks)


def test_closing_load_weights_with_the_path_field_focused_is_quiet(qtbot, tmp_path):
    design_file = tmp_path / "d.json"
    shutil.copy(EXAMPLES / "digits_cnn.json", design_file)
    dialog = LoadWeightsDialog(load(design_file), design_file)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    dialog.source.setFocus()
    dialog.source.setText(str(tmp_path / "missing.safetensors"))
    qtbot.waitUntil(dialog.source.hasFocus)
    shiboken6.delete(dialog)  # as Python does to a parentless dialog when it is collected
    QApplication.processEvents()


def test_load_weights_matches_off_the_gui_thread(qtbot, tmp_path, monkeypatch):
    """Reading the file and building the model with real weights happen in the background."""
    import threading

    from runtime import weights as runtime_weights

    threads = []
    real = runtime_weights.preview_weights

    def spy(*args):
        threads.append(threading.current_thread())
        return real(*args)

    monkeypatch.setattr(runtime_weights, "preview_weights", spy)
    design_file = tmp_path / "d.json"
    shutil.copy(EXAMPLES / "digits_cnn.json", design_file)
    design = load(design_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = export_model(design, "safetensors", tmp_path / "pre.safetensors").path
    dialog = LoadWeightsDialog(design, design_file)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.matched, timeout=30_000):
        dialog.match(str(source))
        assert dialog.status.text().startswith("Matching") and not dialog.apply_button.isEnabled()
    assert threads and threads[0] is not threading.main_thread()
    assert dialog.apply_button.isEnabled() and dialog.table.rowCount() == 18


def test_a_whole_pickled_model_is_a_wrapped_message_and_clears_the_table(qtbot, tmp_path):
    """torch.save(model) files are refused with one sentence; the dialog keeps its width (its
    buttons stay on the screen) and no longer shows the previous file's table."""
    import torch

    design_file = tmp_path / "d.json"
    shutil.copy(EXAMPLES / "digits_cnn.json", design_file)
    design = load(design_file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        good = export_model(design, "safetensors", tmp_path / "pre.safetensors").path
    whole = tmp_path / ("a_model_with_a_long_file_name_" * 6 + ".pt")
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 3)), whole)
    dialog = LoadWeightsDialog(design, design_file)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    width = dialog.width()
    with qtbot.waitSignal(dialog.matched, timeout=30_000):
        dialog.match(str(good))
    assert dialog.table.rowCount() == 18
    with qtbot.waitSignal(dialog.matched, timeout=30_000):
        dialog.match(str(whole))
    QApplication.processEvents()
    text = dialog.status.text()
    assert "holds a whole pickled model" in text and "state_dict()" in text and "\x1b" not in text
    assert dialog.table.rowCount() == 0 and not dialog.apply_button.isEnabled()
    assert dialog.width() == width
    right = dialog.apply_button.mapTo(dialog, dialog.apply_button.rect().bottomRight())
    assert dialog.rect().contains(right)


def _import_dialog(qtbot, tmp_path):
    from ui.import_dialog import ImportDialog

    dialog = ImportDialog(None, str(tmp_path))
    qtbot.addWidget(dialog)
    return dialog


def test_a_python_file_without_a_class_asks_for_the_class(qtbot, tmp_path):
    (tmp_path / "nets.py").write_text("raise SystemExit('must not run')\n")
    dialog = _import_dialog(qtbot, tmp_path)
    dialog.source.setText(str(tmp_path / "nets.py"))
    dialog.trust.setChecked(True)
    dialog.start_import()
    assert dialog.status.text() == ("Import failed: nets.py: name the nn.Module class to import "
                                    "(Class field, or nets.py:ClassName)")


@pytest.mark.parametrize("field, label", [("args", "Arguments"), ("shape", "Input shape")])
def test_a_json_error_names_its_field(qtbot, tmp_path, field, label):
    dialog = _import_dialog(qtbot, tmp_path)
    dialog.source.setText(str(tmp_path / "nets.py"))
    dialog.class_name.setText("Net")
    getattr(dialog, field).setText("[1,")
    dialog.start_import()
    assert dialog.status.text().startswith(f"Import failed: {label} must be JSON, such as")


def test_another_source_clears_the_message_and_the_trust(qtbot, tmp_path):
    dialog = _import_dialog(qtbot, tmp_path)
    dialog.source.setText(str(tmp_path / "a.py"))
    dialog.trust.setChecked(True)
    dialog.start_import()
    assert dialog.status.text().startswith("Import failed")
    dialog.source.setText(str(tmp_path / "a.py:Net"))  # the same file, its class added
    assert dialog.status.text() == "" and dialog.trust.isChecked()
    dialog.source.setText(str(tmp_path / "b.py"))
    assert not dialog.trust.isChecked() and not dialog.import_button.isEnabled()


def test_file_colon_class_goes_into_the_class_field(qtbot, tmp_path):
    dialog = _import_dialog(qtbot, tmp_path)
    dialog.class_name.setText("Other")
    dialog.source.setText(str(tmp_path / "nets.py:DigitCNN"))
    assert dialog.spec() == f"{tmp_path / 'nets.py'}:DigitCNN"  # the Source's class wins
    dialog.source.editingFinished.emit()
    assert dialog.source.text() == str(tmp_path / "nets.py")
    assert dialog.class_name.text() == "DigitCNN"


@pytest.mark.parametrize("source, python", [("m.onnx", False), ("m.pt2", False), ("nets.py", True),
                                            ("nets.py:Net", True)])
def test_the_class_fields_apply_to_python_files_only(qtbot, tmp_path, source, python):
    dialog = _import_dialog(qtbot, tmp_path)
    dialog.source.setText(str(tmp_path / source))
    for field in (dialog.class_name, dialog.args, dialog.shape):
        assert field.isEnabled() == python
        assert ("only for a Python file" in field.placeholderText()) != python


def test_freezing_one_layer_says_layer(window, tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(window, "maybe_save", lambda *_a: True)
    design = json.loads((EXAMPLES / "iris_mlp.json").read_text())  # input, hidden, relu, species
    design["nodes"] = [n for n in design["nodes"] if n["id"] != "n3"]
    design["edges"] = [{"src": "n1", "src_port": "out", "dst": "n2", "dst_port": "in"},
                       {"src": "n2", "src_port": "out", "dst": "n4", "dst_port": "in"},
                       {"src": "n4", "src_port": "out", "dst": "n5", "dst_port": "in"}]
    (tmp_path / "three.json").write_text(json.dumps(design))
    window.open_path(tmp_path / "three.json", ask=False)
    window.freeze_all_but_head()
    assert window.statusBar().currentMessage().startswith("Froze 1 layer: only species trains")


def test_the_dialog_imports_a_users_class_with_two_inputs(window, qtbot, tmp_path):
    """A Siamese network from a user's file: the Input shape field takes one shape per input."""
    from tests.runtime.test_user_models import USER_MODELS
    from ui.import_dialog import ImportDialog

    dialog = ImportDialog(window, str(tmp_path))
    dialog.source.setText(f"{USER_MODELS / 'misc.py'}:SiameseNet")
    dialog.trust.setChecked(True)
    dialog.shape.setText("[[1, 8, 8], [1, 8, 8]]")
    dialog.start_import()
    qtbot.waitUntil(lambda: dialog.open_button.isEnabled(), timeout=120_000)
    assert dialog.status.text().startswith("Imported 8 nodes (1 block for its submodules)")
    assert "outputs match the source on random inputs (max difference 0)" in dialog.status.text()
    assert [n.name for n in dialog.result_obj.design.inputs()] == ["input1", "input2"]
