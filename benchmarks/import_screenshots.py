"""Pictures of File ▸ Import… (with unmapped operators) and the Load Weights table for the README.

    python benchmarks/import_screenshots.py   (writes resources/screenshots/import*.png)
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication  # noqa: E402


def main() -> int:
    import torch
    from safetensors.torch import save_file

    from graph.fileformat import load
    from runtime.compiler import compile_design
    from ui.import_dialog import ImportDialog, LoadWeightsDialog

    app = QApplication.instance() or QApplication(sys.argv)
    tmp = Path(tempfile.mkdtemp())
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8),
                                torch.nn.SELU(), torch.nn.Flatten(), torch.nn.Linear(512, 10)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 1, 8, 8),), str(tmp / "selu_cnn.onnx"), dynamo=False,
                          opset_version=17, input_names=["image"], output_names=["logits"],
                          training=torch.onnx.TrainingMode.PRESERVE,
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    dialog = ImportDialog(None, str(tmp))
    dialog.source.setText(str(tmp / "selu_cnn.onnx"))
    dialog.placeholders.setChecked(True)
    dialog.show()
    dialog.start_import()
    while not dialog.open_button.isEnabled():
        app.processEvents()
    out = ROOT / "resources" / "screenshots"
    dialog.grab().save(str(out / "import.png"))

    design_file = tmp / "digits_cnn.json"
    shutil.copy(ROOT / "resources" / "examples" / "digits_cnn.json", design_file)
    design = load(design_file)
    state = compile_design(design).module.state_dict()
    renamed = {f"features.{i}.{k.split('.', 1)[1]}": v for i, (k, v) in enumerate(state.items())}
    renamed["features.17.weight"] = torch.zeros(1000, 64)  # a head for another class count
    renamed.pop("fc2.bias", None)
    save_file({k: v.contiguous() for k, v in renamed.items()}, str(tmp / "pretrained.safetensors"))
    weights = LoadWeightsDialog(design, design_file)
    weights.source.setText(str(tmp / "pretrained.safetensors"))
    weights.match(str(tmp / "pretrained.safetensors"))
    while weights.preview is None:  # matched in the background
        app.processEvents()
    weights.show()
    app.processEvents()
    weights.grab().save(str(out / "load_weights.png"))
    print("wrote", out / "import.png", out / "load_weights.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
