"""At 1280×800 the Layer stats page shows a real run's records without pushing the window
apart: its colour-range caption wraps or elides (it widened the Analysis dock and squeezed the
Training panel), the heatmap names only as many layers as fit apart (all of them on hover), the
table's headers read whole, and before any run the plot draws no meaningless axes."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from tests.conftest import example_window
from tests.ui.test_fit_1280_pages import _label_rects, _settle
from tests.ui.test_forms_fit import styled  # noqa: F401 (fixture)

SIZE = (1280, 800)


@pytest.fixture(scope="module")
def stats_run(tmp_path_factory):
    """A real run of the digits CNN (15 layers) with layer stats every few steps."""
    from graph.fileformat import load
    from runtime.training import train
    from tests.conftest import EXAMPLES

    run_dir = tmp_path_factory.mktemp("runs") / "20261130-101052"
    events = list(train(load(EXAMPLES / "digits_cnn.json"), run_dir=run_dir,
                        overrides={"epochs": 2, "diagnostics_every": 1}, limit_batches=3))
    assert events[-1]["status"] == "completed"
    assert sum(e.get("event") == "diagnostics" for e in events) >= 4
    return events


@pytest.fixture
def window(styled, qtbot):
    return example_window(qtbot, SIZE)


def _show_stats(window, qtbot, events) -> None:
    view = window.training.diagnostics
    for event in events:
        view.add_event(event)
    view.redraw()
    _settle(qtbot, lambda: view.info.isHidden())


def test_the_stats_caption_never_widens_the_analysis_dock(window, qtbot, stats_run):
    view = window.training.diagnostics
    window.training.show_page("layers")
    _settle(qtbot, lambda: view.isVisible() and view.plot.width() > 50)
    docks = (window.palette_dock, window.inspector_dock, window.bottom_dock)
    before_hint = view.minimumSizeHint().width()
    before = [dock.width() for dock in docks]
    _show_stats(window, qtbot, stats_run)
    caption = view.range_label
    assert "bright" in caption.toolTip() + caption.text()
    assert view.minimumSizeHint().width() <= before_hint, "the caption forces the page wider"
    assert [dock.width() for dock in docks] == before, "the side docks were squeezed"
    assert caption.width() <= view.width()
    shown = caption.text().replace("\n", " ")
    assert "…" in shown or shown == caption.toolTip(), "the caption is neither whole nor elided"


def test_the_heatmap_names_only_layers_that_fit_apart(window, qtbot, stats_run):
    view = window.training.diagnostics
    window.training.show_page("layers")
    _show_stats(window, qtbot, stats_run)
    QApplication.processEvents()
    left = view.plot.getAxis("left")
    rects = _label_rects(left)
    assert 2 <= len(rects) < len(view.layers), "every layer named in a short plot"
    for i, (a, ta) in enumerate(rects):
        for b, tb in rects[i + 1:]:
            assert not a.intersects(b), f"{ta!r} overlaps {tb!r}"
    names = [layer["name"] for layer in view.layers]
    assert all(name in left.toolTip() for name in names)  # the whole list on hover
    box = view.plot.getViewBox()
    middle = box.mapToScene(box.rect().center())
    assert view.layer_at(middle) in names  # the heatmap names the row under the pointer
    view._hover(middle)
    assert view.layer_at(middle) in view.plot.toolTip()


@pytest.mark.parametrize("size", [(1280, 800), (1152, 720)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_stats_table_headers_read_whole_without_sideways_scrolling(styled, qtbot, stats_run,
                                                                       size):
    """At 1280×800 and at the window's first size on a 1280×800 screen."""
    window = example_window(qtbot, size)
    view = window.training.diagnostics
    window.training.show_page("layers")
    _show_stats(window, qtbot, stats_run)
    QApplication.processEvents()
    table, header = view.table, view.table.horizontalHeader()
    assert table.horizontalScrollBar().maximum() == 0, "the table scrolls sideways"
    for c in range(table.columnCount()):
        item = table.horizontalHeaderItem(c)
        assert header.sectionSize(c) >= header.sectionSizeHint(c), f"{item.text()!r} is cut"
        assert item.toolTip(), f"{item.text()!r} has no tooltip that says what it is"
    assert header.sectionViewportPosition(table.columnCount() - 1) \
        + header.sectionSize(table.columnCount() - 1) <= table.viewport().width()


def test_before_a_run_the_stats_plot_shows_no_axes(window, qtbot):
    view = window.training.diagnostics
    window.training.show_page("layers")
    _settle(qtbot, lambda: view.isVisible())
    assert not view.plot.isVisible(), "an empty plot shows meaningless axes"
    assert view.info.isVisible() and "appear" in view.info.text()
