"""The inspector: edits the selected layer, or the design's name and description.

A layer's form is generated from its :class:`~graph.catalog.Param` declarations, so a new layer
needs no inspector code. With nothing selected it shows the design itself: name, description, a
summary of the dataset and training settings with buttons to the Data and Training panels (the
one editor of those settings) and the design's diagnostics.

Each edit goes through the document's :class:`~ui.editing.EditSession`: the changes of one
gesture (dragging a spin box, typing a number) are one undo step, as in every form. The
inspector follows the model: an undo updates the editors (with their signals blocked, so
nothing is pushed back).
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from graph.block_args import block_of
from graph.blocks import is_expression
from graph.catalog import Param, fmt_shape
from graph.design import Design, Node
from graph.settings import DATASETS, TRAINING_PARAMS, dataset_shape
from graph.summary import human_count
from graph.validate import ERROR, SETTINGS_CODES, Diagnostic, Report
from ui.canvas.style import category_color
from ui.block_args_dialog import param_menu
from ui.commands import SetParamsCommand, SetTrainingFlagsCommand
from ui.document import Document
from ui.fixes import apply_fix, fix_html
from ui.editing import DesignInfoEdit, EditSession, ParamEdit, RenameEdit
from ui.palette import color_chip
from ui.widgets.params import ExpressionEditor, ParamEditor, make_editor, set_invalid

# ---- layout helpers -------------------------------------------------------------------------------


def _section(title: str) -> QLabel:
    label = QLabel(title.upper())
    label.setObjectName("section")
    return label


def _muted(text: str = "", wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setObjectName("muted")
    label.setWordWrap(wrap)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _form() -> QFormLayout:
    form = QFormLayout()
    form.setContentsMargins(0, 0, 0, 0)
    form.setHorizontalSpacing(10)
    form.setVerticalSpacing(6)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return form


def _param_label(param: Param) -> QLabel:
    label = QLabel(param.name)
    label.setToolTip(param.doc)
    label.setObjectName("paramLabel")
    return label


def _diagnostic_label(d: Diagnostic, fixes: "FixTarget | None" = None) -> QLabel:
    """The problem and its fix; a fix the app can make is a link that applies it."""
    fix = fix_html(d, fixes.design) if fixes is not None else d.fix
    text = d.message + (f"<br><span style='color:#9aa3b2'>fix: {fix}</span>" if d.fix else "")
    label = QLabel(f"<b>{'Error' if d.severity == ERROR else 'Warning'}:</b> {text}")
    label.setObjectName("diagError" if d.severity == ERROR else "diagWarning")
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                  | Qt.TextInteractionFlag.LinksAccessibleByMouse
                                  | Qt.TextInteractionFlag.LinksAccessibleByKeyboard)
    if fixes is not None:
        label.linkActivated.connect(lambda href: fixes.apply(d.actions[int(href.split(":")[1])]))
    return label


class FixTarget:
    """Where the inspector's fix links apply: the document, on ``design``."""

    def __init__(self, document: Document, design: Design):
        self.document, self.design = document, design

    def apply(self, action) -> None:
        apply_fix(self.document, action, self.design)


