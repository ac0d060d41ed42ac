"""The curves and the Try page are readable in the bottom dock at the default window size and at
1280×800: the curves get most of the plot height (their legends sit in the title row), and the
Try page shows its bar chart, sample and layer preview side by side without scrolling."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QRect

from tests.conftest import example_window

SIZES = [(1400, 900), (1280, 800)]  # the window's default size and a common laptop screen
MIN_CURVE_HEIGHT = 120  # px of plot a reader needs to follow a loss curve


@pytest.fixture(params=SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def window(qtbot, request):
    return example_window(qtbot, request.param)


def _feed(plots, epochs: int = 10, steps: int = 20) -> None:
    for epoch in range(1, epochs + 1):
        for i in range(steps):
            step = (epoch - 1) * steps + i
            plots.add_event({"event": "step", "step": step, "loss": 2 / (step + 1) ** 0.5,
                             "lr": 3e-3})
        plots.add_event({"event": "epoch", "epoch": epoch, "step": epoch * steps,
                         "train_loss": 1 / epoch, "val_loss": 1.2 / epoch,
                         "val_accuracy": 1 - 0.1 / epoch, "lr": 3e-3})


def _geometry_in(widget, ancestor) -> QRect:
    return QRect(widget.mapTo(ancestor, widget.rect().topLeft()), widget.size())


def test_curves_get_most_of_the_bottom_dock(qtbot, window):
    plots = window.training.plots
    _feed(plots)
    window.training.show_page("curves")
    qtbot.waitUntil(lambda: all(p.vb.height() >= MIN_CURVE_HEIGHT
                                for p in plots.plots.values()), timeout=5000)
    plots.redraw()
    for plot in plots.plots.values():
        # The legend is in the title row, above the view box, never on the curves.
        title = plot.titleLabel.mapRectToScene(plot.titleLabel.boundingRect())
        box = plot.vb.mapRectToScene(plot.vb.boundingRect())
        assert title.bottom() <= box.top() + 1
        assert plot.vb.height() >= 0.6 * plots.graphics.height()
    assert plots.plots["loss"].legend.names == ["train loss", "val loss"]
    assert "now 0.003" in plots.plots["lr"].titleLabel.text


def test_try_page_fits_without_scrolling(qtbot, window):
    page, area = window.training.try_page, window.training.pages["try"]
    window.training.show_page("try")
    qtbot.waitUntil(lambda: not area.verticalScrollBar().isVisible()
                    and not area.horizontalScrollBar().isVisible(), timeout=5000)
    chart = _geometry_in(page.chart, page)
    preview = _geometry_in(page.preview, page)
    sample = _geometry_in(page.input_view, page)
    pad = _geometry_in(page.pad, page)
    assert chart.width() >= 150 and chart.height() >= 120
    assert preview.width() >= 200 and preview.height() >= 120
    for a, b in [(chart, preview), (chart, sample), (sample, preview), (pad, chart)]:
        assert not a.intersects(b)
    assert page.rect().contains(chart) and page.rect().contains(preview)
