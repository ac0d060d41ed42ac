"""Which torchvision classification models import cleanly, and which operators are missing.

    python benchmarks/torchvision_import.py [MODEL ...]

torchvision's compiled extension does not load with a CPU-only torch built for another CUDA
variant; its pure-Python model code imports once the two operator schemas it registers at
import time are declared here. Each model is built untrained (random weights), exported with
``torch.export`` as the Python-class import does, and converted; the script prints per model
either the top-level nodes, blocks (submodules become blocks), whether the state_dict keys equal
torchvision's, the parameter count and the largest output difference, or the unmapped operators.
"""
from __future__ import annotations

import collections
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

MODELS = ["alexnet", "vgg11", "vgg16_bn", "resnet18", "resnet50", "resnext50_32x4d",
          "wide_resnet50_2", "densenet121", "squeezenet1_0", "mobilenet_v2", "mobilenet_v3_small",
          "shufflenet_v2_x0_5", "mnasnet0_5", "efficientnet_b0", "regnet_y_400mf", "googlenet",
          "convnext_tiny", "vit_b_16", "swin_t", "maxvit_t"]


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


def main(names: list[str]) -> int:
    declare_torchvision_ops()
    import torchvision.models as tvm

    from runtime.importers import UnsupportedModel
    from runtime.importers.child import compare, export_module
    from runtime.importers.hierarchy import module_classes, nest
    from runtime.importers.torch_import import import_program
    from runtime.importers.builder import ConversionError

    warnings.simplefilter("ignore")
    missing: collections.Counter = collections.Counter()
    for name in names:
        size = 299 if name.startswith("inception") else 224
        model = getattr(tvm, name)(weights=None).eval()
        expected = sum(p.numel() for p in model.parameters())
        try:
            program = export_module(model, [3, size, size])
            imported = import_program(program, name)
            imported = nest(imported, module_classes(n.meta.get("nn_module_stack")
                                                     for n in program.graph.nodes))
            diff = compare(model, imported)
            from graph.shapes import infer
            params = infer(imported.design).total_params
            status = "ok" if params == expected and diff <= 1e-4 else "DIFFERS"
            same_keys = set(imported.weights) == set(model.state_dict())
            print(f"{name:22s} {status}: {len(imported.design)} top-level nodes, "
                  f"{len(imported.design.blocks)} blocks, state_dict keys "
                  f"{'= torchvision' if same_keys else 'differ'}, {params:,} parameters "
                  f"(torchvision {expected:,}), max abs difference {diff:.2g}")
        except UnsupportedModel as exc:
            ops = collections.Counter(u.op for u in exc.unmapped)
            missing.update(ops.keys())
            print(f"{name:22s} unsupported: " + ", ".join(f"{op} ×{n}" for op, n in ops.most_common()))
        except (ConversionError, Exception) as exc:  # export itself may fail
            print(f"{name:22s} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
    if missing:
        print("\nmissing operators (models needing each):")
        for op, n in missing.most_common():
            print(f"  {op}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or MODELS))
