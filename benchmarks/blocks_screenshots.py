"""Render the README's pictures of blocks and templates from the main window: a ResNet-18 made
from its template (blocks as single nodes with ×N), the inside of a block with its breadcrumb,
the New from Template dialog, and Block Arguments… on a residual block grouped by hand.

    python benchmarks/blocks_screenshots.py [-o resources/screenshots] [--size 1400x860]

With a display (e.g. ``Xvfb :92 & DISPLAY=:92 python benchmarks/blocks_screenshots.py``) the
pictures are grabbed from real windows; without one Qt renders offscreen.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def settle(app, rounds: int = 10) -> None:
    for _ in range(rounds):
        app.processEvents()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "resources" / "screenshots")
    parser.add_argument("--size", default="1400x860")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    args.out.mkdir(parents=True, exist_ok=True)

    from graph.templates import build
    from ui.app import create_app
    from ui.main_window import MainWindow
    from ui.template_dialog import TemplateDialog

    app = create_app()
    window = MainWindow(autosave=False, remember_layout=False)
    window.resize(width, height)
    window.show()
    window.document.replace(build("resnet18"), None)
    window.document.revalidate()
    window.bottom_tabs.setCurrentWidget(window.summary)
    settle(app)
    design = window.document.design
    layer2 = design.node_by_name("layer2").id
    canvas = window.canvas
    canvas.set_zoom(0.85)  # the four stages, readable: each one node with its ×N
    stages = [canvas.canvas.nodes[design.node_by_name(f"layer{i}").id] for i in (1, 4)]
    canvas.centerOn((stages[0].center() + stages[1].center()) / 2)
    canvas.select_nodes([layer2])
    summary = window.summary.tree
    for r in range(summary.topLevelItemCount()):
        if summary.topLevelItem(r).text(0) == "layer2":
            summary.topLevelItem(r).setExpanded(True)
            summary.scrollToItem(summary.topLevelItem(r), summary.ScrollHint.PositionAtTop)
    settle(app)

    def grab(name: str, widget) -> None:
        settle(app)
        target = args.out / name
        widget.grab().save(str(target), "PNG")
        print(f"wrote {target}")

    grab("template_resnet.png", window)
    window.canvas.enter_block(layer2)
    body = window.canvas.design
    window.canvas.select_nodes([body.node_by_name("bn2").id])
    settle(app)
    grab("block_inside.png", window)
    window.canvas.leave_to(0)

    dialog = TemplateDialog(window)
    dialog.small.setChecked(False)  # ResNet-50 as torchvision's: 3×224×224 images
    dialog.set_args({"depth": 50})
    dialog.refresh()
    dialog.show()
    settle(app)
    dialog.preview.fit_all()
    grab("template_dialog.png", dialog)
    dialog.done(0)
    grab_block_args(window, grab)
    window.document.undo_stack.setClean()
    window.close()
    settle(app)


def residual_by_hand():
    """x → stem → [proj 1×1 ‖ conv → relu] → add → flatten → fc → y with the bracket grouped
    into ``Block`` and given ``channels`` and ``stride`` (read by proj and conv), ×3 with a first
    copy of 32 channels and stride 2: what a user builds with Ctrl+G and Block Arguments…"""
    from graph.block_args import add_argument, make_argument
    from graph.design import Design, Edge
    from graph.grouping import group_into_block

    design = Design("Residual by hand")
    ids = {}
    for type_id, name, params, pos in (
            ("Input", "x", {"shape": [1, 8, 8]}, (0, 0)),
            ("Conv2d", "stem", {"out_channels": 16}, (0, 110)),
            ("Conv2d", "proj", {"out_channels": 16, "kernel_size": 1, "padding": 0}, (-120, 220)),
            ("Conv2d", "conv", {"out_channels": 16}, (120, 220)),
            ("ReLU", "relu", {}, (120, 330)), ("Add", "add", {}, (0, 440)),
            ("Flatten", "flat", {}, (0, 550)), ("Linear", "fc", {"out_features": 10}, (0, 660)),
            ("Output", "y", {}, (0, 770))):
        ids[name] = design.add_node(design.make_node(type_id, name=name, params=params,
                                                     position=pos)).id
    for src, dst in (("x", "stem"), ("stem", "proj"), ("stem", "conv"), ("conv", "relu"),
                     ("proj", "add"), ("relu", "add"), ("add", "flat"), ("flat", "fc"),
                     ("fc", "y")):
        design.add_edge(Edge(ids[src], ids[dst]))
    edit = group_into_block(design, [ids[n] for n in ("proj", "conv", "relu", "add")])
    edit.apply(design)
    body = design.blocks["Block"].body
    conv, proj = body.node_by_name("conv").id, body.node_by_name("proj").id
    make_argument(body, conv, "out_channels", "channels").apply()
    make_argument(body, conv, "stride", "stride").apply()
    for name in ("out_channels", "stride"):
        body.set_param(proj, name, "channels" if name == "out_channels" else "stride")
    design.set_params(edit.result, {"repeat": 3, "first": {"channels": 32, "stride": 2}})
    add_argument(design, "Block", "expansion", 1).apply()  # one no layer reads yet
    return design, edit.result


def grab_block_args(window, grab) -> None:
    """Block Arguments… over the grouped residual block, its instance selected."""
    from ui.block_args_dialog import BlockArgsDialog

    design, instance = residual_by_hand()
    window.document.replace(design, None)
    window.document.revalidate()
    window.canvas.select_nodes([instance])
    dialog = BlockArgsDialog(window.document, "Block", window)
    dialog.show()
    dialog.table.selectRow(0)
    grab("block_args.png", dialog)
    dialog.done(0)


if __name__ == "__main__":
    main()
