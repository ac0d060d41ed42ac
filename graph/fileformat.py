"""The ``.json`` design file: versioned, data only, loaded in stages.

1. parse the JSON and check ``format`` / ``format_version``;
2. migrate the plain dict one format version at a time (:data:`MIGRATIONS`);
3. remap renamed layer types and upgrade each node's params to its type's current version;
4. check every field's type and build the :class:`~graph.design.Design`.

Every problem raises :class:`DesignFileError` naming the place (``nodes[3].params.stride``,
``blocks.BasicBlock.nodes[2].params.out_channels``).
Version 2 added ``blocks`` (name → ``{"args", "description", "nodes", "edges"}``, see
:mod:`graph.blocks`), a node's ``when`` and the design's ``template``.
Unknown layer types are collected and reported together. Nothing is ever pickled or evaluated.
Saving is atomic (:mod:`graph.atomic`): a temporary file, fsync, rename, fsync of the folder.
"""
from __future__ import annotations

import copy
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any, Callable

from . import layers as _layers  # noqa: F401  (fills the catalog)
from .atomic import atomic_write_text
from .blocks import BlockDef, BlockError, check_arg_name, check_block_name, expressions_of
from .catalog import CATALOG
from .design import FLOWS, FORMAT, FORMAT_VERSION, Design, Edge, Node
from .expr import ExprError, parse as parse_expression
from .settings import DATA_PARAMS, TRAINING_PARAMS, default_data, default_training
MAX_FILE_BYTES = 64 * 1024 * 1024


class DesignFileError(ValueError):
    """A design file that cannot be loaded; ``where`` names the place in the file."""

    def __init__(self, message: str, where: str = "", path: str | os.PathLike | None = None):
        self.where = where
        self.path = str(path) if path is not None else None
        self.reason = message
        super().__init__(self._text())

    def _text(self) -> str:
        place = f" at {self.where}" if self.where else ""
        source = f"{self.path}: " if self.path else ""
        return f"{source}{self.reason}{place}"

    def with_path(self, path: str | os.PathLike) -> "DesignFileError":
        return DesignFileError(self.reason, self.where, path)


# Format migrations: from-version → function returning the dict at from-version + 1.
Migration = Callable[[dict[str, Any]], dict[str, Any]]


def _v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """Version 2 added block definitions; a version-1 design has none."""
    doc.setdefault("blocks", {})
    return doc


MIGRATIONS: dict[int, Migration] = {1: _v1_to_v2}


def migrate(doc: dict[str, Any], migrations: dict[int, Migration] | None = None) -> dict[str, Any]:
    """Upgrade ``doc`` step by step to :data:`FORMAT_VERSION`."""
    migrations = MIGRATIONS if migrations is None else migrations
    version = doc["format_version"]
    if version < FORMAT_VERSION:
        doc = copy.deepcopy(doc)  # steps may edit nested parts; the caller's dict stays as it was
    while version < FORMAT_VERSION:
        step = migrations.get(version)
        if step is None:
            raise DesignFileError(
                f"format version {version} is too old: no migration to version {version + 1}",
                "format_version")
        doc = step(dict(doc))
        version += 1
        doc["format_version"] = version
    return doc


# ---- stage 1: parse -----------------------------------------------------------------------------


def parse(text: str | bytes) -> dict[str, Any]:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DesignFileError(f"not a text file (byte {exc.start} is not UTF-8)") from None
    try:
        doc = json.loads(text, parse_constant=_Refused.constant, parse_int=_Refused.whole,
                         parse_float=_Refused.number)
    except json.JSONDecodeError as exc:
        raise DesignFileError(f"not valid JSON: {exc.msg}", f"line {exc.lineno}, column {exc.colno}"
                              ) from None
    except RecursionError:
        raise DesignFileError(f"JSON nested too deeply (at most {MAX_DEPTH} levels)") from None
    _check_values(doc)
    if not isinstance(doc, dict):
        raise DesignFileError("the file must hold a JSON object")
    if doc.get("format") != FORMAT:
        raise DesignFileError(f"not a Netwright design (\"format\" is {doc.get('format')!r}, "
                              f"expected {FORMAT!r})", "format")
    version = doc.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise DesignFileError("format_version must be a whole number", "format_version")
    if version > FORMAT_VERSION:
        raise DesignFileError(
            f"written by a newer Netwright (format version {version}; this version reads up to "
            f"{FORMAT_VERSION}) — please update Netwright", "format_version")
    if version < 0:
        raise DesignFileError("format_version cannot be negative", "format_version")
    return doc


