"""*Block Arguments…*: the arguments of one block — the numbers its inner layers' params may
read (``out_channels = channels * 2``), each instance setting its own values (and its first copy
others). Add one with its default, rename one (double-click its name: every inner expression
and every instance follows), change a default, remove one (refused, naming the inner layers,
while one reads it). Each change is one undo step (:mod:`graph.block_args`), applied at once;
the table follows the model, so Ctrl+Z in the dialog shows the undo too.

:class:`MakeArgumentDialog` is the inspector's *Make block argument…*: a param of an inner layer
becomes a new argument, its current value the default.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from graph.block_args import (ARGUMENT_KINDS, add_argument, argument_problem, argument_uses,
                              as_default, block_of, make_argument, remove_argument,
                              rename_argument, set_default)
from graph.blocks import BlockError
from graph.design import Design
from ui.commands import block_args_command
from ui.editing import ParamEdit
from ui.document import Document

INT_LIMIT = 2**31 - 1
NAME, DEFAULT, USED_BY = range(3)


def _muted(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("muted")
    label.setWordWrap(True)
    return label


def _default_spin(value: int = 1) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(-INT_LIMIT, INT_LIMIT)
    spin.setValue(value)
    return spin


def _detacher(design: Design, slot):
    """A callable that stops ``slot`` following ``design``'s blocks (safe to call twice)."""
    def detach(*_args) -> None:
        design.block_changed.disconnect(slot)
        design.block_removed.disconnect(slot)

    return detach


