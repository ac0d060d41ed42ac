"""Live training curves (pyqtgraph).

Four plots: loss per epoch (train and validation), loss per step (raw and smoothed), metrics per
epoch, and the learning rate. Following pyqtgraph's scrolling-plots recipe, each curve is created
once and redrawn with ``setData`` from a ~30 Hz timer, only when its buffer changed and the
plots are on screen, with peak downsampling and clip-to-view — so 100k steps stay smooth — and
frames are spaced by what painting costs, so the plots never hog the GUI thread. A NaN or infinite value breaks the
line there and is marked with a red line labelled "NaN"; it never reaches pyqtgraph's fast path.
"""
from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .buffers import Series, SmoothedSeries
from .tasks import adopt_popups
from .theme import BACKGROUND, ERROR, FAINT, PALETTE, legend_args, style_plot

FRAME_MS = 33  # ≤ 30 redraws per second
PAINT_SHARE = 4  # frames at least this many paint durations apart (painting ≤ 1/4 of the time)

# Plot ids → titles and axis labels.
PLOTS = {
    "loss": ("Loss per epoch", "epoch"),
    "step": ("Loss per step", "step"),
    "metrics": ("Metrics per epoch", "epoch"),
    "lr": ("Learning rate", "step"),
}
LR_HEADROOM = 1.15  # the learning-rate axis reaches this far above the largest rate
_SKIP_EPOCH_KEYS = {"epoch", "epochs", "event", "type", "step", "batch", "batches", "lr", "time",
                    "elapsed_s", "duration_s", "samples_per_s", "eta_s", "best", "improved"}


class _TimedGraphics(pg.GraphicsLayoutWidget):
    """Remembers how long its last paint took (the plots pace their frames by it)."""

    last_paint_ms = 0.0

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt)
        start = time.perf_counter()
        super().paintEvent(event)
        self.last_paint_ms = (time.perf_counter() - start) * 1000


