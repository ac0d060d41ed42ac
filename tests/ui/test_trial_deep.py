"""What a new user's trial of building deep networks by mouse at 1280×800 found: grouping the end
of a network still being built, the block path over the block's first layer, a minimap left
behind by an edit, the status line inside a block."""
from __future__ import annotations

import pyqtgraph as pg
import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QLabel

from graph.design import Design, Edge, Node
from ui.commands import SetParamCommand

from .test_canvas_helpers import _iris, key, make_view  # noqa: F401 (fixture)

CTRL = Qt.KeyboardModifier.ControlModifier


def growing_chain() -> Design:
    """x → conv → relu, nothing after relu yet: a network in the middle of being built."""
    design = _iris(Design("growing"))
    previous = None
    for i, (type_id, name, params) in enumerate((("Input", "x", {"shape": [4]}),
                                                 ("Linear", "fc", {"out_features": 8}),
                                                 ("ReLU", "relu", {}))):
        node = design.add_node(design.make_node(type_id, name=name, params=params,
                                                position=(0.0, 110.0 * i)))
        if previous is not None:
            design.add_edge(Edge(previous, node.id))
        previous = node.id
    return design


def test_grouping_the_last_layers_keeps_their_output_as_the_blocks(make_view):
    """The trial selected conv → bn → add → relu at the end of the network (nothing after relu
    yet) and pressed Ctrl+G: the block had no Output, no output port, 0 parameters, and two
    errors said "no Output layer" twice."""
    view = make_view(growing_chain())
    design = view.document.design
    fc, relu = design.node_by_name("fc").id, design.node_by_name("relu").id
    view.select_nodes([fc, relu])
    key(view, Qt.Key.Key_G, CTRL)
    (instance,) = view.selected_node_ids()
    block = design.blocks[design.node(instance).type]
    outputs = block.body.outputs()
    assert len(outputs) == 1
    (into,) = block.body.in_edges(outputs[0].id)
    assert block.body.node(into.src).name == "relu"  # what relu computed leaves the block
    assert [p.name for p in design.layer_of(design.node(instance)).outputs] == [outputs[0].name]
    view.document.revalidate()
    report = view.document.report
    assert [d.message for d in report.errors] == ["the network has no Output layer"]
    assert report.inference.params[instance] == 4 * 8 + 8
    # the inspector's line under the block's name, where it said "Block Block: 5 nodes."
    assert design.layer_of(design.node(instance)).doc == ("2 layers; double-click the block to "
                                                         "see or edit them.")
    view.document.undo_stack.undo()
    assert [n.name for n in design.nodes] == ["x", "fc", "relu"] and not design.blocks


def _under_path(view, node_id: str) -> bool:
    """Whether the block path covers any of the node on screen."""
    item = view.canvas.nodes[node_id]
    on_screen = view.mapFromScene(item.sceneBoundingRect()).boundingRect()
    path = view.breadcrumb.geometry().translated(-view.viewport().pos())
    return on_screen.intersects(path)


def test_a_blocks_first_layer_is_not_under_the_block_path(make_view):
    """Opening ResNet-18's layer2 in the canvas the 1280×800 window has (590×330) put the
    block's Input under the path at the top left, and Fit (F) left it there."""
    from graph.templates import build

    view = make_view(build("resnet", {"depth": 18, "in_channels": 1, "size": 8, "classes": 10,
                                      "width": 8}), size=(590, 330))
    design = view.document.design
    assert view.enter_block(design.node_by_name("layer2").id)
    body = view.design
    (first,) = body.inputs()
    assert view.breadcrumb.isVisible()
    assert not _under_path(view, first.id)
    for _ in range(2):  # Fit, and Fit again (the whole body)
        key(view, Qt.Key.Key_F)
        assert not _under_path(view, first.id)
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    assert all(shown.contains(item.sceneBoundingRect()) for item in view.canvas.nodes.values())


def test_the_minimap_follows_layers_added_out_of_its_frame(make_view, qtbot):
    """Adding layers after the selected one (palette Enter) scrolled the view to the new layer
    before the minimap had its new extent: it showed the old network, the new layers missing,
    until some later edit."""
    from graph.design import Design

    design = _iris(Design("grow"))
    x = design.add_node(design.make_node("Input", name="x", params={"shape": [4]}))
    view = make_view(design, size=(400, 260))
    view.select_nodes([x.id])
    for type_id in ("Linear", "ReLU", "Linear", "ReLU", "Linear"):
        view.add_node_at_center(type_id)
        qtbot.wait(1)  # the revalidation that follows each edit
    minimap = view.minimap
    assert minimap.isVisible()
    inside = QRectF(minimap.rect())
    for item in view.canvas.nodes.values():
        assert inside.contains(minimap.to_map(item.center())), item.node_id


