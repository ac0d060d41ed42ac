"""A block grouped by hand gets arguments in the editor: Block Arguments… (add, rename, default,
remove — each one undo step, the table following the model), Make block argument… from an inner
param's context menu, and instances that show and set the new argument (the first copy too)."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QContextMenuEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMenu

from graph.design import Design, Edge
from graph.fileformat import dumps, loads
from tests.conftest import example_window
from ui.block_args_dialog import BlockArgsDialog, MakeArgumentDialog
from ui.inspector import BlockPage, NodeView

NAME, DEFAULT, USED_BY = range(3)


def residual() -> Design:
    """x (16×8×8) → [proj 1×1 conv ‖ conv → relu] → add → flatten → fc(10) → y, on digits-like
    images: the part in brackets is what the user groups."""
    design = Design("residual")
    design.set_data(dict(design.data, name="digits", options={}))
    nodes = {}
    for type_id, name, params, pos in (
            ("Input", "x", {"shape": [1, 8, 8]}, (0, 0)),
            ("Conv2d", "stem", {"out_channels": 16}, (0, 110)),
            ("Conv2d", "proj", {"out_channels": 16, "kernel_size": 1, "padding": 0}, (-120, 220)),
            ("Conv2d", "conv", {"out_channels": 16}, (120, 220)),
            ("ReLU", "relu", {}, (120, 330)),
            ("Add", "add", {}, (0, 440)),
            ("Flatten", "flat", {}, (0, 550)),
            ("Linear", "fc", {"out_features": 10}, (0, 660)),
            ("Output", "y", {}, (0, 770))):
        nodes[name] = design.add_node(design.make_node(type_id, name=name, params=params,
                                                       position=pos)).id
    for src, dst in (("x", "stem"), ("stem", "proj"), ("stem", "conv"), ("conv", "relu"),
                     ("proj", "add"), ("relu", "add"), ("add", "flat"), ("flat", "fc"),
                     ("fc", "y")):
        design.add_edge(Edge(nodes[src], nodes[dst]))
    return design


@pytest.fixture
def window(qtbot):
    window = example_window(qtbot, (1152, 720))
    window.document.replace(residual())
    window.document.revalidate()
    return window


def group(window) -> tuple[str, object]:
    """Group proj, conv, relu and add by Ctrl+G's action; returns the instance id and block."""
    canvas, design = window.canvas, window.document.design
    canvas.select_nodes([design.node_by_name(n).id for n in ("proj", "conv", "relu", "add")])
    canvas.action("group").trigger()
    (instance,) = canvas.selected_node_ids()
    return instance, design.blocks[design.node(instance).type]


def test_block_arguments_dialog_adds_renames_sets_defaults_and_removes(window, qtbot):
    instance, block = group(window)
    stack = window.document.undo_stack
    window.canvas.select_nodes([instance])
    assert window.canvas.action("block_args").isEnabled()
    dialog = BlockArgsDialog(window.document, block.name, window)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.table.rowCount() == 0 and "no arguments yet" in dialog.feedback.text()
    assert not dialog.add_button.isEnabled()
    qtbot.keyClicks(dialog.new_name, "repeat")  # taken by the block's own knob: said at once
    assert not dialog.add_button.isEnabled() and "other than repeat" in dialog.feedback.text()
    dialog.new_name.clear()
    qtbot.keyClicks(dialog.new_name, "channels")
    dialog.new_default.setValue(16)
    steps = stack.count()
    qtbot.mouseClick(dialog.add_button, Qt.MouseButton.LeftButton)
    assert block.args == {"channels": 16} and stack.count() == steps + 1
    assert dialog.table.item(0, NAME).text() == "channels"
    assert dialog.table.item(0, USED_BY).text() == "nothing yet"
    body = block.body
    conv, proj = body.node_by_name("conv"), body.node_by_name("proj")
    for node in (conv, proj):
        body.set_param(node.id, "out_channels", "channels")
    assert dialog.table.item(0, USED_BY).text() == "proj.out_channels, conv.out_channels"
    dialog.table.item(0, NAME).setText("width")  # what double-click and typing end in
    assert block.args == {"width": 16} and conv.params["out_channels"] == "width"
    assert stack.count() == steps + 2
    dialog.table.item(0, DEFAULT).setData(Qt.ItemDataRole.EditRole, 8)
    assert block.args == {"width": 8} and stack.count() == steps + 3
    dialog.table.selectRow(0)
    (delete,) = [a for a in dialog.table.actions()
                 if QKeySequence(Qt.Key.Key_Delete) in a.shortcuts()]
    delete.trigger()  # the Delete key in the table, as the Remove button
    assert block.args == {"width": 8} and stack.count() == steps + 3  # refused, and why:
    assert "width is still used by proj.out_channels, conv.out_channels" in dialog.feedback.text()
    dialog.table.item(0, NAME).setText("2x")  # a name that cannot be: said, and put back
    assert dialog.table.item(0, NAME).text() == "width" and "not '2x'" in dialog.feedback.text()
    dialog.table.item(0, DEFAULT).setData(Qt.ItemDataRole.EditRole, 4)
    assert dialog.feedback.text().startswith("Done: default of ")
    stack.undo()  # that default: the table follows the model, and "Done" no longer holds
    assert dialog.feedback.text() == ""
    stack.undo()  # the default before
    assert dialog.table.item(0, DEFAULT).data(Qt.ItemDataRole.EditRole) == 16
    stack.undo()  # the rename
    assert dialog.table.item(0, NAME).text() == "channels"
    assert conv.params["out_channels"] == "channels"
    dialog.done(0)


