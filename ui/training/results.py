"""Results of a trained run: confusion matrix, per-class table, samples, regions, regression.

The run's model is applied to its test split by :func:`runtime.analysis.predict_run` on the
thread pool. Classification shows the confusion matrix as a heatmap (click a cell → its samples
below), the per-class precision/recall/F1, the misclassified samples (thumbnails for images) and,
for 2-D data, the decision regions with the training points on top. Regression shows predicted
against true values.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel,
                               QListWidget, QListWidgetItem, QPushButton, QSplitter,
                               QStackedWidget, QTableWidget, QTableWidgetItem, QTabWidget,
                               QVBoxLayout, QWidget)

from graph.metrics import label, metric_names
from graph.summary import counted

from ..widgets.fitted import DockHeightLayout
from .tasks import adopt_popups, run_task
from .theme import BACKGROUND, ERROR, PALETTE, style_plot

THUMB = 56
MAX_SAMPLES_SHOWN = 200


def _predict(run_dir: str, split: str):
    from runtime.analysis import predict_run

    return predict_run(run_dir, split=split)


def array_to_qimage(sample: np.ndarray) -> QImage:
    """A (1|3, H, W) or (H, W) array, scaled to 0..255 over its own range, as a QImage."""
    a = np.asarray(sample, dtype=np.float32)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
    scaled = np.zeros_like(a) if hi - lo < 1e-12 else (a - lo) / (hi - lo)
    pixels = np.ascontiguousarray((np.nan_to_num(scaled) * 255).astype(np.uint8))
    h, w = pixels.shape[:2]
    if pixels.ndim == 2:
        image = QImage(pixels.data, w, h, w, QImage.Format.Format_Grayscale8)
    else:
        image = QImage(pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return image.copy()  # own the pixels: the numpy buffer goes away


def thumbnail(sample: np.ndarray, size: int = THUMB) -> QPixmap:
    return QPixmap.fromImage(array_to_qimage(sample)).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)


def is_image(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3 and shape[0] in (1, 3) or len(shape) == 2


_HEAT_LOW, _HEAT_HIGH = (35, 39, 46), (46, 110, 200)  # the panels' grey → a strong blue


def _heat(value: float) -> QColor:
    """Dark grey → blue by ``value`` in 0..1 (the window's dark theme)."""
    v = min(max(value, 0.0), 1.0)
    return QColor(*(int(lo + (hi - lo) * v) for lo, hi in zip(_HEAT_LOW, _HEAT_HIGH)))


class FittedMatrix(QTableWidget):
    """A table of square cells that grow with the space it is given (from :data:`MIN_CELL` to
    :data:`MAX_CELL` px), its text scaled to the cells. Up to :data:`FIT_UP_TO` classes it asks
    for room for every cell at the least readable size (the Results page scrolls for it rather
    than squash the cells); past that the cells keep :data:`MIN_CELL` and the table scrolls."""

    FIT_UP_TO = 20
    MIN_CELL, MAX_CELL = 26, 48
    MIN_FONT_PX, MAX_FONT_PX = 11, 14
    PAD = 2  # px each side of a header's text (the window's style gives headers 8 × 5)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        for header in (self.horizontalHeader(), self.verticalHeader()):
            header.setMinimumSectionSize(1)
            header.setDefaultSectionSize(self.MIN_CELL)
            header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
            header.setStyleSheet(f"QHeaderView::section {{ padding: 0px {self.PAD}px; }}")

    def _fits(self) -> bool:
        return 0 < self.rowCount() <= self.FIT_UP_TO

    def _font(self, cell: int) -> QFont:
        font = QFont(self.font())
        font.setPixelSize(int(min(max(cell * 0.5, self.MIN_FONT_PX), self.MAX_FONT_PX)))
        return font

    def _row_header_width(self, font: QFont) -> int:
        """As wide as the longest class name in the headers' bold style and padding."""
        bold = QFont(font)
        bold.setBold(True)
        names = [self.verticalHeaderItem(r).text() for r in range(self.rowCount())
                 if self.verticalHeaderItem(r) is not None]
        widest = max((QFontMetrics(bold).horizontalAdvance(n) for n in names), default=0)
        return widest + 2 * self.PAD + 6

    def _least_cell(self, font: QFont) -> int:
        """:data:`MIN_CELL`, or more where a count is wider."""
        counts = [self.item(r, c).text() for r in range(self.rowCount())
                  for c in range(self.columnCount()) if self.item(r, c) is not None]
        widest = max((QFontMetrics(font).horizontalAdvance(t) for t in counts), default=0)
        return max(self.MIN_CELL, widest + 8)

    def fit(self) -> None:
        """Square cells as large as the table's area allows, headers and font to match."""
        k = self.rowCount()
        inner = self.contentsRect().size()
        font = self._font(inner.height() // (k + 1) if self._fits() else self.MIN_CELL)
        row_header = self._row_header_width(font)
        cell = self._least_cell(font)
        if self._fits():
            room = min((inner.width() - row_header) // k, inner.height() // (k + 1))
            cell = min(max(room, cell), max(self.MAX_CELL, cell))
        font = self._font(cell)
        self.setFont(font)
        vertical, horizontal = self.verticalHeader(), self.horizontalHeader()
        for header in (horizontal, vertical):
            header.setFont(font)
            header.setDefaultSectionSize(cell)
            for i in range(k):
                header.resizeSection(i, cell)
        vertical.setFixedWidth(max(cell, self._row_header_width(font)))
        horizontal.setFixedHeight(max(cell, QFontMetrics(font).height() + 2))
        policy = (Qt.ScrollBarPolicy.ScrollBarAlwaysOff if self._fits()
                  else Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(policy)
        self.setHorizontalScrollBarPolicy(policy)
        self.updateGeometry()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self.fit()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        """Every cell at its least readable size (up to :data:`FIT_UP_TO` classes)."""
        if not self._fits():
            return QSize(120, 90)
        k, frame = self.rowCount(), 2 * self.frameWidth()
        font = self._font(self.MIN_CELL)
        cell = self._least_cell(font)
        header = max(cell, QFontMetrics(font).height() + 2)
        return QSize(max(cell, self._row_header_width(font)) + k * cell + frame,
                     header + k * cell + frame)


class WrappedCaption(QLabel):
    """A word-wrapped label whose minimum height is the lines it needs at its width, so a
    layout squeezes the widgets beside it (or its scroll area scrolls) rather than its lines."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWordWrap(True)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        hint = super().minimumSizeHint()
        return QSize(hint.width(), max(hint.height(), self.heightForWidth(self.width())))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self.updateGeometry()


class ResultsView(QWidget):
    """Shows one run's results; :meth:`show_run` computes them in the background."""

    computed = Signal()  # results are on screen

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_dir: str | None = None
        self.predictions = None
        self._pending: tuple[str, str] | None = None
        top = self._build_header()
        classification = self._build_classification_page()
        regression = self._build_regression_page()
        self.pages = QStackedWidget()
        self.empty = QLabel("No results yet.")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages.addWidget(self.empty)
        self.pages.addWidget(classification)
        self.pages.addWidget(regression)
        self.classification_page, self.regression_page = classification, regression

        layout = DockHeightLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.pages, 1)

    def _build_header(self) -> QHBoxLayout:
        """The run's title, the split to evaluate and the Evaluate button."""
        self.title = QLabel("Train a model, or select a run on the Runs page, to see its results.")
        self.title.setWordWrap(True)
        self.split_combo = QComboBox()
        self.split_combo.addItem("test split", "test")
        self.split_combo.addItem("validation split", "val")
        self.split_combo.addItem("training split", "train")
        self.split_combo.activated.connect(lambda _i: self.refresh())
        self.refresh_button = QPushButton("Evaluate")
        self.refresh_button.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.split_combo)
        top.addWidget(self.refresh_button)
        return top

    def _build_classification_page(self) -> QSplitter:
        """Confusion matrix and per-class table beside the samples and decision regions."""
        self.confusion = FittedMatrix()
        self.confusion.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.confusion.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.confusion.cellClicked.connect(self.show_cell)
        self.confusion.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.confusion.setWordWrap(False)
        self.confusion.setToolTip("Rows: true class; columns: predicted class. Click a cell to "
                                  "see its samples.")
        self.per_class = QTableWidget(0, 5)
        self.per_class.setHorizontalHeaderLabels(("Class", "Precision", "Recall", "F1", "Support"))
        self.per_class.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.per_class.verticalHeader().setVisible(False)
        self.per_class.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.summary = WrappedCaption()  # a narrow page shows the caption on two lines
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(2)
        left_layout.addWidget(self.summary)  # above: in view while the page scrolls down
        left_layout.addWidget(self.confusion, 1)

        self.samples_label = QLabel()
        self.samples_label.setWordWrap(True)
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(THUMB, THUMB))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setUniformItemSizes(True)
        self.sample_table = QTableWidget()
        self.sample_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.sample_stack = QStackedWidget()
        self.sample_stack.addWidget(self.gallery)
        self.sample_stack.addWidget(self.sample_table)
        samples = QWidget()
        samples_layout = QVBoxLayout(samples)
        samples_layout.setContentsMargins(0, 0, 0, 0)
        samples_layout.addWidget(self.samples_label)
        samples_layout.addWidget(self.sample_stack)

        self.regions = adopt_popups(self, lambda: pg.PlotWidget(title="Decision regions"))
        style_plot(self.regions, grid=False)
        self.regions.setAspectLocked(False)
        self.regions_image = pg.ImageItem()
        self.regions.addItem(self.regions_image)
        self.regions_points = pg.ScatterPlotItem(size=5, pen=pg.mkPen(230, 233, 239, 170, width=0.6))
        self.regions.addItem(self.regions_points)
        self.right_tabs = QTabWidget()
        self.right_tabs.addTab(samples, "Samples")
        self.right_tabs.addTab(self.regions, "Decision regions")
        self.right_tabs.addTab(self.per_class, "Per class")

        classification = QSplitter()
        classification.addWidget(left)
        classification.addWidget(self.right_tabs)
        classification.setSizes([560, 360])
        return classification

    def _build_regression_page(self) -> QWidget:
        """Predicted against true values."""
        self.scatter = adopt_popups(self, lambda: pg.PlotWidget(title="Predicted vs true"))
        style_plot(self.scatter)
        self.scatter.setLabel("bottom", "true")
        self.scatter.setLabel("left", "predicted")
        self.scatter_points = pg.ScatterPlotItem(size=5, brush=pg.mkBrush(78, 155, 230, 170),
                                                 pen=None)
        self.scatter_line = pg.PlotDataItem(pen=pg.mkPen(ERROR, style=Qt.PenStyle.DashLine))
        self.scatter.addItem(self.scatter_points)
        self.scatter.addItem(self.scatter_line)
        self.regression_summary = QLabel()
        self.regression_summary.setWordWrap(True)
        regression = QWidget()
        reg_layout = QVBoxLayout(regression)
        reg_layout.addWidget(self.regression_summary)
        reg_layout.addWidget(self.scatter, 1)
        return regression

    # ---- computing -----------------------------------------------------------------------------

    def show_run(self, run_dir: str | Path) -> None:
        """Evaluate ``run_dir``'s best weights (in the background) and show the results."""
        self.run_dir = str(run_dir)
        self.refresh()

    def select_run(self, run_dir: str) -> None:
        """The run selected on the Runs page (its owner): Evaluate evaluates it from now on.
        Nothing is computed until Evaluate is pressed (or Results on the Runs page)."""
        if not run_dir or run_dir == self.run_dir:
            return
        self.run_dir = run_dir
        self._pending = None
        self.title.setText(f"{Path(run_dir).name}: press Evaluate to see its results")
        self.pages.setCurrentWidget(self.empty)

    def refresh(self) -> None:
        """Evaluate the run shown or selected on the chosen split (Evaluate, a split chosen)."""
        if not self.run_dir:
            self.title.setText("Select a run on the Runs page (or train one), then press "
                               "Evaluate.")
            return
        split = self.split_combo.currentData()
        request = (self.run_dir, split)
        self._pending = request
        self.title.setText(f"Evaluating {Path(self.run_dir).name} on the {split} split…")
        run_task(lambda: _predict(*request), lambda p: self._done(request, p),
                 lambda m: self._failed(request, m), self, needs=("runtime.analysis", "sklearn.datasets", "PIL.Image"))

    def _failed(self, request, message: str) -> None:
        if request != self._pending:
            return
        self.title.setText(f"No results for {Path(request[0]).name}: {message}")
        self.pages.setCurrentWidget(self.empty)

    def _done(self, request, predictions) -> None:
        if request != self._pending:  # a newer request is on its way
            return
        self.predictions = predictions
        p = predictions
        name = Path(request[0]).name
        self.title.setText(f"{name}: {p.checkpoint} weights on the {p.split} split "
                           f"({len(p.targets):,} samples)")
        if p.task == "classification":
            self._show_classification(p)
            self.pages.setCurrentWidget(self.classification_page)
        else:
            self._show_regression(p)
            self.pages.setCurrentWidget(self.regression_page)
        self.computed.emit()

    # ---- classification --------------------------------------------------------------------

    def _show_classification(self, p) -> None:
        names = p.class_names
        matrix = p.confusion
        k = len(names)
        self.confusion.clear()
        self.confusion.setRowCount(k)
        self.confusion.setColumnCount(k)
        self.confusion.setHorizontalHeaderLabels(names)
        self.confusion.setVerticalHeaderLabels(names)
        totals = matrix.sum(axis=1)
        for i in range(k):
            for j in range(k):
                count = int(matrix[i, j])
                item = QTableWidgetItem(str(count))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                share = count / totals[i] if totals[i] else 0.0
                item.setBackground(_heat(share))
                if share > 0.6:
                    item.setForeground(QColor("white"))
                item.setToolTip(f"true {names[i]}, predicted {names[j]}: {count} "
                                f"({share:.0%} of {names[i]})")
                self.confusion.setItem(i, j, item)
        self.confusion.fit()  # up to 20 classes fill the space; more scroll
        m = p.metrics
        self.summary.setText(
            f"Confusion matrix: rows true, columns predicted · accuracy {m['accuracy']:.4f} · "
            f"macro F1 {m['f1']:.4f} · precision {m['precision']:.4f} · recall "
            f"{m['recall']:.4f}")
        self.per_class.setRowCount(len(p.per_class))
        for r, row in enumerate(p.per_class):
            cells = (row["class"], f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                     f"{row['f1']:.3f}", str(row["support"]))
            for c, text in enumerate(cells):
                self.per_class.setItem(r, c, QTableWidgetItem(text))
        self.show_samples(p.misclassified(), counted(len(p.misclassified()), "misclassified sample")
                          + (", most confident first" if len(p.misclassified()) else ""))
        has_grid = p.grid is not None
        # Only 2-D data has decision regions to draw: elsewhere the tab is not offered at all.
        tab = self.right_tabs.indexOf(self.regions)
        self.right_tabs.setTabVisible(tab, has_grid)
        if not has_grid and self.right_tabs.currentIndex() == tab:
            self.right_tabs.setCurrentIndex(0)
        if has_grid:
            self._show_regions(p)

    def show_cell(self, true_class: int, predicted_class: int) -> None:
        """Show the samples of one confusion-matrix cell."""
        p = self.predictions
        if p is None or p.confusion is None:
            return
        idx = p.cell(true_class, predicted_class)
        names = p.class_names
        self.right_tabs.setCurrentIndex(0)
        self.show_samples(idx, f"{counted(len(idx), 'sample')} of class {names[true_class]} "
                               f"predicted as {names[predicted_class]}")

    def show_samples(self, indices: np.ndarray, text: str) -> None:
        p = self.predictions
        shown = indices[:MAX_SAMPLES_SHOWN]
        more = len(indices) - len(shown)
        self.samples_label.setText(text + (f" (first {len(shown)} shown)" if more > 0 else ""))
        names = p.class_names
        shape = p.inputs.shape[1:]
        if is_image(shape):
            self.gallery.clear()
            for i in shown:
                label = f"{names[p.targets[i]]}→{names[p.predicted[i]]}"
                item = QListWidgetItem(QIcon(thumbnail(p.inputs[i])), label)
                conf = f" ({p.confidence[i]:.0%})" if p.confidence is not None else ""
                item.setToolTip(f"sample {int(i)}: true {names[p.targets[i]]}, predicted "
                                f"{names[p.predicted[i]]}{conf}")
                item.setData(Qt.ItemDataRole.UserRole, int(i))
                self.gallery.addItem(item)
            self.sample_stack.setCurrentWidget(self.gallery)
            return
        flat = p.inputs.reshape(len(p.inputs), -1)
        width = min(flat.shape[1], 32)
        self.sample_table.clear()
        self.sample_table.setColumnCount(3 + width)
        self.sample_table.setHorizontalHeaderLabels(
            ["sample", "true", "predicted"] + [f"x{j}" for j in range(width)])
        self.sample_table.setRowCount(len(shown))
        for r, i in enumerate(shown):
            cells = [str(int(i)), names[p.targets[i]], names[p.predicted[i]]]
            cells += [f"{v:.3g}" for v in flat[i, :width]]
            for c, text in enumerate(cells):
                self.sample_table.setItem(r, c, QTableWidgetItem(text))
        self.sample_stack.setCurrentWidget(self.sample_table)

    def _show_regions(self, p) -> None:
        grid = p.grid
        k = len(p.class_names)
        colors = np.array([pg.mkColor(PALETTE[c % len(PALETTE)]).getRgb()[:3] for c in range(k)],
                          dtype=np.float32)
        rgb = colors[grid.classes]  # (rows=y, cols=x, 3)
        # Fade towards the background where the model is unsure (probability near 1/k).
        certainty = np.clip((grid.confidence - 1.0 / k) / (1.0 - 1.0 / k), 0.0, 1.0)[..., None]
        background = np.array(pg.mkColor(BACKGROUND).getRgb()[:3], dtype=np.float32)
        rgb = background + (rgb - background) * (0.15 + 0.30 * certainty)
        image = rgb.astype(np.uint8).transpose(1, 0, 2)  # ImageItem indexes [x, y]
        self.regions_image.setImage(image, levels=(0, 255))
        x0, x1, y0, y1 = grid.x[0], grid.x[-1], grid.y[0], grid.y[-1]
        self.regions_image.setRect(x0, y0, x1 - x0, y1 - y0)
        pts, labels = p.train_inputs, p.train_targets
        brushes = [pg.mkBrush(PALETTE[int(c) % len(PALETTE)]) for c in labels]
        self.regions_points.setData(pts[:, 0], pts[:, 1], brush=brushes)
        self.regions.setLabel("bottom", "x0 (normalized)")
        self.regions.setLabel("left", "x1 (normalized)")

    # ---- regression ------------------------------------------------------------------------

    def _show_regression(self, p) -> None:
        truth, pred = p.targets[:, 0], p.predicted[:, 0]
        self.scatter_points.setData(truth, pred)
        if len(truth):
            lo = float(min(truth.min(), pred.min()))
            hi = float(max(truth.max(), pred.max()))
            self.scatter_line.setData([lo, hi], [lo, hi])
        m = p.metrics
        self.regression_summary.setText(
            " · ".join(f"{label(k)} {m[k]:.4g}" for k in metric_names("regression")) + " "
            f"({m['samples']} samples" + (", first target shown" if p.targets.shape[1] > 1
                                          else "") + ")")