def _message_fits(window) -> bool:
    """Whether the status line's message fits left of the counts and the zoom."""
    bar = window.statusBar()
    room = window.status_label.geometry().left() - 8
    return bar.fontMetrics().horizontalAdvance(bar.currentMessage()) <= room


@pytest.mark.parametrize("template,block", [("resnet", "layer2"), ("mobilenet_v2", "features")])
def test_the_hint_inside_a_block_fits_the_status_line_at_1280x800(qtbot, template, block):
    """Inside ResNet-18's layer2 the status line read "Editing inside layer2 (BasicBlock):
    every instance changes; Esc or the path at the" — cut by the counts beside it."""
    from graph.templates import build
    from tests.conftest import example_window

    window = example_window(qtbot, (1152, 720))  # the window a 1280×800 screen opens
    window.document.replace(build(template, small=True))
    window.document.revalidate()
    canvas = window.canvas
    assert canvas.enter_block(canvas.design.node_by_name(block).id)
    if template == "mobilenet_v2":  # two levels down: the hint names the innermost
        assert canvas.enter_block(canvas.design.node_ids_in_order()[5])
    qtbot.wait(10)  # the status line laid out with the counts of this design
    message = window.statusBar().currentMessage()
    assert message.startswith(f"Inside {canvas.scope_path()[-1]}:") and "Esc" in message
    assert _message_fits(window), message


def test_a_one_epoch_run_shows_its_losses_and_metrics(qtbot):
    """Training an imported CNN for one epoch left Loss per epoch and Metrics per epoch empty:
    one point per curve, and a line needs two."""
    from ui.training.plots import LivePlots

    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.add_event({"event": "epoch", "epoch": 1, "step": 23, "train_loss": 2.15,
                     "val_loss": 2.12, "val_accuracy": 0.41, "lr": 1e-3})
    plots.redraw()
    for key in ("epoch/train_loss", "epoch/val_loss", "epoch/val_accuracy"):
        item = plots.curves[key].item
        assert plots.points(key) == 1 and item.opts["symbol"] == "o", key
        assert pg.mkBrush(item.opts["symbolBrush"]).color() == item.opts["pen"].color()
    for epoch in (2, 3):
        plots.add_event({"event": "epoch", "epoch": epoch, "step": 23 * epoch, "train_loss": 2.0,
                         "val_loss": 2.0, "val_accuracy": 0.5, "lr": 1e-3})
    plots.redraw()
    assert plots.curves["epoch/val_loss"].item.opts["symbol"] is None  # a line from then on


def _residual() -> tuple[Design, Node, Node, Node]:
    """x → conv (16 channels, padding 1) → add ← x → y: a residual block on 16×8×8; returns the
    design, its input, conv and add."""
    design = Design("residual")
    x = design.add_node(design.make_node("Input", name="x", params={"shape": [16, 8, 8]}))
    conv = design.add_node(design.make_node("Conv2d", name="conv", position=(200, 110),
                                            params={"out_channels": 16, "padding": 1}))
    add = design.add_node(design.make_node("Add", name="add", position=(0, 220)))
    out = design.add_node(design.make_node("Output", name="y", position=(0, 330)))
    for src, dst in ((x, conv), (x, add), (conv, add), (add, out)):
        design.add_edge(Edge(src.id, dst.id))
    return design, x, conv, add


def test_a_stride_in_a_residual_branch_is_explained_as_a_stride(make_view):
    """Stride 2 on the block's conv made its Add see 16×4×4 and 16×8×8, and the fix said "a
    Linear or 1×1 Conv2d to match widths": the widths matched; the sizes did not."""
    design, x, conv, add = _residual()
    view = make_view(design)
    view.document.push(SetParamCommand(design, conv.id, "stride", 2))
    view.document.revalidate()
    (error,) = [d for d in view.document.report.errors if d.node == add.id]
    assert "16×8×8, 16×4×4" in error.message
    assert "widths" not in error.fix
    assert "2× smaller" in error.fix and "stride 2" in error.fix


def test_an_imported_classs_output_has_a_plain_name():
    """A CNN class imported through File ▸ Import… showed its Output as "output_" on the canvas
    (the Python-safe spelling of a name no Output needs); templates call it "out"."""
    import torch
    from torch import nn

    from runtime.importers import child
    from runtime.importers.torch_import import import_program

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).eval()
    imported = import_program(child.export_module(model, [1, 8, 8], torch.float32), "Net")
    assert [n.name for n in imported.design.outputs()] == ["out"]


