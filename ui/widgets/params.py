"""Editors generated from :class:`graph.catalog.Param` declarations.

:func:`make_editor` picks the editor for a param's kind. Every editor emits :attr:`edited` with a
valid new value while the user changes it (each spin-box step, each keystroke that parses) and
:attr:`finished` when the user is done with it (focus out, Enter, a click), so the inspector can
merge a drag or a typed number into one undo step. :meth:`set_value` never emits.
"""
from __future__ import annotations

import math
import re
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
    QToolTip,
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QWidget,
)

from graph.catalog import Param

INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # QSpinBox holds a C int


class _WheelGuard(QObject):
    """Spin boxes and combos ignore the mouse wheel unless focused, so scrolling the inspector
    never changes a value by accident."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Wheel and isinstance(obj, QWidget) and not obj.hasFocus():
            event.ignore()
            return True
        return False


_WHEEL_GUARD = _WheelGuard()
_INTEGER = re.compile(r"-?[0-9]+")  # what int() takes as written here (not "²", not "--5")


def _guard(widget: QWidget) -> QWidget:
    widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    widget.installEventFilter(_WHEEL_GUARD)
    return widget


def compact_combo(combo: QComboBox, chars: int = 8) -> QComboBox:
    """Let a combo box shrink below its longest item (narrow docks stay usable)."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(chars)
    return combo


class ElidingCombo(QComboBox):
    """A combo box narrower than its current text shows it elided ("…", by default at the
    start: names that share a beginning differ at their end), with the whole text leading its
    tooltip (a plain combo box cuts it off at the arrow)."""

    def __init__(self, parent: QWidget | None = None,
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideLeft):
        super().__init__(parent)
        self.elide_mode = mode

    def shown_text(self) -> str:
        """The current text as painted: elided to the field's width."""
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        field = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                            QStyle.SubControl.SC_ComboBoxEditField, self)
        return self.fontMetrics().elidedText(self.currentText(), self.elide_mode,
                                             max(field.width() - 4, 0))

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt name)
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        option.currentText = self.shown_text()
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and self.shown_text() != self.currentText():
            about = self.toolTip()
            QToolTip.showText(event.globalPos(), self.currentText() + (f"\n\n{about}" if about
                                                                       else ""), self)
            return True
        return super().event(event)


class _CompactSpin:
    """Spin boxes whose minimum width does not grow with a huge maximum (2³¹−1)."""

    MIN_WIDTH = 72

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.MIN_WIDTH), hint.height())

    def sizeHint(self) -> QSize:  # noqa: N802
        hint = super().sizeHint()
        return QSize(min(hint.width(), 120), hint.height())


def _int_range(param: Param) -> tuple[int, int]:
    low = INT_MIN if param.min is None else max(INT_MIN, math.ceil(param.min))
    high = INT_MAX if param.max is None else min(INT_MAX, math.floor(param.max))
    return low, high


def set_invalid(widget: QWidget, problem: str | None, tooltip: str) -> None:
    """Mark ``widget`` for the stylesheet (``[invalid="true"]``) and explain why in its tooltip."""
    widget.setProperty("invalid", problem is not None)
    widget.setToolTip(tooltip if problem is None else f"{problem}\n\n{tooltip}")
    widget.style().unpolish(widget)
    widget.style().polish(widget)


class ParamEditor(QWidget):
    """Base of the editors: ``value()``, ``set_value(v)`` (silent), ``edited(v)``, ``finished()``."""

    edited = Signal(object)
    finished = Signal()

    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(parent)
        self.param = param
        self.setToolTip(param.doc)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError


# ---- numbers -------------------------------------------------------------------------------------


class IntSpinBox(_CompactSpin, QSpinBox):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(parent)
        self.setRange(*_int_range(param))
        self.setKeyboardTracking(True)
        self.setAccelerated(True)
        self.setToolTip(param.doc)
        _guard(self)


