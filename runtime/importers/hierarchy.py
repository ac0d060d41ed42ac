"""Imported submodules become blocks: the module paths of a flat import give its hierarchy.

:func:`nest` takes a flat :class:`~.builder.Imported` whose layers know the module path that
made them (``layer1.0.conv1``; an operator called in a module's own ``forward``, such as
ResNet's residual ``add``, carries that module's path ``layer1.0``) and returns the same network
with every submodule a block instance named after it, nested as the modules nest:

* submodules with the same structure share one :class:`~graph.blocks.BlockDef`; whole numbers
  in which they differ (channels, strides) become its arguments, set per instance;
* a Sequential whose items are copies of one block becomes that block with Repeat ×N (first
  copy's differing arguments in ``first``), which compiles to the same ``layer1.0`` … names;
* a submodule whose layers cannot form a block (a path leaves it and comes back, as a
  ModuleList called in a loop) stays inlined in its parent, its layers named by their paths
  (``downs.0``, which the compiler registers there), and one holding a single layer is that layer, named after the submodule, when
  its tensors keep their names so (a wrapper's ``attn``), else a block (``heads.head``).

The weights are re-keyed to the nested design's state_dict, which follows the source's module
names (``layer1.0.conv1.weight``). The nested design must compute what the flat one does on a
random input (≤ 1e-5), else the flat import is kept. Imports with placeholders stay flat.
"""
from __future__ import annotations

import collections
import dataclasses
import keyword
import re
from typing import Any, Iterator, Mapping

import torch

from graph.blocks import RESERVED_ARGS, BlockError
from graph.catalog import CATALOG
from graph.design import Design, Node, same_value
from graph.grouping import group_into_block
from graph.layout import lay_out
from graph.shapes import infer

from ..compiler import build_layer, compile_design, example_inputs, module_path
from .builder import ConversionError, Imported
from .torch_attention import COMPOSITES

Location = tuple[tuple[str, int], ...]  # (node id, copy) from the top-level design inward
GENERIC_CONTAINERS = {"Sequential", "ModuleList", "ModuleDict"}  # named after the path instead
TOLERANCE = 1e-5


def nest(imported: Imported, classes: Mapping[str, str] | None = None) -> Imported:
    """``imported`` with its submodules as blocks (see the module docstring); ``classes`` maps
    module paths to class names (``BasicBlock``), which name the blocks when given."""
    if imported.unmapped or not any("." in p for p in imported.paths.values()):
        return imported
    design = imported.design.copy()
    try:
        locations = _Nesting(design, imported.paths, classes or {}).run()
        lay_out(design)
        weights = _rekey(imported, design, locations)
        difference = _max_difference(imported, design, weights)
    except (ValueError, KeyError, RuntimeError) as exc:  # design, block, shape, compile errors
        return _kept_flat(imported, f"its submodules cannot be blocks ({exc})")
    if not difference <= TOLERANCE:  # what the blocks cannot express comes in flat, as computed
        return _kept_flat(imported, f"with its submodules as blocks the outputs differ by "
                                    f"{difference:.3g}")
    return dataclasses.replace(imported, design=design, weights=weights)


def _kept_flat(imported: Imported, why: str) -> Imported:
    note = f"kept flat: {why}"[:300]
    return dataclasses.replace(imported, notes=imported.notes + [note])


def module_classes(stacks: Iterator[Mapping[str, Any]]) -> dict[str, str]:
    """Class names by module path from ``torch.export`` ``nn_module_stack`` metadata."""
    classes: dict[str, str] = {}
    for stack in stacks:
        for value in (stack or {}).values():
            if isinstance(value, tuple) and len(value) == 2 and value[0]:
                kind = value[1] if isinstance(value[1], str) else getattr(value[1], "__name__", "")
                classes[str(value[0])] = str(kind).rsplit(".", 1)[-1]
    return classes


# ---- grouping submodules --------------------------------------------------------------------