MAX_DEPTH = 64  # nesting of lists and objects; real designs use under ten
MAX_WHOLE = 2**63 - 1  # the largest whole number a design may hold (torch sizes are int64)
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Refused:
    """Stands in for a number the JSON parser met but a design cannot hold (``NaN``,
    ``Infinity``, ``1e400``, a 400-digit integer) until :func:`_check_values` finds its place."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    @classmethod
    def constant(cls, name: str) -> "_Refused":
        return cls(f"{name} is not allowed in a design file (numbers must be finite)")

    @classmethod
    def whole(cls, digits: str) -> "int | _Refused":
        if len(digits.lstrip("-")) <= 18:  # fast path: always in range
            return int(digits)
        value = int(digits) if len(digits) <= 40 else None  # never convert thousands of digits
        if value is not None and -MAX_WHOLE <= value <= MAX_WHOLE:
            return value
        shown = digits if len(digits) <= 24 else f"{digits[:12]}…({len(digits)} digits)"
        return cls(f"the number {shown} is too large (whole numbers are at most {MAX_WHOLE:,})")

    @classmethod
    def number(cls, text: str) -> "float | _Refused":
        value = float(text)
        if math.isfinite(value):
            return value
        shown = text if len(text) <= 24 else f"{text[:12]}…"
        return cls(f"the number {shown} is too large for a floating-point value")


def _check_values(doc: Any) -> None:
    """Raise :class:`DesignFileError` at the first refused number, lone surrogate in a text
    (it could never be saved again) or nesting deeper than :data:`MAX_DEPTH`."""
    stack: list[tuple[Any, str, int]] = [(doc, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, _Refused):
            raise DesignFileError(value.reason, where)
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise DesignFileError("text holds a lone UTF-16 surrogate (\\ud800–\\udfff), which "
                                      "is not a character", where)
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth >= MAX_DEPTH:
            shown = where if len(where) <= 80 else where[:80] + "…"
            raise DesignFileError(f"nested more than {MAX_DEPTH} levels deep", shown)
        if isinstance(value, dict):
            for key in value:
                if _SURROGATE.search(key):
                    raise DesignFileError("a key holds a lone UTF-16 surrogate, which is not a "
                                          "character", where or "top level")
            items = [(item, f"{where}.{key}" if where else key) for key, item in value.items()]
        else:
            items = [(item, f"{where}[{i}]") for i, item in enumerate(value)]
        stack.extend((item, place, depth + 1) for item, place in reversed(items))


# ---- stage 3 and 4: types and build ---------------------------------------------------------------


def _expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise DesignFileError(f"expected {what}, found {json.dumps(value)}", where)
    if not isinstance(value, kind):
        shown = json.dumps(value)[:60] if _jsonable(value) else type(value).__name__
        raise DesignFileError(f"expected {what}, found {shown}", where)
    return value


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


def _upgrade_node_params(layer, version: int, params: dict[str, Any], where: str) -> dict[str, Any]:
    if version > layer.version:
        raise DesignFileError(
            f"{layer.type_id} version {version} is newer than this Netwright knows "
            f"({layer.version})", where + ".version")
    while version < layer.version:
        step = layer.migrations.get(version)
        if step is None:
            raise DesignFileError(f"no upgrade for {layer.type_id} from version {version}",
                                  where + ".version")
        params = step(dict(params))
        version += 1
    return params


def design_from_dict(doc: dict[str, Any]) -> Design:
    """Stages 2–4 on an already-parsed document."""
    doc = migrate(doc)
    design = Design(name=_expect(doc.get("name", "Untitled"), str, "name", "text"))
    design.description = _expect(doc.get("description", ""), str, "description", "text")
    nodes = _expect(doc.get("nodes", _MISSING_LIST), list, "nodes", "a list of nodes")
    edges = _expect(doc.get("edges", []), list, "edges", "a list of links")
    bodies = _declare_blocks(design, _expect(doc.get("blocks", {}), dict, "blocks", "an object"))
    for name, raw in bodies.items():
        where = f"blocks.{name}"
        block = design.blocks[name]
        _build_network(block.body, _expect(raw.get("nodes", []), list, where + ".nodes",
                                           "a list of nodes"),
                       _expect(raw.get("edges", []), list, where + ".edges", "a list of links"),
                       where + ".")
        _check_expressions(block.body, where)
    _check_block_cycles(design)
    _build_network(design, nodes, edges, "")
    if doc.get("template") is not None:
        design.template = _template(doc["template"])
    design.data = _section(doc, "data", default_data(), {p.name for p in DATA_PARAMS} | {"name", "options"})
    design.training = _section(doc, "training", default_training(), {p.name for p in TRAINING_PARAMS})
    flow = doc.get("flow", FLOWS[0])
    if flow not in FLOWS:
        raise DesignFileError(f"expected {' or '.join(map(repr, FLOWS))}", "flow")
    design.flow = flow
    design.initial_weights = _expect(doc.get("initial_weights", ""), str, "initial_weights",
                                     "a file name (text)")
    return design


def _declare_blocks(design: Design, raw_blocks: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Define every block with its arguments and an empty body (bodies may use each other)."""
    for name, raw in raw_blocks.items():
        where = f"blocks.{name}"
        _expect(raw, dict, where, "a block object")
        args = _expect(raw.get("args", {}), dict, where + ".args", "an object")
        for arg, value in args.items():
            _expect(value, int, f"{where}.args.{arg}", "a whole number")
        try:
            check_block_name(name, design.blocks)
            for arg in args:
                check_arg_name(arg, f"{where}.args.{arg}")
        except BlockError as exc:
            raise DesignFileError(exc.reason, exc.where) from None
        body = Design(name, library=design.blocks)
        body.arguments = dict(args)
        description = _expect(raw.get("description", ""), str, where + ".description", "text")
        design.blocks.define(BlockDef(name, body, description))
    return raw_blocks


