"""Export a design's model to plain Python, safetensors, TorchScript, ONNX or ``torch.export``.

Every export is verified: what was written is loaded back (the ``.py`` imported in a fresh
module, ``torch.jit.load``, an onnxruntime session, ``torch.export.load``) and run on a sample
batch whose size differs from the one used for tracing, which proves the batch axis is dynamic.
Its outputs are compared with the compiled model in eval mode; a largest absolute difference
above :data:`TOLERANCE` is an :class:`ExportError` and no file is left behind.

Entry points:

* :func:`export_model` — a design plus weights held in memory (what the app calls);
* :func:`export_path` — a run directory (``design.json`` + ``checkpoints/{best,last}``) or a
  design file (freshly initialized weights), as the ``export`` command does.

Files are written next to their target under a temporary name and renamed into place once
they have passed the check.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import importlib.util
import itertools
import os
import tempfile
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator, Mapping

import torch
from torch import nn

from graph.atomic import fsync_dir, fsync_file, new_file_mode
from graph.design import Design
from graph.fileformat import DesignFileError, load

from .codegen import python_source
from .compiler import Compiled, CompileError, compile_design, example_inputs
from .runs import CHECKPOINT_KINDS, RunError, RunFolder, load_weights_into
from .preflight import ResourceError, check_export_fits

FORMATS: dict[str, str] = {
    "python": ".py",
    "safetensors": ".safetensors",
    "torchscript": ".pt",
    "onnx": ".onnx",
    "pt2": ".pt2",
}
"""Export formats and their default file suffixes."""

FORMAT_LABELS = {
    "python": "Python source (.py) with safetensors weights",
    "safetensors": "safetensors weights (.safetensors)",
    "torchscript": "TorchScript (.pt)",
    "onnx": "ONNX (.onnx)",
    "pt2": "torch.export program (.pt2)",
}

TOLERANCE = 1e-4
TRACE_BATCH = 2  # batch used to trace / export
CHECK_BATCH = 3  # batch used to verify: a different size proves the batch axis is dynamic
ONNX_OPSET = 17
CHECKPOINTS = CHECKPOINT_KINDS
MAX_NAME_BYTES = 255  # the longest file name Linux, macOS and Windows file systems accept


class ExportError(ValueError):
    """An export that could not be written or did not reproduce the model."""


@dataclass(frozen=True)
class ExportResult:
    """A verified export: ``files`` holds every file written (``path`` first)."""

    path: Path
    format: str
    max_diff: float
    files: tuple[Path, ...]
    batch: int = CHECK_BATCH

    def describe(self) -> str:
        extra = [str(f) for f in self.files[1:]]
        also = f" (+ {', '.join(extra)})" if extra else ""
        return (f"exported {self.format} to {self.path}{also}; verified on a batch of "
                f"{self.batch}: max abs difference {self.max_diff:.3g}")


@dataclass
class Source:
    """A design compiled with its weights loaded, and where the weights came from."""

    design: Design
    compiled: Compiled
    origin: str
    fresh: bool = field(default=False)
    dataset: dict | None = None  # the run's data description (normalization, classes)


# ---- loading ------------------------------------------------------------------------------------


def _compile(design: Design, where: str) -> Compiled:
    try:
        check_export_fits(design)  # before any weight is allocated
        return compile_design(design)
    except ResourceError as exc:
        raise ExportError(f"{where}: {exc}") from None
    except CompileError as exc:
        raise ExportError(f"{where}: {exc}") from None


def load_weights(module: nn.Module, weights: Mapping[str, torch.Tensor], where: str) -> None:
    """:func:`runtime.runs.load_weights_into`, failing with an :class:`ExportError`."""
    try:
        load_weights_into(module, weights, where)
    except RunError as exc:
        raise ExportError(str(exc)) from None


def load_source(path: str | os.PathLike, checkpoint: str = "best") -> Source:
    """A run directory (weights of ``checkpoint``) or a design file (fresh weights, seeded with
    the design's training seed), compiled and ready to export."""
    path = Path(path)
    if checkpoint not in CHECKPOINTS:
        raise ExportError(f"unknown checkpoint {checkpoint!r} (choose {' or '.join(CHECKPOINTS)})")
    if path.is_dir():
        return _run_source(RunFolder(path), checkpoint)
    if not path.exists():
        raise ExportError(f"{path}: no such file or run directory")
    design = _load_design(path)
    with _seeded(int(design.training.get("seed", 0))):
        compiled = _compile(design, str(path))
    from .weights import WeightsError, load_initial_weights

    try:
        matching = load_initial_weights(compiled, design, path.parent)
    except WeightsError as exc:
        raise ExportError(str(exc)) from None
    if matching is not None:
        return Source(design, compiled, f"{path} with its initial weights {design.initial_weights} "
                      f"({matching.describe()})")
    return Source(design, compiled, f"{path} with freshly initialized weights", fresh=True)


def _run_source(run: RunFolder, checkpoint: str) -> Source:
    """A run folder's design with the weights of its verified ``checkpoint``."""
    if not run.file(run.DESIGN).is_file():
        raise ExportError(f"{run.path} is not a run directory: it has no {run.DESIGN}")
    try:
        design = run.design()
        if not run.has_checkpoint(checkpoint):
            have = run.available_checkpoints()
            hint = f" (available: {', '.join(have)})" if have else " (the run saved no checkpoint)"
            raise ExportError(f"{run.path}: no {checkpoint!r} checkpoint{hint}")
        found = run.checkpoint(checkpoint)
        weights = found.weights()
    except RunError as exc:
        raise ExportError(str(exc)) from None
    compiled = _compile(design, str(run.file(run.DESIGN)))
    load_weights(compiled.module, weights, str(found.weights_file))
    origin = f"{checkpoint} checkpoint of {run.path}" + (f" ({found.note})" if found.note else "")
    dataset = run.config_or_empty().get("dataset")
    return Source(design, compiled, origin, dataset=dataset if isinstance(dataset, dict) else None)


def _load_design(path: Path) -> Design:
    try:
        return load(path)
    except DesignFileError as exc:
        raise ExportError(str(exc)) from None


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# ---- export -------------------------------------------------------------------------------------


def export_path(source: str | os.PathLike, fmt: str, out: str | os.PathLike,
                checkpoint: str = "best") -> ExportResult:
    """Export a run directory or design file (see :func:`load_source`) to ``out``."""
    return export_source(load_source(source, checkpoint), fmt, out)


def export_source(source: Source, fmt: str, out: str | os.PathLike) -> ExportResult:
    """Export a :class:`Source` from :func:`load_source` to ``out``."""
    return _export(source.design, source.compiled, fmt, Path(out), source.dataset)


def export_model(design: Design, fmt: str, out: str | os.PathLike,
                 weights: nn.Module | Mapping[str, torch.Tensor] | None = None) -> ExportResult:
    """Export ``design`` with ``weights`` (a trained module or its state_dict; fresh weights
    when None) to ``out``, verified. Leaves the caller's module untouched."""
    compiled = _compile(design, design.name)
    if weights is not None:
        state = weights.state_dict() if isinstance(weights, nn.Module) else weights
        load_weights(compiled.module, {k: v.detach().cpu() for k, v in state.items()}, design.name)
    return _export(design, compiled, fmt, Path(out))


def output_path(fmt: str, out: str | os.PathLike) -> Path:
    """``out`` with the format's suffix added when it has none."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    out = Path(out)
    if not out.suffix:
        out = out.with_suffix(FORMATS[fmt])
    if fmt == "python" and out.suffix != ".py":
        raise ExportError(f"{out}: Python source must be written to a .py file")
    for target in [out] + ([out.with_suffix(".safetensors")] if fmt == "python" else []):
        length = len(os.fsencode(target.name))
        if length > MAX_NAME_BYTES:
            raise ExportError(f"{target.name[:40]}…: the file name is {length} bytes long; file "
                              f"names can have at most {MAX_NAME_BYTES}")
    return out


def _export(design: Design, compiled: Compiled, fmt: str, out: Path,
            dataset: dict | None = None) -> ExportResult:
    out = output_path(fmt, out)
    if not out.parent.is_dir():
        raise ExportError(f"{out.parent}: no such directory")
    module = copy.deepcopy(compiled.module).cpu().eval()
    module.requires_grad_(False)
    trace_inputs = example_inputs(compiled, design, TRACE_BATCH, torch.Generator().manual_seed(1))
    check_inputs = example_inputs(compiled, design, CHECK_BATCH, torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = _flatten(module(*check_inputs))

    targets = [out] + ([out.with_suffix(".safetensors")] if fmt == "python" else [])
    temps = [t.with_name(f".{t.stem[:64]}.{uuid.uuid4().hex[:8]}.tmp{t.suffix}") for t in targets]
    try:
        writer, runner = _FORMATS[fmt]
        if fmt == "python":  # the standalone source also writes out the data preparation
            writer = functools.partial(writer, dataset=dataset)
        try:
            with _export_mode():
                writer(design, compiled, module, trace_inputs, temps, targets)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load
                actual = runner(design, compiled, temps, check_inputs)
        except ExportError:
            raise
        except Exception as exc:  # an exporter or runtime failing on this model
            raise ExportError(f"{fmt} export failed: {type(exc).__name__}: {exc}") from exc
        max_diff = _max_diff(expected, actual, fmt)
        if not max_diff <= TOLERANCE:
            raise ExportError(f"{fmt} export does not reproduce the model: max abs difference "
                              f"{max_diff:.3g} exceeds {TOLERANCE:g}")
        for temp, target in zip(temps, targets):
            os.chmod(temp, new_file_mode())  # as any new file, also where a writer chose 0600
            fsync_file(temp)
            os.replace(temp, target)
        fsync_dir(out.parent)
    finally:
        for temp in temps:
            with contextlib.suppress(OSError):
                temp.unlink()
    return ExportResult(out, fmt, max_diff, tuple(targets), CHECK_BATCH)


@contextlib.contextmanager
def _export_mode() -> Iterator[None]:
    """Quiet exporter warnings and use the composite attention path, which every format can
    express (the fused eval-mode kernel of nn.MultiheadAttention cannot be traced to ONNX)."""
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(enabled)


def _flatten(outputs: object) -> list[torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, (tuple, list)):
        return [t for o in outputs for t in _flatten(o)]
    raise ExportError(f"the model returned {type(outputs).__name__}, not tensors")


def _max_diff(expected: list[torch.Tensor], actual: list[torch.Tensor], fmt: str) -> float:
    if len(expected) != len(actual):
        raise ExportError(f"{fmt} export returns {len(actual)} outputs, the model {len(expected)}")
    worst = 0.0
    for i, (e, a) in enumerate(zip(expected, actual)):
        a = torch.as_tensor(a)
        if tuple(e.shape) != tuple(a.shape):
            raise ExportError(f"{fmt} export: output {i} has shape {tuple(a.shape)}, the model "
                              f"gives {tuple(e.shape)}")
        diff = (e.double() - a.double()).abs().max().item() if e.numel() else 0.0
        worst = max(worst, diff if diff == diff else float("inf"))  # NaN counts as a failure
    return worst


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def _save_weights(module: nn.Module, path: Path, design: Design) -> None:
    from safetensors.torch import save_file

    save_file(_tensors(module), str(path), metadata={"format": "pt", "producer": "netwright",
                                                     "design": design.name[:200]})


def import_source(path: Path) -> ModuleType:
    """Import a generated ``.py`` as a fresh, unregistered module."""
    name = f"netwright_export_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ExportError(f"{path}: cannot be imported")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ExportError(f"{path}: cannot read the weights ({exc})") from None


def _standalone(source_file: Path, weights_file: Path) -> nn.Module:
    mod = import_source(source_file)
    model = mod.Model()
    load_weights(model, _read_safetensors(weights_file), str(weights_file))
    return model.eval()


def _run(model: Callable, inputs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    with torch.no_grad():
        return _flatten(model(*inputs))


# Writers get (design, compiled, module, trace inputs, temp paths, final paths); runners get
# (design, compiled, temp paths, check inputs) and return the outputs of what was written.


def _write_python(design, compiled, module, inputs, temps, targets, dataset=None) -> None:
    source = python_source(design, compiled, weights_file=targets[1].name, dataset=dataset)
    temps[0].write_text(source, encoding="utf-8")
    _save_weights(module, temps[1], design)


def _run_python(design, compiled, temps, inputs) -> list[torch.Tensor]:
    return _run(_standalone(temps[0], temps[1]), inputs)


def _write_safetensors(design, compiled, module, inputs, temps, targets) -> None:
    _save_weights(module, temps[0], design)


def _run_safetensors(design, compiled, temps, inputs) -> list[torch.Tensor]:
    """Load the weights strictly into the standalone Model of the Python export."""
    with tempfile.TemporaryDirectory() as tmp:
        source_file = Path(tmp) / "model.py"
        source_file.write_text(python_source(design, compiled), encoding="utf-8")
        return _run(_standalone(source_file, temps[0]), inputs)


def _write_torchscript(design, compiled, module, inputs, temps, targets) -> None:
    traced = torch.jit.trace(module, inputs, check_trace=False)
    torch.jit.save(traced, str(temps[0]))


def _run_torchscript(design, compiled, temps, inputs) -> list[torch.Tensor]:
    return _run(torch.jit.load(str(temps[0]), map_location="cpu").eval(), inputs)


def _io_names(compiled: Compiled) -> tuple[list[str], list[str]]:
    inputs = [compiled.idents[n] for n in compiled.input_nodes]
    outputs = [compiled.idents[n] for n in compiled.output_nodes]
    return inputs, outputs


def _write_onnx(design, compiled, module, inputs, temps, targets) -> None:
    input_names, output_names = _io_names(compiled)
    torch.onnx.export(
        module, inputs, str(temps[0]), dynamo=False, opset_version=ONNX_OPSET,
        training=torch.onnx.TrainingMode.PRESERVE,  # eval-mode BatchNorm stays a layer, unfused
        input_names=input_names, output_names=output_names,
        dynamic_axes={name: {0: "batch"} for name in itertools.chain(input_names, output_names)})
    import onnx

    onnx.checker.check_model(str(temps[0]), full_check=True)


def _run_onnx(design, compiled, temps, inputs) -> list[torch.Tensor]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(temps[0]), options,
                                           providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}  # the exporter drops unused inputs
    feeds = {name: t.numpy() for name, t in zip(_io_names(compiled)[0], inputs) if name in wanted}
    return [torch.from_numpy(o) for o in session.run(None, feeds)]


def _write_pt2(design, compiled, module, inputs, temps, targets) -> None:
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    dynamic = tuple({0: batch} for _ in inputs)
    program = torch.export.export(module, inputs, dynamic_shapes=dynamic)
    torch.export.save(program, str(temps[0]))


def _run_pt2(design, compiled, temps, inputs) -> list[torch.Tensor]:
    return _run(torch.export.load(str(temps[0])).module(), inputs)


_FORMATS = {
    "python": (_write_python, _run_python),
    "safetensors": (_write_safetensors, _run_safetensors),
    "torchscript": (_write_torchscript, _run_torchscript),
    "onnx": (_write_onnx, _run_onnx),
    "pt2": (_write_pt2, _run_pt2),
}
