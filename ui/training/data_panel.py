"""The data panel: choose the dataset, see what it holds, and fit the Input to it.

The dataset choice (built-in, synthetic, CSV with a column picker, ``.npz``, image folder, IDX
files) and the split settings are the design's ``data`` section; each edit gesture is one undo
step (:mod:`ui.editing`). After each change the data is read on the thread pool by
:func:`runtime.analysis.preview_data` and shown as a table (tabular data), a thumbnail grid
(images) or a scatter (2-D points), with sample shape, class counts and split sizes. When the
Input layer expects another shape, "Set Input shape" fixes it as one undoable edit; file datasets
also tell the document their shape so the canvas shows the mismatch as an error.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QStackedWidget, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from graph.catalog import fmt_shape
from graph.design import Design
from graph.settings import DATA_PARAMS, DATASETS

from ..commands import SetParamCommand
from ..document import Document
from ..editing import SettingsEdit
from ..loading import heavy_imports
from .form import ParamForm
from .results import THUMB, thumbnail
from .tasks import adopt_popups, run_task
from .theme import ERROR, PALETTE, style_plot

KIND_TITLES = {"builtin": "Built-in", "synthetic": "Synthetic", "file": "From a file"}
FILE_FILTERS = {
    "csv": "CSV files (*.csv *.tsv *.txt);;All files (*)",
    "npz": "NumPy archives (*.npz);;All files (*)",
    "idx": "IDX files (*ubyte* *.idx*);;All files (*)",
}
COLUMN_OPTIONS = ("target", "features")  # the CSV options the Columns box edits
PATH_ROOM = "wine_quality_red.csv"  # a path field is at least this wide
PREVIEW_DELAY_MS = 250  # typing in a field re-reads the data once it pauses


def _preview(data: dict, base_dir: str | None):
    from runtime.analysis import preview_data

    return preview_data(data, base_dir)


def _columns(path: str, options: dict) -> list[str]:
    from runtime.analysis import csv_columns

    return csv_columns(path, options)


def input_mismatch(name: str, declared, sample_shape) -> str:
    """Why the Input does not fit the data, read as a sentence (“The Input layer “image”
    takes …”, never “The Input input takes …”)."""
    return (f"The Input layer “{name}” takes samples of shape {fmt_shape(declared)}, but this "
            f"dataset's samples are {fmt_shape(sample_shape)}.")


class DataPanel(QWidget):
    """Edits the design's dataset choice and previews it."""

    previewed = Signal(object)  # runtime.analysis.DataPreview

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.design: Design | None = None
        self.preview = None
        self._request: Any = None
        self._answered: Any = None  # the last request whose answer is on screen

        self.dataset_combo = QComboBox()
        self.dataset_combo.setObjectName("dataset")
        for kind in ("builtin", "synthetic", "file"):
            for name, spec in DATASETS.items():
                if spec.kind == kind:
                    self.dataset_combo.addItem(
                        spec.title if kind == "file"  # "CSV file" says it already
                        else f"{spec.title} ({KIND_TITLES[kind].lower()})", name)
                    self.dataset_combo.setItemData(self.dataset_combo.count() - 1, spec.doc,
                                                   Qt.ItemDataRole.ToolTipRole)
        self.dataset_combo.activated.connect(self._dataset_chosen)
        self.doc_label = QLabel()
        self.doc_label.setWordWrap(True)

        self.options_box = QGroupBox("Options")
        self.options_layout = QVBoxLayout(self.options_box)
        self.options_form: ParamForm | None = None
        self.browse_buttons: dict[str, QPushButton] = {}

        # CSV column picker.
        self.columns_box = QGroupBox("Columns")
        self.target_combo = QComboBox()
        self.target_combo.activated.connect(self._columns_edited)
        self.feature_list = QListWidget()
        self.feature_list.setMaximumHeight(140)
        self.feature_list.itemChanged.connect(self._columns_edited)
        columns_form = QFormLayout(self.columns_box)
        columns_form.addRow("Target", self.target_combo)
        columns_form.addRow("Features", self.feature_list)
        self.columns_box.hide()

        self.split_form = ParamForm(DATA_PARAMS)
        self.split_form.edited.connect(self._edit_split)
        self.split_form.finished.connect(document.edits.seal)
        split_box = QGroupBox("Split and normalization")
        QVBoxLayout(split_box).addWidget(self.split_form)

        # Preview.
        self.summary = QLabel("Reading the data…")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.shape_warning = QLabel()
        self.shape_warning.setWordWrap(True)
        self.shape_warning.setStyleSheet(f"color: {ERROR}")
        self.fit_button = QPushButton("Set Input shape")
        self.fit_button.setToolTip("Make the Input layer take this dataset's samples (undoable)")
        self.fit_button.clicked.connect(self.fit_input)
        fit_row = QHBoxLayout()
        fit_row.addWidget(self.shape_warning, 1)
        fit_row.addWidget(self.fit_button)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(THUMB, THUMB))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.scatter = adopt_popups(self, lambda: pg.PlotWidget())
        style_plot(self.scatter)
        self.scatter.setMinimumHeight(160)
        self.scatter_points = pg.ScatterPlotItem(size=4, pen=None)
        self.scatter.addItem(self.scatter_points)
        self.preview_stack = QStackedWidget()
        for w in (self.table, self.gallery, self.scatter):
            self.preview_stack.addWidget(w)

        layout = QVBoxLayout(self)
        top = QFormLayout()
        top.addRow("Dataset", self.dataset_combo)
        layout.addLayout(top)
        layout.addWidget(self.doc_label)
        layout.addWidget(self.options_box)
        layout.addWidget(self.columns_box)
        layout.addWidget(split_box)
        layout.addWidget(self.summary)
        layout.addLayout(fit_row)
        layout.addWidget(self.preview_stack, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self.refresh_preview)
        document.design_replaced.connect(self._bind)
        document.report_changed.connect(self._report_changed)  # a method: goes with the panel
        heavy_imports().progress.connect(self._loading)
        heavy_imports().finished.connect(self._loaded)
        self._bind(document.design)

    # ---- model ↔ view ---------------------------------------------------------------------------

    def _bind(self, design: Design) -> None:
        if self.design is not None:
            self.design.settings_changed.disconnect(self._on_settings_changed)
        self.design = design
        design.settings_changed.connect(self._on_settings_changed)
        self.preview = None
        self.refresh()
        self._timer.start()  # read it once the window is up, not while it is being built

    def _on_settings_changed(self, section: str) -> None:
        if section == "data":
            self.refresh()
            self.document.set_data_facts()  # what the old file said no longer holds
            self._timer.start()

    def refresh(self) -> None:
        """Show the design's data settings."""
        data = self.design.data
        name = data.get("name")
        index = self.dataset_combo.findData(name)
        self.dataset_combo.setCurrentIndex(max(index, 0))
        spec = DATASETS.get(name)
        self.doc_label.setText(spec.doc if spec else f"unknown dataset {name!r}")
        self._build_options(name)
        if self.options_form is not None and spec is not None:
            self.options_form.set_values(spec.resolve(data.get("options", {})))
        self.split_form.set_values(data)
        self._refresh_columns()

    def _build_options(self, name: str) -> None:
        if self.options_form is not None and self.options_form.objectName() == name:
            return
        if self.options_form is not None:
            self.options_layout.removeWidget(self.options_form)
            self.options_form.deleteLater()
            self.options_form = None
        self.browse_buttons.clear()
        spec = DATASETS.get(name)
        params = spec.options if spec else ()
        self.options_box.setVisible(bool(params))
        if not params:
            return
        form = ParamForm(params)
        form.setObjectName(name)
        form.edited.connect(self._edit_option)
        form.finished.connect(self.document.edits.seal)
        for option in spec.path_options:
            line = form.editors[option]
            button = QPushButton("Browse…")
            button.clicked.connect(lambda _c=False, o=option: self.browse(o))
            row = QWidget()
            row_layout = QHBoxLayout(row)
            row_layout.setContentsMargins(0, 0, 0, 0)
            # Room for a file name: in a narrow dock the row goes under its label (the form
            # wraps long rows) rather than squeezing the path to a few letters.
            line.setMinimumWidth(line.fontMetrics().horizontalAdvance(PATH_ROOM))
            # Swap the line edit for line edit + button in the same form row.
            form.layout_.replaceWidget(line, row)
            row_layout.addWidget(line, 1)
            row_layout.addWidget(button)
            self.browse_buttons[option] = button
        self.options_form = form
        self.options_layout.addWidget(form)

    def _push(self, data: dict, text: str, whole: bool = False) -> None:
        """Push through the document's edit session: one gesture, one undo step (``whole``:
        a step of its own, as for a choice from a list or a file picked with Browse…)."""
        if data != self.design.data:
            command = SettingsEdit(self.design, "data", data, text)
            edits = self.document.edits
            edits.push_whole(command) if whole else edits.push(command)

    def _dataset_chosen(self, index: int) -> None:
        name = self.dataset_combo.itemData(index)
        if name == self.design.data.get("name"):
            return
        data = dict(self.design.data, name=name, options=DATASETS[name].resolve({}))
        self._push(data, f"Use the {name} dataset", whole=True)

    def _edit_option(self, key: str, value: Any) -> None:
        options = dict(self.design.data.get("options", {}))
        options[key] = value
        param = self.options_form.params[key] if self.options_form is not None else None
        self._push(dict(self.design.data, options=options),
                   f"Set {(param.title if param else key).lower()}")

    def _edit_split(self, key: str, value: Any) -> None:
        self._push(dict(self.design.data, **{key: value}),
                   f"Set {self.split_form.params[key].title.lower()}")

    # ---- files -------------------------------------------------------------------------------

    def base_dir(self) -> str | None:
        return str(self.document.path.parent) if self.document.path else None

    def browse(self, option: str) -> None:
        """Pick the file (or folder) an option names with a dialog."""
        name = self.design.data.get("name")
        start = self.base_dir() or str(Path.home())
        if name == "images":
            path = QFileDialog.getExistingDirectory(self, "Image folder (one sub-folder per class)",
                                                    start)
        else:
            what = {"csv": "CSV file", "npz": ".npz file"}.get(name, f"IDX {option} file")
            path, _ = QFileDialog.getOpenFileName(self, f"Choose the {what}", start,
                                                  FILE_FILTERS.get(name, "All files (*)"))
        if path:
            self.set_path_option(option, path)

    def set_path_option(self, option: str, path: str) -> None:
        """Set a file option; a path beside the design is stored relative to it."""
        base = self.base_dir()
        value = Path(path)
        if base:
            try:
                value = value.resolve().relative_to(Path(base).resolve())
            except ValueError:
                pass
        options = dict(self.design.data.get("options", {}), **{option: str(value)})
        if self.design.data.get("name") == "csv" and option == "path":
            options.update(target="", features="")  # columns of another file
        self._push(dict(self.design.data, options=options), f"Read {Path(path).name}",
                   whole=True)

    def _columns_known(self, known: bool) -> None:
        """The Columns box (the file's own columns to pick from) stands in for the typed
        column fields while the file can be read; they come back when it cannot."""
        self.columns_box.setVisible(known)
        form = self.options_form
        for name in COLUMN_OPTIONS:
            if form is not None and name in form.editors:
                form.layout_.setRowVisible(form.editors[name], not known)

    def _refresh_columns(self) -> None:
        data = self.design.data
        if data.get("name") != "csv" or not data.get("options", {}).get("path"):
            self._columns_known(False)
            return
        path = data["options"]["path"]
        base = self.base_dir()
        full = str(Path(base) / path) if base and not Path(path).is_absolute() else path
        options = dict(data["options"])
        run_task(lambda: _columns(full, options), self._show_columns,
                 lambda m: self._columns_known(False), self, needs=("runtime.analysis",))

    def _show_columns(self, columns: list[str]) -> None:
        options = DATASETS["csv"].resolve(self.design.data.get("options", {}))
        target = options["target"] or (columns[-1] if columns else "")
        chosen = {c.strip() for c in options["features"].split(",") if c.strip()}
        self.target_combo.blockSignals(True)
        self.feature_list.blockSignals(True)
        self.target_combo.clear()
        self.target_combo.addItems(columns)
        self.target_combo.setCurrentIndex(max(self.target_combo.findText(target), 0))
        self.feature_list.clear()
        for column in columns:
            if column == target:
                continue
            item = QListWidgetItem(column)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if not chosen or column in chosen
                               else Qt.CheckState.Unchecked)
            self.feature_list.addItem(item)
        self.target_combo.blockSignals(False)
        self.feature_list.blockSignals(False)
        self._columns_known(True)

    def _columns_edited(self, *_args) -> None:
        target = self.target_combo.currentText()
        items = [self.feature_list.item(i) for i in range(self.feature_list.count())]
        checked = [i.text() for i in items if i.checkState() == Qt.CheckState.Checked
                   and i.text() != target]
        features = "" if len(checked) == len(items) else ",".join(checked)
        options = dict(self.design.data.get("options", {}), target=target, features=features)
        self._push(dict(self.design.data, options=options), "Choose CSV columns", whole=True)

    # ---- preview -----------------------------------------------------------------------------

    def refresh_preview(self) -> None:
        """Read the current data choice in the background and show it."""
        data = dict(self.design.data)
        request = (repr(data), self.base_dir())
        self._request, self._answered = request, None  # reading, even when the same choice again
        self.summary.setText(self._waiting_text())
        run_task(lambda: _preview(data, request[1]), lambda p: self._show(request, p),
                 lambda m: self._failed(request, m), self, needs=("runtime.analysis", "sklearn.datasets", "PIL.Image"))

    @staticmethod
    def _waiting_text() -> str:
        loading = heavy_imports().describe()
        return f"{loading} The preview follows." if loading else "Reading the data…"

    def _loading(self, _what: str) -> None:
        if self.reading:
            self.summary.setText(self._waiting_text())

    def _loaded(self, _error: str) -> None:
        self._loading("")

    @property
    def reading(self) -> bool:
        """Whether the preview of the current data choice is still being read."""
        return self._answered != self._request or self._timer.isActive()

    def _failed(self, request, message: str) -> None:
        if request != self._request:
            return
        self._answered = request
        self.preview = None
        self.summary.setText(f"Cannot read the data: {message}")
        self.shape_warning.clear()
        self.fit_button.hide()
        self.document.set_data_facts(error=message)  # the Input shows it; Train is refused

    def _show(self, request, preview) -> None:
        if request != self._request:  # the choice changed since
            return
        self._answered = request
        self.preview = preview
        p = preview
        lines = [f"<b>{p.source}</b>",
                 f"{p.total:,} samples of shape {fmt_shape(p.sample_shape)} · {p.task}",
                 f"split: {p.sizes['train']:,} train · {p.sizes['val']:,} validation · "
                 f"{p.sizes['test']:,} test"]
        if p.task == "classification":
            counts = ", ".join(f"{n}: {c:,}" for n, c in zip(p.class_names, p.class_counts))
            lines.append(f"{len(p.class_names)} classes — {counts}")
        lines += [f"<i>{html.escape(note)}</i>" for note in p.notes]  # what reading decided
        self.summary.setText("<br>".join(lines))
        if DATASETS[self.design.data["name"]].kind == "file":
            self.document.set_data_facts(p.sample_shape, p.num_classes, p.task)
        self._check_shape()
        if p.kind == "images":
            self._show_images(p)
        elif p.kind == "points":
            self._show_points(p)
        else:
            self._show_table(p)
        self.previewed.emit(p)

    def _show_table(self, p) -> None:
        rows, cols = p.samples.shape
        target = "class" if p.task == "classification" else "target"
        self.table.clear()
        self.table.setColumnCount(cols + 1)
        self.table.setRowCount(rows)
        self.table.setHorizontalHeaderLabels(list(p.columns) + [target])
        for c, name in enumerate(list(p.columns) + [target]):
            self.table.horizontalHeaderItem(c).setToolTip(name)
        for r in range(rows):
            for c in range(cols):
                self.table.setItem(r, c, QTableWidgetItem(f"{p.samples[r, c]:.4g}"))
            self.table.setItem(r, cols, QTableWidgetItem(self._label_text(p, r)))
        # Whole column names, not "pal length (c": the table scrolls sideways instead.
        self.table.resizeColumnsToContents()
        self.preview_stack.setCurrentWidget(self.table)

    def _show_images(self, p) -> None:
        self.gallery.clear()
        for i, sample in enumerate(p.samples):
            item = QListWidgetItem(QIcon(thumbnail(sample)), self._label_text(p, i))
            self.gallery.addItem(item)
        self.preview_stack.setCurrentWidget(self.gallery)

    def _show_points(self, p) -> None:
        if p.task == "classification":
            brushes = [pg.mkBrush(PALETTE[int(c) % len(PALETTE)]) for c in p.labels]
        else:
            brushes = pg.mkBrush(78, 155, 230, 170)
        self.scatter_points.setData(p.samples[:, 0], p.samples[:, 1], brush=brushes)
        self.preview_stack.setCurrentWidget(self.scatter)

    @staticmethod
    def _label_text(p, i: int) -> str:
        label = p.labels[i]
        if p.task == "classification":
            return p.class_names[int(label)]
        return ", ".join(f"{v:.4g}" for v in np.atleast_1d(label))

    # ---- the Input layer ---------------------------------------------------------------------

    def input_node(self):
        inputs = self.design.inputs()
        return inputs[0] if len(inputs) == 1 else None

    def _report_changed(self, _report) -> None:
        self._check_shape()

    def _check_shape(self) -> None:
        node, p = self.input_node(), self.preview
        if node is None or p is None:
            self.shape_warning.clear()
            self.fit_button.hide()
            return
        declared = tuple(node.resolved_params()["shape"])
        if declared == tuple(p.sample_shape):
            self.shape_warning.clear()
            self.fit_button.hide()
            return
        self.shape_warning.setText(input_mismatch(node.name, declared, p.sample_shape))
        self.fit_button.show()

    def fit_input(self) -> None:
        """Set the Input layer's shape to the dataset's sample shape (one undo step)."""
        node, p = self.input_node(), self.preview
        if node is None or p is None:
            return
        self.document.push(SetParamCommand(self.design, node.id, "shape", list(p.sample_shape)))
