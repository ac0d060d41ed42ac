"""At 1280×800 the Curves, Results and Try pages show their text whole: tick labels apart,
legends of whole (or shortened) entries, the results' caption and the Try page's caption in
full, and the Try page without sideways scrolling; its caption names the weights it loaded."""
from __future__ import annotations

import re

import pytest
from PySide6.QtGui import QPainter, QPicture
from PySide6.QtWidgets import QApplication

from tests.conftest import example_window
from tests.ui.test_forms_fit import styled  # noqa: F401 (fixture)
from tests.ui.test_results_fit import _predictions

SIZE = (1280, 800)


@pytest.fixture
def window(styled, qtbot):
    return example_window(qtbot, SIZE)


def _settle(qtbot, condition) -> None:
    def settled() -> bool:
        QApplication.processEvents()
        return condition()
    qtbot.waitUntil(settled, timeout=10_000)


# ---- curves ---------------------------------------------------------------------------------

def _label_rects(axis):
    """The tick labels' rectangles as the axis paints them."""
    picture = QPicture()
    painter = QPainter(picture)
    if axis.style["tickFont"]:
        painter.setFont(axis.style["tickFont"])
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [] if specs is None else [(rect, text) for rect, _flags, text in specs[2]]


def _a_long_run(plots, steps: int = 800, epochs: int = 10) -> None:
    for step in range(1, steps + 1):
        plots.add_event({"event": "step", "epoch": 1 + step * epochs // (steps + 1),
                         "step": step, "loss": 2.0 / step ** 0.3, "lr": 0.001})
    for epoch in range(1, epochs + 1):
        plots.add_event({"event": "epoch", "epoch": epoch, "step": epoch * steps // epochs,
                         "train_loss": 1.0 / epoch, "val_loss": 1.1 / epoch,
                         "val_accuracy": 0.5 + epoch / 25, "lr": 0.001})
    plots.redraw()


def test_tick_labels_of_narrow_curves_stay_apart(window, qtbot):
    plots = window.training.plots
    window.training.history.overlay_requested.disconnect(plots.set_overlays)
    window.training.show_page("curves")
    _settle(qtbot, lambda: plots.isVisible() and plots.plots["step"].vb.width() > 50)
    _a_long_run(plots)
    plots.plots["loss"].setYRange(0, 1.5, padding=0)  # a tick at the top edge, next to the legend
    QApplication.processEvents()
    assert plots.plots["step"].vb.width() < 200  # four plots share the 1280 px window
    assert plots.plots["step"].viewRange()[0][1] >= 800
    view = plots.graphics
    for pid, plot in plots.plots.items():
        title = plot.titleLabel.mapRectToScene(plot.titleLabel.boundingRect())
        for name in ("bottom", "left"):
            axis = plot.getAxis(name)
            rects = _label_rects(axis)
            assert len(rects) >= 2, (pid, name, rects)
            for i, (a, ta) in enumerate(rects):
                for b, tb in rects[i + 1:]:
                    apart = a.adjusted(-3, -1, 3, 1)  # a few pixels between any two labels
                    assert not apart.intersects(b), f"{pid} {name}: {ta!r} touches {tb!r}"
                scene = axis.mapRectToScene(a)
                shown = view.mapFromScene(scene).boundingRect()
                assert view.viewport().rect().contains(shown), f"{pid}: {ta!r} is cut off"
                assert scene.top() >= title.bottom() - 0.5, f"{pid}: {ta!r} is on the legend"


