"""Where samples come from: a ``data`` setting or a path on the command line → raw samples."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from graph.settings import DATASETS

from .base import DataError, Raw
from .builtin import load_builtin, load_synthetic
from .images import DEFAULT_MAX_MEMORY, load_idx, load_images
from .tables import load_csv, load_npz

CSV_EXTENSIONS = (".csv", ".tsv", ".txt")


def resolve_path(path: str, base_dir: str | os.PathLike | None = None, what: str = "file") -> Path:
    """An existing file or folder: absolute, or relative to ``base_dir`` (the design's folder)
    or the working directory."""
    if not path:
        raise DataError(f"no {what} given: set the dataset's path")
    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else (
        ([Path(base_dir) / p] if base_dir else []) + [Path.cwd() / p])
    for c in candidates:
        if c.exists():
            if not (c.is_file() or c.is_dir()):  # a FIFO or a device would block or never end
                raise DataError(f"{path}: not a regular file or folder")
            return c
    raise DataError(f"{path}: no such {what}")


def data_from_path(path: str) -> dict[str, Any]:
    """The ``data`` setting (name and options) for a file or folder given on the command line:
    ``.csv``/``.tsv`` → csv, ``.npz`` → npz, IDX files (or a folder of them) → idx, any other
    folder → images."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{path}: no such file or folder, and not a built-in dataset (built-in: "
                        + ", ".join(n for n, s in DATASETS.items() if s.kind != "file") + ")")
    p = p.resolve()
    if p.is_dir():
        idx = sorted(f for f in p.iterdir() if re.search(r"idx\d-ubyte", f.name))
        if idx:
            imgs = [f for f in idx if "idx3" in f.name and "t10k" not in f.name] or \
                   [f for f in idx if "idx3" in f.name]
            if not imgs:
                raise DataError(f"{p}: holds IDX files but no images file (…-idx3-ubyte)")
            return {"name": "idx", "options": {"images": str(imgs[0]),
                                               "labels": str(_idx_labels_for(imgs[0]))}}
        return {"name": "images", "options": {"path": str(p)}}
    suffix = p.suffix.lower()
    if suffix in CSV_EXTENSIONS:
        return {"name": "csv", "options": {"path": str(p)}}
    if suffix == ".npz":
        return {"name": "npz", "options": {"path": str(p)}}
    if re.search(r"idx\d|ubyte", p.name):
        return {"name": "idx", "options": {"images": str(p), "labels": str(_idx_labels_for(p))}}
    raise DataError(f"{p}: cannot tell the kind of data from the name (expected .csv, .tsv, "
                    ".npz, an IDX file, or a folder of class sub-folders with images)")


def _idx_labels_for(images: Path) -> Path:
    name = images.name.replace("images", "labels").replace("idx3", "idx1")
    labels = images.with_name(name)
    if name == images.name or not labels.exists():
        raise DataError(f"{images}: no matching labels file found (looked for {labels.name})")
    return labels


def read_raw(data: Mapping[str, Any], base_dir: str | os.PathLike | None = None,
             max_memory: int = DEFAULT_MAX_MEMORY) -> Raw:
    """Read the samples a ``data`` setting names (no splitting or normalization yet)."""
    name = data.get("name")
    spec = DATASETS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise DataError(f"unknown dataset {name!r} (choose from {', '.join(DATASETS)})")
    return check_targets(_read(name, spec, spec.resolve(data.get("options", {})), base_dir,
                                max_memory))


def data_facts(data: Mapping[str, Any], base_dir: str | os.PathLike | None = None
               ) -> dict[str, Any]:
    """What reading a file dataset tells validation (``graph.validate.validate`` keywords): its
    sample shape, classes and task, or why it cannot be read. Image folders are not decoded
    (only their files' headers are opened). Built-in datasets declare theirs: {}."""
    spec = DATASETS.get(data.get("name")) if isinstance(data.get("name"), str) else None
    if spec is None or spec.kind != "file":
        return {}
    try:
        raw = read_raw(data, base_dir, max_memory=0)
    except DataError as exc:
        return {"data_error": str(exc)}
    if raw.x is not None:
        shape = tuple(int(d) for d in raw.x.shape[1:])
    else:
        (h, w), color = raw.image  # type: ignore[misc]
        shape = (1 if color == "grayscale" else 3, h, w)
    classes = len(raw.class_names) if raw.task == "classification" else None
    return {"data_shape": shape, "data_classes": classes, "data_task": raw.task}


def check_targets(raw: Raw) -> Raw:
    """Targets training can learn from: at least two classes, finite regression values."""
    if raw.task == "classification" and len(raw.class_names) < 2:
        only = f" ({raw.class_names[0]!r})" if raw.class_names else ""
        raise DataError(f"{raw.source}: the targets hold {len(raw.class_names)} class{only}; "
                        "classification needs at least two")
    if raw.task == "regression" and not np.isfinite(raw.y).all():
        row = int(np.argwhere(~np.isfinite(raw.y.reshape(len(raw.y), -1)))[0][0])
        raise DataError(f"{raw.source}: the target of sample {row} is NaN or infinite")
    return raw


def _read(name: str, spec, o: Mapping[str, Any], base_dir, max_memory: int) -> Raw:
    if spec.kind == "builtin":
        return load_builtin(name, o)
    if spec.kind == "synthetic":
        return load_synthetic(name, o)
    if name == "csv":
        return load_csv(resolve_path(o["path"], base_dir), o["target"], o["features"], o["task"],
                        o["header"], o["skip_rows"], o["delimiter"], o["missing"])
    if name == "npz":
        return load_npz(resolve_path(o["path"], base_dir), o["task"])
    if name == "images":
        return load_images(resolve_path(o["path"], base_dir, "folder"), o["size"], o["color"],
                           max_memory)
    if name == "idx":
        return load_idx(resolve_path(o["images"], base_dir, "images file"),
                        resolve_path(o["labels"], base_dir, "labels file"))
    raise DataError(f"no loader for dataset {name!r}")  # pragma: no cover
