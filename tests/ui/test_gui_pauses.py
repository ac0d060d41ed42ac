"""What keeps the GUI thread's pauses short while training and editing: work an edit or a frame
no longer does (no timings here; benchmarks/app_training_bench.py measures the pauses)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QDockWidget

from tests.conftest import EXAMPLES
from tests.ui.test_window import isolated, make_window, no_leaked_windows  # noqa: F401 (fixtures)
from ui.commands import SetParamCommand


def _settle() -> None:
    for _ in range(3):
        QApplication.processEvents()


def test_an_edit_that_keeps_the_diagnostic_counts_leaves_the_bottom_tabs_alone(make_window):
    """The Diagnostics tab's title is set only when its counts change: setting the same text
    laid the tabs out again, and so the whole bottom dock (the live curves too) was laid out
    and repainted after every edit."""
    window = make_window(EXAMPLES / "digits_mlp.json", autosave=False, remember_layout=False)
    _settle()
    tabs = window.bottom_tabs
    titles: list[str] = []
    original = tabs.setTabText
    tabs.setTabText = lambda index, text: (titles.append(text), original(index, text))
    design = window.document.design
    linear = next(n for n in design.nodes if n.type == "Linear")
    for width in (32, 64):
        window.document.push(SetParamCommand(design, linear.id, "out_features", width))
        window.document.revalidate()
        _settle()
    assert titles == []
    last = [n for n in design.nodes if n.type == "Linear"][-1]  # 3 outputs for 10 classes
    window.document.push(SetParamCommand(design, last.id, "out_features", 3))
    window.document.revalidate()
    assert len(titles) == 1 and titles[0].startswith("Diagnostics ✗1")
    assert tabs.tabText(tabs.indexOf(window.diagnostics)) == titles[0]


class _Paints(QObject):
    """Counts the paint events of the watched widgets."""

    def __init__(self, *widgets):
        super().__init__()
        self.counts = {id(w): 0 for w in widgets}
        for widget in widgets:
            widget.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt)
        if event.type() == QEvent.Type.Paint:
            self.counts[id(obj)] += 1
        return False


def test_a_frame_of_the_curves_paints_the_plots_once_and_nothing_under_them(qtbot):
    """A frame whose new points move an axis paints the plots once (pyqtgraph moved the curves
    to the new range as painting started, which painted them a second time), and the widgets
    under the plots are not painted (the view paints its whole background)."""
    from ui.training.plots import LivePlots

    from ui.app import stylesheet

    under = QDockWidget("Analysis")  # as in the window: a dock with the app's style sheet
    under.setStyleSheet(stylesheet())
    qtbot.addWidget(under)
    plots = LivePlots()
    under.setWidget(plots)
    plots.timer.stop()
    under.resize(1000, 260)
    under.show()
    qtbot.waitExposed(under)
    _settle()
    viewport = plots.graphics.viewport()
    paints = _Paints(viewport, under)
    for epoch in range(1, 40):
        plots.add_event({"event": "epoch", "epoch": epoch, "step": 10 * epoch,
                         "train_loss": 2.0 / epoch, "val_loss": 2.5 / epoch, "lr": 1e-3})
        before = dict(paints.counts)
        ranges = plots.plots["loss"].vb.viewRange()
        plots.redraw()
        _settle()
        if plots.plots["loss"].vb.viewRange() != ranges:  # an axis moved
            assert paints.counts[id(viewport)] == before[id(viewport)] + 1
    assert paints.counts[id(under)] == 0


def test_a_selection_behind_another_panel_builds_the_inspector_page_when_it_is_shown(make_window,
                                                                                    qtbot):
    """A layer's inspector page takes about 10 ms to build: while the Training panel is in
    front (a run in progress) selecting layers builds nothing; the page of the last selection
    is built when the inspector is shown."""
    from ui.inspector import DesignView, NodeView

    window = make_window(EXAMPLES / "digits_mlp.json", autosave=False, remember_layout=False)
    inspector = window.inspector
    window.training_docks["training"].raise_()
    qtbot.waitUntil(lambda: not inspector.in_view)  # a tab behind: moved out, not hidden
    _settle()
    assert isinstance(inspector.view, DesignView)
    first, second = [n.id for n in window.document.design.nodes if n.type == "Linear"][:2]
    for node_id in (first, second):
        window.canvas.select_nodes([node_id])
        _settle()
        assert isinstance(inspector.view, DesignView)  # nothing built meanwhile
    window.inspector_dock.raise_()
    qtbot.waitUntil(lambda: isinstance(inspector.view, NodeView))
    assert inspector.view.node_id == second
    window.canvas.select_nodes([first])  # shown: built at once
    assert isinstance(inspector.view, NodeView) and inspector.view.node_id == first
