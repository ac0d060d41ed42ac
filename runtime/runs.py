"""Run folders: what a training run writes, and every way of reading it back. No pickle.

:class:`RunFolder` owns the layout; nothing else builds a path inside a run. ``RUN_DIR``::

    design.json                    the design as trained (graph.fileformat.save)
    config.json                    resolved training settings, data settings, dataset info
                                   (sample shape, task, classes, normalization), device
    metrics.jsonl                  every event from "start" on, one JSON object per line
    log.txt                        human-readable log
    status.json                    {"status": "running" | "completed" | …, "epochs_completed",
                                   "step", "best", "pid", "host", "process", "updated"}
    checkpoints/best/              the best weights: model.safetensors, state.json
    checkpoints/last/              where training stands: model.safetensors,
                                   optimizer.safetensors (optimizer, scheduler, scaler and RNG
                                   tensors), state.json (their scalars and structure, the
                                   position)
    checkpoints/<kind>.previous/   the checkpoint it replaced, kept as a fallback

A checkpoint is written whole: into a temporary folder, every file fsynced, then
``manifest.json`` last (kind, step, epoch, a SHA-256 per file), then renamed into place (the
one it replaces becomes ``<kind>.previous``). Reading one verifies the manifest; a checkpoint
that is incomplete or altered is refused and the previous one is used, with a note saying so.
Runs written before manifests (``run_format`` 1) are read without them.

Optimizer/scheduler state dicts are split by :func:`flatten_state` into tensors (safetensors)
and a JSON tree that refers to them; :func:`unflatten_state` puts them back together.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as tensors_from_bytes, save as tensors_to_bytes

from graph.atomic import atomic_write_text, fsync_dir, fsync_file, remove_stale_temps, temp_path
from graph.design import Design
from graph.fileformat import DesignFileError, load as load_design, save as save_design
from graph.settings import check_data, check_training
from graph.summary import counted

from .compiler import Compiled, CompileError, compile_design
from .events import json_safe
from .paths import CHECKPOINT_KINDS
from .weights import migrate_names

RUN_FORMAT = 2  # 2: checkpoints carry a manifest
MAX_JSON_BYTES = 64 << 20  # config/status/state files larger than this are not read


class RunError(ValueError):
    """A run folder that cannot be used (missing, incomplete or damaged)."""


# ---- JSON ----------------------------------------------------------------------------------


def write_json(path: Path, obj: Any) -> None:
    """Atomic, strict JSON (no NaN or infinity)."""
    atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def read_json(path: Path) -> Any:
    """A JSON file of a run; :class:`RunError` names the file when it cannot be used."""
    try:
        if not path.is_file():
            raise RunError(f"{path}: missing" if not path.exists() else f"{path}: not a file")
        if path.stat().st_size > MAX_JSON_BYTES:
            raise RunError(f"{path}: too large to be a run file")
        return json.loads(path.read_text(encoding="utf-8"))
    except RunError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RunError(f"{path}: unreadable ({exc})") from None


# ---- the process that writes a run ---------------------------------------------------------


def process_identity(pid: int | None = None) -> dict[str, Any]:
    """``pid``, ``host`` and ``process`` (the process's start time where the system tells it,
    so a reused pid is not mistaken for the run's)."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "host": socket.gethostname(), "process": _start_time(pid)}


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields and fields[0] in ("Z", "X"):  # a zombie is a dead process
        return "dead"
    return fields[19] if len(fields) > 19 else None


def process_alive(status: Mapping[str, Any]) -> bool | None:
    """Is the process a status names still running? None when this machine cannot tell (no
    pid recorded, or another host)."""
    pid = status.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 \
            or status.get("host") != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        pass  # exists but is someone else's
    started = _start_time(pid)
    if started == "dead":
        return False
    recorded = status.get("process")
    return not (started is not None and recorded is not None and started != recorded)


# ---- tensors and state ---------------------------------------------------------------------


def _tensor_bytes(tensors: Mapping[str, torch.Tensor]) -> bytes:
    return tensors_to_bytes({k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()})


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        if not path.is_file():
            raise RunError(f"{path}: missing" if not path.exists() else f"{path}: not a file")
        return tensors_from_bytes(path.read_bytes())
    except RunError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
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
            if not isinstance(key, str) or key not in tensors:
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


def load_weights_into(module: torch.nn.Module, weights: Mapping[str, torch.Tensor],
                      where: str) -> None:
    """Load ``weights`` into ``module`` exactly (every key, every shape) or raise RunError.

    A ``module.`` (DistributedDataParallel) or ``_orig_mod.`` (torch.compile) prefix shared by
    every key is removed first, and names of an earlier module layout are migrated
    (:func:`runtime.weights.migrate_names`).
    """
    weights = dict(weights)
    for prefix in ("module.", "_orig_mod."):
        if weights and all(k.startswith(prefix) for k in weights):
            weights = {k[len(prefix):]: v for k, v in weights.items()}
    own = module.state_dict()
    weights = migrate_names(weights, own)  # saved before a layer's module layout changed
    missing = sorted(set(own) - set(weights))
    unexpected = sorted(set(weights) - set(own))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing[:5]) + (" …" if len(missing) > 5 else ""))
        if unexpected:
            parts.append("unexpected " + ", ".join(unexpected[:5])
                         + (" …" if len(unexpected) > 5 else ""))
        raise RunError(f"{where}: the weights do not fit the design ({'; '.join(parts)})")
    for key, value in weights.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise RunError(f"{where}: the weights do not fit the design (weight {key} has shape "
                           f"{tuple(value.shape)}, the design needs {tuple(own[key].shape)})")
    module.load_state_dict(weights, strict=True)