def test_the_template_previews_first_network_fills_the_preview(qtbot):
    """New from Template opened with ResNet-18 framed for a preview not yet laid out: small in
    its corner of the canvas, with a minimap though all of it was in view."""
    from ui.template_dialog import TemplateDialog

    dialog = TemplateDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    preview = dialog.preview
    for size in (None, (900, 560)):  # as it opens, and resized by the user
        if size is not None:
            dialog.resize(*size)
            qtbot.wait(20)
        shown = preview.visible_scene_rect()
        assert shown.contains(preview.canvas.nodes_bounding_rect())
        assert not preview.minimap.isVisible()
        zoom = preview.zoom()
        preview.fit_all(readable=False)  # what Fit gives at the preview's size
        assert abs(preview.zoom() - zoom) < 1e-6
    dialog.done(0)


def test_the_block_actions_are_enabled_only_where_they_do_something(make_view):
    """Edit ▸ Open Block, Leave Block and Ungroup Block were enabled with nothing selected at the
    top level, and choosing them did nothing."""
    from graph.templates import build

    view = make_view(build("resnet", small=True))
    enabled = lambda: {n for n in ("group", "ungroup", "enter_block", "leave_block")  # noqa: E731
                       if view.action(n).isEnabled()}
    assert enabled() == set()
    design = view.document.design
    view.select_nodes([design.node_by_name("conv1").id])
    assert enabled() == {"group"}
    view.select_nodes([design.node_by_name("layer2").id])
    assert enabled() == {"group", "ungroup", "enter_block"}
    view.action("enter_block").trigger()
    assert enabled() == {"leave_block"}
    view.action("leave_block").trigger()
    assert view.design is design and enabled() == set()


def test_numbered_layers_say_what_they_are_when_zoomed_out(make_view):
    """Inside ConvNeXt's features (or MobileNetV2's) the zoomed-out canvas showed nodes named
    "0", "1 ×2", "2" …: nothing said which is the stem, a block stage or a downsampling."""
    from graph.templates import build

    design = build("convnext_tiny", small=True)
    view = make_view(design, size=(590, 330))
    view.enter_block(design.node_by_name("features").id)
    texts = {view.design.node(nid).name: item._overview_text
             for nid, item in view.canvas.nodes.items()}
    assert texts["0"] == "0 · Stem" and texts["1"] == "1 · CNBlock ×2"
    assert texts["x"] == "x"  # a name that says something stays as it is


def test_the_block_path_shows_every_step_two_levels_down(make_view, qtbot):
    """Inside ConvNeXt's features › 1 (CNBlock) the path at the top left was an empty sliver:
    its steps were laid out before they were shown."""
    from PySide6.QtWidgets import QLabel, QToolButton

    from graph.templates import build

    design = build("convnext_tiny", small=True)
    view = make_view(design, size=(590, 330))
    view.enter_block(design.node_by_name("features").id)
    view.enter_block(view.design.node_by_name("1").id)
    qtbot.wait(10)
    path = view.breadcrumb
    steps = [w for w in path.findChildren(QLabel) + path.findChildren(QToolButton)
             if w.isVisible()]
    assert [w.text() for w in steps if isinstance(w, QToolButton)] == ["ConvNeXt-Tiny",
                                                                       "features (Features)"]
    assert path.width() >= path.sizeHint().width() > 200
    assert all(path.rect().contains(w.geometry()) for w in steps)


def test_first_offers_the_blocks_own_arguments(make_view):
    """A block grouped by hand has no arguments, yet its "first" field suggested "e.g. stride=2,
    project=1" — typing that gave an error."""
    from graph.templates import build
    from ui.widgets.params import make_editor

    view = make_view(growing_chain())
    design = view.document.design
    view.select_nodes([design.node_by_name("fc").id, design.node_by_name("relu").id])
    (instance,) = [view.group_selected()]
    first = next(p for p in design.layer_of(design.node(instance)).params if p.name == "first")
    editor = make_editor(first, {})
    assert not editor.line.isEnabled() and "no arguments" in editor.line.placeholderText()
    resnet = build("resnet", small=True)
    first = next(p for p in resnet.layer_of(resnet.node_by_name("layer2")).params
                 if p.name == "first")
    editor = make_editor(first, {"stride": 2})
    assert editor.line.isEnabled() and editor.line.text() == "stride=2"
    assert editor.line.placeholderText() == "planes=…, stride=…, …"  # fits the inspector
    assert editor.line.toolTip().endswith("Its arguments: planes, stride, project.")
    editor.deleteLater()


