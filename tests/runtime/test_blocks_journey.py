"""The journey of issue 10: ResNet-18 from the template, depth 34 in one edit, two layers grouped
into a block repeated ×3, the small variant trained on digits, and exported Python that loads
torchvision-named weights."""
from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from graph import templates
from graph.grouping import group_into_block
from graph.shapes import infer
from graph.validate import validate
from runtime import export as ex
from runtime.training import train
from tests.runtime.test_blocks_compile import reference


def torchvision_models():
    """torchvision.models, importable here although torchvision's compiled ops are not: its
    Python code only needs the two operators it registers fake kernels for to exist."""
    try:
        import torchvision.models as models

        return models
    except ImportError:
        return None
    except RuntimeError:  # "operator torchvision::nms does not exist"
        pass
    library = torch.library.Library("torchvision", "DEF")  # noqa: TOR901 - kept for the session
    for op in ("nms", "qnms"):
        library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _LIBRARIES.append(library)
    import torchvision.models as models

    return models


_LIBRARIES: list = []


def torchvision_resnet18_state() -> tuple[dict[str, torch.Tensor], torch.nn.Module | None]:
    """torchvision's resnet18 state_dict (random weights: nothing is downloaded) and the model;
    without torchvision, tensors of the reference's names and shapes, and no model."""
    models = torchvision_models()
    torch.manual_seed(1)
    if models is not None:
        model = models.resnet18().eval()
        with torch.no_grad():
            for buffer in model.buffers():  # running statistics that are not 0 and 1
                if buffer.is_floating_point():
                    buffer.uniform_(0.5, 1.5)
        return model.state_dict(), model
    state = {}
    for key, shape in reference()["resnet18"]["keys"]:
        state[key] = (torch.tensor(3) if key.endswith("num_batches_tracked")
                      else torch.rand(shape) + 0.5)
    return state, None


def test_resnet_from_template_to_depth_34_to_a_repeated_group():
    design = templates.build("resnet18")
    assert infer(design).total_params == 11_689_512 and len(design) <= 25
    deeper = templates.rebuild(design, {"depth": 34})  # one edit: the template's depth
    assert infer(deeper).total_params == 21_797_672

    names = ["bn1", "relu"]
    edit = group_into_block(deeper, [deeper.node_by_name(n).id for n in names], "NormAct")
    edit.apply(deeper)
    deeper.set_param(edit.result, "repeat", 3)
    report = validate(deeper)
    assert report.ok, [d.format(deeper) for d in report.errors]
    assert report.inference.total_params == 21_797_672 + 2 * 128
    assert [c.args for c in report.inference.expansions[edit.result]] == [{}, {}, {}]
    edit.revert(deeper)
    assert infer(deeper).total_params == 21_797_672


@pytest.mark.slow
def test_the_small_variant_trains_on_digits():
    design = templates.build("resnet18", small=True)
    design.set_training(dict(design.training, device="cpu", epochs=1, batch_size=128))
    events = list(train(design, write_files=False))
    end = events[-1]
    assert end["event"] == "end" and end["status"] == "completed"
    epoch = [e for e in events if e["event"] == "epoch"][-1]
    assert math.isfinite(epoch["train_loss"])


@pytest.mark.slow
def test_exported_python_loads_torchvision_weights(tmp_path):
    design = templates.build("resnet18")
    result = ex.export_model(design, "python", tmp_path / "resnet.py")
    assert result.max_diff <= ex.TOLERANCE
    spec = importlib.util.spec_from_file_location("resnet_export", result.path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    source = result.path.read_text()
    assert "class BasicBlock(nn.Module):" in source and "class Downsample(nn.Sequential):" in source

    state, torchvision_model = torchvision_resnet18_state()
    model = module.Model().eval()
    model.load_state_dict(state)  # strict: every torchvision name and shape matches
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (2, 1000)
        if torchvision_model is not None:
            assert torch.allclose(out, torchvision_model(x), atol=1e-4)
