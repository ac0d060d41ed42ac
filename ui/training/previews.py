"""Pictures of tensors: one layer's output for one sample, and the small pad to draw a digit on.

:class:`LayerPreview` shows a :class:`runtime.inspect.LayerOutput` as what suits its shape — a
grid of feature maps for convolutions, bars for vectors, a heatmap for sequences and the
attention weights for attention layers. :func:`tensor_thumbnail` renders the same as a small
picture (for the tooltip of a link on the canvas). :class:`DrawPad` is a square to draw on with
the mouse; it hands over its ink as an array in [0, 1].
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from .results import array_to_qimage
from .tasks import adopt_popups
from .theme import AXIS, BACKGROUND, PALETTE, style_plot

COLORMAP = "viridis"
MAX_MAPS = 64  # feature maps shown in the grid (the first ones)


def tile_maps(maps: np.ndarray, limit: int = MAX_MAPS) -> np.ndarray:
    """``(C, H, W)`` feature maps → one ``(rows·(H+1)−1, cols·(W+1)−1)`` image, each map
    scaled to 0..1 over its own range and separated by NaN gaps (drawn as background)."""
    maps = np.asarray(maps, dtype=np.float32)[:limit]
    count, height, width = maps.shape
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    grid = np.full((rows * (height + 1) - 1, cols * (width + 1) - 1), np.nan, np.float32)
    for i, fmap in enumerate(maps):
        lo, hi = float(fmap.min()), float(fmap.max())
        scaled = np.zeros_like(fmap) if hi - lo < 1e-12 else (fmap - lo) / (hi - lo)
        r, c = divmod(i, cols)
        grid[r * (height + 1):r * (height + 1) + height,
             c * (width + 1):c * (width + 1) + width] = scaled
    return grid


def preview_array(kind: str, tensor: np.ndarray, attention: np.ndarray | None = None) -> np.ndarray:
    """The array a preview draws: tiled maps, the vector, the sequence or the attention."""
    if kind == "attention" and attention is not None:
        return np.asarray(attention, dtype=np.float32)
    if kind == "maps":
        t = np.asarray(tensor, dtype=np.float32)
        return tile_maps(t.reshape(-1, *t.shape[-2:]))
    return np.asarray(tensor, dtype=np.float32)


def _heat_image(array: np.ndarray) -> QImage:
    """A 2-D array as a viridis image (NaN gaps in the background colour)."""
    a = np.asarray(array, dtype=np.float32)
    finite = a[np.isfinite(a)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    scaled = np.zeros_like(a) if hi - lo < 1e-12 else (a - lo) / (hi - lo)
    lut = pg.colormap.get(COLORMAP).getLookupTable(nPts=256, alpha=False)
    index = np.clip(np.nan_to_num(scaled) * 255, 0, 255).astype(np.uint8)
    rgb = lut[index].astype(np.uint8)
    rgb[~np.isfinite(a)] = QColor(BACKGROUND).getRgb()[:3]
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def tensor_thumbnail(kind: str, tensor: np.ndarray, attention: np.ndarray | None = None,
                     size: int = 96) -> QPixmap:
    """A small picture of a layer's output: vectors as a strip of bars (:func:`bar_strip`),
    anything 2-D as a heatmap no thinner than a quarter of ``size``."""
    array = preview_array(kind, tensor, attention)
    if array.ndim <= 1:
        return bar_strip(array.reshape(-1), width=2 * size, height=size // 2)
    if array.ndim > 2:
        array = array.reshape(array.shape[0], -1)
    rows, cols = array.shape
    scale = size / max(rows, cols)
    least = max(1, size // 4)
    width, height = max(least, round(cols * scale)), max(least, round(rows * scale))
    return QPixmap.fromImage(_heat_image(array)).scaled(
        width, height, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.FastTransformation)


def bar_strip(values: np.ndarray, width: int = 192, height: int = 48) -> QPixmap:
    """``values`` as bars about a zero line (positive up in the first palette colour, negative
    down in the second), on the plot background; more values than pixels share a column, which
    shows the largest of them."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float32).reshape(-1))
    pixmap = QPixmap(width, height)
    pixmap.fill(QColor(BACKGROUND))
    if values.size == 0:
        return pixmap
    columns = min(values.size, width)
    groups = np.array_split(values, columns)
    tops = np.array([g.max() for g in groups])
    bottoms = np.array([g.min() for g in groups])
    top, bottom = max(float(tops.max()), 0.0), min(float(bottoms.min()), 0.0)
    span = top - bottom or 1.0
    zero = round((height - 2) * top / span) + 1  # the zero line's row
    painter = QPainter(pixmap)
    bar = width / columns
    for i, (high, low) in enumerate(zip(tops, bottoms)):
        x, w = round(i * bar), max(1, round((i + 1) * bar) - round(i * bar) - (1 if bar >= 4 else 0))
        if high > 0:
            up = max(1, round((height - 2) * high / span))
            painter.fillRect(x, zero - up, w, up, QColor(PALETTE[0]))
        if low < 0:
            down = max(1, round((height - 2) * -low / span))
            painter.fillRect(x, zero, w, down, QColor(PALETTE[1]))
    painter.setPen(QPen(QColor(AXIS), 1))
    painter.drawLine(0, zero, width, zero)
    painter.end()
    return pixmap


