"""File ▸ Import… and File ▸ Load Weights…: bring models and pretrained weights in.

:class:`ImportDialog` converts an ONNX file, a ``torch.export`` program or a Python class (the
last two run code: they need an explicit "I trust this file") on a worker thread, shows what
could not be mapped, and saves the design with its weights beside it. :class:`LoadWeightsDialog`
shows how a weights file matches the design — matched, missing, unexpected and shape-mismatched
tensors — before anything is applied.
"""
from __future__ import annotations

import collections
import json
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
                               QSizePolicy, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from graph.summary import counted

from .training.tasks import run_task

SOURCE_FILTER = "Models (*.onnx *.pt2 *.py);;ONNX (*.onnx);;torch.export (*.pt2);;Python (*.py)"
WEIGHTS_FILTER = "Weights (*.safetensors *.pt *.pth *.bin)"


def _table(headers: list[str], rows: list[tuple[str, ...]]) -> QTableWidget:
    table = QTableWidget(len(rows), len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.setItem(r, c, QTableWidgetItem(value))
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _message_label(name: str) -> QLabel:
    """A status line that wraps any message, however long, within the dialog's width (a long
    path or error never widens the dialog and pushes its buttons off the screen)."""
    label = QLabel("")
    label.setObjectName(name)
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def unmapped_rows(unmapped) -> list[tuple[str, str, str, str]]:
    """One row per operator: name, count, places, reason."""
    groups = collections.defaultdict(list)
    for item in unmapped:
        groups[item.op].append(item)
    return [(op, str(len(items)), ", ".join(i.place for i in items[:6])
             + (" …" if len(items) > 6 else ""), items[0].reason)
            for op, items in sorted(groups.items(), key=lambda kv: -len(kv[1]))]


class ImportDialog(QDialog):
    """Choose a source, convert it, see what could not be mapped, save and open the design."""

    imported = Signal(str)  # the saved design's path

    def __init__(self, parent: QWidget | None = None, start_dir: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Import Model")
        self.setObjectName("importDialog")
        self.resize(760, 480)
        self.start_dir = start_dir
        self.result_obj = None
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Bring a model in as a design: an ONNX file, a torch.export "
                                "program (.pt2), or an nn.Module class from a Python file."))
        form = QFormLayout()
        row = QHBoxLayout()
        self.source = QLineEdit()
        self.source.setPlaceholderText("model.onnx, program.pt2 or nets.py")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.source, 1)
        row.addWidget(browse)
        form.addRow("Source", row)
        self.class_name, self.args, self.shape = QLineEdit(), QLineEdit(), QLineEdit()
        form.addRow("Class", self.class_name)
        form.addRow("Arguments", self.args)
        form.addRow("Input shape", self.shape)
        layout.addLayout(form)
        self.warning = QLabel()
        self.warning.setObjectName("feedback")
        self.warning.setWordWrap(True)
        self.trust = QCheckBox("I trust this file: run its code in a separate process")
        layout.addWidget(self.warning)
        layout.addWidget(self.trust)
        self.placeholders = QCheckBox("Bring unsupported operators in as placeholder nodes "
                                      "(marked as errors)")
        layout.addWidget(self.placeholders)
        self.flat = QCheckBox("Keep every layer at the top level (no blocks for submodules)")
        self.flat.setToolTip("By default each submodule (layer1, layer1.0 …) becomes a block "
                             "instance and alike submodules share one block.")
        layout.addWidget(self.flat)
        self.status = _message_label("importStatus")
        layout.addWidget(self.status)
        self.table = _table(["operator", "count", "where", "why"], [])
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = buttons.addButton("Import", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button = buttons.addButton("Save and Open…", QDialogButtonBox.ButtonRole.AcceptRole)
        self.open_button.setEnabled(False)
        self.import_button.setDefault(True)  # Enter imports; once imported, it saves and opens
        self.import_button.clicked.connect(self.start_import)
        self.open_button.clicked.connect(self._save_and_open)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._trusted_file = ""  # the file the "I trust this file" tick was given for
        self.source.textChanged.connect(self._source_changed)
        self.source.editingFinished.connect(self._split_source)
        for field in (self.class_name, self.args, self.shape):
            field.textChanged.connect(self._inputs_changed)
        self.trust.toggled.connect(self._trust_toggled)
        self._refresh()

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import model", self.start_dir, SOURCE_FILTER)
        if path:
            self.source.setText(path)

    def spec(self) -> str:
        """What to import: the Source, with the Class field for a Python file."""
        from runtime.importers import python_source

        file, class_name = python_source(self.source.text().strip())
        class_name = class_name or self.class_name.text().strip()
        return f"{file}:{class_name}" if file.endswith(".py") and class_name else file

    def _split_source(self) -> None:
        """``nets.py:DigitCNN`` typed as the Source: the class goes into the Class field (the
        Source's class wins, it was typed last), so the two fields never disagree."""
        from runtime.importers import python_source

        file, class_name = python_source(self.source.text().strip())
        if class_name:
            self.class_name.setText(class_name)
            self.source.setText(file)

    def _source_changed(self, text: str) -> None:
        """Another source: what was said about the last one goes, and so does the trust given
        to another file."""
        from runtime.importers import python_source

        if python_source(text.strip())[0] != self._trusted_file:
            self.trust.setChecked(False)
        self._inputs_changed()

    def _inputs_changed(self) -> None:
        """An input changed: the last result or failure no longer describes it."""
        self.result_obj = None
        self.status.setText("")
        self.table.setRowCount(0)
        self.open_button.setEnabled(False)
        self.import_button.setDefault(True)
        self._refresh()

    def _trust_toggled(self, on: bool) -> None:
        from runtime.importers import python_source

        self._trusted_file = python_source(self.source.text().strip())[0] if on else ""
        self._refresh()

    def _refresh(self) -> None:
        """Enable what applies to the source: the class fields for a Python file only, and
        Import once a source that runs code is trusted."""
        from runtime.importers import CODE_WARNING, needs_code, python_source

        text = self.source.text().strip()
        code = needs_code(text)
        python = python_source(text)[0].endswith(".py")
        for widget, hint in ((self.class_name, "ClassName"),
                             (self.args, 'constructor arguments as JSON, e.g. {"num_classes": 10}'),
                             (self.shape, "input shape without the batch, e.g. [3, 224, 224]")):
            widget.setEnabled(python)
            widget.setPlaceholderText(hint if python else "only for a Python file's class")
        self.warning.setText(CODE_WARNING if code else "")
        self.warning.setVisible(code)
        self.trust.setVisible(code)
        self.import_button.setEnabled(bool(text) and (not code or self.trust.isChecked()))

    def _json_field(self, field: QLineEdit, label: str, example: str):
        """The JSON in ``field`` (None when empty); raises ValueError naming the field."""
        text = field.text().strip()
        try:
            return json.loads(text) if text else None
        except ValueError as exc:
            raise ValueError(f"{label} must be JSON, such as {example} ({exc})") from None

    def start_import(self) -> None:
        from runtime.importers import UnsupportedModel, import_model

        self._split_source()
        spec = self.spec()
        if spec.endswith(".py"):
            name = Path(spec).name
            self._show_error(f"{name}: name the nn.Module class to import (Class field, or "
                             f"{name}:ClassName)")
            return
        try:
            args = self._json_field(self.args, "Arguments", '{"num_classes": 10}')
            shape = self._json_field(self.shape, "Input shape", "[1, 8, 8]")
        except ValueError as exc:
            self._show_error(str(exc))
            return
        placeholders, trusted = self.placeholders.isChecked(), self.trust.isChecked()
        flat = self.flat.isChecked()

        def work():
            try:
                return import_model(spec, placeholders=placeholders, allow_code=trusted,
                                    input_shape=shape, args=args, flat=flat)
            except UnsupportedModel as exc:
                return exc

        self.import_button.setEnabled(False)
        self.open_button.setEnabled(False)
        self.status.setText(f"Importing {spec} …")
        run_task(work, self.show_result, self._show_error, receiver=self,
                 needs=("runtime.importers", "runtime.importers.onnx_import",
                        "runtime.importers.torch_import", "onnx", "onnxruntime"))

    def show_result(self, result) -> None:
        from graph.shapes import infer
        from runtime.importers import UnsupportedModel, preprocessing_note

        self._refresh()
        self.result_obj = None if isinstance(result, UnsupportedModel) else result
        unmapped = result.unmapped
        self._fill(unmapped_rows(unmapped))
        if isinstance(result, UnsupportedModel):
            self.status.setText(f"Cannot import: {counted(len(unmapped), 'operator')} "
                                f"{'has' if len(unmapped) == 1 else 'have'} no Netwright "
                                "layer (below). Tick “placeholders” to bring them in as nodes "
                                "marked as errors, to replace by hand.")
            return
        design = result.design
        text = f"Imported {len(design)} nodes"
        if len(design.blocks):
            count = len(design.blocks)
            text += f" ({count} block{'s' if count != 1 else ''} for its submodules)"
        if not unmapped:
            text += f", {infer(design).total_params:,} parameters"
        if result.max_diff is not None:
            text += f"; outputs match the source on random inputs (max difference {result.max_diff:.2g})"
        if unmapped:
            text += f"; {counted(len(unmapped), 'placeholder')} to replace (below)"
        notes = [*result.notes, preprocessing_note(design)]
        self.status.setText(text + "." + "".join(f"\n{note}" for note in notes))
        self.open_button.setEnabled(True)
        self.open_button.setDefault(True)
        self.open_button.setFocus()

    def _fill(self, rows) -> None:
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(value))

    def _show_error(self, message: str) -> None:
        self._refresh()
        self.status.setText(f"Import failed: {message}")

    def _save_and_open(self) -> None:
        from runtime.importers import save_imported

        if self.result_obj is None:
            return
        source = Path(self.source.text().strip())
        start = str(source.with_suffix(".json")) if source.name else self.start_dir
        path, _ = QFileDialog.getSaveFileName(self, "Save imported design", start,
                                              "Designs (*.json)")
        if not path:
            return
        path = Path(path).with_suffix(".json")
        try:
            save_imported(self.result_obj, path)
        except OSError as exc:
            self._show_error(f"cannot save {path}: {exc}")
            return
        self.imported.emit(str(path))
        self.accept()


