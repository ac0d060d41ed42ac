"""The PySide6 app: window, canvas, palette, inspector, training panels.

PySide6-Essentials 6.12.0 on CPython < 3.12 releases a reference to ``None`` on every Qt call
that returns nothing, so a session dies with "deallocating None" after a few thousand calls;
pyproject.toml therefore requires < 6.12 on those Pythons.
"""
