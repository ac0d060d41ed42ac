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
