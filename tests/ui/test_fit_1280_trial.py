"""What a second new-user trial at a 1280×800 screen found cut (issue 13), checked in the
window as the app opens there (1152×720, its share of the screen), on a 1400×900 screen and at
its preferred 1400×900: the Runs table shows each run's name whole (the best metric elides
instead) and five runs and the selected ones while two are compared; the Try page fits without
scrolling, untrained and with a run's weights, its captions wrapped and its drawing pad whole;
the export dialog's results show every format."""
from __future__ import annotations

from types import SimpleNamespace

import shutil

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QApplication

from graph.fileformat import save
from tests.conftest import example_window
from tests.ui.test_fit_1280_cut_text import (_rows_shown, _text_fits, show_runs,  # noqa: F401
                                             trained_runs)
from tests.ui.test_fit_1280_pages import digits_run  # noqa: F401 (fixture)
from tests.ui.test_forms_fit import styled  # noqa: F401 (fixture)
from ui.main_window import PREFERRED_SIZE
from ui.training import export_dialog
from ui.widgets.screen import fit_size

SCREENS = [(1280, 800), (1400, 900), (1920, 1080)]  # the app opens at 1152×720, 1260×810, 1400×900


def _window(qtbot, screen: tuple[int, int]):
    """The main window at the size it opens at on ``screen`` (its share of the screen)."""
    return example_window(qtbot, fit_size(PREFERRED_SIZE, QRect(0, 0, *screen)).toTuple())


# ---- runs ----------------------------------------------------------------------------------------

