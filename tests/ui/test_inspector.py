"""The inspector: editors generated from the catalog, undoable edits that merge per gesture, the
model driving the view, renames, and the design's dataset and training settings."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from graph.fileformat import load
from tests.conftest import EXAMPLES
from tests.ui.test_window import isolated, no_leaked_windows  # noqa: F401 (fixtures)
from ui.commands import SetParamCommand, SetSettingsCommand
from ui.document import Document
from ui.inspector import DesignView, Inspector, NodeView
from ui.widgets.params import (
    BoolEditor,
    ChoiceEditor,
    FloatEditor,
    IntEditor,
    IntsEditor,
    SizeEditor,
    StrEditor,
    make_editor,
)


@pytest.fixture
def document() -> Document:
    return Document(load(EXAMPLES / "digits_cnn.json"))


@pytest.fixture
def inspector(qtbot, document):
    widget = Inspector(document)
    qtbot.addWidget(widget)
    widget.resize(360, 900)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def node_id(document: Document, name: str) -> str:
    return document.design.node_by_name(name).id


def select_all_and_type(qtbot, widget, text: str) -> None:
    widget.setFocus()
    qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(widget, text)


def test_editors_follow_the_param_declarations(inspector, document):
    inspector.show_nodes([node_id(document, "conv1")])
    view = inspector.view
    assert isinstance(view, NodeView)
    kinds = {name: type(editor) for name, editor in view.editors.items()}
    assert kinds == {"out_channels": IntEditor, "kernel_size": SizeEditor, "stride": SizeEditor,
                     "padding": SizeEditor, "padding_sides": IntsEditor,
                     "same_padding": BoolEditor, "padding_mode": ChoiceEditor,
                     "dilation": SizeEditor, "groups": IntEditor, "bias": BoolEditor}
    spin = view.editors["out_channels"].spin
    param = document.design.node(node_id(document, "conv1")).layer.param("out_channels")
    assert (spin.minimum(), spin.maximum()) == (param.min, param.max)
    assert spin.toolTip() == param.doc
    assert "Conv2d" in inspector.findChild(QLabel, "inspectorTitle").text()

    inspector.show_nodes([node_id(document, "image")])
    assert isinstance(inspector.view.editors["shape"], IntsEditor)
    assert isinstance(inspector.view.editors["dtype"], ChoiceEditor)
    inspector.show_nodes([node_id(document, "dropout")])
    assert isinstance(inspector.view.editors["p"], FloatEditor)


def test_typed_value_updates_model_in_one_undo_step(inspector, document, qtbot):
    nid = node_id(document, "conv1")
    inspector.show_nodes([nid])
    spin = inspector.view.editors["out_channels"].spin
    stack = document.undo_stack

    select_all_and_type(qtbot, spin, "32")  # "3", then "32": two changes, one gesture
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert document.design.node(nid).params["out_channels"] == 32
    assert stack.count() == 1

    qtbot.keyClick(spin, Qt.Key.Key_Up)  # a new gesture: arrow steps merge with each other
    qtbot.keyClick(spin, Qt.Key.Key_Up)
    assert document.design.node(nid).params["out_channels"] == 34
    assert stack.count() == 2

    stack.undo()
    assert document.design.node(nid).params["out_channels"] == 32
    assert spin.value() == 32  # the model drives the editor
    stack.undo()
    assert document.design.node(nid).params.get("out_channels", 16) == 16
    assert spin.value() == 16
    assert stack.count() == 2  # syncing the editor pushed nothing


def test_model_change_updates_inspector_without_feedback(inspector, document, qtbot):
    nid = node_id(document, "dropout")
    inspector.show_nodes([nid])
    editor = inspector.view.editors["p"]
    with qtbot.waitSignal(document.report_changed):  # revalidation re-shows shapes and params
        document.push(SetParamCommand(document.design, nid, "p", 0.35))
        assert editor.value() == pytest.approx(0.35)
        assert document.undo_stack.count() == 1
    assert document.undo_stack.count() == 1


def test_report_shows_shapes_params_and_diagnostics(inspector, document, qtbot):
    nid = node_id(document, "conv1")
    inspector.show_nodes([nid])
    facts = [label.text() for label in inspector.view.findChildren(QLabel, "fact")]
    assert facts[:3] == ["1×8×8", "16×8×8", "160"]
    document.push(SetParamCommand(document.design, nid, "kernel_size", 11))
    qtbot.waitUntil(lambda: bool(document.report.for_node(nid)))
    labels = inspector.view.findChildren(QLabel, "diagError")
    assert labels and "too small for kernel" in labels[0].text()
    assert not inspector.view.editors["kernel_size"].single.property("invalid")  # a shape error
    document.undo_stack.undo()
    qtbot.waitUntil(lambda: not inspector.view.findChildren(QLabel, "diagError"))

    # A value outside the declared range (as a hand-edited file may hold) is flagged on its editor.
    document.push(SetParamCommand(document.design, nid, "out_channels", 0))
    spin = inspector.view.editors["out_channels"].spin
    qtbot.waitUntil(lambda: spin.property("invalid") is True)
    assert "out_channels must be at least 1" in spin.toolTip()


def test_size_editor_per_axis_and_ints_editor_checks_text(inspector, document, qtbot):
    conv = node_id(document, "conv1")
    inspector.show_nodes([conv])
    size = inspector.view.editors["kernel_size"]
    qtbot.mouseClick(size.toggle, Qt.MouseButton.LeftButton)
    assert document.design.node(conv).params["kernel_size"] == [3, 3]
    select_all_and_type(qtbot, size.per_axis[1], "5")
    qtbot.keyClick(size.per_axis[1], Qt.Key.Key_Return)
    assert document.design.node(conv).params["kernel_size"] == [3, 5]
    document.undo_stack.undo()
    assert size.value() == [3, 3]

    image = node_id(document, "image")
    inspector.show_nodes([image])
    editor = inspector.view.editors["shape"]
    assert isinstance(editor, IntsEditor) and editor.line.text() == "1, 8, 8"
    stack = document.undo_stack
    index = stack.index()
    select_all_and_type(qtbot, editor.line, "1, 8, a")
    assert editor.line.property("invalid") is True and "'a' is not a whole number" in editor.line.toolTip()
    assert document.design.node(image).params["shape"] == [1, 8]  # the last valid text
    select_all_and_type(qtbot, editor.line, "1 × 16 × 16")
    qtbot.keyClick(editor.line, Qt.Key.Key_Return)
    assert document.design.node(image).params["shape"] == [1, 16, 16]
    assert editor.line.text() == "1, 16, 16" and editor.line.property("invalid") is False
    assert stack.index() == index + 1  # the whole gesture is one undo step
    stack.undo()
    assert editor.line.text() == "1, 8, 8"


def test_rename_is_undoable_and_duplicates_are_refused(inspector, document, qtbot):
    nid = node_id(document, "conv1")
    inspector.show_nodes([nid])
    view = inspector.view
    select_all_and_type(qtbot, view.name_edit, "stem")
    qtbot.keyClick(view.name_edit, Qt.Key.Key_Return)
    assert document.design.node(nid).name == "stem"
    assert document.undo_stack.count() == 1 and document.undo_stack.undoText() == "Rename to stem"

    select_all_and_type(qtbot, view.name_edit, "bn1")
    assert view.name_feedback.isVisible() and "already" in view.name_feedback.text()
    qtbot.keyClick(view.name_edit, Qt.Key.Key_Return)
    assert document.design.node(nid).name == "stem"
    assert view.name_edit.text() == "stem"
    assert "Kept “stem”" in view.name_feedback.text()
    assert document.undo_stack.count() == 1

    document.undo_stack.undo()
    assert document.design.node(nid).name == "conv1"
    assert view.name_edit.text() == "conv1"


def test_nothing_selected_shows_the_design_and_its_settings_summary(inspector, document):
    view = inspector.view
    assert isinstance(view, DesignView)
    assert view.name_edit.text() == "Digits CNN"
    assert "Dataset: Digits" in view.summary.text()
    training = dict(document.design.training, epochs=42)
    document.push(SetSettingsCommand(document.design, "training", training))
    assert "epochs 42" in view.summary.text()  # the view follows settings edited elsewhere
    assert document.undo_stack.count() == 1


def test_design_view_follows_a_new_design_with_nothing_selected(inspector, document, qtbot):
    """New / Open / an example while no layer is selected: the name shown and edited is the
    new design's, not the old one's."""
    old = inspector.view
    document.replace(load(EXAMPLES / "digits_mlp.json"))
    view = inspector.view
    assert view is not old and old.detached and isinstance(view, DesignView)
    assert view.name_edit.text() == document.design.name
    old.name_edit.setText("late edit")
    old.name_edit.textEdited.emit("late edit")  # a late signal of the old view edits nothing
    assert document.undo_stack.count() == 0
    view.description_edit.setPlainText("Digits as 64 features")
    assert document.design.description == "Digits as 64 features"
    assert document.undo_stack.count() == 1


def test_several_selected_shows_a_list_and_removal_follows(inspector, document):
    ids = [node_id(document, "conv1"), node_id(document, "conv2")]
    inspector.show_nodes(ids)
    title = inspector.view.findChild(QLabel, "inspectorTitle")
    assert title.text() == "2 layers selected"
    document.design.remove_node(ids[1])
    assert inspector.node_ids == [ids[0]] and isinstance(inspector.view, NodeView)


def test_float_and_str_editors(qtbot):
    from graph.catalog import Param

    lr = make_editor(Param("lr", "float", 1e-3, "Learning rate.", min=1e-8, max=10.0))
    metrics = make_editor(Param("metrics", "str", "accuracy", "Metrics."))
    assert isinstance(lr, FloatEditor) and isinstance(metrics, StrEditor)
    for widget in (lr, metrics):
        qtbot.addWidget(widget)
    spin = lr.spin
    assert spin.text() == "0.001"
    spin.stepBy(1)
    assert spin.value() == pytest.approx(0.002)
    spin.setValue(0.001)
    spin.stepBy(-1)
    assert spin.value() == pytest.approx(0.0009)  # steps shrink near a power of ten
    seen = []
    metrics.edited.connect(seen.append)
    qtbot.keyClicks(metrics.line, ",f1")
    assert seen[-1] == "accuracy,f1"


def test_late_focus_out_of_a_replaced_view_edits_nothing(inspector, document, qtbot):
    nid = node_id(document, "conv1")
    inspector.show_nodes([nid])
    old = inspector.view
    select_all_and_type(qtbot, old.name_edit, "renamed")  # typing, not finished yet
    document.replace(load(EXAMPLES / "digits_cnn.json"))  # Open: same node ids, new design
    assert inspector.view is not old and old.detached
    old.name_edit.editingFinished.emit()  # the focus-out that arrives while it is torn down
    assert document.design.node(nid).name == "conv1"
    assert document.undo_stack.count() == 0


def test_the_trainable_switch_shows_only_on_layers_with_weights(inspector, document):
    """Freezing means nothing for ReLU, Flatten or pooling: the catalog's declaration (does the
    type count parameters?) decides, so BatchNorm keeps it even without affine weights."""
    from graph.catalog import CATALOG

    shown = {}
    for name in ("conv1", "bn1", "relu1", "pool1", "flatten", "dropout", "fc1", "image"):
        inspector.show_nodes([node_id(document, name)])
        shown[name] = inspector.view.trainable_box.isVisibleTo(inspector.view)
    assert shown == {"conv1": True, "bn1": True, "relu1": False, "pool1": False,
                     "flatten": False, "dropout": False, "fc1": True, "image": False}
    assert not CATALOG.get("GELU").has_weights and CATALOG.get("PReLU").has_weights
