"""Everything about training, wired together, ready for the main window to dock.

:class:`TrainingWorkspace` owns one :class:`TrainingController` and the views that follow it:
the data panel, the training panel (settings and Train/Pause/Stop), the live plots, the run
history, the results and the depth diagnostics. The views never talk to each other directly; this class routes what one produces to
the others (a finished run → history and results; selected runs → overlays on the plots).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMainWindow, QScrollArea, QTabWidget, QWidget

from ..document import Document
from .controller import TrainingController
from .data_panel import DataPanel
from .diagnostics import DiagnosticsView
from .export_dialog import ExportDialog
from .history import RunHistory
from .panel import TrainingPanel
from .plots import LivePlots
from .results import ResultsView
from .try_page import TryPage


# Docks move and close but do not float: a drag aimed at the splitter beside a title bar used
# to tear the panel off into a window of its own.
DOCK_FEATURES = (QDockWidget.DockWidgetFeature.DockWidgetMovable
                 | QDockWidget.DockWidgetFeature.DockWidgetClosable)

MIN_CANVAS_SHARE = 0.5  # the canvas keeps at least this share of the window's height
SHORT_DOCK, ROOMY_DOCK = 300, 420  # a bottom dock under the first grows to the second for plots
ROOMY_PAGES = ("curves", "runs", "results", "try")  # the pages that need that height
# ... while one of them is opened, the canvas keeps this share: in the window a 1280×800 screen
# opens, five runs and the comparison of two, or the whole Try page, fit the dock then
ROOMY_CANVAS_SHARE = 0.4


def fit_bottom_dock(window: QMainWindow, dock: QDockWidget, height: int | None = None,
                    canvas_share: float = MIN_CANVAS_SHARE) -> int:
    """Resize the bottom ``dock`` to ``height`` (default: its current height), but never so
    tall that the central widget (the canvas) drops below ``canvas_share`` of the window's
    height. Returns the height asked of the layout; floating or hidden docks are left
    alone."""
    current = dock.height()
    want = current if height is None else height
    central = window.centralWidget()
    if dock.isFloating() or dock.isHidden() or central is None:
        return current
    # What the dock may take: its height plus whatever the canvas has beyond its share.
    room = current + central.height() - int(window.height() * canvas_share)
    target = max(dock.minimumSizeHint().height(), min(want, room))
    if target != current:
        window.resizeDocks([dock], [target], Qt.Orientation.Vertical)
    return target


PAGE_TITLES = {"curves": "Curves", "runs": "Runs", "results": "Results",
               "layers": "Layer stats", "try": "Try"}


class TrainingWorkspace(QObject):
    """The controller and its views; :meth:`install` docks them in a main window."""

    def __init__(self, document: Document, parent: QObject | None = None,
                 runs_root: Path | None = None):
        super().__init__(parent)
        self.document = document
        self.controller = TrainingController(document, self, runs_root)
        self.panel = TrainingPanel(document, self.controller)
        self.data_panel = DataPanel(document)
        self.plots = LivePlots()
        # An edit goes first: the next frame of the curves waits a frame's time after it.
        document.undo_stack.indexChanged.connect(self.plots.yield_frame)
        self.history = RunHistory(self.controller)
        self.results = ResultsView()
        self.diagnostics = DiagnosticsView()
        self.try_page = TryPage(document)
        self.docks: dict[str, QDockWidget] = {}
        # The pages of the bottom area: in their own tab widget until install() moves them
        # into the window's.
        self.pages: dict[str, QWidget] = {
            "curves": self.plots, "runs": _scrolling(self.history),
            "results": _scrolling(self.results), "layers": self.diagnostics,
            "try": _scrolling(self.try_page)}
        self.tabs = QTabWidget()
        self.tabs.setObjectName("trainingTabs")
        for key, page in self.pages.items():
            self.tabs.addTab(page, PAGE_TITLES[key])
        self.tabs.currentChanged.connect(self._page_changed)

        self.train_action = QAction("Train", self)
        self.train_action.setToolTip("Train this design in a separate process (the editor stays "
                                     "usable)")
        self.train_action.setShortcut("Ctrl+T")
        self.pause_action = QAction("Pause", self)
        self.pause_action.setToolTip("Pause or resume the running training")
        self.stop_action = QAction("Stop", self)
        self.stop_action.setToolTip("Stop training after this step, keeping a checkpoint")
        self.export_action = QAction("Export Model…", self)
        self.export_action.setToolTip("Export a trained run as Python, safetensors, TorchScript, "
                                      "ONNX or torch.export, each verified")
        self.export_action.triggered.connect(lambda: self.open_export_dialog())
        self.train_action.triggered.connect(self.train)
        self.pause_action.triggered.connect(self.panel.pause_button.click)
        self.stop_action.triggered.connect(self.controller.stop)

        c = self.controller
        c.state_changed.connect(self._state_changed)
        self._state_changed(c.state)
        c.run_started.connect(self._run_started)
        self.panel.ended.connect(lambda: self._state_changed(c.state))
        document.design_replaced.connect(self._design_replaced)  # a method: goes with the workspace
        c.event.connect(self.plots.add_event)
        c.event.connect(self.diagnostics.add_event)
        c.event.connect(self.try_page.training_event)
        c.run_started.connect(self.try_page.run_started)
        c.run_finished.connect(self.try_page.run_finished)
        self.history.runs_loaded.connect(self.try_page.set_runs)
        c.run_finished.connect(self._run_finished)
        self.history.overlay_requested.connect(self.plots.set_overlays)
        self.history.open_results.connect(self.show_results)
        self.history.records_read.connect(self._show_past_run)
        self.history.run_selected.connect(self.results.select_run)

    def train(self) -> None:
        """Start training (as the panel's Train button does) and bring progress and curves into
        view, with room for the plots."""
        self.panel.start_training()
        if not self.controller.busy:
            return
        self.show_page("curves")
        for dock in (self.docks.get("training"), self._bottom_dock()):
            if dock is not None and (dock.isHidden() or dock.visibleRegion().isEmpty()):
                dock.show()
                dock.raise_()
        self._make_room()

    def show_page(self, key: str) -> None:
        self.tabs.setCurrentWidget(self.pages[key])

    def _page_changed(self, index: int) -> None:
        """The curves, the runs, the results and the Try page need height: showing them grows
        a short bottom dock."""
        if self.tabs.widget(index) in (self.pages[k] for k in ROOMY_PAGES):
            self._make_room()

    def _make_room(self) -> None:
        """Grow the bottom dock to :data:`ROOMY_DOCK` when it is under :data:`SHORT_DOCK`
        (never past :data:`ROOMY_CANVAS_SHARE` of the window: the canvas keeps that)."""
        dock, window = self._bottom_dock(), self.tabs.window()
        if dock is not None and isinstance(window, QMainWindow) and dock.height() < SHORT_DOCK:
            fit_bottom_dock(window, dock, ROOMY_DOCK, ROOMY_CANVAS_SHARE)

    def _bottom_dock(self) -> QDockWidget | None:
        widget = self.tabs.parentWidget()
        while widget is not None and not isinstance(widget, QDockWidget):
            widget = widget.parentWidget()
        return widget

    def open_export_dialog(self, parent: QWidget | None = None) -> ExportDialog:
        """Show the export dialog for this design's runs (the newest run first)."""
        folder = self.document.path.parent if self.document.path else Path.home()
        dialog = ExportDialog(self.document.design, self.history.runs,
                              parent or self.panel.window(), folder, self.document.snapshot())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def _state_changed(self, state: str) -> None:
        self.train_action.setEnabled(self.panel.train_button.isEnabled())
        self.pause_action.setEnabled(self.panel.pause_button.isEnabled())
        self.pause_action.setText(self.panel.pause_button.text())
        self.stop_action.setEnabled(self.panel.stop_button.isEnabled())

    def _design_replaced(self, _design=None) -> None:
        """New / Open: the previous design's curves and layer stats go (unless its run is
        still going: they go when the next run starts)."""
        if not self.controller.busy:
            self.plots.clear()
            self.plots.set_overlays({})
            self.diagnostics.clear()

    def _run_started(self, _run_dir: str) -> None:
        self.plots.clear()
        self.diagnostics.clear()
        self.show_page("curves")

    def _show_past_run(self, _run_dir: str, events: list) -> None:
        """A past run selected on the Runs page: the curves (per epoch, per step, learning
        rate) and the layer stats show its records (unless a run trains: they show that)."""
        if self.controller.busy:
            return
        self.plots.clear()
        self.plots.add_events(events)
        self.plots.redraw()
        self.diagnostics.clear()
        for event in events:
            self.diagnostics.add_event(event)
        self.diagnostics.redraw()

    def _run_finished(self, result: dict) -> None:
        from runtime.runs import RunFolder

        run_dir = Path(result["run_dir"])
        if RunFolder(run_dir).available_checkpoints():
            self.results.show_run(run_dir)

    def show_results(self, run_dir: str) -> None:
        self.results.show_run(run_dir)
        self.show_page("results")

    def install(self, window: QMainWindow, tabs: QTabWidget | None = None
                ) -> dict[str, QDockWidget]:
        """Dock the data and training panels on the right; put the curves, runs, results and
        layer-stats pages into ``tabs`` (the window's bottom tab widget) or, without one, into
        a dock of their own at the bottom."""
        docks = self.docks
        panels = [("data", "Data", _scrolling(self.data_panel)),
                  ("training", "Training", self.panel)]
        if tabs is not None:
            for key, page in self.pages.items():
                tabs.addTab(page, PAGE_TITLES[key])
            self.tabs.deleteLater()
            self.tabs = tabs
            tabs.currentChanged.connect(self._page_changed)
            areas = {"data": Qt.DockWidgetArea.RightDockWidgetArea,
                     "training": Qt.DockWidgetArea.RightDockWidgetArea}
        else:
            panels.append(("runs", "Training runs", self.tabs))
            areas = {"data": Qt.DockWidgetArea.RightDockWidgetArea,
                     "training": Qt.DockWidgetArea.RightDockWidgetArea,
                     "runs": Qt.DockWidgetArea.BottomDockWidgetArea}
        for key, title, widget in panels:
            dock = QDockWidget(title, window)
            dock.setObjectName(f"{key}Dock")
            dock.setFeatures(DOCK_FEATURES)
            dock.setWidget(widget)
            window.addDockWidget(areas[key], dock)
            docks[key] = dock
        return docks

    def shutdown(self) -> None:
        """Stop a running child before the window closes (it keeps its checkpoint)."""
        self.controller.shutdown()


def _scrolling(widget: QWidget) -> QScrollArea:
    """``widget`` in a scroll area, so a small dock can still hold it."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(widget)
    return area
