"""The open document: one design, its undo stack, its file, and its latest validation report.

Views subscribe to ``document.design``'s model events to redraw, and to :attr:`report_changed`
for diagnostics and shapes. Every edit goes through :meth:`push` (an undo command); the report is
recomputed once per event-loop turn after any change, so a composite edit validates once.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from graph.design import Design
from graph.fileformat import dumps, load, loads, save
from graph.settings import DATASETS
from graph.validate import Report, validate
from runtime.paths import unsaved_design_key

from .editing import EditSession
from .loading import heavy_imports


class Document(QObject):
    design_replaced = Signal(object)  # the new Design (New/Open); views rebuild from scratch
    report_changed = Signal(object)  # graph.validate.Report
    modified_changed = Signal(bool)
    path_changed = Signal(object)  # Path | None

    def __init__(self, design: Design | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self.edits = EditSession(self)  # every form pushes through it (one undo behaviour)
        self.path: Path | None = None
        self.design: Design = design or Design()
        self.runs_key = unsaved_design_key(self.design.name)  # its runs' folder while unsaved (a new one per design)
        self.data_facts: dict = {}  # see set_data_facts
        self._awaiting_torch = False  # the memory check waits for the background imports
        self.report: Report = self._validate()
        self._pending = False
        self._connect(self.design)

    def _on_clean_changed(self, clean: bool) -> None:
        self.modified_changed.emit(not clean)

    # ---- design lifecycle -------------------------------------------------------------------------

    def _connect(self, design: Design) -> None:
        design.changed.connect(self._schedule_revalidate)

    def _disconnect(self, design: Design) -> None:
        design.changed.disconnect(self._schedule_revalidate)

    def replace(self, design: Design, path: Path | None = None, runs_key: str | None = None
                ) -> None:
        """Make ``design`` the document's design (New, Open, Recover); clears undo history.
        ``runs_key``: the unsaved design's runs folder it had (Recover), else a new one."""
        self._disconnect(self.design)
        self.design = design
        self.runs_key = runs_key or unsaved_design_key(design.name)
        self._connect(design)
        self.edits.seal()
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self.data_facts = {}
        self.set_path(path)
        self.design_replaced.emit(design)
        self.revalidate()
        self.modified_changed.emit(False)

    def new(self) -> None:
        self.replace(Design())

    def open(self, path: str | Path) -> None:
        """Load ``path``; on a DesignFileError the current design is left untouched."""
        design = load(path)  # raises before anything changes
        self.replace(design, Path(path))

    def save(self, path: str | Path | None = None) -> Path:
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("no file name to save to")
        save(self.design, target)
        self.set_path(target)
        self.undo_stack.setClean()
        return target

    def set_path(self, path: Path | None) -> None:
        self.path = path
        self.path_changed.emit(path)

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    def snapshot(self) -> str:
        """The design as file text (autosave, copy to a training process)."""
        return dumps(self.design)

    def restore_snapshot(self, text: str, path: Path | None = None, modified: bool = True,
                         runs_key: str | None = None) -> None:
        self.replace(loads(text), path, runs_key)
        if modified:
            self.undo_stack.resetClean()
            self.modified_changed.emit(True)

    # ---- editing --------------------------------------------------------------------------------

    def push(self, command: QUndoCommand) -> None:
        self.undo_stack.push(command)

    @property
    def revalidation_pending(self) -> bool:
        """Whether an edit's revalidation is scheduled and has not run yet."""
        return self._pending

    def _schedule_revalidate(self) -> None:
        if not self._pending:
            self._pending = True
            QTimer.singleShot(0, self._revalidate_if_pending)

    def _revalidate_if_pending(self) -> None:
        # A direct revalidate() since the change was scheduled has done the work already.
        if self._pending:
            self.revalidate()

    def revalidate(self) -> Report:
        self._pending = False
        self.report = self._validate()
        self.report_changed.emit(self.report)
        return self.report

    def _validate(self) -> Report:
        """Validation with the file dataset's facts and the memory of the chosen device (that
        check waits while PyTorch is still loading in the background, then runs)."""
        return validate(self.design, memory=self._memory_budget(), **self.data_facts)

    def _memory_budget(self):
        loader = heavy_imports()
        if loader.loading:
            if not self._awaiting_torch:
                self._awaiting_torch = True
                loader.when_loaded(self._torch_loaded, self)
            return None
        from runtime.devices import memory_budget

        return memory_budget(str(self.design.training.get("device", "auto")))

    def _torch_loaded(self) -> None:
        self._awaiting_torch = False
        self._schedule_revalidate()

    def set_data_facts(self, shape=None, classes: int | None = None,
                       task: str | None = None, error: str | None = None) -> None:
        """What reading a file dataset told the runtime (sample shape, classes, task), or why it
        could not be read (``error``), so that validation checks the Input against it as it
        does for built-in datasets. The data panel sets these after each preview and clears
        them when the data choice changes."""
        facts: dict = {}
        if shape is not None:
            facts = {"data_shape": tuple(shape), "data_classes": classes, "data_task": task}
        elif error is not None:
            facts = {"data_error": error}
        if facts != self.data_facts:
            self.data_facts = facts
            self.revalidate()

    @property
    def data_unread(self) -> bool:
        """Whether the design's data is a file not read yet: validation cannot check the Input
        against it until :meth:`set_data_facts` says what it holds."""
        spec = DATASETS.get(self.design.data.get("name"))
        return spec is not None and spec.kind == "file" and not self.data_facts

    @property
    def title(self) -> str:
        name = self.path.name if self.path else (self.design.name or "Untitled")
        return f"{name}{' *' if self.modified else ''}"
