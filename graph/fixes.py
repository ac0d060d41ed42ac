"""Suggested fixes as edits: the one owner of what a diagnostic's fix *does*.

Validation (:mod:`graph.validate`) words every fix for people ("insert a Flatten between conv2
and fc1"); where those words name one concrete edit of the design, the diagnostic also carries
it here, as data, in :attr:`Diagnostic.actions` (one entry per alternative the words offer). The
editor turns each into one undo command (``ui/fixes.py``); nothing here changes a design.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from .design import Edge


@dataclass(frozen=True)
class SetParam:
    """Set ``param`` of node ``node`` to ``value`` (a tuple stands for a list)."""

    node: str
    param: str
    value: Any
    text: str

    @property
    def plain_value(self) -> Any:
        """The value as a design stores it (lists, not tuples)."""
        return list(self.value) if isinstance(self.value, tuple) else self.value


@dataclass(frozen=True)
class InsertLayer:
    """Splice a new layer of ``layer_type`` (default params) into the link ``edge``."""

    edge: Edge
    layer_type: str
    text: str


@dataclass(frozen=True)
class AppendLayer:
    """Add a new layer of ``layer_type`` (default params) fed by output ``port`` of ``node``
    (e.g. the Output a network lacks, after its last layer)."""

    node: str
    port: str
    layer_type: str
    text: str


@dataclass(frozen=True)
class RenameNode:
    node: str
    name: str
    text: str


@dataclass(frozen=True)
class SetDataOption:
    """Set one option of the design's built-in dataset."""

    option: str
    value: Any
    text: str


FixAction = Union[SetParam, InsertLayer, AppendLayer, RenameNode, SetDataOption]


def set_param(node_id: str, node_name: str, param: str, value: Any) -> SetParam:
    """``set out_features of fc2 to 3``."""
    shown = list(value) if isinstance(value, (list, tuple)) else value
    return SetParam(node_id, param, tuple(value) if isinstance(value, list) else value,
                    f"set {param} of {node_name} to {shown}")