def pixmap_html(pixmap: QPixmap) -> str:
    """``<img>`` of ``pixmap`` inline (for rich-text tooltips)."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    pixmap.save(buffer, "PNG")
    return f"<img src='data:image/png;base64,{bytes(data.toBase64()).decode()}'>"


class LayerPreview(QWidget):
    """One layer's output for the current sample; :attr:`array` is what is drawn."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = adopt_popups(self, lambda: pg.PlotWidget())
        item = style_plot(self.plot, grid=False)
        item.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get(COLORMAP))
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush=PALETTE[0])
        item.addItem(self.image)
        item.addItem(self.bars)
        self.caption = QLabel("Select a layer on the canvas to see its output.")
        self.caption.setObjectName("muted")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.plot, 1)
        self.kind: str | None = None
        self.array: np.ndarray | None = None
        _show_axes(item, False)  # an empty chart: no axes (their 0…1 would mean nothing)

    def show_output(self, title: str, kind: str, tensor: np.ndarray,
                    attention: np.ndarray | None = None) -> None:
        """Draw ``tensor`` (one sample, no batch dimension) as its ``kind`` suits."""
        array = preview_array(kind, tensor, attention)
        self.kind, self.array = kind, array
        item = self.plot.getPlotItem()
        shape = "×".join(str(s) for s in np.shape(tensor))
        what = {"maps": "feature maps", "vector": "values", "sequence": "steps × features",
                "attention": "attention weights (query × key, averaged over heads)"}[kind]
        shown = f" (first {MAX_MAPS})" if kind == "maps" and np.shape(tensor)[0] > MAX_MAPS else ""
        self.caption.setText(f"{title}: {shape} — {what}{shown}")
        # Feature maps and attention weights keep square pixels (a 4×4 map is not stretched
        # to the plot's shape); bars and steps × features fill the plot.
        item.setAspectLocked(kind in ("maps", "attention"))
        if array.ndim == 1:
            self.image.hide()
            self.bars.setOpts(x=np.arange(len(array)), height=array, width=0.8)
            self.bars.show()
            item.invertY(False)
            _show_axes(item, True)
        else:
            self.bars.hide()
            flat = array if array.ndim == 2 else array.reshape(array.shape[0], -1)
            finite = flat[np.isfinite(flat)]
            low, high = (float(finite.min()), float(finite.max())) if finite.size else (0, 1)
            self.image.setImage(flat, levels=(low, high if high > low else low + 1e-6))
            self.image.show()
            item.invertY(True)
            _show_axes(item, False)  # pixel indices of a tiled grid mean nothing
        item.autoRange()

    def clear(self, message: str) -> None:
        self.kind, self.array = None, None
        self.image.hide()
        self.bars.hide()
        _show_axes(self.plot.getPlotItem(), False)
        self.caption.setText(message)


def _show_axes(item: pg.PlotItem, visible: bool) -> None:
    for axis in ("left", "bottom"):
        item.showAxis(axis, visible)


class DrawPad(QWidget):
    """A square to draw a digit on (left button draws, right button erases); ``drawn`` fires
    with the ink as a ``(28, 28)`` array in [0, 1] when a stroke ends."""

    drawn = Signal(object)
    SIZE = 28
    SHOWN = 96  # px on screen: big enough to draw on, small enough for a short dock

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFixedSize(self.SHOWN, self.SHOWN)
        self.setToolTip("Draw a digit: left button draws, right button erases")
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.picture = QImage(self.SIZE, self.SIZE, QImage.Format.Format_Grayscale8)
        self.clear()
        self._last: QPointF | None = None
        self._erase = False

    def clear(self) -> None:
        self.picture.fill(0)
        self.update()

    def ink(self) -> np.ndarray:
        """The drawing as ``(28, 28)`` values in [0, 1] (ink = 1)."""
        bits = self.picture.constBits()
        rows = np.frombuffer(bits, np.uint8).reshape(self.SIZE, self.picture.bytesPerLine())
        return rows[:, :self.SIZE].astype(np.float32) / 255.0

    def _to_picture(self, pos: QPointF) -> QPointF:
        return QPointF(pos.x() * self.SIZE / self.width(), pos.y() * self.SIZE / self.height())

    def _stroke(self, pos: QPointF) -> None:
        point = self._to_picture(pos)
        painter = QPainter(self.picture)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QColor(0, 0, 0) if self._erase else QColor(255, 255, 255), 2.6)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        painter.drawLine(self._last or point, point)
        painter.end()
        self._last = point
        self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt name)
        self._erase = event.button() == Qt.MouseButton.RightButton
        self._last = None
        self._stroke(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.buttons():
            self._stroke(event.position())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._last = None
        self.drawn.emit(self.ink())

    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.drawImage(self.rect(), self.picture)
        painter.setPen(QColor("#3a404b"))
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))


def sample_pixmap(sample: np.ndarray, size: int = 112) -> QPixmap:
    """A model input (image or feature vector) as a picture."""
    a = np.asarray(sample, dtype=np.float32)
    if a.ndim == 1:
        return tensor_thumbnail("vector", a, size=size)
    return QPixmap.fromImage(array_to_qimage(a)).scaled(
        size, size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
