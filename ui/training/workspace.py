"""Everything about training, wired together, ready for the main window to dock.

:class:`TrainingWorkspace` owns one :class:`TrainingController` and the views that follow it:
the training panel (settings and Train/Pause/Stop), the live plots, the run history and the
results. The views never talk to each other directly; this class routes what one produces to
the others (a finished run → history and results; selected runs → overlays on the plots).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QTabWidget

from ..document import Document
from .controller import TrainingController
from .history import RunHistory
from .panel import TrainingPanel
from .plots import LivePlots
from .results import ResultsView


class TrainingWorkspace(QObject):
    """The controller and its views; :meth:`install` docks them in a main window."""

    def __init__(self, document: Document, parent: QObject | None = None,
                 runs_root: Path | None = None):
        super().__init__(parent)
        self.document = document
        self.controller = TrainingController(document, self, runs_root)
        self.panel = TrainingPanel(document, self.controller)
        self.plots = LivePlots()
        self.history = RunHistory(self.controller)
        self.results = ResultsView()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("trainingTabs")
        self.tabs.addTab(self.plots, "Curves")
        self.tabs.addTab(self.history, "Runs")
        self.tabs.addTab(self.results, "Results")

        c = self.controller
        c.run_started.connect(self._run_started)
        c.event.connect(self.plots.add_event)
        c.run_finished.connect(self._run_finished)
        self.history.overlay_requested.connect(self.plots.set_overlays)
        self.history.open_results.connect(self.show_results)

    def _run_started(self, _run_dir: str) -> None:
        self.plots.clear()
        self.tabs.setCurrentWidget(self.plots)

    def _run_finished(self, result: dict) -> None:
        run_dir = Path(result["run_dir"])
        if (run_dir / "checkpoints" / "last" / "model.safetensors").exists() or \
                (run_dir / "checkpoints" / "best" / "model.safetensors").exists():
            self.results.show_run(run_dir)

    def show_results(self, run_dir: str) -> None:
        self.results.show_run(run_dir)
        self.tabs.setCurrentWidget(self.results)

    def install(self, window: QMainWindow) -> dict[str, QDockWidget]:
        """Dock the panel on the right and the plots/runs/results tabs at the bottom."""
        docks = {}
        for key, title, widget, area in (
                ("training", "Training", self.panel, Qt.DockWidgetArea.RightDockWidgetArea),
                ("runs", "Training runs", self.tabs, Qt.DockWidgetArea.BottomDockWidgetArea)):
            dock = QDockWidget(title, window)
            dock.setObjectName(f"{key}Dock")
            dock.setWidget(widget)
            window.addDockWidget(area, dock)
            docks[key] = dock
        return docks

    def shutdown(self) -> None:
        """Stop a running child before the window closes (it keeps its checkpoint)."""
        self.controller.shutdown()
