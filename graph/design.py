"""The design document: nodes, edges, block definitions, dataset choice and training settings,
with change events.

Every mutation goes through a :class:`Design` method (or its :class:`~graph.blocks.BlockLibrary`),
which emits an event so that views (the canvas, the inspector) can follow. Undo commands in the UI
call these methods and nothing else. A block's body is a :class:`Design` too (see
:mod:`graph.blocks`): it shares the top-level design's library and has ``arguments``.
"""
from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from .blocks import BlockDef, BlockLibrary
from .catalog import CATALOG, LayerType
from .events import Signal
from .settings import default_data, default_training

FORMAT = "netwright"
FORMAT_VERSION = 2  # graph.fileformat migrates older documents up to this one

FLOWS = ("down", "right")
"""Which way data flows on the canvas: inputs at the top and outputs below ("down"), or inputs
on the left and outputs to the right ("right"). The first is the default."""


@dataclass
class Node:
    id: str
    type: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    position: tuple[float, float] = (0.0, 0.0)
    version: int = 1
    when: str | None = None  # inside a block: "present when" condition (graph.blocks)
    trainable: bool = True  # False freezes the layer's (or block's) weights while training
    lr_mult: float = 1.0  # the layer's learning rate is the design's times this
    # The library of the design holding the node (set by Design.add_node), so that ``layer``
    # also answers for block instances.
    library: BlockLibrary | None = field(default=None, repr=False, compare=False)

    @property
    def layer(self) -> LayerType:
        layer = CATALOG.get(self.type)
        if layer is None and self.library is not None:
            layer = self.library.layer_type(self.type)
        if layer is None:
            raise KeyError(self.type)
        return layer

    @property
    def is_block(self) -> bool:
        return self.library is not None and self.type in self.library

    def resolved_params(self) -> dict[str, Any]:
        return self.layer.resolve(self.params)

    def __deepcopy__(self, memo: dict) -> "Node":
        return self.clone()  # never the library: Design.add_node links the copy to its own

    def clone(self, **changes: Any) -> "Node":
        """A detached copy (params deep-copied), with ``changes`` applied."""
        fields = dict(id=self.id, type=self.type, name=self.name,
                      params=copy.deepcopy(self.params), position=self.position,
                      version=self.version, when=self.when, trainable=self.trainable,
                      lr_mult=self.lr_mult)
        fields.update(changes)
        return Node(**fields)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "type": self.type,
            "version": self.version,
            "name": self.name,
            "params": copy.deepcopy(self.params),
            "position": [float(self.position[0]), float(self.position[1])],
        }
        if self.when:
            out["when"] = self.when
        if not self.trainable:
            out["trainable"] = False
        if self.lr_mult != 1.0:
            out["lr_mult"] = self.lr_mult
        return out


@dataclass(frozen=True)
class Edge:
    """A link from ``src``'s output port to ``dst``'s input port."""

    src: str
    dst: str
    src_port: str = "out"
    dst_port: str = "in"

    def to_dict(self) -> dict[str, str]:
        return {"src": self.src, "src_port": self.src_port, "dst": self.dst, "dst_port": self.dst_port}


DEFAULT_NAME = "Untitled"  # a new design's name, until it is named (saving it names it)


class DesignError(ValueError):
    """An edit that the model refuses (unknown node, duplicate id, …)."""


class Allocator:
    """Fresh node ids (``n1``, ``n2`` …) and names (``conv``, ``conv_2`` …) for one design,
    remembering the ones it handed out, so a paste of many nodes gets distinct ones."""

    def __init__(self, design: "Design") -> None:
        self._ids = set(design.node_ids_in_order())
        self._names = {n.name for n in design.nodes}
        self._next = len(self._ids) + 1

    def new_id(self) -> str:
        while f"n{self._next}" in self._ids:
            self._next += 1
        self._ids.add(f"n{self._next}")
        return f"n{self._next}"

    def name(self, base: str) -> str:
        """``base`` or ``base_2``, ``base_3`` … whichever is still free."""
        base = re.sub(r"_\d+$", "", base) or "node"
        name = base
        for i in itertools.count(2):
            if name not in self._names:
                break
            name = f"{base}_{i}"
        self._names.add(name)
        return name