def _clear_layout(layout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        if item.widget() is not None:  # hidden now: deleted later, which waits while a modal
            item.widget().hide()  # dialog (as the recovery offer at start) runs its own loop
            item.widget().deleteLater()
        elif item.layout() is not None:
            _clear_layout(item.layout())


def shown_args(design: Design, node: Node | None) -> tuple:
    """The block arguments a page shows or lets params read: those of the block ``design`` is
    the body of, and of ``node``'s block when it is an instance (the page is built again when
    they change)."""
    inner = block_of(design) if design.blocks.owner is not design else None
    own = design.blocks.get(node.type) if node is not None and node.is_block else None
    return tuple(tuple(b.args.items()) if b is not None else () for b in (inner, own))


# ---- one layer ---------------------------------------------------------------------------------------


def _diagnostics_section(layout: QVBoxLayout, title: str) -> QVBoxLayout:
    """A titled list of diagnostics closing a page (filled by :func:`_show_diagnostics`)."""
    layout.addWidget(_section(title))
    box = QVBoxLayout()
    box.setSpacing(4)
    layout.addLayout(box)
    layout.addStretch(1)
    return box


def _show_diagnostics(box: QVBoxLayout, diagnostics: list[Diagnostic], empty_text: str,
                      fixes: FixTarget | None = None) -> None:
    """Fill ``box`` with ``diagnostics`` (or ``empty_text``); nothing is rebuilt when they are
    what it shows (most edits leave a page's diagnostics as they were)."""
    shown = (tuple(diagnostics), empty_text)
    if box.property("shown") == shown:
        return
    box.setProperty("shown", shown)
    _clear_layout(box)
    for d in diagnostics:
        box.addWidget(_diagnostic_label(d, fixes))
    if not diagnostics:
        box.addWidget(_muted(empty_text))


class NodeView(QWidget):
    """Name, type doc, params, shapes, parameter count and diagnostics of one node.

    ``design`` is the network holding the node: the document's design, or the body of a block
    the canvas has entered — then ``inference_of(report)`` gives the shapes inside it."""

    def __init__(self, document: Document, node_id: str, session: EditSession,
                 parent: QWidget | None = None, design: Design | None = None,
                 inference_of: Callable[[Report], Any] | None = None):
        super().__init__(parent)
        self.document, self.node_id, self.session = document, node_id, session
        self.design = design or document.design
        self.inference_of = inference_of
        self.detached = False  # set when the inspector stops showing this view
        self.open_block_args: Callable[[str], None] | None = None  # set by the inspector
        node = self.node
        self.shown_args = shown_args(self.design, node)
        layer = node.layer
        self.editors: dict[str, ParamEditor] = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.setSpacing(8)

        self._add_heading(layout, layer)
        if node.when:  # inside a block: a layer some copies leave out
            layout.addWidget(_muted(f"Only in the copies where {node.when} holds (a block "
                                    "argument): the others leave it out."))
        self._add_name(layout, node)
        self._add_parameters(layout, node, session)
        self._add_fine_tuning(layout, node)
        layout.addWidget(_section("Shapes"))
        self.facts = _form()
        self._shown_facts: list[tuple[str, str]] | None = None
        layout.addLayout(self.facts)

        self.diagnostics = _diagnostics_section(layout, "Diagnostics")

        self.sync()
        self.update_report(document.report)

    def _add_heading(self, layout: QVBoxLayout, layer) -> None:
        """The layer type's colour, name, category and description."""
        head = QHBoxLayout()
        chip = QLabel()
        chip.setPixmap(color_chip(category_color(layer.category), 14).pixmap(14, 14))
        title = QLabel(layer.label)
        title.setObjectName("inspectorTitle")
        title.setWordWrap(True)  # a long type name takes two lines, never the dock's width
        head.addWidget(chip, 0, Qt.AlignmentFlag.AlignTop)
        head.addWidget(title, 1)
        category = _muted(layer.category, wrap=False)
        head.addWidget(category)
        layout.addLayout(head)
        self.doc_label = _muted(layer.doc)
        layout.addWidget(self.doc_label)

    def _add_name(self, layout: QVBoxLayout, node) -> None:
        """The name field and what is wrong with a typed name."""
        layout.addWidget(_section("Name"))
        self.name_edit = QLineEdit(node.name)
        self.name_edit.setObjectName("nameEdit")
        self.name_edit.setToolTip("The layer's name: unique in the design, used in the generated code")
        self.name_feedback = QLabel()
        self.name_feedback.setObjectName("feedback")
        self.name_feedback.setWordWrap(True)
        self.name_feedback.setVisible(False)
        layout.addWidget(self.name_edit)
        layout.addWidget(self.name_feedback)
        self._typing_name = False  # unfinished typing in the name field is never overwritten
        self.name_edit.textEdited.connect(self._name_typed)
        self.name_edit.editingFinished.connect(self._name_finished)

    def _add_parameters(self, layout: QVBoxLayout, node, session: EditSession) -> None:
        """One editor per catalog parameter, and Reset to defaults."""
        layout.addWidget(_section("Parameters"))
        layer = node.layer
        if layer.params:
            form = _form()
            resolved = node.resolved_params()
            for param in layer.params:
                editor = self._editor(param, resolved[param.name])
                editor.setObjectName(f"param_{param.name}")
                editor.edited.connect(lambda value, name=param.name: self._param_edited(name, value))
                editor.finished.connect(session.seal)
                label = _param_label(param)
                form.addRow(label, editor)
                self.editors[param.name] = editor
                if self.design is not self.document.design:  # inside a block: argument menu
                    label.setToolTip(f"{param.doc}\nRight-click: make it a block argument, or "
                                     "read one.")
                    for widget in [label, editor] + editor.findChildren(QWidget):
                        widget.setProperty("paramName", param.name)
                        widget.installEventFilter(self)
            layout.addLayout(form)
            self.reset_button = QPushButton("Reset to defaults")
            self.reset_button.setObjectName("flat")
            self.reset_button.setToolTip("Set every parameter of this layer back to its default")
            self.reset_button.clicked.connect(self._reset)
            row = QHBoxLayout()
            if node.is_block:  # its arguments are the block's: managed there
                self.block_args_button = QPushButton("Block Arguments…")
                self.block_args_button.setObjectName("flat")
                self.block_args_button.setToolTip(f"Add, rename, set the default of or remove "
                                                  f"the arguments of {node.type}")
                self.block_args_button.clicked.connect(
                    lambda: self.open_block_args and self.open_block_args(self.node.type))
                row.addWidget(self.block_args_button)
            row.addStretch(1)
            row.addWidget(self.reset_button)
            layout.addLayout(row)
        else:
            self.reset_button = None
            layout.addWidget(_muted("This layer has no parameters."))

    def _add_fine_tuning(self, layout: QVBoxLayout, node) -> None:
        """Trainable and the learning-rate factor, for layers that hold weights."""
        tuning_box = QWidget()  # only for layers that hold weights (the catalog says which)
        tuning_box.setObjectName("fineTuning")
        tuning_box.setVisible(node.is_block or node.layer.has_weights)
        tuning_column = QVBoxLayout(tuning_box)
        tuning_column.setContentsMargins(0, 0, 0, 0)
        tuning_column.addWidget(_section("Fine-tuning"))
        layout.addWidget(tuning_box)
        tuning = _form()
        self.trainable_box = QCheckBox("Trainable")
        self.trainable_box.setObjectName("trainable")
        self.trainable_box.setToolTip("Untick to freeze this layer: training leaves its weights "
                                      "(and BatchNorm statistics) as they are")
        self.trainable_box.toggled.connect(self._trainable_toggled)
        self.lr_mult_box = QDoubleSpinBox()
        self.lr_mult_box.setObjectName("lrMult")
        self.lr_mult_box.setRange(0.0, 1000.0)
        self.lr_mult_box.setDecimals(3)
        self.lr_mult_box.setSingleStep(0.1)
        self.lr_mult_box.setToolTip("This layer learns at the design's learning rate times this")
        self.lr_mult_box.editingFinished.connect(self._lr_mult_finished)
        tuning.addRow("", self.trainable_box)
        tuning.addRow("Learning rate ×", self.lr_mult_box)
        tuning_column.addLayout(tuning)

    def _editor(self, param, value) -> ParamEditor:
        """The param's editor; inside a block body, an expression (``planes * 4``) — or a whole
        number where the block has arguments, so that it can become one — is a line editor that
        takes a number or arithmetic on the block's arguments."""
        inside = self.design is not self.document.design
        if inside and (is_expression(param, value) and isinstance(value, str)
                       or param.kind == "int" and self.design.arguments):
            return ExpressionEditor(param, arguments=tuple(self.design.arguments))
        return make_editor(param, value)

    @property
    def node(self) -> Node:
        return self.design.node(self.node_id)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        """Inside a block, a param's context menu offers *Make block argument…* and the
        block's arguments to read."""
        name = watched.property("paramName") if event.type() == QEvent.Type.ContextMenu else None
        if not name or not self.active():
            return super().eventFilter(watched, event)
        menu, chosen = param_menu(self.document, self.design, self.node_id, name, watched,
                                  self.open_block_args, self)
        menu.exec(event.globalPos())
        menu.deleteLater()
        for work in chosen:  # after the menu: the work may build this page again
            work()
        return True

    def active(self) -> bool:
        """Whether edits from this view may still reach the model (a view being replaced can
        still get a late focus-out from one of its fields)."""
        top = self.document.design
        return (not self.detached and (self.design is top or self.design.blocks is top.blocks)
                and self.design.has_node(self.node_id))

    def _trainable_toggled(self, on: bool) -> None:
        if self.active() and on != self.node.trainable:
            self.session.seal()
            self.document.push(SetTrainingFlagsCommand(self.design, [self.node_id], trainable=on))

    def _lr_mult_finished(self) -> None:
        value = round(self.lr_mult_box.value(), 6)
        if self.active() and value != self.node.lr_mult:
            self.session.seal()
            self.document.push(SetTrainingFlagsCommand(self.design, [self.node_id], lr_mult=value))

    # model → view
    def sync(self) -> None:
        """Show the node's current name and params (signals blocked: nothing is pushed)."""
        node = self.node
        if not self._typing_name and self.name_edit.text() != node.name:
            self.name_edit.setText(node.name)
            self._show_name_problem(None)
        resolved = node.resolved_params()
        for name, editor in self.editors.items():
            editor.set_value(resolved[name])
        for box, value in ((self.trainable_box, node.trainable), (self.lr_mult_box, node.lr_mult)):
            box.blockSignals(True)
            box.setChecked(value) if box is self.trainable_box else box.setValue(value)
            box.blockSignals(False)
        if self.reset_button is not None:
            self.reset_button.setEnabled(resolved != node.layer.defaults())

    def update_report(self, report: Report) -> None:
        inference = self.inference_of(report) if self.inference_of else report.inference
        nid = self.node_id
        facts = self._facts(inference)
        if facts != self._shown_facts:  # most edits elsewhere leave this node's facts alone
            self._shown_facts = facts
            _clear_layout(self.facts)
            for label, text in facts:
                self.facts.addRow(QLabel(label), self._fact(text))

        on_top = self.design is self.document.design  # the report names the top design's nodes
        mine = report.for_node(nid) if on_top else []
        _show_diagnostics(self.diagnostics, mine, "No problems.",
                          FixTarget(self.document, self.design) if on_top else None)
        flagged = {d.param: d.message for d in mine if d.param}
        for name, editor in self.editors.items():
            target = editor.focusProxy() or editor
            if bool(target.property("invalid")) != (name in flagged):
                set_invalid(target, flagged.get(name), editor.param.doc)

    def _facts(self, inference) -> list[tuple[str, str]]:
        """The Shapes section's rows: (label, text)."""
        nid, layer, rows = self.node_id, self.node.layer, []
        if layer.inputs:
            links = self.design.in_edges(nid)
            shapes = [fmt_shape(inference.shapes.get(e.src)) for e in links]
            rows.append(("Input" + ("s" if len(links) > 1 else ""),
                         ", ".join(shapes) if links else "not connected"))
        if layer.outputs:
            shape = inference.shapes.get(nid)
            rows.append(("Output", fmt_shape(shape) if shape is not None
                         else "? (see the diagnostics)"))
        rows.append(("Parameters", f"{inference.params.get(nid, 0):,}"))
        rows.append(("MACs", human_count(inference.macs.get(nid, 0))))
        return rows

    @staticmethod
    def _fact(text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("fact")
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    # view → model
    def _param_edited(self, name: str, value: Any) -> None:
        if not self.active():
            return
        node = self.node
        param = node.layer.param(name)
        expression = isinstance(self.editors.get(name), ExpressionEditor)
        if (param.check(value) is not None and not expression) or node.resolved_params()[name] == value:
            return
        self.session.push(ParamEdit(self.design, self.node_id, name, value))

    def _reset(self) -> None:
        if not self.active():
            return
        self.session.seal()
        self.session.push(SetParamsCommand(self.design, self.node_id, {}))
        self.session.seal()

    def name_problem(self, name: str) -> str | None:
        if not name:
            return "A layer needs a name."
        other = self.design.node_by_name(name)
        if other is not None and other.id != self.node_id:
            return f"“{name}” is already the name of another layer; names must be unique."
        return None

    def _show_name_problem(self, problem: str | None) -> None:
        self.name_feedback.setText(problem or "")
        self.name_feedback.setVisible(problem is not None)
        self.name_edit.setProperty("invalid", problem is not None)
        self.name_edit.style().unpolish(self.name_edit)
        self.name_edit.style().polish(self.name_edit)

    def _name_typed(self, text: str) -> None:
        self._typing_name = True
        self._show_name_problem(self.name_problem(text.strip()))

    def _name_finished(self) -> None:
        self._typing_name = False
        if not self.active():
            return
        name = self.name_edit.text().strip()
        current = self.node.name
        if name == current:
            self._show_name_problem(None)
            return
        problem = self.name_problem(name)
        if problem is not None:
            # Refuse: keep the old name, and say why.
            self.name_edit.setText(current)
            self._show_name_problem(problem + f" Kept “{current}”.")
            self.name_edit.setProperty("invalid", False)
            return
        self._show_name_problem(None)
        self.session.seal()
        self.session.push(RenameEdit(self.design, self.node_id, name))
        self.session.seal()


# ---- the design itself ----------------------------------------------------------------------------


def _shown_value(param: Param, value: Any) -> str:
    """A setting's value as the form shows it (choices by their labels)."""
    return param.choice_label(value) if param.kind == "choice" else str(value)


def _settings_summary(design: Design) -> str:
    """One line on the dataset and one on the training settings, for the design page."""
    data, training = design.data, design.training
    shape = dataset_shape(data)
    spec = DATASETS.get(data.get("name"))
    dataset = (spec.title if spec else f"{data.get('name')}") + (
        f" · samples {fmt_shape(shape)}" if shape else "")
    by_name = {p.name: p for p in TRAINING_PARAMS}
    shown = [f"{by_name[k].title.lower()} {_shown_value(by_name[k], training[k])}"
             for k in ("optimizer", "lr", "batch_size", "epochs") if k in training]
    return f"Dataset: {dataset}<br>Training: {', '.join(shown)}"


class DesignView(QWidget):
    """The design's name and description, a summary of its dataset and training settings with
    buttons to the Data and Training panels (their one editor), and the design's diagnostics."""

    def __init__(self, document: Document, session: EditSession,
                 open_panel: Callable[[str], None], parent: QWidget | None = None):
        super().__init__(parent)
        self.document, self.session = document, session
        self.detached = False
        self._design = document.design

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.setSpacing(8)
        title = QLabel("Design")
        title.setObjectName("inspectorTitle")
        layout.addWidget(title)
        layout.addWidget(_muted("Select a layer on the canvas to edit it."))

        layout.addWidget(_section("Name"))
        self.name_edit = QLineEdit(self._design.name)
        self.name_edit.setObjectName("designName")
        self.name_edit.setToolTip("The design's name: shown in the title, the run folders and "
                                  "the exported code")
        self.name_edit.textEdited.connect(self._edited)
        self.name_edit.editingFinished.connect(self._name_finished)
        layout.addWidget(self.name_edit)
        layout.addWidget(_section("Description"))
        self.description_edit = QPlainTextEdit(self._design.description)
        self.description_edit.setObjectName("designDescription")
        self.description_edit.setPlaceholderText("What this network is for (optional)")
        self.description_edit.setMaximumHeight(80)
        self.description_edit.textChanged.connect(self._edited)
        layout.addWidget(self.description_edit)

        layout.addWidget(_section("Dataset & training"))
        self.summary = _muted()
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.summary)
        row = QHBoxLayout()
        self.panel_buttons: dict[str, QPushButton] = {}
        for key, text in (("data", "Data panel"), ("training", "Training panel")):
            button = QPushButton(text)
            button.setToolTip(f"Edit the design's {key} settings in the {text}")
            button.clicked.connect(lambda _c=False, k=key: open_panel(k))
            self.panel_buttons[key] = button
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)

        self.diagnostics = _diagnostics_section(layout, "Design diagnostics")
        self.sync()
        self.update_report(document.report)

    @property
    def design(self) -> Design:
        return self.document.design

    def sync(self) -> None:
        """Show the design's current name, description and settings (nothing is pushed)."""
        design = self.design
        if not self.name_edit.hasFocus() and self.name_edit.text() != design.name:
            self.name_edit.setText(design.name)
        if self.description_edit.toPlainText() != design.description:
            self.description_edit.blockSignals(True)
            self.description_edit.setPlainText(design.description)
            self.description_edit.blockSignals(False)
        self.summary.setText(_settings_summary(design))

    def update_report(self, report: Report) -> None:
        general = [d for d in report.diagnostics if d.node is None or d.code in SETTINGS_CODES]
        _show_diagnostics(self.diagnostics, general,
                          "No problems with the dataset or training settings.",
                          FixTarget(self.document, self.design))

    def _edited(self, *_args) -> None:
        if self.detached or self.document.design is not self._design:
            return
        name = self.name_edit.text().strip()
        description = self.description_edit.toPlainText()
        if not name:
            return  # a design keeps a name; an empty field is restored when editing ends
        if (name, description) != (self.design.name, self.design.description):
            self.session.push(DesignInfoEdit(self.design, name, description))

    def _name_finished(self) -> None:
        self.session.seal()
        if not self.name_edit.text().strip():
            self.name_edit.setText(self.design.name)


