"""One undo behaviour for every form: an edit gesture is one undo step.

The inspector, the data panel and the training panel all push their edits through the
document's :class:`EditSession`. The changes of one gesture (typing a number, dragging a spin
box) merge into one undo step; the step is sealed when the editor reports it is finished (focus
out, Enter, a click), so the next gesture starts a new step — also when it edits the same field.
Anything else that moves the undo stack (an undo, another view's command) seals it too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QUndoCommand

from .commands import (RenameNodeCommand, SetDesignInfoCommand, SetParamCommand,
                       SetSettingsCommand)

if TYPE_CHECKING:
    from .document import Document


class _Sealable:
    """Mixin: once :attr:`sealed`, a command no longer absorbs later edits."""

    sealed = False

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt name)
        return not self.sealed and super().mergeWith(other)


class ParamEdit(_Sealable, SetParamCommand):
    """A layer param change made in a form."""


class SettingsEdit(_Sealable, SetSettingsCommand):
    """A dataset or training-setting change made in a form."""


class RenameEdit(_Sealable, RenameNodeCommand):
    """A layer rename made in a form."""


class DesignInfoEdit(_Sealable, SetDesignInfoCommand):
    """A change of the design's name or description made in a form."""


class EditSession:
    """Pushes a form's commands and seals the open one when a gesture ends, or when anything
    else moves the undo stack (an undo, another view's command)."""

    def __init__(self, document: "Document"):
        self.document = document
        self._open: _Sealable | None = None
        self._index = -1
        document.undo_stack.indexChanged.connect(self._index_changed)

    def push(self, command: QUndoCommand) -> None:
        stack = self.document.undo_stack
        before = stack.index()
        self._index = -1  # ignore the index change of our own push
        self.document.push(command)
        merged = stack.index() == before and self._open is not None
        if not merged:
            self._open = command
        self._index = stack.index()

    def push_whole(self, command: QUndoCommand) -> None:
        """Push ``command`` as a step of its own (a choice from a list, a rename, Browse…)."""
        self.seal()
        self.push(command)
        self.seal()

    def seal(self) -> None:
        if self._open is not None:
            self._open.sealed = True
            self._open = None

    def _index_changed(self, index: int) -> None:
        if self._index != -1 and index != self._index:
            self.seal()
