"""The dark look of every pyqtgraph plot, in one place.

Colours follow the canvas theme (ui/canvas/style.py) and resources/style.qss, so the plots sit in
the dark window instead of showing white boxes. :func:`style_plot` styles a ``PlotWidget`` or a
``PlotItem`` (background, axes, title and grid). :data:`PALETTE` holds curve colours that read
well on the dark background.
"""
from __future__ import annotations

import math
import weakref

import pyqtgraph as pg
from PySide6.QtCore import QLineF, QRectF
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPen

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
GRID_STRENGTH = (0.16, 0.08)  # major and minor grid lines: this share of AXIS over BACKGROUND


def mixed(color: str, share: float, under: str = BACKGROUND) -> QColor:
    """The opaque colour of ``color`` drawn at opacity ``share`` over ``under``."""
    top, bottom = QColor(color), QColor(under)
    return QColor(*(round(share * a + (1 - share) * b) for a, b in
                    zip(top.getRgb()[:3], bottom.getRgb()[:3])))


class FaintGrid(pg.GraphicsObject):
    """A plot's grid: solid lines at its axes' major and minor ticks, behind the curves.

    pyqtgraph's own grid (``showGrid``) stretches every tick of an axis across the plot as a
    translucent line, so each axis repaint (every change of its range) blended a plot-sized
    picture: most of what a frame of live curves cost. These lines are opaque colours mixed
    with the background, and are worked out again only when the view's range or size changes.
    """

    def __init__(self, plot: pg.PlotItem):
        super().__init__()
        # Weakly: the plot keeps its grid (``faint_grid``); a cycle would leave the plot's
        # deletion to Python's collector, at whatever moment it runs.
        self._plot = weakref.ref(plot)
        self.pens = [QPen(mixed(AXIS, share)) for share in GRID_STRENGTH]
        for pen in self.pens:
            pen.setCosmetic(True)  # one pixel wide, whatever the view's scale
        self._lines: list[list[QLineF]] | None = None
        self.setZValue(-1e9)  # under every curve
        plot.vb.addItem(self, ignoreBounds=True)
        plot.vb.sigTransformChanged.connect(self._invalidate)

    @property
    def plot(self) -> pg.PlotItem:
        return self._plot()

    def _invalidate(self, *_args) -> None:
        self.prepareGeometryChange()
        self._lines = None

    def boundingRect(self):  # noqa: N802 (Qt)
        plot = self.plot
        return plot.vb.viewRect() if plot is not None else QRectF()

    def paint(self, painter, *_args) -> None:
        if self.plot is None:  # the plot is being deleted
            return
        if self._lines is None:
            self._lines = self._grid_lines()
        for pen, lines in zip(self.pens, self._lines):
            painter.setPen(pen)
            painter.drawLines(lines)

    def _grid_lines(self) -> list[list[QLineF]]:
        """Lines at the ticks the axes show now (values in view coordinates, log or not)."""
        view, box = self.plot.vb.viewRect(), self.plot.vb
        left, right = sorted((view.left(), view.right()))
        low, high = sorted((view.top(), view.bottom()))
        levels: list[list[QLineF]] = [[] for _ in self.pens]
        for name, (lo, hi), pixels in (("bottom", (left, right), box.width()),
                                        ("left", (low, high), box.height())):
            axis = self.plot.getAxis(name)
            if hi <= lo or pixels <= 0:
                continue
            for lines, (_spacing, values) in zip(levels, axis.tickValues(lo, hi, pixels)):
                lines += [QLineF(v, low, v, high) if name == "bottom" else QLineF(left, v, right, v)
                          for v in values if lo <= v <= hi]
        return levels


class ReadableAxis(pg.AxisItem):
    """An axis whose tick labels never run together. pyqtgraph spaces the major ticks by the
    axis' length alone (at least 2.25 intervals), so on a narrow plot "200", "400", "600" and
    "800" touched ("200400600800"); here the major spacing also leaves each label its width and
    :data:`LABEL_GAP_PX`, and a label that would still touch one already placed is left out.
    Labels at the ends may reach :data:`OVERHANG_PX` past a horizontal axis (pyqtgraph hides
    any that pass its ends), so a narrow axis still shows where it starts and ends; on a
    vertical axis none reaches above its top, into the title row and its legend."""

    LABEL_GAP_PX = 8
    OVERHANG_PX = 16

    def __init__(self, orientation: str, **kwargs):
        super().__init__(orientation, **kwargs)
        if orientation in ("bottom", "top"):
            self.setStyle(hideOverlappingLabels=self.OVERHANG_PX)

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph)
        levels = super().tickSpacing(minVal, maxVal, size)
        if not levels or size <= 0 or self._tickSpacing is not None or self.logMode:
            return levels
        major = levels[0][0]
        per_label = self._label_extent(minVal, maxVal, major) + self.LABEL_GAP_PX
        least = per_label * abs(maxVal - minVal) / size  # the spacing that leaves them room
        if major >= least:
            return levels
        major = nice_step(least)
        return [(major, 0), (major / (5 if f"{major:e}"[0] in "15" else 2), 0)]

    def _label_extent(self, low: float, high: float, spacing: float) -> float:
        """How much of the axis' length the widest label takes (its width on a horizontal
        axis, its height on a vertical one)."""
        metrics = QFontMetricsF(self.style["tickFont"] or QFont())
        if self.orientation in ("left", "right"):
            return metrics.height()
        strings = self.tickStrings([low, high, (low + high) / 2],
                                   self.autoSIPrefixScale * self.scale, spacing)
        return max(metrics.horizontalAdvance(s) for s in strings)

    def generateDrawSpecs(self, p):  # noqa: N802 (pyqtgraph)
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis, ticks, texts = specs
        vertical = self.orientation in ("left", "right")
        kept: list = []
        for text in texts:  # the major ticks' labels come first: they are kept
            room = text[0].adjusted(-self.LABEL_GAP_PX / 2, 0, self.LABEL_GAP_PX / 2, 0)
            if not any(room.intersects(other[0]) for other in kept) \
                    and not (vertical and text[0].top() < 0):
                kept.append(text)
        return axis, ticks, kept


def nice_step(value: float) -> float:
    """The smallest of 1, 2, 5 × 10ᵏ that is ≥ ``value`` (> 0)."""
    decade = 10 ** math.floor(math.log10(value))
    return next(m * decade for m in (1, 2, 5, 10) if m * decade >= value)


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
    if grid and getattr(item, "faint_grid", None) is None:
        item.faint_grid = FaintGrid(item)
    return item