def test_legends_of_other_runs_fit_the_narrow_plots(window, qtbot):
    plots = window.training.plots
    window.training.history.overlay_requested.disconnect(plots.set_overlays)
    window.training.show_page("curves")
    _settle(qtbot, lambda: plots.isVisible() and plots.plots["loss"].legend._width > 0)
    records = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e, "val_accuracy": 0.5}
               for e in (1, 2, 3)]
    plots.set_overlays({"20261130-080022": records, "digits_cnn-20261130-081547": records})
    plots.redraw()
    QApplication.processEvents()
    for pid in ("loss", "metrics"):
        legend, label = plots.plots[pid].legend, plots.plots[pid].titleLabel
        line = label.item.toPlainText().split("\n")[1]
        assert label.item.boundingRect().width() <= label.width() + 1, (pid, line)
        assert "…" not in line, line  # whole entries, short enough to read
        assert "08:00:22" in line, line  # a run by its time, as its folder is named
        assert len(legend.names) >= 2  # each run's curves, by short names
        assert "08:00:22 val " in " ".join(legend.names)
        tooltip = label.toolTip()  # every curve by its run's whole name, one a line
        assert "20261130-080022: val loss" in tooltip.splitlines() or pid != "loss"
        assert tooltip.count("20261130-080022: ") == tooltip.count("20261130-081547: ") \
            == len(legend.names) // 2
    line = plots.plots["loss"].titleLabel.item.toPlainText().split("\n")[1]
    assert re.search(r"   \+3( more)?$", line), line  # the other entries counted, never cut


# ---- results ----------------------------------------------------------------------------------

def test_the_results_caption_shows_whole(window, qtbot):
    view = window.training.results
    view._pending = ("run", "test")
    view._done(("run", "test"), _predictions())
    window.training.show_page("results")
    caption = view.summary
    _settle(qtbot, lambda: caption.isVisible() and caption.width() > 50)
    text = caption.text()
    assert "accuracy 0.9000" in text and text.endswith("recall 0.9000")
    assert "…" not in text
    lines = caption.fontMetrics().horizontalAdvance(text) / caption.contentsRect().width()
    assert caption.height() >= caption.heightForWidth(caption.width())  # every line shows
    assert lines > 1, "the caption is wider than the page: this case must wrap"
    page = window.training.pages["results"]
    bottom = caption.mapTo(page.viewport(), caption.rect().bottomLeft()).y()
    assert bottom <= page.viewport().height()
    assert page.horizontalScrollBar().maximum() == 0


# ---- try ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    from graph.fileformat import load
    from runtime.training import train
    from tests.conftest import EXAMPLES

    run_dir = tmp_path_factory.mktemp("runs") / "20261130-075601"
    events = list(train(load(EXAMPLES / "digits_cnn.json"), run_dir=run_dir,
                        overrides={"epochs": 2}, limit_batches=3))
    assert events[-1]["status"] == "completed"
    return run_dir


def test_the_try_page_fits_without_sideways_scrolling(window, qtbot, digits_run):
    page = window.training.try_page
    with qtbot.waitSignal(page.looked, timeout=60_000):
        page.use_run(str(digits_run))
        window.training.show_page("try")
    area = window.training.pages["try"]
    QApplication.processEvents()
    assert area.horizontalScrollBar().maximum() == 0, "the Try page scrolls sideways"
    caption = page.status
    assert "best weights" in caption.text()
    assert caption.height() >= caption.heightForWidth(caption.width())  # every line shows
    bottom = caption.mapTo(area.viewport(), caption.rect().bottomRight())
    assert area.viewport().rect().contains(bottom), "the caption is cut off"
    assert digits_run.name in caption.toolTip()  # the run by name: the weights box says it too
    for widget in (page.weights, page.random_button, page.pad, page.open_button, page.chart,
                   page.preview):
        right = widget.mapTo(area.viewport(), widget.rect().topRight()).x()
        assert right <= area.viewport().width(), type(widget).__name__


def test_after_a_run_ends_the_try_page_says_the_weights_it_loads(window, qtbot, digits_run):
    """While a run trains, the page tries its newest (last) weights; once it ends, the run's
    best weights, as the weights box promises and Results evaluates, and the caption says so."""
    page = window.training.try_page
    run = str(digits_run)
    page.run_started(run)
    window.training.show_page("try")
    page.use_run(run)

    def idle() -> bool:  # every look asked for has been shown
        return page.prediction is not None and not page._busy and page._waiting is None \
            and not page._timer.isActive()
    qtbot.waitUntil(idle, timeout=60_000)
    assert page.model.source == "last" and "newest weights" in page.status.text()
    window.training.controller.run_finished.emit({"status": "completed", "run_dir": run})
    qtbot.waitUntil(lambda: idle() and page.model.source == "best", timeout=60_000)
    assert "best weights" in page.status.text() and "last" not in page.status.text()
