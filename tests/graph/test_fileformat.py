"""The design file: round trips, staged migrations, refused files and atomic saves."""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest

import graph.atomic as atomic
import graph.fileformat as ff
from graph.catalog import CATALOG, Catalog
from graph.fileformat import DesignFileError, dumps, load, loads, migrate, parse, save
from graph.settings import default_data, default_training
from tests.conftest import EXAMPLES
from tests.graph.util import mlp

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))


def doc_of(design=None) -> dict:
    return (design or mlp().design).to_dict()


def text_of(doc: dict) -> str:
    return json.dumps(doc)


def refused(text: str | bytes) -> DesignFileError:
    with pytest.raises(DesignFileError) as info:
        loads(text)
    return info.value


# ---- round trips ----------------------------------------------------------------------------------


def test_there_are_examples():
    assert len(EXAMPLE_FILES) >= 7


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_examples_round_trip(path: Path, tmp_path: Path):
    design = load(path)
    again = tmp_path / path.name
    save(design, again)
    assert load(again).to_dict() == design.to_dict()
    # The files are written by save() itself, so a load/dump cycle reproduces them byte for byte.
    assert dumps(design) == path.read_text(encoding="utf-8")


def test_round_trip_keeps_everything(tmp_path: Path):
    b = mlp()
    d = b.design
    d.description = "ünïcödé ✓ and \"quotes\""
    d.set_param(b.id("fc1"), "out_features", 7)
    d.move_node(b.id("fc1"), (12.5, -3))
    d.set_training(dict(d.training, lr=0.25, metrics="accuracy, f1"))
    d.set_data(dict(d.data, val_fraction=0.2))
    save(d, tmp_path / "x.json")
    again = load(tmp_path / "x.json")
    assert again.to_dict() == d.to_dict()
    assert again.node(b.id("fc1")).position == (12.5, -3.0)
    assert [e.to_dict() for e in again.edges] == [e.to_dict() for e in d.edges]


def test_left_out_fields_take_defaults_and_the_name_comes_from_the_file(tmp_path: Path):
    doc = {"format": "netwright", "format_version": 1,
           "nodes": [{"id": "a", "type": "Input"}, {"id": "b", "type": "Output"}],
           "edges": [{"src": "a", "dst": "b"}]}
    path = tmp_path / "tiny_net.json"
    path.write_text(json.dumps(doc))
    d = load(path)
    assert d.name == "tiny_net"
    assert d.node("a").name == "a" and d.node("a").params == {} and d.node("a").position == (0, 0)
    assert d.edges[0].src_port == "out" and d.edges[0].dst_port == "in"
    assert d.training == default_training() and d.data == default_data()


# ---- staged loading: format migrations -------------------------------------------------------------


def _version_1_to_2(doc: dict) -> dict:
    doc["layers"] = doc.pop("nodes")
    return doc


def _version_2_to_3(doc: dict) -> dict:
    doc["nodes"] = doc.pop("layers")
    for node in doc["nodes"]:
        node["type"] = node.pop("kind")
    doc["edges"] = [{"src": w["from"], "dst": w["to"]} for w in doc.pop("wires")]
    return doc


def old_doc() -> dict:
    """A made-up version-1 file whose links were called "wires" with from/to, and whose nodes
    named their type "kind"."""
    doc = doc_of()
    doc["format_version"] = 1
    for node in doc["nodes"]:
        node["kind"] = node.pop("type")
    doc["wires"] = [{"from": e["src"], "to": e["dst"]} for e in doc.pop("edges")]
    return doc


def test_migrate_steps_one_version_at_a_time(monkeypatch):
    monkeypatch.setattr(ff, "FORMAT_VERSION", 3)
    seen = []

    def step(fn):
        def wrapped(doc):
            seen.append(doc["format_version"])
            return fn(doc)
        return wrapped

    doc = old_doc()
    before = copy.deepcopy(doc)
    out = migrate(doc, {1: step(_version_1_to_2), 2: step(_version_2_to_3)})
    assert seen == [1, 2]
    assert out["format_version"] == 3
    assert out["edges"] == [{"src": e["src"], "dst": e["dst"]} for e in doc_of()["edges"]]
    assert out["nodes"] == doc_of()["nodes"]
    assert doc == before, "migrations work on a copy"


