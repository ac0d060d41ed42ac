"""Render the README's pictures of the Try page: train the digits CNN from the main window,
try a test sample with the run's weights, preview a convolution's feature maps, and hover a
link to see the tensor it carries.

    DISPLAY=:1 python benchmarks/try_screenshots.py [-o resources/screenshots] [--size 1400x860]

Use a real (e.g. Xvfb) display: the link's tooltip is a window of its own, captured from the
screen. Runs go to a temporary folder; nothing in resources/examples changes.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _wait(app, condition, timeout: float = 300.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.01)


def _settle(app, seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _train(app, window, epochs: int) -> str:
    ws = window.training
    window.document.design.set_training(dict(window.document.design.training, epochs=epochs))
    done: list[dict] = []
    ws.controller.run_finished.connect(done.append)
    ws.train_action.trigger()
    _wait(app, lambda: bool(done))
    if done[0]["status"] != "completed":
        raise SystemExit(f"the run ended {done[0]['status']}: {done[0]['message']}")
    return done[0]["run_dir"]


def _hover_link(app, window, src_name: str, out: Path) -> None:
    """Point at the link leaving ``src_name`` and capture the screen around its tooltip."""
    from PySide6.QtCore import QEvent, QRect
    from PySide6.QtGui import QCursor, QHelpEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    view = window.canvas
    src = window.document.design.node_by_name(src_name).id
    item = next(i for e, i in view.scene().links.items() if e.src == src)
    point = view.mapFromScene(item.mapToScene(item.path().pointAtPercent(0.5)))
    where = view.viewport().mapToGlobal(point)
    QCursor.setPos(where)
    QApplication.sendEvent(view.viewport(), QHelpEvent(QEvent.Type.ToolTip, point, where))
    _settle(app, 0.6)
    if not QToolTip.isVisible():
        raise SystemExit("no tooltip on the link")
    frame = window.frameGeometry()
    shot = window.screen().grabWindow(0).copy(
        QRect(where.x() - 260, where.y() - 150, 560, 330).intersected(frame))
    shot.save(str(out), "PNG")
    print(f"wrote {out}")
    QToolTip.hideText()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "resources" / "screenshots")
    parser.add_argument("--size", default="1400x860")
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    args.output.mkdir(parents=True, exist_ok=True)

    from ui.app import create_app
    from ui.document import Document
    from ui.main_window import MainWindow
    from ui.training.workspace import fit_bottom_dock

    app = create_app()
    folder = Path(tempfile.mkdtemp(prefix="netwright-try-"))
    path = folder / "digits_cnn.json"
    shutil.copy(ROOT / "resources" / "examples" / "digits_cnn.json", path)
    document = Document()
    document.open(path)
    window = MainWindow(document, autosave=False, remember_layout=False)
    window.resize(width, height)
    window.show()
    _settle(app, 1.0)
    run_dir = _train(app, window, args.epochs)

    page = window.training.try_page
    window.training.show_page("try")
    fit_bottom_dock(window, window.bottom_dock, int(height * 0.5))
    looked: list[bool] = []
    page.looked.connect(lambda: looked.append(True))
    page.use_run(run_dir)
    _wait(app, lambda: bool(looked))
    looked.clear()
    page.index.setValue(7)
    _wait(app, lambda: bool(looked))
    window.focus_node(document.design.node_by_name("conv1").id)
    _settle(app, 0.8)
    target = args.output / "try.png"
    window.grab().save(str(target), "PNG")
    print(f"wrote {target}")
    _hover_link(app, window, "conv1", args.output / "link_tensor.png")

    document.undo_stack.setClean()
    window.close()
    window.deleteLater()
    app.processEvents()
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