def _menu_action(name: str, then=None):
    """Trigger action ``name`` of the context menu about to open (then call ``then``)."""
    def pick():
        menu = QApplication.activePopupWidget()
        if not isinstance(menu, QMenu):
            QTimer.singleShot(10, pick)
            return
        action = next((a for a in menu.actions() if a.objectName() == name), None)
        if action is not None and then is not None:
            QTimer.singleShot(0, then)
        if action is not None:  # else the menu just closes, and the test's checks say so
            action.trigger()
        menu.close()

    QTimer.singleShot(10, pick)


def _right_click(widget) -> None:
    centre = widget.rect().center()
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, centre, widget.mapToGlobal(centre))
    QApplication.sendEvent(widget, event)


def test_make_block_argument_from_a_params_menu_then_repeat_with_a_first_copy(window, qtbot):
    """Inside the grouped block, right-click conv's out_channels: Make block argument… makes
    ``out_channels`` (default 16) and conv reads it, one undo step; proj reads it too through
    Read argument; then the instance at the top shows the argument, and ×3 with a first copy of
    32 channels gives the shapes and parameters of three such blocks."""
    instance, block = group(window)
    design, canvas, inspector = window.document.design, window.canvas, window.inspector
    assert canvas.enter_block(instance)
    assert isinstance(inspector.view, BlockPage)
    assert "None yet" in inspector.view.args_label.text()
    body = block.body
    conv, proj = body.node_by_name("conv"), body.node_by_name("proj")
    canvas.select_nodes([conv.id])
    steps = window.document.undo_stack.count()

    offered = []

    def accept():  # what the dialog offers, then OK (a failed check here would leave it open)
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, MakeArgumentDialog):
            offered.append((dialog.name_edit.text(), dialog.default_label.text()))
            dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        elif dialog is not None:
            dialog.close()

    _menu_action("makeArgument", accept)
    _right_click(inspector.view.editors["out_channels"].focusProxy())
    assert offered == [("out_channels", "16")]
    assert block.args == {"out_channels": 16} and conv.params["out_channels"] == "out_channels"
    assert window.document.undo_stack.count() == steps + 1
    view = inspector.view  # built again: out_channels reads an argument now
    assert isinstance(view, NodeView) and view.editors["out_channels"].line.text() == "out_channels"
    canvas.select_nodes([proj.id])
    _menu_action("read_out_channels")
    _right_click(inspector.view.editors["out_channels"].focusProxy())
    assert proj.params["out_channels"] == "out_channels"
    canvas.leave_to(0)
    canvas.select_nodes([instance])
    window.document.revalidate()
    view = inspector.view
    assert set(view.editors) == {"out_channels", "repeat", "first"}
    view.editors["repeat"].set_value(3)
    view._param_edited("repeat", 3)
    view.editors["first"].line.setText("out_channels=32")
    view.editors["first"]._edited("out_channels=32")
    window.document.revalidate()
    node = design.node(instance)
    assert node.params == {"repeat": 3, "first": {"out_channels": 32}}
    report = window.document.report
    assert report.ok, [d.message for d in report.errors]
    # copy 0: 16 → 32 (1×1 and 3×3), copies 1, 2: 32 → 16 and 16 → 16
    expected = ((16 * 32 + 32) + (16 * 9 * 32 + 32) + (32 * 16 + 16) + (32 * 9 * 16 + 16)
                + (16 * 16 + 16) + (16 * 9 * 16 + 16))
    assert report.inference.params[instance] == expected
    again = loads(dumps(design))  # saved and reopened
    assert again.blocks[block.name].args == {"out_channels": 16}
    assert again.node(instance).params == node.params


def test_an_instance_page_shows_an_argument_added_while_it_is_shown(window, qtbot):
    instance, block = group(window)
    inspector = window.inspector
    window.canvas.select_nodes([instance])
    assert set(inspector.view.editors) == {"repeat", "first"}
    assert not inspector.view.editors["first"].line.isEnabled()
    dialog = BlockArgsDialog(window.document, block.name, window)
    qtbot.addWidget(dialog)
    assert dialog.add("stride", 1)
    assert set(inspector.view.editors) == {"stride", "repeat", "first"}
    assert inspector.view.editors["first"].line.isEnabled()
    window.document.undo_stack.undo()
    assert set(inspector.view.editors) == {"repeat", "first"}
    dialog.done(0)


