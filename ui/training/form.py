"""A form generated from :class:`graph.catalog.Param` declarations.

The training and data panels show settings declared as data in :mod:`graph.settings`; this turns
each declaration into an editor (spin box with its range, combo, check box, line edit) with the
doc as tooltip, reports edits as ``edited(name, value)``, and shows values without echoing them
back as edits.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox,
                               QFormLayout, QLineEdit, QSpinBox, QWidget)

from graph.catalog import Param

INT_LIMIT = 2**31 - 1


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


class ParamForm(QWidget):
    """Editors for ``params``; ``edited`` fires once per user edit with the new value."""

    edited = Signal(str, object)

    def __init__(self, params: Iterable[Param], parent: QWidget | None = None,
                 labels: Mapping[str, str] | None = None):
        super().__init__(parent)
        self.params = {p.name: p for p in params}
        self.editors: dict[str, QWidget] = {}
        self.layout_ = QFormLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        for param in self.params.values():
            editor = self._make_editor(param)
            editor.setToolTip(param.doc)
            editor.setObjectName(param.name)
            self.editors[param.name] = editor
            self.layout_.addRow((labels or {}).get(param.name, _label(param.name)), editor)

    def _make_editor(self, p: Param) -> QWidget:
        if p.kind == "bool":
            box = QCheckBox()
            box.toggled.connect(lambda v, n=p.name: self.edited.emit(n, bool(v)))
            return box
        if p.kind == "choice":
            combo = QComboBox()
            for choice in p.choices:
                combo.addItem(str(choice), choice)
            combo.activated.connect(lambda i, n=p.name, c=combo: self.edited.emit(n, c.itemData(i)))
            return combo
        if p.kind == "int":
            spin = QSpinBox()
            spin.setRange(int(p.min if p.min is not None else -INT_LIMIT),
                          int(min(p.max if p.max is not None else INT_LIMIT, INT_LIMIT)))
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(lambda v, n=p.name: self.edited.emit(n, int(v)))
            return spin
        if p.kind == "float":
            spin = QDoubleSpinBox()
            low = p.min if p.min is not None else -1e9
            high = p.max if p.max is not None else 1e9
            spin.setRange(low, high)
            # Small settings such as the learning rate need significant digits, not 2 decimals.
            digits = max(2, -int(math.floor(math.log10(low))) + 1) if low and low > 0 else 4
            spin.setDecimals(min(digits, 10))
            spin.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(lambda v, n=p.name: self.edited.emit(n, float(v)))
            return spin
        line = QLineEdit()
        line.editingFinished.connect(lambda n=p.name, w=line: self._text_edited(n, w))
        return line

    def _text_edited(self, name: str, line: QLineEdit) -> None:
        if line.isModified():
            line.setModified(False)
            self.edited.emit(name, line.text())

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Show ``values`` (missing ones show the default) without emitting ``edited``."""
        for name, param in self.params.items():
            value = values.get(name, param.default)
            editor = self.editors[name]
            editor.blockSignals(True)
            try:
                if isinstance(editor, QCheckBox):
                    editor.setChecked(bool(value))
                elif isinstance(editor, QComboBox):
                    index = editor.findData(value)
                    editor.setCurrentIndex(max(index, 0))
                elif isinstance(editor, QSpinBox):
                    editor.setValue(int(value))
                elif isinstance(editor, QDoubleSpinBox):
                    editor.setValue(float(value))
                elif isinstance(editor, QLineEdit):
                    if editor.text() != str(value):
                        editor.setText(str(value))
            finally:
                editor.blockSignals(False)

    def set_row_visible(self, name: str, visible: bool) -> None:
        self.layout_.setRowVisible(self.editors[name], visible)
