"""Run a plain function on Qt's thread pool and get its result back on the GUI thread (and
keep pyqtgraph's popups owned by the widget that shows the plot).

Loading a dataset, evaluating a model on a grid or exporting it can take seconds; the function
knows nothing of Qt, and its result (or its error, as a message) arrives through a queued signal.
"""
from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import QApplication, QMenu, QWidget, QWidgetAction
from shiboken6 import getCppPointer, isValid

from ..loading import collection_paused, heavy_imports

_live: set["_Signals"] = set()  # keeps each task's signal object alive until it has reported


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(str)


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], Any], signals: _Signals):
        super().__init__()
        self.fn, self.signals = fn, signals
        self.setAutoDelete(True)

    def run(self) -> None:
        signals, self.signals = self.signals, None  # the GUI thread holds the last reference
        with collection_paused():  # off the GUI thread: no collection (see ui.loading)
            try:
                result = self.fn()
            except Exception as exc:  # reported to the GUI as a message, never raised there
                message = str(exc) or type(exc).__name__
                if not isinstance(exc, (ValueError, OSError)):
                    message = f"{type(exc).__name__}: {message}\n{traceback.format_exc(limit=3)}"
                self._emit(signals.failed, message)
            else:
                self._emit(signals.done, result)
                del result
            del signals  # before the GUI thread lets go of it

    @staticmethod
    def _emit(signal, value: Any) -> None:
        try:
            signal.emit(value)
        except RuntimeError:  # the app is shutting down and took the receiver with it
            pass


def preload(*modules: str) -> None:
    """Import ``modules`` on the GUI thread now (nothing to do once they are loaded).

    A first import inside a worker thread runs PySide's import hook there while the GUI thread
    may be collecting Qt wrappers, and that crashed the app; so the modules a task needs are
    imported before the task starts."""
    for name in modules:
        if name not in sys.modules:
            importlib.import_module(name)


def run_task(fn: Callable[[], Any], on_done: Callable[[Any], None],
             on_failed: Callable[[str], None] | None = None,
             receiver: QObject | None = None, needs: tuple[str, ...] = ()) -> QObject:
    """Call ``fn()`` on the global thread pool; ``on_done(result)`` or ``on_failed(message)`` run
    on the GUI thread — unless ``receiver`` (the widget that asked) is gone by then. ``needs``
    names the modules ``fn`` imports (see :func:`preload`); while the app is still loading its
    heavy libraries in the background (:mod:`ui.loading`), the task waits for them."""
    signals = _Signals()

    def deliver(callback: Callable[[Any], None] | None, value: Any) -> None:
        # Deleting the signal object while it delivers would crash: let Qt delete it later.
        signals.deleteLater()
        QTimer.singleShot(0, lambda: _live.discard(signals))
        if callback is not None and (receiver is None or isValid(receiver)):
            callback(value)

    def start() -> None:
        _live.add(signals)
        try:
            preload(*needs)
        except ImportError as exc:  # a library that is missing or broken: say so, go on
            deliver(on_failed, f"cannot load {exc.name or 'a module'}: {exc}")
            return
        QThreadPool.globalInstance().start(_Task(fn, signals))

    signals.done.connect(lambda result: deliver(on_done, result))
    signals.failed.connect(lambda message: deliver(on_failed, message))
    if any(name not in sys.modules for name in needs) and heavy_imports().loading:
        heavy_imports().when_loaded(start, receiver)
    else:
        start()
    return signals


def adopt_popups(owner: QWidget, create: Callable[[], Any]) -> Any:
    """Run ``create()`` (which makes a pyqtgraph plot) and make ``owner`` own its popups.

    pyqtgraph builds each plot's context menus as parentless top-level menus, and the option
    panels inside them belong to actions parented to the plot item, which Python may keep alive
    after the view is gone. Adopted by ``owner``, all of them are deleted with it instead of
    lingering as top-level windows."""
    # No collection meanwhile: one could delete a widget of the list being walked.
    with collection_paused():
        before = {getCppPointer(w)[0] for w in QApplication.topLevelWidgets()}
        result = create()
        for widget in QApplication.topLevelWidgets():
            # Menus only: the other new top-levels are the actions' panels (deleted by the
            # action).
            if getCppPointer(widget)[0] not in before and isinstance(widget, QMenu) \
                    and widget.parent() is None:
                widget.setParent(owner, widget.windowFlags())
    item = result.getPlotItem() if hasattr(result, "getPlotItem") else result
    if isinstance(item, QObject):
        for action in item.findChildren(QWidgetAction):
            action.setParent(owner)
    return result