def _check_block_cycles(design: Design) -> None:
    for block in design.blocks:
        cycle = design.blocks.cycle_through(block.name)
        if cycle:
            what = ("uses itself" if len(cycle) == 2 else
                    "is on a cycle of blocks: " + " → ".join(cycle))
            user = next(n for n in block.body.nodes if n.type == cycle[1])
            index = block.body.node_ids_in_order().index(user.id)
            raise DesignFileError(f"block {block.name} {what}",
                                  f"blocks.{block.name}.nodes[{index}].type")


def _check_expressions(design: Design, prefix: str) -> None:
    """Every expression parses and reads only the design's arguments."""
    for i, node in enumerate(design.nodes):
        for where, text in expressions_of(design.layer_of(node), node):
            place = f"{prefix}.nodes[{i}].{where}" if prefix else f"nodes[{i}].{where}"
            try:
                unknown = sorted(parse_expression(text).names.difference(design.arguments))
            except ExprError as exc:
                raise DesignFileError(str(exc), place) from None
            if unknown:
                known = ", ".join(design.arguments) or "none"
                raise DesignFileError(f"unknown argument {unknown[0]!r} in {text!r} (arguments: "
                                      f"{known})", place)


def _template(raw: Any) -> dict[str, Any]:
    _expect(raw, dict, "template", "an object")
    name = _expect(raw.get("name"), str, "template.name", "text")
    args = _expect(raw.get("args", {}), dict, "template.args", "an object")
    for key, value in args.items():
        if not _plain(value):
            raise DesignFileError("template arguments hold only plain values",
                                  f"template.args.{key}")
    return {"name": name, "args": dict(args)}


def _build_network(design: Design, nodes: list[Any], edges: list[Any], prefix: str) -> None:
    """Add the checked ``nodes`` and ``edges`` to ``design``; places start with ``prefix``."""
    unknown: list[str] = []
    seen_ids: set[str] = set()
    for i, raw in enumerate(nodes):
        node = _node(design, raw, f"{prefix}nodes[{i}]", seen_ids, unknown)
        if node is not None:
            design.add_node(node)
    if unknown:
        raise DesignFileError("unknown layer type" + ("s " if len(unknown) > 1 else " ")
                              + ", ".join(unknown))
    for i, raw in enumerate(edges):
        design.add_edge(_edge(design, raw, f"{prefix}edges[{i}]"))


