"""Live training curves (pyqtgraph).

Four plots: loss per epoch (train and validation), loss per step (raw and smoothed), metrics per
epoch, and the learning rate. Following pyqtgraph's scrolling-plots recipe, each curve is created
once and redrawn with ``setData`` from a ~30 Hz timer, only when its buffer changed and the
plots are on screen, with peak downsampling and clip-to-view — so 100k steps stay smooth — and
frames are spaced by what painting costs, so the plots never hog the GUI thread. A NaN or
infinite value breaks the line there and is marked with a red line labelled "NaN"; it never
reaches pyqtgraph's fast path. Each plot's legend is a line of coloured names in its title row
(:class:`TitleLegend`), so the curves keep the height of the short bottom dock.
"""
from __future__ import annotations

import html
import itertools
import math
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .buffers import Series, SmoothedSeries
from .tasks import adopt_popups
from graph import metrics as M
from runtime.paths import short_run_name

from .theme import BACKGROUND, ERROR, FAINT, PALETTE, ReadableAxis, style_plot

FRAME_MS = 33  # ≤ 30 redraws per second
PAINT_SHARE = 4  # frames at least this many paint durations apart (painting ≤ 1/4 of the time)

# Plot ids → titles and what the x axis counts (the titles say it: no axis label takes height).
PLOTS = {
    "loss": ("Loss per epoch", "epoch"),
    "step": ("Loss per step", "step"),
    "metrics": ("Metrics per epoch", "epoch"),
    "lr": ("Learning rate", "step"),
}
# The colours of the curves every run has (the metrics' curves take the palette's others).
USUAL_COLORS = {"lr": PALETTE[0], "epoch/train_loss": PALETTE[1], "epoch/val_loss": PALETTE[2],
                "step/smooth": PALETTE[4]}
LEGEND_PT = 8.0  # the legend line's font size
X_MARGIN = 1.05  # the x axis reaches at least this far past the newest point
LR_HEADROOM = 1.15  # the learning-rate axis reaches this far above the largest rate
Y_MARGIN = 0.1  # a refitted y axis reaches this share of the data's span past either end
Y_FILL = 0.4  # ... and is refitted once the data fills less than this share of it
_SKIP_EPOCH_KEYS = {"epoch", "epochs", "event", "type", "step", "batch", "batches", "lr", "time",
                    "elapsed_s", "duration_s", "samples_per_s", "eta_s", "best", "improved"}


class _TimedGraphics(pg.GraphicsLayoutWidget):
    """Remembers how long its last paint took (the plots pace their frames by it)."""

    last_paint_ms = 0.0

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt)
        start = time.perf_counter()
        super().paintEvent(event)
        self.last_paint_ms = (time.perf_counter() - start) * 1000


class _ClippedTitle(pg.LabelItem):
    """A plot title that never asks for more width than the plot has: it is centred when it
    fits, otherwise shown from its start and clipped."""

    def __init__(self, text: str = " ", **opts):
        super().__init__(text, **opts)
        self.setFlag(self.GraphicsItemFlag.ItemClipsChildrenToShape)

    def updateMin(self) -> None:  # noqa: N802 (pyqtgraph)
        super().updateMin()
        self.setMinimumWidth(0)
        height = self.itemRect().height()
        for hint in (Qt.SizeHint.MinimumSize, Qt.SizeHint.PreferredSize):
            self._sizeHint[hint] = (0, height)

    resized = None  # called with the new width (the legend then shows what fits whole)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt)
        if self.resized is not None:
            self.resized(self.width())
        self.opts["justify"] = "center" if self.itemRect().width() <= self.width() else "left"
        super().resizeEvent(event)


@dataclass(frozen=True)
class _Entry:
    """One part of a legend line: a curve's label after a swatch of its colour, or a note."""

    text: str
    color: str = ""
    swatch: str = ""  # "━" solid, "┅" dashed (other runs); none for a note

    @property
    def plain(self) -> str:
        return f"{self.swatch} {self.text}" if self.swatch else self.text

    def html(self) -> str:
        text = html.escape(self.text)
        return f'<span style="color:{self.color}">{self.swatch}</span>&nbsp;{text}' \
            if self.swatch else text