@pytest.fixture(params=SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def runs_page(styled, qtbot, trained_runs, tmp_path, request):  # noqa: F811 (fixture)
    """The Runs page of the default window listing seven runs of the design, all with the same
    best value: three the command line wrote beside its file (long names), four the app wrote."""
    window = _window(qtbot, request.param)
    copies = {f"digits_cnn-20261130-06402{i}": trained_runs[0] for i in range(3)}
    copies.update({f"digits_cnn/20261130-10105{i}": trained_runs[i % 2] for i in range(4)})
    return show_runs(qtbot, window, tmp_path, copies)


def test_each_run_is_named_whole_and_the_best_value_elides(runs_page):
    table = runs_page.table
    assert table.horizontalScrollBar().maximum() == 0
    header = table.horizontalHeader()
    assert header.sectionPosition(5) + header.sectionSize(5) <= table.viewport().width()
    best = table.horizontalHeaderItem(2).text()
    assert best == "Best"
    for row, run in enumerate(runs_page.runs):
        name = table.item(row, 0)
        assert name.text() == run.name and _text_fits(table, run.name, table.columnWidth(0))
        assert name.toolTip() == str(run.dir)
        for column in (1, 3, 4, 5):  # the other facts whole too
            text = table.item(row, column).text()
            assert _text_fits(table, text, table.columnWidth(column)), text
        value = table.item(row, 2)  # what gives way, its value first: whole in the tooltip
        assert value.text().startswith(f"{run.best_value:.4g} {run.best_metric}")
        assert f"{run.best_value:.6g}" in value.toolTip() and f"epoch {run.best_epoch}" in \
            value.toolTip()
    assert table.columnWidth(2) >= header.fontMetrics().horizontalAdvance(best)
    assert _rows_shown(table) >= 5


def test_comparing_two_runs_keeps_five_runs_and_both_in_view(runs_page, qtbot):
    """Selecting two runs (as a click and a Ctrl+click do) shows their comparison under their
    names, while the list keeps five rows and both runs in view (it shrank to three and
    scrolled the first one away)."""
    faster = {"20261130-101051", "20261130-101053"}  # trained at another learning rate
    names = [run.name for run in runs_page.runs]
    first, second = names[1], names[5]  # five rows apart: they fit five rows
    assert (first in faster) != (second in faster)
    runs_page.select([first, second])
    QApplication.processEvents()
    table, diff = runs_page.table, runs_page.diff_table
    qtbot.waitUntil(diff.isVisible)
    QApplication.processEvents()
    assert {diff.horizontalHeaderItem(c).text() for c in (1, 2)} == {first, second}
    assert _rows_shown(table) >= 5, (table.viewport().height(), table.rowHeight(0))
    shown = [table.item(r, 0).text() for r in range(table.rowCount())
             if 0 <= table.rowViewportPosition(r)
             and table.rowViewportPosition(r) + table.rowHeight(r) <= table.viewport().height()]
    assert first in shown and second in shown, shown
    assert _rows_shown(diff) == diff.rowCount()  # the comparison whole, ...
    area = runs_page.parentWidget().parentWidget()  # ... in the page as the dock shows it
    bottom = diff.mapTo(area.viewport(), diff.rect().bottomLeft()).y()
    assert bottom <= area.viewport().height() and area.verticalScrollBar().value() == 0


# ---- try -----------------------------------------------------------------------------------------

def _inside(widget, area) -> bool:
    """``widget`` lies whole in the scroll ``area``'s viewport, as scrolled now."""
    top_left = widget.mapTo(area.viewport(), widget.rect().topLeft())
    return area.viewport().rect().contains(widget.rect().translated(top_left))


@pytest.mark.parametrize("trained", [False, True], ids=["untrained", "trained"])
@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_try_page_fits_whole(styled, qtbot, digits_run, tmp_path, screen,  # noqa: F811
                                 trained):
    """The whole page in view without scrolling either way: the captions wrapped whole (the
    weights' caption was cut at "initialized from the design's s", the layer preview's at
    "Select a layer o"), the pad, the buttons, the bars and the selected layer's output (a
    vector: its axis labels were cut at "0.2 0.")."""
    window = _window(qtbot, screen)
    page = window.training.try_page
    if trained:  # a run of the design, in its runs folder
        design_file = tmp_path / "digits_cnn.json"
        save(window.document.design, design_file)
        window.document.set_path(design_file)
        run = shutil.copytree(digits_run, tmp_path / "runs" / "digits_cnn" / digits_run.name)
        history = window.training.history
        history.refresh()
        qtbot.waitUntil(lambda: page.weights.findData(str(run)) > 0, timeout=30_000)
        page.use_run(str(run))
    window.training.show_page("try")

    def shown() -> bool:  # the weights asked for have answered, nothing more is on its way
        return page.prediction is not None and not page._busy and page._waiting is None \
            and not page._timer.isActive() \
            and page.model.source == ("best" if trained else "untrained")
    qtbot.waitUntil(shown, timeout=60_000)
    area = window.training.pages["try"]
    caption = page.preview.caption
    assert caption.text().startswith("Select a layer on the canvas")
    _settle_layout(qtbot, area)
    _assert_whole(page, area, caption)
    assert ("best weights" if trained else "untrained (initialized from the design's seed)") \
        in page.status.text()
    fc2 = next(n.id for n in window.document.design.nodes if n.name == "fc2")
    page.show_layer(fc2)  # ten values: bars with axes
    _settle_layout(qtbot, area)
    assert page.preview.kind == "vector" and caption.text().startswith("fc2: 10")
    _assert_whole(page, area, caption)


def _settle_layout(qtbot, area) -> None:
    for _ in range(3):
        QApplication.processEvents()
    qtbot.wait(50)
    QApplication.processEvents()


def _assert_whole(page, area, caption) -> None:
    assert area.horizontalScrollBar().maximum() == 0, "the Try page scrolls sideways"
    assert area.verticalScrollBar().maximum() == 0, "the Try page scrolls up and down"
    for label in (page.status, caption, page.answer):
        assert "…" not in label.text()
        assert label.height() >= label.heightForWidth(label.width()), label.text()
        assert _inside(label, area), label.text()
    for widget in (page.weights, page.index, page.random_button, page.pad, page.clear_button,
                   page.open_button, page.input_view, page.chart, page.preview):
        assert _inside(widget, area), type(widget).__name__
    assert page.pad.width() == page.pad.height() >= 80


# ---- export dialog -------------------------------------------------------------------------------

@pytest.mark.parametrize("screen", SCREENS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_export_results_show_every_format(styled, qtbot, tmp_path, monkeypatch, screen):
    """Every format exported has its row in view (the table held five and showed four, the
    torch.export row cut, while the dialog had room to spare)."""
    window = _window(qtbot, screen)

    def written(_source, _text, fmt, out, _checkpoint):
        return SimpleNamespace(files=[out], max_diff=0.0, batch=8)
    monkeypatch.setattr(export_dialog, "_export_one", written)
    dialog = window.training.open_export_dialog(window)
    qtbot.addWidget(dialog)
    qtbot.waitExposed(dialog)
    for box in dialog.format_boxes.values():
        box.setChecked(True)
    with qtbot.waitSignal(dialog.finished_all, timeout=60_000):
        dialog.export_button.click()
    QApplication.processEvents()
    table = dialog.table
    assert table.rowCount() == len(dialog.format_boxes) == 5
    viewport = table.viewport().rect()
    for row in range(table.rowCount()):
        cell = table.visualRect(table.model().index(row, 0))
        assert viewport.contains(cell), f"the {table.item(row, 0).text()} row is cut"
    assert table.verticalScrollBar().maximum() == 0
    assert dialog.frameGeometry().height() <= window.height()  # it still fits the window