def test_the_block_arguments_action_is_in_the_menus_where_it_applies(window):
    canvas = window.canvas
    action = canvas.action("block_args")
    edit_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Edit")
    assert action in edit_menu.actions()
    assert not action.isEnabled()  # nothing selected at the top
    instance, block = group(window)
    assert action.isEnabled() and canvas.args_block() == block.name
    canvas.enter_block(instance)
    assert action.isEnabled() and canvas.args_block() == block.name  # inside, nothing selected
    canvas.leave_to(0)
    canvas.select_nodes([])
    assert not action.isEnabled()


def test_block_arguments_opens_from_the_instance_the_block_page_and_the_palette(window,
                                                                               monkeypatch):
    """A user looking at the instance (its "first" said the block has no arguments), inside the
    block, or at its palette entry finds Block Arguments… there."""
    opened = []
    monkeypatch.setattr(BlockArgsDialog, "exec", lambda self: opened.append(self.block_name))
    instance, block = group(window)
    window.canvas.select_nodes([instance])
    window.inspector.view.block_args_button.click()
    window.canvas.enter_block(instance)
    window.inspector.view.args_button.click()
    window.canvas.leave_to(0)
    menu = window.palette.block_menu(block.name)
    next(a for a in menu.actions() if a.text() == "Block Arguments…").trigger()
    menu.deleteLater()
    assert opened == [block.name] * 3


def test_the_dialog_closes_when_undo_takes_its_block_away(window, qtbot):
    instance, block = group(window)
    design, stack = window.document.design, window.document.undo_stack
    followers = len(design.block_changed), len(design.block_removed)
    dialog = BlockArgsDialog(window.document, block.name, window)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.add("channels", 16)
    stack.undo()  # the argument
    assert dialog.isVisible() and dialog.table.rowCount() == 0
    stack.undo()  # the grouping: the block is gone, and so is the dialog
    assert not dialog.isVisible()
    assert (len(design.block_changed), len(design.block_removed)) == followers
    stack.redo()  # nothing follows the closed dialog any more


def test_an_expression_naming_no_argument_says_how_to_add_one(qtbot):
    """Typing an argument the block does not have yet ("chanels", or one still to add) said
    only "not a number nor arithmetic on the block's arguments"."""
    from graph.catalog import CATALOG
    from ui.widgets.params import ExpressionEditor

    editor = ExpressionEditor(CATALOG["Conv2d"].param("out_channels"), arguments=("channels",))
    qtbot.addWidget(editor)
    edited = []
    editor.edited.connect(edited.append)
    editor._edited("chanels * 2")
    assert editor.line.toolTip().startswith("'chanels' is not an argument of this block: add "
                                            "it with Block Arguments…")
    editor._edited("channels *")
    assert "does not parse" in editor.line.toolTip()
    editor._edited("channels * 2")
    assert edited == ["channels * 2"] and editor.line.property("invalid") is False


def test_text_that_only_looks_like_a_number_is_refused_not_raised(qtbot):
    """"--5" (arithmetic, kept as such) and "²" passed str.isdigit() and then made int() raise
    inside the edit's slot."""
    from graph.catalog import CATALOG
    from ui.widgets.params import ArgsEditor, ExpressionEditor

    editor = ExpressionEditor(CATALOG["Conv2d"].param("out_channels"), arguments=("channels",))
    qtbot.addWidget(editor)
    assert [editor.parse(t) for t in ("-5", "12", "--5", "²", "1²")] == [-5, 12, "--5", None, None]
    editor._edited("²")
    assert editor.line.property("invalid") is True
    assert ArgsEditor.parse("a=2, b=-3") == {"a": 2, "b": -3}
    assert ArgsEditor.parse("a=²") is None and ArgsEditor.parse("a=--1") is None


def test_ungroup_that_cannot_be_done_says_why(window):
    """Ungroup of an instance its layers cannot replace one by one said nothing (or raised)."""
    instance, block = group(window)
    design, canvas = window.document.design, window.canvas
    outer = design.new_block("Outer", {"size": 16})
    inner = outer.body.add_node(outer.body.make_node(block.name, name="inner"))
    outer.body.set_when(inner.id, "size > 4")
    stage = design.add_node(design.make_node("Outer", name="stage", position=(300, 300)))
    messages = []
    canvas.status_message.connect(messages.append)
    assert canvas.enter_block(stage.id)
    canvas.select_nodes([inner.id])
    steps = window.document.undo_stack.count()
    assert canvas.ungroup_selected() == []
    assert messages[-1].startswith("Cannot ungroup: inner is present only when size > 4")
    assert window.document.undo_stack.count() == steps and outer.body.has_node(inner.id)