def test_ungrouping_a_repeated_block_lays_its_copies_out_in_the_flow(make_view, qtbot):
    """Ungroup on a "block ×3" put its twelve layers on top of the flatten, linear and output
    after it, and the inspector said "12 layers selected, 0 parameters together"."""
    from graph.design import Node
    from ui.canvas.style import NODE_HEIGHT, NODE_WIDTH
    from ui.inspector import Inspector
    from .test_canvas_helpers import chain_design

    view = make_view(chain_design())  # x → fc → relu → y, 110 apart
    design, stack = view.document.design, view.document.undo_stack
    inspector = Inspector(view.document)
    qtbot.addWidget(inspector)
    view.selection_changed.connect(inspector.show_nodes)
    view.select_nodes(["n2", "n3"])
    instance = view.group_selected()
    view.document.push(SetParamCommand(design, instance, "repeat", 3))
    view.document.revalidate()
    before = {n.id: n.position for n in design.nodes}
    view.select_nodes([instance])
    added = view.ungroup_selected()
    qtbot.wait(1)  # the revalidation after the edit
    assert len(added) == 6
    boxes = {n.id: QRectF(*n.position, NODE_WIDTH, NODE_HEIGHT) for n in design.nodes}
    for a in boxes:
        for b in boxes:
            assert a == b or not boxes[a].intersects(boxes[b]), (design.node(a).name,
                                                                 design.node(b).name)
    ys = [design.node(nid).position[1] for nid in ["n1", *added, "n4"]]
    assert ys == sorted(ys)  # x, the copies in order, then y: along the flow
    assert inspector.view.total.text().startswith("39 parameters together")  # 4·3+3, 3·3+3 ×2
    stack.undo()
    assert {n.id: n.position for n in design.nodes} == before
    assert isinstance(design.node(instance), Node)


def test_the_full_size_note_says_it_once(qtbot):
    """Unticking the small variant read "Full size. The full size needs your own data …"."""
    from ui.template_dialog import TemplateDialog

    dialog = TemplateDialog()
    qtbot.addWidget(dialog)
    dialog.small.setChecked(False)
    assert dialog.small_note.text() == ("Full size: needs your own data (choose it in the Data "
                                        "panel).")
    dialog.done(0)


def test_the_code_of_a_template_shows_before_its_data_is_chosen(qtbot):
    """A full-size ResNet from its template (its image folder still to choose) showed no code:
    "Fix 1 error to generate code" — the error was the dataset's, not the network's."""
    from graph.templates import build
    from ui.document import Document
    from ui.panels import CodePanel

    document = Document(build("resnet18"))
    # what the Data panel reports after trying to read the image folder not given yet
    document.set_data_facts(error="no folder given: set the dataset's path")
    assert [d.code for d in document.report.errors] == ["data-file"]
    panel = CodePanel(document)
    qtbot.addWidget(panel)
    panel.refresh()
    assert panel.ok, panel.text()
    assert "class " in panel.text() and "layer4" in panel.text()


def test_a_layer_the_shown_copy_leaves_out_is_drawn_as_such(make_view, qtbot):
    """Inside ResNet-18's layer1 (project=0) the downsample shortcut was drawn as any layer,
    8×2×2 and all, though layer1 has none: nothing said it is there only when project."""
    from graph.templates import build
    from ui.inspector import Inspector

    design = build("resnet", small=True)
    view = make_view(design)
    view.document.revalidate()
    view.enter_block(design.node_by_name("layer1").id)
    view.canvas.finish_restyle()
    body = view.design
    downsample = view.canvas.nodes[body.node_by_name("downsample").id]
    conv1 = view.canvas.nodes[body.node_by_name("conv1").id]
    assert downsample.look.skipped == "project" and downsample.opacity() < 1
    assert downsample._shape_text == "only when project"
    assert "only when project" in downsample.tooltip_text()
    assert not conv1.look.skipped and conv1.opacity() == 1
    inspector = Inspector(view.document)
    qtbot.addWidget(inspector)
    inspector.show_nodes([downsample.node_id], body, view.canvas.scoped_inference)
    texts = [w.text() for w in inspector.view.findChildren(QLabel)]
    assert any("Only in the copies where project holds" in t for t in texts)
    view.leave_to(0)
    view.enter_block(design.node_by_name("layer2").id)  # its first copy projects
    view.canvas.finish_restyle()
    assert not view.canvas.nodes[body.node_by_name("downsample").id].look.skipped


