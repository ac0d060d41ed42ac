"""The inspector: edits the selected layer, or the design's dataset and training settings.

Every form is generated from declarations — a layer's :class:`~graph.catalog.Param` list, and
:data:`~graph.settings.TRAINING_PARAMS`, :data:`~graph.settings.DATASETS` and
:data:`~graph.settings.DATA_PARAMS` — so a new layer or setting needs no inspector code.

Each edit is an undo command (:class:`ParamEdit`, :class:`SettingsEdit`, rename). The changes of
one gesture (dragging a spin box, typing a number) merge into one undo step; the step is sealed
when the editor reports it is finished, so the next gesture starts a new one. The inspector
follows the model: an undo updates the editors (with their signals blocked, so nothing is
pushed back).
"""
from __future__ import annotations

import copy
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QUndoCommand
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from graph.catalog import Param, fmt_shape
from graph.design import Design, Node
from graph.settings import DATA_PARAMS, DATASETS, TRAINING_PARAMS
from graph.summary import human_count
from graph.validate import ERROR, Diagnostic, Report
from ui.canvas.style import category_color
from ui.commands import RenameNodeCommand, SetParamCommand, SetParamsCommand, SetSettingsCommand
from ui.document import Document
from ui.palette import color_chip
from ui.widgets.params import ParamEditor, StrEditor, compact_combo, make_editor, set_invalid

# ---- undo commands that merge within one gesture only -------------------------------------------


class _Sealable:
    """Mixin: once :attr:`sealed`, a command no longer absorbs later edits."""

    sealed = False

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt name)
        return not self.sealed and super().mergeWith(other)


class ParamEdit(_Sealable, SetParamCommand):
    """A param change made in the inspector."""


class SettingsEdit(_Sealable, SetSettingsCommand):
    """A dataset or training-setting change made in the inspector."""


class RenameEdit(_Sealable, RenameNodeCommand):
    """A rename made in the inspector."""


class EditSession:
    """Pushes the inspector's commands and seals the open one when a gesture ends, or when
    anything else moves the undo stack (an undo, another view's command)."""

    def __init__(self, document: Document):
        self.document = document
        self._open: _Sealable | None = None
        self._index = -1
        document.undo_stack.indexChanged.connect(self._index_changed)

    def push(self, command: QUndoCommand) -> None:
        stack = self.document.undo_stack
        before = stack.index()
        self._index = -1  # ignore the index change of our own push
        self.document.push(command)
        merged = stack.index() == before and self._open is not None
        if not merged:
            self._open = command
        self._index = stack.index()

    def seal(self) -> None:
        if self._open is not None:
            self._open.sealed = True
            self._open = None

    def _index_changed(self, index: int) -> None:
        if self._index != -1 and index != self._index:
            self.seal()


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