class FloatSpinBox(_CompactSpin, QDoubleSpinBox):
    """A spin box for floats spanning many magnitudes (1e-8 … 1e6): shows up to six significant
    digits, accepts ``3e-4``, and steps by one unit of the value's leading digit."""

    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(-1e12 if param.min is None else param.min, 1e12 if param.max is None else param.max)
        self.setKeyboardTracking(True)
        self.setToolTip(param.doc)
        high = self.maximum()
        self._zero_step = 0.1 if high <= 1.0 else 1.0
        _guard(self)

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt name)
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802
        try:
            return float(text.strip().replace(",", "."))
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):  # noqa: D102
        stripped = text.strip().replace(",", ".")
        try:
            value = float(stripped)
        except ValueError:
            ok = re.fullmatch(r"[-+]?(\d*\.?\d*([eE][-+]?\d*)?)?", stripped) is not None
            return (QValidator.State.Intermediate if ok else QValidator.State.Invalid), text, pos
        if not math.isfinite(value):
            return QValidator.State.Invalid, text, pos
        if self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos

    def fixup(self, text: str) -> str:
        return self.textFromValue(self.value())

    def stepBy(self, steps: int) -> None:  # noqa: N802
        value = self.value()
        for _ in range(abs(steps)):
            if value == 0:
                step = self._zero_step
            else:
                step = 10 ** math.floor(math.log10(abs(value)))
                if steps < 0 and math.isclose(abs(value), step) and value > 0:
                    step /= 10  # 0.001 → 0.0009, not 0
            value = value + (step if steps > 0 else -step)
            value = float(f"{value:.10g}")
        self.setValue(min(max(value, self.minimum()), self.maximum()))
        self.selectAll()


class _SpinEditor(ParamEditor):
    def __init__(self, param: Param, spin: QAbstractSpinBox, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.spin = spin
        self.layout().addWidget(spin)
        spin.valueChanged.connect(lambda v: self.edited.emit(self.value()))
        spin.editingFinished.connect(self.finished)
        self.setFocusProxy(spin)

    def value(self) -> Any:
        return self.spin.value()

    def set_value(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value == self.value():
            return
        self.spin.blockSignals(True)
        self.spin.setValue(value)
        self.spin.blockSignals(False)


class IntEditor(_SpinEditor):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, IntSpinBox(param), parent)


class FloatEditor(_SpinEditor):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, FloatSpinBox(param), parent)

    def value(self) -> float:
        return float(self.spin.value())


# ---- simple kinds ---------------------------------------------------------------------------------


class BoolEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.check = QCheckBox()
        self.check.setToolTip(param.doc)
        self.layout().addWidget(self.check)
        self.layout().addStretch(1)
        self.check.toggled.connect(self._toggled)
        self.setFocusProxy(self.check)

    def _toggled(self, on: bool) -> None:
        self.edited.emit(on)
        self.finished.emit()

    def value(self) -> bool:
        return self.check.isChecked()

    def set_value(self, value: Any) -> None:
        self.check.blockSignals(True)
        self.check.setChecked(bool(value))
        self.check.blockSignals(False)


class ChoiceEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.combo = compact_combo(_guard(QComboBox()))
        for choice in param.choices:
            self.combo.addItem(param.choice_label(choice), choice)
        self.combo.setToolTip(param.doc)
        self.layout().addWidget(self.combo)
        self.combo.activated.connect(self._activated)
        self.setFocusProxy(self.combo)

    def _activated(self, index: int) -> None:
        self.edited.emit(self.combo.itemData(index))
        self.finished.emit()

    def value(self) -> Any:
        return self.combo.currentData()

    def set_value(self, value: Any) -> None:
        index = self.combo.findData(value)
        if index >= 0:
            self.combo.blockSignals(True)
            self.combo.setCurrentIndex(index)
            self.combo.blockSignals(False)


class StrEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.line = QLineEdit()
        self.line.setToolTip(param.doc)
        self.line.setClearButtonEnabled(True)
        self.layout().addWidget(self.line)
        self.line.textEdited.connect(lambda text: self.edited.emit(text))
        self.line.editingFinished.connect(self.finished)
        self.setFocusProxy(self.line)

    def value(self) -> str:
        return self.line.text()

    def set_value(self, value: Any) -> None:
        if str(value) != self.line.text():
            self.line.setText(str(value))


class PathEditor(StrEditor):
    """``path`` params: the field shows the end of a long path (the file's name); the tooltip
    has the whole path above what the param is for."""

    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.line.textChanged.connect(self._describe)

    def _describe(self, text: str) -> None:
        self.line.setToolTip(f"{text}\n{self.param.doc}" if text else self.param.doc)


# ---- tuples ---------------------------------------------------------------------------------------