# ---- checkpoints ---------------------------------------------------------------------------


MANIFEST = "manifest.json"
WEIGHTS = "model.safetensors"
TRAINING_TENSORS = "optimizer.safetensors"
STATE = "state.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Checkpoint:
    """One verified checkpoint folder. ``note`` says when a newer one was refused for it."""

    kind: str
    dir: Path
    manifest: dict[str, Any]
    note: str | None = None

    @property
    def step(self) -> int | None:
        return self.manifest.get("step")

    @property
    def weights_file(self) -> Path:
        return self.dir / WEIGHTS

    def weights(self) -> dict[str, torch.Tensor]:
        return _read_tensors(self.weights_file)

    def info(self) -> dict[str, Any]:
        """``state.json`` of a ``best`` checkpoint: its epoch, step and metric."""
        info = read_json(self.dir / STATE) if (self.dir / STATE).exists() else {}
        return info if isinstance(info, dict) else {}

    def training_state(self) -> tuple[dict[str, Any], dict[str, Any], Callable[[], None]]:
        """``(state, parts, restore_rng)`` of a ``last`` checkpoint."""
        saved = read_json(self.dir / STATE)
        tensors = _read_tensors(self.dir / TRAINING_TENSORS)
        try:
            parts = {name: unflatten_state(tree, tensors) for name, tree in saved["parts"].items()}
            state, rng = saved["state"], saved["rng"]
            if not isinstance(state, dict) or not isinstance(rng, dict):
                raise TypeError("state and rng must be objects")
        except (KeyError, TypeError, AttributeError, ValueError, RecursionError) as exc:
            raise RunError(f"{self.dir / STATE}: damaged ({exc})") from None
        return state, parts, lambda: restore_rng(rng, tensors)