def _node(design: Design, raw: Any, where: str, seen_ids: set[str],
          unknown: list[str]) -> Node | None:
    _expect(raw, dict, where, "a node object")
    for key in ("id", "type"):
        if key not in raw:
            raise DesignFileError(f"missing field \"{key}\"", where)
    node_id = _expect(raw["id"], str, where + ".id", "text")
    type_id = _expect(raw["type"], str, where + ".type", "text")
    if node_id in seen_ids:
        raise DesignFileError(f"duplicate node id {node_id!r}", where + ".id")
    seen_ids.add(node_id)
    layer = CATALOG.get(type_id) or design.blocks.layer_type(type_id)
    if layer is None:
        unknown.append(f"{type_id!r} ({where})")
        return None
    name = _expect(raw.get("name", node_id), str, where + ".name", "text")
    params = _expect(raw.get("params", {}), dict, where + ".params", "an object")
    version = _expect(raw.get("version", layer.version), int, where + ".version",
                      "a whole number")
    params = _upgrade_node_params(layer, version, params, where)
    for key, value in params.items():
        if not _plain(value):
            raise DesignFileError("parameters hold only numbers, text, booleans and lists",
                                  f"{where}.params.{key}")
    position = raw.get("position", [0, 0])
    if (not isinstance(position, list) or len(position) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       and math.isfinite(v) for v in position)):
        raise DesignFileError("expected [x, y] numbers", where + ".position")
    when = raw.get("when")
    if when is not None:
        _expect(when, str, where + ".when", "a condition (text)")
    trainable = _expect(raw.get("trainable", True), bool, where + ".trainable", "true or false")
    lr_mult = raw.get("lr_mult", 1.0)
    if isinstance(lr_mult, bool) or not isinstance(lr_mult, (int, float)) or not 0 <= lr_mult <= 1000:
        raise DesignFileError("expected a learning-rate multiplier from 0 to 1000", where + ".lr_mult")
    return Node(id=node_id, type=layer.type_id, name=name, params=dict(params),
                position=(float(position[0]), float(position[1])), version=layer.version,
                when=when or None, trainable=trainable, lr_mult=float(lr_mult))


def _edge(design: Design, raw: Any, where: str) -> Edge:
    _expect(raw, dict, where, "a link object")
    for key in ("src", "dst"):
        if key not in raw:
            raise DesignFileError(f"missing field \"{key}\"", where)
        value = _expect(raw[key], str, f"{where}.{key}", "a node id")
        if not design.has_node(value):
            raise DesignFileError(f"links to unknown node {value!r}", f"{where}.{key}")
    edge = Edge(src=raw["src"], dst=raw["dst"],
                src_port=_expect(raw.get("src_port", "out"), str, where + ".src_port", "text"),
                dst_port=_expect(raw.get("dst_port", "in"), str, where + ".dst_port", "text"))
    if design.has_edge(edge):
        raise DesignFileError("the same link appears twice", where)
    return edge


_MISSING_LIST = object()


def _section(doc: dict[str, Any], key: str, defaults: dict[str, Any], known: set[str]) -> dict[str, Any]:
    raw = doc.get(key, {})
    _expect(raw, dict, key, "an object")
    for name, value in raw.items():
        if name not in known:
            raise DesignFileError(f"unknown setting {name!r}", f"{key}.{name}")
        if not _plain(value):
            raise DesignFileError("settings hold only numbers, text, booleans, lists and objects",
                                  f"{key}.{name}")
    out = dict(defaults)
    out.update(raw)
    if key == "data" and "name" in raw and "options" not in raw:
        out["options"] = {}
    return out


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


# ---- public API ---------------------------------------------------------------------------------


def loads(text: str | bytes) -> Design:
    """A design from the text of a design file."""
    doc = parse(text)
    if doc.get("nodes", _MISSING_LIST) is _MISSING_LIST:
        raise DesignFileError("missing field \"nodes\"")
    return design_from_dict(doc)


def load(path: str | os.PathLike) -> Design:
    """Load a design file; a :class:`DesignFileError` names the file and the place."""
    path = Path(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
            raise DesignFileError("is not a regular file (a pipe or a device?)", path=path)
        size = info.st_size
        if size > MAX_FILE_BYTES:
            raise DesignFileError(f"file is {size / 1e6:.0f} MB; design files are at most "
                                  f"{MAX_FILE_BYTES // 2**20} MB", path=path)
        data = path.read_bytes()
    except FileNotFoundError:
        raise DesignFileError("file not found", path=path) from None
    except IsADirectoryError:
        raise DesignFileError("is a folder, not a design file", path=path) from None
    except PermissionError:
        raise DesignFileError("permission denied", path=path) from None
    except OSError as exc:
        raise DesignFileError(f"cannot read: {exc.strerror}", path=path) from None
    try:
        design = loads(data)
    except DesignFileError as exc:
        raise exc.with_path(path) from None
    if design.name == "Untitled" and "name" not in json.loads(data):
        design.name = path.stem
    return design


def dumps(design: Design) -> str:
    return json.dumps(design.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def save(design: Design, path: str | os.PathLike) -> None:
    """Write atomically: a crash mid-save never leaves a half-written design behind."""
    atomic_write_text(Path(path), dumps(design))