class BlockArgsDialog(QDialog):
    """Manage the arguments of block ``block_name`` of ``document``'s design."""

    def __init__(self, document: Document, block_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("blockArgsDialog")
        self.document, self.block_name = document, block_name
        self._design = document.design
        self.setWindowTitle(f"Block Arguments — {block_name}")
        self.resize(560, 400)
        self._filling = False
        layout = QVBoxLayout(self)
        title = QLabel(f"Arguments of {block_name}")
        title.setObjectName("inspectorTitle")
        layout.addWidget(title)
        layout.addWidget(_muted(
            f"Numbers the layers inside {block_name} can read: type an argument's name, or "
            "arithmetic such as <i>channels * 2</i>, into an inner layer's parameter. Each "
            "instance sets its own values (and its first copy others). Double-click a name or "
            "a default to change it."))
        self.table = self._make_table()
        layout.addWidget(self.table, 1)
        layout.addLayout(self._add_row())
        self.feedback = QLabel()
        self.feedback.setObjectName("feedback")
        self.feedback.setWordWrap(True)
        self.feedback.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.feedback)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.remove_button = buttons.addButton("Remove", QDialogButtonBox.ButtonRole.ActionRole)
        self.remove_button.setObjectName("removeArgument")
        self.remove_button.setToolTip("Remove the selected argument (only while no inner layer "
                                      "reads it)")
        self.remove_button.clicked.connect(self.remove_selected)
        layout.addWidget(buttons)
        self._add_undo_actions()
        self._design.block_changed.connect(self._block_changed)
        self._design.block_removed.connect(self._block_changed)
        detach = _detacher(self._design, self._block_changed)
        self.finished.connect(detach)  # closed, or gone without closing (deleted unshown)
        self.destroyed.connect(detach)
        self.refresh()

    # ---- building ----------------------------------------------------------------------------

    def _make_table(self) -> QTableWidget:
        table = QTableWidget(0, 3)
        table.setObjectName("argumentTable")
        table.setHorizontalHeaderLabels(["Argument", "Default", "Read by"])
        table.verticalHeader().setVisible(False)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                              | QAbstractItemView.EditTrigger.EditKeyPressed)
        header = table.horizontalHeader()
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(DEFAULT, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(USED_BY, QHeaderView.ResizeMode.Stretch)
        remove = QAction("Remove", table)
        remove.setShortcuts([QKeySequence(Qt.Key.Key_Delete), QKeySequence(Qt.Key.Key_Backspace)])
        remove.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        remove.triggered.connect(self.remove_selected)
        table.addAction(remove)
        table.itemChanged.connect(self._item_changed)
        table.itemSelectionChanged.connect(self._selection_changed)
        return table

    def _add_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("New argument"))
        self.new_name = QLineEdit()
        self.new_name.setObjectName("newArgumentName")
        self.new_name.setPlaceholderText("e.g. channels")
        self.new_name.textEdited.connect(self._new_name_typed)
        self.new_name.returnPressed.connect(self.add_typed)
        row.addWidget(self.new_name, 1)
        row.addWidget(QLabel("default"))
        self.new_default = _default_spin(1)
        self.new_default.setObjectName("newArgumentDefault")
        row.addWidget(self.new_default)
        self.add_button = QPushButton("Add")
        self.add_button.setObjectName("addArgument")
        self.add_button.setEnabled(False)
        self.add_button.clicked.connect(self.add_typed)
        row.addWidget(self.add_button)
        return row

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if not self.block.args:
            self.new_name.setFocus()  # a block without arguments: the next step is adding one

    def _add_undo_actions(self) -> None:
        """Ctrl+Z / Ctrl+Shift+Z work in the dialog too; the table follows."""
        stack = self.document.undo_stack
        for action, keys in ((stack.createUndoAction(self), QKeySequence.StandardKey.Undo),
                             (stack.createRedoAction(self), QKeySequence.StandardKey.Redo)):
            action.setShortcuts(keys)
            self.addAction(action)

    # ---- model → table ---------------------------------------------------------------------------

    @property
    def block(self):
        return self._design.blocks.get(self.block_name)

    def refresh(self) -> None:
        """Show the block's arguments as they are now (nothing is pushed)."""
        block = self.block
        if block is None:
            self.reject()
            return
        selected = self.selected_argument()
        self._filling = True
        try:
            self.table.setRowCount(len(block.args))
            for row, (name, default) in enumerate(block.args.items()):
                uses = argument_uses(block, name)
                cells = (QTableWidgetItem(name), QTableWidgetItem(),
                         QTableWidgetItem(", ".join(uses) or "nothing yet"))
                cells[DEFAULT].setData(Qt.ItemDataRole.EditRole, default)
                cells[USED_BY].setFlags(cells[USED_BY].flags() & ~Qt.ItemFlag.ItemIsEditable)
                cells[USED_BY].setToolTip(", ".join(uses) or "No inner layer reads it yet")
                for column, cell in enumerate(cells):
                    self.table.setItem(row, column, cell)
                if name == selected:
                    self.table.selectRow(row)
        finally:
            self._filling = False
        if not block.args:
            self.feedback.setObjectName("muted")
            self.feedback.setText(f"{self.block_name} has no arguments yet: add one below.")
            self._restyle(self.feedback)
        self._selection_changed()

    def _block_changed(self, name: str) -> None:
        if name == self.block_name or self.block is None:
            self.say("")  # what the last change said no longer holds (an undo, say)
            self.refresh()

    # ---- table → model ---------------------------------------------------------------------------

    def selected_argument(self) -> str | None:
        rows = {i.row() for i in self.table.selectedIndexes()}
        if len(rows) != 1:
            return None
        item = self.table.item(rows.pop(), NAME)
        return item.text() if item is not None else None

    def _selection_changed(self) -> None:
        self.remove_button.setEnabled(self.selected_argument() is not None)

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling:
            return
        name = list(self.block.args)[item.row()]
        if item.column() == NAME:
            self.rename(name, item.text().strip())
        elif item.column() == DEFAULT:
            self.set_default(name, item.data(Qt.ItemDataRole.EditRole))

    def _apply(self, plan, *args) -> bool:
        """Push ``plan(design, block, *args)`` as one undo step, or say why not."""
        try:
            edit = plan(self._design, self.block_name, *args)
        except BlockError as exc:
            self.say(exc.reason, problem=True)
            self.refresh()  # what was typed in the table goes back to what is so
            return False
        self.document.push(block_args_command(edit))
        self.say(f"Done: {edit.text[0].lower()}{edit.text[1:]} (Ctrl+Z undoes it).")
        return True

    def add(self, name: str, default: int) -> bool:
        return self._apply(add_argument, name, default)

    def rename(self, old: str, new: str) -> bool:
        return old == new or self._apply(rename_argument, old, new)

    def set_default(self, name: str, default) -> bool:
        if not isinstance(default, int) or default == self.block.args.get(name):
            return False
        return self._apply(set_default, name, default)

    def remove(self, name: str) -> bool:
        return self._apply(remove_argument, name)

    def remove_selected(self) -> bool:
        name = self.selected_argument()
        return name is not None and self.remove(name)

    def add_typed(self) -> bool:
        name = self.new_name.text().strip()
        if not name or not self.add(name, self.new_default.value()):
            return False
        self.new_name.clear()
        self.add_button.setEnabled(False)
        return True

    def _new_name_typed(self, text: str) -> None:
        problem = argument_problem(self.block, text.strip()) if text.strip() else None
        self.add_button.setEnabled(bool(text.strip()) and problem is None)
        if problem:
            self.say(problem, problem=True)
        else:
            self.say("")

    def say(self, text: str, problem: bool = False) -> None:
        self.feedback.setObjectName("feedback" if problem else "muted")
        self.feedback.setText(text)
        self._restyle(self.feedback)

    @staticmethod
    def _restyle(widget: QWidget) -> None:
        widget.style().unpolish(widget)
        widget.style().polish(widget)


