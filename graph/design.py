"""The design document: nodes, edges, dataset choice and training settings, with change events.

Every mutation goes through a :class:`Design` method, which emits an event so that views (the
canvas, the inspector) can follow. Undo commands in the UI call these methods and nothing else.
"""
from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from .catalog import CATALOG, LayerType
from .events import Signal
from .settings import default_data, default_training


@dataclass
class Node:
    id: str
    type: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)
    version: int = 1

    @property
    def layer(self) -> LayerType:
        return CATALOG[self.type]

    def resolved_params(self) -> dict[str, Any]:
        return self.layer.resolve(self.params)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "version": self.version,
            "name": self.name,
            "params": copy.deepcopy(self.params),
            "position": [float(self.position[0]), float(self.position[1])],
        }


@dataclass(frozen=True)
class Edge:
    """A link from ``src``'s output port to ``dst``'s input port."""

    src: str
    dst: str
    src_port: str = "out"
    dst_port: str = "in"

    def to_dict(self) -> dict[str, str]:
        return {"src": self.src, "src_port": self.src_port, "dst": self.dst, "dst_port": self.dst_port}


class DesignError(ValueError):
    """An edit that the model refuses (unknown node, duplicate id, …)."""


class Design:
    """A complete, trainable project: the network plus its data and training settings."""

    def __init__(self, name: str = "Untitled") -> None:
        self.name = name
        self.description = ""
        self._nodes: dict[str, Node] = {}
        self._edges: list[Edge] = []  # in link order: merge layers take their inputs in this order
        # Adjacency index kept in sync by the mutations below, so that per-node queries stay
        # cheap on large designs. Each list follows link order.
        self._edge_set: set[Edge] = set()
        self._in: dict[str, list[Edge]] = {}
        self._out: dict[str, list[Edge]] = {}
        self.data: dict[str, Any] = default_data()
        self.training: dict[str, Any] = default_training()
        self.node_added = Signal()  # (node)
        self.node_removed = Signal()  # (node)
        self.node_changed = Signal()  # (node, field name)
        self.edge_added = Signal()  # (edge)
        self.edge_removed = Signal()  # (edge)
        self.settings_changed = Signal()  # (section: "data" | "training" | "meta")
        self.changed = Signal()  # () after any change

    # ---- queries ---------------------------------------------------------------------------------

    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes.values())

    @property
    def edges(self) -> list[Edge]:
        return list(self._edges)

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise DesignError(f"no node with id {node_id!r}") from None

    def has_node(self, node_id: str) -> bool:
        return node_id in self._nodes

    def node_by_name(self, name: str) -> Node | None:
        return next((n for n in self._nodes.values() if n.name == name), None)

    def in_edges(self, node_id: str, port: str | None = None) -> list[Edge]:
        """Links into ``node_id`` (optionally into one port), in link order."""
        edges = self._in.get(node_id, ())
        return [e for e in edges if e.dst_port == port] if port is not None else list(edges)

    def out_edges(self, node_id: str, port: str | None = None) -> list[Edge]:
        """Links out of ``node_id`` (optionally out of one port), in link order."""
        edges = self._out.get(node_id, ())
        return [e for e in edges if e.src_port == port] if port is not None else list(edges)

    def edges_of(self, node_id: str) -> list[Edge]:
        """Every link touching ``node_id``, in link order."""
        touching = set(self._in.get(node_id, ())) | set(self._out.get(node_id, ()))
        return [e for e in self._edges if e in touching] if touching else []

    def has_edge(self, edge: Edge) -> bool:
        return edge in self._edge_set

    def edge_index(self, edge: Edge) -> int:
        return self._edges.index(edge)

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def __len__(self) -> int:
        return len(self._nodes)

    def new_id(self) -> str:
        for i in itertools.count(len(self._nodes) + 1):
            candidate = f"n{i}"
            if candidate not in self._nodes:
                return candidate
        raise AssertionError  # pragma: no cover

    def unique_name(self, base: str) -> str:
        """``base`` or ``base_2``, ``base_3`` … whichever no node uses yet."""
        base = re.sub(r"_\d+$", "", base) or "node"
        taken = {n.name for n in self._nodes.values()}
        if base not in taken:
            return base
        for i in itertools.count(2):
            if f"{base}_{i}" not in taken:
                return f"{base}_{i}"
        raise AssertionError  # pragma: no cover

    def make_node(self, type_id: str, name: str | None = None, params: dict[str, Any] | None = None,
                  position: tuple[float, float] = (0.0, 0.0)) -> Node:
        """A new node of ``type_id`` with default params (not yet added)."""
        layer = CATALOG[type_id]
        base = name or re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", layer.type_id).lower()
        return Node(id=self.new_id(), type=layer.type_id, name=self.unique_name(base),
                    params=dict(params or {}), position=position, version=layer.version)

    # ---- mutations (each emits events) -------------------------------------------------------------

    def add_node(self, node: Node, index: int | None = None) -> Node:
        """Add ``node`` at the end, or at position ``index`` of the node order (undo uses it)."""
        if node.id in self._nodes:
            raise DesignError(f"a node with id {node.id!r} already exists")
        if index is None or index >= len(self._nodes):
            self._nodes[node.id] = node
        else:
            items = list(self._nodes.items())
            items.insert(index, (node.id, node))
            self._nodes = dict(items)
        self._in[node.id] = []
        self._out[node.id] = []
        self.node_added.emit(node)
        self.changed.emit()
        return node

    def remove_node(self, node_id: str) -> Node:
        """Remove a node and every link touching it (``edge_removed`` for each link, then
        ``node_removed``; ``changed`` once)."""
        node = self.node(node_id)
        for edge in self.edges_of(node_id):
            self._remove_edge(edge)
        del self._nodes[node_id]
        del self._in[node_id]
        del self._out[node_id]
        self.node_removed.emit(node)
        self.changed.emit()
        return node

    def add_edge(self, edge: Edge, index: int | None = None) -> Edge:
        """Add a link at the end of the link order, or at ``index`` (undo restores it there)."""
        for end in (edge.src, edge.dst):
            self.node(end)
        if edge in self._edge_set:
            raise DesignError("these ports are already linked")
        self._edge_set.add(edge)
        if index is None or index >= len(self._edges):
            self._edges.append(edge)
            self._in[edge.dst].append(edge)
            self._out[edge.src].append(edge)
        else:
            self._edges.insert(index, edge)
            self._in[edge.dst] = [e for e in self._edges if e.dst == edge.dst]
            self._out[edge.src] = [e for e in self._edges if e.src == edge.src]
        self.edge_added.emit(edge)
        self.changed.emit()
        return edge

    def remove_edge(self, edge: Edge) -> int:
        """Remove ``edge``; returns its former index (merge inputs are ordered by it)."""
        index = self._remove_edge(edge)
        self.changed.emit()
        return index

    def _remove_edge(self, edge: Edge) -> int:
        if edge not in self._edge_set:
            raise DesignError("no such link")
        index = self._edges.index(edge)
        del self._edges[index]
        self._edge_set.discard(edge)
        self._in[edge.dst].remove(edge)
        self._out[edge.src].remove(edge)
        self.edge_removed.emit(edge)
        return index

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        node = self.node(node_id)
        if name in node.params and same_value(node.params[name], value):
            return
        node.params[name] = copy.deepcopy(value)
        self.node_changed.emit(node, "params")
        self.changed.emit()

    def set_params(self, node_id: str, params: dict[str, Any]) -> None:
        """Replace all params of a node at once."""
        node = self.node(node_id)
        if same_value(node.params, params):
            return
        node.params = copy.deepcopy(params)
        self.node_changed.emit(node, "params")
        self.changed.emit()

    def rename_node(self, node_id: str, name: str) -> None:
        node = self.node(node_id)
        if node.name == name:
            return
        node.name = name
        self.node_changed.emit(node, "name")
        self.changed.emit()

    def move_node(self, node_id: str, position: tuple[float, float]) -> None:
        node = self.node(node_id)
        position = (float(position[0]), float(position[1]))
        if node.position == position:
            return
        node.position = position
        self.node_changed.emit(node, "position")
        self.changed.emit()

    def set_data(self, data: dict[str, Any]) -> None:
        if same_value(data, self.data):
            return
        self.data = copy.deepcopy(data)
        self.settings_changed.emit("data")
        self.changed.emit()

    def set_info(self, name: str, description: str) -> None:
        """Rename the design or change its description (``settings_changed("meta")``)."""
        if (name, description) == (self.name, self.description):
            return
        self.name, self.description = name, description
        self.settings_changed.emit("meta")
        self.changed.emit()

    def set_training(self, training: dict[str, Any]) -> None:
        if same_value(training, self.training):
            return
        self.training = copy.deepcopy(training)
        self.settings_changed.emit("training")
        self.changed.emit()

    def clear(self) -> None:
        for node_id in list(self._nodes):
            self.remove_node(node_id)

    # ---- conversion -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The document as plain JSON-ready data (see :mod:`graph.fileformat`)."""
        from .fileformat import FORMAT, FORMAT_VERSION

        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "description": self.description,
            "nodes": [n.to_dict() for n in self._nodes.values()],
            "edges": [e.to_dict() for e in self._edges],
            "data": copy.deepcopy(self.data),
            "training": copy.deepcopy(self.training),
        }

    def copy(self) -> "Design":
        from .fileformat import design_from_dict

        return design_from_dict(self.to_dict())

    def node_ids_in_order(self) -> list[str]:
        return list(self._nodes)


def same_value(a: Any, b: Any) -> bool:
    """Equal and of the same types throughout: ``1`` is not ``1.0`` nor ``True`` here, so
    replacing an invalid value with an equal-looking valid one is a real change."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return a == b
