"""Depth diagnostics: how gradients and activations fare layer by layer as training goes on.

The trainer's ``diagnostics`` events (every ``diagnostics_every`` steps) hold, per layer, the
gradient norm, the activation mean and standard deviation and, for ReLUs, the share of dead
units. They are kept in a growing array (records × layers × 4) and drawn as a layers × time
heatmap of the chosen statistic — vanishing gradients in a deep stack show as a dark band at the
bottom. A table gives the latest values and each layer's health, which is also emitted
(``health_changed``, at most once a frame) for the badges on the canvas nodes.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontMetrics
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel,
                               QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from runtime.health import gradient_health

from ..widgets.fitted import ElidedLabel, compact_rows
from .tasks import adopt_popups
from .theme import BACKGROUND, style_plot

STATS = ("grad_norm", "act_mean", "act_std", "dead_fraction")
STAT_LABELS = {"grad_norm": "Gradient norm (log10)", "act_mean": "Activation mean",
               "act_std": "Activation std", "dead_fraction": "Dead ReLU fraction"}
LEVEL_COLORS = {"ok": "#2e7d32", "warning": "#ef6c00", "error": "#c62828"}
# Layers without that statistic (a ReLU has no gradient norm): a shade just off the plot's
# dark background, so they read as "nothing here" rather than as a glaring band.
NO_VALUE = np.array([*QColor(BACKGROUND).lighter(125).getRgb()[:3], 255], dtype=np.uint8)
REDRAW_MS = 200
LAYER_COLUMN_MAX = 120  # px: longer layer names elide (whole in the tooltip)
TABLE_SHARE_MAX = 0.65  # of the page's width: the table grows to show its columns up to this
# The table's columns: a short title each (the page shares a 1280 px window with two docks) and
# the tooltip that says what it holds. The layer's type is the tooltip of its name.
COLUMNS = (("Layer", "The layer (its type in the cell's tooltip)"),
           ("Grad", "Gradient norm of the layer's parameters at the latest record"),
           ("Mean", "Mean of the layer's output activations"),
           ("Std", "Standard deviation of the layer's output activations"),
           ("Dead", "Share of dead units (ReLU outputs that are always zero)"),
           ("Health", "The layer's gradient health (hover a cell for the reason)"))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else math.nan


class DiagnosticsView(QWidget):
    """Heatmap and table of the current run's per-layer records."""

    health_changed = Signal(dict)  # {node id: (level, text)}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.layers: list[dict[str, Any]] = []  # node, name, type — fixed for a run
        self.steps = np.zeros(64, dtype=np.int64)
        self.values = np.full((64, 0, len(STATS)), np.nan)
        self.count = 0
        self.health: dict[str, tuple[str, str]] = {}
        self._shown_health: dict[str, tuple[str, str]] = {}
        self._dirty = False

        self.stat_combo = QComboBox()
        for stat in STATS:
            self.stat_combo.addItem(STAT_LABELS[stat], stat)
        self.stat_combo.currentIndexChanged.connect(lambda _i: self._mark_dirty())
        # Two lines at most, elided past them: a long range never widens the Analysis dock.
        self.range_label = ElidedLabel(mode=Qt.TextElideMode.ElideRight, lines=2)
        self.info = QLabel("No layer stats yet. Once a run trains (or a past run is selected "
                           "on the Runs page), a heatmap of each layer's gradient norm or "
                           "activations over the steps appears here, with a table of the "
                           "latest values and each layer's health. How often they are "
                           "recorded is set by 'Diagnostics every' in the training settings.")
        self.info.setWordWrap(True)
        self.info.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        top = QHBoxLayout()
        top.addWidget(self.stat_combo)
        top.addWidget(self.range_label, 1)

        self.plot = adopt_popups(self, lambda: pg.PlotWidget())
        style_plot(self.plot, grid=False)
        self.plot.invertY(True)  # the first layer on top, as on the canvas
        self.plot.setLabel("bottom", "step")
        self.image = pg.ImageItem()
        self.plot.addItem(self.image)
        self.colormap = pg.colormap.get("viridis")
        self.plot.getViewBox().sigResized.connect(self._name_rows)
        self.plot.scene().sigMouseMoved.connect(self._hover)

        self.table = QTableWidget(0, len(COLUMNS))
        for c, (title, tip) in enumerate(COLUMNS):
            item = QTableWidgetItem(title)
            item.setToolTip(tip)
            self.table.setHorizontalHeaderItem(c, item)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        # Half the window style's cell padding: six columns of numbers beside the heatmap.
        self.table.setStyleSheet("QTableView::item { padding: 1px 4px; } "
                                 "QHeaderView::section { padding: 4px 4px; }")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)  # set by _fit_table

        # Nothing to draw before a run: no axes, only the line that says what will appear.
        self.body = QSplitter(Qt.Orientation.Horizontal)
        self.body.addWidget(self.plot)
        self.body.addWidget(self.table)
        self.body.setStretchFactor(0, 1)
        self.body.setSizes([500, 400])
        self.body.hide()
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.info)
        layout.addWidget(self.body, 1)
        layout.addStretch(0)  # the empty page's line stays at the top

        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(lambda: self.redraw(force=False))
        self.timer.start()

    # ---- feeding -----------------------------------------------------------------------------

    def clear(self) -> None:
        self.layers, self.count = [], 0
        self.values = np.full((64, 0, len(STATS)), np.nan)
        self.health, self._shown_health = {}, {}
        self.table.setRowCount(0)
        self.image.clear()
        for side in ("left", "bottom"):  # no row labels of the previous design or run
            self.plot.getAxis(side).setTicks(None)
        self.range_label.set_full_text("")
        self.left_axis.setToolTip("")
        self.plot.setToolTip("")
        self.body.hide()
        self.info.show()
        self.health_changed.emit({})

    def add_event(self, event: Mapping[str, Any]) -> None:
        if event.get("event") != "diagnostics":
            return
        rows = event.get("layers") or []
        if not self.layers:
            self.layers = [{"node": r.get("node"), "name": r.get("name"), "type": r.get("type")}
                           for r in rows]
            self.values = np.full((64, len(self.layers), len(STATS)), np.nan)
        if self.count == len(self.values):
            grown = np.full((2 * len(self.values), *self.values.shape[1:]), np.nan)
            grown[: self.count] = self.values
            self.values = grown
            self.steps = np.resize(self.steps, 2 * len(self.steps))
        index = {layer["node"]: i for i, layer in enumerate(self.layers)}
        for row in rows:
            i = index.get(row.get("node"))
            if i is not None:
                self.values[self.count, i] = [_number(row.get(s)) for s in STATS]
        self.steps[self.count] = int(event.get("step", self.count))
        self.count += 1
        self.health = gradient_health(rows)
        self._mark_dirty()

    def _mark_dirty(self) -> None:
        self._dirty = True

    # ---- drawing ------------------------------------------------------------------------------

    def matrix(self, stat: str) -> np.ndarray:
        """(records, layers) of ``stat`` as plotted (log10 for gradient norms)."""
        data = self.values[: self.count, :, STATS.index(stat)]
        if stat == "grad_norm":
            with np.errstate(divide="ignore", invalid="ignore"):
                data = np.where(data > 0, np.log10(np.where(data > 0, data, 1.0)), np.nan)
        return data

    def redraw(self, force: bool = True) -> None:
        """Draw what arrived since the last frame. The timer calls it ≤ 5 times a second with
        ``force=False``: the canvas badges follow, the heatmap only while it is on screen."""
        if self.health != self._shown_health:
            self._shown_health = dict(self.health)
            self.health_changed.emit(self.health)
        if not self._dirty or not self.count or not (force or self.isVisible()):
            return
        self._dirty = False
        self.info.hide()
        self.body.show()
        stat = self.stat_combo.currentData()
        data = self.matrix(stat)
        finite = np.isfinite(data)
        if finite.any():
            lo, hi = float(data[finite].min()), float(data[finite].max())
        else:
            lo, hi = 0.0, 1.0
        span = hi - lo if hi > lo else 1.0
        normalized = np.clip((np.where(finite, data, lo) - lo) / span, 0.0, 1.0)
        rgba = self.colormap.map(normalized.ravel(), mode="byte").reshape(*data.shape, 4)
        rgba[~finite] = NO_VALUE
        self.image.setImage(rgba, autoLevels=False)  # image[x = record, y = layer]
        self.image.setRect(0, 0, self.count, len(self.layers))
        unit = "10^" if stat == "grad_norm" else ""
        self.range_label.set_full_text(f"dark {unit}{lo:.3g} … bright {unit}{hi:.3g}; faint: "
                                       "no value (e.g. no parameters)")
        self._name_rows()
        bottom = self.plot.getAxis("bottom")
        stride = max(1, self.count // 6)
        bottom.setTicks([[(i + 0.5, str(int(self.steps[i])))
                          for i in range(0, self.count, stride)]])
        self._fill_table()

    @property
    def left_axis(self) -> pg.AxisItem:
        return self.plot.getAxis("left")

    def _name_rows(self) -> None:
        """Name every k-th layer on the left axis, k as small as keeps the names a line apart
        at the plot's height; every name is in the axis' tooltip and the heatmap's."""
        if not self.layers:
            return
        font = self.left_axis.style["tickFont"] or self.left_axis.font()
        line = QFontMetrics(font).height() + 2
        row = max(self.plot.getViewBox().height(), 1.0) / len(self.layers)
        stride = max(1, math.ceil(line / row))
        self.left_axis.setTicks([[(i + 0.5, self.layers[i]["name"])
                                  for i in range(0, len(self.layers), stride)]])
        self.left_axis.setToolTip("Layers, top to bottom:\n"
                                  + "\n".join(layer["name"] for layer in self.layers))

    def _cell_at(self, scene_pos: QPointF) -> tuple[int, int]:
        """(record, layer) of the heatmap at ``scene_pos``, either possibly out of range."""
        point = self.plot.getViewBox().mapSceneToView(scene_pos)
        return math.floor(point.x()), math.floor(point.y())

    def layer_at(self, scene_pos: QPointF) -> str | None:
        """The name of the heatmap's layer row at ``scene_pos`` (None outside the rows)."""
        i = self._cell_at(scene_pos)[1]
        return self.layers[i]["name"] if 0 <= i < len(self.layers) else None

    def _hover(self, scene_pos: QPointF) -> None:
        """The heatmap's tooltip names the layer, step and value under the pointer."""
        record, i = self._cell_at(scene_pos)
        if not (0 <= record < self.count and 0 <= i < len(self.layers)):
            self.plot.setToolTip("")
            return
        stat = self.stat_combo.currentData()
        value = self.values[record, i, STATS.index(stat)]
        shown = "no value" if math.isnan(value) else f"{value:.3g}"
        self.plot.setToolTip(f"{self.layers[i]['name']} · step {int(self.steps[record])} · "
                             f"{STAT_LABELS[stat].split(' (')[0].lower()} {shown}")

    def _fill_table(self) -> None:
        latest = self.values[self.count - 1]
        self.table.setRowCount(len(self.layers))
        for r, layer in enumerate(self.layers):
            level, text = self.health.get(layer["node"], ("", ""))
            cells = [layer["name"]] + [
                "–" if math.isnan(v) else f"{v:.3g}" for v in latest[r]] + [level or "–"]
            for c, value in enumerate(cells):
                item = QTableWidgetItem(value)
                if c == 0:
                    item.setToolTip(f"{layer['name']} ({layer['type']})")
                if c == len(COLUMNS) - 1 and level:
                    item.setForeground(QColor(LEVEL_COLORS[level]))
                    item.setToolTip(text)
                self.table.setItem(r, c, item)
        compact_rows(self.table)
        self._fit_table()

    def _fit_table(self) -> None:
        """Columns as wide as their title and values (layer names up to
        :data:`LAYER_COLUMN_MAX`), and a table wide enough for them where the page allows:
        the heatmap gives up width up to :data:`TABLE_SHARE_MAX` of the page."""
        header = self.table.horizontalHeader()
        name = max(header.sectionSizeHint(0), self.table.sizeHintForColumn(0))
        header.resizeSection(0, min(name, max(LAYER_COLUMN_MAX, header.sectionSizeHint(0))))
        widths = [header.sectionSize(0)] + [
            max(header.sectionSizeHint(c), self.table.sizeHintForColumn(c))
            for c in range(1, self.table.columnCount())]
        needed = (sum(widths) + 2 * self.table.frameWidth()  # and a scroll bar for more rows
                  + self.table.verticalScrollBar().sizeHint().width())
        total = sum(self.body.sizes())
        if self.table.width() < needed and total > 0:
            table = min(needed, int(total * TABLE_SHARE_MAX))
            self.body.setSizes([total - table, table])
