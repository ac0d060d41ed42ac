"""Forms fit: at the default window size and at 1280×800 the right-hand panels show every field
whole (no sideways scrolling, no clipped spin buttons), tables show whole column titles, and the
docks cannot be torn off by a stray drag."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QDockWidget, QScrollArea

from graph.design import Design
from tests.conftest import EXAMPLES
from tests.ui.test_window import isolated, make_window, no_leaked_windows  # noqa: F401
from ui.training.export_dialog import ExportDialog


@pytest.fixture
def styled(qapp):
    """The app's own style sheet (fonts, paddings) for the test, as the real window has it."""
    from ui.app import stylesheet

    qapp.setStyleSheet(stylesheet())
    yield qapp
    qapp.setStyleSheet("")


def _fits(area: QScrollArea) -> bool:
    return area.horizontalScrollBar().maximum() == 0


@pytest.mark.parametrize("size", [None, (1280, 800)])
def test_the_right_hand_panels_fit(make_window, qtbot, size):
    window = make_window(EXAMPLES / "digits_cnn.json", remember_layout=False)
    if size is not None:
        window.resize(*size)
    panel = window.training.panel
    window.training_docks["training"].raise_()
    qtbot.waitUntil(lambda: panel.isVisible())
    QApplication.processEvents()  # the layout requests that showing the panel posted
    assert _fits(panel.scroll), "the training settings scroll sideways (fields cut off)"
    viewport = panel.scroll.viewport()
    for form in panel.forms.values():
        for name, editor in form.editors.items():
            if form.shown(name):
                right = editor.mapTo(viewport, editor.rect().topRight()).x()
                assert right <= viewport.width(), f"{name} is cut off"
    window.training_docks["data"].raise_()
    data_area = window.training_docks["data"].widget()
    qtbot.waitUntil(lambda: data_area.isVisible())
    QApplication.processEvents()
    assert _fits(data_area)


def test_data_preview_shows_whole_column_names(make_window, qtbot):
    window = make_window(EXAMPLES / "iris_mlp.json", remember_layout=False)
    window.resize(1280, 800)
    panel = window.training.data_panel
    qtbot.waitUntil(lambda: panel.table.columnCount() > 1, timeout=30_000)
    header = panel.table.horizontalHeader()
    metrics = header.fontMetrics()
    for c in range(panel.table.columnCount()):
        text = panel.table.horizontalHeaderItem(c).text()
        assert header.sectionSize(c) >= metrics.horizontalAdvance(text), text


def test_export_dialog_columns_fit_their_titles(qtbot):
    dialog = ExportDialog(Design("x"), [])
    qtbot.addWidget(dialog)
    dialog.show()
    header = dialog.table.horizontalHeader()
    title = dialog.table.horizontalHeaderItem(2).text()
    assert title == "Max difference"
    assert header.sectionSize(2) >= header.fontMetrics().horizontalAdvance(title)


def test_docks_do_not_tear_off(make_window):
    window = make_window(remember_layout=False)
    docks = window.findChildren(QDockWidget)
    assert len(docks) >= 5
    for dock in docks:
        assert not dock.features() & QDockWidget.DockWidgetFeature.DockWidgetFloatable, \
            dock.windowTitle()
        assert dock.features() & QDockWidget.DockWidgetFeature.DockWidgetMovable


@pytest.mark.parametrize("size", [(1400, 900), (1280, 800)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_inspector_shows_every_layer_type_whole(styled, make_window, size):
    """Whatever is selected — any layer type (long names such as "Transformer Encoder Stack"
    included), a block instance, the design itself — no field runs past the inspector's right
    edge (it never scrolls sideways, so a field past it would be cut)."""
    from PySide6.QtWidgets import QAbstractScrollArea, QWidget

    from graph.catalog import CATALOG
    from graph.templates import build

    window = make_window(remember_layout=False)
    window.resize(*size)
    window.document.replace(build("resnet", small=True))
    canvas, viewport = window.canvas, window.inspector.scroll.viewport()
    selections = [[canvas.add_node_at_center(t.type_id)] for t in CATALOG]
    selections += [[n.id] for n in window.document.design.nodes[:8]] + [[]]
    cut = []
    for ids in selections:
        canvas.select_nodes(ids)
        QApplication.processEvents()
        for child in window.inspector.scroll.widget().findChildren(QWidget):
            if not child.isVisible() or isinstance(child.parentWidget(), QAbstractScrollArea):
                continue
            right = child.mapTo(viewport, child.rect().topRight()).x()
            if right > viewport.width():
                cut.append((ids, type(child).__name__, child.objectName(), right - viewport.width()))
    window.document.undo_stack.setClean()
    assert not cut, cut[:5]



@pytest.mark.parametrize("dataset", ["csv", "idx"])
def test_a_path_field_shows_a_file_name_at_1280(make_window, qtbot, styled, dataset):
    """A dataset option naming a file gets a field wide enough to read a file name beside its
    Browse… button (at 1280×800 it went under its label instead of shrinking to 66 px)."""
    from PySide6.QtWidgets import QStyle, QStyleOptionFrame

    from graph.settings import DATASETS
    from ui.training.data_panel import PATH_ROOM

    window = make_window(EXAMPLES / "digits_cnn.json", remember_layout=False)
    window.resize(1280, 800)
    window.training_docks["data"].raise_()
    panel = window.training.data_panel
    qtbot.waitUntil(lambda: panel.isVisible())
    index = panel.dataset_combo.findData(dataset)
    panel.dataset_combo.setCurrentIndex(index)
    panel.dataset_combo.activated.emit(index)  # as a choice by mouse
    QApplication.processEvents()
    assert set(panel.browse_buttons) == set(DATASETS[dataset].path_options)
    for name in DATASETS[dataset].path_options:
        line = panel.options_form.editors[name].line
        option = QStyleOptionFrame()
        line.initStyleOption(option)
        inside = line.style().subElementRect(QStyle.SubElement.SE_LineEditContents, option, line)
        room = line.fontMetrics().horizontalAdvance(PATH_ROOM)
        assert inside.width() >= room, f"{name}: {inside.width()} px of text for a path"
        assert panel.browse_buttons[name].isVisible()
    window.document.undo_stack.setClean()