def write_checkpoint(checkpoints: Path, kind: str, files: Mapping[str, bytes],
                     step: int, epoch: int) -> Path:
    """Write a checkpoint whole: a temporary folder, each file fsynced, the manifest last,
    then renamed into ``checkpoints/<kind>`` (the old one becomes ``<kind>.previous``)."""
    checkpoints.mkdir(parents=True, exist_ok=True)
    final = checkpoints / kind
    tmp = temp_path(final, is_dir=True)
    try:
        sums = {}
        for name, data in files.items():
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            sums[name] = hashlib.sha256(data).hexdigest()
        manifest = {"format": RUN_FORMAT, "kind": kind, "step": step, "epoch": epoch,
                    "files": sums, "written": time.time()}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        fsync_file(tmp / MANIFEST)
        fsync_dir(tmp)
        previous = checkpoints / f"{kind}.previous"
        if final.exists():
            if previous.exists():
                shutil.rmtree(previous)
            os.replace(final, previous)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(checkpoints)
    return final


def verify_checkpoint(folder: Path, kind: str) -> dict[str, Any]:
    """The manifest of a complete, unaltered checkpoint; RunError says what is wrong."""
    if not folder.is_dir():
        raise RunError(f"{folder}: missing")
    manifest = read_json(folder / MANIFEST)
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or manifest.get("kind") != kind or not files:
        raise RunError(f"{folder / MANIFEST}: not a checkpoint manifest")
    for name, digest in files.items():
        path = folder / name
        if name != Path(name).name or not path.is_file():
            raise RunError(f"{path}: missing or not a file")
        if _sha256(path) != digest:
            raise RunError(f"{path}: does not match its checksum (altered or cut short)")
    return manifest


# ---- reading a run -------------------------------------------------------------------------


