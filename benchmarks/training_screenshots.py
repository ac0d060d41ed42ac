"""Render the README's training pictures: train examples from the main window (offscreen) and
save the curves, the results and the decision regions.

    python benchmarks/training_screenshots.py [-o resources/screenshots] [--size 1400x860]

Runs go to a temporary folder; nothing in resources/examples changes.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _wait(app, condition, timeout: float = 300.0) -> None:
    from PySide6.QtCore import QEventLoop

    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise SystemExit("timed out")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)


def shoot(app, example: str, epochs: int, size: tuple[int, int], pictures: dict[str, str],
          out: Path) -> None:
    """Train ``example`` from the window, then save ``{file name: page}`` pictures."""
    from ui.document import Document
    from ui.main_window import MainWindow

    folder = Path(tempfile.mkdtemp(prefix="netwright-shots-"))
    path = folder / example
    shutil.copy(ROOT / "resources" / "examples" / example, path)
    document = Document()
    document.open(path)
    document.design.set_training(dict(document.design.training, epochs=epochs))
    window = MainWindow(document, autosave=False, remember_layout=False)
    window.resize(*size)
    window.show()
    ws = window.training
    window.training_docks["training"].raise_()
    done: list[dict] = []
    ws.controller.run_finished.connect(done.append)
    ws.train_action.trigger()
    _wait(app, lambda: bool(done))
    if done[0]["status"] != "completed":
        raise SystemExit(f"{example}: the run ended {done[0]['status']}: {done[0]['message']}")
    _wait(app, lambda: ws.results.predictions is not None)
    from ui.training.workspace import fit_bottom_dock

    # As tall as the app allows: the canvas keeps half the window.
    fit_bottom_dock(window, window.bottom_dock, int(size[1] * 0.58))
    for _ in range(5):
        app.processEvents()
    ws.plots.redraw()
    for name, page in pictures.items():
        if page == "regions":
            ws.show_page("results")
            ws.results.right_tabs.setCurrentIndex(1)
        else:
            ws.show_page(page)
        for _ in range(5):
            app.processEvents()
        target = out / name
        window.grab().save(str(target), "PNG")
        print(f"wrote {target}")
    window.close()
    window.deleteLater()
    app.processEvents()
    shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "resources" / "screenshots")
    parser.add_argument("--size", default="1400x860")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    args.output.mkdir(parents=True, exist_ok=True)

    from ui.app import create_app

    app = create_app()
    shoot(app, "digits_cnn.json", 8, (width, height),
          {"training.png": "curves", "results.png": "results"}, args.output)
    shoot(app, "moons_mlp.json", 40, (width, height), {"regions.png": "regions"}, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