# ---- the dock widget ------------------------------------------------------------------------------



class BlockPage(QWidget):
    """Inside a block with no layer selected: the block, its arguments and *Block Arguments…*
    (``open_block_args(name)``), or the count of the layers selected there."""

    def __init__(self, design: Design, node_ids: list[str],
                 open_block_args: Callable[[str], None]):
        super().__init__()
        self.detached = False
        self.shown_args = shown_args(design, None)
        block = block_of(design)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 12)
        title = QLabel(f"Inside {block.name}" if block else "Inside a block")
        title.setObjectName("inspectorTitle")
        layout.addWidget(title)
        layout.addWidget(_muted(f"{len(node_ids)} layers selected inside the block." if node_ids
                                else "Inside a block: select a layer to edit it — every "
                                     "instance follows."))
        layout.addWidget(_section("Arguments"))
        args = block.args if block else {}
        self.args_label = _muted(", ".join(f"{k} = {v}" for k, v in args.items()) if args else
                                 "None yet. An argument is a number the layers inside can read "
                                 "(channels * 2) and each instance sets; right-click a "
                                 "parameter for Make block argument…")
        self.args_label.setObjectName("blockArguments")
        layout.addWidget(self.args_label)
        self.args_button = QPushButton("Block Arguments…")
        self.args_button.setObjectName("blockArgsButton")
        self.args_button.setToolTip("Add, rename, set the default of or remove the block's "
                                    "arguments")
        self.args_button.setEnabled(block is not None)
        if block is not None:
            self.args_button.clicked.connect(lambda: open_block_args(block.name))
        row = QHBoxLayout()
        row.addWidget(self.args_button)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(1)


