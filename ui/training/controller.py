"""The glue between the open document and a training child process.

:class:`TrainingController` snapshots the design, picks a run folder, starts the child through
:class:`~ui.training.runner.TrainingProcess` and re-broadcasts its events; the panel, the plots,
the run history, the results and the diagnostics views all listen to it and to nothing else.
The document stays editable throughout: the child trains the snapshot taken when Train was
pressed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from graph.design import Design
from graph.fileformat import dumps
from graph.summary import counted
from graph.settings import DATASETS
from runtime.paths import app_runs_root, cli_run_prefix, design_runs_dir, new_run_dir

from ..document import Document
from ..files import data_dir, legacy_data_dirs
from .runner import IDLE, TrainingProcess




class TrainingController(QObject):
    """Starts, steers and reports on the design's training runs (one at a time)."""

    run_started = Signal(str)  # run folder
    event = Signal(object)  # each trainer event of the current run (runtime.events)
    run_finished = Signal(dict)  # {"status", "message", "run_dir", ...}
    state_changed = Signal(str)  # runner state: idle, starting, running, paused, stopping
    runs_changed = Signal()  # a run was added, finished or deleted

    def __init__(self, document: Document, parent: QObject | None = None,
                 runs_root: Path | None = None):
        super().__init__(parent)
        self.document = document
        self._runs_root = Path(runs_root) if runs_root is not None else None
        self.process = TrainingProcess(self)
        self.process.event.connect(self._on_event)
        self.process.finished.connect(self._on_finished)
        self.process.state_changed.connect(self.state_changed)
        self.run_dir: Path | None = None
        self.events: list[dict[str, Any]] = []  # the current (or last) run's events
        self.last_result: dict[str, Any] | None = None

    # ---- where runs live ----------------------------------------------------------------------------

    def runs_dir(self) -> Path:
        """The folder holding this design's runs: ``runs/<file stem>/`` beside its file, or,
        while the design has no file, the folder of this document's own key (see
        :func:`runtime.paths.unsaved_design_key`: not its name, which a rename changes and another
        unsaved design may share)."""
        if self._runs_root is not None:
            root = self._runs_root
        elif self.document.path is not None:
            root = self.document.path.parent / "runs"
        else:
            root = app_runs_root(data_dir())
        if self.document.path is not None:
            return design_runs_dir(root, self.document.path.stem)
        return root / self.document.runs_key

    def run_sources(self) -> list[tuple[Path, str]]:
        """Where this design's runs may be, as ``(folder, name prefix)``: the app's runs folder,
        and the ``runs/<design>-<time>`` folders the command line writes beside the design; for
        a design without a file also its runs in earlier versions' app-data folders."""
        sources = [(self.runs_dir(), "")]
        if self._runs_root is None and self.document.path is not None:
            sources.append((self.document.path.parent / "runs",
                            cli_run_prefix(self.document.path.stem)))
        elif self._runs_root is None:
            sources += [(design_runs_dir(app_runs_root(folder), self.document.design.name), "")
                        for folder in legacy_data_dirs()]
        return sources

    def listed_runs(self) -> list[Path]:
        """The run folders of this design the Runs page lists (see :meth:`run_sources`)."""
        from runtime.analysis import list_runs

        return [run.dir for folder, prefix in self.run_sources()
                for run in list_runs(folder, prefix)]

    def adopt_runs(self, runs: list[Path], move: bool) -> str | None:
        """After Save As: bring ``runs`` (those listed before) into this design's runs folder,
        moved (the design had no file: they belonged to nobody else) or copied (the old file
        keeps its own). The run in progress stays where its process writes. Returns what was
        done, for the status bar, or None when there was nothing to do."""
        from runtime.analysis import transfer_runs

        target = self.runs_dir()
        active = self.run_dir.resolve() if self.busy and self.run_dir is not None else None
        pending = [r for r in runs if r.parent.resolve() != target.resolve()]
        kept = [r for r in pending if r.resolve() == active]
        pending = [r for r in pending if r.resolve() != active]
        if not pending and not kept:
            return None
        try:
            done = transfer_runs(pending, target, move)
        except OSError as exc:
            return f"Could not {'move' if move else 'copy'} the runs to {target}: {exc}"
        finally:
            self.runs_changed.emit()
        text = f"{'Moved' if move else 'Copied'} {counted(len(done), 'run')} to {target}"
        if kept:
            text += f"; the run in progress stays in {kept[0].parent}"
        return text

    def _new_run_dir(self) -> Path:
        parent = self.runs_dir()
        parent.mkdir(parents=True, exist_ok=True)
        return new_run_dir(parent)

    # ---- control ---------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self.process.state

    @property
    def busy(self) -> bool:
        return self.process.state != IDLE

    def train(self, extra_args: tuple[str, ...] = ()) -> Path:
        """Train a snapshot of the design now; raises ValueError when it cannot start."""
        if self.busy:
            raise ValueError("a run is already in progress")
        report = self.document.revalidate()
        if not report.ok:
            n = len(report.errors)
            first = report.errors[0].format(self.document.design)
            raise ValueError(f"Not started: the design has {'an error' if n == 1 else f'{n} errors'}"
                             f" (Diagnostics lists {'it' if n == 1 else 'them'}). {first}")
        from runtime.preflight import check_training_fits

        check_training_fits(self.document.design)  # a ResourceError is a ValueError
        run_dir = self._new_run_dir()
        self._start(dumps(self.snapshot_design()), run_dir, extra_args)
        return run_dir

    def snapshot_design(self) -> Design:
        """A copy of the design to train, with file-dataset paths made absolute (the child
        reads the copy from a temporary file, not from beside the design)."""
        design = self.document.design.copy()
        base = self.document.path.parent if self.document.path else Path.cwd()
        options = dict(design.data.get("options", {}))
        spec = DATASETS.get(design.data.get("name"))
        for key in spec.path_options if spec else ():
            value = options.get(key)
            if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
                options[key] = str((base / value).resolve())
        design.set_data(dict(design.data, options=options))
        weights = design.initial_weights
        if weights and not Path(weights).expanduser().is_absolute():
            design.set_initial_weights(str((base / weights).resolve()))
        return design

    def resume_run(self, run_dir: Path, extra_args: tuple[str, ...] = ()) -> Path:
        """Continue a stopped run from its last checkpoint, with its own design and settings."""
        if self.busy:
            raise ValueError("a run is already in progress")
        run_dir = Path(run_dir)
        from runtime.runs import RunFolder

        if not RunFolder(run_dir).resumable:
            raise ValueError(f"{run_dir} has no checkpoint to resume from")
        self._start(None, run_dir, extra_args, resume=True)
        return run_dir

    def _start(self, text: str | None, run_dir: Path, extra_args, resume: bool = False) -> None:
        self.run_dir = run_dir
        self.events = []
        self.last_result = None
        self.process.start(text, run_dir, extra_args, resume=resume,
                           source=None if resume else self.document.path)
        self.run_started.emit(str(run_dir))
        self.runs_changed.emit()

    def pause(self) -> None:
        self.process.pause()

    def resume(self) -> None:
        self.process.resume()

    def stop(self) -> None:
        self.process.stop()

    def kill(self) -> None:
        self.process.kill()

    def shutdown(self) -> None:
        self.process.shutdown()

    # ---- events --------------------------------------------------------------------------------

    def _on_event(self, event: dict) -> None:
        self.events.append(event)
        self.event.emit(event)

    def _on_finished(self, result: dict) -> None:
        self.last_result = result
        if result["status"] == "failed" and self.run_dir is not None:
            mark_failed(self.run_dir, result["message"])
        self.run_finished.emit(result)
        self.runs_changed.emit()


def mark_failed(run_dir: Path, message: str) -> None:
    """Record in the run folder that a child died without saying so itself."""
    from runtime.runs import RunFolder

    RunFolder(run_dir).mark_failed(message)