def test_loading_an_old_file_migrates_it(monkeypatch):
    monkeypatch.setattr(ff, "FORMAT_VERSION", 3)
    monkeypatch.setattr(ff, "MIGRATIONS", {1: _version_1_to_2, 2: _version_2_to_3})
    d = loads(text_of(old_doc()))
    expected = doc_of()
    assert [e.to_dict() for e in d.edges] == expected["edges"]
    assert [n.to_dict() for n in d.nodes] == expected["nodes"]


def test_a_missing_migration_step_is_reported(monkeypatch):
    monkeypatch.setattr(ff, "FORMAT_VERSION", 3)
    monkeypatch.setattr(ff, "MIGRATIONS", {1: _version_1_to_2})
    err = refused(text_of(old_doc()))
    assert "format version 2 is too old" in str(err) and err.where == "format_version"


def test_newer_format_versions_are_refused():
    doc = doc_of()
    doc["format_version"] = ff.FORMAT_VERSION + 1
    err = refused(text_of(doc))
    assert "newer Netwright" in err.reason and err.where == "format_version"


# ---- staged loading: renamed layer types and per-node param migrations -----------------------------


@pytest.fixture
def linear_v3(monkeypatch):
    """A catalog where Linear is at version 3, was once called "Dense" or "FC", and whose param
    ``units`` (v1) became ``width`` (v2) and then ``out_features`` (v3)."""
    catalog = Catalog()
    for layer in CATALOG:
        if layer.type_id == "Linear":
            layer = dataclasses.replace(
                layer, version=3, legacy_ids=("Dense", "FC"),
                migrations={1: lambda p: {("width" if k == "units" else k): v for k, v in p.items()},
                            2: lambda p: {("out_features" if k == "width" else k): v
                                          for k, v in p.items()}})
        catalog.register(layer)
    monkeypatch.setattr(ff, "CATALOG", catalog)
    return catalog


def _with_node(**fields) -> str:
    doc = doc_of()
    doc["nodes"][1].update(fields)  # fc1
    return text_of(doc)


def test_legacy_type_ids_are_remapped_and_params_upgraded(linear_v3):
    assert linear_v3.current_id("Dense") == "Linear" and "FC" in linear_v3
    d = loads(_with_node(type="Dense", version=1, params={"units": 5, "bias": False}))
    fc1 = d.node_by_name("fc1")
    assert fc1.type == "Linear" and fc1.version == 3
    assert fc1.params == {"out_features": 5, "bias": False}
    d = loads(_with_node(type="FC", version=2, params={"width": 6}))
    assert d.node_by_name("fc1").params == {"out_features": 6}
    d = loads(_with_node(type="Linear", version=3, params={"out_features": 7}))
    assert d.node_by_name("fc1").params == {"out_features": 7}


def test_node_versions_newer_than_the_type_are_refused(linear_v3):
    err = refused(_with_node(version=4))
    assert "Linear version 4 is newer" in err.reason and err.where == "nodes[1].version"


def test_a_missing_param_migration_is_reported(monkeypatch):
    linear = dataclasses.replace(CATALOG["Linear"], version=3, migrations={2: lambda p: p})
    catalog = Catalog()
    for layer in CATALOG:
        catalog.register(linear if layer.type_id == "Linear" else layer)
    monkeypatch.setattr(ff, "CATALOG", catalog)
    err = refused(_with_node(version=1))
    assert "no upgrade for Linear from version 1" in err.reason and err.where == "nodes[1].version"