class LoadWeightsDialog(QDialog):
    """Match a weights file against the design and show the table before applying it."""

    matched = Signal()  # a match finished: the table, status and preview show its result

    def __init__(self, design, design_path: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Load Weights")
        self.setObjectName("loadWeightsDialog")
        self.resize(820, 520)
        self.design, self.design_path, self.preview = design, Path(design_path), None
        self._pending = ""  # the file being matched
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.source = QLineEdit()
        self.source.setPlaceholderText("weights.safetensors, or a .pt/.pth state dict")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.source, 1)
        row.addWidget(browse)
        layout.addLayout(row)
        note = QLabel("Tensors are matched by name, then by shape in order where names differ. "
                      "Nothing changes until you apply; missing tensors keep their current values.")
        note.setWordWrap(True)
        layout.addWidget(note)
        self.status = _message_label("weightsStatus")
        layout.addWidget(self.status)
        self.table = _table(["status", "design tensor", "file tensor", "shape"], [])
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.apply_button = buttons.addButton("Apply", QDialogButtonBox.ButtonRole.AcceptRole)
        self.apply_button.setEnabled(False)
        buttons.rejected.connect(self.reject)
        self.apply_button.clicked.connect(self.accept)
        layout.addWidget(buttons)
        self.source.editingFinished.connect(self._source_finished)

    def _source_finished(self) -> None:
        """Match what was typed — not when the field loses focus as the dialog goes away (its
        buttons may be gone already)."""
        if self.isVisible():
            self.match(self.source.text().strip())

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load weights", str(self.design_path.parent),
                                              WEIGHTS_FILTER)
        if path:
            self.source.setText(path)
            self.match(path)

    def match(self, path: str) -> None:
        """Match ``path`` in the background (reading the file and building the model with its
        weights can take a while) and fill the table; nothing is applied. ``matched`` follows."""
        if not path:
            return
        design = self.design.copy()
        base = self.design_path.parent
        self._pending = path
        self.apply_button.setEnabled(False)
        self.status.setText(f"Matching {path} …")

        def work():
            from runtime.compiler import CompileError
            from runtime.weights import WeightsError, preview_weights

            try:
                return preview_weights(design, base, path)
            except WeightsError as exc:  # names the file
                return str(exc)
            except CompileError as exc:
                return f"Cannot match weights to this design: {exc}"

        run_task(work, lambda result: self._show_match(path, result),
                 lambda message: self._show_match(path, f"Cannot use {Path(path).name}: {message}"),
                 receiver=self, needs=("runtime.weights", "runtime.compiler"))

    def _show_match(self, path: str, result) -> None:
        if path != self._pending:
            return  # another file was chosen meanwhile
        self.preview = None if isinstance(result, str) else result
        if self.preview is None:
            self.status.setText(result)
            self.table.setRowCount(0)  # the table showed another file
            self.matched.emit()
            return
        rows = self.preview.rows()
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                item = QTableWidgetItem(value)
                if c == 0 and not value.startswith("matched"):
                    item.setForeground(Qt.GlobalColor.darkYellow)
                self.table.setItem(r, c, item)
        self.status.setText(self.preview.matching.describe())
        self.apply_button.setEnabled(self.preview.matching.ok)
        self.matched.emit()

    def apply(self) -> str:
        """Write ``<design>.safetensors`` and return its name (the caller records it)."""
        from runtime.weights import adopt_weights

        twin = self.design.copy()
        adopt_weights(self.preview, twin, self.design_path)
        return twin.initial_weights
