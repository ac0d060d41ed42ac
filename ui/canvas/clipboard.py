"""Copied layers as text: a small Netwright design document (JSON), never pickle.

Pasting reads it back through :mod:`graph.fileformat`, so a pasted fragment passes the same
checks as a file (known layer types, plain params, links between present nodes), and a whole
design copied from a text editor pastes too.
"""
from __future__ import annotations

import json
from typing import Iterable

from PySide6.QtCore import QMimeData

from graph.design import Design, Edge, Node, block_dict
from graph.fileformat import FORMAT, FORMAT_VERSION, loads

from . import NODES_MIME


def fragment_text(design: Design, node_ids: Iterable[str]) -> str:
    """The nodes ``node_ids`` of ``design`` and the links among them, as design-file JSON."""
    ids = set(node_ids)
    nodes = [n.to_dict() for n in design.nodes if n.id in ids]
    edges = [e.to_dict() for e in design.edges if e.src in ids and e.dst in ids]
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "name": "clipboard",
           "nodes": nodes, "edges": edges}
    used = design.blocks.closure([n["type"] for n in nodes])
    if used:  # the definitions travel along, so the fragment reads back on its own
        doc["blocks"] = {name: block_dict(design.blocks[name]) for name in used}
    return json.dumps(doc, indent=1)


def read_fragment(text: str) -> tuple[list[Node], list[Edge]]:
    """Nodes and links from :func:`fragment_text` output; raises DesignFileError if malformed."""
    fragment = loads(text)
    return fragment.nodes, fragment.edges


def to_mime(text: str) -> QMimeData:
    mime = QMimeData()
    mime.setData(NODES_MIME, text.encode("utf-8"))
    mime.setText(text)
    return mime


def from_mime(mime: QMimeData | None) -> tuple[list[Node], list[Edge]] | None:
    """What ``mime`` holds as layers; None when it holds no text at all. Raises
    :class:`DesignFileError` (with the reason) when the text is not a Netwright design."""
    if mime is None:
        return None
    if mime.hasFormat(NODES_MIME):
        text = bytes(mime.data(NODES_MIME).data()).decode("utf-8", errors="replace")
    elif mime.hasText():
        text = mime.text()
    else:
        return None
    return read_fragment(text)
