"""Export a trained run (or the untrained design) in every format, each one verified.

Each chosen format is written by :mod:`runtime.export` on the thread pool, one after another:
the file is reloaded and run on a sample batch, and its largest difference from the trained
model is shown next to it. A format that fails its check says why and leaves no file.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog,
                               QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from graph.design import Design

from ..widgets.fitted import compact_rows, table_height
from .tasks import run_task

FRESH = ""  # the source "this design with fresh (untrained) weights"


def export_formats() -> list[tuple[str, str, str]]:
    """``(format, label, suffix)`` for every format runtime.export writes."""
    from runtime.export import FORMAT_LABELS, FORMATS

    return [(fmt, FORMAT_LABELS.get(fmt, fmt), suffix) for fmt, suffix in FORMATS.items()]


def _export_one(source: str, design_text: str, fmt: str, out: Path, checkpoint: str):
    from graph.fileformat import loads
    from runtime.export import export_model, export_path

    out.parent.mkdir(parents=True, exist_ok=True)  # a folder typed in is made, as Save does
    if source == FRESH:
        return export_model(loads(design_text), fmt, out)
    return export_path(source, fmt, out, checkpoint)


def _shown_paths(paths: list[Path], folder: Path) -> str:
    """The files for the table: their names where they are in the export folder (shown above
    the table), else their whole paths."""
    shown = []
    for path in paths:
        try:
            shown.append(Path(path).relative_to(folder).as_posix())
        except ValueError:
            shown.append(str(path))
    return " + ".join(shown)


def _stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_").lower() or "model"


class ExportDialog(QDialog):
    """Pick a run, formats and a folder; export and show each verification."""

    finished_all = Signal(list)  # [(format, ExportResult | error message)]

    def __init__(self, design: Design, runs: list[Any], parent: QWidget | None = None,
                 folder: Path | None = None, design_text: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Export model")
        self.design_text = design_text
        self.results: list[tuple[str, Any]] = []
        self._queue: list[tuple[str, Path]] = []

        self.source_combo = QComboBox()
        for run in runs:
            if run.checkpoints:
                best = f", best {run.best_metric} {run.best_value:.4g}" \
                    if isinstance(run.best_value, float) else ""
                self.source_combo.addItem(f"run {run.name} ({run.status}{best})", str(run.dir))
        self.source_combo.addItem("this design, untrained (fresh weights)", FRESH)
        self.checkpoint_combo = QComboBox()
        self.checkpoint_combo.addItem("best weights", "best")
        self.checkpoint_combo.addItem("last weights", "last")
        self.source_combo.currentIndexChanged.connect(
            lambda _i: self.checkpoint_combo.setEnabled(self.source_combo.currentData() != FRESH))

        self.format_boxes: dict[str, QCheckBox] = {}
        formats = QVBoxLayout()
        for fmt, label, _suffix in export_formats():
            box = QCheckBox(label)
            box.setChecked(fmt in ("onnx", "python"))
            self.format_boxes[fmt] = box
            formats.addWidget(box)

        self.folder_edit = QLineEdit(str(folder or Path.home()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        self.name_edit = QLineEdit(_stem(design.name))

        form = QFormLayout()
        form.addRow("Weights from", self.source_combo)
        form.addRow("Checkpoint", self.checkpoint_combo)
        form.addRow("Formats", formats)
        form.addRow("Folder", folder_row)
        form.addRow("File name", self.name_edit)

        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(("Format", "File", "Max difference", "Check"))
        self.table.horizontalHeaderItem(1).setToolTip("Each format's files, in the folder above "
                                                      "(hover a row for the whole path)")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for col in (0, 2, 3):  # never "ax differenc": these columns fit their text
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # long paths keep their name
        self.table.setWordWrap(False)
        self._fit_table(len(self.format_boxes))
        self.status = QLabel("Each export is reloaded and compared with the model on a sample "
                             "batch.")
        self.status.setWordWrap(True)

        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.open_button = self.buttons.addButton("Open folder",
                                                  QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.export_button.clicked.connect(self.start)
        self.open_button.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(self.folder_edit.text())))
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.resize(760, 480)

    def _fit_table(self, rows: int) -> None:
        """Rows one line tall, and the table tall enough for ``rows`` of them (one for each
        format there is), so that no export's row is ever cut: the dialog grows if it must."""
        table = self.table
        table.ensurePolished()  # the style sheet's paddings make the rows' height
        table.setRowCount(1)  # a row to measure (compact_rows measures the first)
        table.setItem(0, 0, QTableWidgetItem(next(iter(self.format_boxes), "")))
        compact_rows(table)
        table.setRowCount(0)
        row = table.verticalHeader().defaultSectionSize()
        table.setMinimumHeight(table_height(table) + rows * row)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)

    @property
    def busy(self) -> bool:
        return bool(self._queue) or not self.export_button.isEnabled()

    def start(self) -> None:
        """Export every checked format, one after another, off the GUI thread."""
        chosen = [fmt for fmt, box in self.format_boxes.items() if box.isChecked()]
        if not chosen:
            self.status.setText("Choose at least one format.")
            return
        folder = Path(self.folder_edit.text()).expanduser()
        name = self.name_edit.text().strip() or "model"
        suffixes = {fmt: suffix for fmt, _l, suffix in export_formats()}
        self._queue = [(fmt, folder / f"{name}{suffixes[fmt]}") for fmt in chosen]
        self.results = []
        self.table.setRowCount(0)
        self.export_button.setEnabled(False)
        self._next()

    def _next(self) -> None:
        if not self._queue:
            self.export_button.setEnabled(True)
            ok = sum(1 for _f, r in self.results if not isinstance(r, str))
            failures = [f"{f} failed: {r}" for f, r in self.results if isinstance(r, str)]
            self.status.setText(_outcome(ok, len(self.results))
                                + (f" {failures[0]}" if failures else ""))
            self.finished_all.emit(self.results)
            return
        fmt, out = self._queue.pop(0)
        row = self.table.rowCount()
        self.table.insertRow(row)
        self._set_row(row, fmt, [out], "…", "exporting", str(out))
        self.status.setText(f"Exporting {fmt}…")
        source = self.source_combo.currentData()
        checkpoint = self.checkpoint_combo.currentData()
        text = self.design_text
        run_task(lambda: _export_one(source, text, fmt, out, checkpoint),
                 lambda result: self._done(row, fmt, result),
                 lambda message: self._done(row, fmt, message), self,
                 needs=("runtime.export", "safetensors.torch", "onnx", "onnxruntime"))

    def _done(self, row: int, fmt: str, result: Any) -> None:
        self.results.append((fmt, result))
        if isinstance(result, str):  # an error message: "failed", the reason as its tooltip
            out = Path(self.table.item(row, 1).data(Qt.ItemDataRole.UserRole))
            self._set_row(row, fmt, [out], "–", "failed", result, "#c62828")
        else:
            self._set_row(row, fmt, list(result.files), f"{result.max_diff:.3g}", "verified",
                          f"verified on a batch of {result.batch}", "#2e7d32")
        self._next()

    def _set_row(self, row: int, fmt: str, files: list[Path], diff: str, check: str,
                 check_tip: str, color: str | None = None) -> None:
        """One format's row: its files by name (elided in the middle, whole paths as the
        tooltip), the largest difference and the check (its reason as the tooltip)."""
        folder = Path(self.folder_edit.text()).expanduser()
        cells = ((fmt, fmt), (_shown_paths(files, folder), "\n".join(map(str, files))),
                 (diff, diff), (check, check_tip))
        for col, (text, tip) in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(tip)
            if col == 1:
                item.setData(Qt.ItemDataRole.UserRole, str(files[0]))
            if col == 3 and color:
                item.setForeground(QColor(color))
            self.table.setItem(row, col, item)


def _outcome(ok: int, total: int) -> str:
    """The export's one-line outcome: "Both exports written and verified.", "1 of 3 …"."""
    if ok == total:
        return {1: "The export was written and verified.",
                2: "Both exports were written and verified."}.get(
            total, f"All {total} exports were written and verified.")
    return f"{ok} of {total} exports were written and verified."