class Design:
    """A complete, trainable project: the network plus its data and training settings.

    ``library`` is given for a block body (it shares the top-level design's); a top-level
    design makes its own and relays its events (``block_added``/``block_removed``/
    ``block_changed`` with the block's name, then ``changed``).
    """

    def __init__(self, name: str = DEFAULT_NAME, library: BlockLibrary | None = None) -> None:
        self.name = name
        self.description = ""
        self.arguments: dict[str, int] = {}  # a block body's arguments with their defaults
        self.template: dict[str, Any] | None = None  # {"name", "args"} when made from one
        self._nodes: dict[str, Node] = {}
        self._edges: list[Edge] = []  # in link order: merge layers take their inputs in this order
        # Adjacency index kept in sync by the mutations below, so that per-node queries stay
        # cheap on large designs. Each list follows link order.
        self._edge_set: set[Edge] = set()
        self._in: dict[str, list[Edge]] = {}
        self._out: dict[str, list[Edge]] = {}
        self.data: dict[str, Any] = default_data()
        self.training: dict[str, Any] = default_training()
        self.flow: str = FLOWS[0]  # see FLOWS
        self.initial_weights: str = ""  # safetensors file (relative to the design) to start from
        self.node_added = Signal()  # (node)
        self.node_removed = Signal()  # (node)
        self.node_changed = Signal()  # (node, field name)
        self.edge_added = Signal()  # (edge)
        self.edge_removed = Signal()  # (edge)
        self.settings_changed = Signal()  # (section: "data" | "training" | "meta" | "flow")
        self.block_added = Signal()  # (block name)
        self.block_removed = Signal()  # (block name)
        self.block_changed = Signal()  # (block name): its args, description or body changed
        self.changed = Signal()  # () after any change to what the network is or does
        # () after a node moved or the flow changed: the layout, which nothing computes from
        self.layout_changed = Signal()
        self.blocks = library if library is not None else BlockLibrary()
        if library is None:
            self.blocks.owner = self
            for source, relay in ((self.blocks.added, self.block_added),
                                  (self.blocks.removed, self.block_removed),
                                  (self.blocks.changed, self.block_changed)):
                source.connect(relay.emit)
                source.connect(lambda _name: self.changed.emit())

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

    def layer_type(self, type_id: str) -> LayerType | None:
        """The declaration of ``type_id``: a catalog layer type or one of this design's blocks."""
        return CATALOG.get(type_id) or self.blocks.layer_type(type_id)

    def layer_of(self, node: Node) -> LayerType | None:
        return self.layer_type(node.type)

    def inputs(self) -> list[Node]:
        """The nodes that feed the network (source layer types: Input), in node order. A block
        instance is never a source or a sink (its ports come from its body's)."""
        return [n for n in self._nodes.values() if _is(CATALOG.get(n.type), "is_source")]

    def outputs(self) -> list[Node]:
        """The nodes the network returns (sink layer types: Output), in node order."""
        return [n for n in self._nodes.values() if _is(CATALOG.get(n.type), "is_sink")]

    def allocator(self) -> Allocator:
        """An id/name allocator for adding several nodes at once (paste, group)."""
        return Allocator(self)

    def new_id(self) -> str:
        return Allocator(self).new_id()

    def unique_name(self, base: str) -> str:
        """``base`` or ``base_2``, ``base_3`` … whichever no node uses yet."""
        return Allocator(self).name(base)

    def make_node(self, type_id: str, name: str | None = None, params: dict[str, Any] | None = None,
                  position: tuple[float, float] = (0.0, 0.0)) -> Node:
        """A new node of ``type_id`` with default params (not yet added)."""
        layer = self.layer_type(type_id)
        if layer is None:
            raise KeyError(type_id)
        base = name or re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", layer.type_id).lower()
        return Node(id=self.new_id(), type=layer.type_id, name=self.unique_name(base),
                    params=dict(params or {}), position=position, version=layer.version)

    def new_block(self, name: str, args: dict[str, int] | None = None,
                  description: str = "") -> BlockDef:
        """Define an empty block ``name`` (see :mod:`graph.blocks`) and return it."""
        body = Design(name, library=self.blocks)
        body.arguments = dict(args or {})
        return self.blocks.define(BlockDef(name, body, description))

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
        node.library = self.blocks
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

    def set_node_type(self, node_id: str, type_id: str) -> None:
        """Point a block instance at a renamed block (graph.blocks.BlockLibrary.rename)."""
        node = self.node(node_id)
        if node.type != type_id:
            node.type = type_id
            self.node_changed.emit(node, "type")
            self.changed.emit()

    def set_when(self, node_id: str, when: str | None) -> None:
        """Set an inner node's "present when" condition (None: always present)."""
        node = self.node(node_id)
        when = when or None
        if node.when != when:
            node.when = when
            self.node_changed.emit(node, "when")
            self.changed.emit()

    def set_template(self, template: dict[str, Any] | None) -> None:
        """Remember the template (``{"name", "args"}``) this design was made from."""
        if not same_value(template, self.template):
            self.template = copy.deepcopy(template)
            self.settings_changed.emit("meta")
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
        self.layout_changed.emit()

    def set_data(self, data: dict[str, Any]) -> None:
        self._set_settings("data", data)

    def set_info(self, name: str, description: str) -> None:
        """Rename the design or change its description (``settings_changed("meta")``)."""
        if (name, description) == (self.name, self.description):
            return
        self.name, self.description = name, description
        self.settings_changed.emit("meta")
        self.changed.emit()

    def set_training(self, training: dict[str, Any]) -> None:
        self._set_settings("training", training)

    def _set_settings(self, which: str, value: dict[str, Any]) -> None:
        """Replace the ``data`` or ``training`` settings; events only when they change."""
        if same_value(value, getattr(self, which)):
            return
        setattr(self, which, copy.deepcopy(value))
        self.settings_changed.emit(which)
        self.changed.emit()

    def set_flow(self, flow: str) -> None:
        """Lay the canvas out along ``flow`` (one of :data:`FLOWS`)."""
        if flow not in FLOWS:
            raise DesignError(f"flow must be one of {', '.join(FLOWS)}, not {flow!r}")
        if flow == self.flow:
            return
        self.flow = flow
        self.settings_changed.emit("flow")
        self.layout_changed.emit()

    def set_training_flags(self, node_id: str, trainable: bool | None = None,
                           lr_mult: float | None = None) -> None:
        """Freeze or unfreeze a layer (or block instance), or scale its learning rate."""
        node = self.node(node_id)
        new = (node.trainable if trainable is None else bool(trainable),
               node.lr_mult if lr_mult is None else float(lr_mult))
        if new == (node.trainable, node.lr_mult):
            return
        node.trainable, node.lr_mult = new
        self.node_changed.emit(node, "training")
        self.changed.emit()

    def set_initial_weights(self, path: str) -> None:
        """Name the safetensors file (relative to the design file) training starts from."""
        if path == self.initial_weights:
            return
        self.initial_weights = path
        self.settings_changed.emit("meta")
        self.changed.emit()

    def clear(self) -> None:
        for node_id in list(self._nodes):
            self.remove_node(node_id)

    # ---- conversion -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The document as plain JSON-ready data (see :mod:`graph.fileformat`)."""
        out: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "description": self.description,
        }
        if self.template is not None:
            out["template"] = copy.deepcopy(self.template)
        out.update(self.network_dict())
        if len(self.blocks):
            out["blocks"] = {b.name: block_dict(b) for b in self.blocks}
        out["data"] = copy.deepcopy(self.data)
        out["training"] = copy.deepcopy(self.training)
        if self.flow != FLOWS[0]:  # files written before the choice existed stay as they were
            out["flow"] = self.flow
        if self.initial_weights:
            out["initial_weights"] = self.initial_weights
        return out

    def network_dict(self) -> dict[str, Any]:
        """``{"nodes": …, "edges": …}`` of this design (or block body)."""
        return {"nodes": [n.to_dict() for n in self._nodes.values()],
                "edges": [e.to_dict() for e in self._edges]}

    def copy(self) -> "Design":
        """An independent copy (block definitions included), with no listeners."""
        twin = Design(self.name)
        twin.description = self.description
        twin.template = copy.deepcopy(self.template)
        for block in self.blocks:
            body = Design(block.name, library=twin.blocks)
            body.arguments = dict(block.args)
            block.body.copy_network_into(body)
            twin.blocks.define(BlockDef(block.name, body, block.description))
        self.copy_network_into(twin)
        twin.data = copy.deepcopy(self.data)
        twin.training = copy.deepcopy(self.training)
        twin.flow = self.flow
        twin.initial_weights = self.initial_weights
        return twin

    def copy_network_into(self, other: "Design") -> None:
        """Add copies of this design's nodes and links to ``other``."""
        for node in self._nodes.values():
            other.add_node(node.clone())
        for edge in self._edges:
            other.add_edge(edge)

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


def block_dict(block: BlockDef) -> dict[str, Any]:
    """A block definition as plain data (the file's ``blocks.NAME``)."""
    out: dict[str, Any] = {"args": dict(block.args)}
    if block.description:
        out["description"] = block.description
    out.update(block.body.network_dict())
    return out


def _is(layer: LayerType | None, attribute: str) -> bool:
    return layer is not None and getattr(layer, attribute)