class RunFolder:
    """One run folder: where each of its files lives and how to read each of them."""

    DESIGN, CONFIG, STATUS, EVENTS, LOG = ("design.json", "config.json", "status.json",
                                           "metrics.jsonl", "log.txt")
    CHECKPOINTS = "checkpoints"
    MARKERS = (EVENTS, STATUS, CONFIG, DESIGN)  # any one of them makes a folder a run

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def checkpoints(self) -> Path:
        return self.path / self.CHECKPOINTS

    def is_run(self) -> bool:
        return self.path.is_dir() and any((self.path / f).exists() for f in self.MARKERS)

    def owned_names(self) -> tuple[str, ...]:
        """Every entry a run writes at its top level (temporary files aside)."""
        return (self.DESIGN, self.CONFIG, self.STATUS, self.EVENTS, self.LOG, self.CHECKPOINTS)

    # ---- files ----

    def config(self) -> dict[str, Any]:
        """``config.json``, checked: RunError names the file when it is missing or damaged."""
        return check_config(read_json(self.file(self.CONFIG)), self.file(self.CONFIG))

    def config_or_empty(self) -> dict[str, Any]:
        try:
            return self.config()
        except RunError:
            return {}

    def status(self, strict: bool = False) -> dict[str, Any]:
        """``status.json`` ({} when missing; when damaged too, unless ``strict``: then a
        RunError names it); a run whose process has died reads ``interrupted``, not
        ``running``."""
        path = self.file(self.STATUS)
        if not path.exists():
            return {}
        try:
            status = check_status(read_json(path), path)
        except RunError:
            if strict:
                raise
            return {}
        if status.get("status") == "running" and process_alive(status) is False:
            status = dict(status, status="interrupted",
                          message=status.get("message") or "the training process ended "
                          "without finishing the run (killed or crashed)")
        return status

    def mark_failed(self, message: str) -> bool:
        """Record that the run's process died without ending the run itself (crash, kill, out
        of memory); False when the run had already recorded its own end."""
        if not self.path.is_dir():
            return False
        try:
            status = read_json(self.file(self.STATUS))
        except RunError:
            status = {}
        status = status if isinstance(status, dict) else {}
        if status.get("status") not in (None, "running"):
            return False
        status.update(status="failed", message=message)
        write_json(self.file(self.STATUS), json_safe(status))
        return True

    def events(self) -> list[dict[str, Any]]:
        """Every event of ``metrics.jsonl`` (a damaged last line, from a crash, is skipped)."""
        try:
            text = self.file(self.EVENTS).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        out = []
        for line in text.splitlines():
            try:
                event = json.loads(line)
            except (ValueError, RecursionError):
                continue  # a line cut short by a crash
            if isinstance(event, dict):
                out.append(event)
        return out

    def epoch_records(self) -> list[dict[str, Any]]:
        """The ``epoch`` events in order (a resumed run's repeated epochs keep the last)."""
        by_epoch: dict[int, dict[str, Any]] = {}
        for event in self.events():
            if event.get("event") == "epoch" and isinstance(event.get("epoch"), int):
                by_epoch[event["epoch"]] = event
        return [by_epoch[k] for k in sorted(by_epoch)]

    def design(self) -> Design:
        path = self.file(self.DESIGN)
        if path.exists() and not path.is_file():
            raise RunError(f"{path}: not a file")
        try:
            return load_design(self.file(self.DESIGN))
        except DesignFileError as exc:
            raise RunError(str(exc)) from None

    def design_dict(self) -> dict[str, Any]:
        """The raw ``design.json`` ({} when unreadable), for comparing runs."""
        try:
            value = read_json(self.file(self.DESIGN))
        except RunError:
            return {}
        return value if isinstance(value, dict) else {}

    # ---- checkpoints ----

    def legacy(self) -> bool:
        """Written before checkpoints had manifests (``run_format`` 1), or by hand (no
        config); a damaged config is not taken for either."""
        path = self.file(self.CONFIG)
        if not path.exists():
            return True
        try:
            fmt = read_json(path).get("run_format", 1)
        except (RunError, AttributeError):
            return False
        return isinstance(fmt, int) and fmt < 2

    def has_checkpoint(self, kind: str) -> bool:
        """Is there a ``kind`` checkpoint to read (not yet verified)?"""
        _check_kind(kind)
        return any(os.path.lexists(self.checkpoints / name / WEIGHTS)
                   for name in (kind, f"{kind}.previous"))

    def available_checkpoints(self) -> list[str]:
        return [k for k in CHECKPOINT_KINDS if self.has_checkpoint(k)]

    @property
    def resumable(self) -> bool:
        return any((self.checkpoints / name / STATE).is_file()
                   for name in ("last", "last.previous"))

    def checkpoint(self, kind: str) -> Checkpoint:
        """The newest complete, verified ``kind`` checkpoint; falls back to the previous one
        (and says so in ``note``) when the newest is incomplete or altered."""
        _check_kind(kind)
        folder = self.checkpoints / kind
        if self.legacy():
            if not (folder / WEIGHTS).is_file():
                raise RunError(f"{self.path}: no {kind!r} checkpoint")
            return Checkpoint(kind, folder, {})
        try:
            return Checkpoint(kind, folder, verify_checkpoint(folder, kind))
        except RunError as exc:
            refused = str(exc)
        previous = self.checkpoints / f"{kind}.previous"
        try:
            manifest = verify_checkpoint(previous, kind)
        except RunError:
            if not folder.exists() and not previous.exists():
                raise RunError(f"{self.path}: no {kind!r} checkpoint") from None
            raise RunError(f"{self.path}: the {kind!r} checkpoint cannot be used ({refused}) "
                           "and there is no earlier one") from None
        return Checkpoint(kind, previous, manifest,
                          note=f"the newest {kind!r} checkpoint was refused ({refused}); using "
                          f"the previous one (step {manifest.get('step')})")

    # ---- writing (one writer per run: see RunWriter) ----

    def write_checkpoint(self, kind: str, files: Mapping[str, bytes], step: int,
                         epoch: int) -> Path:
        _check_kind(kind)
        return write_checkpoint(self.checkpoints, kind, files, step, epoch)

    def remove_stale_temps(self) -> list[Path]:
        """Temporary files and folders of writes a killed process left behind."""
        return remove_stale_temps(self.path) + remove_stale_temps(self.checkpoints)


