"""The dark look of every pyqtgraph plot, in one place.

Colours follow the canvas theme (ui/canvas/style.py) and resources/style.qss, so the plots sit in
the dark window instead of showing white boxes. :func:`style_plot` styles a ``PlotWidget`` or a
``PlotItem`` (background, axes, title and grid). :data:`PALETTE` holds curve colours that read
well on the dark background.
"""
from __future__ import annotations

import pyqtgraph as pg

from ..canvas.style import Theme

BACKGROUND = Theme.background.name()  # the canvas' #1d2026
AXIS = "#5b6270"  # axis lines and ticks
TEXT = Theme.text_muted.name()  # tick labels and axis titles
TITLE = Theme.text.name()
ERROR = Theme.error.name()  # NaN marker, error text
# Tableau-10, brightened where the original is too dark to read on BACKGROUND.
PALETTE = ["#4e9be6", "#ff9f40", "#4cc26a", "#ff5a52", "#b48ee0", "#c49a8c", "#f28fd0",
           "#b0b6c0", "#d4d34a", "#33d0e0"]
FAINT = (78, 155, 230, 90)  # the raw per-step loss under its smoothed line


def style_plot(plot: pg.PlotWidget | pg.PlotItem, grid: bool = True) -> pg.PlotItem:
    """Give ``plot`` the dark background, readable axes and title, and a faint grid unless
    ``grid`` is false (for images); returns its ``PlotItem``."""
    if isinstance(plot, pg.PlotWidget):
        plot.setBackground(BACKGROUND)
        item = plot.getPlotItem()
    else:
        item = plot
    for name in ("left", "bottom", "right", "top"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(AXIS))
        axis.setTextPen(pg.mkPen(TEXT))  # also colours the axis label, now and later
        # Text is what an axis costs to paint: a pixmap of it is reused until its ticks change.
        axis.setCacheMode(axis.CacheMode.DeviceCoordinateCache)
    item.titleLabel.opts.update(color=TITLE, size="9pt")  # kept for later setTitle calls
    if item.titleLabel.text:
        item.setTitle(item.titleLabel.text)
    if grid:
        item.showGrid(x=True, y=True, alpha=0.12)
    return item

