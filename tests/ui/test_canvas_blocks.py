"""Blocks on the canvas: instances as one node, entering one (breadcrumb), editing inside, Group
into Block / Ungroup as one undo step, blocks in the palette, templates and the issue's journey."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt
from PySide6.QtWidgets import QToolButton
from PySide6.QtTest import QTest

from graph.design import Edge
from graph.templates import build
from ui.canvas.items import NodeItem
from ui.commands import SetParamCommand
from ui.palette import Palette
from ui.template_dialog import TemplateDialog

from .test_canvas_edit import drop_layer, new_node_id
from .test_canvas_helpers import chain_design, key, make_view, vp  # noqa: F401

CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def resnet(view_factory, depth=18):
    view = view_factory(build("resnet", {"depth": depth, "in_channels": 1, "size": 8,
                                         "classes": 10, "width": 8}))
    view.document.revalidate()
    return view


def by_name(design, name):
    return design.node_by_name(name).id


def double_click(view, scene_pos: QPointF) -> None:
    QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                      vp(view, scene_pos))


def test_a_block_instance_is_one_node_with_its_shape_params_and_repeat(make_view):
    view = resnet(make_view)
    design = view.document.design
    assert len(design) <= 25
    item = view.canvas.nodes[by_name(design, "layer2")]
    assert isinstance(item, NodeItem) and item.is_block and item.repeat == 2
    assert item.repeat_text() == "×2" and "planes=16" in item.summary
    assert item._overview_text == "layer2 ×2"  # zoomed out, the ×N stays in sight
    inference = view.document.report.inference
    assert item.look.shape == "16×1×1"
    assert item.look.params and inference.params[item.node_id] > 0
    view.set_zoom(1.0)
    view.centerOn(item.center())
    assert not view.grab().isNull()


def test_double_click_enters_a_block_and_the_breadcrumb_leads_back(make_view):
    view = resnet(make_view)
    design = view.document.design
    layer1 = view.canvas.nodes[by_name(design, "layer1")]
    double_click(view, layer1.center())
    body = design.blocks["BasicBlock"].body
    assert view.design is body and set(view.canvas.nodes) == set(body.node_ids_in_order())
    assert view.breadcrumb.isVisible()
    assert view.breadcrumb.steps == ["ResNet-18", "layer1 (BasicBlock)"]
    conv = view.canvas.nodes[by_name(body, "conv1")]
    assert conv.look.shape  # shapes inside come from the instance's first copy
    view.set_zoom(3.0)
    view.centerOn(conv.center())
    minimap = view.minimap  # the minimap maps the block shown, not the design around it
    assert minimap.isVisible() and minimap._design is body
    assert minimap.view_outline().intersects(QRectF(minimap.to_map(conv.pos()), QSizeF(2, 2)))
    shown = [b for b in view.breadcrumb.findChildren(QToolButton) if b.isVisible()]
    assert [b.text() for b in shown] == ["ResNet-18"]  # no stale step left behind
    view.breadcrumb.buttons()[0].click()
    assert view.design is design and not view.breadcrumb.isVisible()
    double_click(view, view.canvas.nodes[by_name(design, "layer2")].center())
    assert view.design is body
    view.canvas.clearSelection()
    key(view, Qt.Key.Key_Escape)
    assert view.design is design


def test_an_edit_inside_a_block_changes_every_instance_in_one_step(make_view):
    view = resnet(make_view)
    design, doc = view.document.design, view.document
    before = {n: doc.report.inference.params[by_name(design, n)] for n in ("layer1", "layer4")}
    view.enter_block(by_name(design, "layer1"))
    body = view.design
    conv2 = by_name(body, "conv2")
    doc.push(SetParamCommand(body, conv2, "bias", True))
    doc.revalidate()
    after = {n: doc.report.inference.params[by_name(design, n)] for n in ("layer1", "layer4")}
    assert all(after[n] > before[n] for n in before)  # every instance, every copy
    doc.undo_stack.undo()
    doc.revalidate()
    assert {n: doc.report.inference.params[by_name(design, n)] for n in before} == before


def test_group_into_block_and_ungroup_are_one_undo_step_each(make_view):
    view = make_view(chain_design())  # x → fc → relu → y
    design, stack = view.document.design, view.document.undo_stack
    edges_before = list(design.edges)
    view.select_nodes(["n2", "n3"])
    key(view, Qt.Key.Key_G, CTRL)
    assert stack.count() == 1 and len(design) == 3 and len(design.blocks) == 1
    (instance,) = view.selected_node_ids()
    block = design.node(instance).type
    assert Edge("n1", instance, "out", "x") in design.edges  # ports found from the links
    assert any(e.src == instance and e.dst == "n4" for e in design.edges)
    view.document.revalidate()
    assert view.document.report.ok
    assert view.canvas.nodes[instance].is_block
    key(view, Qt.Key.Key_G, CTRL | SHIFT)
    assert stack.count() == 2 and not any(n.type == block for n in design.nodes)
    assert len(design) == 4
    stack.undo()
    assert [n.type for n in design.nodes].count(block) == 1
    stack.undo()
    assert design.edges == edges_before and len(design.blocks) == 0
    assert set(view.canvas.nodes) == {"n1", "n2", "n3", "n4"}


def test_ungrouping_two_stages_at_once_is_one_undo_step(make_view):
    view = make_view(build("resnet18", small=True))
    design, stack = view.document.design, view.document.undo_stack
    stages = [n.id for n in design.nodes if n.name in ("layer1", "layer2")]
    before = {n.id: (n.type, n.position) for n in design.nodes}
    view.select_nodes(stages)
    added = view.ungroup_selected()
    assert stack.count() == 1 and stack.undoText() == "Ungroup"
    assert not set(stages) & {n.id for n in design.nodes} and set(added) <= set(design.node_ids_in_order())
    assert set(view.selected_node_ids()) == set(added)
    view.document.revalidate()
    assert view.document.report.ok or all("dataset" in d.message for d in view.document.report.errors)
    stack.undo()
    assert {n.id: (n.type, n.position) for n in design.nodes} == before


def test_grouping_an_input_says_why_and_changes_nothing(make_view):
    view = make_view()
    messages = []
    view.status_message.connect(messages.append)
    view.select_nodes(["n1", "n2"])
    key(view, Qt.Key.Key_G, CTRL)
    assert view.document.undo_stack.count() == 0 and "Cannot group" in messages[-1]


def test_the_palette_lists_the_designs_blocks_and_a_drop_uses_one(make_view, qtbot):
    view = make_view(chain_design())
    palette = Palette()
    qtbot.addWidget(palette)
    palette.follow(view.document)
    assert palette.block_names() == []
    view.select_nodes(["n2", "n3"])
    view.group_selected()
    (name,) = palette.block_names()
    assert name in palette.visible_types() and palette.item(name).parent().text(0) == "Blocks"
    palette.search.setText(name.lower())
    assert palette.visible_types()[0] == name and "Linear" not in palette.visible_types()
    design = view.document.design
    before = set(design.node_ids_in_order())
    spot = view.canvas.nodes_bounding_rect().bottomRight() + QPointF(200, 0)
    drop_layer(view, name, spot)
    added = new_node_id(view, before)
    assert design.node(added).type == name and view.canvas.nodes[added].is_block
    view.document.undo_stack.undo()
    view.document.undo_stack.undo()
    assert palette.block_names() == []


def test_a_block_cannot_be_dropped_inside_itself(make_view):
    view = make_view(chain_design())
    view.select_nodes(["n2", "n3"])
    instance = view.group_selected()
    name = view.document.design.node(instance).type
    view.enter_block(instance)
    before = len(view.design)
    drop_layer(view, "ReLU", view.canvas.nodes_bounding_rect().bottomRight() + QPointF(200, 0))
    assert len(view.design) == before + 1  # layers go in
    assert view._usable_type(name) is None  # the block itself does not


def test_template_dialog_previews_and_makes_the_design(qtbot):
    dialog = TemplateDialog()
    qtbot.addWidget(dialog)
    assert dialog.template.name == "resnet"
    assert dialog.small.isChecked()  # the full ResNet needs 224×224 images of one's own
    dialog.small.setChecked(False)
    dialog.refresh()
    assert "11,689,512 parameters" in dialog.facts.text()
    dialog.set_args({"depth": 34})
    dialog.refresh()
    assert "21,797,672 parameters" in dialog.facts.text()
    assert len(dialog.preview.canvas.nodes) == len(dialog.design())
    dialog.small.setChecked(True)
    dialog.refresh()
    design = dialog.design()
    assert design.template["args"]["size"] == 8 and design.template["args"]["depth"] == 34
    dialog.list.setCurrentRow([dialog.list.item(i).data(Qt.ItemDataRole.UserRole)
                               for i in range(dialog.list.count())].index("vgg"))
    dialog.small.setChecked(False)
    dialog.set_args({"depth": 16})
    dialog.refresh()
    assert "138,357,544 parameters" in dialog.facts.text()
    dialog.done(0)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("NETWRIGHT_DATA_DIR", str(tmp_path))
    from ui.main_window import MainWindow

    win = MainWindow(autosave=False, remember_layout=False)
    win.maybe_save = lambda *_a: True  # the edits are the test's: nothing to ask at New or close
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def test_the_issue_journey_resnet18_to_34_then_group_and_repeat(window, qtbot, monkeypatch):
    from ui import template_dialog

    def choose(dialog):  # the user picks the full ResNet-18 and presses Create
        dialog.small.setChecked(False)
        dialog.set_args({"depth": 18})
        return template_dialog.QDialog.DialogCode.Accepted

    monkeypatch.setattr(template_dialog.TemplateDialog, "exec", choose)
    assert window.new_from_template()
    doc = window.document
    design = doc.design
    assert doc.path is None and design.template["name"] == "resnet"
    doc.revalidate()
    assert doc.report.inference.total_params == 11_689_512
    assert "71 layers in 13 nodes" in window.status_label.text()  # as the summary counts them
    # depth 18 → 34 in one edit
    assert window.apply_template_args({"depth": 34})
    doc.revalidate()
    assert doc.report.inference.total_params == 21_797_672
    assert doc.undo_stack.count() == 1 and design.template["args"]["depth"] == 34
    assert design.name == "ResNet-34"  # not a stale "ResNet-18" in titles and exports
    doc.undo_stack.undo()
    assert design.name == "ResNet-18" and design.template["args"]["depth"] == 18
    doc.undo_stack.redo()
    assert design.name == "ResNet-34"
    assert set(window.canvas.canvas.nodes) == set(design.node_ids_in_order())
    # group two layers into a block and repeat it ×3
    canvas = window.canvas
    canvas.setFocus()
    canvas.select_nodes([by_name(design, "bn1"), by_name(design, "relu")])
    instance = canvas.group_selected()
    assert instance and doc.undo_stack.count() == 2
    qtbot.waitUntil(lambda: getattr(window.inspector.view, "node_id", None) == instance)
    repeat = window.inspector.view.editors["repeat"]  # the inspector edits the ×N
    repeat.set_value(3)
    repeat.edited.emit(3)
    repeat.finished.emit()
    assert window.inspector.view.editors["first"].value() == {}
    doc.revalidate()
    assert doc.report.ok
    bn_params = 2 * 64
    assert doc.report.inference.total_params == 21_797_672 + 2 * bn_params
    assert canvas.canvas.nodes[instance].repeat_text() == "×3"
    for _ in range(3):
        doc.undo_stack.undo()
    doc.revalidate()
    assert doc.report.inference.total_params == 11_689_512 and design.template["args"]["depth"] == 18


def test_the_summary_shows_blocks_as_collapsible_groups_with_totals(qtbot):
    from graph.summary import summarize
    from ui.document import Document
    from ui.panels import SummaryPanel

    document = Document(build("resnet", {"depth": 18}))
    panel = SummaryPanel(document)
    qtbot.addWidget(panel)
    tree = panel.tree
    layer2 = next(tree.topLevelItem(r) for r in range(tree.topLevelItemCount())
                  if tree.topLevelItem(r).text(0).startswith("layer2"))
    expected = next(r for r in summarize(document.design).rows if r.name == "layer2")
    assert layer2.text(1) == f"BasicBlock ×2 · {expected.layers} layers" and layer2.text(3) == f"{expected.params:,}"
    assert layer2.childCount() == 2 and not layer2.isExpanded()  # its two copies, collapsed
    first = layer2.child(0)
    assert first.text(0) == "layer2.0" and first.childCount() > 0
    assert any(first.child(i).text(0) == "layer2.0.downsample" for i in range(first.childCount()))
    assert panel.rows()[-1][3] == "11,689,512" and "in 13 nodes" in panel.rows()[-1][1]
    layer2.setExpanded(True)
    document.revalidate()  # a new report keeps the groups the user opened
    again = next(tree.topLevelItem(r) for r in range(tree.topLevelItemCount())
                 if tree.topLevelItem(r).text(0).startswith("layer2"))
    assert again.isExpanded()


def _small_resnet18(window):
    """A digits-sized ResNet-18 in ``window``: its document and canvas."""
    window.document.replace(build("resnet", {"depth": 18, "in_channels": 1, "size": 8,
                                             "classes": 10, "width": 8}))
    return window.document, window.canvas


def _inside_layer1(window):
    """The canvas inside the small ResNet-18's ``layer1`` block: document, canvas, the block's
    body and its ``conv1``."""
    doc, canvas = _small_resnet18(window)
    canvas.enter_block(by_name(doc.design, "layer1"))
    body = canvas.design
    return doc, canvas, body, by_name(body, "conv1")


def test_the_inspector_edits_a_layer_inside_a_block_for_every_instance(window, qtbot):
    doc, canvas = _small_resnet18(window)
    doc.revalidate()
    design = doc.design
    before = doc.report.inference.total_params
    assert canvas.enter_block(by_name(design, "layer3"))
    assert window.statusBar().currentMessage().startswith("Inside layer3 (BasicBlock)")
    body = canvas.design
    conv1 = by_name(body, "conv1")
    canvas.select_nodes([conv1])
    view = window.inspector.view
    assert view.node_id == conv1 and view.design is body
    assert "Output" in [view.facts.itemAt(i).widget().text() for i in range(view.facts.count())
                        if view.facts.itemAt(i).widget() is not None]
    bias = view.editors["bias"]
    bias.set_value(True)
    bias.edited.emit(True)
    doc.revalidate()
    assert body.node(conv1).params["bias"] is True
    assert doc.report.inference.total_params > before  # every BasicBlock instance gained biases
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()
    doc.revalidate()
    assert doc.report.inference.total_params == before
    canvas.leave_to(0)
    assert window.inspector.view.__class__.__name__ == "DesignView"
    assert window.statusBar().currentMessage() == ""  # no stale "Inside …" hint


def test_inside_a_block_the_inspector_keeps_and_edits_argument_arithmetic(window):
    doc, canvas, body, conv1 = _inside_layer1(window)
    assert body.node(conv1).params["out_channels"] == "planes"
    canvas.select_nodes([conv1])
    editor = window.inspector.view.editors["out_channels"]
    assert editor.line.text() == "planes"  # the expression, not a number it cannot show
    editor.line.setText("nope * 2")
    editor.line.textEdited.emit("nope * 2")  # an argument the block does not have
    assert body.node(conv1).params["out_channels"] == "planes" and doc.undo_stack.count() == 0
    editor.line.setText("planes * 2")
    editor.line.textEdited.emit("planes * 2")
    assert body.node(conv1).params["out_channels"] == "planes * 2"
    editor.line.setText("12")
    editor.line.textEdited.emit("12")
    assert body.node(conv1).params["out_channels"] == 12


def test_inside_a_block_a_problem_is_pinned_to_the_inner_layer_that_causes_it(make_view):
    view = resnet(make_view)
    design, doc = view.document.design, view.document
    body = design.blocks["BasicBlock"].body
    view.enter_block(by_name(design, "layer1"))

    def wrong() -> dict[str, str]:
        doc.revalidate()
        return {body.node(n).name: item.look.problems for n, item in view.canvas.nodes.items()
                if item.look.severity == "error"}

    assert wrong() == {}
    doc.push(SetParamCommand(body, by_name(body, "conv2"), "out_channels", 7))
    assert list(wrong()) == ["add"]  # 7 channels + the shortcut's do not add up
    doc.undo_stack.undo()
    doc.push(SetParamCommand(body, by_name(body, "conv1"), "kernel_size", 0))
    problems = wrong()
    assert list(problems) == ["conv1"] and "kernel_size" in problems["conv1"]
    view.breadcrumb.buttons()[0].click()  # outside: on the instance, naming the place
    assert view.canvas.nodes[by_name(design, "layer1")].look.severity == "error"


def test_inside_a_block_a_plain_number_can_become_argument_arithmetic(window):
    doc, canvas, body, conv1 = _inside_layer1(window)
    assert body.node(conv1).params["stride"] == "stride"
    doc.push(SetParamCommand(body, conv1, "out_channels", 8))  # a plain number now
    canvas.select_nodes([conv1])
    editor = window.inspector.view.editors["out_channels"]
    assert editor.line.text() == "8"
    editor.line.setText("planes * 2")
    editor.line.textEdited.emit("planes * 2")
    assert body.node(conv1).params["out_channels"] == "planes * 2"


def _pick(dialog, name):
    names = [dialog.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(dialog.list.count())]
    dialog.list.setCurrentRow(names.index(name))


def test_small_variant_is_ticked_where_the_full_size_needs_data_of_ones_own(qtbot):
    """The small variant is the default where only it trains on the built-in data (ResNet's
    full size wants 3×224×224 images, 1,000 classes); the MLP trains on the digits at full
    size, so it starts full. The checkbox and its note say what each means."""
    dialog = TemplateDialog()
    qtbot.addWidget(dialog)
    assert dialog.template.name == "resnet" and dialog.small.isChecked()
    design = dialog.design()
    assert design.data["name"] == "digits"
    assert (design.template["args"]["size"], design.template["args"]["classes"]) == (8, 10)
    assert "digits" in dialog.small.text() and "size 8" in dialog.small.toolTip()
    assert "built-in 8×8 digits" in dialog.small_note.text()
    dialog.small.setChecked(False)
    assert "needs your own data" in dialog.small_note.text()
    _pick(dialog, "mlp")
    assert not dialog.small.isChecked() and "trains on the built-in digits too" in \
        dialog.small_note.text()
    _pick(dialog, "vgg")
    assert dialog.small.isChecked() and dialog.design().data["name"] == "digits"
    dialog.done(0)


def test_template_arguments_of_a_small_design_show_it_small(qtbot):
    dialog = TemplateDialog(current=build("resnet", small=True))
    qtbot.addWidget(dialog)
    assert dialog.small.isChecked() and dialog.args()["size"] == 8
    dialog.done(0)
    full = TemplateDialog(current=build("resnet"))
    qtbot.addWidget(full)
    assert not full.small.isChecked() and full.args()["size"] == 224
    full.done(0)


def test_block_node_faces_show_whole_names_and_whole_arguments(qtbot):
    """A block node's name is set smaller rather than cut ("downsam…" zoomed out), a name too
    long even then keeps its start and end, and its arguments show as whole key=value items
    (never "planes=6…", which reads as another value) with "…" for those left out."""
    from ui.canvas.items import NodeItem
    from ui.canvas.view import CanvasView
    from ui.document import Document

    view = CanvasView(Document(build("resnet")))
    qtbot.addWidget(view)
    items = [i for i in view.canvas.nodes.values() if isinstance(i, NodeItem)]
    view.enter_block(next(i.node_id for i in items if i.name == "layer2"))
    inner = {i.name: i for i in view.canvas.nodes.values() if isinstance(i, NodeItem)}
    for item in [*items, *inner.values()]:
        assert item._overview_text.replace(" ×2", "") == item.name, item._overview_text
        assert item._name_text == item.name
        summary = [s for s in item.summary.split(" · ") if s]
        shown = item._summary_text.removesuffix(" …")
        if shown and shown != "…":
            assert shown.split(" · ") == summary[:len(shown.split(" · "))], item._summary_text
    layer2 = next(i for i in items if i.name == "layer2")
    assert layer2._summary_text.startswith("planes=128")
    long = inner["downsample"]
    long.name = "downsample_projection_of_the_first_copy"
    long._elide_labels()
    assert long._name_text.startswith("downsamp") and long._name_text.endswith("copy")
    assert "…" in long._name_text


def test_the_cards_behind_a_block_draw_nothing_inside_its_box(qtbot):
    """The stacked cards of a block show beside and below it only: inside the node's box the
    block looks exactly as the node alone (their edges showed around its rounded corners as
    stray lines)."""
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QStyleOptionGraphicsItem

    from ui.canvas.style import NODE_HEIGHT, NODE_WIDTH
    from ui.canvas.view import CanvasView
    from ui.document import Document

    view = CanvasView(Document(build("resnet")))
    qtbot.addWidget(view)
    block = next(i for i in view.canvas.nodes.values() if getattr(i, "is_block", False))
    scale = 4

    def render() -> QImage:
        image = QImage(int(NODE_WIDTH + 12) * scale, int(NODE_HEIGHT + 12) * scale,
                       QImage.Format.Format_ARGB32)
        image.fill(0)
        painter = QPainter(image)
        painter.scale(scale, scale)
        painter.translate(2, 2)
        block.paint(painter, QStyleOptionGraphicsItem(), None)
        painter.end()
        return image

    with_cards = render()
    block._paint_stack = lambda _painter: None  # the same node without its cards
    alone = render()
    box = [(x, y) for x in range(2 * scale, int(NODE_WIDTH + 2) * scale)
           for y in range(2 * scale, int(NODE_HEIGHT + 2) * scale)]
    assert all(with_cards.pixel(x, y) == alone.pixel(x, y) for x, y in box)
    beside = (int((NODE_WIDTH + 2 + 3) * scale), int((NODE_HEIGHT / 2 + 2) * scale))
    assert with_cards.pixelColor(*beside).alpha() > 0 == alone.pixelColor(*beside).alpha()
