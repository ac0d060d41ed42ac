"""Run folders: what a training run writes, and how to read it back. No pickle anywhere.

Layout of ``RUN_DIR`` (shared with the exporters and the app)::

    design.json                    the design as trained (graph.fileformat.save)
    config.json                    resolved training settings, data settings, dataset info
                                   (sample shape, task, classes, normalization), device
    metrics.jsonl                  every event from "start" on, one JSON object per line
    log.txt                        human-readable log
    status.json                    {"status": "running" | "completed" | …, "epoch", "step", …}
    checkpoints/best/model.safetensors   weights (state_dict of the compiled GraphModule)
    checkpoints/best/state.json          epoch, step and metric of the best weights
    checkpoints/last/model.safetensors
    checkpoints/last/optimizer.safetensors   optimizer, scheduler, scaler and RNG tensors
    checkpoints/last/state.json              their scalars and structure, plus the position

Optimizer/scheduler state dicts are split by :func:`flatten_state` into tensors (safetensors)
and a JSON tree that refers to them; :func:`unflatten_state` puts them back together.
"""
from __future__ import annotations

import json
import math
import os
import random
import secrets
import stat
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from graph.design import Design
from graph.fileformat import DesignFileError, atomic_write_text, load, save

from .compiler import Compiled, CompileError, compile_design
from .paths import folder_name

RUN_FORMAT = 1
CHECKPOINT_KINDS = ("best", "last")


class RunError(ValueError):
    """A run folder that cannot be used (missing, incomplete or damaged)."""


# ---- run folders -----------------------------------------------------------------------------


def default_run_dir(design_stem: str, root: str | os.PathLike = "runs") -> Path:
    """``runs/<design-stem>-<YYYYmmdd-HHMMSS>`` (with ``-2``, ``-3`` … if taken)."""
    stem = folder_name(design_stem)
    base = Path(root) / f"{stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    path, i = base, 2
    while path.exists():
        path = base.with_name(f"{base.name}-{i}")
        i += 1
    return path