class _Nesting:
    """Groups the top-level layers of ``design`` by module path, deepest submodules first."""

    def __init__(self, design: Design, paths: Mapping[str, str], classes: Mapping[str, str]):
        self.design, self.classes = design, classes
        layers = [n for n in design.nodes if not (n.layer.is_source or n.layer.is_sink)]
        path_of = {n.id: paths.get(n.id) or n.name for n in layers}
        self.containers = {".".join(p.split(".")[:k]) for p in path_of.values()
                           for k in range(1, p.count(".") + 1)}
        self.owner: dict[str, str] = {}  # top-level node id → its submodule ("" = the model)
        self.local: dict[str, str] = {}  # top-level node id → its name inside that submodule
        for node in layers:
            path = path_of[node.id]
            if path in self.containers:  # an operator of the submodule's own forward
                self.owner[node.id], self.local[node.id] = path, node.type.lower()
            else:
                self.owner[node.id], _, self.local[node.id] = path.rpartition(".")
        self.locations: dict[str, Location] = {n.id: ((n.id, 0),) for n in layers}
        self.in_shapes = infer(design).input_shapes

    def run(self) -> dict[str, Location]:
        for container in sorted(self.containers, key=lambda c: (-c.count("."), c)):
            self._group(container)
        _merge_alike(self.design, self.locations)
        _repeat_chains(self.design, self.locations)
        _renumber(self.design)
        return self.locations

    def _group(self, container: str) -> None:
        design = self.design
        members = [nid for nid in design.node_ids_in_order() if self.owner.get(nid) == container]
        parent, _, last = container.rpartition(".")
        if not members:
            return
        if len(members) == 1 and self._stands_for(members[0], self.local[members[0]]):
            self._inline(members[0], parent, last)  # one layer (an attention wrapper): no block
            return
        try:
            edit = group_into_block(design, members, self._block_name(container))
        except BlockError:  # not a block: its layers join the parent at their paths (downs.0)
            for nid in members:
                self._inline(nid, parent, f"{last}.{self.local[nid]}")
            return
        edit.apply(design)
        instance = design.node(edit.result)
        body = design.blocks[instance.type].body
        taken = {n.name for n in body.nodes if n.id not in self.owner}
        for nid in members:
            body.rename_node(nid, _free(self.local.pop(nid), taken))
            del self.owner[nid]
        self.owner[instance.id], self.local[instance.id] = parent, last
        if not parent:
            taken = {n.name for n in design.nodes if n.id != instance.id}
            design.rename_node(instance.id, _free(last, taken))
        moved = set(members)
        for oid, location in self.locations.items():
            if location[0][0] in moved:
                self.locations[oid] = ((instance.id, 0),) + location

    def _stands_for(self, nid: str, local: str) -> bool:
        """Whether the one layer of a submodule stands for it: it has no tensors, or holds
        them under the name it has there (Netwright's attention wrapper ``sa`` →
        ``sa.attn.in_proj_weight``), or it is such a wrapper (its names cannot be the source's
        either way). Else it becomes a block, which keeps the names (``heads.head.weight``)."""
        node = self.design.node(nid)
        if node.is_block:
            return False
        params = node.layer.resolve(node.params)
        with torch.device("meta"):
            module = build_layer(node.layer, params, self.in_shapes[nid])
        return type(module).__name__ in COMPOSITES or all(
            key.startswith(f"{local}.") for key in module.state_dict())

    def _inline(self, nid: str, parent: str, name: str) -> None:
        """The single layer of a submodule stands for it in ``parent``, under its name."""
        self.owner[nid], self.local[nid] = parent, name
        if not parent:
            taken = {n.name for n in self.design.nodes if n.id != nid}
            self.design.rename_node(nid, _free(name, taken))

    def _block_name(self, container: str) -> str:
        kind = self.classes.get(container, "")
        if not kind or kind in GENERIC_CONTAINERS:
            words = [w for w in container.split(".") if not w.isdigit()] or ["block"]
            kind = "".join(w[:1].upper() + w[1:] for w in words[-1].split("_"))
            kind += "Item" if container.rsplit(".", 1)[-1].isdigit() else ""
            if kind in self.classes.values():  # a class of the model keeps its own name
                kind += "Layers"
        base = re.sub(r"\W", "_", kind, flags=re.ASCII).strip("_") or "Block"
        base = "B" + base if base[0].isdigit() else base
        if base in CATALOG or CATALOG.current_id(base):
            base += "Block"
        name, i = base, 2
        while name in self.design.blocks:
            name, i = f"{base}_{i}", i + 1
        return name


def _renumber(design: Design) -> None:
    """Block names left with gaps by merges (``BasicBlock_3``) take the lowest free suffix."""
    for block in list(design.blocks):
        base = re.sub(r"_\d+$", "", block.name)
        taken = {b.name for b in design.blocks if b.name != block.name}
        name = _free(base, taken)
        if len(name) < len(block.name) or name < block.name:
            design.blocks.rename(block.name, name)


