"""Run history: every run of the design, with status, best metric, duration and device.

Select runs to overlay their curves on the live plots; select two to see the settings that
differ; resume a stopped run; open its folder; delete it. The folder is read in the background
(a run's metrics file may be long), and re-read whenever a run starts or ends.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QMessageBox,
                               QPushButton, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from graph.summary import counted

from ..loading import heavy_imports
from ..widgets.fitted import compact_rows, table_height
from .controller import TrainingController
from .panel import fmt_duration
from .tasks import run_task

COLUMNS = ("Run", "Status", "Best", "Epochs", "Duration", "Device")
MIN_RUNS_SHOWN = 5  # rows of runs in view whatever the comparison below takes
STATUS_COLORS = {"completed": "#2e7d32", "early_stopped": "#2e7d32", "stopped": "#ef6c00",
                 "failed": "#c62828", "interrupted": "#c62828", "running": "#1565c0"}


def _load_history(sources: list[tuple[Path, str]]) -> list:
    from runtime.analysis import list_runs

    runs = [run for folder, prefix in sources for run in list_runs(folder, prefix)]
    runs.sort(key=lambda r: (r.created or "", r.dir.name), reverse=True)
    return runs


def _fmt_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "–" if value is None else str(value)


class RunHistory(QWidget):
    """The table of runs and what can be done with them."""

    overlay_requested = Signal(dict)  # {run name: epoch records} of the selected runs
    open_results = Signal(str)  # run folder whose results should be shown
    runs_loaded = Signal(list)  # the runs listed, newest first (RunSummary)
    # (run folder, its metrics.jsonl events) of the one past run selected while none trains:
    # the curves and the layer stats show it
    records_read = Signal(str, list)
    run_selected = Signal(str)  # the one run selected (the Results page evaluates it)

    def __init__(self, controller: TrainingController, parent: QWidget | None = None):
        super().__init__(parent)
        self.controller = controller
        self.runs: list = []
        self._loading = False
        self._again = False
        self._overlay_request: list[Path] = []
        self._records_shown: Path | None = None  # the past run whose records were sent
        self._selected: Path | None = None  # the one run selected, as last told (run_selected)

        self.table = self._runs_table()
        self.diff_label, self.diff_table, diff_box = self._diff_area()
        self.message = QLabel()  # what went wrong with the last action; hidden when nothing
        self.message.setWordWrap(True)
        self.message.setVisible(False)

        # The runs take the height; the comparison below only what its rows need (see
        # _fit_diff), and the splitter lets the user give it more, kept from then on.
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(diff_box)
        self.splitter.setCollapsible(0, False)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self._dragged: dict[bool, int] = {}  # the comparison's height the user dragged, by
        # whether it showed the table of differences (True) or its one line (False)
        self.splitter.splitterMoved.connect(self._splitter_dragged)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(self._buttons())  # a row under the table: its columns get the width
        layout.addWidget(self.message)

        controller.runs_changed.connect(self.refresh)
        controller.run_started.connect(self._run_started)
        controller.document.path_changed.connect(self._path_changed)  # a method: goes with the page
        self._selection_changed()
        self.refresh()

    def _runs_table(self) -> QTableWidget:
        """The runs, one per row: the run's name (what tells two runs apart; its folder in the
        tooltip) and every other fact as wide as its text, the best metric taking what is left
        (elided at its end, whole in the tooltip), so that all columns are in view without
        scrolling."""
        table = QTableWidget(0, len(COLUMNS))
        table.setHorizontalHeaderLabels(COLUMNS)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        table.setWordWrap(False)
        table.verticalHeader().setVisible(False)
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COLUMNS.index("Best"), QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        table.itemSelectionChanged.connect(self._selection_changed)
        table.cellDoubleClicked.connect(lambda row, _c: self._show_results(row))
        return table

    @staticmethod
    def _diff_area() -> tuple[QLabel, QTableWidget, QWidget]:
        """Where two selected runs differ: a table of the settings under the runs' names (shown
        while there are differences), else a line saying to select two or that theirs agree."""
        table = QTableWidget(0, 3)
        table.setHorizontalHeaderLabels(("Setting", "First run", "Second run"))
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        table.setWordWrap(False)  # one line a setting; a long value elided, whole as tooltip
        table.setVisible(False)
        label = QLabel("Select two runs to compare their settings.")
        label.setWordWrap(True)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(label)
        layout.addWidget(table, 1)
        return label, table, box

    def _buttons(self) -> QHBoxLayout:
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the selected stopped run from its last checkpoint")
        self.results_button = QPushButton("Results")
        self.folder_button = QPushButton("Open folder")
        self.delete_button = QPushButton("Delete…")
        self.refresh_button = QPushButton("Refresh")
        self.resume_button.clicked.connect(self.resume_selected)
        self.results_button.clicked.connect(lambda: self._show_results(self._rows()[0]))
        self.folder_button.clicked.connect(self.open_selected_folder)
        self.delete_button.clicked.connect(self.delete_selected)
        self.refresh_button.clicked.connect(self.refresh)
        buttons = QHBoxLayout()
        for b in (self.resume_button, self.results_button, self.folder_button, self.delete_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        return buttons

    # ---- loading ---------------------------------------------------------------------------

    def _path_changed(self, _path) -> None:
        self.refresh()

    def _run_started(self, _run_dir: str) -> None:
        self._records_shown = None  # the new run's curves replace the past run's

    def refresh(self) -> None:
        """Re-read the runs folder (in the background)."""
        if self._loading:
            self._again = True
            return
        self._loading = True
        heavy_imports().when_loaded(self._read_runs, self)  # run folders' names need torch

    def _read_runs(self) -> None:
        sources = self.controller.run_sources()
        run_task(lambda: _load_history(sources), self._loaded, self._load_failed, self,
                 needs=("runtime.analysis",))

    def _loaded(self, runs: list) -> None:
        self._loading = False
        if self._again:
            self._again = False
            self.refresh()
            return
        selected = {self.runs[r].dir for r in self._rows()} if self.runs else set()
        self.runs = runs
        self.runs_loaded.emit(runs)
        self.table.blockSignals(True)
        self.table.setRowCount(len(runs))
        active = self.controller.run_dir if self.controller.busy else None
        for row, run in enumerate(runs):
            status = run.status
            if status == "running" and run.dir != active:
                status = "interrupted"  # nobody is training it: the app or the child died
            best = "–"
            if run.best_value is not None:
                # the value first: where the column is narrow, the metric's name gives way
                best = f"{_fmt_value(run.best_value)} {run.best_metric} (epoch {run.best_epoch})"
            epochs = f"{run.epochs_completed}/{run.epochs}" if run.epochs else str(
                run.epochs_completed)
            cells = (run.name, status.replace("_", " "), best, epochs,
                     fmt_duration(run.duration_s), run.device or "–")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 1:
                    item.setForeground(QColor(STATUS_COLORS.get(status, "#000000")))
                    if run.message:
                        item.setToolTip(run.message)
                if col == 0:
                    item.setToolTip(str(run.dir))
                if col == 2 and run.best_value is not None:
                    item.setToolTip(f"The best {run.best_metric} of the run, "
                                    f"{run.best_value:.6g}, at epoch {run.best_epoch}")
                self.table.setItem(row, col, item)
            if run.dir in selected:
                self.table.selectRow(row)
        compact_rows(self.table)
        self.table.blockSignals(False)
        self._keep_runs_shown()
        self._selection_changed()

    def _load_failed(self, message: str) -> None:
        self._loading = False
        self._say(f"Could not read the runs: {message}")

    # ---- selection -------------------------------------------------------------------------

    def _rows(self) -> list[int]:
        return sorted({index.row() for index in self.table.selectionModel().selectedRows()})

    def selected_runs(self) -> list:
        return [self.runs[r] for r in self._rows() if r < len(self.runs)]

    def select(self, names: list[str]) -> None:
        """Select the runs with these folder names (tests and the results view use it)."""
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row, run in enumerate(self.runs):
            if run.name in names:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)

    def _selection_changed(self) -> None:
        runs = self.selected_runs()
        one = len(runs) == 1
        self.resume_button.setEnabled(one and runs[0].resumable and runs[0].status in (
            "stopped", "failed", "interrupted", "running") and not self.controller.busy)
        self.results_button.setEnabled(one)
        self.folder_button.setEnabled(one)
        self.delete_button.setEnabled(bool(runs) and not any(
            r.dir == self.controller.run_dir and self.controller.busy for r in runs))
        self._show_diff(runs)
        if one and runs[0].dir != self._selected:
            self._selected = runs[0].dir
            self.run_selected.emit(str(runs[0].dir))
        elif not one:
            self._selected = None
        past = runs[0].dir if one and not self.controller.busy else None
        if past is not None and past != self._records_shown:
            self._records_shown = past
            run_task(lambda: _events(past), lambda events: self._records_read(past, events),
                     receiver=self, needs=("runtime.runs",))
        dirs = [r.dir for r in runs if r.dir != past]  # a past run shown is no overlay too
        self._overlay_request = dirs
        run_task(lambda: _overlays(dirs), lambda curves: self._overlays_read(dirs, curves),
                 receiver=self, needs=("runtime.analysis",))

    def _records_read(self, run_dir: Path, events: list) -> None:
        if run_dir == self._records_shown:  # not overtaken by a newer selection or a new run
            self.records_read.emit(str(run_dir), events)

    def _overlays_read(self, dirs: list[Path], curves: dict) -> None:
        if dirs == self._overlay_request:  # not overtaken by a newer selection
            self.overlay_requested.emit(curves)

    def _show_diff(self, runs: list) -> None:
        """The settings two selected runs differ in, under the runs' names; else a line saying
        to select two, or that theirs are the same."""
        self.diff_table.setRowCount(0)
        rows = []
        if len(runs) != 2:
            self.diff_label.setText("Select two runs to compare their settings.")
        else:
            from runtime.analysis import settings_diff

            rows = settings_diff(runs[0].dir, runs[1].dir)
            self.diff_label.setText(f"{runs[0].name} and {runs[1].name} have the same settings.")
            self.diff_table.setHorizontalHeaderLabels(("Setting", runs[0].name, runs[1].name))
        self.diff_table.setRowCount(len(rows))
        for r, (key, a, b) in enumerate(rows):
            for c, text in enumerate((key, _fmt_value(a), _fmt_value(b))):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.diff_table.setItem(r, c, item)
        compact_rows(self.diff_table)
        self.diff_table.setVisible(bool(rows))
        self.diff_label.setVisible(not rows)
        self._fit_diff()

    def _keep_runs_shown(self) -> None:
        """The runs table is never shorter than :data:`MIN_RUNS_SHOWN` rows (all of them when
        there are fewer): the comparison below takes what is left."""
        table = self.table
        rows = min(table.rowCount(), MIN_RUNS_SHOWN)
        body = sum(table.rowHeight(r) for r in range(rows))
        table.setMinimumHeight(table.horizontalHeader().sizeHint().height() + body
                               + 2 * table.frameWidth())

    def _fit_diff(self) -> None:
        """Give the comparison the height of its line or its rows, or the height the user
        dragged it to (what the runs' least height leaves), the runs the rest; the selected
        runs stay in view."""
        total = sum(self.splitter.sizes())
        if total <= 0:  # not laid out yet: showEvent fits it
            return
        comparing = self.diff_table.isVisibleTo(self)
        if comparing in self._dragged:
            want = self._dragged[comparing]
        elif comparing:
            want = table_height(self.diff_table)
        else:
            want = self.diff_label.heightForWidth(self.splitter.width())
        want = max(0, min(want, total - self.table.minimumHeight() - self.splitter.handleWidth()))
        self.splitter.setSizes([total - want, want])
        self._show_selected()

    def _splitter_dragged(self, *_args) -> None:
        """The user moved the splitter (never setSizes): that height stays the comparison's,
        of the table of differences or of its line, whichever shows."""
        self._dragged[self.diff_table.isVisibleTo(self)] = self.splitter.sizes()[1]

    def _show_selected(self) -> None:
        """Scroll the runs table so the selected runs are in view (the first when they are
        further apart than the table is tall)."""
        rows = self._rows()
        if rows:
            model = self.table.model()
            self.table.scrollTo(model.index(rows[-1], 0))
            self.table.scrollTo(model.index(rows[0], 0))

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self._fit_diff()

    # ---- actions ---------------------------------------------------------------------------

    def resume_selected(self) -> None:
        runs = self.selected_runs()
        if len(runs) != 1:
            return
        try:
            self.controller.resume_run(runs[0].dir)
        except ValueError as exc:
            self._say(str(exc))

    def open_selected_folder(self) -> None:
        for run in self.selected_runs()[:1]:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(run.dir)))

    def delete_selected(self, confirm: bool = True) -> None:
        runs = self.selected_runs()
        if not runs:
            return
        names = ", ".join(r.name for r in runs[:3]) + (" …" if len(runs) > 3 else "")
        if confirm and QMessageBox.question(
                self, "Delete runs", f"Delete {counted(len(runs), 'run')} ({names}) and their "
                "checkpoints? This cannot be undone.") != QMessageBox.StandardButton.Yes:
            return
        from runtime.analysis import delete_run
        from runtime.runs import RunError

        problems = []
        for run in runs:
            try:
                delete_run(run.dir)
            except (RunError, OSError) as exc:
                problems.append(str(exc))
        self._say("; ".join(problems))
        self.table.clearSelection()
        self.refresh()

    def _say(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _show_results(self, row: int) -> None:
        if 0 <= row < len(self.runs):
            self.open_results.emit(str(self.runs[row].dir))


def _overlays(dirs: list[Path]) -> dict:
    from runtime.analysis import epoch_records

    return {d.name: epoch_records(d) for d in dirs}


def _events(run_dir: Path) -> list:
    from runtime.runs import RunFolder

    return RunFolder(run_dir).events()
