"""Dark plots, a readable learning-rate axis, and a bottom dock that leaves the canvas room."""
from __future__ import annotations

import math

import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from ui.training.plots import LivePlots
from ui.training.theme import BACKGROUND, style_plot
from ui.training.workspace import MIN_CANVAS_SHARE


def test_live_plots_are_dark(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    assert plots.graphics.backgroundBrush().color().name() == BACKGROUND
    axis = plots.plots["loss"].getAxis("left")
    assert axis.textPen().color().lightness() > 128  # light text on the dark background


def test_style_plot_darkens_a_plot_widget(qtbot):
    widget = pg.PlotWidget(title="t")
    qtbot.addWidget(widget)
    style_plot(widget)
    assert widget.backgroundBrush().color().name() == BACKGROUND


def test_constant_learning_rate_axis_starts_at_zero_above_the_rate(qtbot):
    plots = LivePlots()
    qtbot.addWidget(plots)
    for step in range(1, 50):
        plots.add_event({"event": "step", "step": step, "loss": 1.0, "lr": 0.003})
    plots.redraw()
    low, high = plots.plots["lr"].viewRange()[1]
    assert low == pytest.approx(0.0)
    assert 0.003 < high < 0.004

    plots.set_log_scale(True)
    low, high = plots.plots["lr"].viewRange()[1]
    assert low < math.log10(0.003) < high
    assert high - low == pytest.approx(1.0)


def _window(qtbot, **kwargs):
    from ui.main_window import MainWindow

    window = MainWindow(autosave=False, **kwargs)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_training_keeps_canvas_half_of_window(qtbot):
    from ui.training.workspace import fit_bottom_dock

    window = _window(qtbot, remember_layout=False)
    fit_bottom_dock(window, window.bottom_dock, 2000)  # asks for far too much
    QApplication.processEvents()  # the dock layout applies the request
    assert window.canvas.height() >= int(window.height() * MIN_CANVAS_SHARE) - 2


def test_oversized_bottom_dock_is_trimmed_when_saved(qtbot):
    window = _window(qtbot, remember_layout=False)
    window.resizeDocks([window.bottom_dock], [700], Qt.Orientation.Vertical)
    QApplication.processEvents()
    assert window.canvas.height() < window.height() // 2
    window.fit_bottom_dock()
    state = window.saveState()

    other = _window(qtbot, remember_layout=False)
    other.restoreState(state)
    QApplication.processEvents()
    assert other.canvas.height() >= int(other.height() * MIN_CANVAS_SHARE) - 2


def test_the_grid_is_solid_lines_at_the_ticks_behind_the_curves(qtbot):
    """The grid lines sit at the axes' ticks, follow a range change, and are opaque colours
    under the curves: the axes draw no translucent grid of their own (repainting that was most
    of what a live frame cost)."""
    from ui.training.theme import FaintGrid, mixed

    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    plot = style_plot(widget)
    widget.resize(400, 300)
    widget.show()
    qtbot.waitExposed(widget)
    grid = plot.faint_grid
    assert isinstance(grid, FaintGrid) and grid.parentItem() is plot.vb.childGroup
    assert all(plot.getAxis(name).grid is False for name in ("left", "bottom"))
    curve = plot.plot([0, 10], [0, 1])
    assert grid.zValue() < curve.zValue()
    assert all(pen.color().alpha() == 255 for pen in grid.pens)

    def xs() -> set[float]:
        widget.grab()  # paints: the lines are worked out for this range
        lines = grid._lines
        return {round(line.x1(), 6) for line in lines[0] if line.x1() == line.x2()}

    plot.setXRange(0, 10, padding=0)
    ticks = plot.getAxis("bottom").tickValues(0, 10, plot.vb.width())[0][1]
    assert xs() == {round(v, 6) for v in ticks}
    plot.setXRange(0, 1000, padding=0)
    ticks = plot.getAxis("bottom").tickValues(0, 1000, plot.vb.width())[0][1]
    assert xs() == {round(v, 6) for v in ticks} and 800 in xs()
    assert mixed("#ffffff", 0.0) == mixed(BACKGROUND, 1.0)  # a share of nothing is the background


def test_a_styled_plot_needs_no_collector_to_go(qtbot):
    """The grid makes no reference cycle with its plot: a plot's Qt objects go when the last
    reference does, not whenever Python's collector runs (it could run while a list of top-level
    widgets is walked, and a widget deleted then crashed the process)."""
    import weakref

    from ui.loading import collection_paused

    with collection_paused():
        widget = pg.PlotWidget()
        item = style_plot(widget)
        assert item.faint_grid.plot is item
        gone = weakref.ref(item)
        del widget, item
        assert gone() is None