def write_json(path: Path, obj: Any) -> None:
    """Atomic, strict JSON (no NaN or infinity)."""
    atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: unreadable ({exc})") from None


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as None and tuples as lists (for strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return json_safe(float(value))
    return value


class RunWriter:
    """Writes one run folder. Only rank 0 of a distributed run should hold one."""

    def __init__(self, run_dir: str | os.PathLike, resume: bool = False):
        self.dir = Path(run_dir)
        if not resume and self.dir.exists() and any(self.dir.iterdir()):
            raise RunError(f"{self.dir}: the run folder exists and is not empty; pick another "
                           "with --run-dir, or continue it with --resume")
        (self.dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        self._metrics = open(self.dir / "metrics.jsonl", "a", encoding="utf-8")
        self._log = open(self.dir / "log.txt", "a", encoding="utf-8")

    def write_design(self, design: Design) -> None:
        save(design, self.dir / "design.json")

    def write_config(self, config: Mapping[str, Any]) -> None:
        write_json(self.dir / "config.json", json_safe(dict(config, run_format=RUN_FORMAT)))

    def event(self, event: Mapping[str, Any]) -> None:
        self._metrics.write(json.dumps(json_safe(event), allow_nan=False) + "\n")
        self._metrics.flush()

    def log(self, line: str) -> None:
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        for part in line.rstrip("\n").splitlines() or [""]:
            self._log.write(f"{stamp}  {part}\n")
        self._log.flush()

    def status(self, **fields: Any) -> None:
        write_json(self.dir / "status.json", json_safe(dict(fields, updated=time.time())))

    def close(self) -> None:
        self._metrics.close()
        self._log.close()


# ---- tensors and state ---------------------------------------------------------------------


def _save_tensors(tensors: Mapping[str, torch.Tensor], path: Path) -> None:
    """safetensors, written atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    while True:  # 0666 less the umask, like any new file (mkstemp would make it owner-only)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:  # pragma: no cover - a 32-bit random name collided
            continue
    try:
        mode = stat.S_IMODE(tmp.stat().st_mode)
        save_file(plain, str(tmp))
        os.chmod(tmp, mode)  # safetensors writes a fresh, owner-only file
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise RunError(f"{path}: missing") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise RunError(f"{path}: not a readable safetensors file ({exc})") from None


def flatten_state(obj: Any, prefix: str = "") -> tuple[Any, dict[str, torch.Tensor]]:
    """Split a state dict into a JSON tree and its tensors.

    Tensors become ``{"__tensor__": key}``, tuples ``{"__tuple__": [...]}``, dicts with
    non-text keys ``{"__items__": [[key, value], ...]}`` and non-finite floats
    ``{"__float__": "inf"}``. Anything else that JSON cannot hold is refused.
    """
    tensors: dict[str, torch.Tensor] = {}

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            key = path or "value"
            tensors[key] = value
            return {"__tensor__": key}
        if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, tuple):
            return {"__tuple__": [walk(v, f"{path}.{i}") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [walk(v, f"{path}.{i}") for i, v in enumerate(value)]
        if isinstance(value, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in value):
                return {k: walk(v, f"{path}.{k}" if path else k) for k, v in value.items()}
            return {"__items__": [[walk(k, f"{path}.k{i}"), walk(v, f"{path}.{k}")]
                                  for i, (k, v) in enumerate(value.items())]}
        if isinstance(value, (np.integer, np.floating)):
            return walk(value.item(), path)
        raise TypeError(f"cannot store {type(value).__name__} at {path or 'top level'} "
                        "in a checkpoint")

    tree = walk(obj, prefix)
    return tree, tensors


def unflatten_state(tree: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """The inverse of :func:`flatten_state`."""
    if isinstance(tree, list):
        return [unflatten_state(v, tensors) for v in tree]
    if isinstance(tree, dict):
        if "__tensor__" in tree:
            key = tree["__tensor__"]
            if key not in tensors:
                raise RunError(f"checkpoint tensor {key!r} is missing")
            return tensors[key]
        if "__tuple__" in tree:
            return tuple(unflatten_state(v, tensors) for v in tree["__tuple__"])
        if "__float__" in tree:
            return float(tree["__float__"])
        if "__items__" in tree:
            return {unflatten_state(k, tensors): unflatten_state(v, tensors)
                    for k, v in tree["__items__"]}
        return {k: unflatten_state(v, tensors) for k, v in tree.items()}
    return tree


def capture_rng() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Python, NumPy and torch (CPU and CUDA) random states: scalars and uint8 tensors."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    name, keys, pos, has_gauss, cached = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.ascontiguousarray(keys, dtype=np.uint32).view(np.uint8).copy())
    py_version, py_state, py_gauss = random.getstate()
    info = {"numpy": {"name": name, "pos": int(pos), "has_gauss": int(has_gauss),
                      "cached_gaussian": float(cached)},
            "python": {"version": py_version, "state": list(py_state), "gauss": py_gauss}}
    return info, tensors


def restore_rng(info: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> None:
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    cuda = sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k[9:]))
    if cuda and torch.cuda.is_available():
        states = [tensors[k] for k in cuda][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(states)
    if "rng.numpy" in tensors and "numpy" in info:
        n = info["numpy"]
        keys = tensors["rng.numpy"].numpy().view(np.uint32)
        np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    if "python" in info:
        p = info["python"]
        random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


# ---- checkpoints -----------------------------------------------------------------------------


def checkpoint_dir(run_dir: str | os.PathLike, kind: str) -> Path:
    if kind not in CHECKPOINT_KINDS:
        raise RunError(f"unknown checkpoint {kind!r} (use best or last)")
    return Path(run_dir) / "checkpoints" / kind


def save_weights(run_dir: str | os.PathLike, kind: str,
                 weights: torch.nn.Module | Mapping[str, torch.Tensor],
                 info: Mapping[str, Any]) -> Path:
    """Write ``checkpoints/<kind>/model.safetensors`` (a module's state dict, or a state dict)
    and, for ``best``, its epoch and metric in ``state.json``."""
    folder = checkpoint_dir(run_dir, kind)
    state = weights.state_dict() if isinstance(weights, torch.nn.Module) else weights
    _save_tensors(state, folder / "model.safetensors")
    if kind == "best":
        write_json(folder / "state.json", json_safe(info))
    return folder


def save_training_state(run_dir: str | os.PathLike, state: Mapping[str, Any],
                        parts: Mapping[str, Any]) -> None:
    """Write ``checkpoints/last/optimizer.safetensors`` and ``state.json``.

    ``parts`` maps names (``optimizer``, ``scheduler``, ``scaler``) to state dicts; the RNG
    states are captured here. ``state`` holds the plain position and bookkeeping.
    """
    folder = checkpoint_dir(run_dir, "last")
    tensors: dict[str, torch.Tensor] = {}
    trees: dict[str, Any] = {}
    for name, part in parts.items():
        tree, found = flatten_state(part, name)
        trees[name] = tree
        tensors.update(found)
    rng_info, rng_tensors = capture_rng()
    tensors.update(rng_tensors)
    _save_tensors(tensors, folder / "optimizer.safetensors")
    write_json(folder / "state.json", {"state": json_safe(dict(state)), "parts": trees,
                                       "rng": rng_info})


def load_training_state(run_dir: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any],
                                                              Callable[[], None]]:
    """``(state, parts, restore_rng)`` from the ``last`` checkpoint."""
    folder = checkpoint_dir(run_dir, "last")
    saved = read_json(folder / "state.json")
    tensors = _load_tensors(folder / "optimizer.safetensors")
    try:
        parts = {name: unflatten_state(tree, tensors) for name, tree in saved["parts"].items()}
        state = saved["state"]
        rng = saved["rng"]
    except (KeyError, TypeError) as exc:
        raise RunError(f"{folder / 'state.json'}: damaged ({exc})") from None
    return state, parts, lambda: restore_rng(rng, tensors)


def load_weights(run_dir: str | os.PathLike, kind: str) -> dict[str, torch.Tensor]:
    return _load_tensors(checkpoint_dir(run_dir, kind) / "model.safetensors")


# ---- reading a run back --------------------------------------------------------------------


@dataclass
class Run:
    """A run folder read back: its design, its configuration and its weights."""

    dir: Path
    design: Design
    config: dict[str, Any]
    status: dict[str, Any] = field(default_factory=dict)

    def has_checkpoint(self, kind: str) -> bool:
        return (checkpoint_dir(self.dir, kind) / "model.safetensors").exists()

    def build_model(self, checkpoint: str = "best", device: torch.device | str = "cpu") -> Compiled:
        """The compiled design with the ``best`` or ``last`` weights loaded, in eval mode."""
        try:
            compiled = compile_design(self.design)
        except CompileError as exc:
            raise RunError(f"{self.dir / 'design.json'}: {exc}") from None
        kind = checkpoint
        if kind == "best" and not self.has_checkpoint("best") and self.has_checkpoint("last"):
            kind = "last"
        weights = load_weights(self.dir, kind)
        try:
            compiled.module.load_state_dict(weights)
        except RuntimeError as exc:
            raise RunError(f"{checkpoint_dir(self.dir, kind)}: the weights do not fit the design "
                           f"({str(exc).splitlines()[0]})") from None
        compiled.module.to(device).eval()
        return compiled

    @property
    def dataset(self) -> dict[str, Any]:
        """Dataset info as recorded at training time (see :class:`runtime.data.DataInfo`)."""
        return self.config.get("dataset", {})

    def events(self) -> list[dict[str, Any]]:
        """Every event of ``metrics.jsonl`` (a damaged last line, from a crash, is skipped)."""
        path = self.dir / "metrics.jsonl"
        out = []
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out


def load_run(run_dir: str | os.PathLike) -> Run:
    """Read a run folder; :class:`RunError` says what is missing or damaged."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunError(f"{path}: no such run folder")
    try:
        design = load(path / "design.json")
    except DesignFileError as exc:
        raise RunError(str(exc)) from None
    config = check_config(read_json(path / "config.json"), path / "config.json")
    status = (check_status(read_json(path / "status.json"), path / "status.json")
              if (path / "status.json").exists() else {})
    return Run(path, design, config, status)


# What the trainer writes in config.json and status.json, checked wherever they are read back:
# a damaged or hand-edited file is one RunError naming the file and the field.
_NUMBER = (int, float)


def _is(kind, optional: bool = False) -> Callable[[Any], bool]:
    return lambda v: (optional and v is None) or (isinstance(v, kind) and not isinstance(v, bool)
                                                   or kind is bool and isinstance(v, bool))


def _numbers(v: Any) -> bool:
    return isinstance(v, list) and all(_numbers(x) if isinstance(x, list) else
                                       _is(_NUMBER)(x) for x in v)


def _counts(v: Any) -> bool:
    return isinstance(v, list) and all(_is(int)(x) and x >= 0 for x in v)


DATASET_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "task": (lambda v: v in ("classification", "regression"), "classification or regression"),
    "sample_shape": (lambda v: _counts(v) and all(x > 0 for x in v), "a list of sizes"),
    "target_shape": (_counts, "a list of sizes"),
    "x_dtype": (lambda v: v in ("float32", "int64"), "float32 or int64"),
    "num_classes": (lambda v: v is None or _is(int)(v) and v >= 0, "a whole number"),
    "class_names": (lambda v: v is None or isinstance(v, list)
                    and all(isinstance(x, str) for x in v), "a list of texts"),
    "sizes": (lambda v: isinstance(v, dict) and all(_is(int)(x) and x >= 0 for x in v.values()),
              "sample counts per split"),
    "source": (_is(str), "text"),
}
NORMALIZATION_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "axis": (lambda v: v in ("none", "feature", "channel"), "none, feature or channel"),
    "input_scale": (_is(_NUMBER), "a number"),
    "mean": (_numbers, "a list of numbers"),
    "std": (_numbers, "a list of numbers"),
    "target_mean": (lambda v: v is None or _numbers(v), "a list of numbers"),
    "target_std": (lambda v: v is None or _numbers(v), "a list of numbers"),
}
STATUS_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "status": (_is(str), "text"),
    "epochs_completed": (lambda v: _is(int)(v) and v >= 0, "a whole number"),
    "step": (lambda v: _is(int)(v) and v >= 0, "a whole number"),
    "message": (_is(str, optional=True), "text"),
    "best": (lambda v: v is None or isinstance(v, dict) and _is(str, True)(v.get("metric"))
             and _is(_NUMBER, True)(v.get("value")) and _is(int, True)(v.get("epoch")),
             "an object with metric, value and epoch"),
}