class MakeArgumentDialog(QDialog):
    """*Make block argument…* for param ``param_name`` of inner layer ``node_id`` of ``body``:
    asks the new argument's name (the default is the param's value now)."""

    def __init__(self, document: Document, body: Design, node_id: str, param_name: str,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("makeArgumentDialog")
        self.document, self.body, self.node_id, self.param_name = (document, body, node_id,
                                                                   param_name)
        node = body.node(node_id)
        self.setWindowTitle("Make Block Argument")
        self.setMinimumWidth(420)
        layout = QVBoxLayout(self)
        layout.addWidget(_muted(
            f"{node.name}.{param_name} will read a new argument of the block; every instance "
            "can then set its own value (and its first copy another)."))
        form = QFormLayout()
        self.name_edit = QLineEdit(self._suggested_name())
        self.name_edit.setObjectName("argumentName")
        self.name_edit.selectAll()
        self.name_edit.textEdited.connect(self._check)
        form.addRow("Argument name", self.name_edit)
        self.default_label = QLabel()  # the param's value now, as a whole number
        self.default_label.setObjectName("argumentDefault")
        form.addRow("Default", self.default_label)
        layout.addLayout(form)
        self.feedback = QLabel()
        self.feedback.setObjectName("feedback")
        self.feedback.setWordWrap(True)
        layout.addWidget(self.feedback)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._check(self.name_edit.text())

    def _suggested_name(self) -> str:
        block = block_of(self.body)
        name, n = self.param_name, 2
        while block is not None and argument_problem(block, name) and name in block.args:
            name, n = f"{self.param_name}_{n}", n + 1
        return name

    def edit(self):
        """The planned edit for the typed name (raises BlockError)."""
        return make_argument(self.body, self.node_id, self.param_name, self.name_edit.text().strip())

    def _check(self, _text: str = "") -> None:
        try:
            edit = self.edit()
            problem = None
            self.default_label.setText(str(edit.args[1][self.name_edit.text().strip()]))
        except BlockError as exc:
            problem = exc.reason
        self.feedback.setText(problem or "")
        self.feedback.setVisible(problem is not None)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)

    def accept(self) -> None:
        try:
            edit = self.edit()
        except BlockError as exc:
            self.feedback.setText(exc.reason)
            return
        self.document.edits.seal()
        self.document.push(block_args_command(edit))
        super().accept()


def param_menu(document: Document, body: Design, node_id: str, param_name: str,
               widget: QWidget, open_block_args, parent: QWidget) -> tuple[QMenu, list]:
    """The context menu of param ``param_name`` of inner layer ``node_id`` of block body
    ``body``: the field's own (copy, paste), then *Make block argument…*, *Read argument* for
    each of the block's arguments and *Block Arguments…* (``open_block_args(name)``). Returns
    the menu and a list that the chosen action's work is put in, to be done once the menu is
    closed (the work rebuilds the page the menu belongs to)."""
    menu = widget.createStandardContextMenu() if isinstance(widget, QLineEdit) else QMenu()
    menu.setParent(parent, menu.windowFlags())
    menu.setToolTipsVisible(True)
    before = menu.actions()[0] if menu.actions() else None
    block, node = block_of(body), body.node(node_id)
    param = body.layer_of(node).param(param_name)
    value = node.resolved_params()[param_name]
    chosen: list = []

    def item(text: str, name: str, work) -> QAction:
        action = QAction(text, menu)
        action.setObjectName(name)
        action.triggered.connect(lambda _on=False: chosen.append(work))
        return action

    make = item("Make block argument…", "makeArgument",
                lambda: _make_argument(document, body, node_id, param_name, parent))
    try:
        as_default(param, value, f"{node.name}.{param_name}")
    except BlockError as exc:
        make.setEnabled(False)
        make.setToolTip(exc.reason)
    actions = [make]
    for arg in (block.args if block is not None and param.kind in ARGUMENT_KINDS else ()):
        read = item(f"Read argument {arg}", f"read_{arg}", lambda a=arg: document.edits.push_whole(
            ParamEdit(body, node_id, param_name, a)))
        read.setCheckable(True)
        read.setChecked(value == arg)
        actions.append(read)
    if block is not None and open_block_args is not None:
        actions.append(item("Block Arguments…", "blockArguments",
                            lambda: open_block_args(block.name)))
    menu.insertActions(before, actions)
    if before is not None:
        menu.insertSeparator(before)
    return menu, chosen


def _make_argument(document: Document, body: Design, node_id: str, param_name: str,
                   parent: QWidget) -> None:
    dialog = MakeArgumentDialog(document, body, node_id, param_name, parent.window())
    dialog.exec()
    dialog.deleteLater()