class MultiView(QWidget):
    """Several layers selected: their names and their parameters together, which follow the
    report (a selection made by an edit, as Ungroup's, comes before its revalidation)."""

    def __init__(self, node_ids: list[str]):
        super().__init__()
        self.node_ids = list(node_ids)
        self.total: QLabel | None = None

    def update_report(self, report: Report) -> None:
        total = sum(report.inference.params.get(nid, 0) for nid in self.node_ids)
        self.total.setText(f"{total:,} parameters together. Select a single layer to edit it.")

class Inspector(QWidget):
    """Shows :class:`NodeView` for one selected layer, a short list for several, and
    :class:`DesignView` when nothing is selected. Call :meth:`show_nodes` with the selection;
    :attr:`panel_requested` asks the window to show the ``"data"`` or ``"training"`` panel."""

    panel_requested = Signal(str)
    block_args_requested = Signal(str)  # a block's name: open Block Arguments… for it

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("inspector")
        self.document = document
        self.session = document.edits
        self.view: QWidget | None = None
        self.node_ids: list[str] = []
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

        self._design: Design | None = None
        self._inference_of: Callable[[Report], Any] | None = None
        self._pending: tuple | None = None  # show_nodes' arguments, while hidden (see there)
        self._in_view = True  # False while the dock is a tab behind another (come_into_view)
        self._bind(document.design)
        document.design_replaced.connect(self._design_replaced)
        document.report_changed.connect(self._report_changed)
        self.show_nodes([])

    # ---- following the model ---------------------------------------------------------------------

    def _bind(self, design: Design) -> None:
        if self._design is not None:
            self._design.node_changed.disconnect(self._node_changed)
            self._design.node_removed.disconnect(self._node_removed)
            self._design.settings_changed.disconnect(self._settings_changed)
            self._design.block_changed.disconnect(self._block_changed)
        self._design = design
        design.node_changed.connect(self._node_changed)
        design.node_removed.connect(self._node_removed)
        design.settings_changed.connect(self._settings_changed)
        design.block_changed.connect(self._block_changed)

    def _design_replaced(self, design: Design) -> None:
        self._bind(design)
        self.session.seal()
        self.view = None  # every view belongs to the old design: build afresh, even the settings
        self.show_nodes([])

    def _bind_inner(self, design: Design | None) -> None:
        """Follow the block body whose layers are shown (None: only the design)."""
        previous = getattr(self, "_inner", None)
        if previous is design:
            return
        if previous is not None:
            previous.node_changed.disconnect(self._node_changed)
            previous.node_removed.disconnect(self._node_removed)
        self._inner = design
        if design is not None:
            design.node_changed.connect(self._node_changed)
            design.node_removed.connect(self._node_removed)

    def _node_changed(self, node: Node, field: str) -> None:
        if isinstance(self.view, NodeView) and self.view.node_id == node.id and field != "position":
            self.view.sync()

    def _node_removed(self, node: Node) -> None:
        if node.id in self.node_ids:
            self.show_nodes([nid for nid in self.node_ids if nid != node.id])

    def _block_changed(self, _name: str) -> None:
        """A block's arguments changed: build the page again where it shows or reads them."""
        view = self.view
        if not isinstance(view, (NodeView, BlockPage)) or view.detached:
            return
        design = getattr(self, "_shown_design", None)
        if design is None or (design is not self.document.design
                              and block_of(design) is None):
            return  # the block shown has gone: the canvas goes back out, and so do we
        node = view.node if isinstance(view, NodeView) and design.has_node(view.node_id) else None
        if shown_args(design, node) != view.shown_args:
            self._show(self.node_ids, design, self._inference_of, force=True)

    def _settings_changed(self, _section: str) -> None:
        if isinstance(self.view, DesignView):
            self.view.sync()

    def _report_changed(self, report: Report) -> None:
        if isinstance(self.view, (NodeView, DesignView, MultiView)):
            self.view.update_report(report)

    # ---- what is shown ----------------------------------------------------------------------------

    def show_nodes(self, node_ids: list[str], design: Design | None = None,
                   inference_of: Callable[[Report], Any] | None = None) -> None:
        """Show the layer when one is selected, the settings when none, a list for several.
        ``design`` (with ``inference_of``) is set while the canvas edits inside a block: the ids
        are that body's, and one selected layer is edited there (every instance follows).

        While the inspector is out of sight in a shown window (its dock behind the Training
        panel's tab) the page is built when it comes into view (:meth:`come_into_view`): a
        selection then costs the GUI thread nothing (a layer's page takes about 10 ms)."""
        if self.window().isVisible() and not self.in_view:
            self._pending = (list(node_ids), design, inference_of)
            return
        self._show(node_ids, design, inference_of)

    def _show(self, node_ids: list[str], design: Design | None,
              inference_of: Callable[[Report], Any] | None, force: bool = False) -> None:
        self._pending = None
        self._inference_of = inference_of
        inner = design is not None and design is not self.document.design
        self._bind_inner(design if inner else None)
        design = design if inner else self.document.design
        node_ids = [nid for nid in node_ids if design.has_node(nid)]
        if (not force and node_ids == self.node_ids and self.view is not None
                and getattr(self, "_shown_design", None) is design
                and not (len(node_ids) > 1 and isinstance(self.view, NodeView))):
            return
        self.session.seal()
        self.node_ids = list(node_ids)
        self._shown_design = design
        if len(node_ids) == 1:
            view: QWidget = NodeView(self.document, node_ids[0], self.session, design=design,
                                     inference_of=inference_of if inner else None)
            view.open_block_args = self.block_args_requested.emit
        elif inner:
            view = BlockPage(design, node_ids, self.block_args_requested.emit)
        elif not node_ids:
            view = DesignView(self.document, self.session, self.panel_requested.emit)
        else:
            view = self._multi_view(node_ids)
        old = self.scroll.takeWidget()
        if old is not None:
            old.detached = True
            old.deleteLater()
        self.view = view
        self.scroll.setWidget(view)

    @property
    def in_view(self) -> bool:
        """Whether the inspector is in sight (not a dock's tab behind another)."""
        return self._in_view and self.isVisible()

    def come_into_view(self, visible: bool = True) -> None:
        """Follow whether the inspector is in sight, and build the page of a selection made
        while it was not (a dock's tab behind another stays shown, moved out of the window:
        its dock's ``visibilityChanged`` calls this)."""
        self._in_view = visible
        if visible and self._pending is not None:
            self._show(*self._pending)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self.come_into_view()

    def _multi_view(self, node_ids: list[str]) -> QWidget:
        design = self.document.design
        view = MultiView(node_ids)
        layout = QVBoxLayout(view)
        layout.setContentsMargins(12, 10, 12, 12)
        title = QLabel(f"{len(node_ids)} layers selected")
        title.setObjectName("inspectorTitle")
        layout.addWidget(title)
        view.total = _muted("")
        view.update_report(self.document.report)
        layout.addWidget(view.total)
        layout.addWidget(_section("Selection"))
        for nid in node_ids:
            node = design.node(nid)
            row = QHBoxLayout()
            chip = QLabel()
            chip.setPixmap(color_chip(category_color(node.layer.category), 10).pixmap(10, 10))
            row.addWidget(chip)
            row.addWidget(QLabel(node.name), 1)
            row.addWidget(_muted(node.layer.label, wrap=False))
            layout.addLayout(row)
        layout.addStretch(1)
        return view