def _diagnostic_label(d: Diagnostic, design: Design | None = None) -> QLabel:
    text = d.message + (f"<br><span style='color:#9aa3b2'>fix: {d.fix}</span>" if d.fix else "")
    label = QLabel(f"<b>{'Error' if d.severity == ERROR else 'Warning'}:</b> {text}")
    label.setObjectName("diagError" if d.severity == ERROR else "diagWarning")
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _clear_layout(layout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        if item.widget() is not None:
            item.widget().deleteLater()
        elif item.layout() is not None:
            _clear_layout(item.layout())


# ---- one layer ---------------------------------------------------------------------------------------


def _diagnostics_section(layout: QVBoxLayout, title: str) -> QVBoxLayout:
    """A titled list of diagnostics closing a page (filled by :func:`_show_diagnostics`)."""
    layout.addWidget(_section(title))
    box = QVBoxLayout()
    box.setSpacing(4)
    layout.addLayout(box)
    layout.addStretch(1)
    return box


def _show_diagnostics(box: QVBoxLayout, diagnostics: list[Diagnostic], empty_text: str) -> None:
    _clear_layout(box)
    for d in diagnostics:
        box.addWidget(_diagnostic_label(d))
    if not diagnostics:
        box.addWidget(_muted(empty_text))


class NodeView(QWidget):
    """Name, type doc, params, shapes, parameter count and diagnostics of one node."""

    def __init__(self, document: Document, node_id: str, session: EditSession,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.document, self.node_id, self.session = document, node_id, session
        self.design = document.design
        self.detached = False  # set when the inspector stops showing this view
        node = self.node
        layer = node.layer
        self.editors: dict[str, ParamEditor] = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.setSpacing(8)

        head = QHBoxLayout()
        chip = QLabel()
        chip.setPixmap(color_chip(category_color(layer.category), 14).pixmap(14, 14))
        title = QLabel(layer.label)
        title.setObjectName("inspectorTitle")
        head.addWidget(chip)
        head.addWidget(title, 1)
        category = _muted(layer.category, wrap=False)
        head.addWidget(category)
        layout.addLayout(head)
        self.doc_label = _muted(layer.doc)
        layout.addWidget(self.doc_label)

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

        layout.addWidget(_section("Parameters"))
        if layer.params:
            form = _form()
            resolved = node.resolved_params()
            for param in layer.params:
                editor = make_editor(param, resolved[param.name])
                editor.setObjectName(f"param_{param.name}")
                editor.edited.connect(lambda value, name=param.name: self._param_edited(name, value))
                editor.finished.connect(session.seal)
                form.addRow(_param_label(param), editor)
                self.editors[param.name] = editor
            layout.addLayout(form)
            self.reset_button = QPushButton("Reset to defaults")
            self.reset_button.setObjectName("flat")
            self.reset_button.setToolTip("Set every parameter of this layer back to its default")
            self.reset_button.clicked.connect(self._reset)
            row = QHBoxLayout()
            row.addStretch(1)
            row.addWidget(self.reset_button)
            layout.addLayout(row)
        else:
            self.reset_button = None
            layout.addWidget(_muted("This layer has no parameters."))

        layout.addWidget(_section("Shapes"))
        self.facts = _form()
        layout.addLayout(self.facts)

        self.diagnostics = _diagnostics_section(layout, "Diagnostics")

        self.sync()
        self.update_report(document.report)

    @property
    def node(self) -> Node:
        return self.document.design.node(self.node_id)

    def active(self) -> bool:
        """Whether edits from this view may still reach the model (a view being replaced can
        still get a late focus-out from one of its fields)."""
        return (not self.detached and self.document.design is self.design
                and self.design.has_node(self.node_id))

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
        if self.reset_button is not None:
            self.reset_button.setEnabled(resolved != node.layer.defaults())

    def update_report(self, report: Report) -> None:
        inference = report.inference
        nid = self.node_id
        layer = self.node.layer
        _clear_layout(self.facts)
        design = self.document.design
        if layer.inputs:
            links = design.in_edges(nid)
            shapes = [fmt_shape(inference.shapes.get(e.src)) for e in links]
            self.facts.addRow(QLabel("Input" + ("s" if len(links) > 1 else "")),
                              self._fact(", ".join(shapes) if links else "not connected"))
        if layer.outputs:
            shape = inference.shapes.get(nid)
            self.facts.addRow(QLabel("Output"), self._fact(
                fmt_shape(shape) if shape is not None else "? (see the diagnostics)"))
        self.facts.addRow(QLabel("Parameters"), self._fact(f"{inference.params.get(nid, 0):,}"))
        self.facts.addRow(QLabel("MACs"), self._fact(human_count(inference.macs.get(nid, 0))))

        mine = report.for_node(nid)
        _show_diagnostics(self.diagnostics, mine, "No problems.")
        flagged = {d.param: d.message for d in mine if d.param}
        for name, editor in self.editors.items():
            target = editor.focusProxy() or editor
            if bool(target.property("invalid")) != (name in flagged):
                set_invalid(target, flagged.get(name), editor.param.doc)

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
        if param.check(value) is not None or node.resolved_params()[name] == value:
            return
        self.session.push(ParamEdit(self.document.design, self.node_id, name, value))

    def _reset(self) -> None:
        if not self.active():
            return
        self.session.seal()
        self.session.push(SetParamsCommand(self.document.design, self.node_id, {}))
        self.session.seal()

    def name_problem(self, name: str) -> str | None:
        if not name:
            return "A layer needs a name."
        other = self.document.design.node_by_name(name)
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
        self.session.push(RenameEdit(self.document.design, self.node_id, name))
        self.session.seal()


# ---- dataset and training ------------------------------------------------------------------------------


class SettingsView(QWidget):
    """The design's dataset (and its options), split settings and training settings."""

    FILE_OPTIONS = {"path", "images", "labels"}

    def __init__(self, document: Document, session: EditSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.document, self.session = document, session
        self.detached = False
        self._design = document.design
        self.data_editors: dict[str, ParamEditor] = {}
        self.option_editors: dict[str, ParamEditor] = {}
        self.training_editors: dict[str, ParamEditor] = {}
        self._options_for: str | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.setSpacing(8)
        title = QLabel("Dataset & training")
        title.setObjectName("inspectorTitle")
        layout.addWidget(title)
        layout.addWidget(_muted("These settings belong to the whole design. Select a layer on the "
                                "canvas to edit it."))

        layout.addWidget(_section("Dataset"))
        self.dataset = compact_combo(QComboBox(), 10)
        self.dataset.setObjectName("datasetCombo")
        for name, spec in DATASETS.items():
            self.dataset.addItem(f"{name}  ·  {spec.kind}", name)
            self.dataset.setItemData(self.dataset.count() - 1, spec.doc, Qt.ItemDataRole.ToolTipRole)
        self.dataset.activated.connect(self._dataset_chosen)
        form = _form()
        label = QLabel("dataset")
        label.setObjectName("paramLabel")
        form.addRow(label, self.dataset)
        layout.addLayout(form)
        self.dataset_doc = _muted()
        layout.addWidget(self.dataset_doc)
        self.options_form = _form()
        layout.addLayout(self.options_form)

        layout.addWidget(_section("Split"))
        form = _form()
        for param in DATA_PARAMS:
            editor = self._editor(param, lambda name, v: self._data_edited(name, v))
            form.addRow(_param_label(param), editor)
            self.data_editors[param.name] = editor
        layout.addLayout(form)

        layout.addWidget(_section("Training"))
        form = _form()
        for param in TRAINING_PARAMS:
            editor = self._editor(param, lambda name, v: self._training_edited(name, v))
            form.addRow(_param_label(param), editor)
            self.training_editors[param.name] = editor
        layout.addLayout(form)

        self.diagnostics = _diagnostics_section(layout, "Design diagnostics")

        self.sync()
        self.update_report(document.report)

    @property
    def design(self) -> Design:
        return self.document.design

    def _editor(self, param: Param, on_edit: Callable[[str, Any], None]) -> ParamEditor:
        editor = make_editor(param)
        editor.setObjectName(f"setting_{param.name}")
        editor.edited.connect(lambda value, name=param.name: on_edit(name, value))
        editor.finished.connect(self.session.seal)
        return editor

    # model → view
    def sync(self) -> None:
        data, training = self.design.data, self.design.training
        name = data.get("name")
        index = self.dataset.findData(name)
        if index >= 0 and index != self.dataset.currentIndex():
            self.dataset.blockSignals(True)
            self.dataset.setCurrentIndex(index)
            self.dataset.blockSignals(False)
        spec = DATASETS.get(name)
        if name != self._options_for:
            self._build_options()
        if spec is not None:
            options = spec.resolve(data.get("options", {}))
            for key, editor in self.option_editors.items():
                editor.set_value(options[key])
        for key, editor in self.data_editors.items():
            if key in data:
                editor.set_value(data[key])
        for key, editor in self.training_editors.items():
            if key in training:
                editor.set_value(training[key])

    def _build_options(self) -> None:
        _clear_layout(self.options_form)
        self.option_editors = {}
        name = self.design.data.get("name")
        self._options_for = name
        spec = DATASETS.get(name)
        self.dataset_doc.setText(spec.doc if spec else f"Unknown dataset {name!r}.")
        if spec is None:
            return
        for param in spec.options:
            editor = self._editor(param, lambda key, v: self._option_edited(key, v))
            self.option_editors[param.name] = editor
            if param.name in self.FILE_OPTIONS and isinstance(editor, StrEditor):
                field = QWidget()
                row = QHBoxLayout(field)
                row.setContentsMargins(0, 0, 0, 0)
                row.setSpacing(4)
                row.addWidget(editor, 1)
                browse = QToolButton()
                browse.setText("…")
                browse.setToolTip("Choose " + ("a folder" if name == "images" else "a file"))
                browse.clicked.connect(lambda _=False, p=param, e=editor, n=name: self._browse(p, e, n))
                row.addWidget(browse)
                self.options_form.addRow(_param_label(param), field)
            else:
                self.options_form.addRow(_param_label(param), editor)
        self._align_labels()

    def _align_labels(self) -> None:
        """One label column across the separate forms, so the editors line up."""
        labels = [label for label in self.findChildren(QLabel, "paramLabel")
                  if label.parent() is not None]
        for label in labels:
            label.ensurePolished()
        width = max((label.fontMetrics().horizontalAdvance(label.text()) for label in labels),
                    default=0)
        for label in labels:
            label.setMinimumWidth(width + 4)

    def update_report(self, report: Report) -> None:
        general = [d for d in report.diagnostics if d.node is None]
        _show_diagnostics(self.diagnostics, general,
                          "No problems with the dataset or training settings.")

    # view → model
    def _push(self, section: str, value: dict[str, Any], text: str) -> None:
        if self.detached or self.document.design is not self._design:
            return
        if value != getattr(self.design, section):
            self.session.push(SettingsEdit(self.design, section, value, text))

    def _dataset_chosen(self, index: int) -> None:
        name = self.dataset.itemData(index)
        if name == self.design.data.get("name"):
            return
        data = copy.deepcopy(self.design.data)
        data["name"] = name
        data["options"] = DATASETS[name].resolve({})
        self.session.seal()
        self._push("data", data, f"Use dataset {name}")
        self.session.seal()

    def _option_edited(self, key: str, value: Any) -> None:
        data = copy.deepcopy(self.design.data)
        data.setdefault("options", {})[key] = value
        self._push("data", data, f"Set dataset {key}")

    def _data_edited(self, key: str, value: Any) -> None:
        data = copy.deepcopy(self.design.data)
        data[key] = value
        self._push("data", data, f"Set {key}")

    def _training_edited(self, key: str, value: Any) -> None:
        training = copy.deepcopy(self.design.training)
        training[key] = value
        self._push("training", training, f"Set {key}")

    def _browse(self, param: Param, editor: StrEditor, dataset: str) -> None:
        if dataset == "images":
            path = QFileDialog.getExistingDirectory(self, f"Choose the {dataset} folder",
                                                    editor.value())
        else:
            path, _ = QFileDialog.getOpenFileName(self, f"Choose the {param.name} file", editor.value())
        if path:
            editor.set_value(path)
            self.session.seal()
            self._option_edited(param.name, path)
            self.session.seal()


# ---- the dock widget ------------------------------------------------------------------------------


class Inspector(QWidget):
    """Shows :class:`NodeView` for one selected layer, a short list for several, and
    :class:`SettingsView` when nothing is selected. Call :meth:`show_nodes` with the selection."""

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("inspector")
        self.document = document
        self.session = EditSession(document)
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
        self._design = design
        design.node_changed.connect(self._node_changed)
        design.node_removed.connect(self._node_removed)
        design.settings_changed.connect(self._settings_changed)

    def _design_replaced(self, design: Design) -> None:
        self._bind(design)
        self.session.seal()
        self.view = None  # every view belongs to the old design: build afresh, even the settings
        self.show_nodes([])

    def _node_changed(self, node: Node, field: str) -> None:
        if isinstance(self.view, NodeView) and self.view.node_id == node.id and field != "position":
            self.view.sync()

    def _node_removed(self, node: Node) -> None:
        if node.id in self.node_ids:
            self.show_nodes([nid for nid in self.node_ids if nid != node.id])

    def _settings_changed(self, _section: str) -> None:
        if isinstance(self.view, SettingsView):
            self.view.sync()

    def _report_changed(self, report: Report) -> None:
        if isinstance(self.view, (NodeView, SettingsView)):
            self.view.update_report(report)

    # ---- what is shown ----------------------------------------------------------------------------

    def show_nodes(self, node_ids: list[str]) -> None:
        """Show the layer when one is selected, the settings when none, a list for several."""
        design = self.document.design
        node_ids = [nid for nid in node_ids if design.has_node(nid)]
        if (node_ids == self.node_ids and self.view is not None
                and not (len(node_ids) > 1 and isinstance(self.view, NodeView))):
            return
        self.session.seal()
        self.node_ids = list(node_ids)
        if len(node_ids) == 1:
            view: QWidget = NodeView(self.document, node_ids[0], self.session)
        elif not node_ids:
            view = SettingsView(self.document, self.session)
        else:
            view = self._multi_view(node_ids)
        old = self.scroll.takeWidget()
        if old is not None:
            old.detached = True
            old.deleteLater()
        self.view = view
        self.scroll.setWidget(view)

    def _multi_view(self, node_ids: list[str]) -> QWidget:
        design = self.document.design
        view = QWidget()
        layout = QVBoxLayout(view)
        layout.setContentsMargins(12, 10, 12, 12)
        title = QLabel(f"{len(node_ids)} layers selected")
        title.setObjectName("inspectorTitle")
        layout.addWidget(title)
        inference = self.document.report.inference
        total = sum(inference.params.get(nid, 0) for nid in node_ids)
        layout.addWidget(_muted(f"{total:,} parameters together. Select a single layer to edit it."))
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