class SizeEditor(ParamEditor):
    """``size`` params: one number for every axis, or (toggle "per axis") one per axis."""

    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.axes = param.length or 2
        self.single = IntSpinBox(param)
        self.per_axis = [IntSpinBox(param) for _ in range(self.axes)]
        self.toggle = QToolButton()
        self.toggle.setText("per axis")
        self.toggle.setCheckable(True)
        self.toggle.setToolTip("Give each spatial axis its own value")
        self.toggle.setObjectName("axisToggle")
        layout = self.layout()
        layout.addWidget(self.single, 1)
        for spin in self.per_axis:
            layout.addWidget(spin, 1)
            spin.setVisible(False)
        layout.addWidget(self.toggle)
        for spin in (self.single, *self.per_axis):
            spin.valueChanged.connect(lambda _v: self.edited.emit(self.value()))
            spin.editingFinished.connect(self.finished)
        self.toggle.toggled.connect(self._toggled)
        self.setFocusProxy(self.single)

    def _show_mode(self, per_axis: bool) -> None:
        self.single.setVisible(not per_axis)
        for spin in self.per_axis:
            spin.setVisible(per_axis)
        self.setFocusProxy(self.per_axis[0] if per_axis else self.single)

    def _toggled(self, per_axis: bool) -> None:
        if per_axis:
            for spin in self.per_axis:
                spin.blockSignals(True)
                spin.setValue(self.single.value())
                spin.blockSignals(False)
        else:
            self.single.blockSignals(True)
            self.single.setValue(self.per_axis[0].value())
            self.single.blockSignals(False)
        self._show_mode(per_axis)
        self.edited.emit(self.value())
        self.finished.emit()

    def value(self) -> int | list[int]:
        if self.toggle.isChecked():
            return [spin.value() for spin in self.per_axis]
        return self.single.value()

    def set_value(self, value: Any) -> None:
        if value == self.value():
            return
        widgets = (self.toggle, self.single, *self.per_axis)
        for w in widgets:
            w.blockSignals(True)
        if isinstance(value, (list, tuple)):
            self.toggle.setChecked(True)
            for spin, v in zip(self.per_axis, value):
                spin.setValue(int(v))
        elif isinstance(value, int):
            self.toggle.setChecked(False)
            self.single.setValue(value)
        self._show_mode(self.toggle.isChecked())
        for w in widgets:
            w.blockSignals(False)


def format_ints(values: Any) -> str:
    return ", ".join(str(v) for v in values) if isinstance(values, (list, tuple)) else str(values)


def parse_ints(text: str) -> list[int]:
    """``"1, 28 × 28"`` → ``[1, 28, 28]``; raises ValueError with a plain message."""
    parts = [p for p in re.split(r"[\s,;x×*]+", text.strip()) if p]
    if not parts:
        raise ValueError("enter at least one whole number")
    try:
        return [int(p.replace("−", "-")) for p in parts]
    except ValueError:
        bad = next(p for p in parts if not re.fullmatch(r"[-−]?\d+", p))
        raise ValueError(f"{bad!r} is not a whole number") from None


class IntsEditor(ParamEditor):
    """``ints`` params: one spin box per entry when the length is fixed, otherwise a line such as
    ``1, 28, 28`` that is checked as you type (a red frame explains what is wrong)."""

    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.spins: list[IntSpinBox] = []
        self.line: QLineEdit | None = None
        if param.length:
            for _ in range(param.length):
                spin = IntSpinBox(param)
                if param.allow_minus_one:
                    spin.setMinimum(-1)
                self.spins.append(spin)
                self.layout().addWidget(spin, 1)
                spin.valueChanged.connect(lambda _v: self.edited.emit(self.value()))
                spin.editingFinished.connect(self.finished)
            self.setFocusProxy(self.spins[0])
        else:
            self.line = QLineEdit()
            self.line.setPlaceholderText("e.g. 1, 28, 28")
            self.line.setToolTip(param.doc)
            self.layout().addWidget(self.line)
            self.line.textEdited.connect(self._text_edited)
            self.line.editingFinished.connect(self._editing_finished)
            self.setFocusProxy(self.line)

    def problem(self, text: str) -> tuple[list[int] | None, str | None]:
        try:
            values = parse_ints(text)
        except ValueError as exc:
            return None, str(exc)
        msg = self.param.check(values)
        return (None, msg) if msg else (values, None)

    def _text_edited(self, text: str) -> None:
        values, problem = self.problem(text)
        set_invalid(self.line, problem, self.param.doc)
        if values is not None:
            self.edited.emit(values)

    def _editing_finished(self) -> None:
        values, problem = self.problem(self.line.text())
        if problem is not None:
            return  # keep the text so it can be corrected; the red frame says why
        self.line.setText(format_ints(values))
        self.finished.emit()

    def value(self) -> list[int]:
        if self.line is None:
            return [spin.value() for spin in self.spins]
        values, _problem = self.problem(self.line.text())
        return values if values is not None else []

    def set_value(self, value: Any) -> None:
        if not isinstance(value, (list, tuple)) or list(value) == self.value():
            return
        if self.line is None:
            for spin, v in zip(self.spins, value):
                spin.blockSignals(True)
                spin.setValue(int(v))
                spin.blockSignals(False)
        else:
            self.line.setText(format_ints(value))
            set_invalid(self.line, None, self.param.doc)