class TitleLegend:
    """A plot's legend in its title row: the title, and under it one line of the named curves,
    each a swatch of its colour (dashed for other runs) and its label, plus an optional note
    (the current learning rate). ``PlotItem.addItem`` and ``removeItem`` enter and drop named
    curves here, as they would in a ``LegendItem``. The title row spans the plot's whole width;
    the line shows the entries that fit whole and counts the rest, and the title's tooltip
    lists every curve by its full name (given to :meth:`addItem`). Changes made inside
    :meth:`batch` are drawn once, at its end."""

    def __init__(self, plot: pg.PlotItem, title: str):
        self.plot, self.title, self.note = plot, title, ""
        self._row_height = -1.0
        self.entries: dict[int, tuple[pg.PlotDataItem, str]] = {}
        self._full_names: dict[int, str] = {}
        old = plot.titleLabel
        plot.layout.removeItem(old)
        if old.scene() is not None:
            old.scene().removeItem(old)
        plot.titleLabel = _ClippedTitle(**old.opts)
        plot.titleLabel.item.document().setDocumentMargin(0)
        plot.titleLabel.setCacheMode(plot.titleLabel.CacheMode.DeviceCoordinateCache)
        plot.titleLabel.setParentItem(plot)
        plot.layout.addItem(plot.titleLabel, 0, 0, 1, 3)  # over the axis too: more room
        font = plot.titleLabel.item.font()
        font.setPointSizeF(LEGEND_PT)
        self._metrics = QFontMetrics(font)
        self._width = 0.0  # the title's width (0 until laid out: everything is shown)
        self._batching = 0  # > 0: changes wait for the end of the batch
        plot.titleLabel.resized = self._resized
        self._render()

    def _resized(self, width: float) -> None:
        if width != self._width:
            self._width = width
            self._render()

    @property
    def names(self) -> list[str]:
        """The names shown: curves without points yet are left out."""
        return [name for item, name in self.entries.values() if _has_points(item)]

    def refresh(self) -> None:
        """Show the entries again (a curve got its first points, or lost them)."""
        self._render()

    def addItem(self, item: pg.PlotDataItem, name: str,  # noqa: N802 (pyqtgraph)
                full_name: str | None = None) -> None:
        """List ``item`` as ``name``; the tooltip calls it ``full_name`` (by default ``name``,
        of which the label may be a short form)."""
        self.entries[id(item)] = (item, name)
        if full_name is not None:
            self._full_names[id(item)] = full_name
        self._render()

    def removeItem(self, item: pg.PlotDataItem) -> None:  # noqa: N802 (pyqtgraph)
        self._full_names.pop(id(item), None)
        if self.entries.pop(id(item), None) is not None:
            self._render()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Draw the changes made inside once, at the end (many overlaid runs: one drawing)."""
        self._batching += 1
        try:
            yield
        finally:
            self._batching -= 1
            self._render()

    def set_note(self, note: str) -> None:
        if note != self.note:
            self.note = note
            self._render()

    def _parts(self) -> list[_Entry]:
        parts = []
        for item, name in self.entries.values():
            if _has_points(item):
                pen = pg.mkPen(item.opts["pen"])
                solid = pen.style() == Qt.PenStyle.SolidLine
                parts.append(_Entry(name, pen.color().name(), "━" if solid else "┅"))
        return parts + ([_Entry(self.note)] if self.note else [])

    def _render(self) -> None:
        if self._batching:
            return
        # Empty, the line holds an invisible swatch: the row is as tall as with curves, so the
        # first curve does not resize the plot (which repaints every axis).
        legend = "&nbsp;&nbsp; ".join(part.html() for part in self._fitting(self._parts())) \
            or f'<span style="color:{BACKGROUND}">━</span>'
        # The label's own setText, not PlotItem.setTitle: that sets the title row to 30 px on
        # every call, so each legend change laid the plot out again and repainted all of it.
        label = self.plot.titleLabel
        label.setText(f"<b>{self.title}</b><br/>"
                      f"<span style='font-size:{LEGEND_PT:g}pt'>{legend}</span>")
        height = label.itemRect().height()
        if height != self._row_height:  # both lines
            self._row_height = height
            self.plot.layout.setRowFixedHeight(0, height)
        full = [self._full_names.get(key, name) for key, (item, name) in self.entries.items()
                if _has_points(item)]
        label.setToolTip("\n".join([self.title, *full] + ([self.note] if self.note else [])))

    def _fitting(self, parts: list[_Entry]) -> list[_Entry]:
        """As many whole entries as fit the title's width, then "+N more" (just "+N" where
        only that leaves room for one entry; the tooltip lists them all): never an entry cut
        in its name."""
        if not self._width or not parts:
            return parts
        gap = self._metrics.horizontalAdvance("   ")
        ends = list(itertools.accumulate(self._metrics.horizontalAdvance(p.plain) + gap
                                         for p in parts))  # each entry's end, gap included
        for more in ("+{} more", "+{}"):
            for k in range(len(parts), 0, -1):  # the most entries first
                left = len(parts) - k
                rest = self._metrics.horizontalAdvance(more.format(left)) + gap if left else 0
                if ends[k - 1] - gap + rest <= self._width:
                    return parts[:k] + ([_Entry(more.format(left))] if left else [])
        return [_Entry(f"{len(parts)} curves")]


def _dots_while_few(item: pg.PlotDataItem, y: np.ndarray) -> None:
    """A line needs two points: a curve's first ones are dots in its colour (a one-epoch run's
    losses and metrics are one point each), plain line from the third on (no dot for NaN)."""
    dots = "o" if len(y) < 3 and np.isfinite(y).any() else None
    if item.opts["symbol"] != dots:
        color = pg.mkPen(item.opts["pen"]).color()
        item.setSymbol(dots)
        item.setSymbolSize(6)
        item.setSymbolPen(color)
        item.setSymbolBrush(color)


def _has_points(item: pg.PlotDataItem) -> bool:
    x = item.xData
    return x is not None and len(x) > 0


@dataclass
class Curve:
    """One buffer and the plot item that shows it."""

    series: Series
    item: pg.PlotDataItem
    plot: str
    drawn: int = -1  # buffer version last drawn
    in_legend: bool = False  # whether the legend lists it (it has points)


def round_up(value: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 5, 7 × 10ᵏ that is ≥ ``value`` (≥ 1): the axis changes
    six times a decade (each change rebuilds its labels, the dearest part of a frame) and at
    most about a third of it is empty past the newest point."""
    if value <= 1:
        return 1.0
    decade = 10 ** math.floor(math.log10(value))
    return next(m * decade for m in (1, 1.5, 2, 3, 5, 7, 10) if m * decade >= value)