def _free(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2`` … when taken; the result is taken from then on."""
    free, i = name, 2
    while free in taken:
        free, i = f"{name}_{i}", i + 1
    taken.add(free)
    return free


# ---- one definition for alike submodules ----------------------------------------------------


def _merge_alike(design: Design, locations: dict[str, Location]) -> None:
    """Merge block definitions that differ only in whole numbers, innermost first."""
    depth: dict[str, int] = {}

    def depth_of(name: str) -> int:
        if name not in depth:
            body = design.blocks[name].body
            depth[name] = 1 + max((depth_of(n.type) for n in body.nodes if n.is_block), default=0)
        return depth[name]

    for level in sorted({depth_of(b.name) for b in design.blocks}):
        buckets: dict[Any, list[str]] = collections.defaultdict(list)
        for block in design.blocks:
            if depth_of(block.name) == level:
                buckets[_skeleton(block.body)].append(block.name)
        for names in buckets.values():
            if len(names) > 1:
                _merge(design, names, locations)


def _skeleton(body: Design) -> tuple:
    """A body's structure with every whole number left out (Input shapes too)."""
    index = {nid: i for i, nid in enumerate(body.node_ids_in_order())}
    nodes = tuple((n.name, n.type, n.when, () if n.layer.is_source else tuple(
        (k, _hole(v, k)) for k, v in sorted(n.resolved_params().items()))) for n in body.nodes)
    links = tuple(tuple((index[e.src], e.src_port, e.dst_port) for e in body.in_edges(nid))
                  for nid in index)  # each node's inputs in order (merge layers care)
    return nodes, links


def _hole(value: Any, key: str) -> Any:
    if key in RESERVED_ARGS:
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return "#"
    if isinstance(value, list):
        return tuple(_hole(v, "") for v in value)
    return repr(value)


def _merge(design: Design, names: list[str], locations: dict[str, Location]) -> None:
    """Make ``names[0]`` hold every one of ``names`` (same skeleton), the numbers in which they
    differ as its arguments; retype their instances and drop the others."""
    bodies = [design.blocks[n].body for n in names]
    orders = [b.node_ids_in_order() for b in bodies]
    holes = _holes(bodies, orders)
    arg_of: dict[tuple, str] = {}
    taken: set[str] = set()
    for (i, key, _), vector in holes.items():
        if vector not in arg_of:
            arg_of[vector] = _arg_name(key, bodies[0].node(orders[0][i]).name, taken)
    design.blocks.set_args(names[0], {arg: vector[0] for vector, arg in arg_of.items()})
    for (i, key, item), vector in holes.items():
        nid = orders[0][i]
        value = arg_of[vector]
        if item is not None:
            value = list(bodies[0].node(nid).resolved_params()[key])
            value[item] = arg_of[vector]
        bodies[0].set_param(nid, key, value)
    _remap(design, locations, {names[j]: dict(zip(orders[j], orders[0]))
                               for j in range(1, len(names))})
    for network, node in list(_instances(design, set(names))):
        j = names.index(node.type)
        args = {arg: vector[j] for vector, arg in arg_of.items() if vector[j] != vector[0]}
        network.set_node_type(node.id, names[0])
        network.set_params(node.id, {**node.params, **args})
    for name in names[1:]:
        design.blocks.remove(name)


def _holes(bodies: list[Design], orders: list[list[str]]) -> dict[tuple, tuple]:
    """``(node index, param, list item or None)`` → the value in each body, where they differ."""
    holes: dict[tuple, tuple] = {}
    for i, nid in enumerate(orders[0]):
        if bodies[0].node(nid).layer.is_source:
            continue
        resolved = [b.node(o[i]).resolved_params() for b, o in zip(bodies, orders)]
        for key, first in resolved[0].items():
            values = [r[key] for r in resolved]
            if key in RESERVED_ARGS or all(same_value(v, first) for v in values):
                continue
            if isinstance(first, list):
                for item in range(len(first)):
                    column = tuple(v[item] for v in values)
                    if len(set(column)) > 1:
                        holes[(i, key, item)] = column
            else:
                holes[(i, key, None)] = tuple(values)
    return holes


def _arg_name(key: str, node_name: str, taken: set[str]) -> str:
    name = key
    if name in taken or name in RESERVED_ARGS or keyword.iskeyword(name):
        name = re.sub(r"\W", "_", f"{node_name}_{key}", flags=re.ASCII)
        name = "n" + name if name[0].isdigit() else name
    return _free(name, taken)


def _instances(design: Design, types: set[str]) -> Iterator[tuple[Design, Node]]:
    """Every instance of the blocks ``types``, with the network holding it."""
    for network in (design, *(b.body for b in design.blocks)):
        for node in network.nodes:
            if node.type in types:
                yield network, node


def _remap(design: Design, locations: dict[str, Location],
           inner: Mapping[str, Mapping[str, str]]) -> None:
    """Rewrite locations passing through an instance of a block in ``inner`` (block name → old
    body id → new body id). Call before retyping the instances."""
    for oid, location in locations.items():
        network, mapping, steps = design, None, []
        for nid, copy in location:
            node = network.node(nid)
            steps.append(((mapping or {}).get(nid, nid), copy))
            mapping = inner.get(node.type) if node.is_block else None
            network = design.blocks[node.type].body if node.is_block else network
        locations[oid] = tuple(steps)


# ---- Sequentials of copies become Repeat ×N -----------------------------------------------


def _repeat_chains(design: Design, locations: dict[str, Location]) -> None:
    for block in list(design.blocks):
        plan = _repeat_plan(design, block.name)
        if plan is None:
            continue
        item, chain, params, first = plan
        for oid, location in locations.items():
            for k, (nid, _copy) in enumerate(location[:-1]):
                if location[k + 1][0] in chain and _holds(design, location[:k + 1], block.name):
                    copy = chain.index(location[k + 1][0])
                    locations[oid] = location[:k] + ((nid, copy),) + location[k + 2:]
                    break
        for network, node in list(_instances(design, {block.name})):
            network.set_node_type(node.id, item)
            network.set_params(node.id, {**params, "repeat": len(chain),
                                         **({"first": first} if first else {})})
        design.blocks.remove(block.name)


def _holds(design: Design, location: Location, block: str) -> bool:
    """Whether the last step of ``location`` is an instance of ``block``."""
    network = design
    for nid, _ in location[:-1]:
        network = design.blocks[network.node(nid).type].body
    return network.node(location[-1][0]).type == block


def _repeat_plan(design: Design, name: str) -> tuple[str, list[str], dict, dict] | None:
    """For a block without arguments whose body is a chain ``0 → 1 → …`` of one-in, one-out
    instances of one block: that block, the chain, the copies' arguments and the first's."""
    block = design.blocks[name]
    body = block.body
    inputs, outputs = body.inputs(), body.outputs()
    if block.args or len(inputs) != 1 or len(outputs) != 1 or len(body.edges) != len(body) - 1:
        return None
    chain, current = [], inputs[0].id
    while True:
        nexts = body.out_edges(current)
        if len(nexts) != 1 or len(body.in_edges(nexts[0].dst)) != 1:
            return None
        current = nexts[0].dst
        if current == outputs[0].id:
            break
        chain.append(current)
    nodes = [body.node(nid) for nid in chain]
    if (len(nodes) < 2 or any(n.name != str(i) for i, n in enumerate(nodes))
            or len({n.type for n in nodes}) != 1 or not nodes[0].is_block):
        return None
    layer = nodes[0].layer
    if len(layer.inputs) != 1 or len(layer.outputs) != 1:
        return None
    item = design.blocks[nodes[0].type]
    args = [{a: n.resolved_params()[a] for a in item.args} for n in nodes]
    if any(n.resolved_params()["repeat"] != 1 or n.resolved_params()["first"] for n in nodes):
        return None
    if any(a != args[1] for a in args[2:]):
        return None
    first = {a: v for a, v in args[0].items() if v != args[1][a]}
    params = {a: v for a, v in args[1].items() if v != item.args[a]}
    return item.name, chain, params, first


# ---- weights ----------------------------------------------------------------------------------


def _rekey(imported: Imported, design: Design, locations: dict[str, Location]
           ) -> dict[str, torch.Tensor]:
    """The flat import's weights keyed as the nested design's compiled state_dict."""
    node_of = {n.name: n.id for n in imported.design.nodes}  # flat names are the identifiers
    compiled = compile_design(design)
    weights: dict[str, torch.Tensor] = {}
    for key, value in imported.weights.items():
        name, _, rest = key.partition(".")
        location = locations.get(node_of.get(name, ""))
        if location is None:
            raise ConversionError(f"weight {key} belongs to no layer")
        weights[f"{module_path(compiled, design, list(location))}.{rest}"] = value
    own = compiled.module.state_dict()
    if set(own) != set(weights):
        raise ConversionError("the nested design's weights do not match the flat import's")
    return weights


def _max_difference(imported: Imported, design: Design, weights: Mapping[str, torch.Tensor]
                    ) -> float:
    """Largest output difference between the flat and the nested design on random inputs."""
    models = []
    for network, tensors in ((imported.design, imported.weights), (design, weights)):
        compiled = compile_design(network)
        compiled.module.load_state_dict(dict(tensors), strict=True)
        models.append(compiled)
    inputs = example_inputs(models[0], imported.design, 2, torch.Generator().manual_seed(0))
    with torch.no_grad():
        outs = [m.module.eval()(*inputs) for m in models]
    flat = [o if isinstance(o, (list, tuple)) else [o] for o in outs]
    return max(float((a.double() - b.double()).abs().max()) for a, b in zip(*flat))
