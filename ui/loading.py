"""The heavy libraries (PyTorch, scikit-learn) load in the background once the window is drawn.

The editor itself needs neither: ``graph/`` is pure Python, and the window, canvas, palette and
inspector import no torch. What does need them — the Code tab, the data preview, the device
list, evaluating a run — asks :func:`heavy_imports` and waits for :attr:`Loader.finished`,
showing what is still loading meanwhile.

The imports run on a plain Python thread that touches nothing of Qt. Python's cyclic garbage
collector is switched off while it runs: a collection started by the importing thread could
otherwise finalize Qt wrappers that belong to the GUI thread (that crashed the app before, see
:func:`ui.training.tasks.preload`). The GUI thread polls for the end, switches collection back
on and checks that every module really loaded.
"""
from __future__ import annotations

import contextlib
import gc
import importlib
import sys
import threading
import time
from typing import Callable, Iterator

from PySide6.QtCore import QObject, QTimer, Signal
from shiboken6 import isValid

# What loads, in this order, and the name the user knows it by.
HEAVY_MODULES: tuple[tuple[str, str], ...] = (
    ("torch", "PyTorch"),
    ("runtime.compiler", "PyTorch"),
    ("runtime.codegen", "PyTorch"),
    ("runtime.devices", "PyTorch"),
    ("sklearn.datasets", "scikit-learn"),
    ("PIL.Image", "Pillow"),
    ("runtime.analysis", "the data readers"),
    ("runtime.inspect", "the Try page"),
)
POLL_MS = 30

_collection = threading.Lock()
_holds = [0, False]  # holders of the pause, and whether collection was on before the first


def hold_collection() -> None:
    """Pause Python's cyclic collection until the matching :func:`release_collection`: work off
    the GUI thread (these imports, the thread pool's tasks) must not start a collection that
    could finalize the GUI thread's Qt wrappers. Holds nest; the last release restores it."""
    with _collection:
        if _holds[0] == 0:
            _holds[1] = gc.isenabled()
            gc.disable()
        _holds[0] += 1


def release_collection() -> None:
    with _collection:
        _holds[0] -= 1
        if _holds[0] == 0 and _holds[1]:
            gc.enable()


@contextlib.contextmanager
def collection_paused() -> Iterator[None]:
    hold_collection()
    try:
        yield
    finally:
        release_collection()

IDLE, PENDING, RUNNING, DONE = "idle", "pending", "running", "done"


class Loader(QObject):
    """Imports :data:`HEAVY_MODULES` on a background thread; the GUI thread hears of it through
    :attr:`progress` (what loads now) and :attr:`finished` (``""`` or what went wrong)."""

    progress = Signal(str)
    finished = Signal(str)

    def __init__(self, modules: tuple[tuple[str, str], ...] = HEAVY_MODULES):
        super().__init__()
        self.modules = modules
        self.state = IDLE
        self.error = ""
        self.current = ""  # the library loading now (written by the thread, read by the GUI)
        self.started_at = self.finished_at = 0.0
        self._thread: threading.Thread | None = None
        self._timer: QTimer | None = None
        self._shown = ""
        self._waiting: list[tuple[Callable[[], None], QObject | None]] = []

    @property
    def loading(self) -> bool:
        """Whether the modules are still to come (deferred or being imported)."""
        return self.state in (PENDING, RUNNING)

    def describe(self) -> str:
        """``"Loading PyTorch…"`` while loading, else ``""``."""
        if not self.loading or not self.modules:
            return ""
        return f"Loading {self.current or self.modules[0][1]}…"

    def defer(self) -> None:
        """Declare that the modules will load later (:meth:`start`): until then, the panels that
        need them wait instead of importing them on the GUI thread."""
        if self.state == IDLE:
            self.state = PENDING

    def cancel(self) -> None:
        """Give up a deferral that never started (the window it was for is gone)."""
        if self.state == PENDING:
            self.state = IDLE
            self._waiting.clear()

    def start(self) -> None:
        """Begin importing on a background thread (nothing to do once started or loaded)."""
        if self.state in (RUNNING, DONE):
            return
        self.state = RUNNING
        self.started_at = time.perf_counter()
        hold_collection()  # no collection may run on the importing thread (see the module doc)
        # Not a daemon: the interpreter waits for it at exit instead of freezing it mid-import.
        self._thread = threading.Thread(target=self._import_all, name="netwright-imports")
        self._thread.start()
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._timer.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the imports are done (for tests, benchmarks and the screenshot)."""
        if self._thread is not None:
            self._thread.join(timeout)
        self._poll()
        return self.state == DONE

    def when_loaded(self, callback: Callable[[], None], receiver: QObject | None = None) -> None:
        """Call ``callback()`` now when nothing is loading, else once loading has finished —
        unless ``receiver`` (the widget that asked) is gone by then."""
        if self.loading:
            self._waiting.append((callback, receiver))
        else:
            callback()

    def _import_all(self) -> None:  # the background thread: no Qt here
        try:
            for name, label in self.modules:
                self.current = label
                importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - reported on the GUI thread
            self.error = f"{self.current} could not be loaded: {type(exc).__name__}: {exc}"

    def _poll(self) -> None:
        if self.state != RUNNING:
            return
        if self._shown != self.current:
            self._shown = self.current
            self.progress.emit(self.describe())
        if self._thread is not None and self._thread.is_alive():
            return
        self._timer.stop()
        # What the app and its libraries have built so far lives as long as the app: the
        # collector need not scan it again on every full collection (shorter GUI pauses).
        gc.freeze()
        release_collection()
        missing = [name for name, _ in self.modules if name not in sys.modules]
        if missing and not self.error:
            self.error = f"could not load {', '.join(missing)}"
        self.state, self.finished_at = DONE, time.perf_counter()
        self.finished.emit(self.error)
        waiting, self._waiting = self._waiting, []
        for callback, receiver in waiting:
            if receiver is None or isValid(receiver):
                callback()


_loader: Loader | None = None


def heavy_imports() -> Loader:
    """The app's one loader."""
    global _loader
    if _loader is None:
        _loader = Loader()
    return _loader