def epoch_values(record: Mapping[str, Any]) -> dict[str, float]:
    """The plottable numbers of an epoch record: losses and metrics, not bookkeeping."""
    out = {}
    for key, value in record.items():
        if key in _SKIP_EPOCH_KEYS or isinstance(value, bool):
            continue
        if isinstance(value, (int, float)) or value is None or value in ("NaN", "Infinity",
                                                                           "-Infinity"):
            out[key] = value
    return out


class LivePlots(QWidget):
    """The curves of the current run, plus dashed overlays of other runs."""

    def __init__(self, parent: QWidget | None = None, smoothing: int = 5):
        super().__init__(parent)
        self.smoothing = smoothing  # the smoothed step loss: points averaged either side
        self.graphics = _TimedGraphics()
        self.graphics.setBackground(BACKGROUND)
        # The view paints its whole background: the dock and the tabs under it need not be
        # painted again with every frame of the curves.
        self.graphics.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        margins = self.graphics.ci.layout.getContentsMargins()  # room for the last x label:
        self.graphics.ci.layout.setContentsMargins(*margins[:2], ReadableAxis.OVERHANG_PX,
                                                   margins[3])  # it may reach past its axis
        self.plots: dict[str, pg.PlotItem] = {}
        for i, (pid, (title, _xlabel)) in enumerate(PLOTS.items()):
            self.plots[pid] = self._make_plot(i, pid, title)
        self.curves: dict[str, Curve] = {}
        # The usual curves keep one colour each; the others (metrics) take the rest in turn.
        self._colors = itertools.cycle([c for c in PALETTE if c not in USUAL_COLORS.values()])
        self._nan_lines: dict[str, pg.InfiniteLine] = {}
        self._overlay_items: list[tuple[pg.PlotItem, pg.PlotDataItem]] = []

        self.log_box = QCheckBox("Log scale")
        self.log_box.setToolTip("Show loss and learning rate on a logarithmic axis")
        self.log_box.toggled.connect(self.set_log_scale)
        self.status = QLabel()
        self.status.setStyleSheet(f"color: {ERROR}")
        top = QHBoxLayout()
        top.addWidget(self.log_box)
        top.addStretch(1)
        top.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.graphics, 1)

        self.timer = QTimer(self)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(lambda: self.redraw(force=False))
        self._last_frame = 0.0
        self._last_plot = ""  # the plot the last frame drew (frames take turns)
        self._following = set(PLOTS)  # plots whose x axis follows the run in steps
        self._step_loss_epochs: set[Any] = set()  # epochs whose step events carried a loss
        self._make_usual_curves()
        self.timer.start()

    def _make_plot(self, column: int, pid: str, title: str) -> pg.PlotItem:
        """Plot ``pid`` in ``column`` of the one row (the bottom dock is wide and short): dark,
        its axes' labels apart, its legend in its title row, its x axis from 0."""
        plot = adopt_popups(self, lambda: self.graphics.addPlot(
            row=0, col=column, title=title,
            axisItems={name: ReadableAxis(name) for name in ("bottom", "left")}))
        style_plot(plot)
        # Tick labels may widen the axis but never narrow it again, and it starts as wide
        # as "0.0000": a label of another width moved every plot of the row (a relayout
        # and a repaint of all four).
        axis = plot.getAxis("left")
        font = axis.style["tickFont"] or axis.font()
        axis.textWidth = QFontMetrics(font).horizontalAdvance("0.0000")  # pyqtgraph's own
        axis.setStyle(autoReduceTextSpace=False)
        plot.legend = TitleLegend(plot, title)  # PlotItem.addItem enters named curves here
        plot.setLimits(xMin=0)  # steps and epochs start at 0: no negative axis
        # A user's pan or zoom stops the x axis following the run (see _follow_x).
        plot.vb.sigRangeChangedManually.connect(
            lambda _mask: self._following.discard(pid))
        return plot

    def _make_usual_curves(self) -> None:
        """The curves every run draws, made now while nothing runs: making a plot item takes
        milliseconds, and a run's first events would otherwise make them all in one go. The
        legends list them once they have points."""
        self._curve("step/raw", "step", "raw", faint=True)
        self._curve("step/smooth", "step", "smoothed", smooth=True,
                    color=USUAL_COLORS["step/smooth"])
        self._curve("lr", "lr", "learning rate", color=USUAL_COLORS["lr"])
        for key in ("train_loss", "val_loss"):
            self._curve(f"epoch/{key}", "loss", M.label(key), color=USUAL_COLORS[f"epoch/{key}"])

    # ---- feeding -----------------------------------------------------------------------------

    def add_event(self, event: Mapping[str, Any]) -> None:
        """Take one trainer event (``step`` and ``epoch`` are plotted; others are ignored)."""
        kind = event.get("event")
        if kind == "step":
            step = float(event.get("step", 0))
            if "loss" in event:
                self._step_loss_epochs.add(event.get("epoch"))
                raw = self._curve("step/raw", "step", "raw", faint=True)
                raw.series.append(step, event["loss"])
                self._curve("step/smooth", "step", "smoothed", smooth=True).series.append(
                    step, event["loss"])
            if "lr" in event:
                self._curve("lr", "lr", "learning rate").series.append(step, event["lr"])
        elif kind == "epoch":
            epoch = float(event.get("epoch", 0))
            lr = self.curves.get("lr")
            if "lr" in event and "step" in event and (lr is None or not len(lr.series)
                                                      or lr.series.arrays()[0][-1] < event["step"]):
                # Short runs may end before any step event: the learning rate still shows.
                self._curve("lr", "lr", "learning rate").series.append(float(event["step"]),
                                                                       event["lr"])
            for key, value in epoch_values(event).items():
                plot = "loss" if key.endswith("loss") else "metrics"
                self._curve(f"epoch/{key}", plot, M.label(key)).series.append(epoch, value)
            self._step_loss_from_epoch(event)

    def _step_loss_from_epoch(self, event: Mapping[str, Any]) -> None:
        """A short run logs few step events: the training loss of an epoch that had none, at its
        last step, keeps "Loss per step" a curve rather than one point (a lone point is drawn as
        a dot). An epoch whose steps were plotted adds nothing: its mean, higher than its last
        steps' losses, would jump up at every epoch boundary."""
        step, loss = event.get("step"), event.get("train_loss")
        if not isinstance(step, (int, float)) or not isinstance(loss, (int, float)) \
                or event.get("epoch") in self._step_loss_epochs:
            return
        raw = self.curves.get("step/raw")
        if raw is not None and len(raw.series) and raw.series.arrays()[0][-1] >= step:
            return
        self._curve("step/raw", "step", "raw", faint=True).series.append(float(step), loss)
        self._curve("step/smooth", "step", "smoothed", smooth=True).series.append(
            float(step), loss)

    def add_events(self, events: Iterable[Mapping[str, Any]]) -> None:
        for event in events:
            self.add_event(event)

    def clear(self) -> None:
        """Forget the current run's curves (a new run starts)."""
        for curve in self.curves.values():
            curve.series.clear()
        for line in self._nan_lines.values():  # kept for the next run, hidden
            line.setVisible(False)
        for plot in self.plots.values():  # fresh axes: not the previous run's range (auto
            plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)  # range keeps it until
            plot.enableAutoRange()  # the first point arrives)
        self._following = set(PLOTS)
        self._step_loss_epochs.clear()
        self.status.clear()
        self.redraw()

    def points(self, key: str) -> int:
        """How many points curve ``key`` (e.g. ``"epoch/val_loss"``, ``"step/raw"``) holds."""
        curve = self.curves.get(key)
        return len(curve.series) if curve else 0

    # ---- overlays of other runs -------------------------------------------------------------------

    def set_overlays(self, runs: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
        """Draw other runs' epoch curves, dashed: ``{run name: epoch records}``. Each legend
        is drawn once, with all of them."""
        with ExitStack() as legends:
            for plot in self.plots.values():
                legends.enter_context(plot.legend.batch())
            for plot, item in self._overlay_items:
                plot.removeItem(item)
            self._overlay_items.clear()
            colors = itertools.cycle(PALETTE[::-1])
            for name, records in runs.items():
                self._overlay(name, records, next(colors))

    def _overlay(self, name: str, records: Iterable[Mapping[str, Any]], color: str) -> None:
        """One run's curves, in its colour: validation dashed, training dotted. The legend
        calls them by the run's short name (the tooltip by its whole name)."""
        series: dict[str, Series] = {}
        for record in records:
            epoch = float(record.get("epoch", 0))
            for key, value in epoch_values(record).items():
                series.setdefault(key, Series(64)).append(epoch, value)
        for key, s in series.items():
            plot = self.plots["loss" if key.endswith("loss") else "metrics"]
            pen = pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine
                           if key.startswith("val") else Qt.PenStyle.DotLine)
            x, y = s.arrays()
            item = plot.plot(x.copy(), y.copy(), pen=pen, connect="finite")
            plot.legend.addItem(item, f"{short_run_name(name)} {M.label(key)}",
                                full_name=f"{name}: {M.label(key)}")
            self._overlay_items.append((plot, item))

    @property
    def overlay_count(self) -> int:
        return len(self._overlay_items)

    # ---- drawing ------------------------------------------------------------------------------

    def _curve(self, key: str, plot: str, name: str, faint: bool = False,
               smooth: bool = False, color: str | None = None) -> Curve:
        curve = self.curves.get(key)
        if curve is None:
            if faint:
                pen = pg.mkPen(FAINT, width=1)
            else:
                pen = pg.mkPen(color or next(self._colors), width=2)
            series = SmoothedSeries(self.smoothing) if smooth else Series()
            # One curve needs no legend: the learning rate's title names it.
            item = self.plots[plot].plot(pen=pen, name=None if plot == "lr" else name)
            item.opts["name"] = name
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            curve = self.curves[key] = Curve(series, item, plot, drawn=series.version)
        return curve

    def yield_frame(self, *_args) -> None:
        """Let the window's own work go first: the next frame waits :data:`FRAME_MS` (an edit
        and its revalidation then never share a pass of the event loop with a frame)."""
        self._last_frame = time.perf_counter()

    def redraw(self, force: bool = True) -> None:
        """Push changed buffers to their items. The frame timer calls it with ``force=False``:
        then nothing is drawn while the plots are hidden, each frame draws one plot (they take
        turns), and frames are spaced so that painting takes at most a quarter of the GUI
        thread's time."""
        if not force:
            if not self.isVisible():
                return
            spacing = max(FRAME_MS, PAINT_SHARE * self.graphics.last_paint_ms)
            if (time.perf_counter() - self._last_frame) * 1000 < spacing:
                return
        self._last_frame = time.perf_counter()
        stale = [c for c in self.curves.values() if c.drawn != c.series.version]
        if not force and stale:
            # One plot per frame: a frame repaints one plot's axes, not all four (their text
            # is what painting costs), so no frame holds the GUI thread long.
            order = list(PLOTS)
            after = order.index(self._last_plot) + 1 if self._last_plot in order else 0
            pending = {c.plot for c in stale}
            self._last_plot = next(p for p in order[after:] + order[:after] if p in pending)
            stale = [c for c in stale if c.plot == self._last_plot]
        for curve in stale:
            x, y = curve.series.arrays()
            finite = curve.series.all_finite
            # Copies: the item keeps the arrays, and the buffers are resized in place.
            curve.item.setData(x.copy(), y.copy(), connect="all" if finite else "finite",
                               skipFiniteCheck=finite)
            _dots_while_few(curve.item, y)
            curve.drawn = curve.series.version
            if curve.in_legend != (len(x) > 0):  # first points, or none after a clear
                curve.in_legend = len(x) > 0
                self.plots[curve.plot].legend.refresh()
            if not finite:
                self._mark_nonfinite(curve)
            if curve.plot == "lr":
                self._fit_lr_range()
        for pid in {c.plot for c in stale}:
            self._follow_x(pid)
            self._follow_y(pid)
            # A new range moves the curves when painting starts (pyqtgraph applies it then),
            # and that move painted the plot a second time: apply it now.
            self.plots[pid].vb.prepareForPaint()

    def _follow_x(self, pid: str) -> None:
        """Show x from 0 to a round number past the newest point (…, 150, 200, 250, 300, …):
        the axis changes a few times per decade instead of at every new point, and an axis is
        most of what a frame costs to paint."""
        if pid not in self._following:
            return
        ends = [float(np.nanmax(x)) for c in self.curves.values() if c.plot == pid
                for x in (c.series.arrays()[0],) if len(x)]
        ends += [float(np.nanmax(item.getData()[0])) for plot, item in self._overlay_items
                 if plot is self.plots[pid] and item.getData()[0] is not None
                 and len(item.getData()[0])]
        if not ends:
            return
        top = round_up(max(ends) * X_MARGIN)
        if self.plots[pid].vb.viewRange()[0] != [0.0, top]:
            self.plots[pid].setXRange(0, top, padding=0)

    def _follow_y(self, pid: str) -> None:
        """Fit y to the data with a margin, and only again when a point leaves the range or
        the data shrinks to a small part of it: a y axis that changed at every new point (auto
        range) repainted its labels in every frame. The log scale keeps auto range."""
        plot = self.plots[pid]
        if pid not in self._following or pid == "lr" or plot.getAxis("left").logMode:
            return
        arrays = [c.series.arrays()[1] for c in self.curves.values() if c.plot == pid]
        arrays += [item.getData()[1] for owner, item in self._overlay_items
                   if owner is plot and item.getData()[1] is not None]
        finite = [y[np.isfinite(y)] for y in arrays]
        finite = [y for y in finite if len(y)]
        if not finite:
            return
        lo, hi = min(float(y.min()) for y in finite), max(float(y.max()) for y in finite)
        shown_lo, shown_hi = plot.vb.viewRange()[1]
        if shown_lo <= lo and hi <= shown_hi and hi - lo >= Y_FILL * (shown_hi - shown_lo) \
                and not plot.vb.autoRangeEnabled()[1]:
            return
        margin = Y_MARGIN * ((hi - lo) or abs(hi) or 1.0)
        plot.setYRange(lo - margin, hi + margin, padding=0)

    def _fit_lr_range(self) -> None:
        """Show the learning rate from 0 to a margin above its largest value, so a constant
        rate reads as its value instead of a flat line in an arbitrary range around it. On a
        log axis, the range spans the finite positive rates with half a decade around them."""
        curve = self.curves.get("lr")
        if curve is None:
            return
        y = curve.series.arrays()[1]
        y = y[np.isfinite(y)]
        plot = self.plots["lr"]
        # The current rate in the legend: small plots show few ticks.
        plot.legend.set_note(f"now {y[-1]:.3g}" if len(y) else "")
        if plot.getAxis("left").logMode:
            y = y[y > 0]
            if not len(y):
                return
            plot.setYRange(math.log10(y.min()) - 0.5, math.log10(y.max()) + 0.5, padding=0)
        else:
            top = float(y.max()) * LR_HEADROOM if len(y) and y.max() > 0 else 1.0
            plot.setYRange(min(0.0, float(y.min()) if len(y) else 0.0), top, padding=0)

    def nan_marked(self, plot: str) -> bool:
        line = self._nan_lines.get(plot)
        return line is not None and line.isVisible()

    def _mark_nonfinite(self, curve: Curve) -> None:
        if self.nan_marked(curve.plot):
            return
        x = curve.series.first_nonfinite
        line = self._nan_lines.get(curve.plot)
        if line is None:
            line = pg.InfiniteLine(angle=90, pen=pg.mkPen(ERROR, width=2,
                                                          style=Qt.PenStyle.DashLine),
                                   label="NaN", labelOpts={"position": 0.9, "color": ERROR})
            self.plots[curve.plot].addItem(line)
            self._nan_lines[curve.plot] = line
        line.setPos(x)
        line.setVisible(True)
        axis = PLOTS[curve.plot][1]
        if not self.status.text():  # the first non-finite value is the one worth reading
            self.status.setText(f"{curve.item.name()} became NaN or infinite at {axis} {x:g}")

    def set_log_scale(self, on: bool) -> None:
        for pid in ("loss", "step", "lr"):
            self.plots[pid].setLogMode(y=on)
        for pid in ("loss", "step"):  # a log axis fits itself; a linear one is fitted again
            if on:
                self.plots[pid].enableAutoRange(axis="y")
            else:
                self._follow_y(pid)
        self._fit_lr_range()
        self.log_box.setChecked(on)
