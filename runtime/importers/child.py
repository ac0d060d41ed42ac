"""The child process that imports sources which run code (``.pt2``, ``file.py:ClassName``).

Run as ``python -m runtime.importers.child REQUEST_JSON``; it writes ``design.json``,
``weights.safetensors`` and ``report.json`` (unmapped operators, the largest difference from
the source model on random inputs, or an error message) into the request's ``out`` folder.
Nothing but those files comes back to the caller.
"""
from __future__ import annotations

import importlib.util
import json
import sys
import uuid
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .builder import ConversionError, UnsupportedModel

CHECK_BATCH = 3
TRACE_BATCH = 2


def load_class(spec: str, args: Any) -> tuple[torch.nn.Module, Any, torch.dtype]:
    """``file.py:ClassName`` instantiated with ``args`` (a list, an object, or None), the
    file's ``INPUT_SHAPE`` when it declares one, and its ``INPUT_DTYPE`` (else float32; token
    ids are int64, as Netwright's exports declare them)."""
    file, _, class_name = spec.rpartition(":")
    path = Path(file)
    if not path.is_file():
        raise ConversionError(f"{file}: no such file")
    module_spec = importlib.util.spec_from_file_location(f"netwright_import_{uuid.uuid4().hex}", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module
    module_spec.loader.exec_module(module)
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ConversionError(f"{file} has no nn.Module class {class_name!r}")
    if isinstance(args, dict):
        model = cls(**args)
    elif isinstance(args, list):
        model = cls(*args)
    else:
        model = cls()
    declared = getattr(module, "INPUT_SHAPE", None)
    if isinstance(declared, (list, tuple)) and declared and declared[0] is None:
        declared = declared[1:]  # Netwright's exports write the batch as None
    dtype = getattr(module, "INPUT_DTYPE", None)
    return model.eval(), declared, dtype if isinstance(dtype, torch.dtype) else torch.float32


def export_module(model: torch.nn.Module, shape: list[int],
                  dtype: torch.dtype = torch.float32) -> torch.export.ExportedProgram:
    """``torch.export`` with a dynamic batch, so reshapes keep the batch symbolic; integer
    inputs (token ids) are traced with zeros, a valid id for any vocabulary."""
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    example = (torch.randn(TRACE_BATCH, *shape) if dtype.is_floating_point
               else torch.zeros(TRACE_BATCH, *shape, dtype=dtype),)
    return torch.export.export(model, example, dynamic_shapes=({0: batch},))


def run(request: dict[str, Any]) -> dict[str, Any]:
    from graph.fileformat import save
    from safetensors.torch import save_file

    from .hierarchy import module_classes, nest
    from .torch_import import import_program

    source, out = request["source"], Path(request["out"])
    if source.endswith(".pt2"):
        program = torch.export.load(source)
        reference = program.module()
        name = Path(source).stem
    else:
        reference, declared, dtype = load_class(source, request.get("args"))
        shape = request.get("input_shape") or declared
        if not shape:
            raise ConversionError("give the input shape (without the batch), e.g. [3, 224, 224]; "
                                  "the file declares no INPUT_SHAPE")
        program = export_module(reference, list(shape), dtype)
        name = source.rpartition(":")[2]
    imported = import_program(program, name, placeholders=request.get("placeholders", False))
    if not request.get("flat"):
        imported = nest(imported, module_classes(n.meta.get("nn_module_stack")
                                                 for n in program.graph.nodes))
    report: dict[str, Any] = {"unmapped": [asdict(u) for u in imported.unmapped],
                              "notes": imported.notes}
    if not imported.unmapped:
        report["max_diff"] = compare(reference, imported)
    save(imported.design, out / "design.json")
    save_file({k: v.contiguous() for k, v in imported.weights.items()}, str(out / "weights.safetensors"))
    return report


def compare(reference, imported) -> float:
    """Largest difference between the source model and the imported design on random inputs."""
    from ..compiler import compile_design, example_inputs
    from ..export import load_weights

    compiled = compile_design(imported.design)
    load_weights(compiled.module, imported.weights, "import")
    inputs = example_inputs(compiled, imported.design, CHECK_BATCH, torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, actual = reference(*inputs), compiled.module.eval()(*inputs)
    expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    actual = [actual] if isinstance(actual, torch.Tensor) else list(actual)
    return max(float((e.double() - a.double()).abs().max()) for e, a in zip(expected, actual))


def main() -> int:
    request = json.loads(sys.argv[1])
    out = Path(request["out"])
    warnings.simplefilter("ignore")
    try:
        report = run(request)
    except UnsupportedModel as exc:
        report = {"unmapped": [asdict(u) for u in exc.unmapped]}
    except Exception as exc:  # user code and torch.export fail in every way; report, don't crash
        report = {"error": f"{request['source']}: {type(exc).__name__}: {exc}"}
    (out / "report.json").write_text(json.dumps(report), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