@dataclass
class Curve:
    """One buffer and the plot item that shows it."""

    series: Series
    item: pg.PlotDataItem
    plot: str
    drawn: int = -1  # buffer version last drawn


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

    def __init__(self, parent: QWidget | None = None, smoothing: float = 0.9):
        super().__init__(parent)
        self.smoothing = smoothing
        self.graphics = _TimedGraphics()
        self.graphics.setBackground(BACKGROUND)
        self.plots: dict[str, pg.PlotItem] = {}
        for i, (pid, (title, xlabel)) in enumerate(PLOTS.items()):
            plot = adopt_popups(self, lambda i=i, title=title: self.graphics.addPlot(
                row=0, col=i, title=title))  # one row: the bottom dock is wide and short
            style_plot(plot)
            plot.setLabel("bottom", xlabel)
            # The legend sits in its own row under the plot, never on the curves.
            legend = pg.LegendItem(colCount=2, **legend_args())
            self.graphics.addItem(legend, row=1, col=i)
            plot.legend = legend  # PlotItem.addItem enters named curves here
            plot.setLimits(xMin=0)  # steps and epochs start at 0: no negative axis
            self.plots[pid] = plot
        self.curves: dict[str, Curve] = {}
        self._colors = itertools.cycle(PALETTE)
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
        self.timer.start()

    # ---- feeding -----------------------------------------------------------------------------

    def add_event(self, event: Mapping[str, Any]) -> None:
        """Take one trainer event (``step`` and ``epoch`` are plotted; others are ignored)."""
        kind = event.get("event")
        if kind == "step":
            step = float(event.get("step", 0))
            if "loss" in event:
                self._curve("step/raw", "step", "loss", faint=True).series.append(step, event["loss"])
                self._curve("step/smooth", "step", "smoothed", smooth=True).series.append(
                    step, event["loss"])
            if "lr" in event:
                self._curve("lr", "lr", "lr").series.append(step, event["lr"])
        elif kind == "epoch":
            epoch = float(event.get("epoch", 0))
            lr = self.curves.get("lr")
            if "lr" in event and "step" in event and (lr is None or not len(lr.series)
                                                      or lr.series.arrays()[0][-1] < event["step"]):
                # Short runs may end before any step event: the learning rate still shows.
                self._curve("lr", "lr", "lr").series.append(float(event["step"]), event["lr"])
            for key, value in epoch_values(event).items():
                plot = "loss" if key.endswith("loss") else "metrics"
                self._curve(f"epoch/{key}", plot, key).series.append(epoch, value)
            self._step_loss_from_epoch(event)

    def _step_loss_from_epoch(self, event: Mapping[str, Any]) -> None:
        """A short run logs few step events: each epoch's training loss, at its last step,
        keeps "Loss per step" a curve rather than one point (a lone point is drawn as a dot)."""
        step, loss = event.get("step"), event.get("train_loss")
        if not isinstance(step, (int, float)) or not isinstance(loss, (int, float)):
            return
        raw = self.curves.get("step/raw")
        if raw is not None and len(raw.series) and raw.series.arrays()[0][-1] >= step:
            return
        self._curve("step/raw", "step", "loss", faint=True).series.append(float(step), loss)
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
        for plot in self.plots.values():  # fresh axes: not the previous run's range
            plot.enableAutoRange()
        self.status.clear()
        self.redraw()

    def points(self, key: str) -> int:
        """How many points curve ``key`` (e.g. ``"epoch/val_loss"``, ``"step/raw"``) holds."""
        curve = self.curves.get(key)
        return len(curve.series) if curve else 0

    # ---- overlays of other runs -------------------------------------------------------------------

    def set_overlays(self, runs: Mapping[str, Iterable[Mapping[str, Any]]]) -> None:
        """Draw other runs' epoch curves, dashed: ``{label: epoch records}``."""
        for plot, item in self._overlay_items:
            plot.removeItem(item)
        self._overlay_items.clear()
        colors = itertools.cycle(PALETTE[::-1])
        for label, records in runs.items():
            color = next(colors)
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
                item = plot.plot(x.copy(), y.copy(), pen=pen, name=f"{label}: {key}",
                                 connect="finite")
                self._overlay_items.append((plot, item))

    @property
    def overlay_count(self) -> int:
        return len(self._overlay_items)

    # ---- drawing ------------------------------------------------------------------------------

    def _curve(self, key: str, plot: str, name: str, faint: bool = False,
               smooth: bool = False) -> Curve:
        curve = self.curves.get(key)
        if curve is None:
            if faint:
                pen = pg.mkPen(FAINT, width=1)
            else:
                pen = pg.mkPen(next(self._colors), width=2)
            series = SmoothedSeries(self.smoothing) if smooth else Series()
            item = self.plots[plot].plot(pen=pen, name=name)
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            curve = self.curves[key] = Curve(series, item, plot)
        return curve

    def redraw(self, force: bool = True) -> None:
        """Push changed buffers to their items. The frame timer calls it with ``force=False``:
        then nothing is drawn while the plots are hidden, and frames are spaced so that
        painting takes at most a quarter of the GUI thread's time."""
        if not force:
            if not self.isVisible():
                return
            spacing = max(FRAME_MS, PAINT_SHARE * self.graphics.last_paint_ms)
            if (time.perf_counter() - self._last_frame) * 1000 < spacing:
                return
        self._last_frame = time.perf_counter()
        for curve in self.curves.values():
            if curve.drawn == curve.series.version:
                continue
            x, y = curve.series.arrays()
            finite = curve.series.all_finite
            # Copies: the item keeps the arrays, and the buffers are resized in place.
            curve.item.setData(x.copy(), y.copy(), connect="all" if finite else "finite",
                               skipFiniteCheck=finite)
            if curve.plot == "step":  # a line needs two points: show the first ones as dots
                curve.item.setSymbol("o" if len(x) < 3 else None)
                curve.item.setSymbolSize(5)
            curve.drawn = curve.series.version
            if not finite:
                self._mark_nonfinite(curve)
            if curve.plot == "lr":
                self._fit_lr_range()

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
        # The current rate in the title: small plots show few ticks.
        plot.setTitle(f"{PLOTS['lr'][0]} ({y[-1]:.3g})" if len(y) else PLOTS["lr"][0])
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
        self._fit_lr_range()
        self.log_box.setChecked(on)