def _check_fields(obj: Any, fields: Mapping[str, tuple[Callable[[Any], bool], str]],
                  path: Path, prefix: str = "") -> None:
    if not isinstance(obj, dict):
        raise RunError(f"{path}: {prefix.rstrip('.') or 'the file'} must be a JSON object; the file "
                       "is damaged or was edited by hand")
    for key, (ok, what) in fields.items():
        if key in obj and not ok(obj[key]):
            raise RunError(f"{path}: {prefix}{key} must be {what}, not "
                           f"{json.dumps(obj[key])[:40]}; the file is damaged or was edited by hand")


def check_config(config: Any, path: Path) -> dict[str, Any]:
    """``config`` (read from ``path``) when it has the structure the trainer writes; else a
    :class:`RunError` naming the file and the field."""
    from graph.settings import check_data, check_training

    _check_fields(config, {"training": (lambda v: isinstance(v, dict), "an object"),
                           "data": (lambda v: isinstance(v, dict), "an object"),
                           "dataset": (lambda v: isinstance(v, dict), "an object"),
                           "base_dir": (_is(str, optional=True), "a folder"),
                           "device": (_is(str, optional=True), "a device")}, path)
    for key in ("training", "data"):
        if key not in config:
            raise RunError(f"{path}: {key} is missing; the file is damaged or was edited by hand")
    problems = ([(f"training.{k}", m) for k, m in check_training(config["training"])]
                + [(f"data.{k}", m) for k, m in check_data(config["data"])])
    if problems:
        raise RunError(f"{path}: {problems[0][0]} {problems[0][1]}")
    if "dataset" in config:
        _check_fields(config["dataset"], DATASET_FIELDS, path, "dataset.")
        if "normalization" in config["dataset"]:
            _check_fields(config["dataset"]["normalization"], NORMALIZATION_FIELDS, path,
                          "dataset.normalization.")
    return config


def check_status(status: Any, path: Path) -> dict[str, Any]:
    """``status`` (read from ``path``) when it has the structure the trainer writes; else a
    :class:`RunError` naming the file and the field."""
    _check_fields(status, STATUS_FIELDS, path)
    return status
