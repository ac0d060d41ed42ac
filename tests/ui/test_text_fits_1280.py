"""Text that was cut at 1280×800 fits, or shows whole entries and says the rest in a tooltip:
the Runs table's best metric, the curve legends, the Try page's weights, a block's type in the
Summary."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from graph.templates import build
from tests.conftest import example_window
from tests.ui.test_forms_fit import styled  # noqa: F401 (fixture)
from tests.ui.test_window import isolated, no_leaked_windows  # noqa: F401 (fixtures)
from ui.document import Document
from ui.main_window import MainWindow

SIZE = (1280, 800)


def _run(folder: Path, name: str, status: str = "completed"):
    from runtime.analysis import RunSummary

    (folder / name / "checkpoints").mkdir(parents=True)  # a run with weights to try
    return RunSummary(dir=folder / name, status=status,
                      best_metric="val_accuracy", best_value=0.987654321, best_epoch=118,
                      epochs_completed=120, epochs=120, duration_s=3723.0, device="cuda:0",
                      created=None, message=None, resumable=False, checkpoints=("best", "last"))


@pytest.fixture
def window(styled, qtbot, tmp_path):
    window = example_window(qtbot, SIZE)
    runs = [_run(tmp_path, "digits_cnn-20261130-064027", "early_stopped"),
            _run(tmp_path, "20261130-071500")]
    history = window.training.history
    qtbot.waitUntil(lambda: not history._loading, timeout=30_000)  # its own read (no runs)
    history._loaded(runs)  # as a read of a runs folder holding these ends
    return window


def _text_fits(view, text: str, width: int, margin: int = 8) -> bool:
    return view.fontMetrics().horizontalAdvance(text) + margin <= width


def test_the_best_metric_of_each_run_reads_whole_beside_the_whole_name(window, qtbot):
    """The run's name is whole (it tells runs apart); the best metric takes what is left,
    whole in its tooltip (beside a command-line run's long name it is elided)."""
    history = window.training.history
    window.training.show_page("runs")
    qtbot.waitUntil(history.table.isVisible)
    table = history.table
    for row in range(table.rowCount()):
        name = table.item(row, 0).text()
        assert _text_fits(table, name, table.columnWidth(0)), name
        item = table.item(row, 2)
        assert item.text() == "0.9877 val_accuracy (epoch 118)"  # the value first
        assert "0.987654" in item.toolTip() and "epoch 118" in item.toolTip()
    assert table.horizontalScrollBar().maximum() == 0  # the best gives way, not the view


def test_the_weights_box_elides_a_long_run_name_and_says_it_whole(window, qtbot):
    page = window.training.try_page
    page.set_runs(window.training.history.runs)
    page.weights.setCurrentIndex(1)
    window.training.show_page("try")
    qtbot.waitUntil(page.weights.isVisible)
    box = page.weights
    full = box.currentText()
    assert full == "digits_cnn-20261130-064027 · early stopped"
    shown = box.shown_text()
    assert shown != full and "…" in shown  # the box is narrower than the name
    assert "064027 · early stopped" in shown  # the end, where runs' names differ
    assert box.fontMetrics().horizontalAdvance(shown) <= box.width()


def test_legends_show_whole_entries_and_count_the_rest(window, qtbot):
    plots = window.training.plots
    # The overlays are this test's: the Runs table's (none selected) are read in the background
    # and would replace them whenever they arrive.
    window.training.history.overlay_requested.disconnect(plots.set_overlays)
    window.training.show_page("curves")
    qtbot.waitUntil(plots.isVisible)
    for epoch in (1, 2):
        plots.add_event({"event": "epoch", "epoch": epoch, "step": 10 * epoch,
                         "train_loss": 1.0 / epoch, "val_loss": 1.1 / epoch,
                         "val_accuracy": 0.5 + epoch / 10, "lr": 0.001})
    records = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e, "val_accuracy": 0.5}
               for e in (1, 2)]
    plots.set_overlays({"digits_cnn-20261130-064027": records, "20261130-071500": records})
    plots.redraw()
    QApplication.processEvents()
    legend = plots.plots["loss"].legend
    label = plots.plots["loss"].titleLabel
    assert len(legend.names) == 6
    qtbot.waitUntil(lambda: legend._width > 0)
    text = label.item.toPlainText().split("\n")[1]
    assert "more" in text and text.endswith(" more")  # the rest counted, not cut mid-name
    shown = [name for name in legend.names if name in text]
    assert shown and shown == legend.names[:len(shown)]  # whole entries, in order
    assert label.item.boundingRect().width() <= label.width() + 1  # nothing clipped
    assert all(name in label.toolTip() for name in ("train loss", "val loss"))
    assert all(f"{run}: {name}" in label.toolTip() for run in ("digits_cnn-20261130-064027",
                                                               "20261130-071500")
               for name in ("train loss", "val loss"))  # other runs by their whole names


@pytest.mark.parametrize("template, size", [("resnet50", SIZE), ("resnet18", SIZE),
                                            ("resnet18", (1152, 720))])
def test_a_blocks_type_and_the_totals_fit_the_summary(styled, qtbot, template, size):
    """Also in the window Qt opens without a window manager (1152×720)."""
    design = build(template, small=template == "resnet50")
    window = MainWindow(Document(design), autosave=False, remember_layout=False)
    window.maybe_save = lambda *_a: True
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    summary = window.summary
    window.bottom_tabs.setCurrentWidget(summary)
    qtbot.waitUntil(lambda: summary.tree.topLevelItemCount() > 0 and summary.tree.isVisible())
    tree = summary.tree
    groups = [tree.topLevelItem(r) for r in range(tree.topLevelItemCount())
              if "layers" in tree.topLevelItem(r).text(1)]
    assert groups
    for item in groups:
        assert _text_fits(tree, item.text(1), tree.columnWidth(1), margin=12), item.text(1)
        assert item.toolTip(1) == item.text(1)
    qtbot.waitUntil(lambda: summary.totals.columnWidth(1) == tree.columnWidth(1))  # aligned
    total = summary.totals.topLevelItem(0).text(1)
    assert total.startswith(f"{summary.summary.total_layers} layers in ")
    assert _text_fits(summary.totals, total, summary.totals.columnWidth(1), margin=12), total
    names = [tree.topLevelItem(r) for r in range(tree.topLevelItemCount())]
    assert all(_text_fits(tree, item.text(0), tree.columnWidth(0) - tree.indentation())
               for item in names)
    groups[0].setExpanded(True)  # its copies' names ("layer1.0") one level deeper
    copies = [groups[0].child(c) for c in range(groups[0].childCount())]
    assert copies and all(_text_fits(tree, item.text(0), tree.columnWidth(0) - 2 * tree.indentation())
                          for item in copies)
    header = tree.header()
    for column, title in enumerate(summary.HEADERS):  # the header's titles whole too
        assert header.fontMetrics().horizontalAdvance(title) + 8 <= header.sectionSize(column)
