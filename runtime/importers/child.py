"""The child process that imports sources which run code (``.pt2``, ``file.py:ClassName``).

Run as ``python -m runtime.importers.child REQUEST_JSON``; it writes ``design.json``,
``weights.safetensors`` and ``report.json`` (unmapped operators, the largest difference from
the source model on random inputs, or an error message) into the request's ``out`` folder.
Nothing but those files comes back to the caller.
"""
from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import uuid
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from .builder import ConversionError, Imported, UnsupportedModel

CHECK_BATCH = 3
TRACE_BATCH = 2


class UserCodeError(Exception):
    """The imported file's own code failed (running the file, or constructing the class)."""


def load_class(spec: str, args: Any) -> tuple[torch.nn.Module, Any, Any]:
    """``file.py:ClassName`` instantiated with ``args`` (a list, an object, or None), the
    file's ``INPUT_SHAPE`` when it declares one, and its ``INPUT_DTYPE`` (one, or one per
    input; else int64 token ids when the model's first layer is an ``nn.Embedding``, float32
    otherwise)."""
    file, _, class_name = spec.rpartition(":")
    path = Path(file)
    if not path.is_file():
        raise ConversionError("no such file")
    module_spec = importlib.util.spec_from_file_location(f"netwright_import_{uuid.uuid4().hex}", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        raise UserCodeError(f"running {path.name} failed: {_brief(exc)}") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ConversionError(f"no nn.Module class named {class_name!r} in the file")
    try:
        model = cls(**args) if isinstance(args, dict) else cls(*args) if isinstance(args, list) \
            else cls()
    except Exception as exc:
        raise UserCodeError(f"constructing {class_name} with the arguments "
                            f"{json.dumps(args) if args is not None else '(none)'} failed: "
                            f"{_brief(exc)}") from None
    declared = getattr(module, "INPUT_SHAPE", None)
    if isinstance(declared, (list, tuple)) and declared and declared[0] is None:
        declared = declared[1:]  # Netwright's exports write the batch as None
    dtype = getattr(module, "INPUT_DTYPE", None)
    if not (isinstance(dtype, torch.dtype) or isinstance(dtype, (tuple, list)) and dtype
            and all(isinstance(d, torch.dtype) for d in dtype)):
        dtype = torch.int64 if reads_token_ids(model) else torch.float32
    return model.eval(), declared, dtype


def reads_token_ids(model: torch.nn.Module) -> bool:
    """Whether the first layer with weights is an ``nn.Embedding`` (a text model)."""
    first = next((m for m in model.modules() if not list(m.children())
                  and any(True for _ in m.parameters(recurse=False))), None)
    return isinstance(first, torch.nn.Embedding)


def _brief(exc: BaseException) -> str:
    """``TypeError: first line of the message`` — the user's own code's error, shortly."""
    return f"{type(exc).__name__}: {_words(exc)}"


def _words(exc: BaseException) -> str:
    """The first line of an exception's message (its class name when it has none)."""
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def first_layer_takes(model: torch.nn.Module) -> str:
    """What the model's first convolution or linear layer takes, e.g. ``features.0 (Conv2d)
    takes [1, H, W]``; empty when it has none."""
    axes = {torch.nn.Conv1d: ["L"], torch.nn.Conv2d: ["H", "W"], torch.nn.Conv3d: ["D", "H", "W"]}
    for name, layer in model.named_modules():
        for kind, sizes in axes.items():
            if isinstance(layer, kind):
                return f"{name} ({kind.__name__}) takes [{', '.join([str(layer.in_channels)] + sizes)}]"
        if isinstance(layer, torch.nn.Linear):
            return f"{name} (Linear) takes [..., {layer.in_features}]"
    return ""


def input_shapes(shape: list) -> list[list[int]]:
    """One shape per input: ``[1, 8, 8]`` is one input's, ``[[1, 8, 8], [1, 8, 8]]`` two."""
    return [list(s) for s in shape] if shape and isinstance(shape[0], (list, tuple)) else [list(shape)]


def examples(shapes: list[list[int]], dtype) -> tuple[torch.Tensor, ...]:
    """Trace inputs: random floats, or zeros for token ids (a valid id for any vocabulary);
    ``dtype`` is one for every input or a sequence of one per input."""
    dtypes = list(dtype) if isinstance(dtype, (tuple, list)) else [dtype] * len(shapes)
    return tuple(torch.randn(TRACE_BATCH, *s) if d.is_floating_point
                 else torch.zeros(TRACE_BATCH, *s, dtype=d) for s, d in zip(shapes, dtypes))


def forward_inputs(model: torch.nn.Module) -> list[str]:
    """The names of the tensors ``forward`` needs (its parameters without a default)."""
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.default is p.empty
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def check_shape_fits(model: torch.nn.Module, shapes: list[list[int]], dtype: torch.dtype,
                     class_name: str) -> None:
    """Run the model once on samples of ``shapes``: a shape that does not fit, or too few
    shapes for its inputs, is said in those words (not as torch.export's errors)."""
    needed = forward_inputs(model)
    if len(needed) > len(shapes):
        raise ConversionError(f"{class_name}.forward takes {len(needed)} inputs "
                              f"({', '.join(needed)}): give one shape per input, such as "
                              f"{json.dumps([shapes[0]] * len(needed))}")
    try:
        with torch.no_grad():
            model(*examples(shapes, dtype))
    except Exception as exc:
        first = first_layer_takes(model)
        shown = shapes[0] if len(shapes) == 1 else shapes
        raise ConversionError(f"the input shape {shown} does not fit {class_name} "
                              f"({_words(exc)})"
                              + (f"; its first layer, {first} without the batch" if first else "")
                              ) from None


def export_module(model: torch.nn.Module, shape: list,
                  dtype: torch.dtype = torch.float32) -> torch.export.ExportedProgram:
    """``torch.export`` with a dynamic batch, so reshapes keep the batch symbolic."""
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    shapes = input_shapes(shape)
    return torch.export.export(model, examples(shapes, dtype),
                               dynamic_shapes=tuple({0: batch} for _ in shapes))


@dataclass
class Source:
    """What the child imports: the traced program and the module it compares against."""

    program: torch.export.ExportedProgram
    reference: Any
    name: str
    shape: list | None = None  # for a Python class: its input shape(s) and dtype
    dtype: torch.dtype = torch.float32


def read_source(request: dict[str, Any]) -> Source:
    """The ``.pt2`` program, or the Python class instantiated and traced."""
    source = request["source"]
    if source.endswith(".pt2"):
        try:
            program = torch.export.load(source)
        except Exception as exc:  # a broken archive or another format: zipfile, torch, pickle
            raise ConversionError(f"not a readable torch.export program ({_words(exc)})") from None
        return Source(program, program.module(), Path(source).stem)
    reference, declared, dtype = load_class(source, request.get("args"))
    shape = request.get("input_shape") or declared
    if not shape:
        raise ConversionError("give the input shape (without the batch), e.g. [3, 224, 224]; "
                              "the file declares no INPUT_SHAPE")
    name = source.rpartition(":")[2]
    check_shape_fits(reference, input_shapes(shape), dtype, name)
    try:
        program = export_module(reference, shape, dtype)
    except Exception as exc:  # what torch.export cannot trace (data-dependent control flow …)
        raise ConversionError(f"torch.export could not trace {name}: {_words(exc)}") from None
    return Source(program, reference, name, shape, dtype)


VIA_ONNX = ("torch.export's operators left steps without a layer, so the model came in through "
            "ONNX (torch.onnx.export), whose importer maps them (attention written out as its "
            "steps)")


def through_onnx(source: Source, folder: Path, classes: dict[str, str]) -> Imported | None:
    """The class written as ONNX (module paths kept) and imported from there, with blocks:
    the ONNX importer recognises attention written out as its steps (``q @ k.transpose(-2,
    -1)``, softmax, ``@ v``). None when that fails or leaves anything unmapped."""
    from .hierarchy import nest
    from .onnx_import import import_onnx

    model, shapes = source.reference, input_shapes(source.shape)
    names = (forward_inputs(model) or [f"input_{i}" for i in range(len(shapes))])[:len(shapes)]
    count = len(list(source.program.graph.nodes)[-1].args[0])
    outputs = ["output"] if count == 1 else [f"output_{i}" for i in range(count)]
    path = folder / "via.onnx"
    try:
        torch.onnx.export(model, examples(shapes, source.dtype), str(path), dynamo=False,
                          opset_version=17, input_names=names, output_names=outputs,
                          dynamic_axes={n: {0: "batch"} for n in names + outputs})
        imported = import_onnx(path, verify=False)
    except Exception:  # the exporter or the importer failing: torch.export's report stands
        return None
    finally:
        path.unlink(missing_ok=True)
    imported.notes.append(VIA_ONNX)
    return nest(imported, classes)


def convert(source: Source, request: dict[str, Any]) -> Imported:
    """The program's import, nested into blocks unless ``flat``; through ONNX when that maps
    what torch.export's operators left unmapped."""
    from .hierarchy import module_classes, nest
    from .torch_import import import_program

    imported = import_program(source.program, source.name, placeholders=True)
    classes = module_classes(n.meta.get("nn_module_stack") for n in source.program.graph.nodes)
    if imported.unmapped and source.shape is not None:
        other = through_onnx(source, Path(request["out"]), classes)
        if other is not None and not other.unmapped:
            return other
    if imported.unmapped and not request.get("placeholders", False):
        raise UnsupportedModel(source.name, imported.unmapped)
    return imported if request.get("flat") else nest(imported, classes)


def run(request: dict[str, Any]) -> dict[str, Any]:
    from graph.fileformat import save
    from safetensors.torch import save_file

    source = read_source(request)
    imported = convert(source, request)
    out = Path(request["out"])
    report: dict[str, Any] = {"unmapped": [asdict(u) for u in imported.unmapped],
                              "notes": imported.notes}
    if not imported.unmapped:
        report["max_diff"] = compare(source.reference, imported)
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


def _shown(source: str) -> str:
    """``nets.py:Net`` for ``/abs/path/nets.py:Net``: the messages name the file as people do."""
    file, sep, rest = source.rpartition(":") if ".py:" in source else (source, "", "")
    return Path(file).name + sep + rest


def main() -> int:
    request = json.loads(sys.argv[1])
    out = Path(request["out"])
    warnings.simplefilter("ignore")
    try:
        report = run(request)
    except UnsupportedModel as exc:
        report = {"unmapped": [asdict(u) for u in exc.unmapped]}
    except (ConversionError, UserCodeError) as exc:  # said in words: no class names
        report = {"error": f"{_shown(request['source'])}: {exc}"}
    except Exception as exc:  # torch.export fails in every way; report, don't crash
        report = {"error": f"{_shown(request['source'])}: the conversion failed: {_brief(exc)}"}
    (out / "report.json").write_text(json.dumps(report), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