def test_template_arguments_say_when_they_would_replace_edits(qtbot):
    """ResNet-18 with a bias turned on inside its blocks, then Edit ▸ Template Arguments… →
    depth 34: the bias edit went without a word (the dialog showed the template's count)."""
    from graph.templates import build
    from ui.template_dialog import TemplateDialog

    design = build("resnet", small=True)
    dialog = TemplateDialog(current=design)
    qtbot.addWidget(dialog)
    assert dialog.edited_note.isHidden()  # as the template made it: nothing to lose
    dialog.done(0)
    body = design.blocks["BasicBlock"].body
    body.set_param(body.node_by_name("conv1").id, "bias", True)
    dialog = TemplateDialog(current=design)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.edited_note.isVisible()
    assert "without those changes" in dialog.edited_note.text()
    dialog.done(0)


def test_the_status_line_says_when_an_error_stops_the_count(qtbot):
    """A stride set wrong inside a ×3 block turned "19 layers in 8 nodes · 17,498 parameters"
    into "8 layers · 192 parameters": as if the block's layers had gone."""
    from graph.templates import build
    from tests.conftest import example_window

    window = example_window(qtbot, (1152, 720))
    design = build("resnet", small=True)
    window.document.replace(design)
    window.document.revalidate()
    assert window.status_label.text().startswith("✓ valid  ·  71 layers in 13 nodes  ·  176,578 ")
    body = design.blocks["BasicBlock"].body
    window.document.push(SetParamCommand(body, body.node_by_name("conv1").id, "kernel_size", 9))
    window.document.revalidate()
    text = window.status_label.text()
    assert text.startswith("✗ 1 error  ·  13 nodes  ·  ") and "+ parameters" in text, text
    assert "Counted up to the error" in window.status_label.toolTip()


def test_saving_an_untitled_design_names_it_after_its_file(qtbot, tmp_path, monkeypatch):
    """A network built from scratch and saved as myres.json was still called "Untitled" — in
    the inspector, on the path inside its blocks (reopened, a file without a name is named
    after the file)."""
    monkeypatch.setenv("NETWRIGHT_DATA_DIR", str(tmp_path / "data"))
    from ui.main_window import MainWindow

    window = MainWindow(autosave=False, remember_layout=False)
    qtbot.addWidget(window)
    window.new()
    assert window.document.design.name == "Untitled"
    assert window._save_to(tmp_path / "myres.json")
    assert window.document.design.name == "myres" and window.document.undo_stack.isClean()
    assert '"name": "myres"' in (tmp_path / "myres.json").read_text()
    assert window.canvas.scope_path() == ["myres"]
    from graph.templates import build

    window.document.replace(build("resnet", small=True))  # a design with a name keeps it
    assert window._save_to(tmp_path / "r.json") and window.document.design.name == "ResNet-18"


def test_a_blocks_error_in_the_diagnostics_leads_inside_it(qtbot):
    """Clicking "block.0 › add: inputs have shapes that do not match" selected the block on the
    canvas; the layer it names, inside, was a double-click and a search away."""
    from graph.grouping import group_into_block
    from tests.conftest import example_window

    design, x, conv, add = _residual()
    edit = group_into_block(design, [conv.id, add.id])
    edit.apply(design)
    body = design.blocks[design.node(edit.result).type].body
    body.set_param(body.node_by_name("conv").id, "stride", 2)
    window = example_window(qtbot, (1152, 720))
    window.document.replace(design)
    window.document.revalidate()
    (error,) = [d for d in window.document.report.errors if d.node == edit.result]
    window.diagnostics.node_activated.emit(error.node)  # the row's click
    assert window.canvas.design is body
    assert window.canvas.selected_node_ids() == [body.node_by_name("add").id]
    assert window.inspector.view.node_id == body.node_by_name("add").id
    window.focus_node(design.node_by_name("x").id)  # a top-level layer: back out to it
    assert window.canvas.design is design and window.canvas.selected_node_ids() == [x.id]


def test_the_designs_old_problems_go_at_once(qtbot):
    """Behind the recovery offer at start, the inspector showed the empty start-up design's
    "no Input layer" and "no Output layer" over "No problems …" of the design opened: the old
    rows wait to be deleted until the dialog's loop ends."""
    from graph.templates import build
    from ui.document import Document
    from ui.inspector import Inspector

    document = Document(Design("empty"))
    document.revalidate()
    inspector = Inspector(document)
    qtbot.addWidget(inspector)
    inspector.show()
    qtbot.waitExposed(inspector)
    shown = lambda: [w.text() for w in inspector.findChildren(QLabel)  # noqa: E731
                     if w.isVisible() and "no Input layer" in w.text()]
    assert shown()
    document.replace(build("resnet", small=True))
    document.revalidate()  # no event loop turn between: as under a modal dialog
    assert not shown()
