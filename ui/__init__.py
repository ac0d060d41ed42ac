"""The PySide6 app.

PySide6 6.12 on CPython < 3.12 drops one reference to ``None`` on every C++ method that returns
nothing and every slot call, and one to ``True`` on every Python ``Signal.emit`` — harmless on
3.12+, where these singletons are immortal, but on 3.11 the interpreter aborts with
"none_dealloc"/"bool_dealloc" after a few thousand calls. Until PySide fixes it, we make the
singletons effectively immortal here, as 3.12 does, before any Qt code runs.
"""
import sys

if sys.version_info < (3, 12) and sys.implementation.name == "cpython":
    import ctypes

    for _singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(_singleton)).value += 1 << 40
    del _singleton
