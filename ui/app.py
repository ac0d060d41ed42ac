"""Starting the app: the QApplication with Netwright's style, the main window, crash recovery, and
the headless ``screenshot`` used by ``python main.py screenshot``."""
from __future__ import annotations

import atexit
import datetime
import os
import sys
import traceback
from pathlib import Path

from typing import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from ui.files import APPLICATION, ORGANIZATION, data_dir
from ui.loading import heavy_imports

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
STYLESHEET = RESOURCES / "style.qss"


def use_offscreen_without_display() -> None:
    """Render offscreen when there is no screen to draw on (CI, ssh)."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def stylesheet() -> str:
    """resources/style.qss with ``@ICONS@`` pointing at resources/icons."""
    try:
        text = STYLESHEET.read_text(encoding="utf-8")
    except OSError:
        return ""
    return text.replace("@ICONS@", (RESOURCES / "icons").as_posix())


def release_clipboard() -> None:
    """Empty the clipboard this process filled where Qt keeps it in-process (the offscreen and
    minimal platforms): there the copied layers would be destroyed during interpreter shutdown,
    after their Python wrapper, and the process would segfault at exit. A desktop clipboard,
    which the system owns, is left alone."""
    app = QApplication.instance()
    if app is not None and app.platformName() in ("offscreen", "minimal"):
        app.clipboard().clear()


def create_app(argv: list[str] | None = None) -> QApplication:
    """The running QApplication (created on first use) with Netwright's names and style."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
        atexit.register(release_clipboard)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName(APPLICATION)
    app.setStyle("Fusion")
    app.setStyleSheet(stylesheet())
    from ui.main_window import icon

    app.setWindowIcon(icon("app"))
    return app


def run_app(path: str | os.PathLike | None = None,
            reopen: str | os.PathLike | None = None) -> int:
    """Open the editor (on ``path`` when given, else see :func:`open_editor`'s ``reopen``) and
    run until the window closes."""
    app = create_app()
    open_editor(path, reopen=reopen)
    return app.exec()


def open_editor(path: str | os.PathLike | None = None,
                painted: Callable[[], None] | None = None,
                reopen: str | os.PathLike | None = None):
    """Show the editor window, open ``path`` in it, and load PyTorch and scikit-learn in the
    background once the canvas has drawn the design (``painted()`` is called then too).

    Autosaves left by a crashed session are offered over the design opened; a recovered one
    takes its place. A file that cannot be opened shows why, over an empty design. Without
    ``path``, ``reopen`` (the example) asks for the design the user had last, falling back to
    ``reopen`` itself (:meth:`MainWindow.reopen_last`).
    """
    from ui.main_window import MainWindow

    collect_garbage_on_gui_thread()
    loader = heavy_imports()
    loader.defer()  # what needs torch waits for it instead of importing it on the GUI thread
    window = MainWindow()
    install_error_handler(window)
    window.show()

    def start() -> None:
        if path is not None:
            window.open_path(Path(path), ask=False)
        elif reopen is not None:
            window.reopen_last(Path(reopen))
        window.canvas.show_design()
        when_painted(window.canvas.viewport(), lambda: (loader.start(), painted and painted()))
        # Asked over the design just opened: "Not now" leaves the user there, not in an empty one.
        if window.offer_recovery():
            window.canvas.show_design()

    QTimer.singleShot(0, start)
    return window


_collector = None


def collect_garbage_on_gui_thread() -> None:
    """Run Python's cyclic garbage collector only on the GUI thread, from a timer (pyqtgraph's
    ``GarbageCollector``): a collection that starts on a worker thread — a data preview, an
    export, the background imports — can finalize Qt wrappers there and crash the app."""
    global _collector
    if _collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _collector = GarbageCollector(interval=0.1)


class _PaintWatcher(QObject):
    def __init__(self, widget: QWidget, callback: Callable[[], object]):
        super().__init__(widget)
        self.callback = callback
        widget.installEventFilter(self)
        widget.update()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Paint:
            obj.removeEventFilter(self)
            QTimer.singleShot(0, self.callback)  # once this paint is on screen
            self.deleteLater()
        return False


def when_painted(widget: QWidget, callback: Callable[[], object]) -> None:
    """Call ``callback()`` once ``widget`` has next been painted."""
    _PaintWatcher(widget, callback)


def install_error_handler(window) -> None:
    """Make an unexpected error in the app survivable: unsaved work is autosaved at once, the
    traceback goes to ``errors.log`` in the app-data folder, and a message says what happened;
    the editor carries on. (Without this, Qt prints the error and the user sees nothing.)"""
    from PySide6.QtWidgets import QMessageBox

    busy = False

    def handle(exc_type, exc, tb) -> None:
        nonlocal busy
        if issubclass(exc_type, KeyboardInterrupt) or busy:
            sys.__excepthook__(exc_type, exc, tb)
            return
        busy = True
        try:
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            sys.stderr.write(text)
            log = data_dir() / "errors.log"
            try:
                log.parent.mkdir(parents=True, exist_ok=True)
                with log.open("a", encoding="utf-8") as fh:
                    fh.write(f"--- {datetime.datetime.now().isoformat(timespec='seconds')}\n{text}")
            except OSError:
                log = None
            saved = False
            if window.autosaver is not None and window.document.modified:
                try:
                    saved = window.autosaver.save_now() or window.autosaver.snapshot.exists()
                except Exception:  # noqa: BLE001 - the model itself may be what broke
                    saved = False
            lines = [f"Netwright hit an unexpected error: {exc_type.__name__}: {exc}",
                     "Your design is still open" + (" and was autosaved." if saved else ".")]
            if log is not None:
                lines.append(f"Details were written to {log}.")
            QMessageBox.warning(window, "Unexpected error", "\n\n".join(lines))
        finally:
            busy = False

    sys.excepthook = handle


def parse_size(text: str) -> tuple[int, int]:
    """``"1400x900"`` → ``(1400, 900)``; ValueError with a plain message otherwise."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"size must look like 1400x900, not {text!r}") from None
    if not (200 <= width <= 10000 and 200 <= height <= 10000):
        raise ValueError(f"size {width}x{height} is outside 200x200 … 10000x10000")
    return width, height


def screenshot(path: str | os.PathLike, output: str | os.PathLike,
               size: tuple[int, int] = (1400, 900)) -> Path:
    """Render the main window with the design at ``path`` loaded, framed as the editor opens it
    (the whole network while it stays readable, else its top) and nothing selected, and save it
    as a PNG. Raises DesignFileError for a broken design and OSError when the image cannot be
    written."""
    from graph.fileformat import load

    use_offscreen_without_display()
    design = load(path)  # a broken file fails here, before any window exists
    app = create_app()
    from ui.document import Document
    from ui.main_window import MainWindow

    document = Document(design)
    document.set_path(Path(path))
    heavy_imports().defer()  # the picture needs no torch: what does stays hidden
    window = MainWindow(document, autosave=False, remember_layout=False)
    window.resize(*size)
    window.show()
    for _ in range(3):  # let layouts, the first validation and the canvas settle
        app.processEvents()
    window.canvas.select_nodes([])
    window.canvas.show_design()
    window.canvas.canvas.finish_restyle()  # every node's look, not only those first in view
    app.processEvents()
    image = window.grab()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    ok = image.save(str(output), "PNG")
    window.close()
    window.deleteLater()
    app.processEvents()
    heavy_imports().cancel()
    if not ok:
        raise OSError(f"cannot write the image {output}")
    return output
