"""Validation: diagnostics that explain themselves, pinned to the node (and port) at fault.

Structure is checked first (cycles with networkx, on the part of the graph that shape
inference could not order; reachability by a walk over the design's links), then shapes with
:func:`graph.shapes.infer`, then the dataset and training settings against the network. It runs
after every edit, so it stays linear in the size of the design.
:func:`can_connect` answers "may this link be made?" for hover feedback while dragging.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import networkx as nx

from . import layers as _layers  # noqa: F401  (fills the catalog)
from .blocks import BlockError, bind_params
from .catalog import CATALOG, Shape, fmt_shape
from .design import Design, Edge
from .fixes import AppendLayer, FixAction, InsertLayer, RenameNode, SetDataOption, SetParam, set_param
from .losses import loss_problems
from .settings import DATASETS, check_data, check_training, dataset_classes, dataset_shape
from .shapes import Inference, infer
from .summary import MEMORY_FIX, MemoryBudget, summarize, training_memory_problem

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    code: str
    message: str
    node: str | None = None  # node id
    port: str | None = None
    fix: str | None = None
    param: str | None = None
    actions: tuple[FixAction, ...] = ()  # the fix as edits, one per alternative it offers

    def format(self, design: Design | None = None) -> str:
        where = ""
        if self.node and design is not None and design.has_node(self.node):
            where = f"{design.node(self.node).name}: "
        elif self.node:
            where = f"{self.node}: "
        text = f"{self.severity}: {where}{self.message}"
        return text + (f" (fix: {self.fix})" if self.fix else "")


DATASET_CODES = ("data", "data-file", "data-shape")
"""Diagnostic codes about the dataset rather than the network."""


@dataclass
class Report:
    diagnostics: list[Diagnostic]
    inference: Inference

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def network_ok(self) -> bool:
        """No error in the network itself: only the dataset (not chosen yet, unreadable, of
        another shape) may still be wrong, so shapes, parameters and MACs are all known."""
        return self.network().ok

    def network(self) -> "Report":
        """This report without the dataset's diagnostics: what the network alone is judged by
        (its code, its structure)."""
        return Report([d for d in self.diagnostics if d.code not in DATASET_CODES], self.inference)

    def for_node(self, node_id: str) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.node == node_id]


def to_networkx(design: Design) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    g.add_nodes_from(n.id for n in design.nodes)
    g.add_edges_from((e.src, e.dst) for e in design.edges)
    return g


def validate(design: Design, data_shape: Shape | None = None, data_classes: int | None = None,
             data_task: str | None = None, memory: MemoryBudget | None = None,
             data_error: str | None = None, data_targets: int | None = None,
             inference: Inference | None = None) -> Report:
    """Check the whole design. ``data_shape``/``data_classes``/``data_task`` (and
    ``data_targets``, the number of regression targets) describe a dataset already read by the
    runtime; built-in datasets declare theirs. A block body is
    checked as a network of its own (with its arguments' defaults), without the settings.
    ``memory`` is what the chosen device has (the runtime knows it): a design whose training
    needs more is warned about. ``data_error`` says why the runtime could not read the dataset:
    an error on the Input, so nothing trains on it. ``inference``: the design's shapes when
    they are already inferred (:func:`graph.shapes.infer` of this very design)."""
    layers = {n.id: design.layer_of(n) for n in design.nodes}
    diags, bad_params = _check_nodes(design, layers)
    diags += _check_ports(design, layers)
    inference = inference or infer(design)
    diags += _check_structure(design, inference)
    for nid, err in inference.errors.items():
        if nid in bad_params:
            continue
        if err.path:  # inside a block instance: the fix is the inner layer's, said where
            fix = f"{err.fix} (in the block, at {err.path[-1]})" if err.fix else None
            diags.append(Diagnostic(ERROR, "shape", err.text, nid, fix=fix))
            continue
        fix, actions = _shape_fix(design, inference, nid, err.fix)
        diags.append(Diagnostic(ERROR, "shape", err.text, nid, err.port, fix=fix,
                                param=err.param, actions=actions))
    diags += _check_dtypes(design, inference, layers)
    if _is_body(design):
        return Report(diags, inference)
    diags += _check_blocks(design)
    # Data and training settings against the network.
    diags += _check_settings(design, inference, data_shape, data_classes, data_task,
                             data_targets)
    if data_error:
        inputs = design.inputs()
        diags.append(Diagnostic(ERROR, "data-file", f"the dataset cannot be read: {data_error}",
                                inputs[0].id if inputs else None,
                                fix="choose the data in the Data panel, or with `train --data PATH`"))
    if memory is not None:
        problem = training_memory_problem(summarize(design, inference, rows=False), memory)
        if problem:
            diags.append(Diagnostic(WARNING, "memory", problem, fix=MEMORY_FIX))
    return Report(diags, inference)


def _is_body(design: Design) -> bool:
    return design.blocks.owner is not design


def _check_nodes(design: Design, layers: dict) -> tuple[list[Diagnostic], set[str]]:
    """Known types, valid params (expressions bound to the arguments' defaults) and names.
    Returns the diagnostics and the nodes with bad params (no shape error on top)."""
    diags: list[Diagnostic] = []
    bad_params: set[str] = set()
    seen: dict[str, str] = {}
    for node in design.nodes:
        layer = layers[node.id]
        if layer is None:
            diags.append(Diagnostic(ERROR, "unknown-type", f"unknown layer type {node.type!r}", node.id))
            bad_params.add(node.id)
            continue
        if layer.is_placeholder:
            diags.append(Diagnostic(ERROR, "unsupported", layer.shape_problem(node.params), node.id,
                                    fix="replace this placeholder with layers that compute the same"))
            bad_params.add(node.id)
        try:
            params = (bind_params(layer, node.params, design.arguments) if _is_body(design)
                      else node.params)
        except BlockError as exc:
            name = exc.where.split(".", 1)[-1]
            diags.append(Diagnostic(ERROR, "expression", f"{name}: {exc.reason}", node.id,
                                    param=name, fix="use only this block's arguments, numbers "
                                                    "and + - * // ( )"))
            bad_params.add(node.id)
            continue
        for pname, problem in layer.check_params(params):
            diags.append(Diagnostic(ERROR, "param", f"{pname} {problem}", node.id, param=pname,
                                    fix=_param_fix(layer, pname)))
            bad_params.add(node.id)
        if not node.name.strip():
            diags.append(Diagnostic(ERROR, "name", "the name is empty", node.id,
                                    fix="give the node a name"))
        elif node.name in seen:
            fresh = design.unique_name(node.name)
            diags.append(Diagnostic(ERROR, "duplicate-name",
                                    f"the name {node.name!r} is used by another node too", node.id,
                                    fix=f"rename it, e.g. to {fresh!r}",
                                    actions=(RenameNode(node.id, fresh, f"rename it to {fresh!r}"),)))
        else:
            seen[node.name] = node.id
    return diags, bad_params


def _check_ports(design: Design, layers: dict) -> list[Diagnostic]:
    """Links name existing ports; every input port has as many links as it takes."""
    diags = []
    for e in design.edges:
        src_layer, dst_layer = layers[e.src], layers[e.dst]
        if src_layer and src_layer.output_port(e.src_port) is None:
            diags.append(Diagnostic(ERROR, "port", f"has no output port {e.src_port!r}", e.src,
                                    e.src_port))
        if dst_layer and dst_layer.input_port(e.dst_port) is None:
            diags.append(Diagnostic(ERROR, "port", f"has no input port {e.dst_port!r}", e.dst,
                                    e.dst_port))
    for nid, layer in layers.items():
        if layer is not None:
            diags += _check_arity(design, nid, layer)
    return diags


def _check_arity(design: Design, nid: str, layer) -> list[Diagnostic]:
    diags = []
    for port in layer.inputs:
        count = len(design.in_edges(nid, port.name))
        if count < port.min_links:
            if count == 0:
                msg = f"input {port.name!r} is not connected" if len(layer.inputs) > 1 else \
                    "its input is not connected"
            else:
                msg = f"needs at least {port.min_links} inputs, has {count}"
            diags.append(Diagnostic(ERROR, "arity", msg, nid, port.name,
                                    fix="drag a link from an earlier layer's output to it"))
        elif count > port.max_links:
            msg = (f"input {port.name!r} has {count} links but takes one"
                   if port.max_links == 1 else f"takes at most {port.max_links} inputs, has {count}")
            fix = "merge the branches with an Add or Concat first" if port.max_links == 1 else None
            diags.append(Diagnostic(ERROR, "arity", msg, nid, port.name, fix=fix))
    for port in layer.outputs:
        if not design.out_edges(nid, port.name) and not layer.is_source:
            diags.append(Diagnostic(WARNING, "unused", "its output is not used", nid, port.name,
                                    fix="connect it onward, or delete it"))
    return diags


def _check_structure(design: Design, inference: Inference) -> list[Diagnostic]:
    """Inputs and Outputs exist; no cycles; every node is fed by an Input and leads somewhere."""
    diags = []
    names = {n.id: n.name for n in design.nodes}
    inputs = [n.id for n in design.inputs()]
    outputs = [n.id for n in design.outputs()]
    what = "block" if _is_body(design) else "network"
    if not inputs:
        diags.append(Diagnostic(ERROR, "no-input", f"the {what} has no Input layer",
                                fix="add an Input layer from the palette"))
    if not outputs:
        diags.append(Diagnostic(ERROR, "no-output", f"the {what} has no Output layer",
                                fix="add an Output layer after the last layer",
                                actions=_append_output(design, inputs)))
    for nid in inputs:
        if not design.out_edges(nid):
            diags.append(Diagnostic(WARNING, "unused", "this Input feeds no layer", nid,
                                    fix="link it to the first layer, or delete it"))
    cyclic: set[str] = set()
    unordered = set(names).difference(inference.order)  # on a cycle, or fed by one
    g = _subgraph(design, unordered)
    for component in nx.strongly_connected_components(g):
        if len(component) > 1 or any(g.has_edge(n, n) for n in component):
            cycle = _cycle_in(g, component)
            cyclic |= component
            path = " → ".join(names[n] for n in cycle + cycle[:1])
            for nid in cycle:
                diags.append(Diagnostic(ERROR, "cycle", f"is on a cycle: {path}", nid,
                                        fix="remove one link of the cycle"))
    if inputs:
        reached = _reachable(design, inputs, forward=True)
        for nid in names:
            if nid not in reached and nid not in cyclic:
                diags.append(Diagnostic(ERROR, "unreachable", "is not connected to any Input",
                                        nid, fix="link it to the layers before it"))
    if outputs:
        leads = _reachable(design, outputs, forward=False)
        for nid in names:
            if nid not in leads and nid not in cyclic and design.out_edges(nid):
                diags.append(Diagnostic(WARNING, "dead-end",
                                        "does not lead to any Output; its result is unused",
                                        nid, fix="connect the branch to an Output or a merge"))
    return diags


def _append_output(design: Design, inputs: list[str]) -> tuple[FixAction, ...]:
    """"add an Output layer after the last layer" as an edit, where there is one last layer:
    a single layer (not an Input) whose output feeds nothing."""
    last = []
    for node in design.nodes:
        layer = design.layer_of(node)
        if layer is None or not layer.outputs or node.id in inputs:
            continue
        last += [(node, port.name) for port in layer.outputs if not design.out_edges(node.id, port.name)]
    if len(last) != 1:
        return ()
    node, port = last[0]
    return (AppendLayer(node.id, port, "Output", f"add an Output layer after {node.name}"),)


def _check_blocks(design: Design) -> list[Diagnostic]:
    """Errors inside the bodies of the blocks this design uses, pinned to the first instance
    of each (shape errors are already reported through the instances themselves)."""
    diags = []
    first_use: dict[str, str] = {}
    for node in design.nodes:
        if node.is_block:
            first_use.setdefault(node.type, node.id)
    pending = list(first_use.items())
    checked: set[str] = set()
    while pending:
        name, instance = pending.pop(0)
        if name in checked:
            continue
        checked.add(name)
        body = design.blocks[name].body
        for inner in body.nodes:
            if inner.is_block:
                pending.append((inner.type, instance))
        for d in validate(body).errors:
            if d.code == "shape":
                continue
            where = f" › {body.node(d.node).name}" if d.node else ""
            diags.append(Diagnostic(ERROR, "block", f"in block {name}{where}: {d.message}",
                                    instance, fix=d.fix))
    return diags


def _check_dtypes(design: Design, inference: Inference, layers: dict) -> list[Diagnostic]:
    """Integer token ids (an int64 Input) may only pass through ``pass_through`` layers to ones
    that read them (``reads_token_ids``: Embedding), and those read nothing else."""
    diags = []
    integer: dict[str, bool] = {}
    for nid in inference.order:
        node = design.node(nid)
        if nid not in inference.shapes:
            continue
        layer = layers[nid]
        sources = [e.src for e in design.in_edges(nid)]
        ints = [integer.get(src, False) for src in sources]
        if layer.is_source:
            integer[nid] = node.resolved_params()["dtype"] == "int64"
        elif layer.reads_token_ids:
            integer[nid] = False
            if not all(ints):
                diags.append(Diagnostic(ERROR, "dtype", "needs integer token ids but receives "
                                        "floating-point values", nid,
                                        fix="feed it from an Input whose dtype is int64"))
        elif layer.pass_through:
            integer[nid] = bool(ints) and all(ints)
        else:
            integer[nid] = False
            if any(ints):
                origin = design.node(sources[ints.index(True)]).name
                diags.append(Diagnostic(ERROR, "dtype", f"receives integer token ids from {origin}; "
                                        "only an Embedding can read them", nid,
                                        fix="insert an Embedding first, or set the Input's dtype "
                                            "to float32"))
    return diags


def _subgraph(design: Design, ids: set[str]) -> nx.MultiDiGraph:
    """The links among ``ids`` as a networkx graph."""
    g = nx.MultiDiGraph()
    g.add_nodes_from(ids)
    g.add_edges_from((e.src, e.dst) for nid in ids for e in design.out_edges(nid) if e.dst in ids)
    return g


def _reachable(design: Design, starts: list[str], forward: bool) -> set[str]:
    """``starts`` and every node downstream (``forward``) or upstream of them."""
    seen = set(starts)
    stack = list(starts)
    while stack:
        nid = stack.pop()
        for e in (design.out_edges(nid) if forward else design.in_edges(nid)):
            other = e.dst if forward else e.src
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return seen


def _cycle_in(g: nx.MultiDiGraph, component: set[str]) -> list[str]:
    sub = g.subgraph(component)
    try:
        return [u for u, _v, *_ in nx.find_cycle(sub)]
    except nx.NetworkXNoCycle:  # pragma: no cover - the component has a cycle by construction
        return sorted(component)


def _param_fix(layer, pname: str) -> str | None:
    try:
        p = layer.param(pname)
    except KeyError:
        return "remove this parameter"
    if p.min is not None and p.max is not None and p.kind in ("int", "float", "size", "ints"):
        return f"use a value between {p.min:g} and {p.max:g}"
    if p.choices:
        return "choose one of " + ", ".join(map(str, p.choices))
    return None


def _shape_fix(design: Design, inference: Inference, nid: str,
               fix: str | None) -> tuple[str | None, tuple[FixAction, ...]]:
    """Make a rule's generic fix concrete, with its edits: name the neighbours ("insert a
    Flatten between conv2 and fc1"), or, when a merge's inputs disagree, the one setting that
    makes them agree."""
    if fix and fix.startswith("insert a ") and fix.endswith(" before this layer"):
        ins = design.in_edges(nid)
        if len(ins) == 1:
            what = fix[len("insert a "):-len(" before this layer")]
            text = f"insert a {what} between {design.node(ins[0].src).name} and {design.node(nid).name}"
            type_id = CATALOG.current_id(what)
            return text, ((InsertLayer(ins[0], type_id, text),) if type_id else ())
    changes = _merge_changes(design, inference, nid)
    if not changes:
        return fix, ()
    text = "set " + ", or ".join(f"{param} of {name} to {value}" for _id, name, param, value in changes)
    return text, tuple(set_param(*change) for change in changes)


def _merge_changes(design: Design, inference: Inference,
                   nid: str) -> list[tuple[str, str, str, int]]:
    """For a layer with several inputs of which one disagrees with all the others: the single
    int-param change of that input's layer that gives it the others' shape (``(node id, name,
    param, value)``, e.g. out_features of fc2 to 64). Candidates are tried through the layers'
    own shape rules, so every layer type declared in the catalog takes part."""
    sources = [e.src for e in design.in_edges(nid)]
    shapes = [inference.shapes.get(src) for src in sources]
    if len(sources) < 2 or any(s is None for s in shapes):
        return []
    changes = []
    for i, src in enumerate(sources):
        others = {s for j, s in enumerate(shapes) if j != i}
        if len(others) == 1 and shapes[i] not in others:
            change = _param_giving_shape(design, inference, src, others.pop())
            if change is not None:
                changes.append((src, *change))
    return changes


def _param_giving_shape(design: Design, inference: Inference, nid: str,
                        target: Shape) -> tuple[str, str, int] | None:
    """``(node name, param, value)``: one int param of ``nid`` whose change makes the node output
    ``target``, trying the sizes that appear in ``target``."""
    node = design.node(nid)
    layer = CATALOG.get(node.type)
    ins = inference.input_shapes.get(nid)
    if layer is None or ins is None:
        return None
    params = layer.resolve(node.params)
    for param in layer.params:
        if param.kind != "int":
            continue
        for value in dict.fromkeys(target):
            if value == params[param.name] or param.check(value) is not None:
                continue
            try:
                shape = tuple(layer.shape({**params, param.name: value}, ins))
            except Exception:  # noqa: BLE001 (any rule's refusal means: not this value)
                continue
            if shape == tuple(target):
                return node.name, param.name, value
    return None


def _dataset_option_giving(spec, data, shape: Shape, data_shape: Shape | None) -> SetDataOption | None:
    """"set the dataset option as_images to false" when flipping one yes/no option of a
    built-in dataset makes it give samples of ``shape`` (else None)."""
    if data_shape is not None:  # a file dataset: its contents decide, not an option
        return None
    options = spec.resolve(data.get("options", {}))
    for param in spec.options:
        if param.kind == "bool":
            flipped = dict(options, **{param.name: not options[param.name]})
            if tuple(spec.sample_shape(flipped)) == tuple(shape):
                value = flipped[param.name]
                return SetDataOption(param.name, value, f"set the dataset option {param.name} "
                                                        f"to {str(value).lower()}")
    return None


SETTINGS_CODES = frozenset({"data", "data-file", "training", "memory"})
"""Codes of the diagnostics about the design's dataset and training settings (some of them
point at the Input they concern)."""


def _check_settings(design: Design, inference: Inference, data_shape: Shape | None,
                    data_classes: int | None, data_task: str | None,
                    data_targets: int | None = None) -> list[Diagnostic]:
    diags = []
    for key, problem in check_data(design.data):
        diags.append(Diagnostic(ERROR, "data", f"dataset setting {key} {problem}"))
    for key, problem in check_training(design.training):
        diags.append(Diagnostic(ERROR, "training", f"training setting {key} {problem}"))
    if any(d.code == "data" for d in diags):
        return diags
    spec = DATASETS[design.data["name"]]
    shape = tuple(data_shape) if data_shape is not None else dataset_shape(design.data)
    classes = data_classes if data_classes is not None else dataset_classes(design.data)
    task = data_task or spec.task
    inputs = design.inputs()
    if shape is not None and len(inputs) == 1 and not inputs[0].layer.check_params(inputs[0].params):
        node = inputs[0]
        declared = tuple(node.resolved_params()["shape"])
        if declared != shape:
            option = _dataset_option_giving(spec, design.data, declared, data_shape)
            actions = (SetParam(node.id, "shape", tuple(shape),
                                f"set the Input shape to {list(shape)}"),) + ((option,) if option else ())
            diags.append(Diagnostic(
                ERROR, "data-shape",
                f"the dataset {design.data['name']} gives samples of shape {fmt_shape(shape)}, "
                f"but this Input expects {fmt_shape(declared)}", node.id, param="shape",
                fix=", or ".join(a.text for a in actions), actions=actions))
    outputs = design.outputs()
    if outputs:
        diags += _loss_diagnostics(design, inference, task, classes, data_targets)
    return diags


def _loss_diagnostics(design: Design, inference: Inference, task: str, classes: int | None,
                      targets: int | None) -> list[Diagnostic]:
    """The loss/task rule (:mod:`graph.losses`) on the first Output; a wrong class count is
    pinned on the layer feeding it, with a fix when that is a Linear."""
    out = design.outputs()[0]
    src = design.in_edges(out.id)
    culprit = design.node(src[0].src) if src else out
    diags = []
    for p in loss_problems(str(design.training.get("loss")), task, inference.shapes.get(out.id),
                           classes, targets, dataset=str(design.data["name"])):
        fix, node, actions = p.fix, out.id, ()
        if p.code in ("classes", "targets"):
            node = culprit.id
            if culprit.type == "Linear":
                actions = (set_param(culprit.id, culprit.name, "out_features", classes or targets),)
                fix = actions[0].text
        diags.append(Diagnostic(ERROR if p.severity == "error" else WARNING, p.code, p.message,
                                node if p.code != "loss" else None, fix=fix, actions=actions))
    return diags


def can_connect(design: Design, src: str, dst: str, src_port: str = "out", dst_port: str = "in",
                replacing: Iterable[Edge] = ()) -> tuple[bool, str]:
    """May a link ``src.src_port → dst.dst_port`` be made? Returns ``(yes, reason)``.

    ``replacing`` lists links that will be removed at the same time (a link being re-routed).
    """
    if not (design.has_node(src) and design.has_node(dst)):
        return False, "unknown node"
    if src == dst:
        return False, "a layer cannot feed itself"
    s_layer, d_layer = design.layer_of(design.node(src)), design.layer_of(design.node(dst))
    if s_layer is None or d_layer is None:
        return False, "unknown layer type"
    if s_layer.output_port(src_port) is None:
        return False, f"{design.node(src).name} has no output {src_port!r}"
    port = d_layer.input_port(dst_port)
    if port is None:
        return False, f"{design.node(dst).name} has no input {dst_port!r}"
    replacing = set(replacing)
    edge = Edge(src, dst, src_port, dst_port)
    if design.has_edge(edge) and edge not in replacing:
        return False, "these ports are already linked"
    taken = [e for e in design.in_edges(dst, dst_port) if e not in replacing]
    if len(taken) >= port.max_links:
        if port.max_links == 1:
            return False, (f"{design.node(dst).name}'s input is already linked to "
                           f"{design.node(taken[0].src).name}; remove that link first, or merge "
                           "with an Add or Concat")
        return False, f"{design.node(dst).name} takes at most {port.max_links} inputs"
    g = to_networkx(design)
    for e in replacing:
        if g.has_edge(e.src, e.dst):
            g.remove_edge(e.src, e.dst)
    if nx.has_path(g, dst, src):
        return False, (f"this would make a cycle: {design.node(dst).name} already feeds "
                       f"{design.node(src).name}")
    return True, f"connect {design.node(src).name} → {design.node(dst).name}"