def test_catalog_refuses_clashing_ids():
    catalog = Catalog()
    linear = dataclasses.replace(CATALOG["Linear"], legacy_ids=("Dense",))
    catalog.register(linear)
    with pytest.raises(ValueError, match="declared twice"):
        catalog.register(linear)
    with pytest.raises(ValueError, match="declared twice"):
        catalog.register(dataclasses.replace(CATALOG["ReLU"], type_id="Dense"))
    with pytest.raises(ValueError, match="already taken"):
        catalog.register(dataclasses.replace(CATALOG["ReLU"], legacy_ids=("Linear",)))
    with pytest.raises(ValueError, match="already taken"):
        catalog.register(dataclasses.replace(CATALOG["ReLU"], legacy_ids=("Dense",)))


# ---- refused files: each names the place -----------------------------------------------------------


def _broken(mutate) -> str:
    doc = doc_of()
    mutate(doc)
    return text_of(doc)


def _set(path: str, value):
    def mutate(doc):
        *parents, last = path.split("/")
        target = doc
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[int(last) if last.isdigit() else last] = value
    return mutate


def _delete(path: str):
    def mutate(doc):
        *parents, last = path.split("/")
        target = doc
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        del target[int(last) if last.isdigit() else last]
    return mutate


GOOD = text_of(doc_of())

