"""*File ▸ New from Template…* and *Edit ▸ Template Arguments…*: pick a template (MLP, LeNet-5,
VGG, ResNet — :mod:`graph.templates`), set its arguments, and see the network it makes before
creating it: a live picture of the design and its size (parameters, MACs, layers, top-level
nodes). The form is generated from each template's declared arguments."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from graph.design import Design
from graph.summary import counted, human_count, summarize
from graph.templates import (TEMPLATES, Template, TemplateArg, TemplateError, build,
                             edited_since_built, fits_builtin_data)
from graph.validate import validate

from .canvas.style import Theme
from .canvas.view import CanvasView
from .document import Document

PREVIEW_DELAY_MS = 150


class TemplateDialog(QDialog):
    """Choose a template and its arguments; :meth:`design` is the network made from them.

    With ``current`` (a design made from a template) the dialog edits that design's arguments:
    the template is fixed and the form starts from the arguments it remembers."""

    def __init__(self, parent: QWidget | None = None, current: Design | None = None):
        super().__init__(parent)
        self.setObjectName("templateDialog")
        fixed = current is not None and bool(current.template)
        self.setWindowTitle("Template Arguments" if fixed else "New from Template")
        self.resize(980, 620)
        self._design: Design | None = None
        self.editors: dict[str, QWidget] = {}
        self.list = QListWidget()
        self.list.setObjectName("templateList")
        for template in TEMPLATES.values():
            item = QListWidgetItem(template.title)
            item.setData(Qt.ItemDataRole.UserRole, template.name)
            item.setToolTip(template.doc)
            self.list.addItem(item)
        self.list.setMaximumWidth(170)
        self.doc = QLabel()
        self.doc.setWordWrap(True)
        self.doc.setObjectName("muted")
        self.form = QFormLayout()
        self.small = QCheckBox("Small variant for the built-in digits")
        self.small.setObjectName("smallVariant")
        self.small.toggled.connect(self._small_toggled)
        self.small_note = QLabel()  # what ticking or not means for this template
        self.small_note.setObjectName("muted")
        self.small_note.setWordWrap(True)
        # Template Arguments on a network edited since it was made: rebuilding leaves the
        # edits out, and the user should know before applying.
        self.edited_note = QLabel("You changed this network since it was made: applying builds "
                                  "it again from the template, without those changes (Undo "
                                  "brings them back).")
        self.edited_note.setObjectName("templateEdited")
        self.edited_note.setWordWrap(True)
        self.edited_note.setStyleSheet(f"color: {Theme.warning.name()};")
        self.facts = QLabel()
        self.facts.setObjectName("templateFacts")
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview_document = Document()
        self.preview = CanvasView(self.preview_document)
        self.preview.setInteractive(False)
        self.preview.setMinimumSize(420, 380)
        self.preview.resized.connect(self._frame_preview)  # the first network comes before
        # the dialog is laid out: it is framed again at the preview's size
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.create_button = self.buttons.addButton(
            "Apply" if fixed else "Create", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._layout_widgets()
        self.edited_note.setHidden(not (fixed and edited_since_built(current)))
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self.refresh)
        self.list.currentRowChanged.connect(lambda _row: self._template_chosen())
        start = {}
        if fixed:
            names = list(TEMPLATES)
            self.list.setCurrentRow(names.index(current.template["name"]))
            self.list.setEnabled(False)
            start = dict(current.template.get("args", {}))
        else:
            self.list.setCurrentRow(list(TEMPLATES).index("resnet"))
        self.set_args(start)
        if fixed:  # ticked when the design is its template's small variant
            small = self.template.small
            self._set_small(bool(small) and all(self.args().get(k) == v
                                                for k, v in small.items()))
        self.refresh()

    def _layout_widgets(self) -> None:
        side = QVBoxLayout()
        side.addWidget(self.doc)
        side.addLayout(self.form)
        side.addWidget(self.small)
        side.addWidget(self.small_note)
        side.addWidget(self.edited_note)
        side.addStretch(1)
        side.addWidget(self.facts)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setFixedWidth(300)
        row = QHBoxLayout()
        row.addWidget(self.list)
        row.addWidget(side_widget)
        row.addWidget(self.preview, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row, 1)
        layout.addWidget(self.buttons)

    # ---- the form ---------------------------------------------------------------------------------

    @property
    def template(self) -> Template:
        item = self.list.currentItem()
        return TEMPLATES[item.data(Qt.ItemDataRole.UserRole)]

    def _template_chosen(self) -> None:
        template = self.template
        self.doc.setText(template.doc)
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors = {arg.name: self._editor(arg) for arg in template.args}
        for arg in template.args:
            label = QLabel(arg.name.replace("_", " "))
            label.setToolTip(arg.doc)
            self.form.addRow(label, self.editors[arg.name])
        self.small.setEnabled(bool(template.small))
        # Ticked when the full size needs data of the user's: the small variant is what trains
        # on the built-in datasets.
        small = bool(template.small) and not fits_builtin_data(template.name)
        self._set_small(small)
        if small:
            self._small_toggled(True)
        self._timer.start()

    def _set_small(self, on: bool) -> None:
        self.small.blockSignals(True)
        self.small.setChecked(on)
        self.small.blockSignals(False)
        self._explain_small()

    def _explain_small(self) -> None:
        """Say what the small variant is and what the full size needs, for this template."""
        template = self.template
        small = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in template.small.items())
        full_fits = fits_builtin_data(template.name)
        full = ("The full size trains on the built-in digits too." if full_fits else
                "The full size needs your own data (choose it in the Data panel).")
        if not template.small:
            note = "This template has no small variant: " + full[0].lower() + full[1:]
        elif self.small.isChecked():
            note = "Trains on the built-in 8×8 digits in seconds. " + full
        else:
            note = "Full size: " + full.removeprefix("The full size ")
        self.small_note.setText(note)
        self.small.setToolTip(
            f"Ticked: the template's small arguments ({small}), which train on the built-in "
            "8×8 digits in seconds on a laptop CPU. Unticked: the template's full size."
            if template.small else "This template has no small variant.")

    def _editor(self, arg: TemplateArg) -> QWidget:
        if isinstance(arg.default, bool):
            editor = QCheckBox()
            editor.setChecked(arg.default)
            editor.toggled.connect(lambda _v: self._timer.start())
        elif arg.choices:
            editor = QComboBox()
            for choice in arg.choices:
                editor.addItem(str(choice), choice)
            editor.setCurrentIndex(arg.choices.index(arg.default))
            editor.currentIndexChanged.connect(lambda _i: self._timer.start())
        else:
            editor = QSpinBox()
            editor.setRange(arg.min, min(arg.max, 2**31 - 1))
            editor.setValue(arg.default)
            editor.valueChanged.connect(lambda _v: self._timer.start())
        editor.setToolTip(arg.doc)
        editor.setObjectName(f"arg_{arg.name}")
        return editor

    def args(self) -> dict[str, Any]:
        """The arguments as the form shows them."""
        out: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if isinstance(editor, QCheckBox):
                out[name] = editor.isChecked()
            elif isinstance(editor, QComboBox):
                out[name] = editor.currentData()
            else:
                out[name] = editor.value()
        return out

    def set_args(self, args: dict[str, Any]) -> None:
        """Show ``args`` in the form (others keep their values)."""
        for name, value in args.items():
            editor = self.editors.get(name)
            if isinstance(editor, QCheckBox):
                editor.setChecked(bool(value))
            elif isinstance(editor, QComboBox):
                index = editor.findData(value)
                if index >= 0:
                    editor.setCurrentIndex(index)
            elif isinstance(editor, QSpinBox):
                editor.setValue(int(value))
        self._timer.start()

    def _small_toggled(self, on: bool) -> None:
        self._explain_small()
        template = self.template
        self.set_args(template.small if on else {a.name: a.default for a in template.args
                                                  if a.name in template.small})

    # ---- the preview --------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Build the design from the form and show it (or why it cannot be built)."""
        self._timer.stop()
        try:
            design = build(self.template.name, self.args())
        except TemplateError as exc:
            self._design = None
            self.facts.setText(f"<span style='color:#ff5a52'>{exc}</span>")
            self.create_button.setEnabled(False)
            return
        self._design = design
        report = validate(design)
        summary = summarize(design, report.inference)
        self.facts.setText(
            f"<b>{design.name}</b><br>{summary.total_params:,} parameters · "
            f"{human_count(summary.total_macs)} MACs<br>{summary.total_layers} layers in "
            f"{summary.nodes} top-level nodes"
            + ("" if report.ok else f"<br><span style='color:#ffb020'>"
               f"{counted(len(report.errors), 'problem')} to fix after creating</span>"))
        self.preview_document.replace(design.copy())
        self._frame_preview()
        self.create_button.setEnabled(True)

    def _frame_preview(self) -> None:
        """Show the whole network (again after the preview changed size: the first network is
        built before the dialog is laid out)."""
        self.preview.fit_all(readable=False)

    def design(self) -> Design | None:
        """The design the current arguments make (None while they make none)."""
        if self._timer.isActive():
            self.refresh()
        return self._design

    def done(self, result: int) -> None:  # noqa: D102 (Qt API)
        self.preview.close()
        super().done(result)
