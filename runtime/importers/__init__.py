"""Bring models in: ONNX files, ``torch.export`` programs and ``nn.Module`` classes → designs.

* ``.onnx`` is parsed as data in this process (:mod:`.onnx_import`).
* ``.pt2`` and ``file.py:ClassName`` run code — ``torch.export.load`` unpickles, and a Python
  file is a program — so they are converted in a child process (:mod:`.child`) and only after
  the caller says so (``allow_code=True``); what comes back is data: a design and safetensors.

Every import either maps each operator onto catalog layers or lists those it cannot
(:class:`UnsupportedModel`); with ``placeholders=True`` they come in as ``Unsupported`` nodes,
marked as errors. The initial weights are written beside the design (:func:`save_imported`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from .builder import ConversionError, Imported, Unmapped, UnsupportedModel, describe_unmapped

__all__ = ["CodeImportRefused", "ConversionError", "Imported", "Unmapped", "UnsupportedModel",
           "describe_unmapped", "import_model", "needs_code", "preprocessing_note", "python_source",
           "save_imported", "CODE_WARNING"]

CODE_WARNING = ("Importing a .pt2 program or a Python file runs code from that file (torch.export "
                "programs are unpickled). Only import files you trust.")
CHILD_TIMEOUT_S = 600


class CodeImportRefused(PermissionError):
    """A source that runs code, imported without ``allow_code``."""


def python_source(source: str) -> tuple[str, str]:
    """``file.py:ClassName`` → ``("file.py", "ClassName")``; another source → ``(source, "")``."""
    if ".py:" in source:
        file, _, class_name = source.rpartition(":")
        return file, class_name.strip()
    return source, ""


def needs_code(source: str) -> bool:
    """True when importing ``source`` runs code from it (``.pt2``, ``file.py:Class``)."""
    return python_source(source)[0].endswith((".pt2", ".py"))


def import_model(source: str | os.PathLike, *, placeholders: bool = False, allow_code: bool = False,
                 input_shape: Sequence[int] | None = None, args: Any = None,
                 flat: bool = False) -> Imported:
    """Convert ``source`` (``model.onnx``, ``program.pt2`` or ``file.py:ClassName``).

    ``input_shape`` (without the batch) and ``args`` (constructor arguments: a JSON list or
    object) are for Python classes; ``INPUT_SHAPE`` in the file is used when no shape is given.
    Submodules become blocks (:mod:`.hierarchy`) unless ``flat``.
    """
    source = str(source)
    if not needs_code(source):
        from .hierarchy import nest
        from .onnx_import import import_onnx

        if not Path(source).is_file():
            raise ConversionError(f"{source}: no such file")
        if source.endswith((".pt", ".pth", ".bin", ".safetensors")):
            raise ConversionError(f"{Path(source).name} holds weights, not a model: import the "
                                  "model (.onnx, .pt2 or file.py:ClassName) or open its design, "
                                  "then load these with File ▸ Load Weights… (python main.py "
                                  "weights DESIGN FILE)")
        if not source.endswith(".onnx"):
            raise ConversionError(f"{source}: import reads .onnx, .pt2 or file.py:ClassName")
        imported = import_onnx(source, placeholders=placeholders)
        return imported if flat else nest(imported)
    file, class_name = python_source(source)
    if file.endswith(".py") and not class_name:
        name = Path(file).name
        raise ConversionError(f"{name}: name the nn.Module class to import, as {name}:ClassName")
    if not allow_code:
        raise CodeImportRefused(CODE_WARNING)
    return _import_in_child(_absolute(source), placeholders, _sample_shape(input_shape),
                            _ctor_args(args), flat)


def _absolute(source: str) -> str:
    """``source`` with its file made absolute: the child process runs in another folder."""
    file, class_name = python_source(source)
    return str(Path(file).expanduser().resolve()) + (f":{class_name}" if class_name else "")


def _sample_shape(shape: Any) -> list | None:
    """A sample shape as given (a list of sizes; for a model with several inputs, a list of
    them), or a ConversionError."""
    if shape is None:
        return None
    several = isinstance(shape, (list, tuple)) and shape and all(isinstance(s, list) for s in shape)
    if not all(_sizes(s) for s in (shape if several else [shape])):
        raise ConversionError(f"the input shape must be a list of sizes without the batch, "
                              f"written in JSON such as [1, 8, 8] or [64] (one per input for "
                              f"several: [[1, 8, 8], [1, 8, 8]]); not {shape!r}"[:240])
    return [list(s) for s in shape] if several else list(shape)


def _sizes(shape: Any) -> bool:
    return isinstance(shape, (list, tuple)) and bool(shape) and all(
        isinstance(d, int) and not isinstance(d, bool) and 0 < d < 2 ** 31 for d in shape)


def _ctor_args(args: Any) -> Any:
    if args is not None and not isinstance(args, (list, dict)):
        raise ConversionError(f"constructor arguments must be a JSON list or object, such as "
                              f'{{"num_classes": 10}}; not {args!r}'[:200])
    return args


def _import_in_child(source: str, placeholders: bool, input_shape, args, flat: bool) -> Imported:
    from graph.fileformat import DesignFileError, load

    from ..export import _read_safetensors

    with tempfile.TemporaryDirectory(prefix="netwright-import-") as tmp:
        request = {"source": source, "placeholders": placeholders, "args": args, "flat": flat,
                   "input_shape": list(input_shape) if input_shape else None, "out": tmp}
        root = Path(__file__).resolve().parents[2]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root),
                                                                        os.environ.get("PYTHONPATH")])))
        try:
            done = subprocess.run([sys.executable, "-m", "runtime.importers.child", json.dumps(request)],
                                  capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=env,
                                  cwd=str(root))
        except subprocess.TimeoutExpired:
            raise ConversionError(f"{source}: import took longer than {CHILD_TIMEOUT_S} s") from None
        report_file = Path(tmp) / "report.json"
        if not report_file.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise ConversionError(f"{source}: the import process failed (exit {done.returncode}): "
                                  + " | ".join(tail))
        report = json.loads(report_file.read_text(encoding="utf-8"))
        unmapped = [Unmapped(**u) for u in report.get("unmapped", [])]
        if report.get("error"):
            raise ConversionError(report["error"])
        if unmapped and not placeholders:
            raise UnsupportedModel(source, unmapped)
        try:
            design = load(Path(tmp) / "design.json")
        except DesignFileError as exc:
            raise ConversionError(f"{source}: the import produced a broken design ({exc})") from None
        weights = _read_safetensors(Path(tmp) / "weights.safetensors")
        notes = [str(n) for n in report.get("notes", [])]
        return Imported(design, weights, unmapped, source, report.get("max_diff"), notes=notes)


def preprocessing_note(design) -> str:
    """What an imported model is fed: its accuracy holds only when the design's data settings
    prepare inputs as the source model's training did, which no model file records."""
    from graph.catalog import CATALOG
    from graph.settings import DATA_PARAMS, DATASETS

    normalize = next(p for p in DATA_PARAMS if p.name == "normalize")
    data = design.data
    spec = DATASETS.get(data.get("name"))
    on = data.get("normalize", normalize.default)
    how = ("standardized with the training split's statistics" if on else "as the dataset stores them")
    scale = CATALOG["Scale"].label
    return (f"Inputs reach the model as the design's data settings prepare them: "
            f"{spec.title if spec else data.get('name')}, {normalize.title} "
            f"{'on' if on else 'off'} ({how}). They must match how the source model was "
            f"trained, or its accuracy drops. For a fixed scaling such as pixels ÷ 16, turn "
            f"{normalize.title} off and put a {scale} layer (x·factor + offset) after the Input.")


def save_imported(imported: Imported, path: str | os.PathLike) -> Path:
    """Write the design to ``path`` and its weights to ``<stem>.safetensors`` beside it, named
    in the design as its initial weights. Returns the weights file."""
    from safetensors.torch import save_file

    from graph.fileformat import save

    path = Path(path)
    weights_file = path.with_suffix(".safetensors")
    tensors = {k: v.detach().cpu().contiguous() for k, v in imported.weights.items()}
    save_file(tensors, str(weights_file), metadata={"producer": "netwright import",
                                                    "source": Path(imported.source).name[:200]})
    set_initial = getattr(imported.design, "set_initial_weights", None)
    if set_initial is not None:
        set_initial(weights_file.name)
    save(imported.design, path)
    return weights_file
