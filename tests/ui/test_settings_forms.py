"""One editor for the design's dataset and training settings (the Data and Training panels):
one undo behaviour for every form (an edit gesture is one undo step), labels for people, and
fields that do not apply hidden. The inspector with nothing selected shows the design itself."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from graph.fileformat import load
from tests.conftest import EXAMPLES
from tests.ui.test_window import isolated, make_window, no_leaked_windows  # noqa: F401
from ui.document import Document
from ui.inspector import DesignView, Inspector
from ui.training.workspace import TrainingWorkspace


@pytest.fixture
def workspace(qtbot, tmp_path):
    document = Document(load(EXAMPLES / "digits_cnn.json"))
    ws = TrainingWorkspace(document, runs_root=tmp_path / "runs")
    for widget in (ws.panel, ws.tabs, ws.data_panel):
        qtbot.addWidget(widget)
        widget.show()
    return ws


def _type(qtbot, spin, text: str) -> None:
    spin.setFocus()
    qtbot.keyClick(spin, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(spin, text)
    qtbot.keyClick(spin, Qt.Key.Key_Return)


def test_two_typed_learning_rates_are_two_undo_steps(qtbot, workspace):
    doc = workspace.document
    lr = workspace.panel.forms["Optimizer"].editors["lr"].spin
    _type(qtbot, lr, "0.01")
    _type(qtbot, lr, "0.02")
    assert doc.design.training["lr"] == pytest.approx(0.02)
    assert doc.undo_stack.count() == 2
    doc.undo_stack.undo()
    assert doc.design.training["lr"] == pytest.approx(0.01)


def test_a_spin_box_drag_is_one_undo_step(qtbot, workspace):
    doc = workspace.document
    spin = workspace.panel.forms["Loop"].editors["epochs"].spin
    before = doc.design.training["epochs"]
    for _ in range(5):  # holding the arrow: value changes, no "finished" in between
        spin.stepBy(1)
    assert doc.design.training["epochs"] == before + 5
    assert doc.undo_stack.count() == 1
    spin.editingFinished.emit()  # the gesture ends
    spin.stepBy(1)
    assert doc.undo_stack.count() == 2


def test_split_edits_in_the_data_panel_follow_the_same_rule(qtbot, workspace):
    doc = workspace.document
    spin = workspace.data_panel.split_form.editors["val_fraction"].spin
    _type(qtbot, spin, "0.2")
    _type(qtbot, spin, "0.25")
    assert doc.design.data["val_fraction"] == pytest.approx(0.25)
    assert doc.undo_stack.count() == 2


def test_labels_are_for_people(workspace):
    optimizer = workspace.panel.forms["Optimizer"]
    assert optimizer.labels["lr"].text() == "Learning rate"
    assert optimizer.labels["weight_decay"].text() == "Weight decay"
    assert workspace.data_panel.split_form.labels["val_fraction"].text() == "Validation share"
    texts = [label.text() for form in workspace.panel.forms.values()
             for label in form.labels.values()]
    assert not [t for t in texts if "_" in t]
    assert workspace.document.undo_stack.count() == 0


def test_fields_that_do_not_apply_are_hidden(qtbot, workspace):
    doc = workspace.document
    optimizer = workspace.panel.forms["Optimizer"]
    schedule = workspace.panel.forms["Schedule"]
    assert doc.design.training["optimizer"] == "adam"
    assert not optimizer.shown("momentum") and not optimizer.shown("nesterov")
    assert not optimizer.editors["momentum"].isVisible()
    combo = optimizer.editors["optimizer"].combo
    combo.setCurrentIndex(combo.findData("sgd"))
    combo.activated.emit(combo.currentIndex())
    assert doc.design.training["optimizer"] == "sgd"
    assert optimizer.shown("momentum") and optimizer.editors["momentum"].isVisible()

    assert doc.design.training["schedule"] == "none"
    assert not schedule.shown("step_size") and not schedule.shown("gamma")
    assert schedule.shown("warmup_epochs")
    combo = schedule.editors["schedule"].combo
    combo.setCurrentIndex(combo.findData("step"))
    combo.activated.emit(combo.currentIndex())
    assert schedule.shown("step_size") and schedule.shown("gamma")
    doc.undo_stack.undo()
    assert not schedule.shown("step_size")


def test_nothing_selected_shows_the_design_and_renames_it(qtbot, workspace):
    doc = workspace.document
    inspector = Inspector(doc)
    qtbot.addWidget(inspector)
    inspector.show()
    view = inspector.view
    assert isinstance(view, DesignView)
    assert not hasattr(view, "training_editors")  # one editor: the Training panel's
    asked = []
    inspector.panel_requested.connect(asked.append)
    qtbot.mouseClick(view.panel_buttons["training"], Qt.MouseButton.LeftButton)
    assert asked == ["training"]

    view.name_edit.setFocus()
    qtbot.keyClick(view.name_edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(view.name_edit, "Tiny CNN")
    qtbot.keyClick(view.name_edit, Qt.Key.Key_Return)
    assert doc.design.name == "Tiny CNN"
    assert doc.undo_stack.count() == 1  # typing a name is one step
    assert doc.title.startswith("Tiny CNN")  # an unsaved design is called by its name

    from runtime.codegen import python_source  # the exported code says the new name
    from runtime.compiler import compile_design

    assert "# Design: Tiny CNN" in python_source(doc.design, compile_design(doc.design))
    doc.undo_stack.undo()
    assert doc.design.name == "Digits CNN" and view.name_edit.text() == "Digits CNN"


def test_the_design_view_lists_a_dataset_error_marked_on_the_input(qtbot, workspace):
    from graph.validate import validate

    doc = workspace.document
    inspector = Inspector(doc)
    qtbot.addWidget(inspector)
    view = inspector.view
    report = validate(doc.design, data_error="no file given: set the dataset's path")
    view.update_report(report)
    texts = [view.diagnostics.itemAt(i).widget().text() for i in range(view.diagnostics.count())]
    assert any("the dataset cannot be read" in t for t in texts), texts  # not "No problems"


def test_wording_of_the_data_panel(qtbot, workspace, monkeypatch):
    """No "The Input input takes …", no "Choose the path file"."""
    from PySide6.QtWidgets import QFileDialog

    panel, doc = workspace.data_panel, workspace.document
    combo = panel.dataset_combo
    combo.setCurrentIndex(combo.findData("iris"))
    combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(lambda: panel.shape_warning.text() != "", timeout=30_000)
    name = doc.design.inputs()[0].name
    assert panel.shape_warning.text().startswith(f"The Input layer “{name}” takes samples of")
    assert "Input input" not in panel.shape_warning.text()

    titles = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda _parent, title, *_a, **_k: (titles.append(title), ("", ""))[1])
    combo.setCurrentIndex(combo.findData("csv"))
    combo.activated.emit(combo.currentIndex())
    panel.browse("path")
    assert titles == ["Choose the CSV file"]


def test_renaming_the_design_renames_the_window(make_window, qtbot):
    window = make_window(remember_layout=False)
    view = window.inspector.view
    assert isinstance(view, DesignView)
    view.name_edit.setFocus()
    qtbot.keyClick(view.name_edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(view.name_edit, "Spiral classifier")
    qtbot.keyClick(view.name_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.windowTitle().startswith("Spiral classifier"))


def test_moving_nodes_does_not_validate_again(qtbot):
    """The layout is not the network: a drag or a flow change leaves the report as it is (a
    revalidation per drag was most of what a drag cost while training)."""
    from ui.commands import MoveNodesCommand

    doc = Document(load(EXAMPLES / "digits_cnn.json"))
    doc.revalidate()
    reports = []
    doc.report_changed.connect(reports.append)
    node = doc.design.nodes[1]
    doc.push(MoveNodesCommand(doc.design, {node.id: (node.position, (500.0, 40.0))}))
    doc.design.set_flow("right")
    assert doc.design.node(node.id).position == (500.0, 40.0)
    assert not doc.revalidation_pending
    doc.undo_stack.undo()
    assert not doc.revalidation_pending and reports == []
    doc.design.rename_node(node.id, "renamed")  # what the network is: validated again
    assert doc.revalidation_pending