def _check_kind(kind: str) -> None:
    if kind not in CHECKPOINT_KINDS:
        raise RunError(f"unknown checkpoint {kind!r} (use best or last)")


# ---- writing a run -------------------------------------------------------------------------


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


class RunWriter:
    """Writes one run folder. Only rank 0 of a distributed run should hold one."""

    def __init__(self, run_dir: str | os.PathLike, resume: bool = False):
        self.folder = RunFolder(run_dir)
        self.dir = self.folder.path
        if not resume and self.dir.exists() and any(self.dir.iterdir()):
            raise RunError(f"{self.dir}: the run folder exists and is not empty; pick another "
                           "with --run-dir, or continue it with --resume")
        self.folder.checkpoints.mkdir(parents=True, exist_ok=True)
        self.removed = self.folder.remove_stale_temps() if resume else []
        self._metrics = open(self.folder.file(RunFolder.EVENTS), "a", encoding="utf-8")
        if self._metrics.tell() and not _ends_with_newline(self.folder.file(RunFolder.EVENTS)):
            self._metrics.write("\n")  # a line cut short by a kill stays apart from the next
        self._log = open(self.folder.file(RunFolder.LOG), "a", encoding="utf-8")
        self._identity = process_identity()

    def write_design(self, design: Design) -> None:
        save_design(design, self.folder.file(RunFolder.DESIGN))

    def write_config(self, config: Mapping[str, Any]) -> None:
        write_json(self.folder.file(RunFolder.CONFIG),
                   json_safe(dict(config, run_format=RUN_FORMAT)))

    def event(self, event: Mapping[str, Any]) -> None:
        self._metrics.write(json.dumps(json_safe(dict(event)), allow_nan=False) + "\n")
        self._metrics.flush()

    def log(self, line: str) -> None:
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        for part in line.rstrip("\n").splitlines() or [""]:
            self._log.write(f"{stamp}  {part}\n")
        self._log.flush()

    def status(self, **fields: Any) -> None:
        """Write ``status.json``; a running run records its process, so readers can tell
        when it died."""
        if fields.get("status") == "running":
            fields.update(self._identity)
        write_json(self.folder.file(RunFolder.STATUS),
                   json_safe(dict(fields, updated=time.time())))

    def save_weights(self, kind: str, weights: torch.nn.Module | Mapping[str, torch.Tensor],
                     info: Mapping[str, Any], step: int, epoch: int) -> Path:
        """A ``best`` (or weights-only) checkpoint: the weights and ``info`` (epoch, metric)."""
        state = weights.state_dict() if isinstance(weights, torch.nn.Module) else weights
        files = {WEIGHTS: _tensor_bytes(state),
                 STATE: (json.dumps(json_safe(dict(info)), indent=2) + "\n").encode()}
        return self.folder.write_checkpoint(kind, files, step, epoch)

    def save_last(self, model: torch.nn.Module, state: Mapping[str, Any],
                  parts: Mapping[str, Any]) -> Path:
        """The ``last`` checkpoint in one piece: weights, optimizer/scheduler/scaler ``parts``
        and RNG states (tensors in safetensors, the rest in JSON) and ``state`` (position)."""
        tensors: dict[str, torch.Tensor] = {}
        trees: dict[str, Any] = {}
        for name, part in parts.items():
            tree, found = flatten_state(part, name)
            trees[name] = tree
            tensors.update(found)
        rng_info, rng_tensors = capture_rng()
        tensors.update(rng_tensors)
        saved = {"state": json_safe(dict(state)), "parts": trees, "rng": rng_info}
        files = {WEIGHTS: _tensor_bytes(model.state_dict()),
                 TRAINING_TENSORS: _tensor_bytes(tensors),
                 STATE: (json.dumps(saved, indent=2, allow_nan=False) + "\n").encode()}
        return self.folder.write_checkpoint("last", files, int(state.get("step", 0)),
                                            int(state.get("epoch", 0)))

    def close(self) -> None:
        self._metrics.close()
        self._log.close()