BROKEN = {
    "truncated": (GOOD[: len(GOOD) // 2], "not valid JSON", "line 1, column"),
    "empty": ("", "not valid JSON", "line 1, column 1"),
    "binary garbage": (bytes(range(256)) * 4, "not a text file", ""),
    "text garbage": ("\x00\x01hello", "not valid JSON", "line 1, column 1"),
    "a list": ("[1, 2]", "must hold a JSON object", ""),
    "not netwright": ('{"format": "keras"}', "not a Netwright design", "format"),
    "version as text": (_broken(_set("format_version", "1")), "whole number", "format_version"),
    "negative version": (_broken(_set("format_version", -1)), "cannot be negative", "format_version"),
    "NaN": (GOOD.replace('"position": [0.0, 0.0]', '"position": [NaN, 0.0]', 1),
            "NaN is not allowed", "nodes[0].position[0]"),
    "Infinity": (GOOD.replace('"lr": 0.001', '"lr": Infinity'), "Infinity is not allowed",
                 "training.lr"),
    "no nodes": (_broken(_delete("nodes")), 'missing field "nodes"', ""),
    "nodes not a list": (_broken(_set("nodes", {})), "expected a list of nodes", "nodes"),
    "node not an object": (_broken(_set("nodes/2", 3)), "expected a node object", "nodes[2]"),
    "params not an object": (_broken(_set("nodes/1/params", [1])), "expected an object",
                             "nodes[1].params"),
    "position not numbers": (_broken(_set("nodes/1/position", ["a", 1])), "expected [x, y] numbers",
                             "nodes[1].position"),
    "position too short": (_broken(_set("nodes/3/position", [1])), "expected [x, y] numbers",
                           "nodes[3].position"),
    "position bools": (_broken(_set("nodes/3/position", [True, 1])), "expected [x, y] numbers",
                       "nodes[3].position"),
    "missing type": (_broken(_delete("nodes/2/type")), 'missing field "type"', "nodes[2]"),
    "missing id": (_broken(_delete("nodes/0/id")), 'missing field "id"', "nodes[0]"),
    "id not text": (_broken(_set("nodes/0/id", 5)), "expected text, found 5", "nodes[0].id"),
    "name not text": (_broken(_set("nodes/0/name", ["x"])), "expected text", "nodes[0].name"),
    "version a bool": (_broken(_set("nodes/0/version", True)), "expected a whole number",
                       "nodes[0].version"),
    "design name not text": (_broken(_set("name", 5)), "expected text", "name"),
    "param holds null in a list": (_broken(_set("nodes/1/params/out_features", [float("nan")])),
                                   "NaN is not allowed", "nodes[1].params.out_features[0]"),
    "duplicate ids": (_broken(_set("nodes/2/id", "n2")), "duplicate node id 'n2'", "nodes[2].id"),
    "link to unknown node": (_broken(_set("edges/1/dst", "ghost")), "unknown node 'ghost'",
                             "edges[1].dst"),
    "link missing src": (_broken(_delete("edges/0/src")), 'missing field "src"', "edges[0]"),
    "link port not text": (_broken(_set("edges/0/dst_port", 0)), "expected text", "edges[0].dst_port"),
    "duplicate link": (_broken(lambda d: d["edges"].append(dict(d["edges"][0]))),
                       "the same link appears twice", "edges[4]"),
    "edges not a list": (_broken(_set("edges", "n1->n2")), "expected a list of links", "edges"),
    "data not an object": (_broken(_set("data", [])), "expected an object", "data"),
    "unknown setting": (_broken(_set("training/learning_rate", 0.1)), "unknown setting",
                        "training.learning_rate"),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_broken_files_are_refused_naming_the_place(case):
    text, message, where = BROKEN[case]
    err = refused(text)
    assert message in err.reason
    assert err.where.startswith(where) if where.startswith("line") else err.where == where
    assert str(err) == err.reason + (f" at {err.where}" if err.where else "")


def test_unknown_layer_types_are_reported_together():
    def mutate(doc):
        doc["nodes"][1]["type"] = "Dense"
        doc["nodes"][3]["type"] = "Conv4d"
    err = refused(_broken(mutate))
    assert err.reason == "unknown layer types 'Dense' (nodes[1]), 'Conv4d' (nodes[3])"


def test_deep_nesting_is_refused_cleanly():
    err = refused('{"format": "netwright", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert "nested too deeply" in err.reason or "not valid JSON" in err.reason


def test_loading_from_disk_names_the_file(tmp_path: Path, monkeypatch):
    path = tmp_path / "broken.json"
    path.write_text(GOOD[:40])
    with pytest.raises(DesignFileError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}: not valid JSON") and info.value.path == str(path)
    for target, message in ((tmp_path / "missing.json", "file not found"),
                            (tmp_path, "is a folder")):
        with pytest.raises(DesignFileError, match=message):
            load(target)
    monkeypatch.setattr(ff, "MAX_FILE_BYTES", 10)
    with pytest.raises(DesignFileError, match="design files are at most"):
        load(path)


def test_a_pipe_named_like_a_design_is_refused_without_blocking(tmp_path: Path):
    fifo = tmp_path / "design.json"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    with pytest.raises(DesignFileError, match="not a regular file"):
        load(fifo)


def test_parse_accepts_bytes_and_text():
    assert parse(GOOD.encode("utf-8")) == parse(GOOD) == json.loads(GOOD)


# ---- atomic save ------------------------------------------------------------------------------------


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


class _FailingFile:
    """Writes half of what it is given, then fails as a full disk would."""

    def __init__(self, fh):
        self.fh = fh

    def write(self, text):
        self.fh.write(text[: len(text) // 2])
        self.fh.flush()
        raise OSError(28, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def test_a_failure_mid_write_leaves_the_old_file_intact(tmp_path: Path, monkeypatch):
    path = tmp_path / "design.json"
    save(mlp().design, path)
    before = path.read_bytes()
    changed = mlp(classes=3).design
    real_open = open
    monkeypatch.setattr(atomic, "open", lambda *a, **k: _FailingFile(real_open(*a, **k)),
                        raising=False)
    with pytest.raises(OSError, match="No space left"):
        save(changed, path)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_a_failure_before_the_rename_leaves_the_old_file_intact(tmp_path: Path, monkeypatch):
    path = tmp_path / "design.json"
    save(mlp().design, path)
    before = path.read_bytes()

    def no_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(ff.os, "fsync", no_fsync)
    with pytest.raises(OSError):
        save(mlp(classes=3).design, path)
    assert path.read_bytes() == before and _leftovers(tmp_path) == []


def test_save_creates_folders_and_keeps_permissions(tmp_path: Path):
    path = tmp_path / "a" / "b" / "design.json"
    save(mlp().design, path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    path.chmod(0o640)
    save(mlp(classes=3).design, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert load(path).to_dict() == mlp(classes=3).design.to_dict()
    assert _leftovers(path.parent) == []
