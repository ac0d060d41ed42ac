"""A form of :class:`graph.catalog.Param` declarations, built from the inspector's editors.

The training and data panels show settings declared as data in :mod:`graph.settings`; each row
is the editor :func:`ui.widgets.params.make_editor` picks for the param's kind (spin boxes with
its range, combos, check boxes, tuple fields), labelled with the param's :attr:`~Param.title`
and with its doc as tooltip. A row whose param does not apply to the current values (momentum
for Adam, the step size without a step schedule) is hidden. Edits come out as
``edited(name, value)``, the end of a gesture as ``finished()``; :meth:`set_values` shows values
without echoing them back.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from graph.catalog import Param

from ..widgets.params import ParamEditor, make_editor


class ParamForm(QWidget):
    """Editors for ``params``; ``edited`` fires with each valid new value the user makes,
    ``finished`` when an editor's gesture ends (so the caller can seal its undo step)."""

    edited = Signal(str, object)
    finished = Signal()

    def __init__(self, params: Iterable[Param], parent: QWidget | None = None):
        super().__init__(parent)
        self.params = {p.name: p for p in params}
        self.editors: dict[str, ParamEditor] = {}
        self.labels: dict[str, QLabel] = {}
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        # In a narrow dock a long label puts its editor on the next line instead of clipping it.
        self.layout_.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        for param in self.params.values():
            editor = make_editor(param)
            editor.setObjectName(param.name)
            editor.edited.connect(lambda value, n=param.name: self.edited.emit(n, value))
            editor.finished.connect(self.finished)
            label = QLabel(param.title)
            label.setToolTip(param.doc)
            label.setBuddy(editor)
            self.editors[param.name] = editor
            self.labels[param.name] = label
            self.layout_.addRow(label, editor)

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Show ``values`` (missing ones show the default) without emitting ``edited``; rows
        that do not apply to them are hidden."""
        for name, param in self.params.items():
            self.editors[name].set_value(values.get(name, param.default))
            if param.when:
                self.layout_.setRowVisible(self.editors[name], param.applies(values))

    def shown(self, name: str) -> bool:
        """Whether the row of ``name`` is shown (it applies to the current values)."""
        return self.layout_.isRowVisible(self.editors[name])

    def value(self, name: str) -> Any:
        return self.editors[name].value()