class ArgsEditor(ParamEditor):
    """``args`` params (a block's ``first``): ``stride=2, project=1`` — argument names with whole
    numbers; an entry that does not read so is marked and not applied."""

    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.line = QLineEdit()
        names = param.choices  # the block's arguments: none, and there is nothing to set
        example = ", ".join(f"{n}=…" for n in names[:2]) + (", …" if len(names) > 2 else "")
        self.line.setPlaceholderText(example or "none: the block has no arguments")
        self.line.setEnabled(bool(names))
        self.line.setToolTip(param.doc + (f" Its arguments: {', '.join(names)}." if names else ""))
        self.layout().addWidget(self.line)
        self.line.textEdited.connect(self._edited)
        self.line.editingFinished.connect(self.finished)
        self.setFocusProxy(self.line)

    @staticmethod
    def parse(text: str) -> dict[str, int] | None:
        out: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = (x.strip() for x in part.partition("="))
            if not sep or not name.isidentifier() or not _INTEGER.fullmatch(value):
                return None
            out[name] = int(value)
        return out

    def _edited(self, text: str) -> None:
        value = self.parse(text)
        set_invalid(self.line, None if value is not None else "write name=number, separated by "
                    "commas", self.param.doc)
        if value is not None:
            self.edited.emit(value)

    def value(self) -> dict[str, int]:
        return self.parse(self.line.text()) or {}

    def set_value(self, value: Any) -> None:
        text = ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else str(value)
        if text != self.line.text():
            self.line.setText(text)
        self.line.setEnabled(bool(self.param.choices or text))  # what is there can be cleared


class ExpressionEditor(ParamEditor):
    """A param inside a block body that reads the block's arguments: a number or integer
    arithmetic on the arguments (``planes * 4``). ``arguments`` are the names allowed; an entry
    that does not parse, or names another, is marked and not applied."""

    def __init__(self, param: Param, parent: QWidget | None = None,
                 arguments: tuple[str, ...] = ()):
        super().__init__(param, parent)
        self.arguments = arguments
        self.line = QLineEdit()
        self.line.setPlaceholderText("a number or e.g. " + (f"{arguments[0]} * 2" if arguments
                                                            else "2 * 3"))
        self.tip = f"{param.doc}\nA number, or arithmetic on the block's arguments" + (
            f" ({', '.join(arguments)})" if arguments else "") + ": + - * // %."
        self.line.setToolTip(self.tip)
        self.layout().addWidget(self.line)
        self.line.textEdited.connect(self._edited)
        self.line.editingFinished.connect(self.finished)
        self.setFocusProxy(self.line)

    def parse(self, text: str) -> int | str | None:
        """An int for a number, the text for a valid expression, None otherwise."""
        from graph.expr import ExprError, parse

        text = text.strip()
        if _INTEGER.fullmatch(text):
            return int(text)
        try:
            names = parse(text).names
        except ExprError:
            return None
        return text if names <= set(self.arguments) else None

    def problem(self, text: str) -> str | None:
        """What is wrong with ``text`` (None when it is a number or a valid expression)."""
        from graph.expr import ExprError, parse

        if self.parse(text) is not None:
            return None
        try:
            unknown = sorted(parse(text.strip()).names.difference(self.arguments))
        except ExprError as exc:
            return str(exc)
        return (f"{unknown[0]!r} is not an argument of this block: add it with Block "
                "Arguments… (or right-click the parameter: Make block argument…)")

    def _edited(self, text: str) -> None:
        value = self.parse(text)
        set_invalid(self.line, self.problem(text), self.tip)
        if value is not None:
            self.edited.emit(value)

    def value(self) -> int | str:
        value = self.parse(self.line.text())
        return value if value is not None else self.line.text()

    def set_value(self, value: Any) -> None:
        if str(value) != self.line.text():
            self.line.setText(str(value))


EDITORS: dict[str, type[ParamEditor]] = {
    "args": ArgsEditor,
    "int": IntEditor,
    "float": FloatEditor,
    "bool": BoolEditor,
    "choice": ChoiceEditor,
    "str": StrEditor,
    "path": PathEditor,
    "size": SizeEditor,
    "ints": IntsEditor,
}


def make_editor(param: Param, value: Any = None, parent: QWidget | None = None) -> ParamEditor:
    """The editor for ``param``, showing ``value`` (its default when None)."""
    editor = EDITORS[param.kind](param, parent)
    editor.set_value(param.default if value is None else value)
    return editor
