"""Which torchvision classification models import cleanly, and which operators are missing.

    python benchmarks/torchvision_import.py [--size N] [--via torch,onnx] [MODEL ...]

torchvision's compiled extension does not load with a CPU-only torch built for another CUDA
variant; its pure-Python model code imports once the two operator schemas it registers at
import time are declared here. Each model is built untrained (random weights) and brought in
both ways a user would: exported with ``torch.export`` as the Python-class import does, and
exported to ONNX (TorchScript exporter, opset 17, dynamic batch, BatchNorm kept as a layer as
Netwright's own export does) and read back. Per model and
importer the script prints: imported or not, its top-level nodes and blocks (submodules become
blocks), whether the state_dict keys equal the source's, whether the parameter counts are equal,
the largest output difference on random inputs, and the unmapped operators with their counts.
"""
from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

MODELS = ["alexnet", "vgg11", "vgg16_bn", "resnet18", "resnet50", "resnext50_32x4d",
          "wide_resnet50_2", "densenet121", "squeezenet1_0", "mobilenet_v2", "mobilenet_v3_small",
          "shufflenet_v2_x0_5", "mnasnet0_5", "efficientnet_b0", "regnet_y_400mf", "googlenet",
          "convnext_tiny", "vit_b_16", "swin_t", "maxvit_t"]
FIXED_SIZE = {"vit_b_16": 224, "maxvit_t": 224, "inception_v3": 299}  # the rest take any size


def declare_torchvision_ops() -> None:
    """Declare ``torchvision::nms``/``qnms`` so torchvision's Python code imports without its
    compiled extension (the models here never call them)."""
    for schema in ("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
                   "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor"):
        try:
            torch.library.define(f"torchvision::{schema.split('(', 1)[0]}",
                                 "(" + schema.split("(", 1)[1])
        except RuntimeError:
            pass  # already declared


def via_torch(model: torch.nn.Module, shape: list[int], name: str):
    from runtime.importers.child import compare, export_module
    from runtime.importers.hierarchy import module_classes, nest
    from runtime.importers.torch_import import import_program

    program = export_module(model, shape)
    imported = nest(import_program(program, name),
                    module_classes(n.meta.get("nn_module_stack") for n in program.graph.nodes))
    return imported, compare(model, imported)


def via_onnx(model: torch.nn.Module, shape: list[int], name: str):
    from runtime.importers.hierarchy import nest
    from runtime.importers.onnx_import import import_onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.onnx"
        torch.onnx.export(model, (torch.randn(2, *shape),), str(path), dynamo=False,
                          training=torch.onnx.TrainingMode.PRESERVE,  # BatchNorm unfolded
                          opset_version=17, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
        imported = import_onnx(path)
    return nest(imported), imported.max_diff  # nest keeps outputs equal to the flat import's


def check(name: str, via: str, model: torch.nn.Module, shape: list[int]) -> collections.Counter:
    """Import ``model`` one way and print one line; returns the unmapped operators' counts."""
    from graph.shapes import infer
    from runtime.importers import UnsupportedModel

    expected = sum(p.numel() for p in model.parameters())
    label = f"{name:20s} {via:5s}"
    try:
        imported, diff = (via_torch if via == "torch" else via_onnx)(model, shape, name)
    except UnsupportedModel as exc:
        ops = collections.Counter(u.op for u in exc.unmapped)
        print(f"{label} not imported; unmapped: "
              + ", ".join(f"{op} ×{n}" for op, n in ops.most_common()))
        return ops
    except Exception as exc:  # noqa: BLE001 — export itself may fail in any way
        print(f"{label} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
        return collections.Counter()
    params = infer(imported.design).total_params
    same = "equal" if params == expected else f"DIFFER ({params:,} vs {expected:,})"
    keys = "= source" if set(imported.weights) == set(model.state_dict()) else "differ"
    print(f"{label} imported: {len(imported.design)} nodes, {len(imported.design.blocks)} blocks, "
          f"state_dict keys {keys}, params {same} ({expected:,}), outputs max diff {diff:.2g}")
    return collections.Counter()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=MODELS)
    parser.add_argument("--size", type=int, default=224, help="image side (where free)")
    parser.add_argument("--via", default="torch,onnx", help="importers: torch, onnx or both")
    args = parser.parse_args(argv)
    declare_torchvision_ops()
    import torchvision.models as tvm

    warnings.simplefilter("ignore")
    missing: dict[str, collections.Counter] = {}
    for name in args.models:
        torch.manual_seed(0)
        model = getattr(tvm, name)(weights=None).eval()
        size = FIXED_SIZE.get(name, args.size)
        for via in args.via.split(","):
            for op, n in check(name, via, model, [3, size, size]).items():
                missing.setdefault(f"{via}: {op}", collections.Counter())[name] += n
    if missing:
        print("\nunmapped operators (models needing each):")
        for op, models in sorted(missing.items(), key=lambda kv: -len(kv[1])):
            print(f"  {op}: " + ", ".join(f"{m} ×{n}" for m, n in models.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
