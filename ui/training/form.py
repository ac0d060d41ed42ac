"""A form of :class:`graph.catalog.Param` declarations, built from the inspector's editors.

The training and data panels show settings declared as data in :mod:`graph.settings`; each row
is the editor :func:`ui.widgets.params.make_editor` picks for the param's kind (spin boxes with
its range, combos, check boxes, tuple fields), with the doc as tooltip. Edits come out as
``edited(name, value)``; :meth:`set_values` shows values without echoing them back.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QWidget

from graph.catalog import Param

from ..widgets.params import ParamEditor, make_editor


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


class ParamForm(QWidget):
    """Editors for ``params``; ``edited`` fires with each valid new value the user makes."""

    edited = Signal(str, object)

    def __init__(self, params: Iterable[Param], parent: QWidget | None = None,
                 labels: Mapping[str, str] | None = None):
        super().__init__(parent)
        self.params = {p.name: p for p in params}
        self.editors: dict[str, ParamEditor] = {}
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        for param in self.params.values():
            editor = make_editor(param)
            editor.setObjectName(param.name)
            editor.edited.connect(lambda value, n=param.name: self.edited.emit(n, value))
            self.editors[param.name] = editor
            self.layout_.addRow((labels or {}).get(param.name, _label(param.name)), editor)

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Show ``values`` (missing ones show the default) without emitting ``edited``."""
        for name, param in self.params.items():
            self.editors[name].set_value(values.get(name, param.default))

    def value(self, name: str) -> Any:
        return self.editors[name].value()
