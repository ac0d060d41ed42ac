"""Applying a diagnostic's suggested fix with one click: each :mod:`graph.fixes` action becomes
one undo step ("Fix: insert a Flatten between conv2 and fc1") built from the ordinary commands.

The diagnostics list, the inspector and the canvas's error badge all apply fixes through
:func:`apply_fix`; where a fix offers alternatives, :func:`fix_menu` lists them.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

from PySide6.QtWidgets import QMenu, QWidget

from graph.design import Design, Edge
from graph.fixes import AppendLayer, FixAction, InsertLayer, RenameNode, SetDataOption, SetParam
from graph.validate import Diagnostic

from .commands import (AddEdgeCommand, AddNodeCommand, MacroCommand, RenameNodeCommand,
                       SetParamCommand, SetSettingsCommand, insert_on_link_command)
from .canvas.placement import free_spot, rank_after
from .document import Document

LINK_COLOR = "#6cb4ff"


def applicable(design: Design, actions: Iterable[FixAction]) -> list[FixAction]:
    """The ``actions`` that still fit ``design`` (their nodes and links are there)."""
    out = []
    for action in actions:
        if isinstance(action, (SetParam, RenameNode, AppendLayer)) \
                and not design.has_node(action.node):
            continue
        if isinstance(action, InsertLayer) and not design.has_edge(action.edge):
            continue
        out.append(action)
    return out


def fix_command(design: Design, action: FixAction) -> MacroCommand:
    """``action`` as one undo step (a macro, so it never merges with a form's edits)."""
    macro = MacroCommand(f"Fix: {action.text}")
    if isinstance(action, SetParam):
        SetParamCommand(design, action.node, action.param, action.plain_value, macro)
    elif isinstance(action, RenameNode):
        RenameNodeCommand(design, action.node, action.name, macro)
    elif isinstance(action, SetDataOption):
        data = dict(design.data)
        data["options"] = {**data.get("options", {}), action.option: action.value}
        SetSettingsCommand(design, "data", data, parent=macro)
    elif isinstance(action, InsertLayer):
        src = design.node(action.edge.src)
        node = design.make_node(action.layer_type, position=src.position)
        macro.steps.append(insert_on_link_command(design, node, action.edge))
    elif isinstance(action, AppendLayer):
        _append_commands(design, action, macro)
    else:  # pragma: no cover - every kind of graph.fixes is handled above
        raise TypeError(action)
    return macro


def _append_commands(design: Design, action: AppendLayer, macro: MacroCommand) -> None:
    """Add the new layer one rank beyond ``action.node`` along the flow (or the free spot
    nearest there), linked from it."""
    node = design.make_node(action.layer_type, position=rank_after(design, action.node))
    edge = Edge(action.node, node.id, action.port, design.layer_of(node).inputs[0].name)
    node.position = free_spot(design, node.position, node, [edge])
    AddNodeCommand(design, node, macro)
    AddEdgeCommand(design, edge, None, macro)


def apply_fix(document: Document, action: FixAction, design: Design | None = None) -> bool:
    """Apply ``action`` to ``design`` (default the document's) as one undo step; False when it
    no longer fits the design (it changed since the diagnostic was made)."""
    design = design or document.design
    if not applicable(design, [action]):
        return False
    document.edits.seal()
    document.push(fix_command(design, action))
    return True


def fix_menu(parent: QWidget, actions: Sequence[FixAction],
             apply: Callable[[FixAction], object]) -> QMenu:
    """A menu of ``actions`` ("Fix: …"), each applying itself through ``apply``."""
    menu = QMenu(parent)
    for action in actions:
        item = menu.addAction(f"Fix: {action.text}")
        item.triggered.connect(lambda _checked=False, a=action: apply(a))
    return menu


def fix_html(d: Diagnostic, design: Design) -> str:
    """The diagnostic's fix for a rich-text label: each applicable alternative a link
    (``fix:N``, N its index in ``d.actions``), else the words."""
    actions = applicable(design, d.actions)
    if not actions:
        return _escape(d.fix or "")
    links = [f"<a href='fix:{d.actions.index(a)}' style='color:{LINK_COLOR}'>{_escape(a.text)}</a>"
             for a in actions]
    return " or ".join(links)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
