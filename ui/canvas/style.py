"""Colours, sizes and stacking order of the canvas, in one place.

The palette widget imports :func:`category_color` so a layer looks the same in the palette and on
the canvas. The theme is dark, matching the window's stylesheet.
"""
from __future__ import annotations

from PySide6.QtGui import QColor, QFont

from graph.blocks import BLOCK_CATEGORY
from graph.layout import SPACING

# ---- colours ---------------------------------------------------------------------------------------

CATEGORY_COLORS: dict[str, str] = {
    # Tableau-10 based: distinct hues that stay readable on a dark background.
    "Input / Output": "#59a14f",
    "Core": "#4e79a7",
    "Convolution": "#b07aa1",
    "Pooling": "#76b7b2",
    "Normalization": "#9c755f",
    "Regularization": "#8f8a86",
    "Activation": "#f28e2b",
    "Reshaping": "#edc948",
    "Merge": "#ff9da7",
    "Recurrent & Embedding": "#d37295",
    "Attention": "#499894",
    BLOCK_CATEGORY: "#6f7fd8",  # a design's own blocks: indigo, unlike any layer
}
FALLBACK_CATEGORY_COLOR = "#7f8c8d"


def category_color(category: str) -> QColor:
    """The colour of a layer category (a neutral grey for categories not listed)."""
    return QColor(CATEGORY_COLORS.get(category, FALLBACK_CATEGORY_COLOR))


def text_color_on(background: QColor) -> QColor:
    """Black or white, whichever reads better on ``background`` (WCAG relative luminance)."""
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    lum = (0.2126 * channel(background.redF()) + 0.7152 * channel(background.greenF())
           + 0.0722 * channel(background.blueF()))
    return QColor("#111418") if lum > 0.30 else QColor("#ffffff")


class Theme:
    """Named colours of the dark canvas theme."""

    background = QColor("#1d2026")
    grid_minor = QColor("#252932")
    grid_major = QColor("#2e333d")
    node_body = QColor("#2b3038")
    node_border = QColor("#434a56")
    node_selected = QColor("#8ab4f8")
    text = QColor("#e6e9ef")
    text_muted = QColor("#9aa3b2")
    text_shape = QColor("#c3d3ea")
    port = QColor("#aab3c2")
    port_border = QColor("#1d2026")
    link = QColor("#7d8696")
    link_selected = QColor("#8ab4f8")
    link_hover = QColor("#c3cad6")
    link_label_bg = QColor(29, 32, 38, 220)
    ok = QColor("#34c759")
    refused = QColor("#ff5a52")
    error = QColor("#ff5a52")
    warning = QColor("#ffb020")
    feedback_bg = QColor(20, 22, 27, 235)
    insert_target = QColor("#34c759")


# ---- geometry --------------------------------------------------------------------------------------

NODE_WIDTH = 150.0
HEADER_HEIGHT = 22.0
ROW_HEIGHT = 17.0
NODE_HEIGHT = HEADER_HEIGHT + 2 * ROW_HEIGHT + 8.0  # header, type+params row, shape+count row
CORNER_RADIUS = 6.0
PORT_RADIUS = 5.5
PORT_HIT_RADIUS = 14.0  # how close the cursor must come to a port while dragging a link
VARIADIC_PORT_WIDTH = 64.0
# How far apart auto-layout places nodes (graph.layout.SPACING owns it; nodes must fit in it).
LAYOUT_STEP_Y, LAYOUT_STEP_X = SPACING["down"]
LAYOUT_STEP_RIGHT, LAYOUT_STEP_ACROSS_RIGHT = SPACING["right"]
GRID_MINOR = 20
# Levels of detail by zoom: at DETAIL_ZOOM and above a node shows everything; from NAME_ZOOM up to
# it, only its name, large enough to read zoomed out (a deep network's overview); below, colour.
DETAIL_ZOOM = 0.6
NAME_ZOOM = 0.3
GRID_MAJOR = 100


def ui_font(point_size: float = 8.5, bold: bool = False) -> QFont:
    font = QFont()
    font.setPointSizeF(point_size)
    font.setBold(bold)
    return font


def mono_font(point_size: float = 8.0) -> QFont:
    font = QFont("monospace")
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setPointSizeF(point_size)
    return font


# ---- stacking order ----------------------------------------------------------------------------


class Z:
    """Z-values of every kind of canvas item (higher is drawn on top)."""

    LINK = 0.0
    LINK_SELECTED = 1.0
    NODE = 10.0
    NODE_SELECTED = 11.0
    NODE_DRAGGED = 12.0
    DRAFT_LINK = 20.0
    FEEDBACK = 30.0
