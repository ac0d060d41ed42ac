"""The layer palette: search as you type, double-click to add, drag with the layer MIME type."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import QApplication

from graph.catalog import CATALOG
from tests.conftest import EXAMPLES
from tests.ui.test_window import isolated, make_window, no_leaked_windows  # noqa: F401 (fixtures)
from ui.canvas import LAYER_MIME
from ui.palette import TYPE_ROLE, Palette


@pytest.fixture
def palette(qtbot):
    widget = Palette()
    qtbot.addWidget(widget)
    widget.resize(260, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_lists_every_layer_by_category_with_doc_tooltips(palette):
    assert sorted(palette.visible_types()) == sorted(layer.type_id for layer in CATALOG
                                                     if not layer.is_placeholder)
    assert "Unsupported" not in palette.visible_types()  # import placeholders are not offered
    heads = [palette.tree.topLevelItem(i).text(0) for i in range(palette.tree.topLevelItemCount())]
    assert heads == list(CATALOG.categories())
    conv = palette.item("Conv2d")
    assert CATALOG["Conv2d"].doc in conv.toolTip(0)
    assert not conv.icon(0).isNull()  # the category colour chip


def test_search_filters_as_you_type(palette, qtbot):
    seen = []
    palette.search.textChanged.connect(lambda _t: seen.append(palette.visible_types()))
    qtbot.keyClicks(palette.search, "pool")
    assert len(seen) == 4  # one filter per keystroke
    assert len(seen[0]) > len(seen[-1])  # "p" matches more than "pool"
    assert set(seen[-1]) == {layer.type_id for layer in CATALOG.search("pool")}
    assert "MaxPool2d" in seen[-1] and "ReLU" not in seen[-1]
    assert palette.tree.topLevelItem(0).isHidden()  # "Input / Output" has no match

    qtbot.keyClicks(palette.search, "zzz")
    assert palette.visible_types() == [] and palette.empty.isVisible()

    palette.search.clear()
    assert len(palette.visible_types()) == len(CATALOG) - 1 and not palette.empty.isVisible()


def test_enter_in_search_adds_the_first_match(palette, qtbot):
    added = []
    palette.add_requested.connect(added.append)
    qtbot.keyClicks(palette.search, "dropout2")
    qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert added == ["Dropout2d"]


def test_enter_after_a_new_search_adds_the_best_match_of_the_new_text(palette, qtbot):
    """The trial: "relu" Enter, then select all, "linear" Enter added ReLU again and "output"
    Enter added an Input (the old highlight was kept while it still matched)."""
    added = []
    palette.add_requested.connect(added.append)
    for text in ("relu", "linear", "output"):
        qtbot.keyClick(palette.search, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyClicks(palette.search, text)
        assert palette.tree.currentItem().data(0, TYPE_ROLE) == CATALOG.search(text)[0].type_id
        qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert added == ["ReLU", "Linear", "Output"]
    assert added == [CATALOG.search(text)[0].type_id for text in ("relu", "linear", "output")]


def test_double_click_adds_a_node_and_undo_removes_it(make_window, qtbot):
    window = make_window(EXAMPLES / "digits_mlp.json")
    design = window.document.design
    before = len(design)
    tree = window.palette.tree
    item = window.palette.item("Dropout")
    tree.scrollToItem(item)
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(item).center())

    added = [n for n in design.nodes if n.type == "Dropout"]
    assert len(design) == before + 1 and len(added) == 1
    assert window.canvas.selected_node_ids() == [added[0].id]
    window.undo_action.trigger()
    assert len(design) == before and not any(n.type == "Dropout" for n in design.nodes)


def test_dragging_a_layer_carries_its_type_id(palette, qtbot, monkeypatch):
    dragged = []

    def fake_exec(drag, *args):  # QDrag.exec would run a platform drag loop
        mime = drag.mimeData()
        dragged.append((mime.formats(), bytes(mime.data(LAYER_MIME)).decode("utf-8"),
                        drag.pixmap().isNull()))
        return Qt.DropAction.CopyAction

    monkeypatch.setattr(QDrag, "exec", fake_exec)
    tree = palette.tree
    item = palette.item("BatchNorm2d")
    tree.scrollToItem(item)
    start = tree.visualItemRect(item).center()
    qtbot.mousePress(tree.viewport(), Qt.MouseButton.LeftButton, pos=start)
    step = QApplication.startDragDistance() + 5
    for dx in (step // 2, step, 2 * step):
        qtbot.mouseMove(tree.viewport(), start + QPoint(dx, 0))
    qtbot.mouseRelease(tree.viewport(), Qt.MouseButton.LeftButton, pos=start + QPoint(2 * step, 0))

    assert dragged, "moving with the button held did not start a drag"
    formats, payload, no_pixmap = dragged[0]
    assert LAYER_MIME in formats and payload == "BatchNorm2d" and not no_pixmap


def test_categories_are_not_draggable(palette):
    head = palette.tree.topLevelItem(0)
    assert not palette.tree.mimeData([head]).hasFormat(LAYER_MIME)