# ---- a run read back -----------------------------------------------------------------------


@dataclass
class Run:
    """A run folder read back: its design, its configuration and its weights."""

    folder: RunFolder
    design: Design
    config: dict[str, Any]
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return self.folder.path

    def has_checkpoint(self, kind: str) -> bool:
        return self.folder.has_checkpoint(kind)

    def checkpoint(self, kind: str = "best") -> Checkpoint:
        """``kind``'s verified checkpoint; ``best`` falls back to ``last`` when there is no
        best yet (a run stopped in its first epoch)."""
        if kind == "best" and not self.has_checkpoint("best") and self.has_checkpoint("last"):
            kind = "last"
        return self.folder.checkpoint(kind)

    def build_model(self, checkpoint: str | Checkpoint = "best",
                    device: torch.device | str = "cpu") -> Compiled:
        """The compiled design with the ``best`` or ``last`` weights (or those of a checkpoint
        already found) loaded, in eval mode."""
        try:
            compiled = compile_design(self.design)
        except CompileError as exc:
            raise RunError(f"{self.folder.file(RunFolder.DESIGN)}: {exc}") from None
        found = checkpoint if isinstance(checkpoint, Checkpoint) else self.checkpoint(checkpoint)
        load_weights_into(compiled.module, found.weights(), str(found.dir))
        compiled.module.to(device).eval()
        return compiled

    @property
    def dataset(self) -> dict[str, Any]:
        """Dataset info as recorded at training time (see :class:`runtime.data.DataInfo`)."""
        return self.config.get("dataset", {})

    def events(self) -> list[dict[str, Any]]:
        return self.folder.events()


def load_run(run_dir: str | os.PathLike) -> Run:
    """Read a run folder; :class:`RunError` says what is missing or damaged."""
    folder = RunFolder(run_dir)
    if not folder.path.is_dir():
        raise RunError(f"{folder.path}: no such run folder")
    design = folder.design()
    return Run(folder, design, folder.config(), folder.status(strict=True))


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
            _check_normalization_sizes(config["dataset"], path)
    return config


def _flat_length(values: list) -> int:
    return sum(_flat_length(v) if isinstance(v, list) else 1 for v in values)


def _check_normalization_sizes(dataset: dict[str, Any], path: Path) -> None:
    """The normalization vectors hold one value per feature, channel or target: a RunError
    when their lengths do not fit the recorded sample and target shapes."""
    norm, shape = dataset["normalization"], dataset.get("sample_shape")
    wanted = {"mean": None, "std": None, "target_mean": None, "target_std": None}
    if shape and norm.get("axis") in ("feature", "channel"):
        size = shape[-1] if norm["axis"] == "feature" else shape[0]
        wanted.update(mean=(size, f"one per {norm['axis']}"), std=(size, f"one per {norm['axis']}"))
    if "target_shape" in dataset:
        targets = math.prod(dataset["target_shape"])
        wanted.update(target_mean=(targets, "one per target"),
                      target_std=(targets, "one per target"))
    for key, want in wanted.items():
        value = norm.get(key)
        if want and isinstance(value, list) and _flat_length(value) != want[0]:
            raise RunError(f"{path}: dataset.normalization.{key} holds "
                           f"{counted(_flat_length(value), 'number')}, but the data needs {want[0]} ({want[1]}); the file is "
                           "damaged or was edited by hand")


def check_status(status: Any, path: Path) -> dict[str, Any]:
    """``status`` (read from ``path``) when it has the structure the trainer writes; else a
    :class:`RunError` naming the file and the field."""
    _check_fields(status, STATUS_FIELDS, path)
    return status
